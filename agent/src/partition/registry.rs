//! The one registry of partition methods: each method's name, a one-line
//! summary, its typed options with their defaults and domains, and its
//! constructor. The command line, scenarios, `docs/partition_methods.md` and
//! the tests all read this table, so a method is added in exactly one place
//! (its file under `methods/`, plus one entry here) and cannot be listed in one
//! front end and missing from another.
//!
//! Options are checked here, not by each front end: a scenario or a flag hands
//! over `(name, value)` pairs and gets back either a method ready to run or a
//! [`SearchError::BadOption`] naming the option and its domain.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;
use std::sync::Arc;

use super::exact::{DEFAULT_TIME_LIMIT_S, Exact, Objective};
use super::methods::{Annealing, Balance, Dp, Greedy, Random, Reference, Rl, RlMode};
use super::search::Search;
use crate::error::SearchError;
use crate::rl::ppo::{LogProbOf, PpoConfig};

/// The type and domain of one option.
#[derive(Clone, Copy, Debug)]
pub enum OptionKind {
    /// An integer in `min ..= max`.
    Int {
        min: u64,
        max: u64,
    },
    /// A number in `(min, max]` when `strict_min`, else `[min, max]`.
    Float {
        min: f64,
        max: f64,
        strict_min: bool,
    },
    Bool,
    /// One of a fixed list of words.
    Choice {
        choices: &'static [&'static str],
    },
    /// A file, or none. Front ends resolve a relative path against where it
    /// was written (a scenario's directory) before handing it over; `check`
    /// reads the file and says what is wrong with it, so a front end can
    /// refuse it where it was written, before anything runs.
    File {
        check: fn(&Path) -> Result<(), String>,
    },
}

/// One option's value.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    Int(u64),
    Float(f64),
    Bool(bool),
    /// A word of an [`OptionKind::Choice`] (the registry's own string).
    Choice(&'static str),
    /// A path of an [`OptionKind::File`] option, or `None` (no file).
    File(Option<Arc<Path>>),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Int(v) => write!(f, "{v}"),
            OptionValue::Float(v) => write!(f, "{v}"),
            OptionValue::Bool(v) => write!(f, "{v}"),
            OptionValue::Choice(v) => write!(f, "`{v}`"),
            OptionValue::File(Some(p)) => write!(f, "{:?}", p.display().to_string()),
            OptionValue::File(None) => write!(f, "no file"),
        }
    }
}

impl OptionKind {
    /// The domain in words, for documentation and messages.
    pub fn describe(&self) -> String {
        match *self {
            OptionKind::Int { min, max } => format!("integer {min} to {max}"),
            OptionKind::Float {
                min,
                max,
                strict_min: true,
            } => format!("number > {min} and ≤ {max}"),
            OptionKind::Float { min, max, .. } => format!("number {min} to {max}"),
            OptionKind::Bool => "boolean".to_string(),
            OptionKind::Choice { choices } => {
                let words: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
                format!("one of {}", words.join(", "))
            }
            OptionKind::File { .. } => "path to a file, relative to the scenario".to_string(),
        }
    }

    /// The registry's own string for `word` when this is a choice that
    /// offers it (front ends read a word, then keep this).
    pub fn choice(&self, word: &str) -> Option<OptionValue> {
        match *self {
            OptionKind::Choice { choices } => choices
                .iter()
                .find(|&&c| c == word)
                .map(|&c| OptionValue::Choice(c)),
            _ => None,
        }
    }

