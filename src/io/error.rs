//! Errors raised while reading inputs and writing sample files, and the
//! [`Location`] that pins an input error to a place in a file.
//!
//! Every [`InputError`] names the file; errors about a particular place name
//! it too, in the `path:line:column` form editors and terminals understand
//! (1-based line and column), followed by what was expected and what was
//! found, e.g.
//! `data.csv:3:5 (column 'XZ:01'): expected a non-negative finite count, found "abc" (not a number)`.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where in an input file an error was found.
///
/// Lines, columns and rows are 1-based, as a person counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole.
    File,
    /// One line of a text file.
    Line {
        /// 1-based line number.
        line: u64,
    },
    /// One cell of a text (CSV) file.
    Cell {
        /// 1-based line number.
        line: u64,
        /// 1-based column (field) number.
        column: u64,
        /// What the column holds, e.g. `column 'XZ:01'`, when known.
        name: Option<String>,
    },
    /// One element of an array (NPY) file.
    Element {
        /// 1-based row (sample) number.
        row: u64,
        /// 1-based column (outcome) number.
        column: u64,
        /// What the column holds, e.g. `column 'XZ:01'`, when known.
        name: Option<String>,
    },
}

#[cfg(test)]
impl Location {
    /// The 1-based line, for text locations.
    pub fn line(&self) -> Option<u64> {
        match self {
            Location::Line { line } | Location::Cell { line, .. } => Some(*line),
            Location::File | Location::Element { .. } => None,
        }
    }
}

impl fmt::Display for Location {
    /// Human form without the path, e.g. `line 3, column 5`, used when an
    /// error refers to a second place ("first seen at line 2").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => f.write_str("the file"),
            Location::Line { line } => write!(f, "line {line}"),
            Location::Cell { line, column, .. } => write!(f, "line {line}, column {column}"),
            Location::Element { row, column, .. } => write!(f, "row {row}, column {column}"),
        }
    }
}

/// `path` plus a location suffix: `data.csv:3:5 (column 'XZ:01')`.
struct Site<'a>(&'a Path, &'a Location);

impl fmt::Display for Site<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())?;
        let name = match self.1 {
            Location::File => None,
            Location::Line { line } => {
                write!(f, ":{line}")?;
                None
            }
            Location::Cell { line, column, name } => {
                write!(f, ":{line}:{column}")?;
                name.as_ref()
            }
            Location::Element { row, column, name } => {
                write!(f, " [row {row}, column {column}]")?;
                name.as_ref()
            }
        };
        if let Some(name) = name {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}

fn site<'a>(path: &'a Path, at: &'a Location) -> Site<'a> {
    Site(path, at)
}

/// Formats up to ten items as `'a', 'b', ... and N more`.
fn quoted_list(items: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut out = items
        .iter()
        .take(SHOWN)
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        out.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    out
}

/// A name found in a header (or in the label column of a transposed file)
/// that is not one of the expected labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnexpectedLabel {
    /// The name as written in the file.
    pub name: String,
    /// Where it was written.
    pub at: Location,
    /// The closest expected label by edit distance, when one is close enough.
    pub suggestion: Option<String>,
}

/// The difference between the labels a file provides and the labels the
/// measurement set expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelDiff {
    /// Expected labels that the file does not provide, in expected order.
    pub missing: Vec<String>,
    /// Names the file provides that are not expected, in file order.
    pub unexpected: Vec<UnexpectedLabel>,
    /// `"column"` for a normal file, `"row label"` for a transposed one.
    pub kind: &'static str,
}

