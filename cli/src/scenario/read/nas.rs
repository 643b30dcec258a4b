//! Reading a `[task]` of kind `nas`: the search's settings with their
//! defaults, and its tables `[task.network]` (the seed network),
//! `[task.data]` (the data set), `[task.training]` and `[task.scoring]`
//! (the partition method each candidate is placed by, checked against the
//! registry). What needs more than the file to check (the network file's
//! contents, the data set's files, the frozen blocks' names) is checked
//! when the run is prepared, before anything runs.

use std::path::{Path, PathBuf};

use sim::config::{TableReader, ValueReader};
use sim::graph::DType;

use agent::partition::registry;
use nas::cost::Objective;
use nas::mutate::Guidance;

use super::task::read_options_of;
use crate::scenario::schema::{
    FASHION_TEST, FASHION_TRAIN, MAX_BUDGET, MAX_EPOCHS, MAX_GENERATION_SIZE, MAX_INFERENCE_BATCH,
    MAX_POPULATION, MAX_SEED_BLOCKS, MAX_SEED_WIDTH, MAX_SYNTH_STEPS, MAX_TRAIN_BATCH, MAX_TRIALS,
};
use crate::scenario::{DataChoice, NasTask, Scoring, SeedNetwork, clean};

/// Defaults of the keys a nas task may leave out.
const DEFAULT_POPULATION: u64 = 16;
const DEFAULT_WIDTH: u64 = 16;
const DEFAULT_BLOCKS: u64 = 1;
const DEFAULT_METHOD: &str = "dp";
const DEFAULT_SCORING_BUDGET: u64 = 200;

/// A nas task.
pub(super) fn read_nas(t: &TableReader<'_>, dir: &Path) -> Option<NasTask> {
    let int = |key: &'static str, min: u64, max: u64, default: u64| match t.opt(key) {
        Some(r) => r.int_in(min, max),
        None => Some(default),
    };
    let trials = t.req_positive_int("trials", MAX_TRIALS);
    let population = int("population", 1, MAX_POPULATION, DEFAULT_POPULATION);
    let generation_size = int("generation_size", 1, MAX_GENERATION_SIZE, 1);
    let names: Vec<&str> = Objective::ALL.iter().map(|o| o.name()).collect();
    let objective = t
        .req_word("objective", &names)
        .and_then(|w| Objective::from_name(&w));
    let guidance = match t.opt("guidance") {
        Some(r) => r.word(&["guided", "unguided"]).map(|w| match w {
            "unguided" => Guidance::Unguided,
            _ => Guidance::Guided,
        }),
        None => Some(Guidance::Guided),
    };
    let frozen_blocks = match t.opt("frozen_blocks") {
        Some(r) => read_strings(&r).map(Some),
        None => Some(None),
    };
    let synth_default = nas::synth::SynthConfig::default().max_steps;
    let synth_max_steps = int("synth_max_steps", 1, MAX_SYNTH_STEPS, synth_default);
    let network = t.req_table("network").and_then(|n| read_network(&n, dir));
    let data = t.req_table("data").and_then(|d| read_data(&d, dir));
    let training = optional_table(t, "training", read_training);
    let scoring = optional_table(t, "scoring", |s| read_scoring(s, dir));
    let (epochs, batch_size, learning_rate) = training?;
    Some(NasTask {
        trials: trials?,
        population: population?,
        generation_size: generation_size?,
        objective: objective?,
        guidance: guidance?,
        frozen_blocks: frozen_blocks?,
        synth_max_steps: synth_max_steps?,
        network: network?,
        data: data?,
        epochs,
        batch_size,
        learning_rate,
        scoring: scoring?,
        pos: t.pos(),
        objective_pos: t.pos_of("objective"),
        network_pos: t.pos_of("network"),
        data_pos: t.pos_of("data"),
        frozen_pos: t.pos_of("frozen_blocks"),
    })
}

