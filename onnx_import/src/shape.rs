//! Shape arithmetic of ONNX ops, as pure functions with their own tests:
//! numpy broadcasting, axis normalisation, reshape targets, slice ranges and
//! convolution/pooling windows (explicit pads, `auto_pad`, `ceil_mode`).

use crate::MAX_ELEMENTS;

/// Element count of a shape, `None` if it is over [`MAX_ELEMENTS`].
pub fn numel(shape: &[u64]) -> Option<u64> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
}

/// Numpy (multidirectional) broadcast of two shapes.
pub fn broadcast(a: &[u64], b: &[u64]) -> Option<Vec<u64>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = dim_from_end(a, rank - 1 - i);
        let db = dim_from_end(b, rank - 1 - i);
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Dimension `k` counted from the end (0 = last); missing leading dims are 1.
fn dim_from_end(shape: &[u64], k: usize) -> u64 {
    if k < shape.len() {
        shape[shape.len() - 1 - k]
    } else {
        1
    }
}

/// The flat index into `in_shape` (broadcast to `out_shape`) of the element at
/// flat index `out_idx` of the output.
pub fn broadcast_source(out_idx: usize, out_shape: &[u64], in_shape: &[u64]) -> usize {
    let mut rem = out_idx;
    let mut src = 0usize;
    let mut stride = 1usize;
    for k in 0..out_shape.len() {
        let od = out_shape[out_shape.len() - 1 - k] as usize;
        let pos = rem % od.max(1);
        rem /= od.max(1);
        let id = dim_from_end(in_shape, k) as usize;
        if k < in_shape.len() {
            if id != 1 {
                src += pos * stride;
            }
            stride *= id;
        }
    }
    src
}

/// An axis in `-rank..rank` as an index.
pub fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// The output shape of `Reshape(input, target)`: 0 copies the input dim (unless
/// `allowzero`), -1 is inferred from the element count.
pub fn reshape(input: &[u64], target: &[i64], allowzero: bool) -> Result<Vec<u64>, String> {
    let total = numel(input).ok_or("input is too large")?;
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_some() => {
                return Err(format!("target shape {target:?} has more than one -1"));
            }
            -1 => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => match input.get(i) {
                Some(&d) => out.push(d),
                None => {
                    return Err(format!(
                        "target shape {target:?} copies dim {i} (0) but the input {input:?} has rank {}",
                        input.len()
                    ));
                }
            },
            t if t < 0 => return Err(format!("target shape {target:?} has a negative dim {t}")),
            t => out.push(t as u64),
        }
    }
    let known = numel(&out).ok_or_else(|| format!("target shape {target:?} is too large"))?;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(format!(
                "cannot reshape {input:?} ({total} elements) to {target:?}: {total} is not a multiple of {known}"
            ));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!(
            "cannot reshape {input:?} ({total} elements) to {target:?} ({known} elements)"
        ));
    }
    Ok(out)
}

/// ONNX Slice on one axis of size `dim`: the clamped start and the number of
/// elements taken with `step`.
pub fn slice_range(dim: u64, start: i64, end: i64, step: i64) -> (i64, u64) {
    if dim == 0 {
        return (0, 0);
    }
    let d = i64::try_from(dim).unwrap_or(i64::MAX);
    let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = (fix(start), fix(end));
    if step > 0 {
        let s = s.clamp(0, d);
        let e = e.clamp(0, d);
        let len = if e > s {
            ((e - s) as u64).div_ceil(step as u64)
        } else {
            0
        };
        (s, len)
    } else {
        let s = s.clamp(0, d - 1);
        let e = e.clamp(-1, d - 1);
        let len = if s > e {
            ((s - e) as u64).div_ceil(step.unsigned_abs())
        } else {
            0
        };
        (s, len)
    }
}

/// How a convolution or pooling window pads one spatial dim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

impl AutoPad {
    pub fn parse(s: &str) -> Option<AutoPad> {
        match s {
            "NOTSET" | "" => Some(AutoPad::NotSet),
            "SAME_UPPER" => Some(AutoPad::SameUpper),
            "SAME_LOWER" => Some(AutoPad::SameLower),
            "VALID" => Some(AutoPad::Valid),
            _ => None,
        }
    }
}

/// One spatial dim of a window op: input size, effective kernel
/// (`(k − 1)·dilation + 1`), stride, and the explicit pads (begin, end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub input: u64,
    pub kernel: u64,
    pub stride: u64,
    pub pads: (u64, u64),
}

