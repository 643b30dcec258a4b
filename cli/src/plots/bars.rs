//! The chiplet-bars figure: per-chiplet compute utilisation, and SRAM peak
//! (resident weights and peak activations stacked) against capacity.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use sim::report::ChipletReport;

use super::axes::{AxesSpec, build_chart, linear_labels, nice_ticks};
use super::look::{
    ACTIVATIONS, LegendAt, OVERFLOW, SMALL_PX, Swatch, TEXT, WEIGHTS, header, no_data, text_at,
    text_width, titled,
};
use super::render::{DrawResult, Figure};

pub(super) struct ChipletBars<'a> {
    pub(super) chiplets: &'a [ChipletReport],
    pub(super) title: &'a str,
}

pub(super) const MIB: f64 = 1024.0 * 1024.0;

impl ChipletBars<'_> {
    /// Tick positions at bar centres, thinned to about 40 labels.
    fn chip_ticks(&self) -> Vec<f64> {
        let n = self.chiplets.len();
        let every = n.div_ceil(40).max(1);
        (0..n).step_by(every).map(|i| i as f64 + 0.5).collect()
    }

    fn chip_label(&self) -> impl Fn(&f64) -> String + '_ {
        |v: &f64| {
            let i = v.floor().max(0.0) as usize;
            self.chiplets
                .get(i)
                .map(|c| format!("c{}", c.id))
                .unwrap_or_default()
        }
    }

    fn utilisation_panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = header(area, "Compute utilisation", &[], LegendAt::Right)?;
        let n = self.chiplets.len();
        let top_pct = self
            .chiplets
            .iter()
            .map(|c| c.utilisation * 100.0)
            .fold(100.0, f64::max);
        let y_ticks = nice_ticks(0.0, top_pct, 5);
        let y_fmt = |v: &f64| format!("{v:.0}");
        let x_fmt = self.chip_label();
        let spec = AxesSpec {
            x: (0.0, n.max(1) as f64, self.chip_ticks()),
            // Headroom above 100 % for the value labels.
            y: (0.0, top_pct * 1.12, y_ticks),
            x_fmt: &x_fmt,
            y_fmt: &y_fmt,
            x_desc: "",
            y_desc: "utilisation (%)",
            x_grid: false,
        };
        let mut chart = build_chart(&area, &spec)?;
        if n == 0 {
            return no_data(&chart.plotting_area().strip_coord_spec());
        }
        chart.draw_series(self.chiplets.iter().enumerate().map(|(i, c)| {
            let x = i as f64;
            Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, c.utilisation * 100.0)],
                WEIGHTS.filled(),
            )
        }))?;
        // Value labels when a bar is wide enough to carry one.
        let bar_px = chart.backend_coord(&(0.7, 0.0)).0 - chart.backend_coord(&(0.0, 0.0)).0;
        if bar_px >= text_width(&area, "100%", SMALL_PX)? as i32 + 2 {
            let style = text_at(SMALL_PX, HPos::Center, VPos::Bottom);
            chart.draw_series(self.chiplets.iter().enumerate().map(|(i, c)| {
                let pct = c.utilisation * 100.0;
                Text::new(
                    format!("{pct:.0}%"),
                    (i as f64 + 0.5, pct + top_pct * 0.015),
                    style.clone(),
                )
            }))?;
        }
        Ok(())
    }

    fn sram_panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let overflow = self
            .chiplets
            .iter()
            .any(|c| c.sram_peak_bytes > c.sram_capacity_bytes);
        let mut legend = vec![
            ("resident weights".to_string(), Swatch::Box(WEIGHTS)),
            ("peak activations".to_string(), Swatch::Box(ACTIVATIONS)),
        ];
        if overflow {
            legend.push(("over capacity".to_string(), Swatch::Box(OVERFLOW)));
        }
        legend.push(("capacity".to_string(), Swatch::Line(TEXT)));
        let area = header(area, "SRAM peak vs capacity", &legend, LegendAt::Right)?;
        let n = self.chiplets.len();
        let top = self
            .chiplets
            .iter()
            .map(|c| c.sram_peak_bytes.max(c.sram_capacity_bytes) as f64 / MIB)
            .fold(0.0, f64::max);
        let top = if top > 0.0 { top } else { 1.0 };
        let y_ticks = nice_ticks(0.0, top, 5);
        let y_fmt = linear_labels(&y_ticks);
        let x_fmt = self.chip_label();
        let spec = AxesSpec {
            x: (0.0, n.max(1) as f64, self.chip_ticks()),
            y: (0.0, top * 1.08, y_ticks),
            x_fmt: &x_fmt,
            y_fmt: &y_fmt,
            x_desc: "chiplet",
            y_desc: "SRAM (MiB)",
            x_grid: false,
        };
        let mut chart = build_chart(&area, &spec)?;
        if n == 0 {
            return no_data(&chart.plotting_area().strip_coord_spec());
        }
        let mut bars = Vec::with_capacity(3 * n);
        for (i, c) in self.chiplets.iter().enumerate() {
            let x = i as f64;
            let weights = c.weight_bytes_resident.min(c.sram_peak_bytes) as f64 / MIB;
            let peak = c.sram_peak_bytes as f64 / MIB;
            let cap = c.sram_capacity_bytes as f64 / MIB;
            bars.push(Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, weights)],
                WEIGHTS.filled(),
            ));
            bars.push(Rectangle::new(
                [(x + 0.15, weights), (x + 0.85, peak)],
                ACTIVATIONS.filled(),
            ));
            if peak > cap {
                bars.push(Rectangle::new(
                    [(x + 0.15, cap), (x + 0.85, peak)],
                    OVERFLOW.filled(),
                ));
            }
        }
        chart.draw_series(bars)?;
        chart.draw_series(self.chiplets.iter().enumerate().map(|(i, c)| {
            let cap = c.sram_capacity_bytes as f64 / MIB;
            PathElement::new(
                vec![(i as f64 + 0.05, cap), (i as f64 + 0.95, cap)],
                TEXT.stroke_width(2),
            )
        }))?;
        Ok(())
    }
}

impl Figure for ChipletBars<'_> {
    fn size(&self) -> (u32, u32) {
        let n = self.chiplets.len() as u32;
        ((200 + 44 * n).clamp(720, 2400), 720)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let body = titled(root, self.title)?;
        let panels = body.split_evenly((2, 1));
        self.utilisation_panel(&panels[0])?;
        self.sram_panel(&panels[1])?;
        Ok(())
    }
}
