//! The steady-state interval of a run, from its micro-batch completion times.
//!
//! A pipeline run has three regimes: the fill (the first micro-batches meet an
//! empty pipeline), the periodic regime, and the drain (the last micro-batches
//! no longer share links and slots with later ones, so they finish faster
//! than the regime's period). Measured on BERT-base (seq 64) on
//! `edgetpu_ring8` over 64 micro-batches, the completion intervals are
//! periodic after about six micro-batches and shorten again over the last
//! four; the old estimate, the mean interval over the later half, mixed the
//! drain in and overstated throughput by about 1.5× at 8 micro-batches.
//!
//! The estimate here is the mean interval over the middle half of the
//! completions, away from both ends: with `q = ⌊M/8⌋`, `(c[6q] − c[2q]) / 4q`.
//! It is *converged* when each of the four windows of `q` micro-batches that
//! make up that half has a mean interval within the tolerance of the
//! estimate. (Comparing only two halves is not enough: a fill at one end and
//! a drain at the other can pull both halves by the same amount — on the
//! BERT case above, 16 micro-batches gave two halves that agreed within
//! 0.1 % on an estimate 1.7 % off.) A regime with a period of several
//! micro-batches converges once a window averages enough periods. Fewer than
//! eight micro-batches never count as converged: four to seven give the mean
//! over their middle half (two windows of `⌊M/4⌋`), two or three the mean
//! interval over the later half, one its latency.

/// The steady-state interval and whether it converged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Estimate {
    pub interval_cycles: f64,
    pub converged: bool,
    pub microbatches: u32,
    /// The tolerance applied, as a fraction (0.01 is 1 %), if one was.
    pub tolerance: f64,
}

/// The estimate from completion times (in any order); `tolerance_ppm` parts
/// per million decide convergence (1 % when `None`, for a fixed run).
pub(super) fn estimate(completions: &[u64], tolerance_ppm: Option<u32>) -> Estimate {
    let mut c = completions.to_vec();
    c.sort_unstable();
    let m = c.len();
    let tolerance = f64::from(tolerance_ppm.unwrap_or(10_000)) / 1e6;
    let (interval_cycles, converged) = match m {
        0 => (0.0, false),
        1 => (c[0] as f64, false),
        2 | 3 => {
            let h = m / 2;
            ((c[m - 1] - c[h - 1]) as f64 / (m - h) as f64, false)
        }
        _ => {
            // `windows` windows of `q` micro-batches from completion `start`.
            let (windows, q) = if m >= 8 { (4, m / 8) } else { (2, m / 4) };
            let start = if m >= 8 { 2 * q } else { q };
            let end = start + windows * q;
            let mean = (c[end] - c[start]) as f64 / (windows * q) as f64;
            // Four windows of at least one micro-batch each are the least
            // that tells a periodic regime from a fill and a drain.
            let converged = m >= 8
                && (0..windows).all(|w| {
                    let (a, b) = (c[start + w * q], c[start + (w + 1) * q]);
                    let window = (b - a) as f64 / q as f64;
                    (window - mean).abs() <= tolerance * mean
                });
            (mean, converged)
        }
    };
    Estimate {
        interval_cycles,
        converged,
        microbatches: m as u32,
        tolerance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Completion times with a fill of `fill` slow intervals, a period of
    /// 100, and a drain of `drain` fast ones.
    fn run(m: usize, fill: usize, drain: usize) -> Vec<u64> {
        let mut t = 0;
        (0..m)
            .map(|i| {
                t += if i < fill {
                    60
                } else if i >= m - drain {
                    40
                } else {
                    100
                };
                t
            })
            .collect()
    }

    #[test]
    fn the_middle_half_skips_fill_and_drain() {
        let e = estimate(&run(32, 5, 4), Some(10_000));
        assert_eq!(e.interval_cycles, 100.0);
        assert!(e.converged);
        // The later-half mean would have been pulled down by the drain.
        let c = run(32, 5, 4);
        assert!(((c[31] - c[15]) as f64 / 16.0) < 90.0);
    }

    #[test]
    fn a_run_too_short_for_its_transients_is_not_converged() {
        let e = estimate(&run(8, 5, 4), Some(10_000));
        assert!(!e.converged, "{e:?}");
        // Fill and drain that pull both halves of the middle alike are
        // still caught by the windows.
        let e = estimate(&run(16, 6, 4), Some(10_000));
        assert!(!e.converged, "{e:?}");
    }

    #[test]
    fn a_period_of_two_converges_once_quarters_hold_whole_periods() {
        // Intervals alternate 50, 150: period 2, mean 100.
        let c: Vec<u64> = (0..16u64)
            .map(|i| i * 100 + if i % 2 == 1 { 50 } else { 0 })
            .collect();
        let e = estimate(&c, Some(10_000));
        assert_eq!(e.interval_cycles, 100.0);
        assert!(e.converged);
    }

    #[test]
    fn few_microbatches_are_never_converged() {
        assert_eq!(estimate(&[500], None).interval_cycles, 500.0);
        assert!(!estimate(&[500], None).converged);
        let e = estimate(&[100, 250, 400], None);
        assert_eq!(e.interval_cycles, 150.0);
        assert!(!e.converged);
    }
}
