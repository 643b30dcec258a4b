//! The partition environment: one episode is one problem, one step assigns
//! a chip to every op (as in the MCM paper), repair makes the proposal valid,
//! and the simulator's converged throughput, relative to a baseline placement
//! of the same problem, is the reward.
//!
//! The interface follows Gymnasium's (`reset(seed) → observation`,
//! `step(action) → (observation, reward, terminated, truncated, info)`) with
//! plain data in and out, so the Python binding can expose it as a
//! `gymnasium.Env` unchanged. Nothing a caller passes makes it panic: a wrong
//! action is an [`EnvError`] naming the op and chip, and leaves the episode
//! as it was.
//!
//! # Reward
//!
//! `throughput(repaired placement) / throughput(baseline)`, where the
//! baseline is `greedy`'s placement of the same problem (the Edge TPU
//! compiler's equal-weight segmentation; `dp`'s when greedy finds none), so
//! 1.0 means "as good as the compiler" on every graph and package. A proposal
//! that repair cannot make valid within its node limit, or whose repaired
//! placement the simulator reports invalid, earns
//! [`EnvOptions::invalid_reward`].

use std::sync::Arc;

use sim::constraints::{Violation, check};
use sim::graph::OpId;
use sim::report::SimReport;
use sim::spec::ChipletId;
use sim::{Placement, Simulator};

use super::features::{Observation, observe};
use crate::Problem;
use crate::partition::registry;
use crate::partition::repair::{Objective, RepairOptions, repair_with};
use crate::partition::search::{Evaluator, score};

/// How the environment repairs and rewards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnvOptions {
    /// Branch-and-bound nodes repair may explore per step (the search
    /// methods' inner repair uses 64; a valid placement is still returned
    /// when the limit stops it before proving the closest one).
    pub repair_nodes: u64,
    /// Reward of a step that ends without a valid placement.
    pub invalid_reward: f64,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            repair_nodes: 64,
            invalid_reward: -1.0,
        }
    }
}

/// One step's action: a chip for every op, and optionally the costs repair
/// minimises instead of the number of ops it moves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Action {
    /// `chips[op]` is the proposed chip id of op `op`.
    pub chips: Vec<u32>,
    /// Row-major `n_ops × n_chips` costs (e.g. a policy's `−log p`): repair
    /// then returns the valid placement of least total cost. `+∞` forbids a
    /// chip for an op; NaN and `−∞` are refused.
    pub repair_costs: Option<Vec<f64>>,
}

/// The placement an episode is scored against.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    /// The registered method that produced it (`greedy`, else `dp`).
    pub method: &'static str,
    pub placement: Placement,
    pub throughput_inferences_per_s: f64,
}

/// What a step did besides its reward.
#[derive(Clone, Debug, PartialEq)]
pub struct StepInfo {
    /// The repaired (valid) placement, when repair found one.
    pub placement: Option<Placement>,
    /// Ops whose chip repair changed.
    pub repair_distance: Option<u32>,
    /// Whether repair proved its placement the closest valid one.
    pub repair_proven_optimal: bool,
    /// The constraints the proposal itself broke, before repair.
    pub proposal_violations: Vec<Violation>,
    /// The simulator's report of the repaired placement.
    pub report: Option<SimReport>,
    /// Of the repaired placement; 0 when there is none or it is invalid.
    pub throughput_inferences_per_s: f64,
    pub baseline_throughput_inferences_per_s: f64,
    /// Why the step ended without a valid placement, if it did.
    pub invalid_reason: Option<String>,
}

/// The result of [`PartitionEnv::step`].
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub observation: Arc<Observation>,
    pub reward: f64,
    /// Always true: an episode is one step.
    pub terminated: bool,
    /// Always false: nothing cuts an episode short.
    pub truncated: bool,
    pub info: StepInfo,
}

