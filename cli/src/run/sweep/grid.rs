//! A sweep's grid: one scenario per combination of the axes' values (first
//! axis slowest), each axis value applied to the base scenario and the
//! result resolved, so a bad value anywhere is reported before anything runs.

use std::path::Path;

use sim::Switching;
use sim::config::{Node, Val};

use super::{SIMULATE_METRICS, TRAFFIC_METRICS};
use crate::error::UserError;
use crate::scenario::{
    self, Axis, HardwareSource, PlacementChoice, Resolved, Scenario, SweepTask, Task, Workload,
};

/// One grid point: its axis values (as text) and the scenario it runs.
#[derive(Clone, Debug)]
pub(in crate::run) struct Point {
    /// Each axis's value as the summary and sweep.csv show it.
    pub(super) labels: Vec<String>,
    /// Each axis's value when it is a number (the plot's x).
    pub(super) numbers: Vec<Option<f64>>,
    pub(super) resolved: Resolved,
}

/// An axis value as text: a string as written, anything else as TOML shows it.
fn node_text(n: &Node) -> String {
    match &n.val {
        Val::Str(s) => s.clone(),
        v => v.show(),
    }
}

pub(super) fn node_number(n: &Node) -> Option<f64> {
    match n.val {
        Val::Int(i) => Some(i as f64),
        Val::Float(f) => Some(f),
        _ => None,
    }
}

/// Every grid point's scenario, resolved, first axis slowest.
pub(in crate::run) fn grid(base: &Scenario, sweep: &SweepTask) -> Result<Vec<Point>, UserError> {
    check_metric_is_known(base, sweep)?;
    let dims: Vec<usize> = sweep.axes.iter().map(|a| a.values.len()).collect();
    let total: usize = dims.iter().product();
    (0..total)
        .map(|index| grid_point(base, sweep, &dims, index))
        .collect()
}

/// The metric must be a numeric result of the `each` task, checked before
/// anything runs.
fn check_metric_is_known(base: &Scenario, sweep: &SweepTask) -> Result<(), UserError> {
    let known = match *sweep.each {
        Task::Traffic(_) => TRAFFIC_METRICS,
        _ => SIMULATE_METRICS,
    };
    if known.contains(&sweep.metric.as_str()) {
        return Ok(());
    }
    Err(unknown_metric(base, sweep, known))
}

/// A metric that is not among `results`, the numeric results of the task.
pub(super) fn unknown_metric(s: &Scenario, sweep: &SweepTask, results: &[&str]) -> UserError {
    UserError::new(format!(
        "{}: task.metric: {:?} is not a numeric result of a {} task; results: {}",
        s.file.display(),
        sweep.metric,
        sweep.each.kind(),
        results.join(", ")
    ))
}

/// Grid point number `index` (axes of sizes `dims`, the last varying
/// fastest): the base scenario with each axis's value applied, resolved.
fn grid_point(
    base: &Scenario,
    sweep: &SweepTask,
    dims: &[usize],
    index: usize,
) -> Result<Point, UserError> {
    let mut rem = index;
    let mut choice = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        choice[d] = rem % dims[d];
        rem /= dims[d];
    }
    let mut s = base.clone();
    s.task = (*sweep.each).clone();
    let mut labels = Vec::new();
    let mut numbers = Vec::new();
    for (axis, &k) in sweep.axes.iter().zip(&choice) {
        let v = &axis.values[k];
        apply_axis(&mut s, axis, v)?;
        labels.push(match (&v.val, axis.target.as_str()) {
            // A spec file is labelled by its name, e.g. edgetpu_ring8.
            (Val::Str(p), "hardware_spec") => Path::new(p)
                .file_stem()
                .map_or_else(|| p.clone(), |n| n.to_string_lossy().into_owned()),
            _ => node_text(v),
        });
        numbers.push(node_number(v));
    }
    let resolved = scenario::resolve(&s).map_err(|e| {
        UserError::new(format!(
            "sweep point {index} ({}): {}",
            sweep
                .axes
                .iter()
                .zip(&labels)
                .map(|(a, l)| format!("{} = {l}", a.name))
                .collect::<Vec<_>>()
                .join(", "),
            e.message
        ))
    })?;
    Ok(Point {
        labels,
        numbers,
        resolved,
    })
}

fn axis_error(file: &Path, axis: &Axis, message: String) -> UserError {
    UserError::new(format!(
        "{}:{}:{}: task.axes ({}): {message}",
        file.display(),
        axis.pos.line,
        axis.pos.column,
        axis.name
    ))
}

