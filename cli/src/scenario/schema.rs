//! The scenario schema: every key a scenario may have, with its type, unit
//! and meaning (documented in `docs/scenarios.md`, which a test keeps equal
//! to [`SCHEMA`]), the task kinds this build runs, and the limits on the
//! numbers a scenario may ask for.

/// One documented key of the scenario schema: (table, key, type and unit, meaning).
pub type SchemaKey = (&'static str, &'static str, &'static str, &'static str);

/// Every key a scenario may have. `docs/scenarios.md` documents each one.
pub const SCHEMA: &[SchemaKey] = &[
    (
        "",
        "name",
        "string",
        "scenario name used in reports (default: the file name without extension)",
    ),
    (
        "",
        "seed",
        "integer 0 to 2^63 − 1",
        "seed of every random choice (required; `--seed` replaces it)",
    ),
    (
        "hardware",
        "spec",
        "path",
        "hardware spec file, relative to the scenario (or `inline`)",
    ),
    (
        "hardware",
        "inline",
        "table",
        "a complete hardware spec written in the scenario (as `scenario.resolved.toml` does)",
    ),
    (
        "hardware",
        "overrides",
        "table",
        "spec field path (as in spec error messages, e.g. `\"topology[0].bandwidth_bytes_per_cycle\"`) → new value; the field must exist and keep its type, and the spec is validated again",
    ),
    (
        "workload",
        "model",
        "string",
        "zoo model name (see `tessera models`)",
    ),
    (
        "workload",
        "params",
        "table",
        "zoo model parameters, key → value; for `onnx`: each symbolic dim's value (positive integer), `dtype` (int8, fp16, bf16 or fp32; default the model's float type) `keep_free_ops` (boolean, default false) and `fuse` (boolean, default true)",
    ),
    (
        "workload",
        "graph",
        "path",
        "tessera graph JSON file, relative to the scenario (instead of `model`)",
    ),
    (
        "workload",
        "onnx",
        "path",
        "ONNX model file, relative to the scenario, imported with `params` (instead of `model` or `graph`)",
    ),
    (
        "task",
        "kind",
        "string",
        "what to run: `simulate`, `traffic`, `sweep`, `partition`, `train` or `nas` (`TASK_KINDS`)",
    ),
    (
        "task",
        "placement",
        "string",
        "simulate: `contiguous` (default), `single`, or a placement JSON file relative to the scenario",
    ),
    (
        "task",
        "pattern",
        "string",
        "traffic: `uniform`, `transpose` or `hotspot`",
    ),
    (
        "task",
        "rate",
        "number in (0, 1]",
        "traffic: packets injected per chiplet per cycle",
    ),
    (
        "task",
        "packet_bytes",
        "integer 1 to 2^30, bytes",
        "traffic: packet size",
    ),
    (
        "task",
        "warmup_cycles",
        "integer 0 to 2^32, cycles",
        "traffic: cycles before measuring",
    ),
    (
        "task",
        "measure_cycles",
        "integer 1 to 2^32, cycles",
        "traffic: cycles during which injected packets are measured",
    ),
    (
        "task",
        "hotspot_chiplet",
        "integer ≥ 0",
        "traffic, hotspot pattern only: the hot chiplet's id",
    ),
    (
        "task",
        "hotspot_fraction",
        "number in [0, 1]",
        "traffic, hotspot pattern only: share of packets sent to it",
    ),
    (
        "task",
        "method",
        "string",
        "partition: one method of the registry (`tessera methods`)",
    ),
    (
        "task",
        "methods",
        "array of strings",
        "partition: several methods, each run with the same budget (instead of `method`)",
    ),
    (
        "task",
        "budget",
        "integer ≥ 1",
        "partition: simulator calls allowed per method",
    ),
    (
        "task",
        "constraints",
        "table",
        "partition: constraint modes replacing the spec's (keys as in the spec's [constraints])",
    ),
    (
        "task",
        "options",
        "table",
        "partition: per-method options, one table per method (`[task.options.sa]`), keys as in docs/partition_methods.md",
    ),
    (
        "task.constraints",
        "acyclic_dataflow",
        "boolean",
        "partition: p(u) ≤ p(v) for every edge",
    ),
    (
        "task.constraints",
        "no_skipping",
        "string",
        "partition: `off`, `edge` or `prefix`",
    ),
    (
        "task.constraints",
        "no_triangle",
        "boolean",
        "partition: no chip triangle i→j, j→k, i→k",
    ),
    (
        "task.constraints",
        "sram_capacity",
        "boolean",
        "partition: weights plus live activations fit each chiplet's SRAM",
    ),
    (
        "task",
        "batches",
        "integer 1 to 1,000,000",
        "train: PPO batches in all, a resumed checkpoint's included",
    ),
    (
        "task",
        "episodes_per_batch",
        "integer 2 to 4096",
        "train: episodes (each one simulator call) per PPO batch",
    ),
    (
        "task",
        "learning_rate",
        "number in (0, 1]",
        "train: Adam's step size",
    ),
    (
        "task",
        "entropy_coef",
        "number in [0, 1]",
        "train: weight of PPO's entropy bonus",
    ),
    (
        "task",
        "checkpoint_every",
        "integer ≥ 1",
        "train: batches between the checkpoints written while the run goes",
    ),
    (
        "task",
        "random_problems",
        "integer 0 to 10,000",
        "train: random (graph, package) problems added after the corpus's own",
    ),
    (
        "task",
        "samples",
        "integer 1 to 4096",
        "train: zero-shot samples per holdout problem",
    ),
    (
        "task",
        "corpus",
        "array of tables",
        "train: `[[task.corpus]]`, the problems to train on",
    ),
    (
        "task",
        "holdout",
        "array of tables",
        "train: `[[task.holdout]]`, problems never trained on, sampled zero-shot at the end",
    ),
    (
        "task.corpus",
        "spec",
        "path",
        "hardware spec file, relative to the scenario",
    ),
    (
        "task.corpus",
        "model",
        "string",
        "zoo model name, as in [workload]",
    ),
    (
        "task.corpus",
        "params",
        "table",
        "model parameters, as in [workload]",
    ),
    (
        "task.corpus",
        "graph",
        "path",
        "graph JSON file, as in [workload]",
    ),
    ("task.corpus", "onnx", "path", "ONNX file, as in [workload]"),
    (
        "task.holdout",
        "spec",
        "path",
        "hardware spec file, relative to the scenario",
    ),
    (
        "task.holdout",
        "model",
        "string",
        "zoo model name, as in [workload]",
    ),
    (
        "task.holdout",
        "params",
        "table",
        "model parameters, as in [workload]",
    ),
    (
        "task.holdout",
        "graph",
        "path",
        "graph JSON file, as in [workload]",
    ),
    (
        "task.holdout",
        "onnx",
        "path",
        "ONNX file, as in [workload]",
    ),
    (
        "task",
        "trials",
        "integer 1 to 100,000",
        "nas: trials in all, the seed network's (trial 0) and a resumed checkpoint's included",
    ),
    (
        "task",
        "population",
        "integer 1 to 10,000",
        "nas: networks kept between trials besides the Pareto front and the seed",
    ),
    (
        "task",
        "generation_size",
        "integer 1 to 1,024",
        "nas: trials whose parents and mutations are fixed before any of them is trained, evaluated together (in parallel on `--threads`); 1 is one trial at a time",
    ),
    (
        "task",
        "objective",
        "string",
        "nas: the cost minimised beside accuracy: `params`, `macs`, `latency`, `throughput` or `energy` (the last three need [hardware])",
    ),
    (
        "task",
        "guidance",
        "string",
        "nas: `guided` (property-guided rewrites, αNAS) or `unguided` (random rewrites of similar size)",
    ),
    (
        "task",
        "frozen_blocks",
        "array of strings",
        "nas: blocks of the seed network never mutated (default: its classifier head)",
    ),
    (
        "task",
        "synth_max_steps",
        "integer 1 to 10,000,000",
        "nas: candidate ops one synthesis call scores before it gives up",
    ),
    (
        "task",
        "network",
        "table",
        "nas: `[task.network]`, the seed network",
    ),
    (
        "task",
        "data",
        "table",
        "nas: `[task.data]`, the data set candidates are trained on",
    ),
    (
        "task",
        "training",
        "table",
        "nas: `[task.training]`, how each candidate is trained",
    ),
    (
        "task",
        "scoring",
        "table",
        "nas: `[task.scoring]`, how each candidate is partitioned and simulated on [hardware]",
    ),
    (
        "task.network",
        "name",
        "string",
        "a seed network by name: `cifarnet` or `resnet`",
    ),
    (
        "task.network",
        "file",
        "path",
        "a network in the architecture IR as JSON, relative to the scenario (instead of `name`)",
    ),
    (
        "task.network",
        "width",
        "integer 1 to 1024",
        "channels of the named seed's first convolution",
    ),
    (
        "task.network",
        "blocks",
        "integer 1 to 16",
        "`resnet`: residual blocks per stage",
    ),
    (
        "task.data",
        "set",
        "string",
        "`digits` (scikit-learn's 8×8 digits, shipped) or `fashion_mnist`",
    ),
    (
        "task.data",
        "dir",
        "path",
        "`fashion_mnist`: the directory of its IDX files",
    ),
    (
        "task.data",
        "train_limit",
        "integer 1 to 60,000",
        "`fashion_mnist`: the first N training images only",
    ),
    (
        "task.data",
        "test_limit",
        "integer 1 to 10,000",
        "`fashion_mnist`: the first N test images only",
    ),
    (
        "task.training",
        "epochs",
        "integer 1 to 1000",
        "passes over the training split per candidate",
    ),
    (
        "task.training",
        "batch_size",
        "integer 1 to 4096",
        "samples per gradient step",
    ),
    (
        "task.training",
        "learning_rate",
        "number in (0, 1]",
        "Adam's step size",
    ),
    (
        "task.scoring",
        "method",
        "string",
        "the partition method of the registry that places each candidate (`dp`, `exact`, `rl`, …)",
    ),
    (
        "task.scoring",
        "budget",
        "integer ≥ 1",
        "simulator calls the method may make per candidate",
    ),
    (
        "task.scoring",
        "options",
        "table",
        "the method's options, keys as in docs/partition_methods.md",
    ),
    (
        "task.scoring",
        "batch",
        "integer 1 to 65,536",
        "samples per inference each candidate is lowered with",
    ),
    (
        "task.scoring",
        "dtype",
        "string",
        "element type of every tensor and weight: `int8`, `fp16`, `bf16` or `fp32`",
    ),
    (
        "task",
        "metric",
        "string",
        "sweep: a numeric result of the `each` task (a column of sweep.csv), plotted against the first axis",
    ),
    (
        "task",
        "each",
        "table",
        "sweep: the task run at each grid point (a `[task]` table of kind simulate or traffic)",
    ),
    (
        "task",
        "axes",
        "array of tables",
        "sweep: the grid, first axis varying slowest",
    ),
    (
        "task.axes",
        "name",
        "string",
        "axis name (a column of sweep.csv)",
    ),
    (
        "task.axes",
        "target",
        "string",
        "what the axis sets: `hardware` (a spec field), `hardware_spec` (the spec file), `workload` (a model parameter), `simulation` (an option) or `task` (a key of `each`)",
    ),
    (
        "task.axes",
        "field",
        "string",
        "the field the axis sets (not for `hardware_spec`)",
    ),
    ("task.axes", "values", "array", "the values, in order"),
    (
        "simulation",
        "microbatches",
        "integer 1 to 4096",
        "micro-batches pushed through the pipeline (required for simulate; traffic does not use it)",
    ),
    (
        "simulation",
        "packet_bytes",
        "integer 1 to 2^30, bytes",
        "largest packet a tensor is split into (required for simulate; traffic uses the task's own)",
    ),
    (
        "simulation",
        "steady_state",
        "string",
        "`converge` (default): simulate `microbatches`, then twice as many, until the steady-state interval converges within 1 % (up to 1,024 micro-batches); `fixed`: exactly `microbatches` (the report says whether that converged)",
    ),
    (
        "simulation",
        "switching",
        "string",
        "`store_and_forward` (default) or `cut_through`; simulate and traffic",
    ),
    (
        "simulation",
        "trace",
        "boolean",
        "simulate: write trace.json, a Perfetto-loadable timeline (default false; not in sweeps)",
    ),
    (
        "output",
        "dir",
        "path",
        "output directory, relative to the scenario (default: out/NAME in the working directory)",
    ),
    (
        "output",
        "plots",
        "string",
        "`svg` (default), `png` or `none`",
    ),
];

