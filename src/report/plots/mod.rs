//! The report's plots, each drawn with `plotters` into an SVG string that
//! the HTML embeds inline.
//!
//! * `histogram.rs`: a metric's distribution over the run.
//! * `trend.rs`: a metric against the sample index, with its 10–90 % band
//!   and rolling median.
//! * `city.rs`: Re ρ or Im ρ as 3D bars (a "city"), target as wire frames.
//! * `hinton.rs`: Re ρ or Im ρ as a Hinton diagram (squares of area
//!   ∝ |entry|), target as outlines.
//!
//! Every plot function returns the SVG text or a [`PlotError`]; sizes are
//! fixed pixels (the SVGs scale with the page through their viewBox).

mod city;
mod hinton;
mod histogram;
mod trend;

pub use city::{MAX_CITY_DIM, city};
pub use hinton::hinton;
pub use histogram::histogram;
pub use trend::trend;

use plotters::style::RGBColor;

/// Drawing a plot failed (plotters reports the backend's error).
#[derive(Debug, thiserror::Error)]
#[error("could not draw the {what}: {message}")]
pub struct PlotError {
    /// Which plot.
    pub what: String,
    /// plotters' message.
    pub message: String,
}

/// Maps a plotters error to a [`PlotError`] naming the plot.
pub(crate) fn plot_err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> PlotError + '_ {
    move |e| PlotError {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Colour of positive entries and of most bars.
pub(crate) const POSITIVE: RGBColor = RGBColor(49, 104, 168);
/// Colour of negative entries.
pub(crate) const NEGATIVE: RGBColor = RGBColor(214, 96, 39);
/// Colour of bands and secondary marks.
pub(crate) const LIGHT: RGBColor = RGBColor(181, 203, 229);
/// Colour of the target overlay.
pub(crate) const TARGET: RGBColor = RGBColor(20, 20, 20);
/// Font family of every label (the browser's default sans-serif).
pub(crate) const FONT: &str = "sans-serif";

/// Label of basis state `k` of dimension `d`: `|01⟩` for qubits (d a
/// power of two), `|k⟩` otherwise.
pub(crate) fn ket_label(k: usize, d: usize) -> String {
    if d.is_power_of_two() && d >= 2 {
        let n = d.trailing_zeros() as usize;
        format!("{k:0n$b}")
    } else {
        k.to_string()
    }
}

/// A tick label for `v` with about three significant digits.
pub(crate) fn short_number(v: f64) -> String {
    let a = v.abs();
    // Tick positions computed by steps carry rounding noise around zero.
    if a < 1e-12 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A tick label for a count: `950`, `12k`, `1.5M`.
pub(crate) fn count_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short() {
        assert_eq!(ket_label(2, 4), "10");
        assert_eq!(ket_label(2, 3), "2");
        assert_eq!(count_label(950.0), "950");
        assert_eq!(count_label(30_000.0), "30k");
        assert_eq!(count_label(1_000_000.0), "1.0M");
        assert_eq!(short_number(0.25), "0.250");
        assert_eq!(short_number(1e-7), "1.0e-7");
        assert_eq!(short_number(6e-17), "0");
        assert_eq!(short_number(-0.2), "-0.200");
    }
}