impl fmt::Display for LabelDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        let mut parts = Vec::new();
        for u in self.unexpected.iter().take(SHOWN) {
            let mut part = format!("unknown {} '{}'", self.kind, u.name);
            if let Some(s) = &u.suggestion {
                part.push_str(&format!(" (did you mean '{s}'?)"));
            }
            part.push_str(&format!(" at {}", u.at));
            parts.push(part);
        }
        if self.unexpected.len() > SHOWN {
            parts.push(format!(
                "{} more unknown {}s",
                self.unexpected.len() - SHOWN,
                self.kind
            ));
        }
        if !self.missing.is_empty() {
            parts.push(format!(
                "missing label{} {}",
                if self.missing.len() == 1 { "" } else { "s" },
                quoted_list(&self.missing)
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Why an input file (samples or kets) could not be read.
///
/// Nothing is ever written when one of these is returned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InputError {
    /// The path does not exist.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The input path.
        path: PathBuf,
    },

    /// The path is a directory, not a file.
    #[error("{}: is a directory; expected a CSV or NPY file", path.display())]
    IsADirectory {
        /// The input path.
        path: PathBuf,
    },

    /// The file could not be opened or read (permissions, I/O failure).
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The input path.
        path: PathBuf,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },

    /// The file has no content at all (or only blank lines).
    #[error("{}: file is empty; expected a header row followed by {what}", path.display())]
    EmptyFile {
        /// The input path.
        path: PathBuf,
        /// What rows should follow the header (`"one row per sample"`, ...).
        what: &'static str,
    },

    /// The first row looks like data, not like a header of column names.
    #[error(
        "{}: expected a header row naming the columns ({expected}), found what looks like a data row {found:?}",
        site(path, at)
    )]
    MissingHeader {
        /// The input path.
        path: PathBuf,
        /// Where the header should be (line 1 unless blank lines precede it).
        at: Location,
        /// The first few expected column names.
        expected: String,
        /// The start of the row that was found.
        found: String,
    },

    /// The header's names do not match the expected labels.
    #[error(
        "{}: the {} do not match the {n_expected} expected labels: {diff}",
        site(path, at),
        if diff.kind == "column" { "header's columns" } else { "row labels" }
    )]
    LabelMismatch {
        /// The input path.
        path: PathBuf,
        /// The header line (or the file, for transposed input).
        at: Location,
        /// Number of expected labels.
        n_expected: usize,
        /// Missing and unexpected labels with suggestions.
        diff: Box<LabelDiff>,
    },

    /// The same label (or ket label) appears twice.
    #[error(
        "{}: duplicate label '{label}' (first seen at {first})",
        site(path, at)
    )]
    DuplicateLabel {
        /// The input path.
        path: PathBuf,
        /// The repeated label.
        label: String,
        /// The first occurrence.
        first: Box<Location>,
        /// The second occurrence.
        at: Location,
    },

    /// With positional columns (or rows), their number does not match the
    /// number of expected labels.
    #[error("{}: expected {expected} {what}, found {found}", site(path, at))]
    WrongOutcomeCount {
        /// The input path.
        path: PathBuf,
        /// The header line, or the file.
        at: Location,
        /// What is being counted, e.g. `"count columns after the optional 'sample' column"`.
        what: &'static str,
        /// The number of expected labels.
        expected: usize,
        /// The number found.
        found: usize,
    },

    /// A data row has a different number of fields from the header.
    #[error(
        "{}: expected {expected} fields (as in the header), found {found}",
        site(path, at)
    )]
    WrongFieldCount {
        /// The input path.
        path: PathBuf,
        /// The offending line.
        at: Location,
        /// Fields in the header.
        expected: usize,
        /// Fields on this line.
        found: usize,
    },

    /// A cell that should hold a number holds text (or nothing).
    #[error(
        "{}: expected {expected}, found {found:?} ({})",
        site(path, at),
        if found.is_empty() { "empty cell" } else { "not a number" }
    )]
    NotANumber {
        /// The input path.
        path: PathBuf,
        /// The cell.
        at: Location,
        /// What the cell should hold.
        expected: &'static str,
        /// The cell's text.
        found: String,
    },

    /// A number is NaN.
    #[error("{}: expected {expected}, found {found:?} (NaN)", site(path, at))]
    NanValue {
        /// The input path.
        path: PathBuf,
        /// The cell or element.
        at: Location,
        /// What the cell should hold.
        expected: &'static str,
        /// The cell's text (or the value).
        found: String,
    },

    /// A number is infinite.
    #[error("{}: expected {expected}, found {found:?} (infinite)", site(path, at))]
    InfiniteValue {
        /// The input path.
        path: PathBuf,
        /// The cell or element.
        at: Location,
        /// What the cell should hold.
        expected: &'static str,
        /// The cell's text (or the value).
        found: String,
    },

    /// A count is negative.
    #[error("{}: expected {expected}, found {found:?} (negative)", site(path, at))]
    NegativeValue {
        /// The input path.
        path: PathBuf,
        /// The cell or element.
        at: Location,
        /// What the cell should hold.
        expected: &'static str,
        /// The cell's text (or the value).
        found: String,
    },

    /// A cell that must not be empty (sample id, ket label, setting) is.
    #[error("{}: expected {expected}, found an empty cell", site(path, at))]
    EmptyField {
        /// The input path.
        path: PathBuf,
        /// The cell.
        at: Location,
        /// What the cell should hold.
        expected: &'static str,
    },

    /// A cell is not valid UTF-8 text.
    #[error("{}: expected UTF-8 text, found invalid bytes", site(path, at))]
    InvalidUtf8 {
        /// The input path.
        path: PathBuf,
        /// The cell.
        at: Location,
    },

    /// Two samples share an id.
    #[error(
        "{}: duplicate sample id {id:?} (first used at {first})",
        site(path, at)
    )]
    DuplicateId {
        /// The input path.
        path: PathBuf,
        /// The repeated id.
        id: String,
        /// The first occurrence.
        first: Box<Location>,
        /// The second occurrence.
        at: Location,
    },

    /// The samples could not be stored as they were read (the shared
    /// memory they go to could not grow: `/dev/shm` full, a memory limit).
    /// Not a fault of the input: see [`InputError::is_storage`]. The
    /// reason is the error's source (shown by `{:#}` and error chains).
    #[error("{}: cannot hold the samples in memory", path.display())]
    Storage {
        /// The input path.
        path: PathBuf,
        /// Why the sink refused them.
        #[source]
        source: super::sink::SinkError,
    },

    /// The file has a header but no samples.
    #[error("{}: no samples: expected at least one {what} after the header", path.display())]
    NoSamples {
        /// The input path.
        path: PathBuf,
        /// `"row"` or `"column"` (transposed) or `"array row"` (NPY).
        what: &'static str,
    },

    /// A ket file has a header but no kets.
    #[error("{}: no kets: expected at least one ket row after the header", path.display())]
    NoKets {
        /// The input path.
        path: PathBuf,
    },

    /// The file is not a readable NPY file.
    #[error("{}: not a readable NPY file: {source}", path.display())]
    Npy {
        /// The input path.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: ndarray_npy::ReadNpyError,
    },

    /// The NPY header describes more data than the file holds (or a header
    /// longer than the file): checked before anything is allocated.
    #[error("{}: NPY header: {detail}", path.display())]
    NpyHeader {
        /// The input path.
        path: PathBuf,
        /// What the header claims and what the file holds.
        detail: String,
    },

    /// The NPY element type is not a real number type.
    #[error(
        "{}: expected an array of float64 (or integer/float32) counts, found dtype {dtype}",
        path.display()
    )]
    NpyDtype {
        /// The input path.
        path: PathBuf,
        /// The dtype descriptor from the file header.
        dtype: String,
    },

    /// The NPY array has the wrong number of dimensions.
    #[error(
        "{}: expected a 2-D array (samples × {n_outcomes}) or a 1-D array of {n_outcomes} counts, found shape {shape:?}",
        path.display()
    )]
    NpyShape {
        /// The input path.
        path: PathBuf,
        /// The array's shape.
        shape: Vec<usize>,
        /// The number of expected outcomes.
        n_outcomes: usize,
    },

    /// The ket file's header does not describe kets.
    #[error("{}: {detail}", site(path, at))]
    KetColumns {
        /// The input path.
        path: PathBuf,
        /// The header line.
        at: Location,
        /// What is wrong and what was expected.
        detail: String,
    },

    /// A Kwiat Quantum-Tomography input (data, batch or options file) is
    /// malformed or cannot be used (located by file, `.jsonl` line and
    /// field).
    #[error(transparent)]
    Kwiat(#[from] super::kwiat::KwiatError),

    /// A ket has zero norm.
    #[error(
        "{}: ket '{label}' has zero norm; expected a non-zero vector",
        site(path, at)
    )]
    ZeroNormKet {
        /// The input path.
        path: PathBuf,
        /// The ket's line.
        at: Location,
        /// The ket's label.
        label: String,
    },
}

