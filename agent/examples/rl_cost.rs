//! Where the learned partitioner's time goes, per PPO batch of 16 episodes:
//! the policy's forward pass (sampling), the episodes' repairs, their
//! simulations, and the PPO update (4 epochs of forward + backward + Adam).
//! Medians over 5 batches after 1 warm-up, from a fresh policy.
//!
//! `cargo run --release -p agent --example rl_cost`

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use agent::Problem;
use agent::load::Workload;
use agent::partition::repair::{Objective, RepairOptions, repair_with};
use agent::rl::ppo::{PpoConfig, Trainer};
use agent::rl::{Action, EnvOptions, PartitionEnv};
use sim::spec::ChipletId;

fn problem(spec: &str, model: &str, params: &[(&str, &str)], sram_kib: Option<u64>) -> Problem {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let workload = Workload::Zoo {
        model: model.into(),
        params,
    };
    let mut p = Problem::load(&root.join(spec), &workload).unwrap();
    if let Some(kib) = sram_kib {
        for t in &mut p.spec.chiplet_types {
            t.sram_kib = kib;
        }
    }
    p
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let cases = [
        (
            "BERT 2 layers, edgetpu_ring4",
            problem(
                "hw_specs/edgetpu_ring4.toml",
                "bert-base",
                &[("layers", "2")],
                None,
            ),
        ),
        (
            "BERT-base, edgetpu_ring16",
            problem("hw_specs/edgetpu_ring16.toml", "bert-base", &[], None),
        ),
        (
            "ResNet-50, simba_6x6 at 4 MiB",
            problem("hw_specs/simba_6x6.toml", "resnet50", &[], Some(4096)),
        ),
    ];
    println!(
        "| problem | ops × chips | batch | forward | repairs | simulations | update | episodes/s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (name, p) in cases {
        let mut env = PartitionEnv::new(p, EnvOptions::default()).unwrap();
        let mut trainer = Trainer::new(1, PpoConfig::default());
        let prepared = trainer.prepare(&env);
        let (mut batch, mut forward, mut repairs, mut sims) = (vec![], vec![], vec![], vec![]);
        for round in 0..6 {
            // The parts, timed apart on the same policy.
            let t = Instant::now();
            let (log_p, _) = trainer.policy(&prepared);
            let f = t.elapsed().as_secs_f64();
            let k = env.n_chips();
            let actions: Vec<Vec<u32>> = (0..16).map(|_| trainer.sample(&log_p, k)).collect();
            let t = Instant::now();
            for a in &actions {
                let chips: Vec<ChipletId> = a.iter().map(|&c| ChipletId(c)).collect();
                let pr = env.problem();
                let _ = repair_with(
                    &pr.spec,
                    &pr.graph,
                    &pr.constraints,
                    Objective::FewestChanges(&chips),
                    &RepairOptions { max_nodes: 64 },
                );
            }
            let r = t.elapsed().as_secs_f64();
            let t = Instant::now();
            for a in &actions {
                env.reset(None);
                env.step(&Action {
                    chips: a.clone(),
                    repair_costs: None,
                })
                .unwrap();
            }
            let steps = t.elapsed().as_secs_f64();
            // A whole batch (sampling, episodes, update).
            let t = Instant::now();
            trainer.train_batch(&mut env, &prepared).unwrap();
            let b = t.elapsed().as_secs_f64();
            if round > 0 {
                batch.push(b);
                forward.push(f);
                repairs.push(r);
                sims.push(steps - r);
            }
        }
        let (b, f, r, s) = (
            median(batch),
            median(forward),
            median(repairs),
            median(sims),
        );
        let update = b - f - r - s;
        println!(
            "| {name} | {} × {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} |",
            env.n_ops(),
            env.n_chips(),
            b * 1e3,
            f * 1e3,
            r * 1e3,
            s * 1e3,
            update * 1e3,
            16.0 / b
        );
    }
}
