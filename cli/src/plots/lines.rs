//! The line-plot figure: one line per series, optional point markers, a
//! legend column, linear or log axes; used for metric-vs-parameter plots,
//! search histories, learning curves and Pareto fronts.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::axes::{
    AxesSpec, Chart, build_chart, compact, linear_labels, log_ticks, nice_ticks, swept_label,
    widest,
};
use super::error::{BadInput, LogAxis};
use super::look::{
    LABEL_PX, MUTED, PALETTE, Swatch, draw_hollow_marker, draw_marker, draw_swatch, no_data,
    text_at, titled,
};
use super::render::{DrawResult, Figure};
use super::{LinePlot, Series};

pub(super) struct Lines<'a> {
    plot: LinePlot<'a>,
    series: &'a [Series],
    /// Points in axis space (log10 applied where the axis is logarithmic).
    points: Vec<Vec<(f64, f64)>>,
    /// Each series' invalid points in axis space: hollow markers.
    hollow: Vec<Vec<(f64, f64)>>,
}

impl<'a> Lines<'a> {
    pub(super) fn new(series: &'a [Series], plot: &LinePlot<'a>) -> Result<Self, BadInput> {
        let mut points = Vec::with_capacity(series.len());
        let mut hollow = Vec::with_capacity(series.len());
        for s in series {
            let mut out = Vec::with_capacity(s.points.len());
            let n_valid = s.points.len();
            for (i, &(x, y)) in s.points.iter().chain(&s.invalid).enumerate() {
                let not_positive = |axis| BadInput::NotPositiveOnLogAxis {
                    series: s.name.clone(),
                    index: i,
                    point: (x, y),
                    axis,
                };
                if !x.is_finite() || !y.is_finite() {
                    return Err(BadInput::NotFinite {
                        series: s.name.clone(),
                        index: i,
                        point: (x, y),
                    });
                }
                if plot.log_x && x <= 0.0 {
                    return Err(not_positive(LogAxis::X));
                }
                if plot.log_y && y <= 0.0 {
                    return Err(not_positive(LogAxis::Y));
                }
                let tx = if plot.log_x { x.log10() } else { x };
                let ty = if plot.log_y { y.log10() } else { y };
                out.push((tx, ty));
            }
            hollow.push(out.split_off(n_valid));
            points.push(out);
        }
        Ok(Lines {
            plot: *plot,
            series,
            points,
            hollow,
        })
    }

    /// The padded range of one coordinate over every point.
    fn range(&self, coord: impl Fn(&(f64, f64)) -> f64, log: bool) -> Option<(f64, f64)> {
        let mut it = self.points.iter().chain(&self.hollow).flatten().map(coord);
        let first = it.next()?;
        let (lo, hi) = it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else if log {
            0.5
        } else {
            (lo.abs() * 0.1).max(1.0)
        };
        Some((lo - pad, hi + pad))
    }

    /// Ticks for the x axis: the swept values themselves when there are few
    /// and they are not crowded (then `true`), else round numbers.
    fn x_ticks(&self, lo: f64, hi: f64) -> (Vec<f64>, bool) {
        let mut xs: Vec<f64> = self
            .points
            .iter()
            .chain(&self.hollow)
            .flatten()
            .map(|p| p.0)
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let min_gap = xs
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        if !xs.is_empty() && xs.len() <= 12 && min_gap >= (hi - lo) / 16.0 {
            (xs, true)
        } else if self.plot.log_x {
            (log_ticks(lo, hi), false)
        } else {
            (nice_ticks(lo, hi, 8), false)
        }
    }
}

impl Figure for Lines<'_> {
    fn size(&self) -> (u32, u32) {
        (960, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let body = titled(root, self.plot.title)?;
        // The legend, in a column on the right, when any series is named.
        let named = self.series.iter().any(|s| !s.name.is_empty())
            || self.hollow.iter().any(|h| !h.is_empty());
        let area = if named { self.legend(body)? } else { body };
        let Some(mut chart) = self.chart(&area)? else {
            return Ok(());
        };
        for (i, pts) in self.points.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            if pts.len() >= 2 {
                chart.draw_series(std::iter::once(PathElement::new(
                    pts.clone(),
                    colour.stroke_width(2),
                )))?;
            }
            // A lone point is always marked, or it would not show at all.
            if self.plot.markers || pts.len() == 1 {
                let plot_area = chart.plotting_area().strip_coord_spec();
                for p in pts {
                    let (bx, by) = chart.backend_coord(p);
                    let (ox, oy) = plot_area.get_base_pixel();
                    draw_marker(&plot_area, i, colour, (bx - ox, by - oy))?;
                }
            }
            let plot_area = chart.plotting_area().strip_coord_spec();
            for p in &self.hollow[i] {
                let (bx, by) = chart.backend_coord(p);
                let (ox, oy) = plot_area.get_base_pixel();
                draw_hollow_marker(&plot_area, i, colour, (bx - ox, by - oy))?;
            }
        }
        Ok(())
    }
}