impl InputError {
    /// The file the error is about.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        match self {
            InputError::NotFound { path }
            | InputError::IsADirectory { path }
            | InputError::Io { path, .. }
            | InputError::EmptyFile { path, .. }
            | InputError::MissingHeader { path, .. }
            | InputError::LabelMismatch { path, .. }
            | InputError::DuplicateLabel { path, .. }
            | InputError::WrongOutcomeCount { path, .. }
            | InputError::WrongFieldCount { path, .. }
            | InputError::NotANumber { path, .. }
            | InputError::NanValue { path, .. }
            | InputError::InfiniteValue { path, .. }
            | InputError::NegativeValue { path, .. }
            | InputError::EmptyField { path, .. }
            | InputError::InvalidUtf8 { path, .. }
            | InputError::DuplicateId { path, .. }
            | InputError::Storage { path, .. }
            | InputError::NoSamples { path, .. }
            | InputError::NoKets { path }
            | InputError::Npy { path, .. }
            | InputError::NpyHeader { path, .. }
            | InputError::NpyDtype { path, .. }
            | InputError::NpyShape { path, .. }
            | InputError::KetColumns { path, .. }
            | InputError::ZeroNormKet { path, .. } => path,
            InputError::Kwiat(e) => e.path(),
        }
    }

    /// True when the input was fine but could not be stored
    /// ([`InputError::Storage`]): a resource problem, not an input error.
    pub fn is_storage(&self) -> bool {
        matches!(self, InputError::Storage { .. })
    }

    #[cfg(test)]
    /// Where in the file the error is, when it is about one place.
    pub fn location(&self) -> Option<&Location> {
        match self {
            InputError::MissingHeader { at, .. }
            | InputError::LabelMismatch { at, .. }
            | InputError::DuplicateLabel { at, .. }
            | InputError::WrongOutcomeCount { at, .. }
            | InputError::WrongFieldCount { at, .. }
            | InputError::NotANumber { at, .. }
            | InputError::NanValue { at, .. }
            | InputError::InfiniteValue { at, .. }
            | InputError::NegativeValue { at, .. }
            | InputError::EmptyField { at, .. }
            | InputError::InvalidUtf8 { at, .. }
            | InputError::DuplicateId { at, .. }
            | InputError::KetColumns { at, .. }
            | InputError::ZeroNormKet { at, .. } => Some(at),
            _ => None,
        }
    }
}

/// Why a sample file could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The arguments do not describe a consistent table.
    #[error("{}: cannot write samples: {detail}", path.display())]
    Shape {
        /// The output path.
        path: PathBuf,
        /// What is inconsistent.
        detail: String,
    },

    /// A count is negative or not finite, so the file could not be read back.
    #[error(
        "{}: cannot write samples: count {value} for sample {sample}, outcome {outcome} is not a non-negative finite number",
        path.display()
    )]
    InvalidCount {
        /// The output path.
        path: PathBuf,
        /// 0-based sample index.
        sample: usize,
        /// 0-based outcome index.
        outcome: usize,
        /// The offending value.
        value: f64,
    },

    /// Creating, writing, syncing or renaming the file failed.
    #[error("{}: cannot write: {source}", path.display())]
    Io {
        /// The output path (the file asked for, not its temporary sibling).
        path: PathBuf,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },

    /// The CSV writer failed.
    #[error("{}: cannot write CSV: {source}", path.display())]
    Csv {
        /// The output path.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: csv::Error,
    },

    /// The NPY writer failed.
    #[error("{}: cannot write NPY: {source}", path.display())]
    Npy {
        /// The output path.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: ndarray_npy::WriteNpyError,
    },
}
