//! Help when nothing fits: the line a partition run adds when no valid
//! placement exists, saying the smallest SRAM per chiplet that admits one
//! (computed by `agent::partition::sram_fit`) and the override that sets it,
//! written the way the user gave the hardware: a `--set` flag on the command
//! line, a `[hardware.overrides]` entry in a scenario.

use sim::constraints::Constraints;

use agent::partition::sram_fit::{FIT_REPAIR_NODES, SramFit, smallest_sram};

use crate::scenario::{Resolved, Scenario, is_from_flags};
use crate::table::{bytes, commas};

/// The line saying the smallest SRAM that admits a valid placement, or
/// `None` when there is nothing to suggest (a placement exists, feasibility
/// was not decided, or SRAM capacity is not a constraint).
pub(super) fn sram_advice(r: &Resolved, constraints: &Constraints) -> Option<String> {
    let graph = r.graph.as_ref()?;
    let fit = smallest_sram(&r.spec, graph, constraints, FIT_REPAIR_NODES)?;
    Some(advice_line(&r.scenario, &fit))
}

/// A size in KiB as people read it: whole KiB below 1 MiB (`752 KiB`), else
/// MiB or GiB with the exact KiB beside (`2.43 MiB = 2,487 KiB`).
pub fn kib_text(kib: u64) -> String {
    if kib < 1024 {
        format!("{kib} KiB")
    } else {
        format!("{} = {} KiB", bytes(kib * 1024), commas(kib))
    }
}

/// The advice in words (see [`sram_advice`]).
fn advice_line(s: &Scenario, fit: &SramFit) -> String {
    let from_flags = is_from_flags(s);
    let sets: Vec<String> = fit
        .types
        .iter()
        .map(|(name, _, kib)| {
            let field = format!("chiplet_types.{name}.sram_kib");
            if from_flags {
                format!("`--set {field}={kib}`")
            } else {
                format!("`\"{field}\" = {kib}`")
            }
        })
        .collect();
    let how = if from_flags {
        sets.join(" ")
    } else {
        format!(
            "in {}'s [hardware.overrides]: {}",
            s.file.display(),
            sets.join(", ")
        )
    };
    let smallest = if fit.proven_smallest {
        "the smallest SRAM that admits one is"
    } else {
        // Bisection met a size repair could not decide within its limit.
        "an SRAM that admits one (smaller sizes not all decided) is"
    };
    match fit.types.as_slice() {
        [(_, now, kib)] => format!(
            "no valid placement with {} per chiplet; {smallest} {} ({how})",
            kib_text(*now),
            kib_text(*kib)
        ),
        types => {
            let now: Vec<String> = types
                .iter()
                .map(|(name, now, _)| format!("{name} {}", kib_text(*now)))
                .collect();
            let the_smallest = if fit.proven_smallest {
                "the smallest"
            } else {
                "an"
            };
            format!(
                "no valid placement with this SRAM per chiplet ({}); {the_smallest} increase on every \
                 chiplet type that admits one is {} ({how})",
                now.join(", "),
                kib_text(fit.added_kib)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_whole_kib_below_a_mib_and_exact_beside_larger_units() {
        assert_eq!(kib_text(752), "752 KiB");
        assert_eq!(kib_text(2560), "2.50 MiB = 2,560 KiB");
    }
}