/// A call the environment refuses. The episode is unchanged by it.
#[derive(Clone, Debug, PartialEq)]
pub enum EnvError {
    /// `step` before the first `reset`.
    NotReset,
    /// `step` after the episode ended, before the next `reset`.
    EpisodeOver,
    /// The action does not give one chip per op.
    ActionLength { expected: usize, got: usize },
    /// A chip id beyond the package.
    ChipOutOfRange {
        op: u32,
        op_name: String,
        chip: u32,
        n_chips: usize,
    },
    /// `repair_costs` is not `n_ops × n_chips` long.
    CostsLength { expected: usize, got: usize },
    /// A repair cost that is NaN or `−∞`.
    BadCost {
        op: u32,
        op_name: String,
        chip: u32,
        value: f64,
    },
    /// Neither `greedy` nor `dp` found a valid placement to score against.
    NoBaseline(String),
    /// The simulator refused the problem or a repaired placement (a bug,
    /// never the caller's).
    Simulator(String),
    /// Episodes scored elsewhere (an [`super::ppo::EpisodeScorer`] on other
    /// machines) could not be: the message says why.
    Scoring(String),
    /// Scoring elsewhere was interrupted (Ctrl-C in the program that drives
    /// it); nothing of the batch was kept.
    Interrupted,
}

impl std::fmt::Display for EnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvError::NotReset => write!(f, "step before reset: call reset first"),
            EnvError::EpisodeOver => {
                write!(f, "the episode is over (one step each): call reset")
            }
            EnvError::ActionLength { expected, got } => write!(
                f,
                "action: {got} chips given, the graph has {expected} ops (one chip per op)"
            ),
            EnvError::ChipOutOfRange {
                op,
                op_name,
                chip,
                n_chips,
            } => write!(
                f,
                "action: op {op} ({op_name}) is given chip {chip}; the package has chips 0..{n_chips}"
            ),
            EnvError::CostsLength { expected, got } => write!(
                f,
                "repair_costs: {got} values given, expected n_ops × n_chips = {expected}"
            ),
            EnvError::BadCost {
                op,
                op_name,
                chip,
                value,
            } => write!(
                f,
                "repair_costs: op {op} ({op_name}) on chip {chip} costs {value}; costs must be finite or +inf"
            ),
            EnvError::NoBaseline(why) => write!(
                f,
                "no baseline: neither greedy nor dp found a valid placement ({why})"
            ),
            EnvError::Simulator(e) => write!(f, "simulator: {e}"),
            EnvError::Scoring(e) => write!(f, "scoring episodes elsewhere: {e}"),
            EnvError::Interrupted => write!(f, "interrupted while episodes were scored"),
        }
    }
}

impl std::error::Error for EnvError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    NotReset,
    Running,
    Over,
}

/// The environment over one [`Problem`].
pub struct PartitionEnv {
    problem: Problem,
    options: EnvOptions,
    observation: Arc<Observation>,
    /// The environment's own simulator (taken out while `step` runs).
    sim_slot: Option<Simulator>,
    baseline: Baseline,
    phase: Phase,
    seed: Option<u64>,
    steps: u64,
}

impl PartitionEnv {
    /// Builds the observation, the simulator and the baseline (one or two
    /// simulator calls).
    pub fn new(problem: Problem, options: EnvOptions) -> Result<PartitionEnv, EnvError> {
        PartitionEnv::build(problem, options, baseline)
    }

    /// An environment whose baseline is known already (one built from the
    /// same problem by [`PartitionEnv::new`], on another machine say):
    /// builds the observation and the simulator only.
    pub fn with_baseline(
        problem: Problem,
        options: EnvOptions,
        baseline: Baseline,
    ) -> Result<PartitionEnv, EnvError> {
        PartitionEnv::build(problem, options, |_| Ok(baseline))
    }

    fn build(
        problem: Problem,
        options: EnvOptions,
        baseline_of: impl FnOnce(&Problem) -> Result<Baseline, EnvError>,
    ) -> Result<PartitionEnv, EnvError> {
        let observation = Arc::new(observe(&problem.model()));
        let sim = Simulator::new(&problem.spec, &problem.graph, &problem.options)
            .map_err(|e| EnvError::Simulator(e.to_string()))?
            .with_constraints(problem.constraints);
        let baseline = baseline_of(&problem)?;
        Ok(PartitionEnv {
            problem,
            options,
            observation,
            sim_slot: Some(sim),
            baseline,
            phase: Phase::NotReset,
            seed: None,
            steps: 0,
        })
    }

    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    pub fn options(&self) -> &EnvOptions {
        &self.options
    }

    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    pub fn observation(&self) -> &Arc<Observation> {
        &self.observation
    }

