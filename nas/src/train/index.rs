//! Gather indices that turn windowed ops and transposes into one dfdx
//! `gather` over a flattened batch. The activations of a batch of `b`
//! samples are flattened sample-major into `b · n` values, and a few
//! constants are appended after them: index `b · n` is a zero (what
//! convolution and average-pool padding read) and `b · n + 1` a very
//! negative number (what max-pool padding reads, so it never wins).

/// A square window sliding over `[c, h, w]` images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Window {
    /// Output height and width.
    pub fn out_hw(&self) -> (usize, usize) {
        let o = |n: usize| (n + 2 * self.padding - self.kernel) / self.stride + 1;
        (o(self.h), o(self.w))
    }

    /// Output positions per channel.
    pub fn positions(&self) -> usize {
        let (oh, ow) = self.out_hw();
        oh * ow
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Offset within a sample of channel `ch`'s pixel under tap `(ky, kx)`
    /// of output position `(oy, ox)`, or `None` where the tap is padding.
    fn source(&self, ch: usize, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<usize> {
        let y = (oy * self.stride + ky).checked_sub(self.padding)?;
        let x = (ox * self.stride + kx).checked_sub(self.padding)?;
        (y < self.h && x < self.w).then(|| (ch * self.h + y) * self.w + x)
    }
}

/// Index of the appended zero for a batch of `batch` samples of `n` values.
pub(crate) fn zero_at(batch: usize, n: usize) -> usize {
    batch * n
}

/// Index of the appended very negative value.
pub(crate) fn negative_at(batch: usize, n: usize) -> usize {
    batch * n + 1
}

/// im2col for a grouped convolution: layout `[group][sample][oy][ox]
/// [channel in group][ky][kx]`, so that the gathered values reshape to
/// `(groups, batch · positions, c/groups · k · k)` and multiply a
/// `(groups, c/groups · k · k, out/groups)` weight.
pub(crate) fn conv_patches(win: &Window, groups: usize, batch: usize) -> Vec<usize> {
    let (oh, ow) = win.out_hw();
    let (k, cg, n) = (win.kernel, win.c / groups, win.sample_len());
    let pad = zero_at(batch, n);
    let mut idx = Vec::with_capacity(groups * batch * oh * ow * cg * k * k);
    for g in 0..groups {
        for s in 0..batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ci in 0..cg {
                        for ky in 0..k {
                            for kx in 0..k {
                                idx.push(
                                    win.source(g * cg + ci, oy, ox, ky, kx)
                                        .map_or(pad, |o| s * n + o),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    idx
}

/// Pooling windows: layout `[sample][channel][oy][ox][ky][kx]`, so that the
/// gathered values reshape to `(batch · c · positions, k · k)` and reduce
/// over the last axis into the pooled `[c, oh, ow]` layout. Padding reads
/// the appended zero or, for `max`, the very negative value.
pub(crate) fn pool_windows(win: &Window, batch: usize, max: bool) -> Vec<usize> {
    let (oh, ow) = win.out_hw();
    let (k, n) = (win.kernel, win.sample_len());
    let pad = if max {
        negative_at(batch, n)
    } else {
        zero_at(batch, n)
    };
    let mut idx = Vec::with_capacity(batch * win.c * oh * ow * k * k);
    for s in 0..batch {
        for ch in 0..win.c {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ky in 0..k {
                        for kx in 0..k {
                            idx.push(win.source(ch, oy, ox, ky, kx).map_or(pad, |o| s * n + o));
                        }
                    }
                }
            }
        }
    }
    idx
}

/// Row-major strides of a shape.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        st[i] = st[i + 1] * shape[i + 1];
    }
    st
}

/// Gather indices of an axis permutation of per-sample `shape` (output axis
/// `i` is input axis `perm[i]`), for a batch of `batch` samples.
pub(crate) fn transpose(shape: &[usize], perm: &[usize], batch: usize) -> Vec<usize> {
    let n: usize = shape.iter().product();
    let in_strides = strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    // Stride in the input of each output axis.
    let step: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let mut per_sample: Vec<usize> = Vec::with_capacity(n);
    let mut at = vec![0usize; shape.len()];
    for _ in 0..n {
        per_sample.push(at.iter().zip(&step).map(|(i, s)| i * s).sum());
        // Advance the output multi-index, last axis fastest.
        for ax in (0..at.len()).rev() {
            at[ax] += 1;
            if at[ax] < out_shape[ax] {
                break;
            }
            at[ax] = 0;
        }
    }
    (0..batch)
        .flat_map(|s| per_sample.iter().map(move |o| s * n + o))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_patches_read_padding_from_the_zero_and_pixels_in_order() {
        // One 1×3×3 image, 3×3 kernel, padding 1: the centre output's patch
        // is the whole image; the corner's has five padding taps.
        let win = Window {
            c: 1,
            h: 3,
            w: 3,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let idx = conv_patches(&win, 1, 2);
        assert_eq!(idx.len(), 2 * 9 * 9);
        let centre = &idx[4 * 9..5 * 9];
        assert_eq!(centre, &[0, 1, 2, 3, 4, 5, 6, 7, 8]);
        let z = zero_at(2, 9);
        assert_eq!(&idx[..9], &[z, z, z, z, 0, 1, z, 3, 4]);
        // Sample 1's centre is offset by one sample.
        let centre1 = &idx[(9 + 4) * 9..(9 + 5) * 9];
        assert_eq!(centre1, &[9, 10, 11, 12, 13, 14, 15, 16, 17]);
    }

    #[test]
    fn grouped_patches_read_only_their_groups_channels() {
        // Two channels in two groups, 1×1 kernel on 1×2 images.
        let win = Window {
            c: 2,
            h: 1,
            w: 2,
            kernel: 1,
            stride: 1,
            padding: 0,
        };
        // [group][sample][pos][ci]: group 0 reads channel 0, group 1 channel 1.
        assert_eq!(conv_patches(&win, 2, 1), vec![0, 1, 2, 3]);
    }

    #[test]
    fn strided_max_pool_windows_use_the_negative_padding() {
        let win = Window {
            c: 1,
            h: 3,
            w: 3,
            kernel: 2,
            stride: 2,
            padding: 1,
        };
        assert_eq!(win.out_hw(), (2, 2));
        let idx = pool_windows(&win, 1, true);
        let neg = negative_at(1, 9);
        assert_eq!(&idx[..4], &[neg, neg, neg, 0]);
        assert_eq!(&idx[12..], &[4, 5, 7, 8]);
        let avg = pool_windows(&win, 1, false);
        assert_eq!(&avg[..4], &[9, 9, 9, 0]);
    }

    #[test]
    fn transpose_moves_axes() {
        // [2, 3] → [3, 2].
        assert_eq!(transpose(&[2, 3], &[1, 0], 1), vec![0, 3, 1, 4, 2, 5]);
        // Identity on a batch of two.
        assert_eq!(transpose(&[2], &[0], 2), vec![0, 1, 2, 3]);
        // [2, 1, 2] with perm [2, 0, 1]: output [2, 2, 1].
        assert_eq!(transpose(&[2, 1, 2], &[2, 0, 1], 1), vec![0, 2, 1, 3]);
    }
}
