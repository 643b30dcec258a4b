//! The tables written beside `report.json` for pandas and spreadsheets:
//! `ops.csv` (one row per op per micro-batch), `chiplets.csv` and
//! `links.csv` (one row per chiplet or link), described in `docs/report.md`.
//!
//! Every row is named by stable ids (op id, chiplet id, link id, never an
//! ECS entity) and written in id order; integers are written as integers and
//! every float with a fixed number of decimals, so the same run gives the
//! same bytes.

use sim::cost::op_cost;
use sim::graph::Graph;
use sim::report::{OpTimeline, SimReport};
use sim::spec::HwSpec;
use sim::{Placement, SimOutput};

/// The most rows `ops.csv` holds (about 100 MB): past it only the first
/// whole micro-batches that fit are written, and a warning says so.
pub const MAX_OP_ROWS: usize = 1_000_000;

/// The header of `ops.csv`.
pub const OPS_HEADER: &str = "op_id,op_name,kind,chiplet,microbatch,start_cycle,end_cycle,duration_cycles,compute_cycles,sram_cycles,overhead_cycles,memory_wait_cycles,bound,macs";

/// The header of `chiplets.csv`.
pub const CHIPLETS_HEADER: &str = "chiplet,type,ops,busy_cycles,compute_bound_cycles_per_microbatch,sram_bound_cycles_per_microbatch,memory_wait_cycles,utilisation,sram_peak_bytes,sram_capacity_bytes,weight_bytes_resident,weight_bytes_streamed,sram_slots,microbatches_in_flight_peak,energy_run_pj,energy_per_inference_pj";

/// The header of `links.csv`.
pub const LINKS_HEADER: &str =
    "link,from,to,bytes,packets,busy_cycles,utilisation,energy_run_pj,energy_per_inference_pj";

/// The three tables of a simulated placement as output files, and a warning
/// when `ops.csv` reached [`MAX_OP_ROWS`]. `out` must have been simulated
/// with a trace (which records the op timeline).
pub fn tables(
    spec: &HwSpec,
    graph: &Graph,
    placement: &Placement,
    out: &SimOutput,
) -> (Vec<(String, Vec<u8>)>, Option<String>) {
    let timeline = out
        .op_timeline
        .as_ref()
        .expect("the tables are drawn from a run with a trace");
    let (ops, warning) = ops_csv(spec, graph, placement, timeline, MAX_OP_ROWS);
    let files = vec![
        ("ops.csv".to_string(), ops.into_bytes()),
        (
            "chiplets.csv".to_string(),
            chiplets_csv(&out.report).into_bytes(),
        ),
        ("links.csv".to_string(), links_csv(&out.report).into_bytes()),
    ];
    (files, warning)
}

/// A CSV field: quoted (with doubled quotes) when it holds a comma, a quote
/// or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `ops.csv`: one row per (op, micro-batch), micro-batch by micro-batch and
/// ops by id within each. `compute_cycles`, `sram_cycles` and
/// `overhead_cycles` are the op's cost on its chiplet's type (`cycles =
/// overhead + max(compute, sram)`); `memory_wait_cycles` is what the run
/// added waiting for streamed weights; `bound` says which of them set the
/// duration (`memory`, `sram`, `compute`, or `none` for a free op).
pub fn ops_csv(
    spec: &HwSpec,
    graph: &Graph,
    placement: &Placement,
    timeline: &OpTimeline,
    max_rows: usize,
) -> (String, Option<String>) {
    let n_ops = graph.ops().len();
    let fit = max_rows
        .checked_div(n_ops)
        .map_or(timeline.microbatches, |per| {
            per.min(timeline.microbatches as usize) as u32
        });
    let warning = (fit < timeline.microbatches).then(|| {
        format!(
            "ops.csv holds micro-batches 0 to {} of {}: {} ops × {} micro-batches is more than its cap of {max_rows} rows",
            fit.saturating_sub(1),
            timeline.microbatches,
            n_ops,
            timeline.microbatches
        )
    });
    // Each op's cost and name once; the rows only add the timing.
    let fixed: Vec<(String, sim::cost::OpCost)> = graph
        .ops()
        .iter()
        .map(|op| {
            let chip = placement.chiplet_of_op[op.id.idx()];
            let ty = spec.chiplet_type(chip);
            let cost = op_cost(op, ty);
            let head = format!(
                "{},{},{},{}",
                op.id.0,
                field(&op.name),
                op.kind.name(),
                chip.0
            );
            (head, cost)
        })
        .collect();
    let mut csv = String::with_capacity(100 * n_ops * fit as usize + OPS_HEADER.len() + 1);
    csv.push_str(OPS_HEADER);
    csv.push('\n');
    for mb in 0..fit {
        for (op, (head, cost)) in graph.ops().iter().zip(&fixed) {
            let (start, end) = timeline.span(op.id, mb);
            let duration = end - start;
            let wait = duration.saturating_sub(cost.cycles);
            let bound = if wait > 0 {
                "memory"
            } else if cost.cycles == 0 {
                "none"
            } else if cost.sram_cycles > cost.engine_cycles {
                "sram"
            } else {
                "compute"
            };
            csv.push_str(&format!(
                "{head},{mb},{start},{end},{duration},{},{},{},{wait},{bound},{}\n",
                cost.engine_cycles, cost.sram_cycles, cost.overhead_cycles, op.macs
            ));
        }
    }
    (csv, warning)
}

