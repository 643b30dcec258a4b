//! The learned partitioner's environment through its public interface: the
//! Gymnasium-style contract (reset, one step per episode, errors that leave
//! the episode as it was), that no action makes it panic, that every
//! placement it reports is valid and scored against its baseline, and that
//! observations are the shapes they say, on graphs and packages of any size.

use std::collections::BTreeMap;

use agent::Problem;
use agent::load::Workload;
use agent::rl::features::{CHIP_FEATURES, EDGE_FEATURES, NODE_FEATURES, OP_CHIP_FEATURES};
use agent::rl::{Action, EnvError, EnvOptions, PartitionEnv};
use proptest::prelude::*;
use sim::constraints::check;
use sim::testkit::{DagSpace, PackageSpace, strategies};
use sim::{SimOptions, SteadyState};
use tessera_tests::root;

/// BERT with 2 layers on the 4-chip Edge TPU ring, 4 micro-batches fixed:
/// small enough for many steps.
fn small_problem() -> Problem {
    let workload = Workload::Zoo {
        model: "bert-base".into(),
        params: BTreeMap::from([("layers".to_string(), "2".to_string())]),
    };
    Problem::load(&root().join("hw_specs/edgetpu_ring4.toml"), &workload)
        .unwrap()
        .with_options(SimOptions {
            microbatches: 4,
            steady_state: SteadyState::Fixed,
            ..SimOptions::default()
        })
}

fn env() -> PartitionEnv {
    PartitionEnv::new(small_problem(), EnvOptions::default()).unwrap()
}

#[test]
fn an_episode_is_reset_then_one_step() {
    let mut env = env();
    let n = env.n_ops();
    let action = Action {
        chips: vec![0; n],
        repair_costs: None,
    };
    assert_eq!(env.step(&action).unwrap_err(), EnvError::NotReset);
    let obs = env.reset(Some(7));
    assert_eq!(obs.n_ops, n);
    assert_eq!(env.seed(), Some(7));
    let step = env.step(&action).unwrap();
    assert!(step.terminated && !step.truncated);
    assert_eq!(*step.observation, *obs);
    assert_eq!(env.step(&action).unwrap_err(), EnvError::EpisodeOver);
    env.reset(None);
    assert!(env.step(&action).is_ok());
    assert_eq!(env.steps(), 2);
}

#[test]
fn the_baseline_scores_one_and_is_not_moved() {
    let mut env = env();
    let base = env.baseline().clone();
    assert_eq!(base.method, "greedy");
    env.reset(None);
    let step = env
        .step(&Action {
            chips: base.placement.chip_ids(),
            repair_costs: None,
        })
        .unwrap();
    assert_eq!(step.reward, 1.0);
    assert_eq!(step.info.repair_distance, Some(0));
    assert!(step.info.proposal_violations.is_empty());
    assert_eq!(step.info.placement.as_ref(), Some(&base.placement));
    assert_eq!(
        step.info.throughput_inferences_per_s,
        base.throughput_inferences_per_s
    );
}

#[test]
fn a_backward_proposal_is_repaired_into_a_valid_scored_placement() {
    let mut env = env();
    let n = env.n_ops();
    let k = env.n_chips() as u32;
    env.reset(None);
    // Every op on the chip before the one its predecessor got: breaks
    // acyclic dataflow everywhere.
    let chips: Vec<u32> = (0..n as u32).map(|i| (k - 1) - i % k).collect();
    let step = env
        .step(&Action {
            chips: chips.clone(),
            repair_costs: None,
        })
        .unwrap();
    assert!(!step.info.proposal_violations.is_empty());
    let p = env.problem();
    let placement = step.info.placement.as_ref().expect("repaired");
    assert_eq!(check(&p.spec, &p.graph, placement, &p.constraints), vec![]);
    assert!(step.info.repair_distance.unwrap() > 0);
    let report = step.info.report.as_ref().unwrap();
    assert!(report.valid);
    assert_eq!(
        step.reward,
        report.throughput_inferences_per_s / env.baseline().throughput_inferences_per_s
    );
}

