//! PPO through the library's interface: it raises the mean reward on a small
//! problem within a test-sized budget, and the same seed gives the same
//! weights and the same numbers.

use std::collections::BTreeMap;

use agent::Problem;
use agent::load::Workload;
use agent::rl::checkpoint::Progress;
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

/// A run saved after 2 batches and resumed for 2 more ends bit-identical to
/// one that ran 4 batches without stopping: weights, Adam's state, the
/// sampling generator and every batch's numbers.
#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    let dir = tessera_tests::temp_dir("rl", "resume");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.json");
    let (mut whole, whole_stats) = train(3, 4);

    let mut e = env();
    let mut first = Trainer::new(3, PpoConfig::default());
    let p = first.prepare(&e);
    let mut stats: Vec<BatchStats> = (0..2)
        .map(|_| first.train_batch(&mut e, &p).unwrap())
        .collect();
    first
        .save(
            &path,
            Progress {
                batches: 2,
                evaluations: 32,
            },
        )
        .unwrap();
    drop(first);
    let (mut resumed, progress) = Trainer::load(&path).unwrap();
    assert_eq!(progress.batches, 2);
    let mut e = env();
    let p = resumed.prepare(&e);
    stats.extend((0..2).map(|_| resumed.train_batch(&mut e, &p).unwrap()));
    assert_eq!(stats, whole_stats);
    assert_eq!(resumed.net.parameters(), whole.net.parameters());
    assert_eq!(resumed.adam, whole.adam);
}

