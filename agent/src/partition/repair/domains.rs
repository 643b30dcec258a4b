//! The positions each op may still take during repair: one bit set per op,
//! flat, so that a branch-and-bound node copies in one allocation.

/// Allowed pipeline positions `0 .. k` for each of `n` ops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Domains {
    k: usize,
    words: usize,
    bits: Vec<u64>,
}

impl Domains {
    /// Every op may take every position.
    pub(crate) fn full(n: usize, k: usize) -> Domains {
        let words = k.div_ceil(64);
        let mut bits = vec![0u64; n * words];
        for v in 0..n {
            for i in 0..k {
                bits[v * words + i / 64] |= 1 << (i % 64);
            }
        }
        Domains { k, words, bits }
    }

    pub(crate) fn n_positions(&self) -> usize {
        self.k
    }

    pub(crate) fn allows(&self, v: usize, i: usize) -> bool {
        self.bits[v * self.words + i / 64] >> (i % 64) & 1 == 1
    }

    pub(crate) fn remove(&mut self, v: usize, i: usize) {
        self.bits[v * self.words + i / 64] &= !(1 << (i % 64));
    }

    /// Keeps only position `i` for op `v`.
    pub(crate) fn fix(&mut self, v: usize, i: usize) {
        let row = &mut self.bits[v * self.words..(v + 1) * self.words];
        row.fill(0);
        row[i / 64] |= 1 << (i % 64);
    }

    /// Keeps only positions below `end` for op `v`.
    pub(crate) fn keep_below(&mut self, v: usize, end: usize) {
        for i in end..self.k {
            self.remove(v, i);
        }
    }

    /// Keeps only positions `lo ..= hi` for op `v`; whether any was removed.
    pub(crate) fn keep_between(&mut self, v: usize, lo: usize, hi: usize) -> bool {
        let row = &mut self.bits[v * self.words..(v + 1) * self.words];
        let mut changed = false;
        for (w, word) in row.iter_mut().enumerate() {
            let first = w * 64;
            let mut keep = u64::MAX;
            if lo > first {
                keep &= if lo - first >= 64 {
                    0
                } else {
                    u64::MAX << (lo - first)
                };
            }
            if hi < first + 63 {
                keep &= if hi < first {
                    0
                } else {
                    u64::MAX >> (63 - (hi - first))
                };
            }
            changed |= *word & !keep != 0;
            *word &= keep;
        }
        changed
    }

    fn row(&self, v: usize) -> &[u64] {
        &self.bits[v * self.words..(v + 1) * self.words]
    }

    /// The smallest allowed position of `v` that is at least `from`.
    pub(crate) fn next_allowed(&self, v: usize, from: usize) -> Option<usize> {
        let row = self.row(v);
        let mut w = from / 64;
        if w >= self.words {
            return None;
        }
        let mut word = row[w] & (u64::MAX << (from % 64));
        loop {
            if word != 0 {
                let i = w * 64 + word.trailing_zeros() as usize;
                return (i < self.k).then_some(i);
            }
            w += 1;
            if w == self.words {
                return None;
            }
            word = row[w];
        }
    }

    /// The largest allowed position of `v` that is at most `to`.
    pub(crate) fn prev_allowed(&self, v: usize, to: usize) -> Option<usize> {
        let row = self.row(v);
        let to = to.min(self.k - 1);
        let mut w = to / 64;
        let mut word = row[w] & (u64::MAX >> (63 - to % 64));
        loop {
            if word != 0 {
                return Some(w * 64 + 63 - word.leading_zeros() as usize);
            }
            if w == 0 {
                return None;
            }
            w -= 1;
            word = row[w];
        }
    }

    /// The single allowed position of `v`, if exactly one remains.
    pub(crate) fn fixed(&self, v: usize) -> Option<usize> {
        let row = self.row(v);
        let ones: u32 = row.iter().map(|w| w.count_ones()).sum();
        if ones == 1 {
            self.next_allowed(v, 0)
        } else {
            None
        }
    }

    pub(crate) fn is_empty(&self, v: usize) -> bool {
        self.row(v).iter().all(|&w| w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_sets_find_neighbouring_positions_across_words() {
        let mut d = Domains::full(2, 130);
        for i in 3..129 {
            d.remove(1, i);
        }
        assert_eq!(d.next_allowed(1, 3), Some(129));
        assert_eq!(d.prev_allowed(1, 128), Some(2));
        assert_eq!(d.next_allowed(1, 130), None);
        assert_eq!(d.fixed(1), None);
        d.fix(0, 77);
        assert_eq!(d.fixed(0), Some(77));
        assert_eq!(d.prev_allowed(0, 76), None);
        d.keep_below(1, 2);
        assert_eq!(d.prev_allowed(1, 200), Some(1));
        assert!(!d.is_empty(1));
    }

    #[test]
    fn keep_between_removes_exactly_the_positions_outside() {
        for k in [1, 5, 64, 65, 130] {
            for lo in 0..k {
                for hi in lo..k {
                    let mut d = Domains::full(1, k);
                    d.remove(0, (lo + hi) / 2);
                    let mut want = d.clone();
                    for i in (0..lo).chain(hi + 1..k) {
                        want.remove(0, i);
                    }
                    let removed = d.keep_between(0, lo, hi);
                    assert_eq!(d, want, "k {k}, {lo}..={hi}");
                    assert_eq!(removed, lo > 0 || hi + 1 < k, "k {k}, {lo}..={hi}");
                    assert!(!d.keep_between(0, lo, hi));
                }
            }
        }
    }
}
