//! Graph JSON round-trips: every zoo model and random graphs load back to an
//! identical graph; malformed graph files are refused with the op named.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sim::graph::{DType, EltFunc, Graph, GraphBuilder, GraphFile, GraphJsonError, Source};
use sim::testkit::{DagRecipe, DagSpace, Structure, Unary, strategies};
use sim::zoo;

#[test]
fn every_zoo_model_round_trips_through_json() {
    for m in zoo::models() {
        let g = zoo::build(m.name, &BTreeMap::new()).unwrap();
        let text = g.to_json();
        let back = Graph::from_json(&text).unwrap();
        assert_eq!(back, g, "{}", m.name);
        assert_eq!(back.to_json(), text, "{}: JSON is not stable", m.name);
    }
}

/// Random graphs of 1 to 40 ops in every element type: GEMMs to 1 to 63
/// features, joins, every unary op, any-earlier or layered.
fn random_graphs() -> BoxedStrategy<DagRecipe> {
    strategies::dag(&DagSpace {
        dtypes: DType::ALL.to_vec(),
        input_dims: vec![(1..4).collect(), (1..32).collect(), (1..64).collect()],
        steps: 0..=39,
        gemm_widths: (1..64).collect(),
        unary: Unary::ALL.to_vec(),
        structures: vec![Structure::Any, Structure::Layered { width: 4 }],
    })
    .expect("a valid space")
}

proptest! {
    #![proptest_config(sim::testkit::strategies::config(64))]

    #[test]
    fn random_graphs_round_trip(dag in random_graphs()) {
        let g = dag.build().unwrap();
        let back = Graph::from_json(&g.to_json()).unwrap();
        prop_assert_eq!(&back, &g);
        prop_assert_eq!(back.edges(), g.edges());
    }
}

fn small_file() -> GraphFile {
    let mut g = GraphBuilder::new("t", "t", DType::Int8);
    let x = g.input("x", &[1, 4, 8]);
    let a = g.linear("a", &x, 8, false).unwrap();
    let b = g.eltwise("b", EltFunc::Relu, &[&a], 0).unwrap();
    g.linear("c", &b, 2, false).unwrap();
    g.finish().unwrap().file().clone()
}

#[test]
fn a_cycle_is_refused() {
    let mut f = small_file();
    f.ops[1].inputs[0].source = Source::Op(sim::graph::OpId(2));
    f.ops[1].inputs[0].shape = vec![1, 4, 2];
    let e = Graph::new(f).unwrap_err().to_string();
    assert!(e.contains("cycle"), "{e}");
    assert!(e.contains("ops[1] (\"b\")"), "{e}");
}

#[test]
fn a_dangling_input_is_refused() {
    let mut f = small_file();
    f.ops[2].inputs[0].source = Source::Op(sim::graph::OpId(9));
    let e = Graph::new(f.clone()).unwrap_err().to_string();
    assert!(
        e.contains("ops[2] (\"c\")") && e.contains("dangling"),
        "{e}"
    );
    f.ops[2].inputs[0].source = Source::GraphInput("nope".into());
    let e = Graph::new(f).unwrap_err().to_string();
    assert!(e.contains("not declared"), "{e}");
}

#[test]
fn inconsistent_shapes_along_an_edge_are_refused() {
    let mut f = small_file();
    f.ops[1].inputs[0].shape = vec![1, 8, 8];
    let e = Graph::new(f).unwrap_err().to_string();
    assert!(
        e.contains("ops[1]") && e.contains("produces [1, 4, 8], a different number of elements"),
        "{e}"
    );
}

#[test]
fn lying_costs_are_refused() {
    let mut f = small_file();
    f.ops[0].macs += 1;
    f.ops[2].output_bytes = 3;
    let e = Graph::new(f).unwrap_err();
    assert_eq!(e.issues.len(), 2, "{e}");
}