#[test]
fn damaged_or_foreign_checkpoints_are_refused_with_the_reason() {
    let dir = tessera_tests::temp_dir("rl", "refuse");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.json");
    let (mut t, _) = train(2, 1);
    t.save(&path, Progress::default()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();

    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let err = |p: &std::path::Path| Trainer::load(p).err().expect("refused").to_string();

    // One weight's bits changed: parses, fails the checksum.
    let at = text.find("\"parameters\":[[").unwrap() + "\"parameters\":[[".len();
    let end = at + text[at..].find(',').unwrap();
    let bumped = format!(
        "{}{}{}",
        &text[..at],
        text[at..end].parse::<u64>().unwrap() ^ 1,
        &text[end..]
    );
    let e = err(&write("bumped.json", &bumped));
    assert!(
        e.contains("checksum mismatch") && e.contains("bumped.json"),
        "{e}"
    );

    // Version 1 (before checkpoints carried the run record) is refused.
    assert!(text.contains("\"version\":2"));
    let e = err(&write(
        "old.json",
        &text.replace("\"version\":2", "\"version\":1"),
    ));
    assert!(
        e.contains("version 1") && e.contains("this build reads tessera-policy version 2"),
        "{e}"
    );

    let e = err(&write("cut.json", &text[..text.len() / 2]));
    assert!(
        e.contains("not a tessera checkpoint") && e.contains("line 1"),
        "{e}"
    );

    let e = err(&write(
        "features.json",
        &text.replace("\"log_macs\"", "\"log_flops\""),
    ));
    assert!(e.contains("node features"), "{e}");

    let e = err(&dir.join("missing.json"));
    assert!(e.contains("missing.json"), "{e}");
}

/// A checkpoint carries its run's record (setup, fingerprint, learning
/// curve) exactly; resuming checks the setup and the PPO configuration, and
/// a changed curve number fails the checksum.
#[test]
fn a_run_record_round_trips_and_resuming_checks_the_setup() {
    use agent::rl::pretrain::{CurveRow, RunRecord, Setup};
    let dir = tessera_tests::temp_dir("rl", "record");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.json");
    let (mut t, stats) = train(4, 2);
    let curve: Vec<CurveRow> = stats
        .iter()
        .enumerate()
        .map(|(i, s)| {
            CurveRow::new(
                i as u64 + 1,
                &agent::rl::pretrain::CorpusBatch {
                    problem: 0,
                    stats: s.clone(),
                },
            )
        })
        .collect();
    let setup = Setup {
        seed: 4,
        problems: vec!["bert-2 on ring4".into()],
        conditions: vec!["microbatches 8".into()],
    };
    let record = RunRecord {
        setup: setup.clone(),
        curve: curve.clone(),
    };
    let progress = Progress {
        batches: 2,
        evaluations: 32,
    };
    t.save_run(&path, progress, &record).unwrap();
    let (mut back, run) = Trainer::resume(&path, &setup, &PpoConfig::default()).unwrap();
    assert_eq!(run, record);
    assert_eq!(back.net.parameters(), t.net.parameters());

    let err = |s: &Setup, c: &PpoConfig| {
        Trainer::resume(&path, s, c)
            .err()
            .expect("refused")
            .to_string()
    };
    let other = Setup {
        seed: 5,
        ..setup.clone()
    };
    let e = err(&other, &PpoConfig::default());
    assert!(
        e.contains("run.json") && e.contains("not of this training run") && e.contains("seed 4"),
        "{e}"
    );
    let faster = PpoConfig {
        learning_rate: 0.01,
        ..PpoConfig::default()
    };
    let e = err(&setup, &faster);
    assert!(
        e.contains("PPO learning_rate 0.003, this run's 0.01"),
        "{e}"
    );

    // A bare trainer's checkpoint has no record to resume.
    let bare = dir.join("bare.json");
    t.save(&bare, progress).unwrap();
    let e = Trainer::resume(&bare, &setup, &PpoConfig::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no training run's record"), "{e}");

    // A curve number changed: the checksum catches it.
    let text = std::fs::read_to_string(&path).unwrap();
    let key = "\"mean_reward_bits\":";
    let at = text.find(key).unwrap() + key.len();
    let end = at + text[at..].find(',').unwrap();
    let bumped = format!(
        "{}{}{}",
        &text[..at],
        text[at..end].parse::<u64>().unwrap() ^ 1,
        &text[end..]
    );
    std::fs::write(&path, bumped).unwrap();
    let e = err(&setup, &PpoConfig::default());
    assert!(e.contains("checksum mismatch"), "{e}");
}

fn bert(spec: &str, layers: u32, seq: u32) -> (String, agent::Problem) {
    let workload = Workload::Zoo {
        model: "bert-base".into(),
        params: BTreeMap::from([
            ("layers".to_string(), layers.to_string()),
            ("seq".to_string(), seq.to_string()),
        ]),
    };
    let problem = agent::Problem::load(&root().join(format!("hw_specs/{spec}.toml")), &workload)
        .unwrap()
        .with_options(sim::SimOptions {
            microbatches: 4,
            steady_state: sim::SteadyState::Fixed,
            ..sim::SimOptions::default()
        });
    (format!("bert-{layers}x{seq} on {spec}"), problem)
}

/// Pre-training on BERT variants (1 and 2 layers, sequence 32 and 64, 4- and
/// 8-chip rings) makes the policy's first samples on an unseen one (3
/// layers, sequence 48, on the 8-chip ring) better than a fresh policy's.
#[test]
fn pre_training_transfers_to_an_unseen_graph() {
    use agent::rl::pretrain::Corpus;
    let corpus_problems = || {
        let mut v = Vec::new();
        for spec in ["edgetpu_ring4", "edgetpu_ring8"] {
            for (layers, seq) in [(1, 32), (2, 64)] {
                v.push(bert(spec, layers, seq));
            }
        }
        v
    };
    let mut trainer = Trainer::new(11, PpoConfig::default());
    let mut corpus = Corpus::new(&trainer, corpus_problems(), EnvOptions::default()).unwrap();
    let mut target = Corpus::new(
        &trainer,
        vec![bert("edgetpu_ring8", 3, 48)],
        EnvOptions::default(),
    )
    .unwrap();
    let mut fresh = Trainer::new(12, PpoConfig::default());
    let before = fresh.evaluate(&mut target, 32).unwrap()[0].0;
    let mut seen = [0usize; 4];
    for _ in 0..60 {
        seen[trainer.train_corpus_batch(&mut corpus).unwrap().problem] += 1;
    }
    assert!(seen.iter().all(|&s| s > 5), "every problem drawn: {seen:?}");
    let after = trainer.evaluate(&mut target, 32).unwrap()[0].0;
    assert!(
        after > before + 0.1,
        "zero-shot mean reward on the unseen graph: fresh {before:.3}, pre-trained {after:.3}"
    );
}
