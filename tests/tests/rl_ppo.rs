//! PPO through the library's interface: it raises the mean reward on a small
//! problem within a test-sized budget, and the same seed gives the same
//! weights and the same numbers.

use std::collections::BTreeMap;

use agent::Problem;
use agent::load::Workload;
use agent::rl::ppo::{BatchStats, PpoConfig, Trainer};
use agent::rl::{EnvOptions, PartitionEnv};
use tessera_tests::root;

/// BERT with 2 layers (39 ops) on the 4-chip Edge TPU ring, converged steady
/// state: greedy's equal-weight segmentation is far from the best here, so
/// there is room to learn.
fn env() -> PartitionEnv {
    let workload = Workload::Zoo {
        model: "bert-base".into(),
        params: BTreeMap::from([("layers".to_string(), "2".to_string())]),
    };
    let problem = Problem::load(&root().join("hw_specs/edgetpu_ring4.toml"), &workload).unwrap();
    PartitionEnv::new(problem, EnvOptions::default()).unwrap()
}

fn train(seed: u64, batches: usize) -> (Trainer, Vec<BatchStats>) {
    let mut env = env();
    let mut trainer = Trainer::new(seed, PpoConfig::default());
    let p = trainer.prepare(&env);
    let stats = (0..batches)
        .map(|_| trainer.train_batch(&mut env, &p).unwrap())
        .collect();
    (trainer, stats)
}

#[test]
fn ppo_raises_the_mean_reward() {
    // 40 batches of 16 episodes: 640 simulator calls, about 2 s.
    let (_, stats) = train(1, 40);
    let mean = |s: &[BatchStats]| s.iter().map(|b| b.mean_reward).sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&stats[..5]), mean(&stats[35..]));
    assert!(
        last > first + 0.25,
        "mean reward {first:.3} over the first 5 batches, {last:.3} over the last 5"
    );
    // The policy became more certain than uniform over 4 chips.
    assert!(stats[39].entropy < 0.9 * 4f32.ln(), "{:?}", stats[39]);
    for s in &stats {
        assert_eq!(s.evaluations, 16);
        assert!(s.best_chips.is_some());
    }
}

#[test]
fn the_same_seed_gives_the_same_weights_and_numbers() {
    let (mut a, sa) = train(7, 3);
    let (mut b, sb) = train(7, 3);
    assert_eq!(sa, sb);
    assert_eq!(a.net.parameters(), b.net.parameters());
    assert_eq!(a.adam, b.adam);
    let (mut c, _) = train(8, 3);
    assert_ne!(a.net.parameters(), c.net.parameters());
}
