//! Matching the names a file provides (header columns, or the label column
//! of a transposed file) to the labels the measurement set expects, and
//! explaining a mismatch: missing labels, unexpected names, and for each
//! unexpected name the closest expected label by edit distance.

use std::collections::HashMap;
use std::path::Path;

use super::error::{InputError, LabelDiff, Location, UnexpectedLabel};

/// Maps each found name to the index of the equal expected label.
///
/// Returns, for every entry of `found`, its index in `expected`. Fails with
/// [`InputError::DuplicateLabel`] when a name appears twice and with
/// [`InputError::LabelMismatch`] when the sets differ. `kind` is `"column"`
/// or `"row label"`; `at` locates the header for the mismatch message.
/// Expected labels are assumed distinct.
pub(crate) fn match_labels(
    path: &Path,
    found: &[(String, Location)],
    expected: &[String],
    kind: &'static str,
    at: Location,
) -> Result<Vec<usize>, InputError> {
    let index: HashMap<&str, usize> = expected
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut seen: Vec<Option<usize>> = vec![None; expected.len()];
    let mut mapping = Vec::with_capacity(found.len());
    let mut unexpected = Vec::new();
    for (pos, (name, loc)) in found.iter().enumerate() {
        match index.get(name.as_str()) {
            Some(&k) => {
                if let Some(first) = seen[k] {
                    return Err(InputError::DuplicateLabel {
                        path: path.to_path_buf(),
                        label: name.clone(),
                        first: Box::new(found[first].1.clone()),
                        at: loc.clone(),
                    });
                }
                seen[k] = Some(pos);
                mapping.push(k);
            }
            None => unexpected.push((name, loc)),
        }
    }
    let missing: Vec<String> = expected
        .iter()
        .zip(&seen)
        .filter(|(_, s)| s.is_none())
        .map(|(l, _)| l.clone())
        .collect();
    if unexpected.is_empty() && missing.is_empty() {
        return Ok(mapping);
    }
    // Prefer suggesting a label that is actually missing; fall back to all.
    let candidates: &[String] = if missing.is_empty() {
        expected
    } else {
        &missing
    };
    let unexpected = unexpected
        .into_iter()
        .map(|(name, loc)| UnexpectedLabel {
            name: name.clone(),
            at: loc.clone(),
            suggestion: closest(name, candidates).map(str::to_owned),
        })
        .collect();
    Err(InputError::LabelMismatch {
        path: path.to_path_buf(),
        at,
        n_expected: expected.len(),
        diff: Box::new(LabelDiff {
            missing,
            unexpected,
            kind,
        }),
    })
}

/// The candidate closest to `name` (case-insensitive edit distance), if it
/// is within half the longer length (at least 1). Ties go to the earlier
/// candidate.
pub(crate) fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(&lower, &c.to_lowercase());
        let limit = (name.chars().count().max(c.chars().count()) / 2).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance between two strings, counted in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Whether a first row looks like data rather than a header: every cell is
/// a number and none is an expected label.
pub(crate) fn looks_like_data(cells: &[String], expected: &[String]) -> bool {
    !cells.is_empty()
        && cells
            .iter()
            .all(|c| c.parse::<f64>().is_ok() && !expected.contains(c))
}

/// The first few expected header names, for "expected a header" messages.
pub(crate) fn header_hint(leading: Option<&str>, expected: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut names: Vec<&str> = leading.into_iter().collect();
    names.extend(expected.iter().take(SHOWN).map(String::as_str));
    let mut hint = names.join(",");
    if expected.len() > SHOWN {
        hint.push_str(",...");
    }
    hint
}

/// The first cells of a row, joined, for messages.
pub(crate) fn row_preview(cells: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut preview = cells
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",");
    if cells.len() > SHOWN {
        preview.push_str(",...");
    }
    preview
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ZZ:2", "ZZ:10"), 2);
    }

    #[test]
    fn closest_prefers_near_and_rejects_far() {
        let c: Vec<String> = ["ZZ:10", "XX:11"].iter().map(|s| s.to_string()).collect();
        assert_eq!(closest("ZZ:2", &c), Some("ZZ:10"));
        assert_eq!(closest("zz:10", &c), Some("ZZ:10"));
        assert_eq!(closest("completely-different", &c), None);
    }

    #[test]
    fn mismatch_suggests_a_missing_label() {
        let expected: Vec<String> = ["ZZ:00", "ZZ:01", "ZZ:10", "ZZ:11"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let found: Vec<(String, Location)> = ["ZZ:00", "ZZ:01", "ZZ:2", "ZZ:11"]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    s.to_string(),
                    Location::Cell {
                        line: 1,
                        column: i as u64 + 1,
                        name: None,
                    },
                )
            })
            .collect();
        let err = match_labels(
            Path::new("d.csv"),
            &found,
            &expected,
            "column",
            Location::Line { line: 1 },
        )
        .expect_err("mismatch");
        let msg = err.to_string();
        assert!(
            msg.contains("unknown column 'ZZ:2' (did you mean 'ZZ:10'?)"),
            "{msg}"
        );
        assert!(msg.contains("missing label 'ZZ:10'"), "{msg}");
        assert!(msg.starts_with("d.csv:1:"), "{msg}");
    }
}
