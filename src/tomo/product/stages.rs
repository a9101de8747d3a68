//! The Kronecker and coordinate-change stages of the product operator:
//! the loops [`super::ProductSpec`] runs one mode at a time.

use super::{LocalFactor, Tables};
use faer::c64;
use std::f64::consts::FRAC_1_SQRT_2;

/// One local coordinate as a functional of the local matrix entries:
/// c_a = Σ w · H[pair], pair = i·dim + j.
pub(super) type Functional = Vec<(usize, c64)>;

/// One block of a Kronecker stage: `dst[k·right..] += w · src[a·right..]`
/// for every nonzero (k, a, w) of the local matrix (|w| when `abs`).
pub(super) fn apply_block(
    src: &[f64],
    dst: &mut [f64],
    terms: &[(usize, usize, f64)],
    right: usize,
    abs: bool,
) {
    if right == 1 {
        for &(k, a, w) in terms {
            dst[k] += if abs { w.abs() } else { w } * src[a];
        }
        return;
    }
    for &(k, a, w) in terms {
        let w = if abs { w.abs() } else { w };
        let out = &mut dst[k * right..(k + 1) * right];
        for (o, i) in out.iter_mut().zip(&src[a * right..(a + 1) * right]) {
            *o += w * i;
        }
    }
}

/// The local coordinates of ℂ^e as functionals of the local entries, in
/// the order of [`crate::tomo::hermitian`]: H_jj, √2 Re H_jk, √2 Im H_jk.
pub(super) fn functionals(e: usize) -> Vec<Functional> {
    let s = FRAC_1_SQRT_2;
    let mut out: Vec<Functional> = (0..e)
        .map(|j| vec![(j * e + j, c64::new(1.0, 0.0))])
        .collect();
    for j in 0..e {
        for k in (j + 1)..e {
            // √2 Re H_jk = (H_jk + H_kj)/√2.
            out.push(vec![
                (j * e + k, c64::new(s, 0.0)),
                (k * e + j, c64::new(s, 0.0)),
            ]);
            // √2 Im H_jk = (i/√2)(H_kj − H_jk).
            out.push(vec![
                (k * e + j, c64::new(0.0, s)),
                (j * e + k, c64::new(0.0, -s)),
            ]);
        }
    }
    out
}

/// Calls `f(kron_index, set_row_base, last)` for every block of projectors
/// that differ only in the last subsystem's local row r: their Kronecker
/// indices are `kron_index + r`, their set rows `set_row_base + last[r]`.
pub(super) fn for_each_block(contrib: &[Vec<usize>], mut f: impl FnMut(usize, usize, &[usize])) {
    let Some((last, outer)) = contrib.split_last() else {
        return;
    };
    let blocks: usize = outer.iter().map(Vec::len).product();
    let mut digits = vec![0usize; outer.len()];
    let mut base = 0usize;
    for b in 0..blocks {
        f(b * last.len(), base, last);
        let mut q = outer.len();
        while q > 0 {
            q -= 1;
            base -= outer[q][digits[q]];
            digits[q] += 1;
            if digits[q] < outer[q].len() {
                base += outer[q][digits[q]];
                break;
            }
            digits[q] = 0;
        }
    }
}

/// The coordinate-change stages on the complex tensor in `c0`, mode by
/// mode (d_q² entries per mode, size unchanged): into the local
/// functionals (global → product coordinates) when `expand` is false, back
/// out through their conjugates (product → global) when true; `c1` is
/// scratch and the result is left in `c0`.
pub(super) fn complex_stages(
    factors: &[LocalFactor],
    tables: &Tables,
    c0: &mut Vec<c64>,
    c1: &mut Vec<c64>,
    expand: bool,
) {
    for (q, funcs) in tables.functionals.iter().enumerate() {
        let e2 = factors[q].dim * factors[q].dim;
        let right: usize = factors[q + 1..].iter().map(|f| f.dim * f.dim).product();
        let block = e2 * right;
        c1.clear();
        c1.resize(c0.len(), c64::new(0.0, 0.0));
        for (src, dst) in c0.chunks_exact(block).zip(c1.chunks_exact_mut(block)) {
            for (a, func) in funcs.iter().enumerate() {
                for &(pair, w) in func {
                    let (from, to, w) = if expand {
                        (a, pair, w.conj())
                    } else {
                        (pair, a, w)
                    };
                    for (o, i) in dst[to * right..(to + 1) * right]
                        .iter_mut()
                        .zip(&src[from * right..(from + 1) * right])
                    {
                        *o += w * i;
                    }
                }
            }
        }
        std::mem::swap(c0, c1);
    }
}

/// The coordinate-change stages on the magnitudes in `m` (|w| for every
/// weight), into functionals when `expand` is false, back out when true;
/// `tmp` is scratch.
pub(super) fn magnitude_stages(
    factors: &[LocalFactor],
    tables: &Tables,
    m: &mut Vec<f64>,
    tmp: &mut Vec<f64>,
    expand: bool,
) {
    for (q, funcs) in tables.functionals.iter().enumerate() {
        let e2 = factors[q].dim * factors[q].dim;
        let right: usize = factors[q + 1..].iter().map(|f| f.dim * f.dim).product();
        let block = e2 * right;
        tmp.clear();
        tmp.resize(m.len(), 0.0);
        for (src, dst) in m.chunks_exact(block).zip(tmp.chunks_exact_mut(block)) {
            for (a, func) in funcs.iter().enumerate() {
                for &(pair, w) in func {
                    let w = w.norm();
                    let (from, to) = if expand { (a, pair) } else { (pair, a) };
                    for (o, i) in dst[to * right..(to + 1) * right]
                        .iter_mut()
                        .zip(&src[from * right..(from + 1) * right])
                    {
                        *o += w * i;
                    }
                }
            }
        }
        std::mem::swap(m, tmp);
    }
}
