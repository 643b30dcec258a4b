//! PPO on one problem, printing each batch's mean and best reward (relative
//! to greedy) and the wall time: the quick experiment behind the learned
//! partitioner's defaults.
//!
//! `cargo run --release -p agent --example ppo_curve -- SPEC MODEL KEY=VALUE... [--batches N] [--seed S] [--proposal | --repaired] [--cost-repair] [--lr X]`
//!
//! e.g. `... -- hw_specs/edgetpu_ring4.toml bert-base layers=2 --batches 30`

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use agent::Problem;
use agent::load::Workload;
use agent::rl::ppo::{LogProbOf, PpoConfig, Trainer};
use agent::rl::{EnvOptions, PartitionEnv};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut params = BTreeMap::new();
    let (mut batches, mut seed) = (20usize, 1u64);
    let mut cfg = PpoConfig::default();
    let mut it = args.iter().skip(2);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--batches" => batches = it.next().unwrap().parse().unwrap(),
            "--seed" => seed = it.next().unwrap().parse().unwrap(),
            "--lr" => cfg.learning_rate = it.next().unwrap().parse().unwrap(),
            "--episodes" => cfg.episodes_per_batch = it.next().unwrap().parse().unwrap(),
            "--proposal" => cfg.log_prob_of = LogProbOf::Proposal,
            "--repaired" => cfg.log_prob_of = LogProbOf::Repaired,
            "--cost-repair" => cfg.repair_by_log_prob = true,
            kv => {
                let (k, v) = kv.split_once('=').expect("KEY=VALUE");
                params.insert(k.to_string(), v.to_string());
            }
        }
    }
    let workload = Workload::from_name(&args[1], params);
    let problem = Problem::load(Path::new(&args[0]), &workload).unwrap();
    let t0 = Instant::now();
    let mut env = PartitionEnv::new(problem, EnvOptions::default()).unwrap();
    println!(
        "ops {} chips {} baseline {} {:.1} inf/s ({:.2} s)",
        env.n_ops(),
        env.n_chips(),
        env.baseline().method,
        env.baseline().throughput_inferences_per_s,
        t0.elapsed().as_secs_f64()
    );
    let mut trainer = Trainer::new(seed, cfg);
    let p = trainer.prepare(&env);
    let mut best = f64::NEG_INFINITY;
    for b in 0..batches {
        let t = Instant::now();
        let s = trainer.train_batch(&mut env, &p).unwrap();
        best = best.max(s.best_reward.unwrap_or(f64::NEG_INFINITY));
        println!(
            "batch {b:3} mean {:.4} best {:.4} (overall {:.4}) pl {:+.4} vl {:.4} ent {:.3} {:.2} s",
            s.mean_reward,
            s.best_reward.unwrap_or(f64::NAN),
            best,
            s.policy_loss,
            s.value_loss,
            s.entropy,
            t.elapsed().as_secs_f64()
        );
    }
}
