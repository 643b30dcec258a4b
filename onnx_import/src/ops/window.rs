//! What convolution and pooling share: their window attributes (`strides`,
//! `dilations`, `pads`, `auto_pad`) read and checked, and the 2-D view of a
//! 1-D window that the IR's 2-D ops need.

use crate::reader::Attrs;
use crate::shape::{AutoPad, Window};
use crate::value::{R, a, invalid, limit};

/// A window op's effective (dilated) kernel, strides, pads (all begins, then
/// all ends) and `auto_pad`.
pub type WindowAttrs = (Vec<u64>, Vec<u64>, Vec<u64>, AutoPad);

/// The window attributes of a node with `spatial` window dims and `kernel`
/// (every size at least 1).
pub fn window_attrs(attrs: &Attrs<'_>, spatial: usize, kernel: &[u64]) -> R<WindowAttrs> {
    let positive = |name: &str, default: u64| -> R<Vec<u64>> {
        match a(attrs.ints(name))? {
            None => Ok(vec![default; spatial]),
            Some(v) if v.len() == spatial && v.iter().all(|&d| d >= 1) => {
                Ok(v.iter().map(|&d| d as u64).collect())
            }
            Some(v) => Err(invalid(format!(
                "{name} {v:?} must be {spatial} positive values"
            ))),
        }
    };
    let strides = positive("strides", 1)?;
    let dilations = positive("dilations", 1)?;
    let pads = match a(attrs.ints("pads"))? {
        None => vec![0; 2 * spatial],
        Some(v) if v.len() == 2 * spatial && v.iter().all(|&d| d >= 0) => {
            v.iter().map(|&d| d as u64).collect()
        }
        Some(v) => Err(invalid(format!(
            "pads {v:?} must be {} non-negative values",
            2 * spatial
        )))?,
    };
    let auto = a(attrs.string("auto_pad"))?.unwrap_or_default();
    let auto_pad = AutoPad::parse(&auto).ok_or_else(|| {
        invalid(format!(
            "auto_pad {auto:?} is not NOTSET, SAME_UPPER, SAME_LOWER or VALID"
        ))
    })?;
    let eff: Vec<u64> = kernel
        .iter()
        .zip(&dilations)
        .map(|(&k, &d)| {
            (k - 1)
                .checked_mul(d)
                .and_then(|v| v.checked_add(1))
                .ok_or_else(|| limit("dilated kernel overflows"))
        })
        .collect::<R<_>>()?;
    Ok((eff, strides, pads, auto_pad))
}

/// A 1-D window's sizes as 2-D ones over a height of `fill` (the IR's
/// convolution and pooling are 2-D); 2-D sizes as they are.
pub fn two(v: &[u64], fill: u64) -> [u64; 2] {
    if v.len() == 1 {
        [fill, v[0]]
    } else {
        [v[0], v[1]]
    }
}

/// Each spatial dim's output size and the pads it uses (begin, end) for an
/// input of shape `[N, C, spatial…]` under `attrs`, rounding up with `ceil`.
pub fn window_outputs(input: &[u64], attrs: &WindowAttrs, ceil: bool) -> R<Vec<(u64, (u64, u64))>> {
    let (eff, strides, pads, auto_pad) = attrs;
    let spatial = eff.len();
    (0..spatial)
        .map(|d| {
            let win = Window {
                input: input[2 + d],
                kernel: eff[d],
                stride: strides[d],
                pads: (pads[d], pads[d + spatial]),
            };
            win.output(*auto_pad, ceil)
                .map_err(|m| invalid(format!("spatial dim {d}: {m}")))
        })
        .collect()
}