#[test]
fn unknown_fields_and_versions_are_refused() {
    let text = Graph::new(small_file()).unwrap().to_json();
    let extra = text.replacen("\"name\"", "\"colour\": 1, \"name\"", 1);
    let e = Graph::from_json(&extra).unwrap_err();
    assert!(matches!(e, GraphJsonError::Json { .. }), "{e:?}");
    assert!(e.to_string().contains("colour"), "{e}");
    let v2 = text.replacen("\"format_version\": 1", "\"format_version\": 2", 1);
    let e = Graph::from_json(&v2).unwrap_err();
    assert_eq!(e, GraphJsonError::Version { found: 2 });
    assert_eq!(
        e.to_string(),
        "format_version: this build reads version 1, found 2"
    );
}

/// The layout and reduction kinds an ONNX import produces: each validates its
/// shapes, round-trips, and a reshape costs nothing.
#[test]
fn layout_and_reduction_ops_validate_their_shapes() {
    use sim::graph::{OpKind, ReduceFunc};
    let mut g = GraphBuilder::new("t", "t", DType::Fp16);
    let x = g.input("x", &[2, 3, 4]);
    let t = g.transpose("t", &x, &[0, 2, 1]).unwrap();
    assert_eq!(t.shape, [2, 4, 3]);
    let r = g.reshape("r", &t, &[8, 3]).unwrap();
    let m = g.reduce("m", &r, ReduceFunc::Mean, &[1], true).unwrap();
    assert_eq!(m.shape, [8, 1]);
    // [8, 1] broadcasts against [8, 3] in an element-wise op.
    let d = g.eltwise("d", EltFunc::Sub, &[&r, &m], 0).unwrap();
    let b = g.broadcast("b", &m, &[2, 8, 3]).unwrap();
    // A folded reshape: `d` ([8, 3]) read as [1, 8, 3].
    g.eltwise("e", EltFunc::Add, &[&b, &d.view(&[1, 8, 3])], 0)
        .unwrap();
    let graph = g.finish().unwrap();
    assert_eq!(Graph::from_json(&graph.to_json()).unwrap(), graph);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hw_specs/edgetpu_ring4.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let spec = sim::spec::HwSpec::from_toml_str(&text, path).unwrap();
    let ty = spec.chiplet_type(sim::spec::ChipletId(0));
    let reshape = &graph.ops()[1];
    assert_eq!(reshape.kind, OpKind::Reshape);
    assert_eq!(sim::cost::op_cost(reshape, ty).cycles, 0);
    assert!(sim::cost::op_cost(&graph.ops()[0], ty).cycles > 0);

    let refused = |edit: &dyn Fn(&mut GraphFile), needle: &str| {
        let mut f = graph.file().clone();
        edit(&mut f);
        let e = Graph::new(f).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    };
    refused(
        &|f| {
            f.ops[0].kind = OpKind::Transpose {
                perm: vec![0, 1, 1],
            }
        },
        "is not a permutation",
    );
    refused(
        &|f| {
            f.ops[0].kind = OpKind::Transpose {
                perm: vec![1, 0, 2],
            }
        },
        "gives [3, 2, 4], not output_shape [2, 4, 3]",
    );
    refused(
        &|f| f.ops[1].output_shape = vec![5, 5],
        "cannot give output_shape",
    );
    refused(
        &|f| {
            f.ops[2].kind = OpKind::Reduce {
                func: ReduceFunc::Mean,
                axes: vec![1],
                keep_dims: false,
            }
        },
        "gives [8], not output_shape [8, 1]",
    );
    refused(
        &|f| f.ops[3].inputs[1].shape = vec![3, 8],
        "does not broadcast",
    );
    refused(
        &|f| f.ops[4].output_shape = vec![2, 9, 3],
        "does not broadcast",
    );
}

