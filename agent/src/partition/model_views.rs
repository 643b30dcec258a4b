//! One test that every view of `sim::problem`'s model agrees with it: the
//! SRAM rule against its definition restated independently here, and
//! repair's view by position (full and partial placements, one position, one
//! op), exact's objective and SRAM check, dp's segment costs and
//! feasibility, and the wrappers in `sim::constraints` and `sim::oracle`,
//! on random zoo graphs, packages (heterogeneous types, weight streaming
//! from off-package memory on some or all chiplets, SRAM sized to bind) and
//! placements.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::constraints::{Constraints, Violation, activation_peaks, check, sram_need};
use sim::graph::{Graph, Source, numel};
use sim::oracle::analyse;
use sim::problem::{PeakScratch, ProblemModel};
use sim::spec::{ChipletId, HwSpec};
use sim::{Placement, SimOptions, zoo};

use super::exact::model::Model as ExactModel;
use super::methods::SegmentModel;
use super::repair::sram::{SramModel, UNPLACED};

/// A random zoo graph, small enough for many cases: transformers (embedding
/// lookups, residuals, graph inputs read by several ops), convolutional
/// networks and MLPs.
fn zoo_graph(which: u8, size: u64) -> Graph {
    let classes = (2 + size).to_string();
    let hidden = (32 * (1 + size % 3)).to_string();
    let (name, params): (&str, Vec<(&str, String)>) = match which % 6 {
        0 => (
            "bert-base",
            vec![
                ("layers", (1 + size % 2).to_string()),
                ("hidden", hidden.clone()),
                ("heads", "2".into()),
                ("ffn", "128".into()),
                ("vocab", "500".into()),
                ("seq", (8 * (1 + size % 4)).to_string()),
            ],
        ),
        1 => (
            "gpt2-small",
            vec![
                ("layers", "1".into()),
                ("hidden", hidden),
                ("heads", "2".into()),
                ("ffn", "96".into()),
                ("vocab", "300".into()),
                ("seq", "16".into()),
            ],
        ),
        2 => (
            "vit-ti16",
            vec![
                ("layers", "1".into()),
                ("image", "32".into()),
                ("classes", "10".into()),
            ],
        ),
        3 => (
            "resnet18",
            vec![("image", "32".into()), ("classes", classes)],
        ),
        4 => ("cifarnet", vec![("batch", (1 + size % 3).to_string())]),
        _ => (
            "mlp",
            vec![(
                "sizes",
                format!("{},{},{},10", 64 * (1 + size % 4), 256, 32 * (1 + size % 5)),
            )],
        ),
    };
    let params: BTreeMap<String, String> = params
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    zoo::build(name, &params).unwrap_or_else(|e| panic!("{name} {params:?}: {e}"))
}

/// A random package for `graph`: 2 to 6 chiplets, one or two types, a
/// topology, and SRAM sized from the graph's weights so that it binds.
#[derive(Clone, Debug)]
struct Package {
    n: u32,
    topology: u8,
    hetero: bool,
    /// SRAM per chiplet as a share of the weights per chiplet, in eighths.
    sram_eighths: u64,
    /// 0: no memory; 1: streaming for every chiplet; 2: for chiplets 0 and
    /// 2 (0 alone on two chiplets); 3: a memory that does not stream weights.
    memory: u8,
    /// Rotation of the pipeline order (positions differ from ids).
    rotation: u32,
}

fn package() -> impl Strategy<Value = Package> {
    (2u32..=6, 0u8..4, any::<bool>(), 1u64..=24, 0u8..4, 0u32..6).prop_map(
        |(n, topology, hetero, sram_eighths, memory, rotation)| Package {
            n,
            topology,
            hetero,
            sram_eighths,
            memory,
            rotation,
        },
    )
}

