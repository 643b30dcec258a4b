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

use std::error::Error;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use sim::report::{ChipletReport, SimReport, TraceSlice, Track};

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
/// order given.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
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
) -> Result<(), String> {
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
/// slices too narrow to tell apart are drawn as one rectangle.
pub fn gantt(
    slices: &[TraceSlice],
    n_chiplets: usize,
    max_microbatches: u32,
    title: &str,
    path: &Path,
    format: Format,
) -> Result<(), String> {
    let figure = Gantt::new(slices, n_chiplets, max_microbatches, title)
        .map_err(|e| format!("{}: {e}", path.display()))?;
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
) -> Result<(), String> {
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
) -> Result<(), String> {
    let figure = Lines::new(series, plot).map_err(|e| format!("{}: {e}", path.display()))?;
    render(&figure, path, format)
}

// ---------------------------------------------------------------------------
// Rendering

type DrawResult<T = ()> = Result<T, Box<dyn Error>>;

/// A figure that can be drawn on any plotters backend.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Renders in memory, then writes the file atomically.
fn render(figure: &impl Figure, path: &Path, format: Format) -> Result<(), String> {
    let bytes = embedded_font()
        .and_then(|()| match format {
            Format::Svg => render_svg(figure),
            Format::Png => render_png(figure),
        })
        .map_err(|e| format!("{}: cannot draw the plot: {e}", path.display()))?;
    crate::files::write_atomic(path, &bytes).map_err(|e| e.to_string())
}

fn render_svg(figure: &impl Figure) -> DrawResult<Vec<u8>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        figure.draw(&root)?;
        root.present()?;
    }
    Ok(svg.into_bytes())
}

fn render_png(figure: &impl Figure) -> DrawResult<Vec<u8>> {
    let (w, h) = figure.size();
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        figure.draw(&root)?;
        root.present()?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}

/// The family name every text style uses; SVG viewers map it to their own
/// sans-serif font, and plotters maps it to the embedded DejaVu Sans.
const FONT: &str = "sans-serif";

/// Registers the embedded font with plotters once per process. plotters'
/// `ab_glyph` backend keeps a global font table and finds nothing else.
fn embedded_font() -> DrawResult {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font did not load".into())
    }
}

// ---------------------------------------------------------------------------
// Look

const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
const MUTED: RGBColor = RGBColor(0x88, 0x88, 0x88);
/// Tableau 10: distinct, colour-blind-aware categorical colours.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4E, 0x79, 0xA7),
    RGBColor(0xF2, 0x8E, 0x2B),
    RGBColor(0xE1, 0x57, 0x59),
    RGBColor(0x76, 0xB7, 0xB2),
    RGBColor(0x59, 0xA1, 0x4F),
    RGBColor(0xED, 0xC9, 0x48),
    RGBColor(0xB0, 0x7A, 0xA1),
    RGBColor(0xFF, 0x9D, 0xA7),
    RGBColor(0x9C, 0x75, 0x5F),
    RGBColor(0xBA, 0xB0, 0xAC),
];
const WEIGHTS: RGBColor = PALETTE[0];
const ACTIVATIONS: RGBColor = RGBColor(0xA0, 0xCB, 0xE8);
const OVERFLOW: RGBColor = PALETTE[2];

// Even sizes only: plotters 0.3.7 places each rasterised glyph at
// `size / 2 + top` truncated to a pixel, so an odd size puts a full stop a
// pixel above the baseline in PNG output ("0·5" for "0.5").
const TITLE_PX: f64 = 22.0;
const HEADING_PX: f64 = 16.0;
const DESC_PX: f64 = 16.0;
const LABEL_PX: f64 = 14.0;
const SMALL_PX: f64 = 12.0;

fn text_style(px: f64) -> TextStyle<'static> {
    (FONT, px).into_font().color(&TEXT)
}

fn text_at(px: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    text_style(px).pos(Pos::new(h, v))
}