    pub fn n_ops(&self) -> usize {
        self.observation.n_ops
    }

    pub fn n_chips(&self) -> usize {
        self.observation.n_chips
    }

    /// Steps taken since the environment was built.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The seed of the last `reset` (the environment itself draws nothing;
    /// it is kept for callers that record it).
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// Starts an episode.
    pub fn reset(&mut self, seed: Option<u64>) -> Arc<Observation> {
        self.seed = seed;
        self.phase = Phase::Running;
        Arc::clone(&self.observation)
    }

    /// Repairs and scores `action`; ends the episode.
    pub fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let Some(mut sim) = self.sim_slot.take() else {
            return Err(EnvError::Simulator(
                "the environment's simulator is gone".into(),
            ));
        };
        let mut failed = None;
        let out = self.step_with(
            action,
            &mut |placement: &Placement| match sim.run(placement) {
                Ok(out) => Some(out.report),
                Err(e) => {
                    failed = Some(EnvError::Simulator(e.to_string()));
                    None
                }
            },
        );
        self.sim_slot = Some(sim);
        match (out, failed) {
            (_, Some(e)) | (Err(e), None) => Err(e),
            (Ok(Some(step)), None) => Ok(step),
            (Ok(None), None) => Err(EnvError::Simulator("no report".into())),
        }
    }

    /// [`PartitionEnv::step`] with the repaired placement scored by
    /// `simulate` (a search's budgeted evaluator, say) instead of the
    /// environment's own simulator. `None` from `simulate` (no budget left)
    /// leaves the episode running and returns `Ok(None)`.
    pub fn step_with(
        &mut self,
        action: &Action,
        simulate: &mut dyn FnMut(&Placement) -> Option<SimReport>,
    ) -> Result<Option<Step>, EnvError> {
        match self.phase {
            Phase::NotReset => return Err(EnvError::NotReset),
            Phase::Over => return Err(EnvError::EpisodeOver),
            Phase::Running => {}
        }
        let proposal = self.check_action(action)?;
        let costs = match &action.repair_costs {
            Some(flat) => Some(self.check_costs(flat)?),
            None => None,
        };
        let p = &self.problem;
        let proposal_violations = check(
            &p.spec,
            &p.graph,
            &Placement {
                chiplet_of_op: proposal.clone(),
            },
            &p.constraints,
        );
        let objective = match &costs {
            Some(c) => Objective::Cost(c),
            None => Objective::FewestChanges(&proposal),
        };
        let repaired = repair_with(
            &p.spec,
            &p.graph,
            &p.constraints,
            objective,
            &RepairOptions {
                max_nodes: self.options.repair_nodes,
            },
        );
        let mut info = StepInfo {
            placement: None,
            repair_distance: None,
            repair_proven_optimal: false,
            proposal_violations,
            report: None,
            throughput_inferences_per_s: 0.0,
            baseline_throughput_inferences_per_s: self.baseline.throughput_inferences_per_s,
            invalid_reason: None,
        };
        let mut reward = self.options.invalid_reward;
        match repaired {
            Err(infeasible) => info.invalid_reason = Some(infeasible.reason),
            Ok(r) => {
                let Some(report) = simulate(&r.placement) else {
                    return Ok(None);
                };
                let throughput = score(&report);
                if throughput > 0.0 {
                    reward = throughput / self.baseline.throughput_inferences_per_s;
                } else {
                    info.invalid_reason = Some(format!(
                        "the simulator reports the repaired placement invalid: {}",
                        report
                            .violations
                            .first()
                            .map_or_else(|| "no throughput".to_string(), |v| format!("{v:?}"))
                    ));
                }
                info.repair_distance = Some(
                    r.placement
                        .chiplet_of_op
                        .iter()
                        .zip(&proposal)
                        .filter(|(a, b)| a != b)
                        .count() as u32,
                );
                info.repair_proven_optimal = r.proven_optimal;
                info.throughput_inferences_per_s = throughput;
                info.placement = Some(r.placement);
                info.report = Some(report);
            }
        }
        self.phase = Phase::Over;
        self.steps += 1;
        Ok(Some(Step {
            observation: Arc::clone(&self.observation),
            reward,
            terminated: true,
            truncated: false,
            info,
        }))
    }

    fn op_name(&self, op: usize) -> String {
        self.problem.graph.op(OpId(op as u32)).name.clone()
    }

    fn check_action(&self, action: &Action) -> Result<Vec<ChipletId>, EnvError> {
        let (n, k) = (self.n_ops(), self.n_chips());
        if action.chips.len() != n {
            return Err(EnvError::ActionLength {
                expected: n,
                got: action.chips.len(),
            });
        }
        action
            .chips
            .iter()
            .enumerate()
            .map(|(op, &chip)| {
                if (chip as usize) < k {
                    Ok(ChipletId(chip))
                } else {
                    Err(EnvError::ChipOutOfRange {
                        op: op as u32,
                        op_name: self.op_name(op),
                        chip,
                        n_chips: k,
                    })
                }
            })
            .collect()
    }

    fn check_costs(&self, flat: &[f64]) -> Result<Vec<Vec<f64>>, EnvError> {
        let (n, k) = (self.n_ops(), self.n_chips());
        if flat.len() != n * k {
            return Err(EnvError::CostsLength {
                expected: n * k,
                got: flat.len(),
            });
        }
        if let Some(at) = flat
            .iter()
            .position(|c| c.is_nan() || *c == f64::NEG_INFINITY)
        {
            return Err(EnvError::BadCost {
                op: (at / k) as u32,
                op_name: self.op_name(at / k),
                chip: (at % k) as u32,
                value: flat[at],
            });
        }
        Ok(flat.chunks(k).map(<[f64]>::to_vec).collect())
    }
}

