//! Closed forms for 2×2 Hermitian matrices (one qubit), in the coordinates
//! of [`crate::tomo::hermitian`]: x = (a, c, √2 Re b, √2 Im b) for
//! H = [[a, b], [b*, c]].
//!
//! H = m I + K with m = (a + c)/2 and K traceless, whose eigenvalues are ±r,
//! r = √(((a − c)/2)² + |b|²) (r is the length of H's Bloch vector). The
//! largest eigenvalue is m + r, and the Smolin–Gambetta–Smith projection
//! onto the density matrices (PRL 108, 070502 (2012)) keeps K's eigenvectors
//! and projects (m + r, m − r) onto the simplex: with trace T it is
//! T/2 · I + min(1, T/(2r)) · K — the Bloch vector shortened to the unit
//! ball. Neither needs an eigenvector, so both cost a few flops where a
//! Jacobi sweep costs hundreds, and both are accurate to a few ε‖H‖_F.

use crate::tomo::TomoError;

/// m, (a − c)/2 and r of the matrix with coordinates `x`.
#[track_caller]
fn parts(x: &[f64]) -> Result<(f64, f64, f64), TomoError> {
    assert_eq!(x.len(), 4, "coordinate length of a 2×2 matrix");
    if x.iter().any(|v| !v.is_finite()) {
        // As the eigensolvers report non-finite input.
        return Err(TomoError::EigenNoConvergence);
    }
    let half_diff = 0.5 * (x[0] - x[1]);
    let r = (half_diff * half_diff + 0.5 * (x[2] * x[2] + x[3] * x[3])).sqrt();
    Ok((0.5 * (x[0] + x[1]), half_diff, r))
}

/// Largest eigenvalue of the 2×2 Hermitian matrix with coordinates `x`.
#[track_caller]
pub fn max_eigenvalue(x: &[f64]) -> Result<f64, TomoError> {
    let (m, _, r) = parts(x)?;
    Ok(m + r)
}

/// Projects the 2×2 Hermitian matrix with coordinates `x` onto the density
/// matrices with trace `trace` (as [`crate::tomo::EigenWorkspace::project_to_states`]),
/// writing coordinates into `out`. Returns the rank of the result.
#[track_caller]
pub fn project_to_states(x: &[f64], trace: f64, out: &mut [f64]) -> Result<usize, TomoError> {
    assert_eq!(out.len(), 4, "coordinate length of a 2×2 matrix");
    let (_, half_diff, r) = parts(x)?;
    if trace.is_nan() || trace <= 0.0 {
        out.fill(0.0);
        return Ok(0);
    }
    let half = 0.5 * trace;
    // Both eigenvalues T/2 ± r stay positive, or the state is pure.
    let (scale, rank) = if r < half { (1.0, 2) } else { (half / r, 1) };
    out[0] = half + scale * half_diff;
    out[1] = half - scale * half_diff;
    out[2] = scale * x[2];
    out[3] = scale * x[3];
    Ok(rank)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tomo::EigenWorkspace;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_the_general_solver(
            x in proptest::collection::vec(-2.0f64..2.0, 4),
            exponent in -200i32..200,
        ) {
            // Any scale: nothing here has an absolute threshold.
            let scale = 2f64.powi(exponent);
            let x: Vec<f64> = x.iter().map(|v| v * scale).collect();
            let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            let mut general = EigenWorkspace::general(2);
            let want = general.max_eigenvalue(&x).unwrap();
            let got = max_eigenvalue(&x).unwrap();
            prop_assert!((got - want).abs() <= 8.0 * f64::EPSILON * norm, "{got} vs {want}");
        }

        #[test]
        fn projection_agrees_with_the_general_solver(x in proptest::collection::vec(-2.0f64..2.0, 4)) {
            // At ‖x‖ ≫ 1 the general solver's simplex shift loses the
            // trace to rounding; compare where both are accurate.
            let mut general = EigenWorkspace::general(2);
            let (mut mine, mut theirs) = ([0.0; 4], [0.0; 4]);
            let rank = project_to_states(&x, 1.0, &mut mine).unwrap();
            let want_rank = general.project_to_states(&x, 1.0, &mut theirs).unwrap();
            prop_assert_eq!(rank, want_rank);
            for (a, b) in mine.iter().zip(&theirs) {
                prop_assert!((a - b).abs() <= 1e-13, "{mine:?} vs {theirs:?}");
            }
        }
    }

    #[test]
    fn projection_of_a_state_is_the_state_and_of_a_multiple_of_i_is_i_over_2() {
        // A mixed state, x = (0.7, 0.3, √2·0.1, −√2·0.2).
        let s = std::f64::consts::SQRT_2;
        let state = [0.7, 0.3, s * 0.1, -s * 0.2];
        let mut out = [0.0; 4];
        assert_eq!(project_to_states(&state, 1.0, &mut out), Ok(2));
        for (a, b) in out.iter().zip(&state) {
            assert!((a - b).abs() < 1e-15);
        }
        assert_eq!(
            project_to_states(&[3.0, 3.0, 0.0, 0.0], 1.0, &mut out),
            Ok(2)
        );
        assert_eq!(out, [0.5, 0.5, 0.0, 0.0]);
        // Beyond the ball: pure, with the Bloch vector's direction.
        assert_eq!(
            project_to_states(&[2.0, 0.0, 0.0, 0.0], 1.0, &mut out),
            Ok(1)
        );
        assert_eq!(out, [1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn non_finite_input_is_an_error() {
        let mut out = [0.0; 4];
        assert_eq!(
            max_eigenvalue(&[1.0, 0.0, f64::INFINITY, 0.0]),
            Err(TomoError::EigenNoConvergence)
        );
        assert_eq!(
            project_to_states(&[f64::NAN, 0.0, 0.0, 0.0], 1.0, &mut out),
            Err(TomoError::EigenNoConvergence)
        );
    }
}