/// Black or white, whichever reads better on `fill`.
fn ink_on(fill: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = fill;
    let luma = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    if luma > 150.0 { BLACK } else { WHITE }
}

fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    px: f64,
) -> DrawResult<u32>
where
    DB::ErrorType: 'static,
{
    Ok(area.estimate_text_size(text, &text_style(px))?.0)
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Swatch {
    None,
    Box(RGBColor),
    Line(RGBColor),
    LineAndMarker(RGBColor, usize),
}

/// Where a header puts its legend.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LegendAt {
    /// Flush right, as a key to the panel below.
    Right,
    /// Straight after the heading, which introduces it ("micro-batch: ...").
    AfterHeading,
}

/// A horizontal strip on top of a panel: a heading on the left and a legend,
/// on the same line or on a second line when both do not fit on one. Returns
/// the area below the strip.
fn header<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: &str,
    legend: &[(String, Swatch)],
    at: LegendAt,
) -> DrawResult<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    const LINE_PX: i32 = 26;
    const PAD: i32 = 16;
    const GAP: i32 = 14;
    let (w, _) = area.dim_in_pixel();
    let w = w as i32;
    let heading_w = if heading.is_empty() {
        0
    } else {
        text_width(area, heading, HEADING_PX)? as i32
    };
    let mut legend_w = 0;
    let mut item_w = Vec::with_capacity(legend.len());
    for (label, _) in legend {
        let iw = 30 + text_width(area, label, LABEL_PX)? as i32;
        item_w.push(iw);
        legend_w += iw + GAP;
    }
    let legend_w = (legend_w - GAP).max(0);
    let two_lines = heading_w > 0 && legend_w > 0 && PAD + heading_w + 2 * GAP + legend_w > w - PAD;
    let height = if two_lines { 2 * LINE_PX } else { LINE_PX };
    let (strip, rest) = area.split_vertically(height + 4);
    if heading_w > 0 {
        strip.draw_text(
            heading,
            &text_at(HEADING_PX, HPos::Left, VPos::Center),
            (PAD, LINE_PX / 2 + 4),
        )?;
    }
    let y = if two_lines {
        LINE_PX + LINE_PX / 2 + 4
    } else {
        LINE_PX / 2 + 4
    };
    let mut x = match at {
        LegendAt::Right => w - PAD - legend_w,
        LegendAt::AfterHeading if two_lines || heading_w == 0 => PAD,
        LegendAt::AfterHeading => PAD + heading_w + GAP,
    }
    .max(PAD);
    for ((label, swatch), iw) in legend.iter().zip(item_w) {
        draw_swatch(&strip, *swatch, (x, y))?;
        strip.draw_text(
            label,
            &text_at(LABEL_PX, HPos::Left, VPos::Center),
            (x + 28, y),
        )?;
        x += iw + GAP;
    }
    Ok(rest)
}

/// Draws a legend swatch 24 px wide whose left edge is at `x`, centred on `y`.
fn draw_swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    swatch: Swatch,
    (x, y): (i32, i32),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    match swatch {
        Swatch::None => {}
        Swatch::Box(c) => area.draw(&Rectangle::new(
            [(x + 4, y - 7), (x + 20, y + 7)],
            c.filled(),
        ))?,
        Swatch::Line(c) => area.draw(&PathElement::new(
            vec![(x, y), (x + 24, y)],
            c.stroke_width(3),
        ))?,
        Swatch::LineAndMarker(c, shape) => {
            area.draw(&PathElement::new(
                vec![(x, y), (x + 24, y)],
                c.stroke_width(2),
            ))?;
            draw_marker(area, shape, c, (x + 12, y))?;
        }
    }
    Ok(())
}

