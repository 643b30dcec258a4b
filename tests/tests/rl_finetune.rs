//! The `rl` method started from a checkpoint: fine-tuning (`init`) and
//! zero-shot sampling (`learn = false`), through the method registry as a
//! scenario reaches it, and a scenario's `init` refused where it is written.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use agent::Problem;
use agent::load::Workload;
use agent::partition::registry::{self, OptionValue};
use agent::partition::search::{Evaluator, SearchResult};
use agent::rl::checkpoint::Progress;
use agent::rl::ppo::{PpoConfig, Trainer};
use agent::rl::{EnvOptions, PartitionEnv};
use tessera_tests::{root, temp_dir, tessera};

/// BERT with 2 layers on the 4-chip Edge TPU ring (as in `rl_ppo.rs`):
/// greedy's placement is far from the best, so a trained policy is visibly
/// better than an untrained one.
fn problem() -> Problem {
    let workload = Workload::Zoo {
        model: "bert-base".into(),
        params: BTreeMap::from([("layers".to_string(), "2".to_string())]),
    };
    Problem::load(&root().join("hw_specs/edgetpu_ring4.toml"), &workload).unwrap()
}

/// A checkpoint of a policy trained on [`problem`] for 40 batches (about
/// 2 s; `rl_ppo.rs` shows this raises the mean reward).
fn trained_checkpoint(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut env = PartitionEnv::new(problem(), EnvOptions::default()).unwrap();
    let mut trainer = Trainer::new(3, PpoConfig::default());
    let p = trainer.prepare(&env);
    for _ in 0..40 {
        trainer.train_batch(&mut env, &p).unwrap();
    }
    let path = dir.join("checkpoint.json");
    trainer.save(&path, Progress::default()).unwrap();
    path
}

fn rl(options: &[(&str, OptionValue)], budget: u64, seed: u64) -> SearchResult {
    let problem = problem();
    let search = problem.search(budget, seed);
    let mut eval = Evaluator::new(&search).unwrap();
    let info = registry::lookup("rl").unwrap();
    let given: Vec<(String, OptionValue)> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mut m = info.build(&info.options(&given).unwrap(), budget);
    m.run(&search, &mut eval).unwrap();
    let result = eval.finish("rl", m.notes(), None);
    assert_eq!(result.failure, None);
    result
}

fn best(r: &SearchResult) -> f64 {
    r.best.as_ref().unwrap().1.throughput_inferences_per_s
}

fn file(path: &Path) -> OptionValue {
    OptionValue::File(Some(Arc::from(path)))
}

#[test]
fn a_checkpoint_starts_the_policy_from_its_weights() {
    let dir = temp_dir("rl_finetune", "weights");
    let ckpt = trained_checkpoint(&dir);
    let no_learning = ("learn", OptionValue::Bool(false));
    // The checkpoint's policy was trained without a reference placement or
    // a warm start, so it is sampled the same way.
    let plain = [
        ("reference", OptionValue::Choice("none")),
        ("warm_start", OptionValue::Choice("none")),
    ];
    let with = |extra: &[(&'static str, OptionValue)]| {
        let mut o = plain.to_vec();
        o.extend_from_slice(extra);
        o
    };
    // Zero-shot: 32 samples of the trained policy against 32 of an
    // untrained one; the trained one's best is better.
    let zero_shot = rl(&with(&[("init", file(&ckpt)), no_learning.clone()]), 33, 5);
    let untrained = rl(&with(std::slice::from_ref(&no_learning)), 33, 5);
    assert_eq!(zero_shot.evaluations, 33);
    assert!(
        zero_shot.notes.contains(&("samples".into(), "32".into())),
        "{:?}",
        zero_shot.notes
    );
    assert!(
        best(&zero_shot) > best(&untrained),
        "trained policy's best of 32 samples {:.1}, untrained {:.1}",
        best(&zero_shot),
        best(&untrained)
    );
    // The same seed gives the same samples; fine-tuning is deterministic too.
    let again = rl(&with(&[("init", file(&ckpt)), no_learning]), 33, 5);
    assert_eq!(zero_shot.best, again.best);
    let tune = |seed| rl(&with(&[("init", file(&ckpt))]), 49, seed);
    let (a, b) = (tune(9), tune(9));
    assert_eq!(a.best, b.best);
    assert_eq!(a.notes, b.notes);
    assert!(
        a.notes.contains(&("batches".into(), "3".into())),
        "{:?}",
        a.notes
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scenario_init_that_is_not_a_checkpoint_is_refused_where_it_is_written() {
    let dir = temp_dir("rl_finetune", "refused");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("damaged.json"), "{\"format\": \"tessera-policy\"").unwrap();
    let spec = root().join("hw_specs/edgetpu_ring4.toml");
    for (init, expected) in [
        ("missing.json", "does not exist"),
        ("damaged.json", "not a tessera checkpoint"),
    ] {
        let scenario = dir.join(format!("s-{init}.toml"));
        std::fs::write(
            &scenario,
            format!(
                "seed = 1\n[hardware]\nspec = {spec:?}\n[workload]\nmodel = \"bert-base\"\n\
                 params = {{ layers = 2 }}\n[task]\nkind = \"partition\"\nmethod = \"rl\"\n\
                 budget = 10\n[task.options.rl]\ninit = {init:?}\n\
                 [simulation]\nmicrobatches = 4\npacket_bytes = 4096\n[output]\ndir = \"out\"\n"
            ),
        )
        .unwrap();
        let o = tessera(&["run", scenario.to_str().unwrap(), "--quiet"]);
        assert_eq!(o.code, 2, "{init}: {}", o.stderr);
        assert!(o.stderr.contains(expected), "{init}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!("s-{init}.toml:12")),
            "the message names the file and line of `init`: {}",
            o.stderr
        );
        assert!(!dir.join("out").exists(), "nothing written for {init}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_warm_started_search_ends_at_least_at_its_warm_start() {
    // By default the policy edits the best placement known, starting from
    // dp's: the result is never below dp's, and the warm start is noted.
    let dp = {
        let problem = problem();
        let search = problem.search(1, 1);
        let mut eval = Evaluator::new(&search).unwrap();
        let info = registry::lookup("dp").unwrap();
        let mut m = info.build(&info.defaults(), 1);
        m.run(&search, &mut eval).unwrap();
        best(&eval.finish("dp", Vec::new(), None))
    };
    let warm = rl(&[], 65, 2);
    assert!(best(&warm) >= dp, "rl {} below dp {dp}", best(&warm));
    assert!(
        warm.notes.contains(&("warm_start".into(), "dp".into())),
        "{:?}",
        warm.notes
    );
}