impl Lines<'_> {
    /// Draws the legend in a column on the right of `body` (at most a third
    /// of its width, names shortened to fit) and returns the area left of it.
    fn legend<DB: DrawingBackend>(
        &self,
        body: DrawingArea<DB, Shift>,
    ) -> DrawResult<DrawingArea<DB, Shift>>
    where
        DB::ErrorType: 'static,
    {
        let names: Vec<String> = self.series.iter().map(|s| shorten(&s.name, 36)).collect();
        let legend_w = (widest(&body, names.iter().cloned())? + 56).min(body.dim_in_pixel().0 / 3);
        let (w, _) = body.dim_in_pixel();
        let (chart_area, legend_area) = body.split_horizontally(w - legend_w);
        for (i, name) in names.iter().enumerate() {
            let y = 40 + 24 * i as i32;
            let swatch = if self.plot.markers {
                Swatch::LineAndMarker(PALETTE[i % PALETTE.len()], i)
            } else {
                Swatch::Line(PALETTE[i % PALETTE.len()])
            };
            draw_swatch(&legend_area, swatch, (4, y))?;
            legend_area.draw_text(name, &text_at(LABEL_PX, HPos::Left, VPos::Center), (34, y))?;
        }
        if self.hollow.iter().any(|h| !h.is_empty()) {
            let y = 40 + 24 * names.len() as i32;
            draw_hollow_marker(&legend_area, 0, MUTED, (16, y))?;
            let text = text_at(LABEL_PX, HPos::Left, VPos::Center);
            legend_area.draw_text("hollow: invalid", &text, (34, y))?;
        }
        Ok(chart_area)
    }

    /// The chart with its axes and labels, ready for the lines; `None` when
    /// there are no points, after drawing empty axes with a "no data" note.
    fn chart<'a, DB: DrawingBackend>(
        &self,
        area: &'a DrawingArea<DB, Shift>,
    ) -> DrawResult<Option<Chart<'a, DB>>>
    where
        DB::ErrorType: 'static,
    {
        let xr = self.range(|p| p.0, self.plot.log_x);
        let yr = self.range(|p| p.1, self.plot.log_y);
        let ((x_lo, x_hi), (y_lo, y_hi)) = match (xr, yr) {
            (Some(x), Some(y)) => (x, y),
            _ => ((0.0, 1.0), (0.0, 1.0)),
        };
        let empty = xr.is_none();
        let (x_ticks, swept_ticks) = if empty {
            (vec![], false)
        } else {
            self.x_ticks(x_lo, x_hi)
        };
        let y_ticks = if empty {
            vec![]
        } else if self.plot.log_y {
            log_ticks(y_lo, y_hi)
        } else {
            nice_ticks(y_lo, y_hi, 6)
        };
        let linear_x = linear_labels(&x_ticks);
        let linear_y = linear_labels(&y_ticks);
        let x_fmt = |v: &f64| {
            let x = if self.plot.log_x { 10f64.powf(*v) } else { *v };
            if swept_ticks {
                swept_label(x)
            } else if self.plot.log_x {
                compact(x)
            } else {
                linear_x(v)
            }
        };
        let y_fmt = |v: &f64| {
            if self.plot.log_y {
                compact(10f64.powf(*v))
            } else {
                linear_y(v)
            }
        };
        let spec = AxesSpec {
            x: (x_lo, x_hi, x_ticks),
            y: (y_lo, y_hi, y_ticks),
            x_fmt: &x_fmt,
            y_fmt: &y_fmt,
            x_desc: self.plot.x_label,
            y_desc: self.plot.y_label,
            x_grid: true,
        };
        let chart = build_chart(area, &spec)?;
        if empty {
            no_data(&chart.plotting_area().strip_coord_spec())?;
            return Ok(None);
        }
        Ok(Some(chart))
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars()
            .take(max - 1)
            .chain(std::iter::once('…'))
            .collect()
    }
}
