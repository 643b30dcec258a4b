//! Checkpoints of a [`Trainer`]: the weights, Adam's state, the sampling
//! generator's exact position, the counters and the configuration, so a run
//! resumed from one continues exactly as the uninterrupted run would; and,
//! when a pre-training run wrote it, the run's record ([`RunRecord`]: its
//! setup with its fingerprint, and its learning curve so far), so the
//! resumed run writes the same learning curve and a checkpoint of another
//! setup is refused ([`Trainer::resume`]).
//!
//! The file is JSON. Every float is stored as its bit pattern (`f32` as a
//! `u32`, `f64` as a `u64`), so a round trip is exact; an FNV-1a checksum over
//! those bits and the counters catches a file edited or damaged in a way that
//! still parses. A file from another format version, or trained on other
//! feature columns or another architecture, is refused with a message naming
//! the file and the difference.
//!
//! Versions: 1 held the trainer and its counters; 2 adds the run record
//! (`run`, `null` for a trainer saved outside a run) and extends the
//! checksum to the counters and the curve. Version 1 files are refused (no
//! run record could be made up for them).

use std::fmt;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::features::{CHIP_FEATURES, EDGE_FEATURES, NODE_FEATURES, OP_CHIP_FEATURES};
use super::policy::{HIDDEN, SAGE_ROUNDS, SEGMENT};
use super::ppo::{AdamState, LogProbOf, PpoConfig, Trainer};
use super::pretrain::{CurveRow, RunRecord, Setup, config_difference, fingerprint};

/// The checkpoint format this build reads and writes.
pub const CHECKPOINT_VERSION: u32 = 2;

const FORMAT: &str = "tessera-policy";

/// Why a checkpoint cannot be read or written.
#[derive(Debug)]
pub enum CheckpointError {
    Io {
        path: PathBuf,
        error: String,
    },
    /// Not JSON of the checkpoint's shape (with serde's line and column).
    Parse {
        path: PathBuf,
        error: String,
    },
    /// Another format or version.
    Version {
        path: PathBuf,
        found: String,
    },
    /// Trained on other features or another architecture.
    Incompatible {
        path: PathBuf,
        what: String,
    },
    /// The numbers do not match their checksum, or the file contradicts
    /// itself (`what`).
    Corrupt {
        path: PathBuf,
        what: Option<String>,
    },
    /// Written by another training setup, or by no training run at all
    /// (`what` says which difference).
    OtherSetup {
        path: PathBuf,
        what: String,
    },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            CheckpointError::Parse { path, error } => {
                write!(f, "{}: not a tessera checkpoint: {error}", path.display())
            }
            CheckpointError::Version { path, found } => write!(
                f,
                "{}: checkpoint format {found}; this build reads {FORMAT} version {CHECKPOINT_VERSION}",
                path.display()
            ),
            CheckpointError::Incompatible { path, what } => write!(
                f,
                "{}: the checkpoint's policy does not fit this build: {what}",
                path.display()
            ),
            CheckpointError::Corrupt { path, what: None } => write!(
                f,
                "{}: checksum mismatch: the checkpoint's numbers were changed or damaged",
                path.display()
            ),
            CheckpointError::Corrupt {
                path,
                what: Some(what),
            } => write!(f, "{}: damaged checkpoint: {what}", path.display()),
            CheckpointError::OtherSetup { path, what } => write!(
                f,
                "{}: the checkpoint is not of this training run: {what}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CheckpointError {}

/// What the counters say about the run that wrote the checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// PPO batches completed.
    pub batches: u64,
    /// Environment steps (simulator calls) taken.
    pub evaluations: u64,
}

#[derive(Serialize, Deserialize)]
struct Architecture {
    hidden: usize,
    sage_rounds: usize,
    segment: usize,
    node_features: Vec<String>,
    edge_features: Vec<String>,
    chip_features: Vec<String>,
    op_chip_features: Vec<String>,
}

impl Architecture {
    fn this_build() -> Architecture {
        let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Architecture {
            hidden: HIDDEN,
            sage_rounds: SAGE_ROUNDS,
            segment: SEGMENT,
            node_features: names(&NODE_FEATURES),
            edge_features: names(&EDGE_FEATURES),
            chip_features: names(&CHIP_FEATURES),
            op_chip_features: names(&OP_CHIP_FEATURES),
        }
    }

