//! Reading sample counts from a NumPy `.npy` array: N×M (samples × outcomes,
//! or M×N when transposed), or a 1-D array of M counts for one sample.
//! float64 is the native type; other real dtypes (float32, signed and
//! unsigned integers) are converted.

use std::fs::File;
use std::io::{BufReader, Read};
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
