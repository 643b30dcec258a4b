//! Plots of simulation results, written as SVG (the default) or PNG files:
//! per-chiplet utilisation and SRAM bars, pipeline Gantt charts, and line plots
//! of a metric against a swept parameter (also used for learning curves and
//! Pareto fronts).
//!
//! Plain data comes in and a file goes out; every error names the file.
//!
//! Fonts: no font is ever looked up on the machine. Layout (how wide a label is,
//! so that margins fit it) is measured with DejaVu Sans, embedded in the binary
//! by the `dejavu` crate and handed to plotters' `ab_glyph` renderer. In SVG the
//! text stays text (`<text font-family="sans-serif">`), drawn by whatever reads
//! the file; in PNG the same embedded font rasterises it. Neither needs
//! fontconfig or freetype, at build time or at run time.
//!
//! Determinism: the same input gives byte-identical files. plotters' SVG writer
//! emits no ids, timestamps or random values, our layout depends only on the
//! input, and the PNG encoder is deterministic.
//!
//! Empty input is not an error: a plot with nothing to show is still written,
//! with its title, axes and a "no data" note, so a run that plots every result
//! never fails, or leaves a hole, because one of them was empty. Input that
//! cannot be drawn truthfully (a NaN or infinite value, a non-positive value on
//! a log axis, a trace slice on a chiplet that does not exist) is an error.

use std::path::Path;

use sim::report::{SimReport, Trace};

mod axes;
mod bars;
mod error;
mod gantt;
mod lines;
mod look;
mod render;
#[cfg(test)]
mod tests;

pub use error::{BadInput, LogAxis, PlotError};

use bars::ChipletBars;
use gantt::Gantt;
use lines::Lines;
use render::render;

/// The file format of a plot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics; text stays text. The default.
    #[default]
    Svg,
    /// A bitmap with text rasterised from the embedded font.
    Png,
}

/// One line of a line plot: a name for the legend and points joined in the
/// order given; `invalid` points (e.g. sweep points whose placement breaks a
/// constraint) are drawn in the series' colour as hollow markers, not
/// joined, and the legend explains them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub invalid: Vec<(f64, f64)>,
}

/// How a line plot is labelled and scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinePlot<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// Logarithmic x axis; every x must then be positive.
    pub log_x: bool,
    /// Logarithmic y axis; every y must then be positive.
    pub log_y: bool,
    /// Mark each point (a different marker shape per series), not only the line.
    pub markers: bool,
}

/// Per-chiplet utilisation (bars, %) and SRAM peak against capacity (bars in
/// MiB, resident weights and peak activations stacked, capacity marked, any
/// overflow in red): one figure with two panels, chiplets on the x axis
/// labelled `c0`, `c1`, ... by id.
pub fn chiplet_bars(
    report: &SimReport,
    title: &str,
    path: &Path,
    format: Format,
) -> Result<(), PlotError> {
    render(
        &ChipletBars {
            chiplets: &report.chiplets,
            title,
        },
        path,
        format,
    )
}

/// Pipeline Gantt chart of the first `max_microbatches` micro-batches: one row
/// per chiplet (all `n_chiplets` of them, idle ones too), then one per link and
/// the off-package memory when they carry traffic, a rectangle per slice
/// coloured by micro-batch (colours repeat after ten), time in cycles. Op
/// names are written inside the bars wide enough for them; runs of touching
/// slices too narrow to tell apart are drawn as one rectangle. The input is
/// bounded by the trace's own cap (`sim::report::MAX_TRACE_SLICES`), and the
/// figure keeps to a bounded number of elements (narrow runs merged).
pub fn gantt(
    trace: &Trace,
    n_chiplets: usize,
    max_microbatches: u32,
    title: &str,
    path: &Path,
    format: Format,
) -> Result<(), PlotError> {
    let figure =
        Gantt::new(trace, n_chiplets, max_microbatches, title).map_err(|e| bad(path, e))?;
    render(&figure, path, format)
}

/// A metric against a swept parameter: one line per series (e.g. per chip
/// count) with its points marked; x on a log scale when `log_x`.
pub fn metric_vs_param(
    series: &[Series],
    x_label: &str,
    y_label: &str,
    title: &str,
    log_x: bool,
    path: &Path,
    format: Format,
) -> Result<(), PlotError> {
    let plot = LinePlot {
        title,
        x_label,
        y_label,
        log_x,
        log_y: false,
        markers: true,
    };
    line_plot(series, &plot, path, format)
}

/// Lines through points, one per series, with a legend of the series names
/// when any is named: the general form of [`metric_vs_param`], for learning
/// curves and Pareto fronts.
pub fn line_plot(
    series: &[Series],
    plot: &LinePlot,
    path: &Path,
    format: Format,
) -> Result<(), PlotError> {
    let figure = Lines::new(series, plot).map_err(|e| bad(path, e))?;
    render(&figure, path, format)
}

/// A refusal of the input, naming the plot's file.
fn bad(path: &Path, problem: BadInput) -> PlotError {
    PlotError::BadInput {
        path: path.to_path_buf(),
        problem,
    }
}