fn build_spec(p: &Package, graph: &Graph) -> HwSpec {
    let weights: u64 = graph.ops().iter().map(|o| o.weight_bytes).sum();
    let sram_kib = (weights * p.sram_eighths / 8 / u64::from(p.n) / 1024).max(1);
    let order: Vec<String> = (0..p.n)
        .map(|i| ((i + p.rotation) % p.n).to_string())
        .collect();
    let mut t = format!(
        "name = \"views\"\nsource = [\"test\"]\nnotes = \"test\"\nclock_mhz = 1000\n\
         pipeline_order = [{}]\n",
        order.join(", ")
    );
    for (name, scale, sram) in [("a", 1, sram_kib), ("b", 4, sram_kib * 3 / 2 + 1)] {
        t += &format!(
            "[chiplet_types.{name}]\nmacs_per_cycle = {}\narray_rows = {}\narray_cols = {}\n\
             vector_elems_per_cycle = {}\nsram_kib = {sram}\nsram_bandwidth_bytes_per_cycle = {}\n\
             op_overhead_cycles = 10\nenergy_per_mac_pj = 1.0\nenergy_per_sram_byte_pj = 1.0\n",
            64 * scale * scale,
            8 * scale,
            8 * scale,
            4 * scale,
            16 * scale,
        );
    }
    for c in 0..p.n {
        let ty = if p.hetero && c % 2 == 1 { "b" } else { "a" };
        t += &format!("[[chiplets]]\nid = {c}\ntype = \"{ty}\"\n");
    }
    let link = "bandwidth_bytes_per_cycle = 8\nlatency_cycles = 3\nenergy_per_bit_pj = 1.0\n";
    let mut routing = "shortest_path";
    match (p.n, p.topology) {
        (4, 3) | (6, 3) => {
            t += &format!(
                "[[topology]]\nkind = \"mesh\"\nrows = 2\ncols = {}\n{link}",
                p.n / 2
            );
            routing = "xy";
        }
        (2, _) | (_, 0) => {
            t += &format!("[[topology]]\nkind = \"chain\"\nbidirectional = true\n{link}")
        }
        (_, 1) => t += &format!("[[topology]]\nkind = \"ring\"\nbidirectional = false\n{link}"),
        _ => t += &format!("[[topology]]\nkind = \"all_to_all\"\n{link}"),
    }
    t += &format!("[routing]\nkind = \"{routing}\"\n");
    let (chiplets, streaming) = match p.memory {
        1 => ("\"all\"", true),
        2 if p.n == 2 => ("[0]", true),
        2 => ("[0, 2]", true),
        3 => ("\"all\"", false),
        _ => ("", false),
    };
    if !chiplets.is_empty() {
        t += &format!(
            "[memory]\ncapacity_mib = 64\nbandwidth_bytes_per_cycle = 8\nlatency_cycles = 20\n\
             energy_per_byte_pj = 1.0\nchiplets = {chiplets}\nweight_streaming = {streaming}\n"
        );
    }
    t += "[constraints]\nacyclic_dataflow = true\nno_skipping = \"off\"\nno_triangle = false\n\
          sram_capacity = true\n";
    HwSpec::from_toml_str(&t, "views.toml").unwrap_or_else(|d| panic!("{d:?}\n{t}"))
}