/// Draws point marker number `shape` (cycling through five shapes) at a pixel.
fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    shape: usize,
    colour: RGBColor,
    at: (i32, i32),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let fill = colour.filled();
    let (x, y) = at;
    match shape % 5 {
        0 => area.draw(&Circle::new(at, 4, fill))?,
        1 => area.draw(&Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], fill))?,
        2 => area.draw(&Polygon::new(
            vec![(x, y - 5), (x + 5, y + 4), (x - 5, y + 4)],
            fill,
        ))?,
        3 => area.draw(&Polygon::new(
            vec![(x, y - 5), (x + 5, y), (x, y + 5), (x - 5, y)],
            fill,
        ))?,
        _ => area.draw(&Cross::new(at, 4, colour.stroke_width(2)))?,
    }
    Ok(())
}

/// Draws the figure's title at the top, with a margin above it, and returns
/// the area below.
fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> DrawResult<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let inner = root.margin(8, 4, 0, 0);
    if title.is_empty() {
        return Ok(inner);
    }
    Ok(inner.titled(title, text_style(TITLE_PX))?)
}

/// Centred grey "no data" note on an empty plotting area.
fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    let style = (FONT, HEADING_PX)
        .into_font()
        .color(&MUTED)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text("no data", &style, (w as i32 / 2, h as i32 / 2))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Axes: every axis is a linear f64 range with explicit tick positions. A log
// axis is a linear axis over log10 of the values, with labels showing 10^v;
// that keeps one coordinate type for all plots.

