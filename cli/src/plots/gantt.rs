//! The pipeline Gantt figure: a row per chiplet, then per link and memory
//! carrying traffic; a bar per trace slice coloured by micro-batch.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use sim::report::{Trace, TraceSlice, Track};

use super::axes::{AxesSpec, Chart, build_chart, linear_labels, nice_ticks};
use super::error::BadInput;
use super::look::{
    LegendAt, MUTED, PALETTE, SMALL_PX, Swatch, header, ink_on, no_data, text_style, titled,
};
use super::render::{DrawResult, FONT, Figure};

pub(super) struct Gantt<'a> {
    title: &'a str,
    /// The trace drawn (for op names).
    trace: &'a Trace,
    /// Rows top to bottom, with their labels.
    rows: Vec<(Track, String)>,
    /// How many of the rows are chiplets (they come first).
    n_chiplet_rows: usize,
    /// The slices drawn, in the order given, with their row.
    slices: Vec<(usize, &'a TraceSlice)>,
    /// One past the highest micro-batch drawn.
    n_microbatches: u32,
    end_cycle: u64,
}

impl<'a> Gantt<'a> {
    pub(super) fn new(
        trace: &'a Trace,
        n_chiplets: usize,
        max_microbatches: u32,
        title: &'a str,
    ) -> Result<Self, BadInput> {
        let kept: Vec<&TraceSlice> = trace
            .slices
            .iter()
            .filter(|s| s.microbatch < max_microbatches)
            .collect();
        let mut rows: Vec<Track> = (0..n_chiplets as u32).map(Track::Chiplet).collect();
        for s in &kept {
            match s.track {
                Track::Chiplet(c) if c as usize >= n_chiplets => {
                    return Err(BadInput::SliceOffPackage {
                        slice: trace.name(s).to_string(),
                        chiplet: c,
                        n_chiplets,
                    });
                }
                Track::Chiplet(_) => {}
                other => rows.push(other),
            }
            if s.end_cycle < s.start_cycle {
                return Err(BadInput::SliceEndsBeforeStart {
                    slice: trace.name(s).to_string(),
                    start_cycle: s.start_cycle,
                    end_cycle: s.end_cycle,
                });
            }
        }
        // Chiplets sort before links, links before memory (`Track`'s order).
        rows.sort();
        rows.dedup();
        let row_of = |t: &Track| rows.binary_search(t).expect("every kept track has a row");
        let placed = kept.iter().map(|s| (row_of(&s.track), *s)).collect();
        let labelled = rows
            .iter()
            .map(|t| {
                let label = match *t {
                    Track::Chiplet(c) => format!("chiplet {c}"),
                    Track::Link { id, from, to } => format!("link {id} ({from}→{to})"),
                    Track::Memory => "memory".to_string(),
                };
                (*t, label)
            })
            .collect();
        Ok(Gantt {
            title,
            trace,
            rows: labelled,
            n_chiplet_rows: n_chiplets,
            slices: placed,
            n_microbatches: kept.iter().map(|s| s.microbatch + 1).max().unwrap_or(0),
            end_cycle: kept.iter().map(|s| s.end_cycle).max().unwrap_or(0),
        })
    }

    /// The y value of the bottom of row `r` (row 0 is at the top).
    fn row_y(&self, r: usize) -> f64 {
        (self.rows.len() - 1 - r) as f64
    }
}

pub(super) const ROW_PX: u32 = 26;

impl Figure for Gantt<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, (150 + ROW_PX * self.rows.len() as u32).max(320))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let body = titled(root, self.title)?;
        let (heading, legend) = self.legend();
        let area = header(&body, heading, &legend, LegendAt::AfterHeading)?;
        // A little room after the last slice so that it does not touch the frame.
        let end = if self.end_cycle > 0 {
            self.end_cycle as f64 * 1.02
        } else {
            1.0
        };
        let mut chart = self.chart(&area, end)?;
        if self.slices.is_empty() {
            return no_data(&chart.plotting_area().strip_coord_spec());
        }
        // A rule between the chiplet rows and the link and memory rows.
        let n_rows = self.rows.len();
        if self.n_chiplet_rows > 0 && self.n_chiplet_rows < n_rows {
            let y = (n_rows - self.n_chiplet_rows) as f64;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, y), (end, y)],
                MUTED.stroke_width(1),
            )))?;
        }
        self.draw_slices(&mut chart)
    }
}