    /// `value` when it has this kind and lies in the domain; an integer is
    /// accepted where a number is expected. The error says what was expected.
    fn check(&self, value: &OptionValue) -> Result<OptionValue, String> {
        let bad = || format!("expected {}, found {value}", self.describe());
        let value = value.clone();
        match (*self, &value) {
            (OptionKind::Int { min, max }, OptionValue::Int(v)) if (min..=max).contains(v) => {
                Ok(value)
            }
            (
                OptionKind::Float {
                    min,
                    max,
                    strict_min,
                },
                OptionValue::Float(_) | OptionValue::Int(_),
            ) => {
                let v = match value {
                    OptionValue::Float(v) => v,
                    OptionValue::Int(v) => v as f64,
                    _ => return Err(bad()),
                };
                let above = if strict_min { v > min } else { v >= min };
                if v.is_finite() && above && v <= max {
                    Ok(OptionValue::Float(v))
                } else {
                    Err(bad())
                }
            }
            (OptionKind::Bool, OptionValue::Bool(_)) => Ok(value),
            (OptionKind::Choice { choices }, OptionValue::Choice(v)) if choices.contains(v) => {
                Ok(value)
            }
            (OptionKind::File { .. }, OptionValue::File(None)) => Ok(value),
            (OptionKind::File { check }, OptionValue::File(Some(path))) => {
                check(path)?;
                Ok(value)
            }
            _ => Err(bad()),
        }
    }
}

/// One option of a method.
#[derive(Clone, Debug)]
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: OptionKind,
    pub default: OptionValue,
    pub summary: &'static str,
}

/// A method's options, every one present (given or default) and in its
/// domain. Built only by [`MethodInfo::options`].
#[derive(Clone, Debug, PartialEq)]
pub struct MethodOptions {
    values: BTreeMap<&'static str, OptionValue>,
}

impl MethodOptions {
    /// The value of option `name` (a registry name, so always present).
    fn get(&self, name: &str) -> &OptionValue {
        &self.values[name]
    }

    fn int(&self, name: &str) -> u64 {
        match *self.get(name) {
            OptionValue::Int(v) => v,
            ref other => unreachable!("option {name} is an integer in the registry, found {other}"),
        }
    }

    fn float(&self, name: &str) -> f64 {
        match *self.get(name) {
            OptionValue::Float(v) => v,
            OptionValue::Int(v) => v as f64,
            ref other => unreachable!("option {name} is a number in the registry, found {other}"),
        }
    }

    fn bool(&self, name: &str) -> bool {
        match *self.get(name) {
            OptionValue::Bool(v) => v,
            ref other => unreachable!("option {name} is a boolean in the registry, found {other}"),
        }
    }

    fn choice(&self, name: &str) -> &'static str {
        match *self.get(name) {
            OptionValue::Choice(v) => v,
            ref other => unreachable!("option {name} is a choice in the registry, found {other}"),
        }
    }

    fn file(&self, name: &str) -> Option<Arc<Path>> {
        match self.get(name) {
            OptionValue::File(v) => v.clone(),
            other => unreachable!("option {name} is a file in the registry, found {other}"),
        }
    }

    /// Every option with its value, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, OptionValue)> + '_ {
        self.values.iter().map(|(k, v)| (*k, v.clone()))
    }
}

/// One registered method.
pub struct MethodInfo {
    /// The name used in scenarios, on the command line and in reports.
    pub name: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    pub options: &'static [OptionSpec],
    build: fn(&MethodOptions, u64) -> Box<dyn Search>,
}

impl fmt::Debug for MethodInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodInfo")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl MethodInfo {
    /// The option called `name`.
    pub fn option(&self, name: &str) -> Option<&'static OptionSpec> {
        self.options.iter().find(|o| o.name == name)
    }

    /// Every option at its default.
    pub fn defaults(&self) -> MethodOptions {
        MethodOptions {
            values: self
                .options
                .iter()
                .map(|o| (o.name, o.default.clone()))
                .collect(),
        }
    }

    /// The options with `given` replacing defaults; each must be one of
    /// this method's and lie in its domain.
    pub fn options(&self, given: &[(String, OptionValue)]) -> Result<MethodOptions, SearchError> {
        let mut out = self.defaults();
        for (name, value) in given {
            let bad = |message: String| SearchError::BadOption {
                method: self.name.to_string(),
                option: name.clone(),
                message,
            };
            let spec = self.option(name).ok_or_else(|| {
                let known: Vec<&str> = self.options.iter().map(|o| o.name).collect();
                bad(if known.is_empty() {
                    "this method has no options".to_string()
                } else {
                    format!("unknown option; options: {}", known.join(", "))
                })
            })?;
            out.values
                .insert(spec.name, spec.kind.check(value).map_err(bad)?);
        }
        Ok(out)
    }

    /// The method with these options, ready to run with `budget` simulator
    /// calls.
    pub fn build(&self, options: &MethodOptions, budget: u64) -> Box<dyn Search> {
        (self.build)(options, budget)
    }
}

