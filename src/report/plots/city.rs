//! A "city" plot: the entries of Re ρ or Im ρ as 3D bars over the d×d
//! grid, in an isometric-like projection (as Kwiat's TomoDisplay and
//! qiskit's `plot_state_city` draw them), with the target as wire frames.

use super::{FONT, NEGATIVE, POSITIVE, PlotError, TARGET, ket_label, plot_err, short_number};
use plotters::prelude::*;

/// Largest dimension drawn as a city plot: above it (five qubits and up)
/// the bars are too many to read and to embed (the Hinton diagram shows
/// the matrix instead).
pub const MAX_CITY_DIM: usize = 16;

/// Entries smaller than this fraction of the scale get no bar.
const NEGLIGIBLE: f64 = 1e-4;

/// Draws the d×d row-major `values` as bars, with `target` (same layout)
/// as wire frames, on a vertical scale `lo..hi` (shared by the Re and Im
/// plots of one sample so that their heights compare).
pub fn city(
    title: &str,
    d: usize,
    values: &[f64],
    target: Option<&[f64]>,
    (lo, hi): (f64, f64),
) -> Result<String, PlotError> {
    let what = format!("city plot '{title}'");
    let err = plot_err(&what);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (290, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let span = d as f64 - 0.5;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(6)
            .margin_left(26)
            .build_cartesian_3d(-0.5..span, lo..hi, -0.5..span)
            .map_err(&err)?;
        chart.with_projection(|mut p| {
            p.yaw = 0.7;
            p.pitch = 0.5;
            p.scale = 0.8;
            p.into_matrix()
        });
        let ket = |v: &f64| {
            let k = v.round();
            if (v - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < d {
                ket_label(k as usize, d)
            } else {
                String::new()
            }
        };
        chart
            .configure_axes()
            .light_grid_style(BLACK.mix(0.06))
            .bold_grid_style(BLACK.mix(0.15))
            .max_light_lines(1)
            .x_labels(d + 1)
            .z_labels(d + 1)
            .y_labels(5)
            .x_formatter(&ket)
            .z_formatter(&ket)
            .y_formatter(&|v| short_number(*v))
            .label_style((FONT, 10))
            .draw()
            .map_err(&err)?;
        let scale = (hi - lo).abs().max(f64::MIN_POSITIVE);
        let half = 0.35;
        // Painter's algorithm: the farthest bars first.
        let coord = chart.as_coord_spec().clone();
        let mut cells: Vec<(usize, usize)> =
            (0..d).flat_map(|r| (0..d).map(move |c| (r, c))).collect();
        cells.sort_by_key(|&(r, c)| {
            std::cmp::Reverse(coord.projected_depth(&(c as f64), &0.0, &(r as f64)))
        });
        let bar = |r: usize, c: usize, v: f64| {
            [
                (c as f64 - half, v.min(0.0), r as f64 - half),
                (c as f64 + half, v.max(0.0), r as f64 + half),
            ]
        };
        chart
            .draw_series(cells.iter().filter_map(|&(r, c)| {
                let v = values[r * d + c];
                (v.abs() > NEGLIGIBLE * scale).then(|| {
                    let colour = if v >= 0.0 { POSITIVE } else { NEGATIVE };
                    Cubiod::new(bar(r, c, v), colour.mix(0.85), colour.mix(1.0))
                })
            }))
            .map_err(&err)?;
        if let Some(t) = target {
            chart
                .draw_series(cells.iter().filter_map(|&(r, c)| {
                    let v = t[r * d + c];
                    (v.abs() > NEGLIGIBLE * scale)
                        .then(|| Cubiod::new(bar(r, c, v), TRANSPARENT, TARGET.stroke_width(1)))
                }))
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
