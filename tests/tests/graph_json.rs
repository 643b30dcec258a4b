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
