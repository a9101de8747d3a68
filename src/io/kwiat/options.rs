//! Kwiat's TOML options file (the package's `import_conf`), as far as it
//! shapes the data: [`KwiatOptions`].
//!
//! Honoured: `do_drift_correction`, `do_accidental_correction` (true or
//! false; the package also takes 0/1 and "yes"/"no"/"true"/"false"), and
//! qtomo's own `intensity_from_singles` (drift from the singles, which the
//! package does not offer).
//! Accepted and not used, because qtomo computes its own estimates and
//! error bars: `do_error_estimation` (see `--bootstrap`), `method`
//! (qtomo's `--method`), `get_bell_settings`, `starting_matrix`, `beta`,
//! `ftol`, `xtol`, `gtol`, `maxfev`. Any other key is ignored too, as the
//! package ignores it, and listed in [`KwiatOptions::ignored`] so the
//! command line can warn about a misspelt option.

use std::path::Path;

use super::error::KwiatError;

/// Options that the package reads but that do not change the data qtomo
/// builds (it has its own estimators, error bars and stopping rules).
pub const ACCEPTED_UNUSED: &[&str] = &[
    "do_error_estimation",
    "method",
    "get_bell_settings",
    "starting_matrix",
    "beta",
    "ftol",
    "xtol",
    "gtol",
    "maxfev",
];

/// What the options file says about the data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KwiatOptions {
    /// `do_drift_correction`. In Quantum-Tomography 1.2 this flag changes
    /// nothing in the JSON path: relative intensities come from the data
    /// entries' `relative_intensity` whether it is set or not. qtomo does
    /// the same and keeps the flag only to report it.
    pub drift_correction: bool,
    /// `do_accidental_correction`: subtract (model) accidental
    /// coincidences computed from the singles and `coincidence_window`.
    pub accidental_correction: bool,
    /// `intensity_from_singles` (qtomo's own key, not the package's):
    /// each entry's relative intensity (drift) estimated from the singles
    /// instead of `relative_intensity` (by a log-linear fit with one
    /// detector per qubit; see the Kwiat conversion's module docs).
    pub intensity_from_singles: bool,
    /// Keys that were present but are neither honoured nor in
    /// `ACCEPTED_UNUSED`, sorted by name: probably misspelt.
    pub ignored: Vec<String>,
}

/// Reads a Kwiat TOML options file.
pub fn read_options(path: &Path) -> Result<KwiatOptions, KwiatError> {
    let text = std::fs::read_to_string(path).map_err(|source| KwiatError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_options(&text, path)
}

/// Parses the text of a Kwiat TOML options file (`path` for errors).
pub fn parse_options(text: &str, path: &Path) -> Result<KwiatOptions, KwiatError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() as u64 + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
                (Some(line), Some(column))
            })
            .unwrap_or((None, None));
        KwiatError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            what: "not valid TOML",
            message: e.message().to_string(),
        }
    })?;
    let mut opts = KwiatOptions::default();
    for (key, value) in &table {
        match key.as_str() {
            "do_drift_correction" => opts.drift_correction = flag(path, key, value)?,
            "do_accidental_correction" => opts.accidental_correction = flag(path, key, value)?,
            "intensity_from_singles" => opts.intensity_from_singles = flag(path, key, value)?,
            k if ACCEPTED_UNUSED.contains(&k) => {}
            _ => opts.ignored.push(key.clone()),
        }
    }
    Ok(opts)
}

/// A yes/no option as the package's configuration dictionary takes it:
/// a boolean, 0 or 1, or one of the words it maps (yes, no, true, false,
/// t, y, f; any case).
fn flag(path: &Path, key: &str, value: &toml::Value) -> Result<bool, KwiatError> {
    let parsed = match value {
        toml::Value::Boolean(b) => Some(*b),
        toml::Value::Integer(0) => Some(false),
        toml::Value::Integer(1) => Some(true),
        toml::Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "t" | "y" => Some(true),
            "no" | "false" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| KwiatError::Option {
        path: path.to_path_buf(),
        key: key.to_string(),
        expected: "true or false".into(),
        found: shown(value),
    })
}

/// A TOML value for messages.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "an array".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    }
}
