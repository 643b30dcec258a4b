//! Prints what an outside solver needs to rebuild tessera's partition
//! objective for one graph on one package, as JSON, from tessera's own model
//! (`sim::problem::ProblemModel`), so that a reference solver
//! (`tools/partition_cpsat.py`) never re-implements the cost model:
//!
//! ```text
//! cargo build --release -p sim --example op_costs
//! target/release/examples/op_costs problem SPEC.toml GRAPH.json > problem.json
//! target/release/examples/op_costs eval SPEC.toml GRAPH.json PLACEMENT.json
//! ```
//!
//! `problem` prints, per op, `op_cost(op, type).cycles` on every chiplet
//! type, weight, output and graph-input bytes, and the distinct producers and
//! consumers; per chiplet its type, SRAM bytes, whether it may stream weights
//! and its pipeline position; the spec's constraints; the links, the
//! serialisation cycles of every op's output per link bandwidth, and every
//! route (chiplet pair to link ids), so the link term can be rebuilt exactly too.
//!
//! `eval` reads a placement (tessera's placement JSON, or a bare JSON list of
//! chiplet ids, one per op) and prints tessera's verdict on it: the analytic
//! bottleneck (`oracle::analyse(..).bottleneck_cycles`, what `exact`
//! minimises), stage, link and memory cycles, each chiplet's SRAM need
//! (`constraints::sram_need`) and the constraint violations
//! (`constraints::check` under the spec's constraints).

use sim::constraints::{check, sram_need};
use sim::graph::Graph;
use sim::oracle::analyse;
use sim::problem::ProblemModel;
use sim::spec::{ChipletId, HwSpec};
use sim::{Placement, SimOptions};

use serde_json::{Value, json};

fn die(msg: String) -> ! {
    eprintln!("op_costs: {msg}");
    std::process::exit(2);
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| die(format!("{path}: {e}")))
}

fn load(spec_path: &str, graph_path: &str) -> (HwSpec, Graph) {
    let spec = HwSpec::from_toml_str(&read(spec_path), spec_path)
        .unwrap_or_else(|e| die(format!("{spec_path}: {e:?}")));
    let graph =
        Graph::from_json(&read(graph_path)).unwrap_or_else(|e| die(format!("{graph_path}: {e:?}")));
    (spec, graph)
}

fn problem(spec: &HwSpec, graph: &Graph) -> Value {
    let options = SimOptions::default();
    let m = ProblemModel::new(spec, graph, &options);
    let ops: Vec<Value> = (0..m.n_ops)
        .map(|v| {
            json!({
                "id": v,
                "name": graph.ops()[v].name,
                "cycles": m.op_cycles.iter().map(|t| t[v]).collect::<Vec<u64>>(),
                "weight_bytes": m.weight_bytes[v],
                "weight_read_bytes": m.weight_read_bytes[v],
                "output_bytes": m.output_bytes[v],
                "graph_input_bytes": m.graph_input_bytes[v],
                "producers": m.producers(v),
                "consumers": m.consumers(v),
            })
        })
        .collect();
    let chiplets: Vec<Value> = (0..m.n_chiplets)
        .map(|c| {
            let k = m.class_of_chiplet(c);
            json!({
                "id": c,
                "type": k.type_idx,
                "sram_bytes": k.sram_bytes,
                "can_stream": k.can_stream,
                "position": m.position_of[c],
            })
        })
        .collect();
    let links: Vec<Value> = spec
        .links
        .iter()
        .map(|link| {
            json!({
                "from": link.from.0,
                "to": link.to.0,
                "bandwidth_bytes_per_cycle": link.bandwidth_bytes_per_cycle,
            })
        })
        .collect();
    // Serialisation cycles of every op's output, per distinct bandwidth.
    let serialisation: Vec<Value> = m
        .bandwidths
        .iter()
        .zip(&m.output_serialisation_cycles)
        .map(|(bw, cycles)| json!({"bandwidth_bytes_per_cycle": bw, "output_cycles": cycles}))
        .collect();
    let mut routes = Vec::new();
    for a in 0..m.n_chiplets {
        for b in 0..m.n_chiplets {
            if a != b {
                let path: Vec<u32> = m.route(a, b).iter().map(|l| l.0).collect();
                routes.push(json!({"from": a, "to": b, "links": path}));
            }
        }
    }
    let c = &spec.constraints;
    json!({
        "graph": graph.name(),
        "spec": spec.name,
        "packet_bytes": options.packet_bytes,
        "chiplet_types": spec.chiplet_types.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
        "memory": spec.memory.as_ref().map(|mem| json!({
            "bandwidth_bytes_per_cycle": mem.bandwidth_bytes_per_cycle,
            "latency_cycles": mem.latency_cycles,
            "weight_streaming": mem.weight_streaming,
        })),
        "constraints": {
            "acyclic_dataflow": c.acyclic_dataflow,
            "no_skipping": c.no_skipping.name(),
            "no_triangle": c.no_triangle,
            "sram_capacity": c.sram_capacity,
        },
        "ops": ops,
        "chiplets": chiplets,
        "links": links,
        "output_serialisation": serialisation,
        "routes": routes,
    })
}

fn eval(spec: &HwSpec, graph: &Graph, placement_path: &str) -> Value {
    let text = read(placement_path);
    let placement = match serde_json::from_str::<Vec<u32>>(&text) {
        Ok(ids) => {
            let p = Placement {
                chiplet_of_op: ids.into_iter().map(ChipletId).collect(),
            };
            p.validate(spec, graph)
                .unwrap_or_else(|e| die(format!("{placement_path}: {e:?}")));
            p
        }
        Err(_) => Placement::from_json(&text, spec, graph)
            .unwrap_or_else(|e| die(format!("{placement_path}: {e:?}"))),
    };
    let options = SimOptions::default();
    let a = analyse(spec, graph, &placement, &options);
    let violations = check(spec, graph, &placement, &spec.constraints);
    json!({
        "bottleneck_cycles": a.bottleneck_cycles,
        "max_stage_cycles": a.stage_cycles.iter().copied().max().unwrap_or(0),
        "max_link_cycles": a.link_cycles.iter().copied().max().unwrap_or(0),
        "memory_cycles": a.memory_cycles,
        "stage_cycles": a.stage_cycles,
        "sram_need_bytes": sram_need(spec, graph, &placement.chiplet_of_op),
        "valid": violations.is_empty(),
        "violations": violations.iter().map(|v| v.describe(graph)).collect::<Vec<_>>(),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = match args.iter().map(String::as_str).collect::<Vec<_>>()[1..] {
        ["problem", spec, graph] => {
            let (s, g) = load(spec, graph);
            problem(&s, &g)
        }
        ["eval", spec, graph, placement] => {
            let (s, g) = load(spec, graph);
            eval(&s, &g, placement)
        }
        _ => die(
            "usage: op_costs problem SPEC.toml GRAPH.json | eval SPEC.toml GRAPH.json PLACEMENT.json"
                .to_string(),
        ),
    };
    println!("{out}");
}
