//! A metric against the sample index.

use super::{FONT, LIGHT, NEGATIVE, POSITIVE, PlotError, plot_err, short_number};
use crate::report::stats::TrendPoint;
use crate::report::timeaxis::{time_at, time_label};
use plotters::prelude::*;

/// Draws `points` over sample indices `0..total`: per index range its
/// 10–90 % band (light bars) and median (dots), and the rolling median
/// (a line). With `times` (anchors from
/// [`IdTimes`](crate::report::timeaxis::IdTimes)) the x axis is labelled
/// with the samples' times instead of their indices.
pub fn trend(
    title: &str,
    y_label: &str,
    points: &[TrendPoint],
    total: u64,
    times: Option<&[(u64, f64)]>,
) -> Result<String, PlotError> {
    let what = format!("trend '{title}'");
    let err = plot_err(&what);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (570, 250)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let lo = points.iter().map(|p| p.p10).fold(f64::INFINITY, f64::min);
        let hi = points
            .iter()
            .map(|p| p.p90)
            .fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() && hi.is_finite() && hi > lo {
            let pad = (hi - lo) * 0.08;
            (lo - pad, hi + pad)
        } else if lo.is_finite() {
            (lo - 0.05, lo + 0.05)
        } else {
            (0.0, 1.0)
        };
        let x1 = total.max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 15))
            .margin(8)
            .margin_right(22)
            .x_label_area_size(36)
            .y_label_area_size(58)
            .build_cartesian_2d(0.0..x1, lo..hi)
            .map_err(&err)?;
        let span = times
            .and_then(|t| Some(t.last()?.1 - t.first()?.1))
            .unwrap_or(0.0);
        let x_label = |v: &f64| match times.and_then(|t| time_at(t, *v)) {
            Some(t) => time_label(t, span),
            None => format!("{v:.0}"),
        };
        chart
            .configure_mesh()
            .x_desc(if times.is_some() {
                "sample time (UTC, from the ids)"
            } else {
                "sample index"
            })
            .y_desc(y_label)
            .x_labels(if times.is_some() && span >= 86_400.0 {
                4
            } else {
                8
            })
            .y_labels(6)
            .x_label_formatter(&x_label)
            .y_label_formatter(&|v| short_number(*v))
            .label_style((FONT, 11))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(points.iter().map(|p| {
                Rectangle::new(
                    [(p.start as f64, p.p10), (p.end as f64, p.p90)],
                    LIGHT.mix(0.8).filled(),
                )
            }))
            .map_err(&err)?
            .label("10–90 % of the samples")
            .legend(|(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], LIGHT.filled()));
        let mid = |p: &TrendPoint| (p.start + p.end) as f64 / 2.0;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((mid(p), p.median), 2, POSITIVE.filled())),
            )
            .map_err(&err)?
            .label("median")
            .legend(|(x, y)| Circle::new((x + 7, y), 3, POSITIVE.filled()));
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (mid(p), p.rolling_median)),
                NEGATIVE.stroke_width(2),
            ))
            .map_err(&err)?
            .label("rolling median")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], NEGATIVE.stroke_width(2)));
        // The legend goes into the left corner the data leave free.
        let starts_high = points
            .first()
            .is_some_and(|p| p.rolling_median > (lo + hi) / 2.0);
        let corner = if starts_high {
            SeriesLabelPosition::LowerLeft
        } else {
            SeriesLabelPosition::UpperLeft
        };
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 11))
            .draw()
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
