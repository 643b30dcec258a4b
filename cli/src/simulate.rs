//! The `simulate` command: one placement of one model on one package, with a
//! readable summary, the JSON report, and an optional Perfetto trace; with
//! `--out`, run as a simulate scenario built from the flags, so that the
//! folder holds what a scenario's simulate run writes (report, tables,
//! placement, plots).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim::graph::Graph;
use sim::report::SimReport;
use sim::spec::HwSpec;
use sim::{Placement, SimOptions, SteadyState, Switching};

use crate::error::UserError;
use crate::files::{read_text, write_atomic};
use crate::load::{load_graph, load_spec};
use crate::table::{Align, Table, bytes, commas, si};

/// What `tessera simulate` was asked to do.
#[derive(Clone, Debug)]
pub struct SimulateArgs {
    pub hw: PathBuf,
    pub model: String,
    pub params: BTreeMap<String, String>,
    /// Hardware overrides from `--set`.
    pub overrides: Vec<(String, sim::config::Node)>,
    /// `contiguous`, `single`, or a placement JSON file.
    pub placement: String,
    pub microbatches: u32,
    /// Simulate exactly `microbatches` instead of converging from there.
    pub fixed_microbatches: bool,
    pub packet_bytes: u64,
    pub cut_through: bool,
    pub trace: Option<PathBuf>,
    pub json: bool,
    /// Write the run's files (`report.json`, `ops.csv`, ...) to this folder.
    pub out: Option<PathBuf>,
    /// Replace `out` even if it is not an earlier run's output.
    pub force: bool,
}

/// Resolves the placement argument.
pub fn resolve_placement(arg: &str, spec: &HwSpec, graph: &Graph) -> Result<Placement, UserError> {
    match arg {
        "contiguous" => Ok(Placement::contiguous_balanced(spec, graph)),
        "single" => Ok(Placement::single(graph, spec.pipeline_order[0])),
        path => {
            let text = read_text(Path::new(path))?;
            Placement::from_json(&text, spec, graph)
                .map_err(|e| UserError::new(format!("{path}: {e}")))
        }
    }
}

/// A simulator refusal in the terms of the flag that set the value: the
/// limits themselves live in `sim` (`Simulator::new`), one place for every
/// command.
pub fn flag_error(e: sim::SimError) -> UserError {
    use sim::SimError as E;
    let flag = match e {
        E::NoMicrobatches | E::TooManyMicrobatches { .. } => "--microbatches: ",
        E::NoPacketBytes | E::PacketTooLarge { .. } => "--packet-bytes: ",
        _ => "",
    };
    UserError::new(format!("{flag}{e}"))
}

/// Runs `tessera simulate`: what it prints, and its warnings (one when the
/// trace reached its cap).
pub fn simulate(args: &SimulateArgs) -> Result<(String, Vec<String>), UserError> {
    if let Some(out) = &args.out {
        return simulate_to_folder(args, out);
    }
    let spec = if args.overrides.is_empty() {
        load_spec(&args.hw)?
    } else {
        crate::scenario::spec_from_flags(&args.hw, args.overrides.clone())?
    };
    let graph = load_graph(&args.model, &args.params)?;
    let placement = resolve_placement(&args.placement, &spec, &graph)?;
    let options = sim_options(args);
    let out = sim::simulate(&spec, &graph, &placement, &options).map_err(flag_error)?;
    let mut text = if args.json {
        report_json(&out.report)
    } else {
        summary(&spec, &graph, &out.report)
    };
    let warnings = out
        .trace
        .as_ref()
        .and_then(|t| t.truncation_note())
        .into_iter()
        .collect();
    if let (Some(path), Some(json)) = (&args.trace, out.trace_json(spec.clock_mhz)) {
        write_atomic(path, json.as_bytes())?;
        if !args.json {
            text.push_str(&format!(
                "\ntrace written to {} (open in https://ui.perfetto.dev)\n",
                path.display()
            ));
        }
    }
    Ok((text, warnings))
}

/// `tessera simulate --out DIR`: the flags as a simulate scenario, run and
/// written as `tessera run` writes one; a `--trace FILE` is also copied from
/// the folder's `trace.json` to FILE.
fn simulate_to_folder(args: &SimulateArgs, out: &Path) -> Result<(String, Vec<String>), UserError> {
    let s = crate::scenario::simulate_from_flags(crate::scenario::SimulateFlags {
        hw: args.hw.clone(),
        model: args.model.clone(),
        params: args.params.clone(),
        overrides: args.overrides.clone(),
        placement: args.placement.clone(),
        simulation: sim_options(args),
    })?;
    let outcome = crate::run::run_scenario(
        s,
        &crate::run::RunArgs {
            out: Some(out.to_path_buf()),
            json: args.json,
            force: args.force,
            ..Default::default()
        },
    )?;
    let mut text = outcome.stdout;
    if let Some(path) = &args.trace {
        let from = out.join("trace.json");
        std::fs::copy(&from, path).map_err(|e| {
            UserError::new(format!(
                "--trace {}: cannot copy {}: {e}",
                path.display(),
                from.display()
            ))
        })?;
        if !args.json {
            text.push_str(&format!(
                "trace written to {} (open in https://ui.perfetto.dev)\n",
                path.display()
            ));
        }
    }
    Ok((text, outcome.warnings))
}

/// The simulation options the flags ask for.
fn sim_options(args: &SimulateArgs) -> SimOptions {
    SimOptions {
        microbatches: args.microbatches,
        steady_state: if args.fixed_microbatches {
            SteadyState::Fixed
        } else {
            SteadyState::DEFAULT
        },
        packet_bytes: args.packet_bytes,
        switching: if args.cut_through {
            Switching::CutThrough
        } else {
            Switching::StoreAndForward
        },
        trace: args.trace.is_some(),
    }
}

