//! Reading a custom measurement set given as kets from CSV
//! ([`read_kets_csv`]).
//!
//! # Format
//!
//! A header row whose first column is `label`, then either
//!
//! * per-subsystem columns `q{s}_re{j}`, `q{s}_im{j}` for subsystems
//!   `s = 1..=S` and local indices `j = 0..d_s-1`; the full ket is the
//!   tensor product `q1 ⊗ q2 ⊗ … ⊗ qS` (subsystem 1 is the most significant
//!   factor: full index `j_1 d_2⋯d_S + … + j_S`), or
//! * full-ket columns `re{j}`, `im{j}` for `j = 0..d-1`.
//!
//! An optional `setting` column groups rows into settings (complete
//! measurements). Any other column (e.g. `counts`) is ignored. Kets are
//! kept exactly as written, not normalised; a zero ket is an error.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use csv::ByteRecord;
use faer::c64;

use super::cell::{parse_real, parse_text};
use super::csv_text::{checked_line, csv_reader, next_record, read_header};
use super::error::{InputError, Location};
use super::labels::{header_hint, looks_like_data, row_preview};
use super::source::open_input;
use crate::tomo::sets::product_kets::full_kets;

/// Kets with a squared norm at or below this are treated as zero.
pub const ZERO_NORM_SQR: f64 = 1e-30;

/// A custom measurement set read from a ket file.
///
/// The kets are kept as the file gives them: per subsystem (one local ket
/// per subsystem and row) for per-subsystem columns, whole for full-ket
/// columns (one "subsystem" of dimension d). The full kets are formed only
/// on request ([`Self::kets`]): at 8 qubits they would take gigabytes, and
/// a product set never needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct KetTable {
    /// One label per ket, in file order, distinct.
    pub labels: Vec<String>,
    /// The `setting` of each ket when the file has a `setting` column.
    pub settings: Option<Vec<String>>,
    /// Local dimensions of the subsystems (`[d]` for full-ket columns);
    /// their product is `d`.
    pub subsystem_dims: Vec<usize>,
    /// The local kets, as written (not normalised): row k's are
    /// `local[k·w..(k+1)·w]` with w = Σ d_s, subsystem 1 first.
    pub local: Vec<c64>,
}

impl KetTable {
    /// The Hilbert-space dimension `d` (length of every full ket).
    #[cfg(test)]
    pub fn dim(&self) -> usize {
        self.subsystem_dims.iter().product()
    }

    /// Every full ket (the tensor product of the row's local kets,
    /// subsystem 1 the most significant factor), in file order: M × d
    /// complex numbers, to build only for a dense set.
    pub fn kets(&self) -> Vec<Vec<c64>> {
        full_kets(&self.subsystem_dims, &self.local)
    }
}

/// The column of the real and imaginary part of one amplitude.
#[derive(Debug, Clone, Copy)]
struct Amplitude {
    re: usize,
    im: usize,
}

/// Where the ket, setting and label data sit in a row.
struct Layout {
    /// `factors[s][j]`: subsystem `s` (0-based), local index `j`.
    factors: Vec<Vec<Amplitude>>,
    setting: Option<usize>,
}

/// A recognised ket column name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KetColumn {
    /// `q{s}_re{j}` / `q{s}_im{j}`: subsystem (1-based), index, imaginary?
    Local(usize, usize, bool),
    /// `re{j}` / `im{j}`.
    Full(usize, bool),
}

fn parse_part(s: &str) -> Option<(usize, bool)> {
    let (imag, digits) = if let Some(d) = s.strip_prefix("re") {
        (false, d)
    } else {
        (true, s.strip_prefix("im")?)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, imag))
}

fn classify(name: &str) -> Option<KetColumn> {
    if let Some(rest) = name.strip_prefix('q') {
        let (sub, part) = rest.split_once('_')?;
        if sub.is_empty() || !sub.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (j, imag) = parse_part(part)?;
        Some(KetColumn::Local(sub.parse().ok()?, j, imag))
    } else {
        parse_part(name).map(|(j, imag)| KetColumn::Full(j, imag))
    }
}

fn column_name(s: Option<usize>, j: usize, imag: bool) -> String {
    let part = if imag { "im" } else { "re" };
    match s {
        Some(s) => format!("q{s}_{part}{j}"),
        None => format!("{part}{j}"),
    }
}

