//! The NPY export: one complex128 array per method, and `index.csv`.

use crate::store::PathIoError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::*;

/// File name of the row index written next to the NPY arrays.
pub const NPY_INDEX: &str = "index.csv";

pub(super) fn npy_to_dir(
    mut source: Source<'_>,
    out_dir: &Path,
) -> Result<ExportStats, ExportError> {
    fs::create_dir_all(out_dir).map_err(|source| {
        ExportError::Io(PathIoError {
            action: "create directory",
            path: out_dir.to_path_buf(),
            source,
        })
    })?;
    let total = source.manifest.total;
    let dim = source.manifest.dim;
    let d2 = u64::from(dim) * u64::from(dim);
    if total
        .checked_mul(d2)
        .and_then(|n| n.checked_mul(16))
        .is_none_or(|bytes| bytes > isize::MAX as u64)
    {
        return Err(ExportError::TooLarge { total, dim });
    }

    struct NpyOut {
        method: String,
        path: PathBuf,
        temp: TempFile,
        w: BufWriter<File>,
    }
    let mut arrays = Vec::new();
    for method in &source.manifest.methods {
        let path = out_dir.join(format!("rho_{method}.npy"));
        let (temp, file) = create_temp(&path)?;
        ndarray_npy::write_zeroed_npy::<c64, _>(
            &file,
            (total as usize, dim as usize, dim as usize),
        )
        .map_err(|source| ExportError::Npy {
            path: path.clone(),
            source,
        })?;
        // write_zeroed_npy writes the header, sizes the file (sparse zeros)
        // and leaves the cursor at the start of the data, where the rows are
        // then streamed in index order: no N×d×d array in memory.
        arrays.push(NpyOut {
            method: method.clone(),
            path,
            temp,
            w: BufWriter::with_capacity(1 << 20, file),
        });
    }
    let index_path = out_dir.join(NPY_INDEX);
    let (index_temp, index_file) = create_temp(&index_path)?;
    let mut index_csv = csv::Writer::from_writer(BufWriter::new(index_file));
    let csv_err = |source| ExportError::Csv {
        path: index_path.clone(),
        source,
    };
    index_csv
        .write_record(["index", "id", "status", "error"])
        .map_err(csv_err)?;

    let nan = {
        let mut v = Vec::with_capacity(d2 as usize * 16);
        for _ in 0..2 * d2 {
            v.extend_from_slice(&f64::NAN.to_le_bytes());
        }
        v
    };
    let mut bytes = Vec::with_capacity(d2 as usize * 16);
    let stats = source.for_each_row(|row| {
        let index = row.index().to_string();
        index_csv
            .write_record([
                index.as_str(),
                row.id().unwrap_or(""),
                row.status(),
                row.error().unwrap_or(""),
            ])
            .map_err(csv_err)?;
        for out in &mut arrays {
            let chunk: &[u8] = match row.methods().iter().find(|m| m.method == out.method) {
                Some(m) => {
                    bytes.clear();
                    for (re, im) in m.rho_re.iter().zip(&m.rho_im) {
                        bytes.extend_from_slice(&re.to_le_bytes());
                        bytes.extend_from_slice(&im.to_le_bytes());
                    }
                    &bytes
                }
                None => &nan,
            };
            out.w.write_all(chunk).map_err(|source| {
                ExportError::Io(PathIoError {
                    action: "write",
                    path: out.path.clone(),
                    source,
                })
            })?;
        }
        Ok(())
    })?;
    for out in arrays {
        let file = finish_writer(out.w, &out.path)?;
        out.temp.commit(file)?;
    }
    let inner = index_csv.into_inner().map_err(|e| {
        ExportError::Io(PathIoError {
            action: "write",
            path: index_path.clone(),
            source: e.into_error(),
        })
    })?;
    index_temp.commit(finish_writer(inner, &index_path)?)?;
    Ok(stats)
}
