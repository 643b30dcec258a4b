//! The look shared by every plot: colours, text sizes, the title, headings
//! with legends, legend swatches, point markers and the "no data" note.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::render::{DrawResult, FONT};

pub(super) const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub(super) const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
pub(super) const MUTED: RGBColor = RGBColor(0x88, 0x88, 0x88);
/// Tableau 10: distinct, colour-blind-aware categorical colours.
pub(super) const PALETTE: [RGBColor; 10] = [
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
pub(super) const WEIGHTS: RGBColor = PALETTE[0];
pub(super) const ACTIVATIONS: RGBColor = RGBColor(0xA0, 0xCB, 0xE8);
pub(super) const OVERFLOW: RGBColor = PALETTE[2];

// Even sizes only: plotters 0.3.7 places each rasterised glyph at
// `size / 2 + top` truncated to a pixel, so an odd size puts a full stop a
// pixel above the baseline in PNG output ("0·5" for "0.5").
pub(super) const TITLE_PX: f64 = 22.0;
pub(super) const HEADING_PX: f64 = 16.0;
pub(super) const DESC_PX: f64 = 16.0;
pub(super) const LABEL_PX: f64 = 14.0;
pub(super) const SMALL_PX: f64 = 12.0;

pub(super) fn text_style(px: f64) -> TextStyle<'static> {
    (FONT, px).into_font().color(&TEXT)
}

pub(super) fn text_at(px: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    text_style(px).pos(Pos::new(h, v))
}

/// Black or white, whichever reads better on `fill`.
pub(super) fn ink_on(fill: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = fill;
    let luma = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    if luma > 150.0 { BLACK } else { WHITE }
}

pub(super) fn text_width<DB: DrawingBackend>(
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
pub(super) enum Swatch {
    None,
    Box(RGBColor),
    Line(RGBColor),
    LineAndMarker(RGBColor, usize),
}

/// Where a header puts its legend.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum LegendAt {
    /// Flush right, as a key to the panel below.
    Right,
    /// Straight after the heading, which introduces it ("micro-batch: ...").
    AfterHeading,
}

/// A horizontal strip on top of a panel: a heading on the left and a legend,
/// on the same line or on a second line when both do not fit on one. Returns
/// the area below the strip.
pub(super) fn header<DB: DrawingBackend>(
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
pub(super) fn draw_swatch<DB: DrawingBackend>(
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
pub(super) fn draw_marker<DB: DrawingBackend>(
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

/// Draws point marker number `shape` hollow (outlined in `colour`, white
/// inside): a point that is shown but does not count, e.g. an invalid one.
pub(super) fn draw_hollow_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    shape: usize,
    colour: RGBColor,
    at: (i32, i32),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (x, y) = at;
    let line = colour.stroke_width(2);
    let inside = WHITE.filled();
    match shape % 5 {
        1 => {
            area.draw(&Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], inside))?;
            area.draw(&Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], line))?;
        }
        2 => {
            let v = vec![(x, y - 6), (x + 6, y + 5), (x - 6, y + 5), (x, y - 6)];
            area.draw(&Polygon::new(v.clone(), inside))?;
            area.draw(&PathElement::new(v, line))?;
        }
        3 => {
            let v = vec![(x, y - 6), (x + 6, y), (x, y + 6), (x - 6, y), (x, y - 6)];
            area.draw(&Polygon::new(v.clone(), inside))?;
            area.draw(&PathElement::new(v, line))?;
        }
        _ => {
            area.draw(&Circle::new(at, 5, inside))?;
            area.draw(&Circle::new(at, 5, line))?;
        }
    }
    Ok(())
}

/// Draws the figure's title at the top, with a margin above it, and returns
/// the area below.
pub(super) fn titled<DB: DrawingBackend>(
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
pub(super) fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> DrawResult
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