/// `greedy`'s placement of `problem`, else `dp`'s.
fn baseline(problem: &Problem) -> Result<Baseline, EnvError> {
    let mut why = Vec::new();
    for method in ["greedy", "dp"] {
        match method_placement(problem, method)? {
            MethodOutcome::Found {
                method,
                placement,
                throughput_inferences_per_s,
            } => {
                return Ok(Baseline {
                    method,
                    placement,
                    throughput_inferences_per_s,
                });
            }
            MethodOutcome::Missed(reason) => why.push(format!("{method}: {reason}")),
        }
    }
    Err(EnvError::NoBaseline(why.join("; ")))
}

/// What one run of a registered method on a problem gave.
pub(crate) enum MethodOutcome {
    /// A valid placement and its converged throughput.
    Found {
        method: &'static str,
        placement: Placement,
        throughput_inferences_per_s: f64,
    },
    /// No valid placement, and why.
    Missed(String),
}

/// Runs the registered method `method` with its defaults and a budget of
/// one simulator call (enough for the constructive methods, `greedy` and
/// `dp`, the baseline and the pre-training report use).
pub(crate) fn method_placement(problem: &Problem, method: &str) -> Result<MethodOutcome, EnvError> {
    let info = registry::lookup(method).map_err(|e| EnvError::Simulator(e.to_string()))?;
    let search = problem.search(1, 0);
    let mut eval = Evaluator::new(&search).map_err(|e| EnvError::Simulator(e.to_string()))?;
    let mut m = info.build(&info.defaults(), 1);
    let error = m.run(&search, &mut eval).err();
    let result = eval.finish(method, m.notes(), error);
    Ok(match (result.best, result.failure) {
        (Some((placement, report)), _) if score(&report) > 0.0 => MethodOutcome::Found {
            method: info.name,
            placement,
            throughput_inferences_per_s: score(&report),
        },
        (_, Some(e)) => MethodOutcome::Missed(e.to_string()),
        _ => MethodOutcome::Missed("no valid placement".to_string()),
    })
}
