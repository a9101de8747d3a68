//! Sample ids as one compact string table.
//!
//! Every sample carries an id (the input's `sample` column, or its row
//! number), copied into its record. A run over millions of samples held as
//! `Vec<String>` costs about 60 bytes per sample in every process that holds
//! it. The table keeps the ids' UTF-8 bytes back to back plus one
//! little-endian u64 end offset per id: the supervisor builds it once
//! ([`SampleIdTable`]), places both byte strings in the shared segment, and
//! every worker reads the ids in place through a [`SampleIds`] view, so the
//! ids exist once in memory however many workers there are.
//!
//! ```text
//! text: "s0s1sample-2"     ends: [2, 4, 12]   →   "s0", "s1", "sample-2"
//! ```

use thiserror::Error;

/// Width of one end offset in the table.
const END_BYTES: usize = size_of::<u64>();

/// The owned table, built by the supervisor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleIdTable {
    text: String,
    ends: Vec<u8>,
}

impl SampleIdTable {
    /// Packs `ids` into a table.
    pub fn new<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut table = Self::default();
        for id in ids {
            table.push(id.as_ref());
        }
        table
    }

    /// Appends one id.
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends
            .extend_from_slice(&(self.text.len() as u64).to_le_bytes());
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ends.len() / END_BYTES
    }

    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// A borrowed view of the table.
    pub fn ids(&self) -> SampleIds<'_> {
        SampleIds {
            text: &self.text,
            ends: &self.ends,
        }
    }

    /// The ids' bytes, back to back (a segment section).
    pub fn text_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The end offsets as little-endian u64s (a segment section).
    pub fn end_bytes(&self) -> &[u8] {
        &self.ends
    }
}

/// Id `index` of a table given as its two byte strings (text, end
/// offsets), without checking the rest of the table: for a table being
/// written, whose ids are looked up one at a time. `None` when there is no
/// such id or its bytes are not a valid UTF-8 string.
pub fn id_at<'a>(text: &'a [u8], ends: &[u8], index: usize) -> Option<&'a str> {
    let end_of = |i: usize| -> Option<usize> {
        let word = ends.get(i.checked_mul(END_BYTES)?..(i + 1).checked_mul(END_BYTES)?)?;
        usize::try_from(u64::from_le_bytes(word.try_into().ok()?)).ok()
    };
    let start = match index.checked_sub(1) {
        None => 0,
        Some(previous) => end_of(previous)?,
    };
    std::str::from_utf8(text.get(start..end_of(index)?)?).ok()
}

/// Why two byte strings are not a valid id table.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SampleIdsError {
    /// The text is not UTF-8.
    #[error("sample id text is not valid UTF-8 (at byte {valid_up_to})")]
    NotUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The offsets are not a whole number of u64s.
    #[error("sample id offsets are {len} bytes, not a multiple of {END_BYTES}")]
    RaggedOffsets {
        /// Their length in bytes.
        len: usize,
    },
    /// An offset goes backwards, past the text, or into a character, or the
    /// last one is not the text's end.
    #[error(
        "sample id {index}: end offset {end} is invalid (previous end {previous}, text of {text_len} bytes)"
    )]
    BadOffset {
        /// The id whose end is wrong.
        index: usize,
        /// Its end offset.
        end: u64,
        /// The previous id's end.
        previous: u64,
        /// Length of the text.
        text_len: usize,
    },
}

/// A borrowed, validated id table (e.g. read from a shared segment).
#[derive(Debug, Clone, Copy)]
pub struct SampleIds<'a> {
    text: &'a str,
    ends: &'a [u8],
}