/// A linear f64 axis whose ticks (and grid lines) are exactly `ticks`.
/// plotters' own `WithKeyPoints` over an f64 range keeps that range's
/// formatting option, which does not accept a label formatter.
struct Axis {
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

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

fn axis(lo: f64, hi: f64, ticks: Vec<f64>) -> Axis {
    Axis {
        linear: (lo..hi).into(),
        ticks,
    }
}

/// Round tick positions (steps of 1, 2 or 5 times a power of ten), at most
/// `max_n` of them, inside `lo..=hi`.
fn nice_ticks(lo: f64, hi: f64, max_n: usize) -> Vec<f64> {
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
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
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
fn compact(v: f64) -> String {
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
fn swept_label(x: f64) -> String {
    let r = x.round();
    if (x - r).abs() <= 1e-9 * x.abs().max(1.0) && r.abs() < 1e6 {
        format!("{r:.0}")
    } else {
        compact(x)
    }
}

fn scale_for(magnitude: f64) -> (f64, &'static str) {
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

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Labels for evenly spaced ticks: one scale suffix for the whole axis and as
/// many decimals as the step needs, so labels line up (0, 2.5k, 5k, 7.5k).
fn linear_labels(ticks: &[f64]) -> impl Fn(&f64) -> String + use<> {
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
fn widest<DB: DrawingBackend>(
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
struct AxesSpec<'f> {
    x: (f64, f64, Vec<f64>),
    y: (f64, f64, Vec<f64>),
    x_fmt: &'f dyn Fn(&f64) -> String,
    y_fmt: &'f dyn Fn(&f64) -> String,
    x_desc: &'f str,
    y_desc: &'f str,
    x_grid: bool,
}

/// Builds a chart with label areas sized to the labels it will show, draws
/// the grid, axes and labels, and returns it for the data.
fn build_chart<'a, DB: DrawingBackend>(
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

// ---------------------------------------------------------------------------
// Chiplet bars

struct ChipletBars<'a> {
    chiplets: &'a [ChipletReport],
    title: &'a str,
}

const MIB: f64 = 1024.0 * 1024.0;

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

// ---------------------------------------------------------------------------
// Gantt chart

struct Gantt<'a> {
    title: &'a str,
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
    fn new(
        slices: &'a [TraceSlice],
        n_chiplets: usize,
        max_microbatches: u32,
        title: &'a str,
    ) -> Result<Self, String> {
        let kept: Vec<&TraceSlice> = slices
            .iter()
            .filter(|s| s.microbatch < max_microbatches)
            .collect();
        let mut rows: Vec<Track> = (0..n_chiplets as u32).map(Track::Chiplet).collect();
        for s in &kept {
            match s.track {
                Track::Chiplet(c) if c as usize >= n_chiplets => {
                    return Err(format!(
                        "trace slice \"{}\" is on chiplet {c} but the package has {n_chiplets} chiplets",
                        s.name
                    ));
                }
                Track::Chiplet(_) => {}
                other => rows.push(other),
            }
            if s.end_cycle < s.start_cycle {
                return Err(format!(
                    "trace slice \"{}\" ends at cycle {} before it starts at cycle {}",
                    s.name, s.end_cycle, s.start_cycle
                ));
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

const ROW_PX: u32 = 26;

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
        let area = header(&body, heading, &legend, LegendAt::AfterHeading)?;

        let n_rows = self.rows.len();
        // A little room after the last slice so that it does not touch the frame.
        let end = if self.end_cycle > 0 {
            self.end_cycle as f64 * 1.02
        } else {
            1.0
        };
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
        let mut chart = build_chart(&area, &spec)?;
        if self.slices.is_empty() {
            return no_data(&chart.plotting_area().strip_coord_spec());
        }
        // A rule between the chiplet rows and the link and memory rows.
        if self.n_chiplet_rows > 0 && self.n_chiplet_rows < n_rows {
            let y = (n_rows - self.n_chiplet_rows) as f64;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, y), (end, y)],
                MUTED.stroke_width(1),
            )))?;
        }
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
            // Op names inside the bars that are wide enough for them.
            if matches!(s.track, Track::Chiplet(_)) && width_px >= 24 {
                let name_px = plot_area
                    .estimate_text_size(&s.name, &text_style(SMALL_PX))?
                    .0 as i32;
                if name_px + 8 <= width_px {
                    let style = (FONT, SMALL_PX)
                        .into_font()
                        .color(&ink_on(colour))
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    let at = ((x0 + x1) / 2.0, self.row_y(r) + 0.5);
                    labels.push(Text::new(s.name.clone(), at, style));
                }
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
}

// ---------------------------------------------------------------------------
// Line plots

struct Lines<'a> {
    plot: LinePlot<'a>,
    series: &'a [Series],
    /// Points in axis space (log10 applied where the axis is logarithmic).
    points: Vec<Vec<(f64, f64)>>,
}

impl<'a> Lines<'a> {
    fn new(series: &'a [Series], plot: &LinePlot<'a>) -> Result<Self, String> {
        let mut points = Vec::with_capacity(series.len());
        for s in series {
            let mut out = Vec::with_capacity(s.points.len());
            for (i, &(x, y)) in s.points.iter().enumerate() {
                let at = || format!("series \"{}\", point {i} ({x}, {y})", s.name);
                if !x.is_finite() || !y.is_finite() {
                    return Err(format!(
                        "{}: every coordinate must be a finite number",
                        at()
                    ));
                }
                if plot.log_x && x <= 0.0 {
                    return Err(format!(
                        "{}: x must be positive on a log-scale x axis",
                        at()
                    ));
                }
                if plot.log_y && y <= 0.0 {
                    return Err(format!(
                        "{}: y must be positive on a log-scale y axis",
                        at()
                    ));
                }
                let tx = if plot.log_x { x.log10() } else { x };
                let ty = if plot.log_y { y.log10() } else { y };
                out.push((tx, ty));
            }
            points.push(out);
        }
        Ok(Lines {
            plot: *plot,
            series,
            points,
        })
    }

