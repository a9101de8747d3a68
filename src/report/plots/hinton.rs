//! A Hinton diagram: each entry of Re ρ or Im ρ as a square whose area is
//! proportional to its magnitude, coloured by its sign (as QuTiP's
//! `hinton` and qiskit draw them), with the target's squares as outlines.

use super::{FONT, NEGATIVE, POSITIVE, PlotError, TARGET, ket_label, plot_err};
use plotters::prelude::*;

/// Draws the d×d row-major `values` (row 0 at the top), with `target`
/// (same layout) outlined, squares scaled so that `max_abs` fills a cell
/// (shared by the Re and Im diagrams of one sample).
pub fn hinton(
    title: &str,
    d: usize,
    values: &[f64],
    target: Option<&[f64]>,
    max_abs: f64,
) -> Result<String, PlotError> {
    let what = format!("Hinton diagram '{title}'");
    let err = plot_err(&what);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (260, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let n = d as f64 - 0.5;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(6)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(-0.5..n, -0.5..n)
            .map_err(&err)?;
        // Enough ticks that every cell centre (a whole number) gets one
        // up to 16 cells; the formatter leaves the others blank.
        let labels = 2 * d.min(16) + 1;
        let ket = |v: f64, flip: bool| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < d {
                let i = i as usize;
                ket_label(if flip { d - 1 - i } else { i }, d)
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(labels)
            .y_labels(labels)
            .x_label_formatter(&|v| ket(*v, false))
            .y_label_formatter(&|v| ket(*v, true))
            .label_style((FONT, 10))
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(-0.5, -0.5), (n, n)],
                RGBColor(236, 236, 236).filled(),
            )))
            .map_err(&err)?;
        let scale = if max_abs > 0.0 { max_abs } else { 1.0 };
        // Row r is drawn at height d − 1 − r, so that row 0 is on top.
        let square = |r: usize, c: usize, v: f64| {
            let h = 0.45 * (v.abs() / scale).sqrt().min(1.0);
            let (x, y) = (c as f64, (d - 1 - r) as f64);
            [(x - h, y - h), (x + h, y + h)]
        };
        let cells = || (0..d).flat_map(|r| (0..d).map(move |c| (r, c)));
        chart
            .draw_series(cells().filter_map(|(r, c)| {
                let v = values[r * d + c];
                (v.abs() > 1e-6 * scale).then(|| {
                    let colour = if v >= 0.0 { POSITIVE } else { NEGATIVE };
                    Rectangle::new(square(r, c, v), colour.filled())
                })
            }))
            .map_err(&err)?;
        if let Some(t) = target {
            chart
                .draw_series(cells().filter_map(|(r, c)| {
                    let v = t[r * d + c];
                    (v.abs() > 1e-6 * scale)
                        .then(|| Rectangle::new(square(r, c, v), TARGET.stroke_width(1)))
                }))
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
