//! The on-disk format version of a run directory and its results log.
//!
//! One number versions the whole store: the results-log header and
//! `manifest.json` both carry it. A reader accepts every version from
//! [`FormatVersion::OLDEST_READABLE`] up to the version it was built with
//! ([`FormatVersion::CURRENT`]); anything newer was written by a newer qtomo
//! and is refused rather than misread.
//!
//! # History
//!
//! * `1`: first version (header `QTOMOLOG` + u32 version, frames of
//!   `u32 len | u32 crc32 | postcard SampleRecord`).
//! * `2`: method metrics gain `gap_floor`, `trace_distance` and
//!   `log_negativity`; the MLE's bound is certified from the returned state.
//!   Version-1 logs are not read (their records would decode wrongly, and
//!   their certificates could be false): start them again with `--fresh`.
//! * `3`: method results gain `gof` (G², degrees of freedom, p-value),
//!   `bootstrap` (spreads of the metrics) and `bootstrap_target`, as
//!   `Option`s after `metrics`. As with version 1, version-2 logs are not
//!   read (their method results end where version 3 expects more fields):
//!   rerun them with `--fresh`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Version number of the store's on-disk format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FormatVersion(pub u32);

impl FormatVersion {
    /// The version this build writes.
    pub const CURRENT: FormatVersion = FormatVersion(3);

    /// The oldest version this build can still read.
    pub const OLDEST_READABLE: FormatVersion = FormatVersion(3);

    /// Checks that data written in format `self` can be read by a program
    /// whose newest supported format is `reader`.
    ///
    /// Versions older than [`FormatVersion::OLDEST_READABLE`] are refused as
    /// well as versions newer than `reader`.
    pub fn check_readable_by(self, reader: FormatVersion) -> Result<(), FormatVersionError> {
        if self > reader {
            Err(FormatVersionError::TooNew {
                found: self,
                supported: reader,
            })
        } else if self < Self::OLDEST_READABLE {
            Err(FormatVersionError::TooOld {
                found: self,
                oldest: Self::OLDEST_READABLE,
            })
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why data in some format version cannot be read by this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatVersionError {
    /// The data was written by a newer qtomo.
    #[error("format version {found} is newer than the newest this build reads ({supported})")]
    TooNew {
        /// Version found in the data.
        found: FormatVersion,
        /// Newest version this reader supports.
        supported: FormatVersion,
    },
    /// The data is older than anything this build still reads.
    #[error("format version {found} is older than the oldest this build reads ({oldest})")]
    TooOld {
        /// Version found in the data.
        found: FormatVersion,
        /// Oldest version this reader supports.
        oldest: FormatVersion,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_is_readable_newer_and_older_are_not() {
        assert!(
            FormatVersion::CURRENT
                .check_readable_by(FormatVersion::CURRENT)
                .is_ok()
        );
        let newer = FormatVersion(FormatVersion::CURRENT.0 + 1);
        assert!(matches!(
            newer.check_readable_by(FormatVersion::CURRENT),
            Err(FormatVersionError::TooNew { .. })
        ));
        assert!(matches!(
            FormatVersion(0).check_readable_by(FormatVersion::CURRENT),
            Err(FormatVersionError::TooOld { .. })
        ));
        let msg = newer
            .check_readable_by(FormatVersion::CURRENT)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("newer"), "{msg}");
    }
}