/// The names of `exact`'s objectives, in `Objective::ALL`'s order.
const OBJECTIVES: [&str; 2] = [Objective::ALL[0].name(), Objective::ALL[1].name()];

/// Every method, in the order tables list them.
pub static METHODS: &[MethodInfo] = &[
    MethodInfo {
        name: "random",
        summary: "random proposals (uniform per op, or random contiguous cuts), each repaired and scored",
        options: &[OptionSpec {
            name: "uniform_share",
            kind: OptionKind::Float {
                min: 0.0,
                max: 1.0,
                strict_min: false,
            },
            default: OptionValue::Float(0.5),
            summary: "share of proposals that draw every op's chiplet uniformly (the rest are random contiguous cuts)",
        }],
        build: |o, _| {
            Box::new(Random {
                uniform_share: o.float("uniform_share"),
            })
        },
    },
    MethodInfo {
        name: "sa",
        summary: "simulated annealing over valid placements (single-op moves and boundary shifts), geometric cooling over the budget",
        options: &[
            OptionSpec {
                name: "t0_fraction",
                kind: OptionKind::Float {
                    min: 0.0,
                    max: 1.0,
                    strict_min: true,
                },
                default: OptionValue::Float(0.005),
                summary: "initial temperature, as a fraction of the start's throughput",
            },
            OptionSpec {
                name: "t_end_fraction",
                kind: OptionKind::Float {
                    min: 0.0,
                    max: 1.0,
                    strict_min: true,
                },
                default: OptionValue::Float(0.00005),
                summary: "final temperature, as a fraction of the start's throughput",
            },
            OptionSpec {
                name: "shift_probability",
                kind: OptionKind::Float {
                    min: 0.0,
                    max: 1.0,
                    strict_min: false,
                },
                default: OptionValue::Float(0.5),
                summary: "probability that a move shifts a segment boundary (else it moves one op)",
            },
        ],
        build: |o, _| {
            Box::new(Annealing::new(
                o.float("t0_fraction"),
                o.float("t_end_fraction"),
                o.float("shift_probability"),
            ))
        },
    },
    MethodInfo {
        name: "greedy",
        summary: "contiguous segments of equal weight bytes, as the Edge TPU compiler segments a model; one evaluation",
        options: &[],
        build: |_, _| Box::new(Greedy),
    },
    MethodInfo {
        name: "balance",
        summary: "from the equal-weight segmentation, shifts boundaries toward equal measured stage latency",
        options: &[],
        build: |_, _| Box::new(Balance::default()),
    },
    MethodInfo {
        name: "dp",
        summary: "the optimal contiguous segmentation of the op order under the analytic bottleneck; one evaluation",
        options: &[OptionSpec {
            name: "transfers",
            kind: OptionKind::Bool,
            default: OptionValue::Bool(true),
            summary: "count the serialisation of tensors crossing each cut in a stage's cost",
        }],
        build: |o, _| Box::new(Dp::new(o.bool("transfers"))),
    },
    MethodInfo {
        name: "exact",
        summary: "branch and bound on the analytic bottleneck (or, with `objective = \"slot_aware\"`, its SRAM-slot-aware form) under every constraint, with a proven bound and gap",
        options: &[
            OptionSpec {
                name: "nodes_per_evaluation",
                kind: OptionKind::Int {
                    min: 1,
                    max: 1_000_000_000,
                },
                default: OptionValue::Int(1000),
                summary: "search nodes allowed per unit of budget (the node limit is budget × this; deterministic)",
            },
            OptionSpec {
                name: "time_limit_s",
                kind: OptionKind::Float {
                    min: 0.0,
                    max: 1e9,
                    strict_min: true,
                },
                default: OptionValue::Float(DEFAULT_TIME_LIMIT_S),
                summary: "wall-clock safety net in seconds (results may then depend on machine speed; notes say so)",
            },
            OptionSpec {
                name: "objective",
                kind: OptionKind::Choice {
                    choices: &OBJECTIVES,
                },
                default: OptionValue::Choice("bottleneck"),
                summary: "what is minimised: `bottleneck`, the analytic bottleneck (max of stage compute, link serialisation, off-package memory traffic); `slot_aware`, the same with each chiplet's stage replaced by max(stage, hold / SRAM slots), a lower bound on the interval its micro-batch slots allow",
            },
        ],
        build: |o, budget| {
            let objective = Objective::from_name(o.choice("objective"))
                .expect("the registry lists only objectives' names");
            Box::new(
                Exact::new(
                    o.float("time_limit_s"),
                    budget.saturating_mul(o.int("nodes_per_evaluation")),
                )
                .with_objective(objective),
            )
        },
    },
    MethodInfo {
        name: "rl",
        summary: "a graph policy network (dfdx) trained with PPO on the problem itself, from scratch or fine-tuned from a pre-trained checkpoint (`init`), or only sampled (`learn = false`, zero-shot); each episode proposes every op's chip, repair makes it valid, the simulator scores it",
        options: &[
            OptionSpec {
                name: "episodes_per_batch",
                kind: OptionKind::Int { min: 2, max: 4096 },
                default: OptionValue::Int(16),
                summary: "episodes sampled from one policy before each PPO update",
            },
            OptionSpec {
                name: "learning_rate",
                kind: OptionKind::Float {
                    min: 0.0,
                    max: 1.0,
                    strict_min: true,
                },
                default: OptionValue::Float(0.003),
                summary: "Adam's step size",
            },
            OptionSpec {
                name: "entropy_coef",
                kind: OptionKind::Float {
                    min: 0.0,
                    max: 10.0,
                    strict_min: false,
                },
                default: OptionValue::Float(0.01),
                summary: "weight of the entropy bonus",
            },
            OptionSpec {
                name: "repair_by_log_prob",
                kind: OptionKind::Bool,
                default: OptionValue::Bool(false),
                summary: "repair minimises the policy's −log p of the chosen chips instead of the number of ops moved",
            },
            OptionSpec {
                name: "log_prob_of",
                kind: OptionKind::Choice {
                    choices: &["repaired", "proposal"],
                },
                default: OptionValue::Choice("repaired"),
                summary: "whose log-probability PPO raises or lowers: the repaired placement the reward was measured on, or the sampled proposal (see docs/rl.md for the experiment)",
            },
            OptionSpec {
                name: "init",
                kind: OptionKind::File {
                    check: |path| {
                        crate::rl::ppo::Trainer::load(path)
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    },
                },
                default: OptionValue::File(None),
                summary: "a checkpoint (`checkpoint.json` of a `train` run) whose weights the policy starts from: fine-tuning; default a fresh policy drawn from the seed",
            },
            OptionSpec {
                name: "learn",
                kind: OptionKind::Bool,
                default: OptionValue::Bool(true),
                summary: "false: only sample the policy's proposals, never update it: zero-shot use of an `init` checkpoint (without one, an untrained policy's samples, a baseline for the learned one); the best sample is the result",
            },
            OptionSpec {
                name: "reference",
                kind: OptionKind::Choice {
                    choices: &["best", "baseline", "none"],
                },
                default: OptionValue::Choice("best"),
                summary: "the placement the policy sees as its reference and proposes edits of: `best`, the best the search has scored so far (updated after every batch, or every sample with `learn = false`); `baseline`, greedy's placement (else dp's), fixed; `none`, no reference (placements from the problem alone)",
            },
            OptionSpec {
                name: "warm_start",
                kind: OptionKind::Choice {
                    choices: &["none", "greedy", "dp", "exact"],
                },
                default: OptionValue::Choice("dp"),
                summary: "a method whose placement is scored first (one simulator call; `exact` runs with this budget's nodes) so that, with `reference = \"best\"`, the policy starts by editing it; `none` starts from the baseline (greedy's placement)",
            },
        ],
        build: |o, _| {
            let init = o.file("init");
            let mode = if o.bool("learn") {
                RlMode::Train { init }
            } else {
                RlMode::Sample { init }
            };
            let warm_start = match o.choice("warm_start") {
                "none" => None,
                teacher => Some(teacher),
            };
            Box::new(
                Rl::new(
                    mode,
                    PpoConfig {
                        episodes_per_batch: o.int("episodes_per_batch") as usize,
                        minibatch: (o.int("episodes_per_batch") as usize).div_ceil(2),
                        learning_rate: o.float("learning_rate") as f32,
                        entropy_coef: o.float("entropy_coef") as f32,
                        repair_by_log_prob: o.bool("repair_by_log_prob"),
                        log_prob_of: match o.choice("log_prob_of") {
                            "proposal" => LogProbOf::Proposal,
                            _ => LogProbOf::Repaired,
                        },
                        ..PpoConfig::default()
                    },
                )
                .warm_started(warm_start)
                .with_reference(match o.choice("reference") {
                    "none" => Reference::None,
                    "baseline" => Reference::Baseline,
                    _ => Reference::Best,
                }),
            )
        },
    },
];