impl Window {
    /// Output size and the pads actually used, by the ONNX rules for
    /// `auto_pad` and `ceil_mode` (a last window that would start in the end
    /// padding is dropped, as ONNX's reference and PyTorch do).
    pub fn output(self, auto_pad: AutoPad, ceil_mode: bool) -> Result<(u64, (u64, u64)), String> {
        let Window {
            input,
            kernel,
            stride,
            pads,
        } = self;
        if input == 0 {
            return Err("the input has an empty spatial dim".to_string());
        }
        match auto_pad {
            AutoPad::SameUpper | AutoPad::SameLower => {
                let out = input.div_ceil(stride);
                let total =
                    ((out - 1).saturating_mul(stride).saturating_add(kernel)).saturating_sub(input);
                let small = total / 2;
                let pads = if auto_pad == AutoPad::SameUpper {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                Ok((out, pads))
            }
            AutoPad::Valid | AutoPad::NotSet => {
                let pads = if auto_pad == AutoPad::Valid {
                    (0, 0)
                } else {
                    pads
                };
                let padded = input
                    .checked_add(pads.0)
                    .and_then(|p| p.checked_add(pads.1))
                    .filter(|&p| p <= crate::MAX_ELEMENTS)
                    .ok_or_else(|| format!("pads {} and {} are too large", pads.0, pads.1))?;
                if padded < kernel {
                    return Err(format!(
                        "kernel {kernel} is larger than the padded input {padded} ({input} + pads {} and {})",
                        pads.0, pads.1
                    ));
                }
                let span = padded - kernel;
                let mut out = if ceil_mode {
                    span.div_ceil(stride) + 1
                } else {
                    span / stride + 1
                };
                if ceil_mode && (out - 1) * stride >= input + pads.0 {
                    out -= 1;
                }
                Ok((out, pads))
            }
        }
    }
}

/// A symmetric padding `p` for which `(input + 2p − kernel) / stride + 1 ==
/// out` (the IR's form), if one exists. Asymmetric ONNX pads whose total is
/// even map to the same output; an odd total is matched by rounding down when
/// the stride's floor absorbs the difference, else by rounding up.
pub fn symmetric_pad(input: u64, kernel: u64, stride: u64, out: u64) -> Option<u64> {
    // The smallest p with input + 2p − kernel ≥ (out − 1)·stride; a larger p
    // only grows the output, so it is the only candidate.
    let (input, kernel, stride, out) = (
        u128::from(input),
        u128::from(kernel),
        u128::from(stride),
        u128::from(out),
    );
    let need = (out.checked_sub(1)? * stride + kernel).saturating_sub(input);
    let p = need.div_ceil(2);
    let padded = input + 2 * p;
    let ok = padded >= kernel && (padded - kernel) / stride + 1 == out;
    ok.then(|| u64::try_from(p).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy_rules() {
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast(&[2, 3], &[4, 3]), None);
    }

    #[test]
    fn broadcast_source_maps_output_to_input_elements() {
        // [2, 3] output from a [3] input: columns repeat.
        let src: Vec<usize> = (0..6).map(|i| broadcast_source(i, &[2, 3], &[3])).collect();
        assert_eq!(src, [0, 1, 2, 0, 1, 2]);
        // [2, 3] output from a [2, 1] input: rows repeat.
        let src: Vec<usize> = (0..6)
            .map(|i| broadcast_source(i, &[2, 3], &[2, 1]))
            .collect();
        assert_eq!(src, [0, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn reshape_copies_zero_and_infers_minus_one() {
        assert_eq!(reshape(&[2, 3, 4], &[0, -1], false), Ok(vec![2, 12]));
        assert_eq!(reshape(&[2, 3, 4], &[4, 0, -1], false), Ok(vec![4, 3, 2]));
        assert!(reshape(&[2, 3, 4], &[-1, -1], false).is_err());
        assert!(reshape(&[2, 3, 4], &[5, -1], false).is_err());
        assert_eq!(reshape(&[0, 3], &[0, 7], true), Ok(vec![0, 7]));
    }

    #[test]
    fn slice_range_clamps_like_onnx() {
        assert_eq!(slice_range(10, 0, i64::MAX, 1), (0, 10));
        assert_eq!(slice_range(10, -3, i64::MAX, 1), (7, 3));
        assert_eq!(slice_range(10, 1, 8, 3), (1, 3));
        assert_eq!(slice_range(10, -1, i64::MIN, -1), (9, 10));
        assert_eq!(slice_range(10, 5, 2, 1), (5, 0));
    }

    #[test]
    fn windows_follow_auto_pad_and_ceil_mode() {
        let w = |input, kernel, stride, pads| Window {
            input,
            kernel,
            stride,
            pads,
        };
        // ResNet stem: 224, k7 s2 p3 -> 112; max pool k3 s2 p1 -> 56.
        assert_eq!(
            w(224, 7, 2, (3, 3)).output(AutoPad::NotSet, false),
            Ok((112, (3, 3)))
        );
        assert_eq!(
            w(112, 3, 2, (1, 1)).output(AutoPad::NotSet, false),
            Ok((56, (1, 1)))
        );
        // SAME_UPPER puts the odd pad at the end, SAME_LOWER at the start.
        assert_eq!(
            w(224, 3, 2, (0, 0)).output(AutoPad::SameUpper, false),
            Ok((112, (0, 1)))
        );
        assert_eq!(
            w(224, 3, 2, (0, 0)).output(AutoPad::SameLower, false),
            Ok((112, (1, 0)))
        );
        assert_eq!(
            w(7, 3, 2, (9, 9)).output(AutoPad::Valid, false),
            Ok((3, (0, 0)))
        );
        // ceil_mode rounds up, but never starts a window in the end padding.
        assert_eq!(
            w(6, 3, 2, (0, 0)).output(AutoPad::NotSet, false),
            Ok((2, (0, 0)))
        );
        assert_eq!(
            w(6, 3, 2, (0, 0)).output(AutoPad::NotSet, true),
            Ok((3, (0, 0)))
        );
        assert_eq!(
            w(5, 2, 2, (0, 1)).output(AutoPad::NotSet, true),
            Ok((3, (0, 1)))
        );
        assert!(w(2, 5, 1, (0, 0)).output(AutoPad::NotSet, false).is_err());
    }

    #[test]
    fn symmetric_pad_reproduces_the_output_size() {
        assert_eq!(symmetric_pad(224, 7, 2, 112), Some(3));
        // SAME_UPPER 224 -> 112 with k3 s2 pads (0, 1): symmetric 0 gives 111, 1 gives 112.
        assert_eq!(symmetric_pad(224, 3, 2, 112), Some(1));
        // Odd total pad at stride 1 has no symmetric equivalent.
        assert_eq!(symmetric_pad(4, 2, 1, 4), None);
    }
}