impl Gantt<'_> {
    /// The legend's heading and a swatch per micro-batch colour, with a note
    /// when colours repeat; nothing when there is nothing to draw.
    fn legend(&self) -> (&'static str, Vec<(String, Swatch)>) {
        let shown = self.n_microbatches.min(PALETTE.len() as u32);
        let mut legend: Vec<(String, Swatch)> = (0..shown)
            .map(|m| (format!("{m}"), Swatch::Box(PALETTE[m as usize])))
            .collect();
        if self.n_microbatches > shown {
            legend.push(("… (colours repeat)".to_string(), Swatch::None));
        }
        let heading = if legend.is_empty() {
            ""
        } else {
            "micro-batch:"
        };
        (heading, legend)
    }

    /// The chart: time in cycles from 0 to `end` across, one labelled row
    /// per track down.
    fn chart<'a, DB: DrawingBackend>(
        &self,
        area: &'a DrawingArea<DB, Shift>,
        end: f64,
    ) -> DrawResult<Chart<'a, DB>>
    where
        DB::ErrorType: 'static,
    {
        let n_rows = self.rows.len();
        let x_ticks = if self.slices.is_empty() {
            Vec::new()
        } else {
            nice_ticks(0.0, end, 10)
        };
        let x_fmt = linear_labels(&x_ticks);
        let y_ticks = (0..n_rows).map(|r| self.row_y(r) + 0.5).collect();
        let y_fmt = |v: &f64| {
            let from_bottom = v.floor().max(0.0) as usize;
            n_rows
                .checked_sub(from_bottom + 1)
                .and_then(|r| self.rows.get(r))
                .map(|(_, label)| label.clone())
                .unwrap_or_default()
        };
        let spec = AxesSpec {
            x: (0.0, end, x_ticks),
            y: (0.0, n_rows.max(1) as f64, y_ticks),
            x_fmt: &x_fmt,
            y_fmt: &y_fmt,
            x_desc: "time (cycles)",
            y_desc: "",
            x_grid: true,
        };
        build_chart(area, &spec)
    }

    /// A bar per slice, outlined when wide enough to separate from its
    /// neighbours, with the op's name inside when it fits.
    fn draw_slices<DB: DrawingBackend>(&self, chart: &mut Chart<'_, DB>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let px = |x: f64| chart.backend_coord(&(x, 0.0)).0;
        let bar = |r: usize, x0: f64, x1: f64, style: ShapeStyle| {
            let y = self.row_y(r);
            Rectangle::new([(x0, y + 0.15), (x1, y + 0.85)], style)
        };
        let mut rects = Vec::with_capacity(self.slices.len());
        let mut outlines = Vec::new();
        let mut labels = Vec::new();
        let plot_area = chart.plotting_area().strip_coord_spec();
        // Row by row in time order. Slices under NARROW_PX pixels wide that
        // touch the previous narrow slice of the same micro-batch in the row
        // become one rectangle: the picture is the same, and a long trace's
        // SVG keeps to thousands of elements instead of tens of thousands.
        const NARROW_PX: i32 = 3;
        let mut order: Vec<usize> = (0..self.slices.len()).collect();
        order.sort_by_key(|&k| (self.slices[k].0, self.slices[k].1.start_cycle, k));
        // (row, micro-batch, start, end) of the run of narrow slices being merged.
        let mut run: Option<(usize, u32, f64, f64)> = None;
        for k in order {
            let (r, s) = self.slices[k];
            let colour = PALETTE[s.microbatch as usize % PALETTE.len()];
            let (x0, x1) = (s.start_cycle as f64, s.end_cycle as f64);
            let width_px = px(x1) - px(x0);
            if width_px < NARROW_PX {
                match &mut run {
                    Some((rr, mb, _, end))
                        if *rr == r && *mb == s.microbatch && px(x0) <= px(*end) + 1 =>
                    {
                        *end = end.max(x1);
                    }
                    _ => {
                        if let Some((rr, mb, a, b)) = run.replace((r, s.microbatch, x0, x1)) {
                            let c = PALETTE[mb as usize % PALETTE.len()];
                            rects.push(bar(rr, a, b, c.filled()));
                        }
                    }
                }
                continue;
            }
            rects.push(bar(r, x0, x1, colour.filled()));
            if width_px >= 6 {
                outlines.push(bar(r, x0, x1, WHITE.stroke_width(1)));
            }
            if let Some(label) = self.op_label(&plot_area, r, s, width_px)? {
                labels.push(label);
            }
        }
        if let Some((rr, mb, a, b)) = run {
            let c = PALETTE[mb as usize % PALETTE.len()];
            rects.push(bar(rr, a, b, c.filled()));
        }
        chart.draw_series(rects)?;
        chart.draw_series(outlines)?;
        chart.draw_series(labels)?;
        Ok(())
    }

    /// The op's name, centred in its bar in ink that reads on the bar's
    /// colour, when the slice is on a chiplet and its bar (`width_px` wide)
    /// has room for the name.
    fn op_label<DB: DrawingBackend>(
        &self,
        plot_area: &DrawingArea<DB, Shift>,
        row: usize,
        s: &TraceSlice,
        width_px: i32,
    ) -> DrawResult<Option<Text<'static, (f64, f64), String>>>
    where
        DB::ErrorType: 'static,
    {
        if !matches!(s.track, Track::Chiplet(_)) || width_px < 24 {
            return Ok(None);
        }
        let name_px = plot_area
            .estimate_text_size(self.trace.name(s), &text_style(SMALL_PX))?
            .0 as i32;
        if name_px + 8 > width_px {
            return Ok(None);
        }
        let colour = PALETTE[s.microbatch as usize % PALETTE.len()];
        let style = (FONT, SMALL_PX)
            .into_font()
            .color(&ink_on(colour))
            .pos(Pos::new(HPos::Center, VPos::Center));
        let at = (
            (s.start_cycle as f64 + s.end_cycle as f64) / 2.0,
            self.row_y(row) + 0.5,
        );
        Ok(Some(Text::new(self.trace.name(s).to_string(), at, style)))
    }
}
