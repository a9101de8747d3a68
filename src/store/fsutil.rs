//! File helpers for the run directory: opening without following symbolic
//! links, and streamed SHA-256 content digests.
//!
//! Every file inside a run directory is opened with `O_NOFOLLOW`, so a
//! symbolic link planted there (a `run.lock` pointing at someone's thesis, a
//! dangling `results.log`) makes the open fail instead of redirecting a read
//! or a write. The failure is reported as a [`SymlinkRefused`] inside the
//! [`io::Error`], which [`is_symlink_refusal`] recognises (the command line
//! maps it to exit 2).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A file in a run directory is a symbolic link, which qtomo never follows.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} is a symbolic link; qtomo never follows symbolic links inside a run directory (remove the link or choose another directory)"
)]
pub struct SymlinkRefused {
    /// The link.
    pub path: PathBuf,
}

/// True when `err` is the refusal to open a symbolic link made by the
/// helpers of this module.
pub fn is_symlink_refusal(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<SymlinkRefused>())
}

/// Turns the `ELOOP` of an `O_NOFOLLOW` open into a [`SymlinkRefused`].
fn refuse_symlink(err: io::Error, path: &Path) -> io::Error {
    if err.raw_os_error() == Some(nix::libc::ELOOP) {
        io::Error::other(SymlinkRefused {
            path: path.to_path_buf(),
        })
    } else {
        err
    }
}

/// Opens `path` with `opts` plus `O_NOFOLLOW`: a symbolic link as the last
/// path component is refused, whatever it points to.
pub(crate) fn open_nofollow(opts: &OpenOptions, path: &Path) -> io::Result<File> {
    let mut opts = opts.clone();
    opts.custom_flags(nix::libc::O_NOFOLLOW);
    opts.open(path).map_err(|e| refuse_symlink(e, path))
}

/// Opens `path` for reading without following a symbolic link.
pub fn open_read_nofollow(path: &Path) -> io::Result<File> {
    open_nofollow(OpenOptions::new().read(true), path)
}

/// Reads a whole (small, metadata) file without following a symbolic link.
pub(crate) fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_read_nofollow(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// SHA-256 of everything `reader` yields, as 64 lowercase hex digits, read
/// through a 64 KiB buffer (never the whole input in memory).
pub fn sha256_reader(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    Ok(hex)
}

/// SHA-256 of the contents of the file at `path` (streamed), as hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    sha256_reader(File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_vectors() {
        assert_eq!(
            sha256_reader(&b""[..]).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Longer than the buffer, so several updates.
        let big = vec![b'a'; 200_000];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, &big).unwrap();
        let mut one = Sha256::new();
        one.update(&big);
        let expected: String = one.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sha256_file(&path).unwrap(), expected);
    }

    #[test]
    fn symlinks_are_refused_and_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_nofollow(OpenOptions::new().write(true).truncate(true), &link).unwrap_err();
        assert!(is_symlink_refusal(&err), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        let err =
            open_nofollow(OpenOptions::new().append(true).create(true), &dangling).unwrap_err();
        assert!(is_symlink_refusal(&err), "{err}");
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(read_nofollow(&target).unwrap(), b"precious");
    }
}
