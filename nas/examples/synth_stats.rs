//! How synthesis and mutation fare on the CifarNet seed, guided (αNAS) and
//! unguided: per synthesis call, the wall time, the success rate and the
//! steps; per mutation, the wall time, the success rate, the kinds made and
//! the fraction of children that are new networks (distinct fingerprints,
//! none the parent's).
//!
//! Run with `cargo run --release -p nas --example synth_stats [N] [INPUT]`:
//! N draws of each (default 200), INPUT `small` for the 1×8×8, width-16
//! seed of the tests or `cifar` (default) for 3×32×32 at width 64. Draws use
//! fixed seeds (draw i uses seed i); only the times depend on the machine.
//!
//! At b04f1fa (props at 5ee0b9b), 200 draws, 2-core VM shared with builds:
//!
//! ```text
//! seed cifarnet input [3, 32, 32], 12 nodes, frozen ["logits"], max_steps 20000 max_width 256, 200 draws
//! guidance    synth ms synth ok      steps  mutate ms   mut ok   new nets  kinds
//! guided        13.350   100.0%      268.2     10.558   100.0%      84.0%  rewrite 200
//! unguided       0.010   100.0%       65.7      0.046   100.0%      82.5%  rewrite 200
//! ```
//!
//! (`small`: guided 6.9 ms, 100%, 282 steps, 87.5% new; unguided 83.5%
//! new.) CifarNet has no block whose input and output shapes agree, so
//! every mutation is a rewrite; "new nets" counts distinct fingerprints,
//! so the rest are children equal to one another (small blocks such as
//! `fc4`, dense + ReLU, have few near neighbours), never the parent.

use std::collections::BTreeSet;
use std::time::Instant;

use nas::ir::Net;
use nas::mutate::{Guidance, MutationWeights, mutate};
use nas::props::{abstract_props, mutate_target};
use nas::seeds;
use nas::synth::{SynthConfig, random_fragment_counting, synthesize_counting};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = match args.get(1).map(|s| s.parse()) {
        None => 200,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("N must be a positive whole number, got {:?}", args[1]);
            std::process::exit(2);
        }
    };
    let parent = match args.get(2).map(String::as_str) {
        None | Some("cifar") => seeds::cifarnet_small(&[3, 32, 32], 10, 64),
        Some("small") => seeds::cifarnet_small(&[1, 8, 8], 10, 16),
        Some(other) => {
            eprintln!("INPUT is `small` or `cifar`, got {other:?}");
            std::process::exit(2);
        }
    };
    let frozen = vec!["logits".to_string()];
    let cfg = SynthConfig::default();
    println!(
        "seed {} input {:?}, {} nodes, frozen {frozen:?}, max_steps {} max_width {}, {n} draws",
        parent.name,
        parent.input,
        parent.nodes.len(),
        cfg.max_steps,
        cfg.max_width
    );
    println!(
        "{:<9} {:>10} {:>8} {:>10} {:>10} {:>8} {:>10}  kinds",
        "guidance", "synth ms", "synth ok", "steps", "mutate ms", "mut ok", "new nets"
    );
    for guidance in [Guidance::Guided, Guidance::Unguided] {
        let s = synthesis_stats(&parent, &frozen, guidance, &cfg, n);
        let m = mutation_stats(&parent, &frozen, guidance, &cfg, n);
        println!(
            "{:<9} {:>10.3} {:>7.1}% {:>10.1} {:>10.3} {:>7.1}% {:>9.1}%  {}",
            format!("{guidance:?}").to_lowercase(),
            s.ms_per_call,
            100.0 * s.ok_rate,
            s.mean_steps,
            m.ms_per_call,
            100.0 * m.ok_rate,
            100.0 * m.new_fraction,
            m.kinds
        );
    }
}

struct SynthStats {
    ms_per_call: f64,
    ok_rate: f64,
    mean_steps: f64,
}

/// `n` synthesis calls, each for a random non-frozen one-output block: a
/// target near its properties (guided) or its shapes only (unguided).
fn synthesis_stats(
    parent: &Net,
    frozen: &[String],
    guidance: Guidance,
    cfg: &SynthConfig,
    n: u64,
) -> SynthStats {
    let blocks: Vec<String> = parent
        .block_names()
        .into_iter()
        .filter(|b| !frozen.contains(b))
        .filter(|b| parent.block(b).is_ok_and(|r| r.outputs.len() == 1))
        .collect();
    let mut ok = 0;
    let mut steps = 0;
    let mut secs = 0.0;
    for i in 0..n {
        let mut rng = ChaCha8Rng::seed_from_u64(i);
        let block = &blocks[rng.gen_range(0..blocks.len())];
        let region = parent.block(block).expect("listed above");
        let frag = parent.extract(&region).expect("a block of a valid seed");
        let (got, k) = match guidance {
            Guidance::Guided => {
                let props = abstract_props(&frag).expect("a valid fragment");
                let target = mutate_target(&props, &mut rng);
                let t = Instant::now();
                let r = synthesize_counting(&frag.inputs, &target, frag.len(), cfg, &mut rng);
                secs += t.elapsed().as_secs_f64();
                r
            }
            Guidance::Unguided => {
                let outs = frag.output_shapes().expect("a valid fragment");
                let t = Instant::now();
                let r = random_fragment_counting(&frag.inputs, &outs, frag.len(), cfg, &mut rng);
                secs += t.elapsed().as_secs_f64();
                r
            }
        };
        ok += u64::from(got.is_ok());
        steps += k;
    }
    SynthStats {
        ms_per_call: 1e3 * secs / n as f64,
        ok_rate: ok as f64 / n as f64,
        mean_steps: steps as f64 / n as f64,
    }
}

struct MutationStats {
    ms_per_call: f64,
    ok_rate: f64,
    new_fraction: f64,
    kinds: String,
}

/// `n` mutations of `parent` with the default weights.
fn mutation_stats(
    parent: &Net,
    frozen: &[String],
    guidance: Guidance,
    cfg: &SynthConfig,
    n: u64,
) -> MutationStats {
    let parent_fp = parent.fingerprint();
    let mut seen = BTreeSet::new();
    let mut ok = 0;
    let mut secs = 0.0;
    let mut kinds = std::collections::BTreeMap::new();
    for i in 0..n {
        let mut rng = ChaCha8Rng::seed_from_u64(i);
        let t = Instant::now();
        let got = mutate(
            parent,
            guidance,
            &MutationWeights::default(),
            cfg,
            frozen,
            &mut rng,
        );
        secs += t.elapsed().as_secs_f64();
        if let Ok(child) = got {
            ok += 1;
            *kinds.entry(child.kind).or_insert(0u64) += 1;
            let fp = child.net.fingerprint();
            if fp != parent_fp {
                seen.insert(fp);
            }
        }
    }
    MutationStats {
        ms_per_call: 1e3 * secs / n as f64,
        ok_rate: ok as f64 / n as f64,
        new_fraction: seen.len() as f64 / n as f64,
        kinds: kinds
            .iter()
            .map(|(k, c)| format!("{k} {c}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