    /// The first difference from this build, if any.
    fn difference(&self) -> Option<String> {
        let b = Architecture::this_build();
        let sizes = [
            ("hidden width", self.hidden, b.hidden),
            ("message-passing rounds", self.sage_rounds, b.sage_rounds),
            ("attention segment", self.segment, b.segment),
        ];
        for (what, file, build) in sizes {
            if file != build {
                return Some(format!("{what} {file}, this build {build}"));
            }
        }
        let lists = [
            ("node features", &self.node_features, &b.node_features),
            ("edge features", &self.edge_features, &b.edge_features),
            ("chip features", &self.chip_features, &b.chip_features),
            (
                "op-chip features",
                &self.op_chip_features,
                &b.op_chip_features,
            ),
        ];
        for (what, file, build) in lists {
            if file != build {
                return Some(format!("{what} {file:?}, this build {build:?}"));
            }
        }
        None
    }
}

#[derive(Serialize, Deserialize)]
struct Config {
    episodes_per_batch: usize,
    epochs: usize,
    minibatch: usize,
    clip_bits: u32,
    value_coef_bits: u32,
    entropy_coef_bits: u32,
    learning_rate_bits: u32,
    max_grad_norm_bits: u32,
    log_prob_of: String,
    repair_by_log_prob: bool,
}

#[derive(Serialize, Deserialize)]
struct Rng {
    seed: Vec<u8>,
    stream: u64,
    /// A `u128`, as decimal text (JSON numbers stop at 2^64).
    word_pos: String,
}

/// One row of the learning curve, floats as bit patterns.
#[derive(Serialize, Deserialize)]
struct CurveRowFile {
    batch: u64,
    problem: usize,
    mean_reward_bits: u64,
    best_reward_bits: Option<u64>,
    entropy_bits: u32,
    policy_loss_bits: u32,
    value_loss_bits: u32,
    evaluations: u64,
}

impl CurveRowFile {
    fn new(r: &CurveRow) -> CurveRowFile {
        CurveRowFile {
            batch: r.batch,
            problem: r.problem,
            mean_reward_bits: r.mean_reward.to_bits(),
            best_reward_bits: r.best_reward.map(f64::to_bits),
            entropy_bits: r.entropy.to_bits(),
            policy_loss_bits: r.policy_loss.to_bits(),
            value_loss_bits: r.value_loss.to_bits(),
            evaluations: r.evaluations,
        }
    }

    fn row(&self) -> CurveRow {
        CurveRow {
            batch: self.batch,
            problem: self.problem,
            mean_reward: f64::from_bits(self.mean_reward_bits),
            best_reward: self.best_reward_bits.map(f64::from_bits),
            entropy: f32::from_bits(self.entropy_bits),
            policy_loss: f32::from_bits(self.policy_loss_bits),
            value_loss: f32::from_bits(self.value_loss_bits),
            evaluations: self.evaluations,
        }
    }

    /// The row's numbers, in order, for the checksum.
    fn numbers(&self) -> [u64; 9] {
        [
            self.batch,
            self.problem as u64,
            self.mean_reward_bits,
            u64::from(self.best_reward_bits.is_some()),
            self.best_reward_bits.unwrap_or(0),
            u64::from(self.entropy_bits),
            u64::from(self.policy_loss_bits),
            u64::from(self.value_loss_bits),
            self.evaluations,
        ]
    }
}

/// A training run's record as stored.
#[derive(Serialize, Deserialize)]
struct RunFile {
    setup: Setup,
    /// [`fingerprint`] of the setup and the file's `config`.
    fingerprint: String,
    curve: Vec<CurveRowFile>,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    architecture: Architecture,
    config: Config,
    progress: Progress,
    rng: Rng,
    /// The run that wrote the checkpoint, if a run did.
    run: Option<RunFile>,
    parameter_names: Vec<String>,
    /// `f32` bit patterns.
    parameters: Vec<Vec<u32>>,
    adam_step: u64,
    adam_m: Vec<Vec<u32>>,
    adam_v: Vec<Vec<u32>>,
    /// FNV-1a over the counters, the curve's numbers and every parameter
    /// and moment's bit pattern, in order.
    checksum: String,
}

fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
    v.iter()
        .map(|p| p.iter().map(|x| x.to_bits()).collect())
        .collect()
}

