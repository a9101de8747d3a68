//! What the command line says about an input file: its format and how its
//! columns map to the expected labels.

/// Which file format to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// NPY if the file starts with the NPY magic bytes or is named `*.npy`,
    /// CSV otherwise.
    #[default]
    Auto,
    /// Comma-separated text (tab-separated when the file is named `*.tsv`).
    Csv,
    /// A NumPy `.npy` array.
    Npy,
}

/// How CSV columns are matched to the expected labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColumnMode {
    /// By header name, in any order.
    #[default]
    Labels,
    /// By position: the header is still required, but its names are
    /// ignored; the count columns (after an optional first `sample` column)
    /// are taken in the order of the expected labels and their number must
    /// match. NPY input is always positional.
    Positional,
}

/// Options for [`read_samples`] (the `--format`, `--transposed` and
/// `--columns` flags of `qtomo run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InputOptions {
    /// The file format.
    pub format: InputFormat,
    /// One sample per column instead of per row. In CSV the first column
    /// holds the labels and the header row holds the sample ids; an NPY
    /// array is read as outcomes × samples.
    pub transposed: bool,
    /// How columns (rows, when transposed) are matched to labels.
    pub columns: ColumnMode,
}