/// Energy per inference of a run-total energy.
fn per_inference(r: &SimReport, run_pj: f64) -> f64 {
    let inferences = u64::from(r.microbatches) * r.inferences_per_microbatch;
    if inferences == 0 {
        0.0
    } else {
        run_pj / inferences as f64
    }
}

/// `chiplets.csv`: one row per chiplet, by id.
pub fn chiplets_csv(r: &SimReport) -> String {
    let mut csv = format!("{CHIPLETS_HEADER}\n");
    for c in &r.chiplets {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{:.6},{},{},{},{},{},{},{:.3},{:.3}\n",
            c.id,
            field(&c.chiplet_type),
            c.ops_placed,
            c.busy_cycles,
            c.compute_bound_cycles_per_microbatch,
            c.sram_bound_cycles_per_microbatch,
            c.memory_wait_cycles,
            c.utilisation,
            c.sram_peak_bytes,
            c.sram_capacity_bytes,
            c.weight_bytes_resident,
            c.weight_bytes_streamed,
            c.sram_slots,
            c.microbatches_in_flight_peak,
            c.energy_run_pj,
            per_inference(r, c.energy_run_pj)
        ));
    }
    csv
}

/// `links.csv`: one row per link of the spec, by id (unused links too, with
/// zeros, so the table has the same rows for every placement).
pub fn links_csv(r: &SimReport) -> String {
    let mut csv = format!("{LINKS_HEADER}\n");
    for l in &r.links {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{:.6},{:.3},{:.3}\n",
            l.id,
            l.from,
            l.to,
            l.bytes,
            l.packets,
            l.busy_cycles,
            l.utilisation,
            l.energy_run_pj,
            per_inference(r, l.energy_run_pj)
        ));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-layer BERT on the 4-chiplet ring, simulated with a trace.
    fn run() -> (HwSpec, Graph, Placement, SimOutput) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../hw_specs/edgetpu_ring4.toml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let spec = HwSpec::from_toml_str(&text, path).unwrap();
        let params = std::collections::BTreeMap::from([("layers".to_string(), "2".to_string())]);
        let graph = sim::zoo::build("bert-base", &params).unwrap();
        let placement = Placement::contiguous_balanced(&spec, &graph);
        let options = sim::SimOptions {
            trace: true,
            ..sim::SimOptions::default()
        };
        let out = sim::simulate(&spec, &graph, &placement, &options).unwrap();
        (spec, graph, placement, out)
    }

    #[test]
    fn ops_csv_has_a_row_per_op_and_microbatch_matching_the_trace() {
        let (spec, graph, placement, out) = run();
        let timeline = out.op_timeline.as_ref().unwrap();
        let (csv, warning) = ops_csv(&spec, &graph, &placement, timeline, MAX_OP_ROWS);
        assert_eq!(warning, None);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], OPS_HEADER);
        let n = graph.ops().len() * out.report.microbatches as usize;
        assert_eq!(lines.len(), 1 + n);
        // Every chiplet slice of the trace is one row, with the same times.
        let trace = out.trace.as_ref().unwrap();
        for s in &trace.slices {
            if let sim::report::Track::Chiplet(c) = s.track {
                let row = format!(
                    "{},{},{},{},{},{},{},{}",
                    s.op.0,
                    trace.name(s),
                    graph.ops()[s.op.idx()].kind.name(),
                    c,
                    s.microbatch,
                    s.start_cycle,
                    s.end_cycle,
                    s.end_cycle - s.start_cycle
                );
                assert!(
                    lines.iter().any(|l| l.starts_with(&format!("{row},"))),
                    "{row}"
                );
            }
        }
    }

    #[test]
    fn ops_csv_keeps_whole_microbatches_under_its_cap_and_says_so() {
        let (spec, graph, placement, out) = run();
        let timeline = out.op_timeline.as_ref().unwrap();
        let n_ops = graph.ops().len();
        let (csv, warning) = ops_csv(&spec, &graph, &placement, timeline, 2 * n_ops + 1);
        assert_eq!(csv.lines().count(), 1 + 2 * n_ops);
        assert!(
            warning
                .unwrap()
                .starts_with("ops.csv holds micro-batches 0 to 1 of")
        );
    }

    #[test]
    fn chiplet_and_link_tables_have_one_row_per_id_in_order() {
        let (_, _, _, out) = run();
        let chips = chiplets_csv(&out.report);
        let ids: Vec<&str> = chips
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(ids, ["0", "1", "2", "3"]);
        let links = links_csv(&out.report);
        assert_eq!(links.lines().count(), 1 + out.report.links.len());
        for l in links.lines() {
            assert_eq!(l.split(',').count(), LINKS_HEADER.split(',').count());
        }
    }

    #[test]
    fn a_name_with_a_comma_or_quote_is_quoted() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("plain"), "plain");
    }
}