/// The report as pretty JSON with a trailing newline.
pub fn report_json(report: &SimReport) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("report serialises");
    s.push('\n');
    s
}

/// An energy in picojoules, in the unit that gives 1 to 999 of it (pJ
/// to J), with three decimals.
pub fn joules(pj: f64) -> String {
    let units = [(1e12, "J"), (1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ")];
    for (scale, unit) in units {
        if pj.abs() >= scale {
            return format!("{:.3} {unit}", pj / scale);
        }
    }
    format!("{pj:.3} pJ")
}

/// A readable summary of a report.
pub fn summary(spec: &HwSpec, graph: &Graph, r: &SimReport) -> String {
    let mut out = String::new();
    let t = graph.totals();
    out.push_str(&format!(
        "{} on {} ({}, {}), {} micro-batches of {} inference(s)\n",
        graph.name(),
        spec.name,
        crate::inspect::chiplets(spec.n_chiplets()),
        spec.topology,
        r.microbatches,
        r.inferences_per_microbatch
    ));
    out.push_str(&format!(
        "model: {} ops, {} MACs, {} of weights\n\n",
        t.ops,
        si(t.macs),
        bytes(t.weight_bytes)
    ));
    out.push_str(&format!(
        "valid                   {}\n",
        if r.valid {
            "yes"
        } else {
            "NO (see violations)"
        }
    ));
    out.push_str(&format!(
        "first-inference latency {} cycles ({:.1} µs)\n",
        commas(r.first_inference_latency_cycles),
        r.first_inference_latency_us
    ));
    let ss = &r.steady_state;
    out.push_str(&format!(
        "steady-state interval   {:.1} cycles per micro-batch ({} within {} % over {} micro-batches)\n",
        r.steady_state_interval_cycles,
        if ss.converged { "converged" } else { "NOT converged" },
        ss.tolerance * 100.0,
        ss.microbatches_simulated
    ));
    out.push_str(&format!(
        "throughput              {:.1} inferences/s\n",
        r.throughput_inferences_per_s
    ));
    out.push_str(&format!(
        "makespan                {} cycles\n",
        commas(r.makespan_cycles)
    ));
    let e = &r.energy_run;
    out.push_str(&format!(
        "energy (whole run)      {} over {} micro-batches (compute {}, SRAM {}, links {}, memory {})\n",
        joules(e.total_pj),
        r.microbatches,
        joules(e.compute_pj),
        joules(e.sram_pj),
        joules(e.links_pj),
        joules(e.memory_pj)
    ));
    out.push_str(&format!(
        "energy per inference    {}; average power {:.3} W; energy-delay product {:.3e} J·s\n",
        joules(r.energy_per_inference_pj),
        r.average_power_w,
        r.energy_delay_product_j_s
    ));
    if let Some(b) = &r.bottleneck {
        out.push_str(&format!("bottleneck              {}\n", b.describe()));
    }
    out.push_str(&format!(
        "events                  {} in {} steps\n\n",
        commas(r.events_processed),
        commas(r.steps)
    ));
    let mut chips = Table::new(&[
        ("chiplet", Align::Right),
        ("ops", Align::Right),
        ("busy cycles", Align::Right),
        ("util", Align::Right),
        ("SRAM peak", Align::Right),
        ("of", Align::Right),
        ("mb in flight/slots", Align::Right),
        ("off-chip weights", Align::Right),
    ]);
    for c in &r.chiplets {
        if c.ops_placed == 0 {
            continue;
        }
        chips.row(vec![
            c.id.to_string(),
            c.ops_placed.to_string(),
            commas(c.busy_cycles),
            format!("{:.1}%", c.utilisation * 100.0),
            bytes(c.sram_peak_bytes),
            bytes(c.sram_capacity_bytes),
            format!("{}/{}", c.microbatches_in_flight_peak, c.sram_slots),
            bytes(c.weight_bytes_streamed),
        ]);
    }
    out.push_str(&chips.render());
    let used: Vec<_> = r.links.iter().filter(|l| l.bytes > 0).collect();
    if !used.is_empty() {
        let mut links = Table::new(&[
            ("link", Align::Right),
            ("from→to", Align::Left),
            ("bytes", Align::Right),
            ("packets", Align::Right),
            ("busy cycles", Align::Right),
            ("util", Align::Right),
        ]);
        for l in used {
            links.row(vec![
                l.id.to_string(),
                format!("{}→{}", l.from, l.to),
                commas(l.bytes),
                commas(l.packets),
                commas(l.busy_cycles),
                format!("{:.1}%", l.utilisation * 100.0),
            ]);
        }
        out.push('\n');
        out.push_str(&links.render());
    }
    if let Some(m) = &r.memory {
        out.push_str(&format!(
            "\noff-package memory: {} streamed, {:.1}% busy\n",
            bytes(m.bytes_streamed),
            m.utilisation * 100.0
        ));
    }
    for v in &r.violations {
        match v {
            sim::report::Violation::Partition(p) => {
                out.push_str(&format!("violation: {}\n", p.describe(graph)));
            }
            sim::report::Violation::SramOverflow {
                chiplet,
                needed_bytes,
                capacity_bytes,
                over_bytes,
            } => out.push_str(&format!(
                "violation: chiplet {chiplet} needs {} of SRAM but has {} ({} over)\n",
                bytes(*needed_bytes),
                bytes(*capacity_bytes),
                bytes(*over_bytes)
            )),
        }
    }
    out
}