/// The SRAM rule of `sim::problem`, restated from its definition: resident
/// weights (none where the chiplet streams) plus the most bytes of tensors
/// whose live interval holds an op of the chiplet, plus that op's graph
/// inputs. Returns (need, peak) per chiplet.
fn sram_by_definition(spec: &HwSpec, g: &Graph, chip_of: &[ChipletId]) -> Vec<(u64, u64)> {
    let ops = g.ops();
    let streams = |c: ChipletId| {
        spec.memory
            .as_ref()
            .is_some_and(|m| m.weight_streaming && m.chiplets.contains(&c))
    };
    (0..spec.n_chiplets())
        .map(|c| {
            let id = ChipletId(c as u32);
            let on = |v: usize| chip_of[v] == id;
            // Live interval of each tensor on c, if any.
            let interval = |t: usize| {
                let readers: Vec<usize> = g
                    .consumers(ops[t].id)
                    .iter()
                    .map(|q| q.idx())
                    .filter(|&q| on(q))
                    .collect();
                match (on(t), readers.first(), readers.last()) {
                    (true, _, last) => Some((t, last.copied().unwrap_or(t).max(t))),
                    (false, Some(&first), Some(&last)) => Some((first, last)),
                    _ => None,
                }
            };
            let intervals: Vec<(usize, usize, u64)> = (0..ops.len())
                .filter_map(|t| interval(t).map(|(a, b)| (a, b, ops[t].output_bytes)))
                .collect();
            let peak = (0..ops.len())
                .filter(|&j| on(j))
                .map(|j| {
                    let live: u64 = intervals
                        .iter()
                        .filter(|&&(a, b, _)| a <= j && j <= b)
                        .map(|&(_, _, bytes)| bytes)
                        .sum();
                    let graph_inputs: u64 = ops[j]
                        .inputs
                        .iter()
                        .filter(|x| matches!(x.source, Source::GraphInput(_)))
                        .map(|x| numel(&x.shape) * ops[j].dtype.bytes())
                        .sum();
                    live + graph_inputs
                })
                .max()
                .unwrap_or(0);
            let weights: u64 = if streams(id) {
                0
            } else {
                (0..ops.len())
                    .filter(|&v| on(v))
                    .map(|v| ops[v].weight_bytes)
                    .sum()
            };
            (weights + peak, peak)
        })
        .collect()
}

/// A random placement: uniform, or contiguous segments in pipeline order.
fn placement(rng: &mut ChaCha8Rng, spec: &HwSpec, n_ops: usize) -> Vec<ChipletId> {
    let k = spec.n_chiplets();
    if rng.gen_bool(0.5) {
        return (0..n_ops)
            .map(|_| ChipletId(rng.gen_range(0..k as u32)))
            .collect();
    }
    let mut cuts: Vec<usize> = (0..k - 1).map(|_| rng.gen_range(0..=n_ops)).collect();
    cuts.sort_unstable();
    (0..n_ops)
        .map(|v| spec.pipeline_order[cuts.iter().filter(|&&c| c <= v).count()])
        .collect()
}