/// An optional sub-table read by `read`, which is given an empty reader
/// when the table is absent (so its defaults apply).
fn optional_table<T>(
    t: &TableReader<'_>,
    key: &'static str,
    read: impl Fn(&TableReader<'_>) -> Option<T>,
) -> Option<T> {
    if !t.has(key) {
        let empty = sim::config::Node {
            val: sim::config::Val::Table(Vec::new()),
            pos: t.pos(),
        };
        let reader = TableReader::new(&empty, t.field(key), t.sink());
        return read(&reader);
    }
    // A value that is not a table is reported by `opt_table`.
    read(&t.opt_table(key)?)
}

/// A non-empty array of distinct non-blank strings.
fn read_strings(r: &ValueReader<'_>) -> Option<Vec<String>> {
    let items = r.array()?;
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for (path, node) in items {
        let v = ValueReader {
            node,
            path,
            sink: r.sink,
        };
        match v.text() {
            Some(s) if out.iter().any(|x| x == s) => {
                v.error(format!("{s:?} is listed twice"));
                ok = false;
            }
            Some(s) => out.push(s.to_string()),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `[task.network]`: a seed by `name` (with `width` and `blocks`) or a
/// network `file`.
fn read_network(n: &TableReader<'_>, dir: &Path) -> Option<SeedNetwork> {
    let known: Vec<&str> = nas::seeds::SEEDS.iter().map(|(name, _)| *name).collect();
    let name = n.opt("name").and_then(|r| {
        let w = r.text()?;
        if known.contains(&w) {
            Some(w.to_string())
        } else {
            r.error(format!(
                "unknown seed network {w:?}; known seeds: {} (or give `file`, a network as JSON)",
                known.join(", ")
            ));
            None
        }
    });
    let file = n.opt("file").and_then(|r| {
        let path = clean(&dir.join(r.text()?));
        if path.is_file() {
            Some(path)
        } else {
            r.error(format!("network file {} does not exist", path.display()));
            None
        }
    });
    let width = n.opt("width").map(|r| r.int_in(1, MAX_SEED_WIDTH));
    let blocks = n.opt("blocks").map(|r| r.int_in(1, MAX_SEED_BLOCKS));
    let out = match (n.has("name"), n.has("file")) {
        (true, false) => {
            if name.as_deref() == Some("cifarnet") && blocks.is_some() {
                n.error_at("blocks", "only the `resnet` seed has residual blocks");
                None
            } else {
                Some(SeedNetwork::Named {
                    name: name?,
                    width: width.unwrap_or(Some(DEFAULT_WIDTH))?,
                    blocks: blocks.unwrap_or(Some(DEFAULT_BLOCKS))?,
                })
            }
        }
        (false, true) => {
            for key in ["width", "blocks"] {
                if n.has(key) {
                    n.error_at(key, "a network file has its own sizes; remove this key");
                }
            }
            (width.is_none() && blocks.is_none())
                .then_some(())
                .and(file.map(SeedNetwork::File))
        }
        (true, true) => {
            n.error_at("file", "give either `name` or `file`, not both");
            None
        }
        (false, false) => {
            n.missing("name");
            None
        }
    };
    n.finish();
    out
}

/// `[task.data]`: the data set, and for Fashion-MNIST its directory and
/// limits.
fn read_data(d: &TableReader<'_>, dir: &Path) -> Option<DataChoice> {
    let set = d.req_word("set", &["digits", "fashion_mnist"]);
    let fashion = set.as_deref() == Some("fashion_mnist");
    let out = if fashion {
        let data_dir = match d.opt("dir") {
            Some(r) => r.text().map(|s| clean(&dir.join(s))),
            None => Some(PathBuf::from(nas::data::FASHION_MNIST_DIR)),
        };
        let train_limit = d.opt("train_limit").map(|r| r.int_in(1, FASHION_TRAIN));
        let test_limit = d.opt("test_limit").map(|r| r.int_in(1, FASHION_TEST));
        Some(DataChoice::FashionMnist {
            dir: data_dir?,
            train_limit: train_limit.map_or(Some(None), |v| v.map(Some))?,
            test_limit: test_limit.map_or(Some(None), |v| v.map(Some))?,
        })
    } else {
        for key in ["dir", "train_limit", "test_limit"] {
            if d.has(key) && set.is_some() {
                d.error_at(
                    key,
                    "only `fashion_mnist` is read from a directory and limited; the digits are shipped whole",
                );
            }
        }
        set.map(|_| DataChoice::Digits)
    };
    d.finish();
    out
}

/// `[task.training]`: epochs, batch size and learning rate, defaults from
/// `nas::train::TrainConfig`.
fn read_training(t: &TableReader<'_>) -> Option<(u64, u64, f64)> {
    let d = nas::train::TrainConfig::default();
    let epochs = match t.opt("epochs") {
        Some(r) => r.int_in(1, MAX_EPOCHS),
        None => Some(u64::from(d.epochs)),
    };
    let batch_size = match t.opt("batch_size") {
        Some(r) => r.int_in(1, MAX_TRAIN_BATCH),
        None => Some(d.batch_size as u64),
    };
    // The default as written (0.001, not the f32's 0.0010000000474…).
    let learning_rate = match t.opt("learning_rate") {
        Some(r) => r.number(0.0, true, 1.0),
        None => d.learning_rate.to_string().parse().ok(),
    };
    t.finish();
    Some((epochs?, batch_size?, learning_rate?))
}

/// `[task.scoring]`: the partition method (a registry name), its options
/// (`[task.scoring.options]`), its budget per candidate, and the batch and
/// element type candidates are lowered with.
fn read_scoring(s: &TableReader<'_>, dir: &Path) -> Option<Scoring> {
    let method = match s.opt("method") {
        Some(r) => r.word(&registry::names()).map(str::to_string),
        None => Some(DEFAULT_METHOD.to_string()),
    };
    let info = method
        .as_deref()
        .and_then(|m| registry::METHODS.iter().find(|i| i.name == m));
    let options = match (s.has("options"), info) {
        (false, _) => Some(Vec::new()),
        (true, Some(info)) => s
            .opt_table("options")
            .and_then(|o| read_options_of(info, &o, dir)),
        // The method was refused (reported); its options cannot be checked.
        (true, None) => None,
    };
    let budget = match s.opt("budget") {
        Some(r) => r.int_in(1, MAX_BUDGET),
        None => Some(DEFAULT_SCORING_BUDGET),
    };
    let batch = match s.opt("batch") {
        Some(r) => r.int_in(1, MAX_INFERENCE_BATCH),
        None => Some(1),
    };
    let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
    let dtype = match s.opt("dtype") {
        Some(r) => r.word(&names).and_then(DType::from_name),
        None => Some(DType::Int8),
    };
    s.finish();
    Some(Scoring {
        method: method?,
        options: options?,
        budget: budget?,
        batch: batch?,
        dtype: dtype?,
    })
}