#[test]
fn repair_costs_steer_the_repair() {
    let mut env = env();
    let (n, k) = (env.n_ops(), env.n_chips());
    let base: Vec<u32> = env
        .baseline()
        .placement
        .chiplet_of_op
        .iter()
        .map(|c| c.0)
        .collect();
    // Costs that make the baseline the only free choice: repair must return
    // it whatever chips are proposed.
    let mut costs = vec![10.0; n * k];
    for (op, &c) in base.iter().enumerate() {
        costs[op * k + c as usize] = 0.0;
    }
    env.reset(None);
    let step = env
        .step(&Action {
            chips: vec![0; n],
            repair_costs: Some(costs.clone()),
        })
        .unwrap();
    assert_eq!(step.reward, 1.0);
    assert_eq!(
        step.info.placement.unwrap().chiplet_of_op,
        env.baseline().placement.chiplet_of_op
    );

    env.reset(None);
    costs[3 * k + 1] = f64::NAN;
    let err = env
        .step(&Action {
            chips: vec![0; n],
            repair_costs: Some(costs),
        })
        .unwrap_err();
    assert!(
        matches!(err, EnvError::BadCost { op: 3, chip: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("op 3"), "{err}");
    // A refused action leaves the episode running.
    assert!(
        env.step(&Action {
            chips: vec![0; n],
            repair_costs: Some(vec![0.0; 5]),
        })
        .is_err()
    );
    assert!(
        env.step(&Action {
            chips: vec![0; n],
            repair_costs: None,
        })
        .is_ok()
    );
}

#[test]
fn bad_actions_are_errors_naming_the_op_and_chip() {
    let mut env = env();
    let n = env.n_ops();
    env.reset(None);
    let short = env
        .step(&Action {
            chips: vec![0; n - 1],
            repair_costs: None,
        })
        .unwrap_err();
    assert_eq!(
        short,
        EnvError::ActionLength {
            expected: n,
            got: n - 1
        }
    );
    let mut chips = vec![0; n];
    chips[5] = 4;
    let far = env
        .step(&Action {
            chips,
            repair_costs: None,
        })
        .unwrap_err();
    let msg = far.to_string();
    assert!(matches!(
        far,
        EnvError::ChipOutOfRange {
            op: 5,
            chip: 4,
            n_chips: 4,
            ..
        }
    ));
    assert!(msg.contains("op 5") && msg.contains("chip 4"), "{msg}");
}

#[test]
fn same_problem_same_observation_and_step() {
    let (mut a, mut b) = (env(), env());
    assert_eq!(**a.observation(), **b.observation());
    let n = a.n_ops();
    let action = Action {
        chips: (0..n as u32).map(|i| (i * 7) % 4).collect(),
        repair_costs: None,
    };
    a.reset(Some(1));
    b.reset(Some(2));
    assert_eq!(a.step(&action).unwrap(), b.step(&action).unwrap());
}

proptest! {
    #![proptest_config(strategies::config(64))]

    /// Any action on any small graph and package: an error value or a step
    /// whose reward is finite and whose placement, if any, is valid.
    #[test]
    fn no_action_panics_and_every_placement_is_valid(
        pk in strategies::package(&PackageSpace::broad()).unwrap(),
        dag in strategies::dag(&DagSpace::broad()).unwrap(),
        picks in prop::collection::vec(0u32..1000, 0..40),
        shape in 0u32..8,
    ) {
        let spec = pk.build().unwrap();
        let graph = dag.build().unwrap();
        let problem = Problem::new(spec, graph).with_options(SimOptions {
            microbatches: 2,
            steady_state: SteadyState::Fixed,
            ..SimOptions::default()
        });
        let mut env = match PartitionEnv::new(problem, EnvOptions::default()) {
            Ok(env) => env,
            // A package whose SRAM cannot hold the graph however it is cut.
            Err(EnvError::NoBaseline(_)) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let obs = env.reset(None);
        prop_assert_eq!(obs.node_features.len(), obs.n_ops * NODE_FEATURES.len());
        prop_assert_eq!(obs.edge_features.len(), obs.edges.len() * EDGE_FEATURES.len());
        prop_assert_eq!(obs.chip_features.len(), obs.n_chips * CHIP_FEATURES.len());
        prop_assert_eq!(
            obs.op_chip_features.len(),
            obs.n_ops * obs.n_chips * OP_CHIP_FEATURES.len()
        );
        prop_assert!(obs.node_features.iter().chain(&obs.chip_features).all(|x| x.is_finite()));
        // One chip per op in six cases of eight (in one of them an op's
        // chip is out of range), else as many chips as were drawn.
        let (n, k) = (env.n_ops(), env.n_chips() as u32);
        let mut chips: Vec<u32> = picks.iter().map(|p| p % k).collect();
        if shape >= 2 {
            chips = (0..n).map(|i| chips.get(i).copied().unwrap_or(i as u32 % k)).collect();
        }
        if shape == 2 {
            chips[picks.first().map_or(0, |&p| p as usize % n)] = k + picks.len() as u32;
        }
        match env.step(&Action { chips, repair_costs: None }) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(step) => {
                prop_assert!(step.reward.is_finite());
                if let Some(p) = &step.info.placement {
                    let pr = env.problem();
                    prop_assert_eq!(check(&pr.spec, &pr.graph, p, &pr.constraints), vec![]);
                }
                if step.info.throughput_inferences_per_s > 0.0 {
                    prop_assert!(step.reward > 0.0);
                } else {
                    prop_assert_eq!(step.reward, EnvOptions::default().invalid_reward);
                    prop_assert!(step.info.invalid_reason.is_some());
                }
            }
        }
    }
}