proptest! {
    #![proptest_config(sim::testkit::strategies::config(128))]

    #[test]
    fn every_view_agrees_with_the_problem_model(
        which in 0u8..6,
        size in 0u64..12,
        pk in package(),
        seed in any::<u64>(),
    ) {
        let g = zoo_graph(which, size);
        let spec = build_spec(&pk, &g);
        let options = SimOptions::default();
        let model = ProblemModel::new(&spec, &g, &options);
        let repair_view = SramModel::new(&spec, &g);
        let exact_view = ExactModel::new(
            &spec,
            &g,
            &spec.constraints,
            &options,
            super::exact::Objective::Bottleneck,
        );
        let sram_only = Constraints {
            sram_capacity: true,
            ..Constraints::none()
        };
        let dp_view = SegmentModel::new(&spec, &g, &sram_only, &options, true);
        let (n, k) = (g.ops().len(), spec.n_chiplets());
        let pos = spec.pipeline_positions();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut scratch = PeakScratch::default();
        for _ in 0..4 {
            let chip_of = placement(&mut rng, &spec, n);
            let p = Placement { chiplet_of_op: chip_of.clone() };

            // The model against the rule's definition, and sim's wrappers.
            let need = model.sram_need_bytes(&chip_of);
            let peaks = model.activation_peak_bytes(&chip_of);
            let by_definition = sram_by_definition(&spec, &g, &chip_of);
            prop_assert_eq!(&need, &by_definition.iter().map(|x| x.0).collect::<Vec<_>>());
            prop_assert_eq!(&peaks, &by_definition.iter().map(|x| x.1).collect::<Vec<_>>());
            prop_assert_eq!(&sram_need(&spec, &g, &chip_of), &need);
            prop_assert_eq!(&activation_peaks(&spec, &g, &chip_of), &peaks);
            let overflows = check(&spec, &g, &p, &sram_only)
                .iter()
                .filter(|v| matches!(v, Violation::SramCapacity { .. }))
                .count();
            let over = (0..k)
                .filter(|&c| need[c] > model.class_of_chiplet(c).sram_bytes)
                .count();
            prop_assert_eq!(overflows, over);

            // Repair's view by position: full, one position, partial, alone.
            let positions: Vec<u16> = chip_of.iter().map(|c| pos[c.idx()] as u16).collect();
            let by_position = repair_view.needs(&positions);
            for c in 0..k {
                prop_assert_eq!(by_position[pos[c]], need[c]);
                let mut on_c: Vec<u32> = (0..n as u32)
                    .filter(|&v| chip_of[v as usize].idx() == c)
                    .collect();
                on_c.shuffle(&mut rng);
                prop_assert_eq!(repair_view.need_at(&positions, &on_c, pos[c] as u16), need[c]);
            }
            let partial: Vec<u16> = positions
                .iter()
                .map(|&q| if rng.gen_bool(0.5) { q } else { UNPLACED })
                .collect();
            for (i, &lower) in repair_view.needs(&partial).iter().enumerate() {
                let c = spec.pipeline_order[i].idx();
                let placed: Vec<usize> = (0..n).filter(|&v| partial[v] as usize == i).collect();
                let here = |v: usize| partial[v] as usize == i;
                let direct = model.sram_need_bytes_of(model.class_of[c], &placed, here, &mut scratch);
                prop_assert_eq!(lower, direct);
                prop_assert!(lower <= need[c]);
            }
            let v = rng.gen_range(0..n);
            let mut alone = vec![UNPLACED; n];
            alone[v] = positions[v];
            let i = positions[v] as usize;
            prop_assert_eq!(repair_view.needs(&alone)[i], repair_view.own_need(v, i));
            prop_assert!(repair_view.own_need(v, i) <= need[chip_of[v].idx()]);

            // Exact's objective and SRAM check.
            let oracle = analyse(&spec, &g, &p, &options);
            let indices: Vec<usize> = chip_of.iter().map(|c| c.idx()).collect();
            prop_assert_eq!(exact_view.objective(&indices), oracle.bottleneck_cycles);
            prop_assert_eq!(exact_view.sram_fits(&chip_of), over == 0);
            prop_assert_eq!(model.bottleneck_cycles(&chip_of), oracle.bottleneck_cycles);
            prop_assert_eq!(&model.stages(&chip_of).stage_cycles, &oracle.stage_cycles);
            prop_assert_eq!(&model.link_cycles(&chip_of), &oracle.link_cycles);
        }

        // Dp's segments: stage cycles as the oracle counts them with the
        // segment alone on its chiplet, memory cycles as the model counts
        // them, feasibility as the SRAM rule decides it.
        for _ in 0..6 {
            let s = rng.gen_range(0..k);
            let i = rng.gen_range(0..n);
            let j = rng.gen_range(i + 1..=n);
            let chip = spec.pipeline_order[s];
            let other = spec.pipeline_order[(s + 1) % k];
            let mut chip_of = vec![other; n];
            chip_of[i..j].fill(chip);
            let p = Placement { chiplet_of_op: chip_of.clone() };
            let cost = dp_view.segment_cost(s, i, j);
            let oracle = analyse(&spec, &g, &p, &options);
            prop_assert_eq!(cost.stage_cycles, oracle.stage_cycles[chip.idx()]);
            let ops: Vec<usize> = (i..j).collect();
            let direct = model.stage_cost_of(
                model.class_of[chip.idx()],
                &ops,
                |v| (i..j).contains(&v),
                &mut scratch,
            );
            prop_assert_eq!(cost.memory_cycles, direct.memory_cycles);
            let fits = model.sram_need_bytes(&chip_of)[chip.idx()]
                <= model.class_of_chiplet(chip.idx()).sram_bytes;
            prop_assert_eq!(dp_view.feasible(s, i, j), fits);
        }
    }
}
