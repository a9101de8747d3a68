//! Reading sample counts from a NumPy `.npy` array: N×M (samples × outcomes,
//! or M×N when transposed), or a 1-D array of M counts for one sample.
//! float64 is the native type; other real dtypes (float32, signed and
//! unsigned integers) are converted.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use ndarray::{ArrayD, Axis, Ix2};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement};

use super::cell::check_count;
use super::error::{InputError, Location};
use super::input::{InputOptions, SampleBatch};

/// Reads an NPY sample file (see [`super::read_samples`]). Columns are
/// always positional; ids are the 0-based row numbers.
pub(crate) fn read_npy<R: Read>(
    path: &Path,
    reader: R,
    expected: &[String],
    opts: &InputOptions,
) -> Result<SampleBatch, InputError> {
    check_npy_size(path)?;
    let array = match ArrayD::<f64>::read_npy(reader) {
        Ok(a) => a,
        Err(ReadNpyError::WrongDescriptor(descr)) => read_converted(path, &descr.to_string())?,
        Err(source) => return Err(npy_error(path, source)),
    };
    let m = expected.len();
    let shape = array.shape().to_vec();
    let matrix = match array.ndim() {
        1 => array.insert_axis(Axis(0)),
        2 => array,
        _ => {
            return Err(InputError::NpyShape {
                path: path.to_path_buf(),
                shape,
                n_outcomes: m,
            });
        }
    };
    let matrix = matrix
        .into_dimensionality::<Ix2>()
        .map_err(|_| InputError::NpyShape {
            path: path.to_path_buf(),
            shape: shape.clone(),
            n_outcomes: m,
        })?;
    let matrix = if opts.transposed && shape.len() == 2 {
        matrix.reversed_axes()
    } else {
        matrix
    };
    let (n, found_m) = matrix.dim();
    if found_m != m {
        return Err(InputError::WrongOutcomeCount {
            path: path.to_path_buf(),
            at: Location::File,
            what: if opts.transposed {
                "rows (outcomes) in the transposed array"
            } else {
                "columns (outcomes) in the array"
            },
            expected: m,
            found: found_m,
        });
    }
    if n == 0 {
        return Err(InputError::NoSamples {
            path: path.to_path_buf(),
            what: "array row",
        });
    }
    let mut counts = Vec::with_capacity(n * m);
    for ((r, c), &v) in matrix.indexed_iter() {
        let at = || {
            // Report the element as stored in the file.
            let (row, column) = if opts.transposed { (c, r) } else { (r, c) };
            Location::Element {
                row: row as u64 + 1,
                column: column as u64 + 1,
                name: Some(format!("label '{}'", expected[c])),
            }
        };
        counts.push(check_count(path, v, at)?);
    }
    Ok(SampleBatch {
        ids: (0..n).map(|i| i.to_string()).collect(),
        counts,
        n_samples: n,
        n_outcomes: m,
    })
}

