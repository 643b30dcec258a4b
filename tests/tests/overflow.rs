//! No silent overflow: extreme counts in graph JSON and hardware specs (0, 1,
//! 2^32, 2^63, 2^64 − 1) are refused with a typed error naming the op and
//! the field (through the command: exit 2, an `error:` message, no panic), or
//! give exactly the number the formulas give in unbounded arithmetic. The
//! limits are `sim::graph::MAX_*` and `sim::spec::{MAX_OP_CYCLES,
//! MAX_RUN_CYCLES}`; `docs/graph_json.md` states them.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{Value, json};
use sim::cost::{CostError, bounded_op_cost};
use sim::graph::{
    DType, Graph, GraphJsonError, MAX_GRAPH_BYTES, MAX_OP_MACS, MAX_OP_VECTOR_OPS,
    MAX_TENSOR_BYTES, Op, OpId, OpInput, OpKind, Source,
};
use sim::spec::{ChipletType, MAX_OP_CYCLES};
use tessera_tests::{root, temp_dir, tessera};

const EXTREMES: [u64; 5] = [0, 1, 1 << 32, 1 << 63, u64::MAX];

/// A one-op graph JSON: `kind` on graph input `x` of `in_shape`, all costs as
/// given (int8, so bytes equal elements).
fn one_op(kind: Value, in_shape: &[u64], out_shape: &[u64], costs: [u64; 5]) -> Value {
    let [macs, vector_ops, params, weight_bytes, output_bytes] = costs;
    json!({
        "format_version": 1, "name": "t", "model": "t", "params": {},
        "inputs": [{ "name": "x", "shape": in_shape, "dtype": "int8" }],
        "ops": [{
            "id": 0, "name": "op0", "kind": kind,
            "inputs": [{ "source": { "graph_input": "x" }, "shape": in_shape }],
            "output_shape": out_shape, "dtype": "int8",
            "macs": macs, "vector_ops": vector_ops, "params": params,
            "weight_bytes": weight_bytes, "output_bytes": output_bytes
        }]
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// `hw_specs/edgetpu_ring4.toml` with `key = old` replaced by `key = new`.
fn ring4_with(dir: &Path, replacements: &[(&str, &str)]) -> PathBuf {
    let mut text = fs::read_to_string(root().join("hw_specs/edgetpu_ring4.toml")).unwrap();
    for (from, to) in replacements {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    write(dir, "hw.toml", &text)
}

/// Asserts a refusal through the command: exit 2, every stderr line an
/// `error:` message or its continuation, each naming what it is about.
fn assert_refused(o: &tessera_cli::cli::Outcome, needles: &[&str]) {
    assert_eq!(o.code, 2, "stdout {}\nstderr {}", o.stdout, o.stderr);
    assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
    for n in needles {
        assert!(o.stderr.contains(n), "{n:?} not in {}", o.stderr);
    }
}

/// Issue 13's first reproduction: m = k = 2^32, n = 1 with `"macs": 0` passed
/// `check` (the product wrapped to 0) and simulated at 9.2e11 inferences/s.
#[test]
fn regression_matmul_2_pow_32_squared_with_zero_macs_is_refused() {
    let dir = temp_dir("overflow", "matmul-wrap");
    let big = 1u64 << 32;
    let file = one_op(
        json!({ "type": "mat_mul", "batch": 1, "m": big, "k": big, "n": 1 }),
        &[big, big],
        &[big, 1],
        [0, 0, big, big, big],
    );
    let path = write(&dir, "g.json", &file.to_string());
    let path = path.to_str().unwrap();
    let hw = root().join("hw_specs/edgetpu_ring4.toml");
    let hw = hw.to_str().unwrap();
    for args in [
        vec!["check", path],
        vec!["simulate", "--hw", hw, "--model", path],
    ] {
        let o = tessera(&args);
        assert_refused(
            &o,
            &[
                "ops[0] (\"op0\"): macs: batch × m × k × n = 1 × 4294967296 × 4294967296 × 1 overflows u64",
                "inputs[0] shape [4294967296, 4294967296] of int8: elements × bytes per element overflows u64",
            ],
        );
    }
    // Through a scenario too.
    let scenario = format!(
        "name = \"wrap\"\nseed = 1\n[hardware]\nspec = {hw:?}\n[workload]\ngraph = {path:?}\n\
         [task]\nkind = \"simulate\"\nplacement = \"contiguous\"\n\
         [simulation]\nmicrobatches = 8\npacket_bytes = 4096\nswitching = \"store_and_forward\"\ntrace = false\n[output]\ndir = {:?}\nplots = \"none\"\n",
        dir.join("out").to_str().unwrap()
    );
    let s = write(&dir, "s.toml", &scenario);
    let o = tessera(&["run", s.to_str().unwrap()]);
    assert_refused(&o, &["macs: batch × m × k × n"]);
    assert!(!dir.join("out").exists(), "a refused run writes nothing");
}

/// Issue 13's second reproduction: a relu with `vector_ops` = 2^64 − 1 on a
/// 1-element-per-cycle vector unit finished in 199 cycles, `valid yes`.
#[test]
fn regression_relu_with_2_pow_64_vector_ops_is_refused() {
    let dir = temp_dir("overflow", "relu-wrap");
    let file = one_op(
        json!({ "type": "elementwise", "func": "relu" }),
        &[1, 64],
        &[1, 64],
        [0, u64::MAX, 0, 0, 64],
    );
    let path = write(&dir, "g.json", &file.to_string());
    let hw = ring4_with(
        &dir,
        &[("vector_elems_per_cycle = 64", "vector_elems_per_cycle = 1")],
    );
    let o = tessera(&[
        "simulate",
        "--hw",
        hw.to_str().unwrap(),
        "--model",
        path.to_str().unwrap(),
    ]);
    assert_refused(
        &o,
        &["ops[0] (\"op0\"): vector_ops is 18446744073709551615, more than the limit of 2^56"],
    );
    let o = tessera(&["check", path.to_str().unwrap()]);
    assert_refused(&o, &["vector_ops is 18446744073709551615"]);
}

/// A graph within the graph limits can still take more than `MAX_OP_CYCLES`
/// on a chiplet: 2^34 one-element products on a 64 × 64 array pay 127
/// cycles of fill and drain each (2^40.99 cycles). The refusal names the op
/// and the chiplet type.
#[test]
fn an_op_beyond_max_op_cycles_on_a_chiplet_type_is_refused_naming_both() {
    let dir = temp_dir("overflow", "op-cycles");
    let b = 1u64 << 34;
    let file = one_op(
        json!({ "type": "mat_mul", "batch": b, "m": 1, "k": 1, "n": 1 }),
        &[b],
        &[b],
        [b, 0, 0, 0, b],
    );
    let path = write(&dir, "g.json", &file.to_string());
    let path = path.to_str().unwrap();
    assert_eq!(
        tessera(&["check", path]).code,
        0,
        "the graph itself is fine"
    );
    let hw = root().join("hw_specs/edgetpu_ring4.toml");
    let o = tessera(&["simulate", "--hw", hw.to_str().unwrap(), "--model", path]);
    assert_refused(
        &o,
        &[
            "op \"op0\" (ops[0]) on chiplet type",
            "more than the limit of 2^40 (MAX_OP_CYCLES)",
        ],
    );
}

/// The graph JSON example in `docs/graph_json.md` is valid as written.
#[test]
fn the_documented_graph_json_example_is_valid() {
    let doc = fs::read_to_string(root().join("docs/graph_json.md")).unwrap();
    let start = doc.find("```json\n").unwrap() + "```json\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let g = Graph::from_json(&doc[start..end]).unwrap();
    assert_eq!(g.ops()[0].macs, 2048);
}

/// One of the extremes or a small value.
fn extreme() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => proptest::sample::select(EXTREMES.to_vec()),
        1 => 1u64..5,
        1 => Just(1u64 << 40),
    ]
}

/// What unbounded arithmetic says the counts of a one-op file are.
fn fits(shape: &[u64]) -> bool {
    let n = shape
        .iter()
        .fold(1u128, |p, &d| p.saturating_mul(u128::from(d)));
    !shape.is_empty() && !shape.contains(&0) && n <= u128::from(MAX_TENSOR_BYTES)
}

proptest! {
    #![proptest_config(sim::testkit::strategies::config(96))]

    /// A matmul's dimensions, shapes and declared costs drawn from the
    /// extremes: the file is accepted only when every count is what the
    /// shapes imply and within its limit (checked in u128 here), and
    /// otherwise refused as invalid, naming op0; `tessera check` agrees,
    /// exits 2 with `error:` and never panics.
    #[test]
    fn extreme_matmul_graph_json_is_refused_or_exact(
        dims in proptest::array::uniform4(extreme()),
        declared_macs in prop_oneof![Just(None), extreme().prop_map(Some)],
        vector_ops in extreme(),
        params in extreme(),
    ) {
        let [batch, m, k, n] = dims;
        // Saturating at 2^128: beyond every limit either way.
        let wide = |xs: &[u64]| xs.iter().fold(1u128, |p, &x| p.saturating_mul(u128::from(x)));
        let true_macs = wide(&[batch, m, k, n]);
        // The shapes a careful writer would give, wrapping as a careless
        // program would.
        let in_shape = [batch, m, k];
        let out_shape = [batch, m, n];
        let out_elems = wide(&out_shape) as u64;
        let macs = declared_macs.unwrap_or(true_macs as u64);
        let file = one_op(
            json!({ "type": "mat_mul", "batch": batch, "m": m, "k": k, "n": n }),
            &in_shape,
            &out_shape,
            [macs, vector_ops, params, params, out_elems],
        );
        let text = file.to_string();
        let expect_ok = fits(&in_shape)
            && fits(&out_shape)
            && u128::from(macs) == true_macs
            && true_macs <= u128::from(MAX_OP_MACS)
            && !dims.contains(&0)
            && vector_ops <= MAX_OP_VECTOR_OPS
            && params <= MAX_TENSOR_BYTES
            // The three tensors are at most 3 · 2^40 bytes: within MAX_GRAPH_BYTES.
            && 3 * u128::from(MAX_TENSOR_BYTES) <= u128::from(MAX_GRAPH_BYTES);
        match Graph::from_json(&text) {
            Ok(g) => {
                prop_assert!(expect_ok, "accepted {text}");
                let op = &g.ops()[0];
                prop_assert_eq!(u128::from(op.macs), true_macs);
                prop_assert_eq!(u128::from(op.output_bytes), wide(&out_shape));
            }
            Err(GraphJsonError::Invalid(e)) => {
                prop_assert!(!expect_ok, "refused {text}: {e}");
                for issue in &e.issues {
                    prop_assert!(
                        issue.op_name.as_deref() == Some("op0") || issue.message.starts_with("inputs[0] (\"x\")"),
                        "{issue}"
                    );
                }
            }
            Err(e) => prop_assert!(false, "not a validation error: {e}"),
        }
        let dir = temp_dir("overflow", "prop-matmul");
        let path = write(&dir, "g.json", &text);
        let o = tessera(&["check", path.to_str().unwrap()]);
        if Graph::from_json(&text).is_ok() {
            prop_assert_eq!(o.code, 0, "{}", o.stderr);
        } else {
            prop_assert_eq!(o.code, 2);
            prop_assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
        }
    }

    /// An op's cost on a chiplet type drawn from the spec's extremes is
    /// either exactly the compute model's number (computed here in u128) and
    /// at most `MAX_OP_CYCLES`, or refused naming the op and the type.
    #[test]
    fn op_cost_is_exact_or_refused(
        dims in proptest::array::uniform4(prop_oneof![1u64..70, Just(1u64 << 20), Just(1u64 << 32)]),
        vector in any::<bool>(),
        vector_ops in prop_oneof![Just(0u64), Just(1u64 << 32), Just(MAX_OP_VECTOR_OPS)],
        side in prop_oneof![Just(1u64), 2u64..130, Just(1u64 << 16)],
        rate in prop_oneof![Just(1u64), Just(64u64), Just(1u64 << 40)],
        overhead in prop_oneof![Just(0u64), Just(256u64), Just(1u64 << 32)],
    ) {
        let [batch, m, k, n] = dims;
        let wide = |x: u64| u128::from(x);
        // Ops as validation leaves them: MACs and tensors within the limits.
        let macs = dims.iter().try_fold(1u128, |p, &d| p.checked_mul(wide(d)));
        prop_assume!(vector || macs.is_some_and(|p| p <= wide(MAX_OP_MACS)));
        let kind = if vector {
            OpKind::Elementwise { func: sim::graph::EltFunc::Relu }
        } else {
            OpKind::MatMul { batch, m, k, n }
        };
        let (in_elems, out_elems) = if vector { (m, m) } else { (batch * m * k, batch * m * n) };
        let op = Op {
            id: OpId(0),
            name: "op0".to_string(),
            kind,
            inputs: vec![OpInput { source: Source::GraphInput("x".into()), shape: vec![in_elems] }],
            output_shape: vec![out_elems],
            dtype: DType::Int8,
            macs: if vector { 0 } else { batch * m * k * n },
            vector_ops: if vector { vector_ops } else { 0 },
            params: 0,
            weight_bytes: 0,
            output_bytes: out_elems,
        };
        let ty = ChipletType {
            name: "t".to_string(),
            macs_per_cycle: side * side,
            array_rows: side,
            array_cols: side,
            vector_elems_per_cycle: rate,
            sram_kib: 1,
            sram_bandwidth_bytes_per_cycle: rate,
            op_overhead_cycles: overhead,
            energy_per_mac_pj: 1.0,
            energy_per_sram_byte_pj: 1.0,
        };
        let engine = if vector {
            wide(vector_ops).div_ceil(wide(rate))
        } else {
            wide(batch) * wide(m.div_ceil(side)) * wide(n.div_ceil(side)) * (2 * wide(side) + wide(k) - 2)
        };
        let sram = (wide(in_elems) + wide(out_elems)).div_ceil(wide(rate));
        let expected = wide(overhead) + engine.max(sram);
        match bounded_op_cost(&op, &ty) {
            Ok(c) => {
                prop_assert_eq!(wide(c.cycles), expected);
                prop_assert!(c.cycles <= MAX_OP_CYCLES);
            }
            Err(e @ CostError::OpCycles { .. }) => {
                prop_assert!(expected > wide(MAX_OP_CYCLES), "{e}");
                let text = e.to_string();
                prop_assert!(text.contains("op \"op0\"") && text.contains("chiplet type \"t\""), "{}", text);
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
        // The infallible form never wraps: exact, or saturated at u64::MAX.
        let c = sim::cost::op_cost(&op, &ty);
        prop_assert_eq!(wide(c.cycles), expected.min(wide(u64::MAX)));
    }

    /// Spec numbers at the extremes (TOML integers stop at 2^63 − 1): the
    /// spec is refused with exit 2, or a zoo model simulates on it, or the
    /// cycle check refuses it; never a panic.
    #[test]
    fn extreme_spec_numbers_are_refused_or_simulate(
        key in proptest::sample::select(vec![
            "vector_elems_per_cycle = 64",
            "sram_bandwidth_bytes_per_cycle = 256",
            "op_overhead_cycles = 256",
            "array_rows = 64",
            "sram_kib = ",
        ]),
        value in proptest::sample::select(vec![
            "0".to_string(), "1".to_string(), (1u64 << 32).to_string(),
            (1u64 << 63).to_string(), u64::MAX.to_string(), (i64::MAX).to_string(),
        ]),
    ) {
        let dir = temp_dir("overflow", "prop-spec");
        let name = key.split(" = ").next().unwrap();
        let text = fs::read_to_string(root().join("hw_specs/edgetpu_ring4.toml")).unwrap();
        let text: String = text
            .lines()
            .map(|l| if l.starts_with(&format!("{name} = ")) { format!("{name} = {value}") } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n");
        let hw = write(&dir, "hw.toml", &text);
        let o = tessera(&["simulate", "--hw", hw.to_str().unwrap(), "--model", "mlp", "--microbatches", "2"]);
        prop_assert!(o.code == 0 || o.code == 2, "{}", o.stderr);
        if o.code == 2 {
            prop_assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
        }
    }
}