fn floats(v: &[Vec<u32>]) -> Vec<Vec<f32>> {
    v.iter()
        .map(|p| p.iter().map(|&x| f32::from_bits(x)).collect())
        .collect()
}

/// What the checksum covers besides the parameter groups: the counters and
/// the curve.
struct Counted<'a> {
    adam_step: u64,
    progress: Progress,
    curve: &'a [CurveRowFile],
}

fn checksum(groups: &[&[Vec<u32>]], counted: &Counted<'_>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(counted.adam_step);
    eat(counted.progress.batches);
    eat(counted.progress.evaluations);
    eat(counted.curve.len() as u64);
    for row in counted.curve {
        row.numbers().into_iter().for_each(&mut eat);
    }
    for g in groups {
        for p in *g {
            eat(p.len() as u64);
            for &x in p {
                eat(u64::from(x));
            }
        }
    }
    format!("{h:016x}")
}

struct Names(Vec<String>);

impl super::policy::ParamVisitor for Names {
    fn visit<S: dfdx::shapes::Shape>(
        &mut self,
        name: &str,
        _t: &mut dfdx::tensor::Tensor<S, f32, dfdx::tensor::Cpu>,
    ) {
        self.0.push(name.to_string());
    }
}

impl Trainer {
    /// Writes the trainer's whole state to `path` (through a temporary file
    /// renamed into place, so a crash never leaves half a checkpoint).
    pub fn save(&mut self, path: &Path, progress: Progress) -> Result<(), CheckpointError> {
        let text = self.to_json(progress, None);
        write_file(path, &text)
    }

    /// [`Trainer::save`] with the record of the run that trained it.
    pub fn save_run(
        &mut self,
        path: &Path,
        progress: Progress,
        run: &RunRecord,
    ) -> Result<(), CheckpointError> {
        let text = self.to_json(progress, Some(run));
        write_file(path, &text)
    }

    /// The checkpoint's text, as [`Trainer::save`] and
    /// [`Trainer::save_run`] write it (for callers that write files their
    /// own way).
    pub fn to_json(&mut self, progress: Progress, run: Option<&RunRecord>) -> String {
        let c = self.config;
        let mut names = Names(Vec::new());
        self.net.visit(&mut names);
        let parameters = bits(&self.net.parameters());
        let (adam_m, adam_v) = (bits(&self.adam.m), bits(&self.adam.v));
        let run = run.map(|r| RunFile {
            fingerprint: fingerprint(&r.setup, &c),
            setup: r.setup.clone(),
            curve: r.curve.iter().map(CurveRowFile::new).collect(),
        });
        let counted = Counted {
            adam_step: self.adam.step,
            progress,
            curve: run.as_ref().map_or(&[], |r| &r.curve),
        };
        let checksum = checksum(&[&parameters, &adam_m, &adam_v], &counted);
        let file = File {
            format: FORMAT.to_string(),
            version: CHECKPOINT_VERSION,
            architecture: Architecture::this_build(),
            config: Config {
                episodes_per_batch: c.episodes_per_batch,
                epochs: c.epochs,
                minibatch: c.minibatch,
                clip_bits: c.clip.to_bits(),
                value_coef_bits: c.value_coef.to_bits(),
                entropy_coef_bits: c.entropy_coef.to_bits(),
                learning_rate_bits: c.learning_rate.to_bits(),
                max_grad_norm_bits: c.max_grad_norm.to_bits(),
                log_prob_of: match c.log_prob_of {
                    LogProbOf::Proposal => "proposal",
                    LogProbOf::Repaired => "repaired",
                }
                .to_string(),
                repair_by_log_prob: c.repair_by_log_prob,
            },
            progress,
            rng: Rng {
                seed: self.rng.get_seed().to_vec(),
                stream: self.rng.get_stream(),
                word_pos: self.rng.get_word_pos().to_string(),
            },
            run,
            parameter_names: names.0,
            checksum,
            parameters,
            adam_step: self.adam.step,
            adam_m,
            adam_v,
        };
        serde_json::to_string(&file).expect("a checkpoint serialises")
    }