fn npy_error(path: &Path, source: ReadNpyError) -> InputError {
    match source {
        ReadNpyError::Io(source) => InputError::Io {
            path: path.to_path_buf(),
            source,
        },
        source => InputError::Npy {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Rereads the file as the real dtype `descr` names and converts to f64.
fn read_converted(path: &Path, descr: &str) -> Result<ArrayD<f64>, InputError> {
    let code = descr.trim_matches(|c| c == '\'' || c == '"');
    let code = code.trim_start_matches(['<', '>', '|', '=']);
    match code {
        "f4" => read_as::<f32>(path, f64::from),
        "i1" | "b" => read_as::<i8>(path, f64::from),
        "i2" => read_as::<i16>(path, f64::from),
        "i4" => read_as::<i32>(path, f64::from),
        // Counts beyond 2^53 lose precision, as they would in NumPy.
        "i8" => read_as::<i64>(path, |v| v as f64),
        "u1" | "B" => read_as::<u8>(path, f64::from),
        "u2" => read_as::<u16>(path, f64::from),
        "u4" => read_as::<u32>(path, f64::from),
        "u8" => read_as::<u64>(path, |v| v as f64),
        _ => Err(InputError::NpyDtype {
            path: path.to_path_buf(),
            dtype: descr.to_owned(),
        }),
    }
}

fn read_as<T: ReadableElement + Copy>(
    path: &Path,
    convert: impl Fn(T) -> f64,
) -> Result<ArrayD<f64>, InputError> {
    let file = File::open(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let array = ArrayD::<T>::read_npy(BufReader::new(file)).map_err(|e| npy_error(path, e))?;
    Ok(array.mapv(convert))
}

/// What an NPY file's header says, next to what the file holds.
struct NpyHeader {
    shape: Vec<u64>,
    itemsize: u64,
    /// Bytes after the header.
    available: u64,
}

/// Reads the header of the regular NPY file at `path` without trusting
/// it. `Ok(None)`: not a regular file, not NPY, or a header this parser
/// does not understand (the NPY reader will say what is wrong).
fn read_npy_header(path: &Path) -> Result<Option<NpyHeader>, InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Ok(None);
    }
    let size = meta.len();
    let mut file = File::open(path).map_err(io)?;
    let mut prefix = [0u8; 12];
    let mut got = 0;
    while got < prefix.len() {
        match file.read(&mut prefix[got..]).map_err(io)? {
            0 => break,
            n => got += n,
        }
    }
    if got < 10 || !prefix.starts_with(super::source::NPY_MAGIC) {
        return Ok(None);
    }
    let (header_len, start) = match prefix[6] {
        1 => (u64::from(u16::from_le_bytes([prefix[8], prefix[9]])), 10u64),
        2 | 3 if got >= 12 => (
            u64::from(u32::from_le_bytes([
                prefix[8], prefix[9], prefix[10], prefix[11],
            ])),
            12u64,
        ),
        _ => return Ok(None),
    };
    let data_start = start + header_len;
    if data_start > size {
        return Err(InputError::NpyHeader {
            path: path.to_path_buf(),
            detail: format!(
                "claims a {header_len}-byte header, but the file has only {size} bytes"
            ),
        });
    }
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut header = Vec::new();
    (&mut file)
        .take(header_len)
        .read_to_end(&mut header)
        .map_err(io)?;
    let header = String::from_utf8_lossy(&header);
    let (Some(shape), Some(itemsize)) = (header_shape(&header), header_itemsize(&header)) else {
        return Ok(None);
    };
    Ok(Some(NpyHeader {
        shape,
        itemsize,
        available: size - data_start,
    }))
}

/// Checks the header of the NPY file at `path` against the file's size
/// before any reader allocates what the header claims: a shape such as
/// (10¹², 6), or a header length beyond the end of the file, is an
/// [`InputError::NpyHeader`] instead of an allocation failure. Files that
/// are not regular (pipes) and headers this check cannot parse are left to
/// the NPY reader.
pub fn check_npy_size(path: &Path) -> Result<(), InputError> {
    let Some(NpyHeader {
        shape,
        itemsize,
        available,
    }) = read_npy_header(path)?
    else {
        return Ok(());
    };
    let needed = shape
        .iter()
        .try_fold(itemsize, |acc, &d| acc.checked_mul(d));
    let shape_text = format!(
        "({})",
        shape
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bad = |detail: String| InputError::NpyHeader {
        path: path.to_path_buf(),
        detail,
    };
    match needed {
        Some(n) if n <= available => Ok(()),
        Some(n) => Err(bad(format!(
            "claims shape {shape_text} of {itemsize}-byte elements ({n} bytes of data), \
             but the file holds only {available} bytes after its header; \
             the file is truncated or its header is wrong"
        ))),
        None => Err(bad(format!(
            "claims shape {shape_text}, more data than any file can hold; \
             the file holds {available} bytes after its header"
        ))),
    }
}

/// The number of count columns an NPY sample file's header declares (the
/// second axis of a 2-D array, the only axis of a 1-D one), for inferring
/// `--qubits`; `None` if it cannot be read.
pub fn npy_column_count(path: &Path) -> Option<usize> {
    let header = read_npy_header(path).ok()??;
    let columns = match header.shape.as_slice() {
        [m] | [_, m] => *m,
        _ => return None,
    };
    usize::try_from(columns).ok()
}

/// The shape an NPY file's header declares (`[N, M]` for N samples of M
/// counts, `[M, N]` for a transposed file), for inferring `--qubits`;
/// `None` if the file is not NPY or its header cannot be read.
pub fn npy_shape(path: &Path) -> Option<Vec<u64>> {
    Some(read_npy_header(path).ok()??.shape)
}

/// The `'shape': (a, b, ...)` of an NPY header dictionary, if parsable.
fn header_shape(header: &str) -> Option<Vec<u64>> {
    let rest = &header[header.find("'shape'")? + "'shape'".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let inner = &rest.strip_prefix('(')?[..rest.find(')')?.checked_sub(1)?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<u64>().ok())
        .collect()
}

/// The element size in bytes named by the header's `'descr'` (the digits
/// ending e.g. `'<f8'`), if parsable.
fn header_itemsize(header: &str) -> Option<u64> {
    let rest = &header[header.find("'descr'")? + "'descr'".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &rest[1..];
    let descr = &body[..body.find(quote)?];
    let digits: String = descr.chars().filter(char::is_ascii_digit).collect();
    digits.parse::<u64>().ok().filter(|&n| n > 0)
}
