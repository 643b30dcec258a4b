//! Unit tests of the test kit: every draw from broad spaces builds, draws are
//! deterministic per seed, the first choices give the simplest recipe,
//! layered graphs keep their layers, and a package built in code equals the
//! same package read from its spec file.

use rand::SeedableRng;

use super::draw::Picks;
use super::*;
use crate::graph::{DType, Source};
use crate::spec::{ChipletId, HwSpec, Routing};

fn broad_dags() -> DagSpace {
    DagSpace::broad()
}

fn broad_packages() -> PackageSpace {
    PackageSpace::broad()
}

#[test]
fn every_seeded_draw_from_broad_spaces_builds() {
    let (dags, packages) = (broad_dags(), broad_packages());
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..300 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let recipe = dags.sample(&mut rng).unwrap();
        let g = recipe.build().unwrap_or_else(|e| panic!("{recipe:?}: {e}"));
        assert_eq!(g.ops().len(), recipe.n_ops());
        let p = packages.sample(&mut rng).unwrap();
        let spec = p.build().unwrap_or_else(|e| panic!("{p:?}: {e}"));
        assert_eq!(spec.n_chiplets(), p.n_chiplets());
        kinds.insert(spec.topology.split(' ').next().unwrap_or("").to_string());
    }
    // Every kind of generator was drawn, and packages without one (their
    // topology reads "no links").
    for kind in [
        "unidirectional",
        "bidirectional",
        "mesh",
        "torus",
        "all-to-all",
        "no",
    ] {
        assert!(kinds.contains(kind), "{kind:?} never drawn: {kinds:?}");
    }
}

#[test]
fn a_seed_gives_the_same_recipe_every_time() {
    let space = broad_packages();
    let draw = |seed| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (
            broad_dags().sample(&mut rng).unwrap(),
            space.sample(&mut rng).unwrap(),
        )
    };
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
}

#[test]
fn the_first_choices_give_the_simplest_recipe() {
    let dag = broad_dags().draw(&mut Picks::new(Vec::new()));
    assert_eq!(dag.steps, Vec::new());
    assert_eq!((dag.dtype, dag.input_shape), (DType::Int8, vec![1, 1, 1]));
    let p = broad_packages().draw(&mut Picks::new(Vec::new()));
    assert_eq!(p.n_chiplets(), 1);
    assert_eq!((p.topology, &p.memory), (None, &None));
    assert_eq!(p.pipeline_order, vec![ChipletId(0)]);
    p.build().unwrap();
}

#[test]
fn layered_graphs_read_only_the_layer_before_except_residual_joins() {
    let space = DagSpace {
        structures: vec![Structure::Layered { width: 3 }],
        ..broad_dags()
    };
    for seed in 0..50 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let g = random_dag(&space, &mut rng).unwrap();
        let layer = |op: usize| if op == 0 { 0 } else { (op - 1) / 3 + 1 };
        for op in g.ops().iter().skip(1) {
            let reads: Vec<usize> = op
                .inputs
                .iter()
                .filter_map(|i| match i.source {
                    Source::Op(id) => Some(id.idx()),
                    Source::GraphInput(_) => None,
                })
                .collect();
            let here = layer(op.id.idx());
            assert_eq!(layer(reads[0]) + 1, here, "{}: {reads:?}", op.name);
            assert!(reads.iter().all(|&r| layer(r) < here), "{}", op.name);
        }
    }
}

#[test]
fn a_package_built_in_code_equals_its_spec_file() {
    let text = include_str!("../../../hw_specs/simba_6x6.toml");
    let file = HwSpec::from_toml_str(text, "simba_6x6.toml").unwrap();
    let ty = file.chiplet_types[0].clone();
    let link = file.links[0].clone();
    let built = PackageBuilder::new("simba_6x6")
        .clock_mhz(file.clock_mhz)
        .chiplets(36, &ty.name)
        .chiplet_type(ty)
        .topology(
            Topology::Mesh { rows: 6, cols: 6 },
            LinkProps {
                bandwidth_bytes_per_cycle: link.bandwidth_bytes_per_cycle,
                latency_cycles: link.latency_cycles,
                energy_per_bit_pj: link.energy_per_bit_pj,
            },
        )
        .routing(Routing::Xy)
        .pipeline_order(PipelineOrder::Snake)
        .constraints(file.constraints)
        .build()
        .unwrap();
    let same = HwSpec {
        source: file.source.clone(),
        notes: file.notes.clone(),
        ..built
    };
    assert_eq!(same, file);
}

#[test]
fn missing_parts_and_bad_numbers_are_reported_not_panicked_on() {
    let e = PackageBuilder::new("empty").build().unwrap_err();
    let TestkitError::Spec { diagnostics, toml } = &e else {
        panic!("{e:?}")
    };
    let fields: Vec<&str> = diagnostics.0.iter().map(|d| d.field.as_str()).collect();
    for field in [
        "clock_mhz",
        "chiplet_types",
        "chiplets",
        "routing",
        "constraints",
    ] {
        assert!(fields.contains(&field), "{field} not reported: {fields:?}");
    }
    assert!(toml.contains("name = \"empty\""), "{toml}");
    assert!(e.to_string().contains("<PackageBuilder empty>"), "{e}");
    let mut ty = broad_packages().draw(&mut Picks::new(Vec::new())).types[0].clone();
    ty.sram_kib = u64::MAX;
    let e = PackageBuilder::new("huge")
        .chiplet_type(ty)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "chiplet_types.t0.sram_kib: 18446744073709551615 is beyond the largest TOML integer, 2^63 − 1"
    );
    let space = DagSpace {
        dtypes: Vec::new(),
        ..broad_dags()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    assert!(matches!(
        space.sample(&mut rng),
        Err(TestkitError::Space {
            field: "dtypes",
            ..
        })
    ));
}

#[test]
fn a_chain_has_one_op_per_link() {
    let g = chain(5, &[1, 4]).unwrap();
    assert_eq!(g.ops().len(), 5);
    assert_eq!(g.edges().len(), 4);
    assert!(chain(0, &[1, 4]).is_err(), "a graph needs an op");
}
