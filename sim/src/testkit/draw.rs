//! Where the test kit's choices come from: a seeded ChaCha generator, or a
//! list of numbers that proptest draws and shrinks. One draw function per
//! space consumes choices through [`Draw`], so both sources describe the
//! same distribution.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A source of choices.
pub(crate) trait Draw {
    /// A number in `0..n`; `n` is at least 1.
    fn below(&mut self, n: usize) -> usize;

    /// Any number (an index that a recipe reduces modulo what exists).
    fn any(&mut self) -> usize;

    /// One of `items` (not empty: spaces are checked first).
    fn choose<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn flag(&mut self) -> bool {
        self.below(2) == 1
    }
}

/// Seeded draws. Sizes are drawn as `u64` so that a seed gives the same
/// choices on 32- and 64-bit targets.
impl Draw for ChaCha8Rng {
    fn below(&mut self, n: usize) -> usize {
        self.gen_range(0..n as u64) as usize
    }

    fn any(&mut self) -> usize {
        self.r#gen::<u32>() as usize
    }
}

/// Choices given as numbers (by proptest): each is reduced modulo the
/// number of options, so shrinking a number toward 0 moves toward the first
/// option; once the list runs out every choice is the first.
#[cfg_attr(not(feature = "proptest"), allow(dead_code))]
pub(crate) struct Picks {
    picks: Vec<usize>,
    next: usize,
}

#[cfg_attr(not(feature = "proptest"), allow(dead_code))]
impl Picks {
    pub fn new(picks: Vec<usize>) -> Picks {
        Picks { picks, next: 0 }
    }
}

impl Draw for Picks {
    fn below(&mut self, n: usize) -> usize {
        self.any() % n
    }

    fn any(&mut self) -> usize {
        let v = self.picks.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        v
    }
}
