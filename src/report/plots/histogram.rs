//! A metric's histogram.

use super::{FONT, POSITIVE, PlotError, count_label, plot_err, short_number};
use plotters::prelude::*;

/// Draws `bins` (`(lower edge, upper edge, count)`, from
/// [`Histogram::bins`](crate::report::stats::Histogram::bins)) as a
/// histogram titled `title` with the x axis labelled `x_label`.
pub fn histogram(
    title: &str,
    x_label: &str,
    bins: &[(f64, f64, u64)],
) -> Result<String, PlotError> {
    let what = format!("histogram '{title}'");
    let err = plot_err(&what);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (280, 220)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let (mut x0, mut x1) = match (bins.first(), bins.last()) {
            (Some(a), Some(b)) => (a.0, b.1),
            _ => (0.0, 1.0),
        };
        if x1 <= x0 || !(x1 - x0).is_finite() {
            (x0, x1) = (x0 - 0.5, x0 + 0.5);
        }
        let pad = (x1 - x0) * 0.02;
        let ymax = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64 * 1.08;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), 0.0..ymax)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_label)
            .y_desc("samples")
            .x_labels(5)
            .y_labels(5)
            .x_label_formatter(&|v| short_number(*v))
            .y_label_formatter(&|v| count_label(*v))
            .label_style((FONT, 11))
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(bins.iter().map(|&(a, b, c)| {
                Rectangle::new([(a, 0.0), (b, c as f64)], POSITIVE.mix(0.75).filled())
            }))
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
