//! Opening an input file: turning "does not exist", "is a directory" and
//! "is empty" into their own [`InputError`] variants before any parsing.

use std::fs::File;
use std::io::{BufReader, Chain, Cursor, Read};
use std::path::Path;

use super::error::InputError;

/// The first bytes of every NPY file.
pub(crate) const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// An opened, non-empty input file.
pub(crate) struct Source {
    /// Buffered reader over the whole file (the sniffed bytes are replayed).
    pub reader: BufReader<Chain<Cursor<Vec<u8>>, File>>,
    /// Up to the first six bytes, for format sniffing.
    pub head: Vec<u8>,
    /// The file's length, when it is a regular file (not a pipe).
    pub len: Option<u64>,
}

/// Opens `path` for reading after checking that it exists, is not a
/// directory and is not empty. `what` describes the expected rows for the
/// empty-file message.
pub(crate) fn open_input(path: &Path, what: &'static str) -> Result<Source, InputError> {
    let io_err = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => InputError::NotFound {
            path: path.to_path_buf(),
        },
        std::io::ErrorKind::IsADirectory => InputError::IsADirectory {
            path: path.to_path_buf(),
        },
        _ => InputError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        return Err(InputError::IsADirectory {
            path: path.to_path_buf(),
        });
    }
    let file = File::open(path).map_err(io_err)?;
    let mut head = Vec::with_capacity(NPY_MAGIC.len());
    (&file)
        .take(NPY_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    if head.is_empty() {
        return Err(InputError::EmptyFile {
            path: path.to_path_buf(),
            what,
        });
    }
    // Replay the sniffed bytes instead of seeking, so pipes work too.
    let reader = BufReader::with_capacity(1 << 16, Cursor::new(head.clone()).chain(file));
    let len = meta.is_file().then_some(meta.len());
    Ok(Source { reader, head, len })
}
