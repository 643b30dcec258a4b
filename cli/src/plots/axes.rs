//! Axes: every axis is a linear f64 range with explicit tick positions. A log
//! axis is a linear axis over log10 of the values, with labels showing 10^v;
//! that keeps one coordinate type for all plots. Also the tick positions,
//! their labels, and the chart builder that sizes label areas to fit them.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::look::{DESC_PX, GRID, LABEL_PX, TEXT, text_style, text_width};
use super::render::DrawResult;

/// A linear f64 axis whose ticks (and grid lines) are exactly `ticks`.
/// plotters' own `WithKeyPoints` over an f64 range keeps that range's
/// formatting option, which does not accept a label formatter.
pub(super) struct Axis {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Only bold grid lines, no light ones in between.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.linear.range()
    }
}

pub(super) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

pub(super) fn axis(lo: f64, hi: f64, ticks: Vec<f64>) -> Axis {
    Axis {
        linear: (lo..hi).into(),
        ticks,
    }
}

/// Round tick positions (steps of 1, 2 or 5 times a power of ten), at most
/// `max_n` of them, inside `lo..=hi`.
pub(super) fn nice_ticks(lo: f64, hi: f64, max_n: usize) -> Vec<f64> {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || span.is_infinite() {
        return vec![lo];
    }
    let magnitude = 10f64.powf((span / max_n as f64).log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| span / s <= max_n as f64)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Tick positions on a log axis (values are log10): whole decades, or 1-2-5
/// within a decade when the range spans too few decades; thinned to about eight.
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades: Vec<f64> = ((lo - 1e-9).ceil() as i64..=(hi + 1e-9).floor() as i64)
        .map(|k| k as f64)
        .collect();
    if decades.len() >= 3 {
        let every = decades.len().div_ceil(8);
        return decades.into_iter().step_by(every).collect();
    }
    let mut ticks = Vec::new();
    for k in (lo.floor() as i64)..=(hi.ceil() as i64) {
        for m in [1.0f64, 2.0, 5.0] {
            let t = k as f64 + m.log10();
            if t >= lo - 1e-9 && t <= hi + 1e-9 {
                ticks.push(t);
            }
        }
    }
    if ticks.len() >= 2 {
        ticks
    } else {
        nice_ticks(lo, hi, 5)
    }
}

/// A number in at most three significant digits with a k/M/G suffix for large
/// magnitudes: 0.125, 12.5, 1.5k, 2M.
pub(super) fn compact(v: f64) -> String {
    let a = v.abs();
    let (scale, suffix) = scale_for(a);
    let x = v / scale;
    let digits = if x.abs() >= 100.0 || x == 0.0 {
        0
    } else {
        (2 - x.abs().log10().floor() as i32).max(0) as usize
    };
    trim(format!("{x:.digits$}")) + suffix
}

/// A swept value as the user wrote it when it is a whole number below a
/// million (16384, not 16.4k), else [`compact`].
pub(super) fn swept_label(x: f64) -> String {
    let r = x.round();
    if (x - r).abs() <= 1e-9 * x.abs().max(1.0) && r.abs() < 1e6 {
        format!("{r:.0}")
    } else {
        compact(x)
    }
}

pub(super) fn scale_for(magnitude: f64) -> (f64, &'static str) {
    if magnitude >= 1e9 {
        (1e9, "G")
    } else if magnitude >= 1e6 {
        (1e6, "M")
    } else if magnitude >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    }
}

pub(super) fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Labels for evenly spaced ticks: one scale suffix for the whole axis and as
/// many decimals as the step needs, so labels line up (0, 2.5k, 5k, 7.5k).
pub(super) fn linear_labels(ticks: &[f64]) -> impl Fn(&f64) -> String + use<> {
    let max_abs = ticks.iter().fold(0f64, |m, t| m.max(t.abs()));
    let (scale, suffix) = scale_for(max_abs);
    let step = ticks
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    // The fewest decimals that write the step exactly (2.5 needs one).
    let decimals = (0..6)
        .find(|&d| {
            let scaled = step / scale * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6) as usize;
    move |v: &f64| {
        let x = v / scale;
        if x.abs() < 1e-12 {
            return "0".to_string();
        }
        trim(format!("{x:.decimals$}")) + suffix
    }
}

/// Pixel width of the widest label, for sizing the label area.
pub(super) fn widest<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: impl Iterator<Item = String>,
) -> DrawResult<u32>
where
    DB::ErrorType: 'static,
{
    let mut w = 0;
    for l in labels {
        w = w.max(text_width(area, &l, LABEL_PX)?);
    }
    Ok(w)
}

/// Everything about one chart's axes that the chart builder and mesh need.
pub(super) struct AxesSpec<'f> {
    pub(super) x: (f64, f64, Vec<f64>),
    pub(super) y: (f64, f64, Vec<f64>),
    pub(super) x_fmt: &'f dyn Fn(&f64) -> String,
    pub(super) y_fmt: &'f dyn Fn(&f64) -> String,
    pub(super) x_desc: &'f str,
    pub(super) y_desc: &'f str,
    pub(super) x_grid: bool,
}

/// Builds a chart with label areas sized to the labels it will show, draws
/// the grid, axes and labels, and returns it for the data.
pub(super) fn build_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    spec: &AxesSpec,
) -> DrawResult<Chart<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let y_label_w = widest(area, spec.y.2.iter().map(spec.y_fmt))?;
    let (_, desc_h) = area.estimate_text_size("Xg", &text_style(DESC_PX))?;
    let (_, label_h) = area.estimate_text_size("0", &text_style(LABEL_PX))?;
    let y_area = y_label_w
        + 12
        + if spec.y_desc.is_empty() {
            0
        } else {
            desc_h + 14
        };
    let x_area = label_h
        + 14
        + if spec.x_desc.is_empty() {
            0
        } else {
            desc_h + 12
        };
    // Room on the right for the last x label to overhang the plotting area.
    let last_x_label = spec.x.2.last().map(spec.x_fmt).unwrap_or_default();
    let right = (text_width(area, &last_x_label, LABEL_PX)? / 2 + 8).max(16);
    let mut chart = ChartBuilder::on(area)
        .margin_left(8)
        .margin_right(right)
        .margin_top(6)
        .margin_bottom(6)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(
            axis(spec.x.0, spec.x.1, spec.x.2.clone()),
            axis(spec.y.0, spec.y.1, spec.y.2.clone()),
        )?;
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(GRID)
        .axis_style(TEXT)
        .x_label_formatter(spec.x_fmt)
        .y_label_formatter(spec.y_fmt)
        .label_style(text_style(LABEL_PX))
        .axis_desc_style(text_style(DESC_PX));
    if !spec.x_grid {
        mesh.disable_x_mesh();
    }
    if !spec.x_desc.is_empty() {
        mesh.x_desc(spec.x_desc);
    }
    if !spec.y_desc.is_empty() {
        mesh.y_desc(spec.y_desc);
    }
    mesh.draw()?;
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_round_and_compact() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let f = linear_labels(&nice_ticks(0.0, 10_000.0, 4));
        assert_eq!(
            nice_ticks(0.0, 10_000.0, 4),
            vec![0.0, 2500.0, 5000.0, 7500.0, 10_000.0]
        );
        assert_eq!([0.0, 2500.0, 10_000.0].map(|v| f(&v)), ["0", "2.5k", "10k"]);
        assert_eq!(
            [0.125, 12.5, 1500.0, 2e6, 16384.0].map(compact),
            ["0.125", "12.5", "1500", "2M", "16.4k"]
        );
        assert_eq!(log_ticks(0.0, 4.0), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    }
}
