//! Reading sample counts from a NumPy `.npy` array: N×M (samples × outcomes,
//! or M×N when transposed), or a 1-D array of M counts for one sample.
//! float64 is the native type; other real dtypes (float32, signed and
//! unsigned integers, either byte order) are converted.
//!
//! The header is checked against the file's size first, so a header that
//! lies about the shape is an error, not an allocation of what it claims.
//! The data is then streamed, a buffer at a time, straight into the
//! [`SampleSink`]: each element is converted, checked and put in place
//! (C or Fortran order, transposed or not); the array itself is never held.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use ndarray_npy::ReadNpyError;
use ndarray_npy::npy::header::{Header, Layout};

use super::cell::check_count;
use super::error::{InputError, Location};
use super::options::InputOptions;
use super::sink::{SampleSink, decimal_bytes};

/// Bytes read from the file at a time.
const READ_BUFFER: usize = 1 << 16;

/// An element type this reader converts to f64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    F8,
    F4,
    I1,
    I2,
    I4,
    I8,
    U1,
    U2,
    U4,
    U8,
}

/// An element type and byte order, from a `descr` such as `'<f8'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dtype {
    element: Element,
    big_endian: bool,
}

impl Dtype {
    /// The dtype a `descr` string (quotes included or not) names, if it is
    /// a real number type this reader converts.
    fn parse(descr: &str) -> Option<Self> {
        let code = descr.trim_matches(|c| c == '\'' || c == '"');
        let (order, code) = match code.as_bytes().first() {
            Some(b'<' | b'>' | b'|' | b'=') => code.split_at(1),
            _ => ("", code),
        };
        let element = match code {
            "f8" => Element::F8,
            "f4" => Element::F4,
            "i1" | "b" => Element::I1,
            "i2" => Element::I2,
            "i4" => Element::I4,
            "i8" => Element::I8,
            "u1" | "B" => Element::U1,
            "u2" => Element::U2,
            "u4" => Element::U4,
            "u8" => Element::U8,
            _ => return None,
        };
        let big_endian = match order {
            ">" => true,
            "=" => cfg!(target_endian = "big"),
            _ => false,
        };
        Some(Self {
            element,
            big_endian,
        })
    }

    /// Bytes per element.
    fn size(self) -> usize {
        match self.element {
            Element::I1 | Element::U1 => 1,
            Element::I2 | Element::U2 => 2,
            Element::F4 | Element::I4 | Element::U4 => 4,
            Element::F8 | Element::I8 | Element::U8 => 8,
        }
    }

    /// The element in `bytes` (exactly [`size`](Self::size) of them) as f64.
    /// Counts beyond 2^53 lose precision, as they would in NumPy.
    fn value(self, bytes: &[u8]) -> f64 {
        fn word<const N: usize>(bytes: &[u8], big: bool) -> [u8; N] {
            let mut w = [0u8; N];
            w.copy_from_slice(bytes);
            if big {
                w.reverse();
            }
            w
        }
        let big = self.big_endian;
        match self.element {
            Element::F8 => f64::from_le_bytes(word(bytes, big)),
            Element::F4 => f64::from(f32::from_le_bytes(word(bytes, big))),
            Element::I1 => f64::from(i8::from_le_bytes(word(bytes, big))),
            Element::I2 => f64::from(i16::from_le_bytes(word(bytes, big))),
            Element::I4 => f64::from(i32::from_le_bytes(word(bytes, big))),
            Element::I8 => i64::from_le_bytes(word(bytes, big)) as f64,
            Element::U1 => f64::from(u8::from_le_bytes(word(bytes, big))),
            Element::U2 => f64::from(u16::from_le_bytes(word(bytes, big))),
            Element::U4 => f64::from(u32::from_le_bytes(word(bytes, big))),
            Element::U8 => u64::from_le_bytes(word(bytes, big)) as f64,
        }
    }
}

/// Reads an NPY sample file (see [`super::read_samples`]) into `sink`,
/// which must be empty. Columns are always positional; ids are the
/// 0-based row numbers.
pub(crate) fn read_npy<R: Read, S: SampleSink>(
    path: &Path,
    mut reader: R,
    expected: &[String],
    opts: &InputOptions,
    sink: &mut S,
) -> Result<(), InputError> {
    check_npy_size(path)?;
    let header =
        Header::from_reader(&mut reader).map_err(|e| npy_error(path, ReadNpyError::from(e)))?;
    let descr = header.type_descriptor.to_string();
    let Some(dtype) = Dtype::parse(&descr) else {
        return Err(InputError::NpyDtype {
            path: path.to_path_buf(),
            dtype: descr,
        });
    };
    let m = expected.len();
    let shape = header.shape.clone();
    // The array as stored: rows × columns.
    let (rows, columns) = match shape.as_slice() {
        [c] => (1, *c),
        [r, c] => (*r, *c),
        _ => {
            return Err(InputError::NpyShape {
                path: path.to_path_buf(),
                shape,
                n_outcomes: m,
            });
        }
    };
    let transposed = opts.transposed && shape.len() == 2;
    let (n, found_m) = if transposed {
        (columns, rows)
    } else {
        (rows, columns)
    };
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
    let total = n
        .checked_mul(m)
        .ok_or_else(|| npy_error(path, ReadNpyError::LengthOverflow))?;
    let storage = |source| InputError::Storage {
        path: path.to_path_buf(),
        source,
    };
    sink.expect(n, decimal_bytes(n)).map_err(storage)?;
    let zeros = vec![0.0; m];
    for _ in 0..n {
        sink.push(None, &zeros).map_err(storage)?;
    }
    let counts = sink.counts_mut().map_err(storage)?;

    let size = dtype.size();
    let mut buf = vec![0u8; READ_BUFFER / size * size];
    // The element about to be read, as stored (row, column).
    let (mut row, mut column) = (0usize, 0usize);
    let fortran = header.layout == Layout::Fortran;
    let mut left = total;
    while left > 0 {
        let want = left.saturating_mul(size).min(buf.len());
        let chunk = &mut buf[..want];
        reader.read_exact(chunk).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                npy_error(path, ReadNpyError::MissingData)
            } else {
                npy_error(path, ReadNpyError::Io(e))
            }
        })?;
        for bytes in chunk.chunks_exact(size) {
            let (sample, outcome) = if transposed {
                (column, row)
            } else {
                (row, column)
            };
            let at = || Location::Element {
                row: row as u64 + 1,
                column: column as u64 + 1,
                name: Some(format!("label '{}'", expected[outcome])),
            };
            counts[sample * m + outcome] = check_count(path, dtype.value(bytes), at)?;
            if fortran {
                row += 1;
                if row == rows {
                    row = 0;
                    column += 1;
                }
            } else {
                column += 1;
                if column == columns {
                    column = 0;
                    row += 1;
                }
            }
        }
        left -= want / size;
    }
    let extra = std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|e| npy_error(path, ReadNpyError::Io(e)))?;
    if extra > 0 {
        let extra = usize::try_from(extra).unwrap_or(usize::MAX);
        return Err(npy_error(path, ReadNpyError::ExtraBytes(extra)));
    }
    Ok(())
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
