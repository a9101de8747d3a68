//! Reading the arrays of a measurement model: float64 NPY files of any
//! shape (readout matrices, per-measurement scales), with located errors.
//!
//! This reads and checks the file only (finite float64 values, a header
//! that matches the file's size); what shape a role expects is decided by
//! the caller, which names the file and the shape it wanted. Readers of
//! other formats that carry the same vectors (e.g. a Kwiat JSON file's
//! integration times) produce the same plain [`ModelArray`].

use std::path::{Path, PathBuf};

/// A float64 array read from a file: its shape and its values in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelArray {
    /// The array's shape, e.g. `[2, 2, 2]`.
    pub shape: Vec<usize>,
    /// The values, row-major (C order).
    pub values: Vec<f64>,
}

impl ModelArray {
    /// The shape as text, e.g. `(2, 2, 2)`.
    pub fn shape_text(&self) -> String {
        shape_text(&self.shape)
    }
}

/// A shape as text, e.g. `(36,)` or `(2, 2, 2)`, as numpy prints it.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A model file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{} ({role}): {message}", path.display())]
pub struct ModelFileError {
    /// The file.
    pub path: PathBuf,
    /// Its role, e.g. `--readout`.
    pub role: String,
    /// What was wrong, and what was expected.
    pub message: String,
}

/// Reads a float64 NPY array for the model role `role` (e.g. `--readout`),
/// checking that every value is finite.
pub fn read_model_array(path: &Path, role: &str) -> Result<ModelArray, ModelFileError> {
    use ndarray_npy::ReadNpyExt;
    let bad = |message: String| ModelFileError {
        path: path.to_path_buf(),
        role: role.to_string(),
        message,
    };
    if !path.exists() {
        return Err(bad("no such file".into()));
    }
    if path.is_dir() {
        return Err(bad("is a directory; expected a float64 NPY file".into()));
    }
    crate::io::check_npy_size(path).map_err(|e| bad(e.to_string()))?;
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let array = ndarray::ArrayD::<f64>::read_npy(std::io::BufReader::new(file))
        .map_err(|e| bad(format!("expected a float64 NPY array: {e}")))?;
    let shape = array.shape().to_vec();
    let values: Vec<f64> = array.iter().copied().collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "entry {} (flat index {i}, C order) is {}; expected finite numbers",
            index_text(&shape, i),
            values[i]
        )));
    }
    Ok(ModelArray { shape, values })
}

/// The multi-index of flat index `i` in C order, e.g. `[1, 0, 1]`.
pub fn index_text(shape: &[usize], mut i: usize) -> String {
    let mut idx = vec![0; shape.len()];
    for (k, &n) in shape.iter().enumerate().rev() {
        if n > 0 {
            idx[k] = i % n;
            i /= n;
        }
    }
    format!(
        "[{}]",
        idx.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_npy::WriteNpyExt;

    #[test]
    fn reads_any_shape_and_locates_a_non_finite_entry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.npy");
        let a = ndarray::Array3::<f64>::from_shape_fn((2, 2, 2), |(q, i, j)| {
            if (q, i, j) == (1, 0, 1) {
                f64::NAN
            } else {
                0.5
            }
        });
        a.write_npy(std::fs::File::create(&p).unwrap()).unwrap();
        let e = read_model_array(&p, "--readout").unwrap_err().to_string();
        assert!(e.contains("(--readout)") && e.contains("[1, 0, 1]"), "{e}");
        let good = ndarray::Array1::<f64>::from_elem(36, 1.0);
        good.write_npy(std::fs::File::create(&p).unwrap()).unwrap();
        let m = read_model_array(&p, "--scale").unwrap();
        assert_eq!(m.shape_text(), "(36,)");
        std::fs::write(&p, b"not an npy file").unwrap();
        let e = read_model_array(&p, "--scale").unwrap_err().to_string();
        assert!(e.contains("r.npy (--scale)"), "{e}");
    }
}