    /// The padded range of one coordinate over every point.
    fn range(&self, coord: impl Fn(&(f64, f64)) -> f64, log: bool) -> Option<(f64, f64)> {
        let mut it = self.points.iter().flatten().map(coord);
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
        let mut xs: Vec<f64> = self.points.iter().flatten().map(|p| p.0).collect();
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
        let named = self.series.iter().any(|s| !s.name.is_empty());
        let area = if named {
            let names: Vec<String> = self.series.iter().map(|s| shorten(&s.name, 36)).collect();
            let legend_w =
                (widest(&body, names.iter().cloned())? + 56).min(body.dim_in_pixel().0 / 3);
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
                legend_area.draw_text(
                    name,
                    &text_at(LABEL_PX, HPos::Left, VPos::Center),
                    (34, y),
                )?;
            }
            chart_area
        } else {
            body
        };

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
        let mut chart = build_chart(&area, &spec)?;
        if empty {
            return no_data(&chart.plotting_area().strip_coord_spec());
        }
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
        }
        Ok(())
    }
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars()
            .take(max - 1)
            .chain(std::iter::once('…'))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    /// A fresh directory for one test's files.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tessera-plots-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A 2-layer BERT on the 4-chiplet ring, simulated with a trace.
    fn simulated() -> sim::SimOutput {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../hw_specs/edgetpu_ring4.toml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let spec = sim::spec::HwSpec::from_toml_str(&text, path).unwrap();
        let params = BTreeMap::from([("layers".to_string(), "2".to_string())]);
        let graph = sim::zoo::build("bert-base", &params).unwrap();
        let placement = sim::Placement::contiguous_balanced(&spec, &graph);
        let options = sim::SimOptions {
            trace: true,
            ..Default::default()
        };
        sim::simulate(&spec, &graph, &placement, &options).unwrap()
    }

    /// Whether the SVG has a `<text>` element reading exactly `label`.
    fn has_label(svg: &str, label: &str) -> bool {
        svg.contains(&format!(">\n{label}\n</text>"))
    }

    fn svg_text(path: &Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(200)]);
        assert!(text.trim_end().ends_with("</svg>"));
        text
    }

    /// Renders twice into different files and checks the bytes agree.
    fn assert_deterministic(dir: &Path, draw: impl Fn(&Path) -> Result<(), String>) -> Vec<u8> {
        let (a, b) = (dir.join("a"), dir.join("b"));
        draw(&a).unwrap();
        draw(&b).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap(), "two renders differ");
        bytes
    }

    #[test]
    fn chiplet_bars_label_every_chiplet_and_both_axes() {
        let out = simulated();
        let dir = temp_dir("bars");
        let path = dir.join("bars.svg");
        chiplet_bars(&out.report, "BERT on ring4", &path, Format::Svg).unwrap();
        let svg = svg_text(&path);
        for needle in [
            "BERT on ring4",
            "utilisation (%)",
            "SRAM (MiB)",
            "chiplet",
            "capacity",
            "c0",
            "c3",
        ] {
            assert!(has_label(&svg, needle), "no {needle:?} in the SVG");
        }
        let bytes = assert_deterministic(&dir, |p| chiplet_bars(&out.report, "t", p, Format::Svg));
        assert!(bytes.starts_with(b"<svg"));
    }

    #[test]
    fn gantt_has_a_row_per_chiplet_and_used_link_and_only_the_asked_microbatches() {
        let out = simulated();
        let trace = out.trace.as_ref().unwrap();
        let dir = temp_dir("gantt");
        let path = dir.join("gantt.svg");
        gantt(trace, 4, 2, "pipeline", &path, Format::Svg).unwrap();
        let svg = svg_text(&path);
        for needle in [
            "pipeline",
            "time (cycles)",
            "chiplet 0",
            "chiplet 3",
            "micro-batch:",
            "link 0 (0→1)",
        ] {
            assert!(has_label(&svg, needle), "no {needle:?} in the SVG");
        }
        // Micro-batches 0 and 1 are in the legend; 2 is not drawn.
        let mb2 = format!("fill=\"{}\"", svg_colour(PALETTE[2]));
        assert!(svg.contains(&format!("fill=\"{}\"", svg_colour(PALETTE[1]))));
        assert!(!svg.contains(&mb2), "micro-batch 2 drawn");
        assert_deterministic(&dir, |p| gantt(trace, 4, 2, "pipeline", p, Format::Svg));
    }

    fn svg_colour(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    #[test]
    fn gantt_refuses_a_slice_on_a_chiplet_outside_the_package() {
        let slice = TraceSlice {
            track: Track::Chiplet(7),
            name: "matmul".into(),
            start_cycle: 0,
            end_cycle: 10,
            microbatch: 0,
        };
        let path = temp_dir("gantt-bad").join("g.svg");
        let err = gantt(&[slice], 4, 1, "t", &path, Format::Svg).unwrap_err();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(
            err.contains("chiplet 7") && err.contains("4 chiplets"),
            "{err}"
        );
        assert!(!path.exists());
    }

    fn sweep() -> Vec<Series> {
        vec![
            Series {
                name: "4 chiplets".into(),
                points: vec![(1024.0, 1.5e4), (4096.0, 2.1e4), (16384.0, 2.6e4)],
            },
            Series {
                name: "16 chiplets".into(),
                points: vec![(1024.0, 3.9e4), (4096.0, 6.0e4), (16384.0, 7.7e4)],
            },
        ]
    }

    #[test]
    fn metric_vs_param_labels_axes_series_and_swept_values() {
        let dir = temp_dir("metric");
        let path = dir.join("m.svg");
        let series = sweep();
        metric_vs_param(
            &series,
            "packet size (bytes)",
            "throughput (inf/s)",
            "sweep",
            true,
            &path,
            Format::Svg,
        )
        .unwrap();
        let svg = svg_text(&path);
        for needle in [
            "sweep",
            "packet size (bytes)",
            "throughput (inf/s)",
            "4 chiplets",
            "16 chiplets",
            "1024",
            "16384",
        ] {
            assert!(has_label(&svg, needle), "no {needle:?} in the SVG");
        }
        assert_deterministic(&dir, |p| {
            metric_vs_param(&series, "x", "y", "t", false, p, Format::Svg)
        });
    }

    #[test]
    fn log_axis_refuses_non_positive_values_and_nan_is_refused_everywhere() {
        let path = temp_dir("metric-bad").join("m.svg");
        let zero = vec![Series {
            name: "s".into(),
            points: vec![(0.0, 1.0)],
        }];
        let err = metric_vs_param(&zero, "x", "y", "t", true, &path, Format::Svg).unwrap_err();
        assert!(
            err.contains("series \"s\", point 0") && err.contains("log-scale"),
            "{err}"
        );
        let nan = vec![Series {
            name: "s".into(),
            points: vec![(1.0, f64::NAN)],
        }];
        let err = metric_vs_param(&nan, "x", "y", "t", false, &path, Format::Svg).unwrap_err();
        assert!(err.contains("finite"), "{err}");
        assert!(!path.exists());
    }

    /// Empty input is drawn, not refused: axes, title and a "no data" note.
    #[test]
    fn empty_inputs_give_valid_plots_that_say_no_data() {
        let dir = temp_dir("empty");
        let mut report = simulated().report;
        report.chiplets.clear();
        type Draw<'a> = Box<dyn Fn(&Path) -> Result<(), String> + 'a>;
        let cases: [(&str, Draw); 4] = [
            (
                "bars.svg",
                Box::new(|p| chiplet_bars(&report, "empty bars", p, Format::Svg)),
            ),
            (
                "gantt.svg",
                Box::new(|p| gantt(&[], 4, 8, "empty gantt", p, Format::Svg)),
            ),
            (
                "nothing.svg",
                Box::new(|p| gantt(&[], 0, 0, "no rows", p, Format::Svg)),
            ),
            (
                "lines.svg",
                Box::new(|p| metric_vs_param(&[], "x", "y", "empty lines", true, p, Format::Svg)),
            ),
        ];
        for (name, draw) in cases {
            let path = dir.join(name);
            draw(&path).unwrap();
            let svg = svg_text(&path);
            assert!(has_label(&svg, "no data"), "{name}");
        }
    }

    #[test]
    fn png_output_is_a_deterministic_png() {
        let out = simulated();
        let dir = temp_dir("png");
        let png_magic = b"\x89PNG\r\n\x1a\n";
        let bytes =
            assert_deterministic(&dir, |p| chiplet_bars(&out.report, "bars", p, Format::Png));
        assert!(bytes.starts_with(png_magic));
        let trace = out.trace.as_ref().unwrap();
        let bytes = assert_deterministic(&dir, |p| gantt(trace, 4, 3, "gantt", p, Format::Png));
        assert!(bytes.starts_with(png_magic));
        let series = sweep();
        let bytes = assert_deterministic(&dir, |p| {
            metric_vs_param(&series, "x", "y", "lines", true, p, Format::Png)
        });
        assert!(bytes.starts_with(png_magic));
    }

    /// Renders one example of every plot, in both formats, into the directory
    /// named by TESSERA_PLOT_EXAMPLES, for looking at; does nothing without it.
    #[test]
    fn examples_render_when_asked() {
        let Ok(dir) = std::env::var("TESSERA_PLOT_EXAMPLES") else {
            return;
        };
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = simulated();
        let trace = out.trace.as_ref().unwrap();
        for (ext, format) in [("svg", Format::Svg), ("png", Format::Png)] {
            let at = |name: &str| dir.join(format!("{name}.{ext}"));
            let title = "bert-base (2 layers) on edgetpu_ring4, contiguous placement";
            chiplet_bars(&out.report, title, &at("bars"), format).unwrap();
            gantt(trace, 4, 3, title, &at("gantt"), format).unwrap();
            let series = sweep();
            let x = "packet size (bytes)";
            let y = "throughput (inferences/s)";
            metric_vs_param(
                &series,
                x,
                y,
                "Throughput vs packet size",
                true,
                &at("metric"),
                format,
            )
            .unwrap();
            // A bigger package: 36 chiplets, a 12-layer model.
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hw_specs/simba_6x6.toml");
            let text = std::fs::read_to_string(path).unwrap();
            let spec = sim::spec::HwSpec::from_toml_str(&text, path).unwrap();
            let graph = sim::zoo::build("bert-base", &BTreeMap::new()).unwrap();
            let placement = sim::Placement::contiguous_balanced(&spec, &graph);
            let options = sim::SimOptions {
                trace: true,
                ..Default::default()
            };
            let big = sim::simulate(&spec, &graph, &placement, &options).unwrap();
            let title = "bert-base on simba_6x6";
            chiplet_bars(&big.report, title, &at("bars-big"), format).unwrap();
            let trace = big.trace.as_ref().unwrap();
            gantt(
                trace,
                spec.n_chiplets(),
                12,
                title,
                &at("gantt-big"),
                format,
            )
            .unwrap();
            // A learning curve: many points, log y, no markers.
            let curve = |name: &str, rate: f64| Series {
                name: name.into(),
                points: (0..500)
                    .map(|i| (i as f64, 2.0 * (-rate * i as f64).exp() + 0.01))
                    .collect(),
            };
            let plot = LinePlot {
                title: "Learning curve",
                x_label: "episode",
                y_label: "loss",
                log_x: false,
                log_y: true,
                markers: false,
            };
            let curves = [
                curve("lr 1e-3", 0.01),
                curve("lr 3e-4, a much longer series name", 0.004),
            ];
            line_plot(&curves, &plot, &at("curve"), format).unwrap();
            gantt(&[], 4, 8, "empty gantt", &at("gantt-empty"), format).unwrap();
            metric_vs_param(
                &[],
                "x",
                "y",
                "empty lines",
                false,
                &at("lines-empty"),
                format,
            )
            .unwrap();
        }
    }

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
