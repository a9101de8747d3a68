//! What run a directory belongs to: the [`Fingerprint`] of its inputs and
//! options, and the [`Manifest`] that records it.

use super::*;
use crate::store::PathIoError;

/// The content digest of one file that shapes a run's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// The path the run was given, for messages only: a file moved or
    /// renamed with the same contents is the same file.
    pub path: String,
    /// SHA-256 of the file's contents (streamed), 64 hex digits.
    pub sha256: String,
}

/// Identity of a run: everything that must match for a directory to be
/// resumed rather than refused.
///
/// Files are identified by their *contents* (SHA-256, see [`FileDigest`]),
/// never by name or path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Content digests of every file that shapes results, by role:
    /// `"input"` (the counts), `"basis"` (a custom kets file), `"target"`
    /// (an NPY target state).
    #[serde(default)]
    pub files: BTreeMap<String, FileDigest>,
    /// The input digest of manifests written before content fingerprints
    /// (CRC-32 and length). Never written now; a manifest that has it is
    /// refused for resuming ([`RunDirError::LegacyFingerprint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_sha: Option<String>,
    /// Measurement basis name (`custom(<file name>)` for a kets file, whose
    /// contents are in `files`).
    pub basis: String,
    /// Hilbert-space dimension.
    pub dim: u32,
    /// Estimators, in the order requested.
    pub methods: Vec<String>,
    /// Every other option that changes results (target state, column mode,
    /// MLE tolerances, ...), as text.
    pub options: BTreeMap<String, String>,
    /// `(i, n)` for shard i of n (Slurm array task), `None` for a whole run.
    pub shard: Option<(u32, u32)>,
}

/// The file role and option under which manifests written before the
/// target left the fingerprint recorded it; [`Fingerprint::diff`] skips it.
const IGNORED_TARGET: &str = "target";

fn shard_text(shard: Option<(u32, u32)>) -> String {
    match shard {
        Some((i, n)) => format!("{i}/{n}"),
        None => "none".to_string(),
    }
}

/// The first 12 hex digits of a digest, for messages.
fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

impl Fingerprint {
    /// Lists what differs from `self` (the recorded run) to `other` (the
    /// requested one), one line per field, e.g. `"basis: pauli -> james16"`
    /// or `"input file in.csv changed since the run started (sha256 ... -> ...)"`.
    /// Empty when the fingerprints are equal (file paths are not compared).
    pub fn diff(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        // The target no longer shapes results (show and export measure the
        // stored states against any target), so the target a manifest of
        // an older qtomo recorded is not compared either.
        let roles: std::collections::BTreeSet<&String> = self
            .files
            .keys()
            .chain(other.files.keys())
            .filter(|role| *role != IGNORED_TARGET)
            .collect();
        for role in roles {
            match (self.files.get(role), other.files.get(role)) {
                (Some(a), Some(b)) if a.sha256 != b.sha256 => out.push(format!(
                    "{role} file {} changed since the run started (sha256 {}... -> {}...)",
                    b.path,
                    short(&a.sha256),
                    short(&b.sha256)
                )),
                (Some(a), None) => out.push(format!("{role} file: {} -> (none)", a.path)),
                (None, Some(b)) => out.push(format!("{role} file: (none) -> {}", b.path)),
                _ => {}
            }
        }
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} -> {b}"));
            }
        };
        field("basis", self.basis.clone(), other.basis.clone());
        field("dim", self.dim.to_string(), other.dim.to_string());
        field("methods", self.methods.join(","), other.methods.join(","));
        let keys: std::collections::BTreeSet<&String> = self
            .options
            .keys()
            .chain(other.options.keys())
            .filter(|key| *key != IGNORED_TARGET)
            .collect();
        for key in keys {
            let get = |m: &BTreeMap<String, String>| {
                m.get(key).cloned().unwrap_or_else(|| "(unset)".to_string())
            };
            field(
                &format!("option {key}"),
                get(&self.options),
                get(&other.options),
            );
        }
        field("shard", shard_text(self.shard), shard_text(other.shard));
        out
    }

    /// The sample indices this run covers out of `total`: everything, or
    /// for shard i of n the range `[floor(i*total/n), floor((i+1)*total/n))`.
    pub fn sample_range(&self, total: u64) -> std::ops::Range<u64> {
        match self.shard {
            Some((i, n)) if n > 0 => {
                let at = |k: u64| ((u128::from(k) * u128::from(total)) / u128::from(n)) as u64;
                at(u64::from(i))..at(u64::from(i) + 1).min(total)
            }
            _ => 0..total,
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (role, file) in &self.files {
            write!(f, "{role} sha256 {} ", short(&file.sha256))?;
        }
        write!(
            f,
            "basis {} dim {} methods {} shard {}",
            self.basis,
            self.dim,
            self.methods.join(","),
            shard_text(self.shard)
        )
    }
}

/// Contents of `manifest.json`: what run a directory belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Store format version of the directory.
    pub format_version: FormatVersion,
    /// Identity of the run.
    pub fingerprint: Fingerprint,
    /// Number of samples (indices `0..total`).
    pub total: u64,
    /// Basis name (copied from the fingerprint for readers).
    pub basis: String,
    /// Hilbert-space dimension (copied from the fingerprint).
    pub dim: u32,
    /// Estimators (copied from the fingerprint).
    pub methods: Vec<String>,
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
}

impl Manifest {
    /// A manifest for a new run of `total` samples, created now.
    pub fn new(fingerprint: Fingerprint, total: u64) -> Manifest {
        Manifest {
            format_version: FormatVersion::CURRENT,
            basis: fingerprint.basis.clone(),
            dim: fingerprint.dim,
            methods: fingerprint.methods.clone(),
            fingerprint,
            total,
            created: unix_now(),
        }
    }

    /// Reads `dir/manifest.json`; `Ok(None)` if it does not exist.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, RunDirError> {
        let path = dir.join(MANIFEST);
        let bytes = match crate::store::fsutil::read_nofollow(&path) {
            Ok(bytes) => bytes,
            // No such directory, or a file where the directory should be:
            // either way there is no manifest.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(source) => {
                return Err(RunDirError::Io(PathIoError {
                    action: "read",
                    path,
                    source,
                }));
            }
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|source| RunDirError::BadManifest {
                path: path.clone(),
                source,
            })?;
        manifest
            .format_version
            .check_readable_by(FormatVersion::CURRENT)
            .map_err(|source| RunDirError::Version { path, source })?;
        Ok(Some(manifest))
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), RunDirError> {
        let mut bytes =
            serde_json::to_vec_pretty(self).map_err(|source| RunDirError::BadManifest {
                path: dir.join(MANIFEST),
                source,
            })?;
        bytes.push(b'\n');
        atomic_write(&dir.join(MANIFEST), &bytes)?;
        Ok(())
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
