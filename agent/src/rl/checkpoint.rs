//! Checkpoints of a [`Trainer`]: the weights, Adam's state, the sampling
//! generator's exact position, the counters and the configuration, so a run
//! resumed from one continues exactly as the uninterrupted run would.
//!
//! The file is JSON. Every `f32` is stored as its bit pattern (a `u32`), so a
//! round trip is exact; an FNV-1a checksum over those bits catches a file
//! edited or damaged in a way that still parses. A file from another format
//! version, or trained on other feature columns or another architecture, is
//! refused with a message naming the file and the difference.

use std::fmt;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::features::{CHIP_FEATURES, EDGE_FEATURES, NODE_FEATURES, OP_CHIP_FEATURES};
use super::policy::{HIDDEN, SAGE_ROUNDS, SEGMENT};
use super::ppo::{AdamState, LogProbOf, PpoConfig, Trainer};

/// The checkpoint format this build reads and writes.
pub const CHECKPOINT_VERSION: u32 = 1;

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
    /// The numbers do not match their checksum.
    Corrupt {
        path: PathBuf,
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
            CheckpointError::Corrupt { path } => write!(
                f,
                "{}: checksum mismatch: the checkpoint's numbers were changed or damaged",
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

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    architecture: Architecture,
    config: Config,
    progress: Progress,
    rng: Rng,
    parameter_names: Vec<String>,
    /// `f32` bit patterns.
    parameters: Vec<Vec<u32>>,
    adam_step: u64,
    adam_m: Vec<Vec<u32>>,
    adam_v: Vec<Vec<u32>>,
    /// FNV-1a over every bit pattern above, in order.
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

fn checksum(groups: &[&[Vec<u32>]], adam_step: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(adam_step);
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
        let io = |e: std::io::Error| CheckpointError::Io {
            path: path.to_path_buf(),
            error: e.to_string(),
        };
        let c = self.config;
        let mut names = Names(Vec::new());
        self.net.visit(&mut names);
        let parameters = bits(&self.net.parameters());
        let (adam_m, adam_v) = (bits(&self.adam.m), bits(&self.adam.v));
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
            parameter_names: names.0,
            checksum: checksum(&[&parameters, &adam_m, &adam_v], self.adam.step),
            parameters,
            adam_step: self.adam.step,
            adam_m,
            adam_v,
        };
        let text = serde_json::to_string(&file).expect("a checkpoint serialises");
        let tmp = path.with_extension("json.partial");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a checkpoint written by [`Trainer::save`]: the trainer as it
    /// was, and the run's progress.
    pub fn load(path: &Path) -> Result<(Trainer, Progress), CheckpointError> {
        let p = || path.to_path_buf();
        let text = std::fs::read_to_string(path).map_err(|e| CheckpointError::Io {
            path: p(),
            error: e.to_string(),
        })?;
        // The format and version first, so an old file gets the right message.
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u32>,
        }
        let head: Head = serde_json::from_str(&text).map_err(|e| CheckpointError::Parse {
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
        let f: File = serde_json::from_str(&text).map_err(|e| CheckpointError::Parse {
            path: p(),
            error: e.to_string(),
        })?;
        if let Some(what) = f.architecture.difference() {
            return Err(CheckpointError::Incompatible { path: p(), what });
        }
        if checksum(&[&f.parameters, &f.adam_m, &f.adam_v], f.adam_step) != f.checksum {
            return Err(CheckpointError::Corrupt { path: p() });
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
        Ok((trainer, f.progress))
    }
}
