//! Rendering a figure: in memory on plotters' SVG or bitmap backend, the
//! bitmap encoded as PNG, then written atomically; and the embedded font
//! every text style uses.

use std::error::Error;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::Format;
use super::error::PlotError;

pub(super) type DrawResult<T = ()> = Result<T, Box<dyn Error>>;

/// A figure that can be drawn on any plotters backend.
pub(super) trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Renders in memory, then writes the file atomically.
pub(super) fn render(figure: &impl Figure, path: &Path, format: Format) -> Result<(), PlotError> {
    let bytes = embedded_font()
        .and_then(|()| match format {
            Format::Svg => render_svg(figure),
            Format::Png => render_png(figure),
        })
        .map_err(|e| PlotError::Draw {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    crate::files::write_atomic(path, &bytes).map_err(PlotError::Write)
}

pub(super) fn render_svg(figure: &impl Figure) -> DrawResult<Vec<u8>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        figure.draw(&root)?;
        root.present()?;
    }
    Ok(svg.into_bytes())
}

pub(super) fn render_png(figure: &impl Figure) -> DrawResult<Vec<u8>> {
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
pub(super) const FONT: &str = "sans-serif";

/// Registers the embedded font with plotters once per process. plotters'
/// `ab_glyph` backend keeps a global font table and finds nothing else.
pub(super) fn embedded_font() -> DrawResult {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font did not load".into())
    }
}