/// Task kinds this build runs. A kind that arrives with later work
/// (`finetune`) is refused with a message that says so.
pub const TASK_KINDS: &[&str] = &["simulate", "traffic", "sweep", "partition", "train", "nas"];

/// Most simulator calls one method may be given.
pub(super) const MAX_BUDGET: u64 = 10_000_000;

/// Limits of a train task: PPO batches in all, episodes per batch (at
/// least two: advantages are normalised over the batch), random problems
/// and holdout samples. Each keeps a run's counts and its memory (one
/// environment per problem) within what a workstation holds.
pub(super) const MAX_BATCHES: u64 = 1_000_000;
pub(super) const MAX_EPISODES_PER_BATCH: u64 = 4096;
pub(super) const MAX_RANDOM_PROBLEMS: u64 = 10_000;
pub(super) const MAX_SAMPLES: u64 = 4096;

/// Limits of a nas task. Every trial trains a network, so a hundred
/// thousand trials is already weeks of CPU; the population, widths and
/// batch sizes are bounded so that memory stays within a workstation's.
pub(super) const MAX_TRIALS: u64 = 100_000;
pub(super) const MAX_POPULATION: u64 = 10_000;
/// A generation's children are held in memory together and evaluated at
/// once; more than a thousand would outnumber any pool of workers.
pub(super) const MAX_GENERATION_SIZE: u64 = 1024;
pub(super) const MAX_SYNTH_STEPS: u64 = 10_000_000;
pub(super) const MAX_SEED_WIDTH: u64 = 1024;
pub(super) const MAX_SEED_BLOCKS: u64 = 16;
pub(super) const MAX_EPOCHS: u64 = 1000;
pub(super) const MAX_TRAIN_BATCH: u64 = 4096;
pub(super) const MAX_INFERENCE_BATCH: u64 = 65_536;
/// The official Fashion-MNIST splits' sizes.
pub(super) const FASHION_TRAIN: u64 = 60_000;
pub(super) const FASHION_TEST: u64 = 10_000;

/// Limits on numbers a scenario may ask for. The simulator's own limits
/// (`sim::MAX_MICROBATCHES`, `sim::MAX_PACKET_BYTES`, which every command
/// meets in `Simulator::new`) are checked here too, so that a scenario's
/// refusal names its file, line and field.
pub(super) const MAX_MICROBATCHES: u64 = sim::MAX_MICROBATCHES as u64;
pub(super) const MAX_PACKET_BYTES: u64 = sim::MAX_PACKET_BYTES;
pub(super) const MAX_CYCLES: u64 = 1 << 32;
pub(super) const MAX_SWEEP_POINTS: usize = 10_000;
