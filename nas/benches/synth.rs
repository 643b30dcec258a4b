//! Benchmarks of synthesis on the blocks of the CifarNet seed (3×32×32
//! input, width 64, the classifier `logits` left out as the search freezes
//! it): the time of one guided synthesis call (a target near the block's
//! properties, `SynthConfig::default()`) and of one unguided random
//! fragment, per block, cycling through 32 targets drawn with fixed seeds.
//! Failed calls are timed too (they are part of what a search pays).
//!
//! Run with `cargo bench -p nas --bench synth`. The fraction of mutations
//! that give new networks is not a time, so divan cannot report it: `cargo
//! run --release -p nas --example synth_stats` prints it with the success
//! rates.
//!
//! Results at b04f1fa (props at 5ee0b9b) on a 2-core VM shared with other
//! builds, median / mean per call: guided conv1 1.21 / 2.67 ms, conv2
//! 1.12 / 2.58 ms, fc3 19.4 / 37.8 ms, fc4 0.44 / 1.10 ms; unguided 2 to
//! 18 µs. fc3's time is the abstract semantics of fragments holding the
//! 4,096-wide flatten (about 1.3 ms a call, against 15 to 60 µs for the
//! others); synthesis took 268 steps a call on average over the seed's
//! blocks (`synth_stats`).

use divan::Bencher;
use nas::ir::{Fragment, Net};
use nas::props::{Target, abstract_props, mutate_target};
use nas::seeds;
use nas::synth::{SynthConfig, random_fragment, synthesize};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Targets per block the benchmark cycles through.
const N_TARGETS: u64 = 32;

fn main() {
    divan::main();
}

fn seed() -> Net {
    seeds::cifarnet_small(&[3, 32, 32], 10, 64)
}

fn block(name: &str) -> Fragment {
    let net = seed();
    let region = net.block(name).expect("a block of the seed");
    net.extract(&region).expect("a block of a valid seed")
}

/// Guided: `synthesize` for a target near the block's properties.
#[divan::bench(args = ["conv1", "conv2", "fc3", "fc4"])]
fn guided(bencher: Bencher, name: &str) {
    let frag = block(name);
    let props = abstract_props(&frag).expect("a valid fragment");
    let targets: Vec<Target> = (0..N_TARGETS)
        .map(|i| mutate_target(&props, &mut ChaCha8Rng::seed_from_u64(i)))
        .collect();
    let cfg = SynthConfig::default();
    let mut i = 0;
    bencher.bench_local(|| {
        let k = i % N_TARGETS;
        i += 1;
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + k);
        synthesize(
            &frag.inputs,
            &targets[k as usize],
            frag.len(),
            &cfg,
            &mut rng,
        )
    });
}

/// Unguided: `random_fragment` with the block's shapes.
#[divan::bench(args = ["conv1", "conv2", "fc3", "fc4"])]
fn unguided(bencher: Bencher, name: &str) {
    let frag = block(name);
    let outputs = frag.output_shapes().expect("a valid fragment");
    let cfg = SynthConfig::default();
    let mut i = 0;
    bencher.bench_local(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + i % N_TARGETS);
        i += 1;
        random_fragment(&frag.inputs, &outputs, frag.len(), &cfg, &mut rng)
    });
}
