//! Reading a Kwiat input as a batch: one `.json` file (one sample), a
//! `.jsonl` file (one sample per non-blank line) or a directory of
//! `.json` files (sorted by name), checking that every sample has the
//! first sample's measurement rows.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::convert::convert;
use super::error::{KwiatError, Origin};
use super::options::KwiatOptions;
use super::{KwiatRows, KwiatSample, json};

/// How a Kwiat input holds its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KwiatLayout {
    /// A `.json` file: one sample.
    Single,
    /// A `.jsonl` file: one sample per non-blank line.
    Lines,
    /// A directory of `.json` files, one sample each, sorted by name.
    Directory,
}

/// The layout of `path` if it is a Kwiat input: a directory holding at
/// least one `*.json` file, or a file named `*.json` / `*.jsonl` (any
/// case). A directory without one is not (the caller reports it as a
/// directory where a file was expected).
pub fn layout(path: &Path) -> Option<KwiatLayout> {
    if path.is_dir() {
        return batch_files(path).is_ok().then_some(KwiatLayout::Directory);
    }
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "json" => Some(KwiatLayout::Single),
        "jsonl" => Some(KwiatLayout::Lines),
        _ => None,
    }
}

/// A whole batch in memory (for tests and small inputs; `qtomo run`
/// streams with `for_each_sample`).
#[derive(Debug, Clone, PartialEq)]
pub struct KwiatBatch {
    /// The rows every sample shares.
    pub rows: KwiatRows,
    /// The samples, in batch order.
    pub samples: Vec<KwiatSample>,
}

/// The `.json` files of a directory batch, sorted by file name (bytes).
/// Entries that are not regular files (after following links) are
/// skipped; so are names not ending in `.json`.
pub fn batch_files(dir: &Path) -> Result<Vec<PathBuf>, KwiatError> {
    let io = |source| KwiatError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let is_json = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(KwiatError::NoSamples {
            path: dir.to_path_buf(),
            what: "at least one .json file in the directory",
        });
    }
    Ok(files)
}

/// Reads the whole batch at `path` into memory.
pub fn read_batch(path: &Path, opts: &KwiatOptions) -> Result<KwiatBatch, KwiatError> {
    let mut rows = None;
    let mut samples = Vec::new();
    for_each_sample(path, opts, |r: &KwiatRows, s| {
        if rows.is_none() {
            rows = Some(r.clone());
        }
        samples.push(s);
        Ok::<(), KwiatError>(())
    })?;
    match rows {
        Some(rows) => Ok(KwiatBatch { rows, samples }),
        None => Err(KwiatError::NoSamples {
            path: path.to_path_buf(),
            what: "at least one sample",
        }),
    }
}

/// Reads the batch at `path` sample by sample, handing each to `f` with
/// the batch's rows (the first sample's) as soon as it is checked;
/// returns the number of samples. Stops at the first error (of the input,
/// or of `f`).
pub fn for_each_sample<E, F>(path: &Path, opts: &KwiatOptions, mut f: F) -> Result<usize, E>
where
    E: From<KwiatError>,
    F: FnMut(&KwiatRows, KwiatSample) -> Result<(), E>,
{
    let mut first: Option<(KwiatRows, Origin)> = None;
    let mut count = 0usize;
    let mut take = |text: &str, origin: Origin, id: Option<String>| -> Result<(), E> {
        let file = json::parse(text.trim_start_matches('\u{feff}'), &origin)?;
        let (rows, sample) = convert(&file, opts, &origin, id)?;
        match &first {
            None => first = Some((rows, origin)),
            Some((expected, at)) => {
                if let Some(detail) = difference(expected, &rows) {
                    return Err(KwiatError::Mismatch {
                        path: origin.path.clone(),
                        line: origin.line,
                        detail,
                        first: at.to_string(),
                    }
                    .into());
                }
            }
        }
        count += 1;
        match &first {
            Some((rows, _)) => f(rows, sample),
            None => Ok(()),
        }
    };
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| KwiatError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let layout = if path.is_dir() {
        Some(KwiatLayout::Directory)
    } else {
        layout(path)
    };
    match layout {
        Some(KwiatLayout::Directory) => {
            for file in batch_files(path)? {
                let text = read(&file)?;
                take(
                    &text,
                    Origin {
                        path: file.clone(),
                        line: None,
                    },
                    name(&file),
                )?;
            }
        }
        Some(KwiatLayout::Lines) => {
            let file = std::fs::File::open(path).map_err(|source| KwiatError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line.map_err(|source| KwiatError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                let origin = Origin {
                    path: path.to_path_buf(),
                    line: Some(i as u64 + 1),
                };
                take(&line, origin, None)?;
            }
        }
        Some(KwiatLayout::Single) | None => {
            let text = read(path)?;
            take(
                &text,
                Origin {
                    path: path.to_path_buf(),
                    line: None,
                },
                name(path),
            )?;
        }
    }
    if count == 0 {
        return Err(KwiatError::NoSamples {
            path: path.to_path_buf(),
            what: "one JSON object per line",
        }
        .into());
    }
    Ok(count)
}

/// What makes `rows` differ from the batch's `expected` rows, if anything.
fn difference(expected: &KwiatRows, rows: &KwiatRows) -> Option<String> {
    if rows.n_qubits != expected.n_qubits {
        return Some(format!(
            "n_qubits is {}, the first sample's is {}",
            rows.n_qubits, expected.n_qubits
        ));
    }
    if rows.detectors_per_qubit != expected.detectors_per_qubit {
        return Some(format!(
            "n_detectors_per_qubit is {}, the first sample's is {}",
            rows.detectors_per_qubit, expected.detectors_per_qubit
        ));
    }
    if rows.len() != expected.len() {
        return Some(format!(
            "data has {} entries, the first sample's has {}",
            rows.len(),
            expected.len()
        ));
    }
    for k in 0..rows.len() {
        if rows.labels[k] != expected.labels[k] {
            return Some(format!(
                "data[{k}] measures '{}', the first sample's data[{k}] measures '{}'",
                rows.labels[k], expected.labels[k]
            ));
        }
        if rows.kets[k] != expected.kets[k] || rows.outcome[k] != expected.outcome[k] {
            return Some(format!(
                "data[{k}] ('{}') is a different ket (its measurement_states differ)",
                rows.labels[k]
            ));
        }
    }
    None
}
