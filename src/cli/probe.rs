//! A quick look at an input before it is read: how many count columns it
//! has and what they are called. `run` uses it to infer `--qubits`, to
//! check a `--qubits` against a header labelled for another number of
//! qubits, and to suggest the basis a header's labels belong to. The real
//! readers (`crate::io`) still check everything; a file this look cannot
//! make sense of is left to them to explain.

use std::io::BufRead;
use std::path::Path;

/// The name of the optional id column of a CSV input.
const SAMPLE_COLUMN: &str = "sample";

/// What a quick look at an input found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    /// The names of the count columns (of the label column, when
    /// transposed) of a CSV input; `None` for NPY, which has no names.
    pub names: Option<Vec<String>>,
    /// The number of count columns (count rows, when transposed).
    pub count: usize,
    /// Where they were found, for messages: `line 1`, `column 1`, or
    /// `the NPY header (shape 2×1296)`.
    pub place: String,
    /// The header's 1-based line (CSV read by rows), for `path:line:`.
    pub line: Option<usize>,
    /// The field delimiter of a CSV input.
    pub delimiter: Option<u8>,
}

/// Looks at `path`: the shape of an NPY file (by content, whatever its
/// name), else the first non-blank line of a CSV file (the first field of
/// every line after the header, when `transposed`), split at its
/// delimiter, without the `sample` column. `None` if it cannot be read.
pub(crate) fn probe(path: &Path, transposed: bool) -> Option<Probe> {
    if let Some(shape) = crate::io::npy_shape(path) {
        let count = match (shape.as_slice(), transposed) {
            ([m], _) | ([_, m], false) | ([m, _], true) => *m,
            _ => return None,
        };
        let shape_text: Vec<String> = shape.iter().map(u64::to_string).collect();
        return Some(Probe {
            names: None,
            count: usize::try_from(count).ok()?,
            place: format!("the NPY header (shape {})", shape_text.join("×")),
            line: None,
            delimiter: None,
        });
    }
    let delimiter = crate::io::sniff_delimiter(path);
    let file = std::fs::File::open(path).ok()?;
    let mut lines = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_index, header) = lines.next()?;
    let fields = |line: &str| -> Vec<String> {
        line.trim_start_matches('\u{feff}')
            .split(char::from(delimiter))
            .map(|f| f.trim().trim_matches('"').trim().to_string())
            .collect()
    };
    let names: Vec<String> = if transposed {
        lines
            .filter_map(|(_, l)| fields(&l).into_iter().next())
            .collect()
    } else {
        fields(&header)
            .into_iter()
            .filter(|n| n != SAMPLE_COLUMN && !n.is_empty())
            .collect()
    };
    Some(Probe {
        count: names.len(),
        names: Some(names),
        place: if transposed {
            "column 1".to_string()
        } else {
            format!("line {}", header_index + 1)
        },
        line: (!transposed).then_some(header_index + 1),
        delimiter: Some(delimiter),
    })
}

impl Probe {
    /// `path:line` for a CSV header (the form editors jump to), else `path`.
    pub(crate) fn site(&self, path: &Path) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", path.display()),
            None => path.display().to_string(),
        }
    }
}

/// The number of qubits n when every name is a Pauli label of n qubits
/// (`XZ:01`: n setting letters X, Y or Z, a colon, n outcome bits).
pub(crate) fn pauli_label_qubits(names: &[String]) -> Option<usize> {
    let qubits = |name: &str| {
        let (settings, bits) = name.split_once(':')?;
        let ok = !settings.is_empty()
            && settings.len() == bits.len()
            && settings.chars().all(|c| matches!(c, 'X' | 'Y' | 'Z'))
            && bits.chars().all(|c| matches!(c, '0' | '1'));
        ok.then_some(settings.len())
    };
    let n = qubits(names.first()?)?;
    names.iter().all(|l| qubits(l) == Some(n)).then_some(n)
}

/// The dimension d when every name is a `qudit` label (`j`, `j+k`, `j+ik`
/// with j < k < d): from the number of names when it is d², else from the
/// largest level named.
pub(crate) fn qudit_label_dim(names: &[String]) -> Option<usize> {
    let level = |s: &str| s.parse::<usize>().ok();
    let top = |name: &str| -> Option<usize> {
        match name.split_once('+') {
            None => level(name),
            Some((j, k)) => {
                let (j, k) = (level(j)?, level(k.strip_prefix('i').unwrap_or(k))?);
                (j < k).then_some(k)
            }
        }
    };
    // Plain numbers alone are more likely a data row than a header.
    if !names.iter().any(|n| n.contains('+')) {
        return None;
    }
    let mut largest = 0;
    for name in names {
        largest = largest.max(top(name)?);
    }
    let from_count = (2..=crate::tomo::sets::qudit::MAX_DIM).find(|d| d * d == names.len());
    Some(from_count.unwrap_or(largest + 1))
}

/// Whether every name is one of the `james16` labels.
pub(crate) fn is_james16(names: &[String]) -> bool {
    !names.is_empty()
        && names
            .iter()
            .all(|n| crate::tomo::sets::james16::LABELS.contains(&n.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    #[test]
    fn label_sets_are_recognised() {
        assert_eq!(pauli_label_qubits(&names("XX:00,YZ:11")), Some(2));
        assert_eq!(pauli_label_qubits(&names("XX:00,Y:1")), None);
        assert_eq!(pauli_label_qubits(&names("HH,HV")), None);
        assert_eq!(
            qudit_label_dim(&names("0,1,2,0+1,0+i1,0+2,0+i2,1+2,1+i2")),
            Some(3)
        );
        assert_eq!(qudit_label_dim(&names("0,1,0+i3")), Some(4));
        assert_eq!(qudit_label_dim(&names("0,1+0")), None);
        assert_eq!(qudit_label_dim(&names("0,653,347")), None);
        assert!(is_james16(&names("HH,RL,DV")));
        assert!(!is_james16(&names("HH,XX")));
    }

    #[test]
    fn probe_reads_csv_headers_by_their_delimiter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.csv");
        std::fs::write(&path, "\n\u{feff}sample;HH;\"HV\"\nA;1;2\n").expect("write");
        let p = probe(&path, false).expect("probe");
        assert_eq!(p.names, Some(names("HH,HV")));
        assert_eq!(
            (p.count, p.place.as_str(), p.delimiter),
            (2, "line 2", Some(b';'))
        );
        let t = probe(&path, true).expect("probe");
        assert_eq!(t.names, Some(names("A")));
        assert!(probe(&dir.path().join("missing.csv"), false).is_none());
    }
}