/// `text` with every derived field an op may leave out removed: `macs`,
/// `weight_bytes` and `output_bytes` always, `output_shape` unless the kind
/// needs it stated (reshape, broadcast, a concatenation that joins a learned
/// tensor) or the zoo chose another layout than the derived one (a batched
/// matmul whose heads it merges back), `params` where the kind fixes it.
fn without_derived_fields(text: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    for op in v["ops"].as_array_mut().unwrap() {
        let kind = op["kind"]["type"].as_str().unwrap().to_string();
        let n_inputs = op["inputs"].as_array().unwrap().len();
        let params = op["params"].as_u64().unwrap();
        let batched = op["kind"]["batch"].as_u64().is_some_and(|b| b > 1);
        let o = op.as_object_mut().unwrap();
        for field in ["macs", "weight_bytes", "output_bytes"] {
            o.remove(field);
        }
        let shape_needed = kind == "reshape"
            || kind == "broadcast"
            || (kind == "concat" && params > 0)
            || (kind == "mat_mul" && batched);
        if !shape_needed {
            o.remove("output_shape");
        }
        let params_fixed = match kind.as_str() {
            "mat_mul" => n_inputs == 2,
            "conv2d" | "elementwise" | "concat" => false,
            _ => true,
        };
        if params_fixed {
            o.remove("params");
        }
    }
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn every_zoo_model_reads_back_the_same_without_its_derived_fields() {
    for m in zoo::models() {
        let g = zoo::build(m.name, &BTreeMap::new()).unwrap();
        let short = without_derived_fields(&g.to_json());
        assert!(short.len() < g.to_json().len(), "{}", m.name);
        let back = Graph::from_json(&short).unwrap_or_else(|e| panic!("{}: {e}", m.name));
        for (a, b) in back.ops().iter().zip(g.ops()) {
            assert_eq!(a, b, "{}", m.name);
        }
        assert_eq!(back, g, "{}", m.name);
        // Written out again, every field is stated.
        assert_eq!(back.to_json(), g.to_json(), "{}", m.name);
    }
}

proptest! {
    #![proptest_config(sim::testkit::strategies::config(64))]

    #[test]
    fn random_graphs_read_back_the_same_without_their_derived_fields(dag in random_graphs()) {
        let g = dag.build().unwrap();
        let back = Graph::from_json(&without_derived_fields(&g.to_json())).unwrap();
        prop_assert_eq!(&back, &g);
    }
}

#[test]
fn a_derived_field_that_is_given_is_still_checked() {
    let text = Graph::new(small_file()).unwrap().to_json();
    let mut v: serde_json::Value = serde_json::from_str(&without_derived_fields(&text)).unwrap();
    v["ops"][0]["macs"] = serde_json::json!(7);
    v["ops"][1]["output_shape"] = serde_json::json!([1, 4, 9]);
    let e = Graph::from_json(&v.to_string()).unwrap_err().to_string();
    assert!(e.contains("ops[0] (\"a\"): macs is 7 but"), "{e}");
    assert!(e.contains("ops[1] (\"b\")"), "{e}");
}

#[test]
fn a_field_that_cannot_be_derived_is_asked_for_by_name() {
    let mut g = GraphBuilder::new("t", "t", DType::Fp16);
    let x = g.input("x", &[1, 4, 8]);
    let a = g.linear("a", &x, 8, true).unwrap();
    g.reshape("flat", &a, &[1, 32]).unwrap();
    let text = g.finish().unwrap().to_json();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["ops"][0].as_object_mut().unwrap().remove("params");
    v["ops"][1].as_object_mut().unwrap().remove("output_shape");
    let e = Graph::from_json(&v.to_string()).unwrap_err();
    let GraphJsonError::Invalid(e) = e else {
        panic!("{e:?}")
    };
    let lines: Vec<String> = e.issues.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "ops[0] (\"a\"): params is missing and a matmul with weights must state it (k × n, plus n with a bias)",
            "ops[1] (\"flat\"): output_shape is missing and a reshape's target shape must be stated",
        ]
    );
}
