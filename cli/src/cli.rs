//! Command-line interface: argument parsing (clap) and dispatch. A user's
//! mistake becomes one clear message on stderr and exit code 2, never a panic.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::UserError;
use crate::inspect;

/// Exit code for a user's mistake (bad file, bad argument).
pub const EXIT_USER_ERROR: i32 = 2;

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells use.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Parser, Debug)]
#[command(
    name = "tessera",
    version,
    about = "Map ML models onto multi-chip-module (chiplet) accelerators",
    long_about = "tessera simulates chiplet packages, partitions ML models across their chips \
                  (search methods, and a learned partitioner trained with `tessera train`) and \
                  searches network architectures for them (`tessera run` on a scenario of kind \
                  \"nas\"). Hardware lives in hw_specs/*.toml (`--hw simba_6x6` names a shipped \
                  spec), models come from the built-in zoo, graph JSON files or ONNX files \
                  (`--model model.onnx -p batch=1`)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario file: the single front door to every task (simulate,
    /// traffic, sweep, partition, train, nas). Writes report.json,
    /// scenario.resolved.toml, summary.txt and the task's files (e.g.
    /// placement.json, trace.json, plots, sweep.csv, checkpoint.json,
    /// trials.csv) into the output directory, which it replaces as a whole.
    Run {
        /// The scenario file (see docs/scenarios.md).
        scenario: PathBuf,
        /// Output directory (default: the scenario's [output] dir, else out/NAME).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the scenario's seed (0 to 2^63 − 1).
        #[arg(long, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
        seed: Option<u64>,
        /// Print nothing on success (no progress bars, no summary, no list of
        /// written files; summary.txt is still written). Errors and warnings
        /// still go to stderr; with --json the report is still printed.
        #[arg(long)]
        quiet: bool,
        /// Print report.json instead of the summary.
        #[arg(long)]
        json: bool,
        /// Worker threads for sweeps and for a nas generation's trainings,
        /// 1 or more (default: the environment variable TESSERA_THREADS,
        /// else one per core).
        #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        threads: Option<usize>,
        /// Cap every search budget (simulator calls, PPO episodes, nas
        /// trials) at N, 1 or more, for quick runs (default: the environment
        /// variable TESSERA_MAX_BUDGET, else no cap).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_budget: Option<u64>,
        /// Replace the output directory even if it holds files an earlier run
        /// did not write (it is always replaced as a whole; one that holds
        /// the run's own inputs is refused even so).
        #[arg(long)]
        force: bool,
        /// Testing aid: behave as if Ctrl-C arrived after N sweep points.
        #[arg(long, hide = true, value_name = "N")]
        interrupt_after_points: Option<usize>,
        /// Testing aid: behave as if Ctrl-C arrived after N simulator calls of
        /// a partition method.
        #[arg(long, hide = true, value_name = "N")]
        interrupt_after_evaluations: Option<u64>,
        /// A train or nas task: continue from this checkpoint (a
        /// checkpoint.json of a run of the same scenario and seed).
        #[arg(long, value_name = "CHECKPOINT")]
        resume: Option<PathBuf>,
        /// Testing aid: behave as if Ctrl-C arrived after N PPO batches of a
        /// train task.
        #[arg(long, hide = true, value_name = "N")]
        interrupt_after_batches: Option<u64>,
        /// Testing aid: behave as if Ctrl-C arrived after N trials of a nas
        /// task.
        #[arg(long, hide = true, value_name = "N")]
        interrupt_after_trials: Option<u64>,
    },
    /// Pre-train the learned partitioner: run a scenario of kind "train"
    /// (as `tessera run` does), writing checkpoint.json, learning_curve.csv,
    /// its plot, report.json, scenario.resolved.toml and summary.txt. Ctrl-C stops after the batch
    /// under way and writes a checkpoint to continue from with --resume.
    Train {
        /// The scenario file, of kind "train" (see docs/scenarios.md).
        scenario: PathBuf,
        /// Continue from this checkpoint (a checkpoint.json of a run of the
        /// same scenario and seed); it must be of the same setup.
        #[arg(long, value_name = "CHECKPOINT")]
        resume: Option<PathBuf>,
        /// Output directory (default: the scenario's [output] dir, else out/NAME).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the scenario's seed (0 to 2^63 − 1).
        #[arg(long, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
        seed: Option<u64>,
        /// Print nothing on success (no progress bar, no summary, no list of
        /// written files); errors and warnings still go to stderr.
        #[arg(long)]
        quiet: bool,
        /// Replace the output directory even if it holds files an earlier run
        /// did not write (it is always replaced as a whole; one that holds
        /// the run's own inputs is refused even so).
        #[arg(long)]
        force: bool,
        /// Testing aid: behave as if Ctrl-C arrived after N PPO batches.
        #[arg(long, hide = true, value_name = "N")]
        interrupt_after_batches: Option<u64>,
        /// Testing aid: stop after N PPO batches as if the process died
        /// (nothing written but the periodic checkpoints).
        #[arg(long, hide = true, value_name = "N")]
        crash_after_batches: Option<u64>,
    },
    /// Search for the best valid partition of a model on a package (the same
    /// as a scenario with `kind = "partition"`; outputs go to --out).
    Partition {
        /// Hardware spec: a file, or the name of a spec `tessera specs`
        /// lists (e.g. simba_6x6).
        #[arg(long, value_name = "SPEC")]
        hw: PathBuf,
        /// A zoo model name, a graph JSON file, or an ONNX file (`*.onnx`,
        /// imported with --params).
        #[arg(long)]
        model: String,
        /// Model parameters as key=value: a zoo model's (see `tessera
        /// models`; a list in brackets, e.g. sizes=[784,512,10]), or for an
        /// ONNX file each symbolic dim (e.g. batch=1 sequence=128),
        /// dtype=int8|fp16|bf16|fp32, keep_free_ops=true|false and fuse=true|false.
        #[arg(long, short, num_args = 1.., value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Override a hardware spec field for this run, as a scenario's
        /// [hardware.overrides] do: FIELD is a dotted spec field path, VALUE a
        /// TOML value (e.g. --set chiplet_types.simba.sram_kib=4096, --set
        /// 'routing.kind="xy"'). Repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Methods to run, comma-separated: random, sa, greedy, balance, dp,
        /// exact, rl (see `tessera methods`).
        #[arg(long, default_value = "sa")]
        method: String,
        /// Simulator calls allowed per method.
        #[arg(long, default_value_t = 1000)]
        budget: u64,
        /// Seed of every random choice (0 to 2^63 − 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
        seed: u64,
        /// Micro-batches per evaluation.
        #[arg(long, default_value_t = 8)]
        microbatches: u32,
        /// Output directory.
        #[arg(long, default_value = "out/partition")]
        out: PathBuf,
        /// Replace the output directory even if it holds files an earlier run
        /// did not write (it is always replaced as a whole; one that holds
        /// the run's own inputs is refused even so).
        #[arg(long)]
        force: bool,
        /// Print nothing on success (no progress bars, no summary, no list of
        /// written files); errors and warnings still go to stderr; with
        /// --json the report is still printed.
        #[arg(long)]
        quiet: bool,
        /// Print report.json instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Validate hardware specs (.toml), scenarios, graph files (.json) and ONNX
    /// models (.onnx) by content; every problem is listed with file, line,
    /// column and field.
    Check {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the hardware specs in a directory with a one-line summary each;
    /// other TOML files there (scenarios, a run's scenario.resolved.toml) are
    /// skipped with a note. A spec's file stem names it for --hw.
    Specs {
        /// Directory of specs (default: ./hw_specs, else the one shipped with tessera).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// List the model zoo and each model's parameters.
    Models,
    /// List the partition methods and each method's options (set them in a
    /// scenario's `[task.options.METHOD]`).
    Methods,
    /// Simulate one placement of a model on a package and print the report.
    Simulate {
        /// Hardware spec: a file, or the name of a spec `tessera specs`
        /// lists (e.g. simba_6x6).
        #[arg(long, value_name = "SPEC")]
        hw: PathBuf,
        /// A zoo model name, a graph JSON file, or an ONNX file (`*.onnx`,
        /// imported with --params).
        #[arg(long)]
        model: String,
        /// Model parameters as key=value: a zoo model's (see `tessera
        /// models`; a list in brackets, e.g. sizes=[784,512,10]), or for an
        /// ONNX file each symbolic dim (e.g. batch=1 sequence=128),
        /// dtype=int8|fp16|bf16|fp32, keep_free_ops=true|false and fuse=true|false.
        #[arg(long, short, num_args = 1.., value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Override a hardware spec field for this run, as a scenario's
        /// [hardware.overrides] do: FIELD is a dotted spec field path, VALUE a
        /// TOML value (e.g. --set chiplet_types.simba.sram_kib=4096, --set
        /// 'routing.kind="xy"'). Repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// `contiguous` (balanced segments in pipeline order), `single` (all on
        /// the first chiplet), or a placement JSON file.
        #[arg(long, default_value = "contiguous")]
        placement: String,
        /// Micro-batches simulated first; doubled until the steady-state
        /// interval converges within 1 % (up to 1,024), unless
        /// --fixed-microbatches.
        #[arg(long, default_value_t = 8)]
        microbatches: u32,
        /// Simulate exactly --microbatches micro-batches (to see a transient);
        /// the report says whether the interval converged.
        #[arg(long)]
        fixed_microbatches: bool,
        /// Largest packet a tensor is split into, in bytes.
        #[arg(long, default_value_t = 4096)]
        packet_bytes: u64,
        /// Cut-through switching instead of store-and-forward.
        #[arg(long)]
        cut_through: bool,
        /// Write a Chrome trace-event JSON timeline (opens in Perfetto).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Print the JSON report instead of the summary.
        #[arg(long)]
        json: bool,
        /// Also write the run's files to this folder, as `tessera run` writes
        /// a simulate scenario's: report.json, ops.csv, chiplets.csv,
        /// links.csv, placement.json, summary.txt and plots.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace the --out folder even if it holds files an earlier run did
        /// not write (it is always replaced as a whole).
        #[arg(long)]
        force: bool,
    },
    /// Drive the package's interconnect with synthetic traffic (uniform,
    /// transpose, hotspot) and report throughput and latency.
    Traffic {
        /// Hardware spec: a file, or the name of a spec `tessera specs`
        /// lists (e.g. simba_6x6).
        #[arg(long, value_name = "SPEC")]
        hw: PathBuf,
        /// Where packets go.
        #[arg(long, value_enum)]
        pattern: crate::traffic::PatternArg,
        /// The hotspot chiplet (with --pattern hotspot).
        #[arg(long, value_name = "N")]
        hotspot_chiplet: Option<u32>,
        /// Share of packets sent to the hotspot, 0..1 (with --pattern hotspot).
        #[arg(long, value_name = "F")]
        hotspot_fraction: Option<f64>,
        /// Packets injected per chiplet per cycle, in (0, 1].
        #[arg(long, value_name = "R", allow_negative_numbers = true)]
        rate: f64,
        /// Size of every packet in bytes.
        #[arg(long, value_name = "B", default_value_t = sim::traffic::TrafficOptions::default().packet_bytes)]
        packet_bytes: u64,
        /// Warm-up cycles before the measurement window.
        #[arg(long, value_name = "C", default_value_t = sim::traffic::TrafficOptions::default().warmup_cycles)]
        warmup: u64,
        /// Cycles of the measurement window.
        #[arg(long, value_name = "C", default_value_t = sim::traffic::TrafficOptions::default().measure_cycles)]
        cycles: u64,
        /// Longest drain after the window before the run gives up.
        #[arg(long, value_name = "C", default_value_t = sim::traffic::TrafficOptions::default().drain_cycles_max)]
        drain_max: u64,
        /// Seed of the traffic's random generator.
        #[arg(long, value_name = "S", default_value_t = sim::traffic::TrafficOptions::default().seed)]
        seed: u64,
        /// Cut-through switching instead of store-and-forward.
        #[arg(long)]
        cut_through: bool,
        /// Uniform traffic also sends to the source itself, as BookSim's
        /// uniform pattern does (default: only to other chiplets).
        #[arg(long)]
        include_source: bool,
        /// Print the JSON report instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Inspect or export workload graphs.
    Graph {
        #[command(subcommand)]
        command: GraphCommand,
    },
}

#[derive(Subcommand, Debug)]
enum GraphCommand {
    /// Print a model's ops with shapes, MACs, parameters and weight bytes, and its totals.
    Show {
        /// A zoo model name (see `tessera models`), a graph JSON file, or an
        /// ONNX file (`*.onnx`, imported with --params).
        model: String,
        /// Model parameters as key=value (e.g. seq=256 batch=2 dtype=bf16; a
        /// list in brackets, e.g. sizes=[784,512,10]); for an ONNX file each
        /// symbolic dim (e.g. batch=1 sequence=128), dtype=int8|fp16|bf16|fp32,
        /// keep_free_ops=true|false and fuse=true|false.
        #[arg(long, short, num_args = 1.., value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Print only the totals, not every op.
        #[arg(long)]
        summary: bool,
    },
    /// Write a model as tessera graph JSON (to stdout, or to --out); an
    /// imported ONNX model written this way reads back as the same graph.
    Export {
        /// A zoo model name (see `tessera models`), a graph JSON file, or an
        /// ONNX file (`*.onnx`, imported with --params).
        model: String,
        /// Model parameters as key=value, as for `graph show`.
        #[arg(long, short, num_args = 1.., value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Output file (written atomically); stdout when absent.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// What one invocation printed and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the command line of this process and returns the exit code.
pub fn main() -> i32 {
    let o = run_args(std::env::args_os());
    print!("{}", o.stdout);
    eprint!("{}", o.stderr);
    o.code
}

/// Runs `tessera` with `args` (the first being the program name) in-process.
pub fn run_args<I, T>(args: I) -> Outcome
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with exit 0; usage errors to
            // stderr with exit 2.
            let text = e.render().to_string();
            let (stdout, stderr) = if e.use_stderr() {
                (String::new(), text)
            } else {
                (text, String::new())
            };
            return Outcome {
                code: e.exit_code(),
                stdout,
                stderr,
            };
        }
    };
    if let Command::Run {
        scenario,
        out,
        seed,
        quiet,
        json,
        threads,
        interrupt_after_points,
        interrupt_after_evaluations,
        max_budget,
        force,
        resume,
        interrupt_after_batches,
        interrupt_after_trials,
    } = cli.command
    {
        let args = crate::run::RunArgs {
            scenario,
            out,
            seed,
            quiet,
            json,
            threads,
            interrupt_after_points,
            interrupt_after_evaluations,
            max_budget,
            force,
            resume,
            interrupt_after_batches,
            crash_after_batches: None,
            train_only: false,
            interrupt_after_trials,
            embedded: false,
            point_outcomes: None,
            pool: None,
        };
        return run_outcome(crate::run::run(&args));
    }
    if let Command::Train {
        scenario,
        resume,
        out,
        seed,
        quiet,
        force,
        interrupt_after_batches,
        crash_after_batches,
    } = cli.command
    {
        let args = crate::run::RunArgs {
            scenario,
            out,
            seed,
            quiet,
            force,
            resume,
            interrupt_after_batches,
            crash_after_batches,
            train_only: true,
            ..Default::default()
        };
        return run_outcome(crate::run::run(&args));
    }
    if let Command::Partition {
        hw,
        model,
        params,
        set,
        method,
        budget,
        seed,
        microbatches,
        out,
        force,
        quiet,
        json,
    } = cli.command
    {
        let result = parse_params(&params).and_then(|params| {
            let overrides = crate::scenario::parse_sets(&set)?;
            let s = crate::scenario::from_flags(crate::scenario::PartitionFlags {
                hw: crate::load::hw_path(&hw)?,
                model,
                params,
                methods: method.split(',').map(|m| m.trim().to_string()).collect(),
                budget,
                seed,
                microbatches,
                overrides,
            })?;
            crate::run::run_scenario(
                s,
                &crate::run::RunArgs {
                    out: Some(out),
                    quiet,
                    json,
                    force,
                    ..Default::default()
                },
            )
        });
        return run_outcome(result);
    }
    if let Command::Simulate {
        hw,
        model,
        params,
        set,
        placement,
        microbatches,
        fixed_microbatches,
        packet_bytes,
        cut_through,
        trace,
        json,
        out,
        force,
    } = cli.command
    {
        let result = (|| {
            crate::simulate::simulate(&crate::simulate::SimulateArgs {
                hw: crate::load::hw_path(&hw)?,
                model,
                params: parse_params(&params)?,
                overrides: crate::scenario::parse_sets(&set)?,
                placement,
                microbatches,
                fixed_microbatches,
                packet_bytes,
                cut_through,
                trace,
                json,
                out,
                force,
            })
        })();
        return match result {
            Ok((stdout, warnings)) => Outcome {
                code: 0,
                stdout,
                stderr: warning_lines(&warnings),
            },
            Err(e) => Outcome {
                code: EXIT_USER_ERROR,
                stdout: e.partial_stdout,
                stderr: format!("error: {}\n", e.message),
            },
        };
    }
    match run(cli) {
        Ok(stdout) => Outcome {
            code: 0,
            stdout,
            stderr: String::new(),
        },
        Err(e) => Outcome {
            code: EXIT_USER_ERROR,
            stdout: e.partial_stdout,
            stderr: format!("error: {}\n", e.message),
        },
    }
}

/// The exit code and output of a scenario run (130 when interrupted).
fn run_outcome(result: Result<crate::run::RunOutcome, UserError>) -> Outcome {
    match result {
        Ok(o) => Outcome {
            code: if o.interrupted { EXIT_INTERRUPTED } else { 0 },
            stdout: o.stdout,
            stderr: warning_lines(&o.warnings),
        },
        Err(e) => Outcome {
            code: EXIT_USER_ERROR,
            stdout: e.partial_stdout,
            stderr: format!("error: {}\n", e.message),
        },
    }
}

/// Warnings as printed on stderr, one line each.
fn warning_lines(warnings: &[String]) -> String {
    warnings.iter().map(|w| format!("warning: {w}\n")).collect()
}

/// Parses `key=value` arguments into a map; repeated keys are an error.
/// Pairs are separated by commas or given as separate arguments; a list
/// value is written in brackets, `sizes=[784,512,10]`, and passed on as
/// `784,512,10` (the form the zoo reads). A list may span arguments, as the
/// shell splits `sizes=[784, 512, 10]`.
pub fn parse_params(items: &[String]) -> Result<BTreeMap<String, String>, UserError> {
    let mut out = BTreeMap::new();
    let mut last_key: Option<String> = None;
    for item in split_params(items)? {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((k, v)) = item.split_once('=') else {
            // `sizes=784,512,10` splits into `sizes=784`, `512`, `10`.
            let hint = last_key.as_deref().map_or_else(String::new, |k| {
                format!("; a list value is written in brackets: {k}=[...,{item},...]")
            });
            return Err(UserError::new(format!(
                "--params: {item:?} is not of the form key=value{hint}"
            )));
        };
        last_key = Some(k.trim().to_string());
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(UserError::new(format!(
                "--params: {item:?} needs both a key and a value"
            )));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(UserError::new(format!("--params: {k} is given twice")));
        }
    }
    Ok(out)
}

/// The `key=value` items of `-p` arguments: split at commas and between
/// arguments, except inside `[...]`, whose elements are trimmed and joined
/// with commas (`sizes=[784, 512,10]` → `sizes=784,512,10`).
fn split_params(items: &[String]) -> Result<Vec<String>, UserError> {
    let bad = |m: String| UserError::new(format!("--params: {m}"));
    let mut out = Vec::new();
    let mut current = String::new();
    // Inside brackets: the elements so far and the one being read.
    let mut list: Option<(Vec<String>, String)> = None;
    for item in items {
        for c in item.chars().chain(std::iter::once('\n')) {
            // '\n' stands for the boundary between two arguments.
            match (&mut list, c) {
                (None, '[') => list = Some((Vec::new(), String::new())),
                (None, ']') => {
                    return Err(bad(format!("{item:?} has a ']' without its '['")));
                }
                (None, ',' | '\n') => out.push(std::mem::take(&mut current)),
                (None, c) => current.push(c),
                (Some(_), '[') => {
                    return Err(bad(format!(
                        "{item:?}: a list holds numbers or words, not lists"
                    )));
                }
                (Some((elems, elem)), ',' | ']') => {
                    let e = elem.trim().to_string();
                    let closing = c == ']';
                    if e.is_empty() && !(closing && elems.is_empty()) {
                        return Err(bad(format!(
                            "{}[{}]: an empty list element",
                            current,
                            elems.join(",")
                        )));
                    }
                    if !e.is_empty() {
                        elems.push(e);
                    }
                    elem.clear();
                    if closing {
                        current.push_str(&elems.join(","));
                        list = None;
                    }
                }
                (Some((_, elem)), '\n') => elem.push(' '),
                (Some((_, elem)), c) => elem.push(c),
            }
        }
    }
    if list.is_some() {
        return Err(bad(format!("{current}[...: the list has no closing ']'")));
    }
    Ok(out)
}

fn run(cli: Cli) -> Result<String, UserError> {
    match cli.command {
        Command::Run { .. }
        | Command::Train { .. }
        | Command::Partition { .. }
        | Command::Simulate { .. } => {
            unreachable!("handled in run_args")
        }
        Command::Check { files } => inspect::check(&files),
        Command::Specs { dir } => inspect::specs(dir.as_deref()),
        Command::Models => Ok(inspect::models()),
        Command::Methods => Ok(inspect::methods()),
        Command::Traffic {
            hw,
            pattern,
            hotspot_chiplet,
            hotspot_fraction,
            rate,
            packet_bytes,
            warmup,
            cycles,
            drain_max,
            seed,
            cut_through,
            include_source,
            json,
        } => crate::traffic::traffic(&crate::traffic::TrafficArgs {
            hw: crate::load::hw_path(&hw)?,
            pattern,
            hotspot_chiplet,
            hotspot_fraction,
            rate,
            packet_bytes,
            warmup,
            cycles,
            drain_max,
            seed,
            cut_through,
            include_source,
            json,
        }),
        Command::Graph { command } => match command {
            GraphCommand::Show {
                model,
                params,
                summary,
            } => {
                let graph = crate::load::load_graph(&model, &parse_params(&params)?)?;
                Ok(inspect::show_graph(&graph, !summary))
            }
            GraphCommand::Export { model, params, out } => {
                let graph = crate::load::load_graph(&model, &parse_params(&params)?)?;
                let json = graph.to_json();
                match out {
                    Some(path) => {
                        crate::files::write_atomic(&path, json.as_bytes())?;
                        Ok(format!(
                            "wrote {} ({} ops)\n",
                            path.display(),
                            graph.ops().len()
                        ))
                    }
                    None => Ok(json),
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_pairs_and_reject_malformed() {
        let p = parse_params(&["seq=256".into(), "batch=2,dtype=bf16".into()]).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p["dtype"], "bf16");
        assert!(parse_params(&["seq256".into()]).is_err());
        assert!(parse_params(&["seq=1".into(), "seq=2".into()]).is_err());
        assert!(parse_params(&["=2".into()]).is_err());
    }

    #[test]
    fn list_params_are_written_in_brackets_in_one_argument_or_several() {
        let one = parse_params(&["sizes=[784,512,10]".into(), "batch=2".into()]).unwrap();
        assert_eq!(one["sizes"], "784,512,10");
        assert_eq!(one["batch"], "2");
        // What the shell passes for `-p sizes=[784, 512, 10] batch=2`.
        let split: Vec<String> = ["sizes=[784,", "512,", "10]", "batch=2"]
            .map(String::from)
            .to_vec();
        assert_eq!(parse_params(&split).unwrap(), one);
        let spaced = parse_params(&["sizes=[ 784 , 512,10 ],batch=2".into()]).unwrap();
        assert_eq!(spaced, one);
        // The form that used to be tried first gets the bracket form back.
        let e = parse_params(&["sizes=784,512,10".into()]).unwrap_err();
        assert!(e.message.contains("sizes=[...,512,...]"), "{}", e.message);
        for bad in [
            "sizes=[784,,10]",
            "sizes=[784,512",
            "sizes=784]",
            "sizes=[[1]]",
            "sizes=[]",
        ] {
            let e = parse_params(&[bad.to_string()]).unwrap_err();
            assert!(e.message.starts_with("--params: "), "{bad}: {}", e.message);
        }
    }

    /// The help names every partition method the registry has, so it
    /// cannot promise a method that does not exist or leave one out.
    #[test]
    fn partition_help_names_exactly_the_registered_methods() {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("partition")
            .expect("partition")
            .render_long_help()
            .to_string();
        let line = help
            .split("--method <METHOD>")
            .nth(1)
            .and_then(|rest| rest.split("(see").next())
            .expect("--method documented");
        let named: Vec<&str> = line
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .filter(|w| agent::partition::registry::lookup(w).is_ok())
            .collect();
        let all: Vec<&str> = agent::partition::registry::METHODS
            .iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(named, all, "{line}");
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