impl<'a> SampleIds<'a> {
    /// Checks and wraps a table's two byte strings.
    pub fn from_parts(text: &'a [u8], ends: &'a [u8]) -> Result<Self, SampleIdsError> {
        let text = std::str::from_utf8(text).map_err(|e| SampleIdsError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        if !ends.len().is_multiple_of(END_BYTES) {
            return Err(SampleIdsError::RaggedOffsets { len: ends.len() });
        }
        let ids = Self { text, ends };
        let mut previous = 0u64;
        for index in 0..ids.len() {
            let end = ids.end(index);
            let last = index + 1 == ids.len();
            let fits = usize::try_from(end).is_ok_and(|e| text.is_char_boundary(e));
            if end < previous || !fits || (last && end != text.len() as u64) {
                return Err(SampleIdsError::BadOffset {
                    index,
                    end,
                    previous,
                    text_len: text.len(),
                });
            }
            previous = end;
        }
        if ids.is_empty() && !text.is_empty() {
            return Err(SampleIdsError::BadOffset {
                index: 0,
                end: 0,
                previous: 0,
                text_len: text.len(),
            });
        }
        Ok(ids)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ends.len() / END_BYTES
    }

    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The id of sample `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&'a str> {
        if index >= self.len() {
            return None;
        }
        let start = if index == 0 { 0 } else { self.end(index - 1) };
        let end = self.end(index);
        self.text
            .get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }

    fn end(&self, index: usize) -> u64 {
        let mut word = [0u8; END_BYTES];
        word.copy_from_slice(&self.ends[index * END_BYTES..(index + 1) * END_BYTES]);
        u64::from_le_bytes(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_any_ids(ids in proptest::collection::vec(".{0,12}", 0..40)) {
            let table = SampleIdTable::new(&ids);
            let view = SampleIds::from_parts(table.text_bytes(), table.end_bytes()).unwrap();
            prop_assert_eq!(view.len(), ids.len());
            for (i, id) in ids.iter().enumerate() {
                prop_assert_eq!(view.get(i), Some(id.as_str()));
            }
            prop_assert_eq!(view.get(ids.len()), None);
        }
    }

    #[test]
    fn looks_up_one_id_at_a_time() {
        let mut table = SampleIdTable::default();
        for id in ["s0", "é", "", "sample-3"] {
            table.push(id);
        }
        assert_eq!(table.len(), 4);
        let (text, ends) = (table.text_bytes(), table.end_bytes());
        let got: Vec<_> = (0..5).map(|i| id_at(text, ends, i)).collect();
        assert_eq!(
            got,
            [Some("s0"), Some("é"), Some(""), Some("sample-3"), None]
        );
        // An end inside 'é' is no id, not a panic.
        let bad: Vec<u8> = [2u64, 3].iter().flat_map(|e| e.to_le_bytes()).collect();
        assert_eq!(id_at(text, &bad, 1), None);
    }

    #[test]
    fn rejects_damaged_tables() {
        let table = SampleIdTable::new(["s0", "é", "sample-2"]);
        let (text, ends) = (table.text_bytes(), table.end_bytes());
        assert!(SampleIds::from_parts(text, ends).is_ok());
        assert_eq!(
            SampleIds::from_parts(&[0xff, 0xfe], &2u64.to_le_bytes()).unwrap_err(),
            SampleIdsError::NotUtf8 { valid_up_to: 0 }
        );
        assert_eq!(
            SampleIds::from_parts(text, &ends[..ends.len() - 1]).unwrap_err(),
            SampleIdsError::RaggedOffsets { len: 23 }
        );
        // The last end short of the text, an end inside 'é', an end going
        // backwards, and text with no ids.
        let cases: [&[u64]; 3] = [&[2, 4, 11], &[2, 3, 12], &[4, 2, 12]];
        for case in cases {
            let bytes: Vec<u8> = case.iter().flat_map(|e| e.to_le_bytes()).collect();
            assert!(
                matches!(
                    SampleIds::from_parts(text, &bytes),
                    Err(SampleIdsError::BadOffset { .. })
                ),
                "{case:?}"
            );
        }
        assert!(SampleIds::from_parts(text, &[]).is_err());
    }
}