    /// Reads a checkpoint written by [`Trainer::save`]: the trainer as it
    /// was, and the run's progress.
    pub fn load(path: &Path) -> Result<(Trainer, Progress), CheckpointError> {
        Trainer::load_run(path).map(|(t, p, _)| (t, p))
    }

    /// Reads a checkpoint of a pre-training run to continue it: refused
    /// unless it carries a run record whose setup and PPO configuration are
    /// `setup` and `config` (the message names the first difference).
    pub fn resume(
        path: &Path,
        setup: &Setup,
        config: &PpoConfig,
    ) -> Result<(Trainer, RunRecord), CheckpointError> {
        let (trainer, _, run) = Trainer::load_run(path)?;
        let other = |what: String| CheckpointError::OtherSetup {
            path: path.to_path_buf(),
            what,
        };
        let Some(run) = run else {
            return Err(other(
                "it holds no training run's record (a bare policy, not a train run's checkpoint)"
                    .to_string(),
            ));
        };
        if let Some(d) = run.setup.difference(setup) {
            return Err(other(d));
        }
        if let Some(d) = config_difference(&trainer.config, config) {
            return Err(other(d));
        }
        Ok((trainer, run))
    }

    /// Reads any checkpoint: the trainer, its progress, and the record of
    /// the run that wrote it, if one did.
    pub fn load_run(
        path: &Path,
    ) -> Result<(Trainer, Progress, Option<RunRecord>), CheckpointError> {
        let p = || path.to_path_buf();
        let text = std::fs::read_to_string(path).map_err(|e| CheckpointError::Io {
            path: p(),
            error: e.to_string(),
        })?;
        Trainer::from_json(&text, path)
    }