fn header_layout(path: &Path, names: &[String], line: u64) -> Result<Layout, InputError> {
    let bad = |detail: String| InputError::KetColumns {
        path: path.to_path_buf(),
        at: Location::Line { line },
        detail,
    };
    if names[0] != "label" {
        return Err(bad(format!(
            "expected the first column to be 'label', found '{}'",
            names[0]
        )));
    }
    let mut columns: HashMap<KetColumn, usize> = HashMap::new();
    let mut setting = None;
    for (i, name) in names.iter().enumerate().skip(1) {
        if name == "label" || (name == "setting" && setting.is_some()) {
            return Err(bad(format!("duplicate column '{name}' (column {})", i + 1)));
        }
        if name == "setting" {
            setting = Some(i);
            continue;
        }
        let Some(kind) = classify(name) else {
            continue; // other columns (e.g. counts) are ignored
        };
        if let Some(first) = columns.insert(kind, i) {
            return Err(bad(format!(
                "duplicate column '{name}' (columns {} and {})",
                first + 1,
                i + 1
            )));
        }
    }
    let local = columns.keys().any(|k| matches!(k, KetColumn::Local(..)));
    let full = columns.keys().any(|k| matches!(k, KetColumn::Full(..)));
    let expected_forms =
        "per-subsystem columns q1_re0,q1_im0,q1_re1,... or full-ket columns re0,im0,re1,im1,...";
    if local && full {
        return Err(bad(format!(
            "mixes per-subsystem and full-ket columns; expected either {expected_forms}"
        )));
    }
    if !local && !full {
        return Err(bad(format!(
            "no ket columns after 'label'; expected {expected_forms}"
        )));
    }
    // Group indices per subsystem (0 stands for "the full ket").
    let mut per_sub: HashMap<usize, usize> = HashMap::new(); // subsystem -> max j + 1
    for k in columns.keys() {
        let (s, j) = match *k {
            KetColumn::Local(s, j, _) => (s, j),
            KetColumn::Full(j, _) => (0, j),
        };
        let e = per_sub.entry(s).or_insert(0);
        *e = (*e).max(j + 1);
    }
    let subs: Vec<usize> = if local {
        let n_sub = per_sub.keys().copied().max().unwrap_or(0);
        if let Some(s) = (1..=n_sub).find(|s| !per_sub.contains_key(s)) {
            return Err(bad(format!(
                "subsystems must be numbered q1..q{n_sub} without gaps; no columns for q{s}"
            )));
        }
        (1..=n_sub).collect()
    } else {
        vec![0]
    };
    let mut factors = Vec::with_capacity(subs.len());
    for s in subs {
        let dim = per_sub.get(&s).copied().unwrap_or(0);
        let sub = (s > 0).then_some(s);
        let mut amps = Vec::with_capacity(dim);
        for j in 0..dim {
            let col = |imag: bool| {
                let key = match sub {
                    Some(s) => KetColumn::Local(s, j, imag),
                    None => KetColumn::Full(j, imag),
                };
                columns.get(&key).copied().ok_or_else(|| {
                    bad(format!(
                        "missing column '{}' (amplitudes 0..{} need both re and im columns)",
                        column_name(sub, j, imag),
                        dim - 1
                    ))
                })
            };
            amps.push(Amplitude {
                re: col(false)?,
                im: col(true)?,
            });
        }
        factors.push(amps);
    }
    Ok(Layout { factors, setting })
}

/// Reads a ket file (format in the module docs).
///
/// Errors name the file and the 1-based line and column: missing or
/// malformed header, a non-numeric, NaN or infinite amplitude, an empty or
/// duplicate label, a row of the wrong length, a zero ket, no kets.
pub fn read_kets_csv(path: &Path) -> Result<KetTable, InputError> {
    let source = open_input(path, "one row per ket")?;
    let mut reader = csv_reader(path, source.reader);
    let header = read_header(path, &mut reader)?;
    let Some((names, header_line)) = header.filter(|(n, _)| n.iter().any(|s| !s.is_empty())) else {
        return Err(InputError::EmptyFile {
            path: path.to_path_buf(),
            what: "one row per ket",
        });
    };
    if looks_like_data(&names, &[]) {
        return Err(InputError::MissingHeader {
            path: path.to_path_buf(),
            at: Location::Line { line: header_line },
            expected: header_hint(Some("label"), &["q1_re0".into(), "q1_im0".into()]),
            found: row_preview(&names),
        });
    }
    let layout = header_layout(path, &names, header_line)?;
    let subsystem_dims: Vec<usize> = layout.factors.iter().map(Vec::len).collect();

    let mut labels = Vec::new();
    let mut local = Vec::new();
    let mut settings = layout.setting.map(|_| Vec::new());
    let mut first_seen: HashMap<String, Location> = HashMap::new();
    let mut record = ByteRecord::new();
    while next_record(path, &mut reader, &mut record)? {
        let line = checked_line(path, &record, names.len())?;
        let cell_at = |i: usize| Location::Cell {
            line,
            column: i as u64 + 1,
            name: Some(format!("column '{}'", names[i])),
        };
        let label = parse_text(path, &record[0], "a ket label", || cell_at(0))?;
        match first_seen.entry(label.clone()) {
            Entry::Occupied(first) => {
                return Err(InputError::DuplicateLabel {
                    path: path.to_path_buf(),
                    label,
                    first: Box::new(first.get().clone()),
                    at: Location::Line { line },
                });
            }
            Entry::Vacant(slot) => {
                slot.insert(Location::Line { line });
            }
        }
        if let (Some(col), Some(settings)) = (layout.setting, settings.as_mut()) {
            settings.push(parse_text(path, &record[col], "a setting name", || {
                cell_at(col)
            })?);
        }
        // ‖q1 ⊗ … ⊗ qS‖² = Π ‖q_s‖²: the full ket is not formed.
        let mut norm_sqr = 1.0;
        for factor in &layout.factors {
            let start = local.len();
            for amp in factor {
                let re = parse_real(path, &record[amp.re], || cell_at(amp.re))?;
                let im = parse_real(path, &record[amp.im], || cell_at(amp.im))?;
                local.push(c64::new(re, im));
            }
            norm_sqr *= local[start..].iter().map(|z| z.norm_sqr()).sum::<f64>();
        }
        if norm_sqr <= ZERO_NORM_SQR {
            return Err(InputError::ZeroNormKet {
                path: path.to_path_buf(),
                at: Location::Line { line },
                label,
            });
        }
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(InputError::NoKets {
            path: path.to_path_buf(),
        });
    }
    Ok(KetTable {
        labels,
        settings,
        subsystem_dims,
        local,
    })
}