/// The method called `name`.
pub fn lookup(name: &str) -> Result<&'static MethodInfo, SearchError> {
    METHODS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| SearchError::UnknownMethod {
            name: name.to_string(),
            known: names().join(", "),
        })
}

/// Every method's name, in registry order.
pub fn names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

/// The methods and their options as Markdown: the body of
/// `docs/partition_methods.md` between its markers (a test keeps the page
/// equal to this).
pub fn reference_markdown() -> String {
    let mut out = String::new();
    for m in METHODS {
        let _ = writeln!(out, "### `{}`\n\n{}.\n", m.name, m.summary);
        if m.options.is_empty() {
            out.push_str("No options.\n\n");
            continue;
        }
        out.push_str("| option | type and domain | default | meaning |\n|---|---|---|---|\n");
        for o in m.options {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                o.name,
                o.kind.describe(),
                o.default,
                o.summary
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_builds_under_its_name_with_defaults() {
        for m in METHODS {
            assert_eq!(m.build(&m.defaults(), 10).name(), m.name);
            for o in m.options {
                assert_eq!(
                    o.kind.check(&o.default),
                    Ok(o.default.clone()),
                    "{}",
                    o.name
                );
            }
        }
        let mut names = names();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "two methods share a name");
    }

    #[test]
    fn options_are_checked_by_name_and_domain() {
        let sa = lookup("sa").unwrap();
        let ok = sa
            .options(&[("t0_fraction".into(), OptionValue::Float(0.01))])
            .unwrap();
        assert_eq!(ok.float("t0_fraction"), 0.01);
        assert_eq!(ok.float("t_end_fraction"), 0.00005);
        let e = sa
            .options(&[("t0_fraction".into(), OptionValue::Float(0.0))])
            .unwrap_err();
        assert!(e.to_string().contains("option t0_fraction"), "{e}");
        let e = sa
            .options(&[("cooling".into(), OptionValue::Float(0.5))])
            .unwrap_err();
        assert!(e.to_string().contains("options: t0_fraction"), "{e}");
        let e = lookup("greedy")
            .unwrap()
            .options(&[("x".into(), OptionValue::Bool(true))])
            .unwrap_err();
        assert!(e.to_string().contains("has no options"), "{e}");
        let e = lookup("dp")
            .unwrap()
            .options(&[("transfers".into(), OptionValue::Int(1))])
            .unwrap_err();
        assert!(e.to_string().contains("expected boolean"), "{e}");
        assert!(lookup("annealing").is_err());
        let e = lookup("rl")
            .unwrap()
            .options(&[(
                "init".into(),
                OptionValue::File(Some(Path::new("/nonexistent/checkpoint.json").into())),
            )])
            .unwrap_err();
        assert!(e.to_string().contains("option init"), "{e}");
        assert!(e.to_string().contains("checkpoint.json"), "{e}");
    }

    #[test]
    fn exact_takes_its_node_limit_from_the_budget() {
        let exact = lookup("exact").unwrap();
        let o = exact
            .options(&[("nodes_per_evaluation".into(), OptionValue::Int(7))])
            .unwrap();
        assert_eq!(o.int("nodes_per_evaluation") * 3, 21);
        assert_eq!(exact.build(&o, 3).name(), "exact");
    }
}
