//! The traffic task: synthetic traffic on the package's interconnect, run
//! once, with its report and summary (no plots).

use sim::spec::ChipletId;
use sim::traffic::{Pattern, TrafficOptions, run_traffic};

use super::outputs::{Outputs, report_file};
use crate::error::UserError;
use crate::scenario::{Resolved, Scenario, TrafficTask};

/// The simulator's options for a traffic task of a scenario (the switching
/// mode and the seed are the scenario's).
pub(super) fn traffic_options(t: &TrafficTask, s: &Scenario) -> TrafficOptions {
    let pattern = match t.pattern.as_str() {
        "transpose" => Pattern::Transpose,
        "hotspot" => Pattern::Hotspot {
            chiplet: ChipletId(t.hotspot_chiplet.unwrap_or(0) as u32),
            fraction: t.hotspot_fraction.unwrap_or(0.0),
        },
        _ => Pattern::UniformRandom,
    };
    TrafficOptions {
        pattern,
        injection_rate: t.rate,
        packet_bytes: t.packet_bytes,
        warmup_cycles: t.warmup_cycles,
        measure_cycles: t.measure_cycles,
        switching: s.simulation.switching,
        seed: s.seed,
        ..TrafficOptions::default()
    }
}

/// Runs a traffic task: returns its summary and `report.json`. A pattern the
/// package cannot route is the scenario's mistake.
pub(super) fn run_traffic_task(
    r: &Resolved,
    t: &TrafficTask,
) -> Result<(String, Outputs), UserError> {
    let s = &r.scenario;
    let report = run_traffic(&r.spec, &traffic_options(t, s))
        .map_err(|e| UserError::new(format!("{}: {e}", s.file.display())))?;
    let summary = crate::traffic::summary(&r.spec, &report);
    Ok((summary, vec![report_file(s, true, &report)]))
}
