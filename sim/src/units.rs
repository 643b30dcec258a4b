//! Quantities with their unit in the type: [`Cycles`] of the package clock and
//! [`Bytes`]. The simulator's functions take and return these at their
//! boundaries, so that a byte count cannot be passed where a cycle is meant
//! (the positional `u64` lists they replace mixed the two). Arithmetic is
//! only what the units allow: cycles add to cycles, bytes to bytes, and bytes
//! over a bandwidth give cycles.
//!
//! Reports and files keep plain integers with the unit in the field name
//! (`_cycles`, `_bytes`); these types live inside the simulator.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A time or a duration in cycles of the package clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cycles(pub u64);

impl Cycles {
    pub const ZERO: Cycles = Cycles(0);
    pub const MAX: Cycles = Cycles(u64::MAX);

    pub fn get(self) -> u64 {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_sub(self, earlier: Cycles) -> Cycles {
        Cycles(self.0.saturating_sub(earlier.0))
    }
}

impl Add for Cycles {
    type Output = Cycles;
    fn add(self, rhs: Cycles) -> Cycles {
        Cycles(self.0 + rhs.0)
    }
}

impl AddAssign for Cycles {
    fn add_assign(&mut self, rhs: Cycles) {
        self.0 += rhs.0;
    }
}

impl Sub for Cycles {
    type Output = Cycles;
    fn sub(self, rhs: Cycles) -> Cycles {
        Cycles(self.0 - rhs.0)
    }
}

impl fmt::Display for Cycles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cycles", self.0)
    }
}

/// A size in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

impl Bytes {
    pub fn get(self) -> u64 {
        self.0
    }

    /// Cycles to move these bytes at `bytes_per_cycle` (≥ 1), rounded up: a
    /// started cycle is a whole cycle.
    pub fn cycles_at(self, bytes_per_cycle: u64) -> Cycles {
        Cycles(self.0.div_ceil(bytes_per_cycle))
    }
}

impl Add for Bytes {
    type Output = Bytes;
    fn add(self, rhs: Bytes) -> Bytes {
        Bytes(self.0 + rhs.0)
    }
}

impl AddAssign for Bytes {
    fn add_assign(&mut self, rhs: Bytes) {
        self.0 += rhs.0;
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_over_a_bandwidth_round_up_to_whole_cycles() {
        assert_eq!(Bytes(0).cycles_at(4), Cycles(0));
        assert_eq!(Bytes(1).cycles_at(4), Cycles(1));
        assert_eq!(Bytes(8).cycles_at(4), Cycles(2));
        assert_eq!(Bytes(9).cycles_at(4), Cycles(3));
    }

    #[test]
    fn cycles_add_and_subtract() {
        let mut t = Cycles(3) + Cycles(4);
        t += Cycles(1);
        assert_eq!(t, Cycles(8));
        assert_eq!(t - Cycles(5), Cycles(3));
        assert_eq!(Cycles(2).saturating_sub(Cycles(5)), Cycles::ZERO);
    }
}
