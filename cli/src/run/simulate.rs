//! The simulate task: one placement of the workload simulated once, with its
//! report, its tables (`ops.csv`, `chiplets.csv`, `links.csv`), placement,
//! optional trace and the chiplet-bar and Gantt plots.

use sim::Placement;
use sim::graph::Graph;
use sim::spec::HwSpec;

use super::outputs::{Outputs, PlotScratch, report_file};
use crate::error::UserError;
use crate::plots::{self, Format};
use crate::scenario::{PlacementChoice, Resolved};

/// The placement a simulate task (or a sweep point running one) asked for.
pub(super) fn placement_for(
    choice: &PlacementChoice,
    spec: &HwSpec,
    graph: &Graph,
) -> Result<Placement, UserError> {
    match choice {
        PlacementChoice::Contiguous => Ok(Placement::contiguous_balanced(spec, graph)),
        PlacementChoice::Single => Ok(Placement::single(graph, spec.pipeline_order[0])),
        PlacementChoice::File(p) => {
            let text = crate::files::read_text(p)?;
            Placement::from_json(&text, spec, graph)
                .map_err(|e| UserError::new(format!("{}: {e}", p.display())))
        }
    }
}

/// Runs a simulate task: returns its summary, its files (report, tables,
/// placement, trace when asked for, plots unless `format` is `None`) and its
/// warnings (one when the trace reached its cap and holds only the run's
/// start, one when `ops.csv` reached its cap).
pub(super) fn run_simulate(
    r: &Resolved,
    choice: &PlacementChoice,
    out_dir: &std::path::Path,
    format: Option<Format>,
) -> Result<(String, Outputs, Vec<String>), UserError> {
    let s = &r.scenario;
    let graph = r.graph.as_ref().expect("simulate has a workload");
    let placement = placement_for(choice, &r.spec, graph)?;
    let mut options = s.simulation.clone();
    // The tables and the Gantt chart need the timeline even when no trace
    // file is asked for (recording it does not change the report).
    let want_trace = options.trace;
    options.trace = true;
    let out = sim::simulate(&r.spec, graph, &placement, &options)
        .map_err(|e| UserError::new(e.to_string()))?;
    let summary = crate::simulate::summary(&r.spec, graph, &out.report);
    let mut files: Outputs = vec![report_file(s, true, &out.report)];
    let (tables, table_warning) = crate::report_csv::tables(&r.spec, graph, &placement, &out);
    files.extend(tables);
    files.push((
        "placement.json".to_string(),
        placement.to_json(graph).into_bytes(),
    ));
    if want_trace {
        let json = out.trace_json(r.spec.clock_mhz).expect("trace recorded");
        files.push(("trace.json".to_string(), json.into_bytes()));
    }
    if let Some(format) = format {
        let scratch = PlotScratch::new(out_dir, format)?;
        files.extend(simulate_plots(r, &out, options.microbatches, &scratch)?);
    }
    let warnings = out
        .trace
        .as_ref()
        .and_then(|t| t.truncation_note())
        .into_iter()
        .chain(table_warning)
        .collect();
    Ok((summary, files, warnings))
}

/// The chiplet bars and the Gantt chart of the first micro-batches (at most
/// four, so that the pipeline's fill stays readable).
pub(super) fn simulate_plots(
    r: &Resolved,
    out: &sim::SimOutput,
    microbatches: u32,
    scratch: &PlotScratch,
) -> Result<Outputs, UserError> {
    let s = &r.scenario;
    let graph = r.graph.as_ref().expect("simulate has a workload");
    let bars = scratch.path("chiplets");
    plots::chiplet_bars(
        &out.report,
        &format!("{}: {} on {}", s.name, graph.name(), r.spec.name),
        &bars,
        scratch.format(),
    )?;
    let gantt = scratch.path("gantt");
    let trace = out.trace.as_ref().expect("plots record a trace");
    let cut = trace.truncation.map_or(String::new(), |t| {
        format!(" (trace capped: cycles 0 to {})", t.complete_before_cycle)
    });
    plots::gantt(
        trace,
        r.spec.n_chiplets(),
        microbatches.min(4),
        &format!("{}: first micro-batches{cut}", s.name),
        &gantt,
        scratch.format(),
    )?;
    [bars, gantt].iter().map(|p| scratch.take(p)).collect()
}