    /// Reads a checkpoint's text; `path` names it in errors.
    pub fn from_json(
        text: &str,
        path: &Path,
    ) -> Result<(Trainer, Progress, Option<RunRecord>), CheckpointError> {
        let p = || path.to_path_buf();
        // The format and version first, so an old file gets the right message.
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u32>,
        }
        let head: Head = serde_json::from_str(text).map_err(|e| CheckpointError::Parse {
            path: p(),
            error: e.to_string(),
        })?;
        if head.format.as_deref() != Some(FORMAT) || head.version != Some(CHECKPOINT_VERSION) {
            return Err(CheckpointError::Version {
                path: p(),
                found: format!(
                    "{} version {}",
                    head.format.as_deref().unwrap_or("(none)"),
                    head.version.map_or("(none)".to_string(), |v| v.to_string())
                ),
            });
        }
        let f: File = serde_json::from_str(text).map_err(|e| CheckpointError::Parse {
            path: p(),
            error: e.to_string(),
        })?;
        if let Some(what) = f.architecture.difference() {
            return Err(CheckpointError::Incompatible { path: p(), what });
        }
        let counted = Counted {
            adam_step: f.adam_step,
            progress: f.progress,
            curve: f.run.as_ref().map_or(&[], |r| &r.curve),
        };
        if checksum(&[&f.parameters, &f.adam_m, &f.adam_v], &counted) != f.checksum {
            return Err(CheckpointError::Corrupt {
                path: p(),
                what: None,
            });
        }
        let c = &f.config;
        let config = PpoConfig {
            episodes_per_batch: c.episodes_per_batch,
            epochs: c.epochs,
            minibatch: c.minibatch,
            clip: f32::from_bits(c.clip_bits),
            value_coef: f32::from_bits(c.value_coef_bits),
            entropy_coef: f32::from_bits(c.entropy_coef_bits),
            learning_rate: f32::from_bits(c.learning_rate_bits),
            max_grad_norm: f32::from_bits(c.max_grad_norm_bits),
            log_prob_of: match c.log_prob_of.as_str() {
                "proposal" => LogProbOf::Proposal,
                "repaired" => LogProbOf::Repaired,
                other => {
                    return Err(CheckpointError::Incompatible {
                        path: p(),
                        what: format!("log_prob_of {other:?}"),
                    });
                }
            },
            repair_by_log_prob: c.repair_by_log_prob,
        };
        let mut trainer = Trainer::new(0, config);
        let shapes: Vec<usize> = trainer.net.parameters().iter().map(Vec::len).collect();
        let mut names = Names(Vec::new());
        trainer.net.visit(&mut names);
        let fits = |v: &[Vec<u32>]| {
            v.len() == shapes.len() && v.iter().zip(&shapes).all(|(a, &n)| a.len() == n)
        };
        if names.0 != f.parameter_names
            || !fits(&f.parameters)
            || !fits(&f.adam_m)
            || !fits(&f.adam_v)
        {
            return Err(CheckpointError::Incompatible {
                path: p(),
                what: "its parameters do not have this build's names and sizes".to_string(),
            });
        }
        trainer.net.set_parameters(&floats(&f.parameters));
        trainer.adam = AdamState {
            step: f.adam_step,
            m: floats(&f.adam_m),
            v: floats(&f.adam_v),
        };
        let seed: [u8; 32] =
            f.rng
                .seed
                .as_slice()
                .try_into()
                .map_err(|_| CheckpointError::Incompatible {
                    path: p(),
                    what: format!("a generator seed of {} bytes, not 32", f.rng.seed.len()),
                })?;
        let word_pos: u128 = f.rng.word_pos.parse().map_err(|_| CheckpointError::Parse {
            path: p(),
            error: format!("rng.word_pos {:?} is not an integer", f.rng.word_pos),
        })?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(f.rng.stream);
        rng.set_word_pos(word_pos);
        trainer.rng = rng;
        let run = match f.run {
            Some(r) => Some(run_record(r, &trainer.config, f.progress, path)?),
            None => None,
        };
        Ok((trainer, f.progress, run))
    }
}

/// The run record as stored, checked against itself: its fingerprint is
/// its setup's and the configuration's, and its curve is the progress's.
fn run_record(
    r: RunFile,
    config: &PpoConfig,
    progress: Progress,
    path: &Path,
) -> Result<RunRecord, CheckpointError> {
    let corrupt = |what: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        what: Some(what),
    };
    if fingerprint(&r.setup, config) != r.fingerprint {
        return Err(corrupt(format!(
            "its fingerprint {} is not that of its own setup and configuration",
            r.fingerprint
        )));
    }
    let curve: Vec<CurveRow> = r.curve.iter().map(CurveRowFile::row).collect();
    let evaluations: u64 = curve.iter().map(|c| c.evaluations).sum();
    let numbered = curve.iter().zip(1..).all(|(c, i)| c.batch == i);
    let in_corpus = curve.iter().all(|c| c.problem < r.setup.problems.len());
    if curve.len() as u64 != progress.batches
        || evaluations != progress.evaluations
        || !numbered
        || !in_corpus
    {
        return Err(corrupt(format!(
            "its learning curve ({} rows) does not match its progress ({} batches, {} \
             evaluations) or its corpus ({} problems)",
            curve.len(),
            progress.batches,
            progress.evaluations,
            r.setup.problems.len()
        )));
    }
    Ok(RunRecord {
        setup: r.setup,
        curve,
    })
}

/// Writes `text` to `path` through a temporary file renamed into place.
fn write_file(path: &Path, text: &str) -> Result<(), CheckpointError> {
    let io = |e: std::io::Error| CheckpointError::Io {
        path: path.to_path_buf(),
        error: e.to_string(),
    };
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