/// Sets one axis's value `v` in a grid point's scenario.
fn apply_axis(s: &mut Scenario, axis: &Axis, v: &Node) -> Result<(), UserError> {
    let field = axis.field.clone().unwrap_or_default();
    match axis.target.as_str() {
        "hardware" => {
            s.overrides.retain(|(p, _)| *p != field);
            s.overrides.push((field, v.clone()));
            Ok(())
        }
        "hardware_spec" => apply_hardware_spec(s, axis, v),
        "workload" => match &mut s.workload {
            // Values are checked when the point's graph is built.
            Some(Workload::Zoo { params, .. } | Workload::Onnx { params, .. }) => {
                params.insert(field, node_text(v));
                Ok(())
            }
            _ => Err(axis_error(
                &s.file,
                axis,
                "a workload axis needs a zoo model or ONNX workload".into(),
            )),
        },
        "simulation" => apply_simulation(s, axis, &field, v),
        _ => apply_task(s, axis, &field, v),
    }
}

/// A `hardware_spec` value: a spec file path, relative to the scenario.
fn apply_hardware_spec(s: &mut Scenario, axis: &Axis, v: &Node) -> Result<(), UserError> {
    let Val::Str(p) = &v.val else {
        return Err(axis_error(
            &s.file,
            axis,
            "hardware_spec values are spec file paths".into(),
        ));
    };
    let path = s.file.parent().unwrap_or(Path::new(".")).join(p);
    if !path.is_file() {
        return Err(axis_error(
            &s.file,
            axis,
            format!("hardware spec file {} does not exist", path.display()),
        ));
    }
    s.hardware = Some(HardwareSource::File(path));
    Ok(())
}

/// A positive integer axis value, or an error naming `what`.
fn positive_int(file: &Path, axis: &Axis, v: &Node, what: &str) -> Result<u64, UserError> {
    match v.val {
        Val::Int(i) if i >= 1 => Ok(i as u64),
        _ => Err(axis_error(
            file,
            axis,
            format!(
                "{what} values must be positive integers, found {}",
                v.val.show()
            ),
        )),
    }
}

/// A `simulation` axis: microbatches, packet_bytes or switching.
fn apply_simulation(s: &mut Scenario, axis: &Axis, field: &str, v: &Node) -> Result<(), UserError> {
    let file = &s.file;
    match field {
        "microbatches" => {
            s.simulation.microbatches = positive_int(file, axis, v, "microbatches")? as u32
        }
        "packet_bytes" => s.simulation.packet_bytes = positive_int(file, axis, v, "packet_bytes")?,
        "switching" => {
            s.simulation.switching = match node_text(v).as_str() {
                "store_and_forward" => Switching::StoreAndForward,
                "cut_through" => Switching::CutThrough,
                other => {
                    return Err(axis_error(
                        file,
                        axis,
                        format!("unknown switching {other:?}"),
                    ));
                }
            }
        }
        other => {
            return Err(axis_error(
                file,
                axis,
                format!(
                    "simulation has no option {other:?} to sweep; options: microbatches, packet_bytes, switching"
                ),
            ));
        }
    }
    Ok(())
}

/// A `task` axis: a key of the `each` task (traffic: rate, packet_bytes,
/// pattern; simulate: placement).
fn apply_task(s: &mut Scenario, axis: &Axis, field: &str, v: &Node) -> Result<(), UserError> {
    let file = &s.file;
    match &mut s.task {
        Task::Traffic(t) => match field {
            "rate" => {
                t.rate = node_number(v)
                    .filter(|r| *r > 0.0 && *r <= 1.0)
                    .ok_or_else(|| {
                        axis_error(
                            file,
                            axis,
                            format!("rate must be in (0, 1], found {}", v.val.show()),
                        )
                    })?
            }
            "packet_bytes" => t.packet_bytes = positive_int(file, axis, v, "packet_bytes")?,
            "pattern" => t.pattern = node_text(v),
            other => {
                return Err(axis_error(
                    file,
                    axis,
                    format!(
                        "traffic has no key {other:?} to sweep; keys: rate, packet_bytes, pattern"
                    ),
                ));
            }
        },
        Task::Simulate { placement } => match (field, node_text(v).as_str()) {
            ("placement", "contiguous") => *placement = PlacementChoice::Contiguous,
            ("placement", "single") => *placement = PlacementChoice::Single,
            _ => {
                return Err(axis_error(
                    file,
                    axis,
                    "a simulate task's sweepable key is placement (contiguous | single)".into(),
                ));
            }
        },
        Task::Sweep(_) | Task::Partition(_) | Task::Train(_) | Task::Nas(_) => {
            unreachable!("sweeps run simulate or traffic")
        }
    }
    Ok(())
}
