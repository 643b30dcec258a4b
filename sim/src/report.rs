//! What a simulation reports: latency, throughput, per-chiplet and per-link
//! activity, energy and violations, as plain serialisable data with a stable
//! field order; and the timeline trace in Chrome trace-event JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::graph::OpId;

/// The version of the report schema; bumped whenever a field changes.
/// Version 4 renamed `energy` to `energy_run` and the chiplets' `energy_pj`
/// to `energy_run_pj` (they always were totals over every simulated
/// micro-batch), and added the energy per inference, average power,
/// energy-delay product, bottleneck, the chiplets' type and cycle split and
/// the links' energy. `docs/report.md` describes every field.
pub const REPORT_SCHEMA_VERSION: u32 = 4;

/// The result of simulating one placement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimReport {
    pub schema_version: u32,
    /// False when any violation was found; the timing is then not achievable.
    pub valid: bool,
    /// Micro-batches of the run reported (the last one when converging).
    pub microbatches: u32,
    /// Inferences per micro-batch (the graph's batch size).
    pub inferences_per_microbatch: u64,
    /// Cycle at which micro-batch 0 completed.
    pub first_inference_latency_cycles: u64,
    pub first_inference_latency_us: f64,
    /// Mean cycles between micro-batch completions in the periodic regime:
    /// over the middle half of the completions, away from the pipeline's
    /// fill and drain (see `steady_state`; the first-inference latency when
    /// there is one micro-batch).
    pub steady_state_interval_cycles: f64,
    pub throughput_inferences_per_s: f64,
    /// How the interval was obtained, and whether it converged.
    pub steady_state: SteadyStateReport,
    /// Cycle at which the last event happened.
    pub makespan_cycles: u64,
    pub chiplets: Vec<ChipletReport>,
    pub links: Vec<LinkReport>,
    pub memory: Option<MemoryReport>,
    /// Energy of the whole simulated run: all `microbatches` micro-batches.
    pub energy_run: EnergyReport,
    /// `energy_run.total_pj / (microbatches × inferences_per_microbatch)`:
    /// every micro-batch does the same work, so this is exact.
    pub energy_per_inference_pj: f64,
    /// Energy of one micro-batch over the steady-state interval, in watts
    /// (dynamic energy only: the model has no static or leakage power).
    pub average_power_w: f64,
    /// Energy per inference (J) × first-inference latency (s).
    pub energy_delay_product_j_s: f64,
    /// The resource busy for the largest share of the steady-state
    /// interval; `None` when nothing was busy.
    pub bottleneck: Option<Bottleneck>,
    pub violations: Vec<Violation>,
    pub events_processed: u64,
    /// Passes of the engine's stages: event times visited, a time counted
    /// again when a stage scheduled more work for the same cycle.
    pub steps: u64,
}

/// How the steady-state interval was obtained.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SteadyStateReport {
    /// `converge` (micro-batches doubled until converged) or `fixed` (the
    /// count asked for).
    pub method: &'static str,
    /// The four windows of the middle half of the completions agree within
    /// `tolerance` (a fraction of the interval); for `converge`, the
    /// half-length run's estimate agrees too and the interval is not below
    /// the oracle's bound by more than `tolerance` (see `engine/steady.rs`).
    pub converged: bool,
    /// Micro-batches in the run the numbers come from.
    pub microbatches_simulated: u32,
    pub tolerance: f64,
}

/// Per-chiplet activity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChipletReport {
    pub id: u32,
    /// The spec's name of the chiplet's type.
    #[serde(rename = "type")]
    pub chiplet_type: String,
    pub ops_placed: u32,
    /// Cycles the compute engine was occupied over the run, waiting for
    /// streamed weights included.
    pub busy_cycles: u64,
    /// Cycles of one micro-batch's ops whose compute engine takes at least
    /// as long as their SRAM traffic (overheads included).
    pub compute_bound_cycles_per_microbatch: u64,
    /// Cycles of one micro-batch's ops whose SRAM traffic takes longer than
    /// their compute.
    pub sram_bound_cycles_per_microbatch: u64,
    /// Cycles of the run the engine held an op waiting for its streamed
    /// weights: `busy_cycles` minus `microbatches ×` the two above.
    pub memory_wait_cycles: u64,
    pub utilisation: f64,
    pub sram_capacity_bytes: u64,
    pub weight_bytes_resident: u64,
    pub weight_bytes_streamed: u64,
    /// Activation bytes of one micro-batch's SRAM slot (the static plan's
    /// peak of live activations for one micro-batch).
    pub sram_slot_bytes: u64,
    /// Slots that fit beside the resident weights (at least 1): how many
    /// micro-batches may be in flight on this chiplet at once.
    pub sram_slots: u32,
    /// Most micro-batches that held a slot at the same time.
    pub microbatches_in_flight_peak: u32,
    /// Resident weights plus the slots in use at the peak.
    pub sram_peak_bytes: u64,
    /// Compute and SRAM energy of the chiplet over the whole run.
    pub energy_run_pj: f64,
}

/// Per-link activity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkReport {
    pub id: u32,
    pub from: u32,
    pub to: u32,
    pub bytes: u64,
    pub packets: u64,
    pub busy_cycles: u64,
    pub utilisation: f64,
    /// `bytes × 8 ×` the link's energy per bit, over the whole run.
    pub energy_run_pj: f64,
}

/// Off-package memory activity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryReport {
    pub bytes_streamed: u64,
    pub busy_cycles: u64,
    pub utilisation: f64,
}

/// Energy by where it is spent, over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EnergyReport {
    pub compute_pj: f64,
    pub sram_pj: f64,
    pub links_pj: f64,
    pub memory_pj: f64,
    pub total_pj: f64,
}

/// A resource busy in the steady state: kinds of [`Bottleneck::resource`].
pub const BOTTLENECK_RESOURCES: [&str; 5] = [
    "chiplet_compute",
    "chiplet_sram",
    "chiplet_memory_wait",
    "link",
    "memory",
];

/// Share of the interval from which the busiest resource counts as
/// saturated (below it, the interval is mostly waiting: dependencies across
/// chiplets, or too few SRAM slots to keep micro-batches in flight).
pub const SATURATED_SHARE: f64 = 0.9;

/// What limits throughput: of the chiplets (their engines' occupancy), the
/// links and the off-package memory, the one busy for the largest share of
/// the simulated steady-state interval, from the run's busy tallies divided
/// by its micro-batches (every micro-batch does the same work) and the
/// simulator's interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bottleneck {
    /// One of [`BOTTLENECK_RESOURCES`]: a chiplet whose engine is mostly
    /// running compute-bound ops, SRAM-bound ops, or waiting for weights
    /// streamed from off-package memory (by cycles); a link; the memory.
    pub resource: &'static str,
    /// The chiplet's or link's id; `None` for the memory.
    pub id: Option<u32>,
    /// For a link, its ends; `None` otherwise.
    pub from: Option<u32>,
    pub to: Option<u32>,
    pub busy_cycles_per_microbatch: f64,
    /// `busy_cycles_per_microbatch / steady_state_interval_cycles`.
    pub share_of_interval: f64,
    /// `share_of_interval ≥` [`SATURATED_SHARE`].
    pub saturated: bool,
}

impl Bottleneck {
    /// The resource for a person: "chiplet 3 compute", "link 0 (0→1)",
    /// "off-package memory".
    pub fn what(&self) -> String {
        let id = self.id.unwrap_or(0);
        match self.resource {
            "chiplet_compute" => format!("chiplet {id} compute"),
            "chiplet_sram" => format!("chiplet {id} SRAM bandwidth"),
            "chiplet_memory_wait" => format!("chiplet {id} waiting for streamed weights"),
            "link" => format!(
                "link {id} ({}→{})",
                self.from.unwrap_or(0),
                self.to.unwrap_or(0)
            ),
            _ => "off-package memory".to_string(),
        }
    }

    /// One line for a summary: what limits throughput and by how much.
    pub fn describe(&self) -> String {
        let share = self.share_of_interval * 100.0;
        if self.saturated {
            format!(
                "limited by {}: busy {share:.1}% of the interval",
                self.what()
            )
        } else {
            format!(
                "no resource is saturated: the busiest, {}, is busy {share:.1}% of the interval; the rest is waiting (dependencies across chiplets or SRAM slots)",
                self.what()
            )
        }
    }
}

/// When each op instance of a run started and ended (recorded with the
/// trace): `start_cycle[mb × n_ops + op]`, and likewise `end_cycle`. An
/// op's span includes waiting for its streamed weights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpTimeline {
    pub n_ops: usize,
    pub microbatches: u32,
    pub start_cycle: Vec<u64>,
    pub end_cycle: Vec<u64>,
}

impl OpTimeline {
    /// Op `op` of micro-batch `mb`: (start, end) cycles.
    pub fn span(&self, op: OpId, mb: u32) -> (u64, u64) {
        let k = mb as usize * self.n_ops + op.idx();
        (self.start_cycle[k], self.end_cycle[k])
    }
}

/// Something that makes a placement unrealisable on the hardware.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// The placement breaks one of the partition constraints that apply
    /// (the spec's `[constraints]`, or the ones a task set; see
    /// `sim::constraints`). SRAM is checked by the simulator itself, below.
    Partition(crate::constraints::Violation),
    /// Resident weights plus peak live activations exceed the chiplet's SRAM.
    SramOverflow {
        chiplet: u32,
        needed_bytes: u64,
        capacity_bytes: u64,
        over_bytes: u64,
    },
}

/// The most slices one trace keeps: past it the trace stops recording and
/// says so ([`Trace::truncation`]). Why a cap: a slice is recorded per link
/// service, and although back-to-back packets of one op on one link are
/// merged into one slice (below), contended links interleave packets, so
/// without a cap the trace (and the plots and the JSON drawn from it) would
/// grow with the packet count. At this cap the slices take about 10 MB and
/// the Chrome JSON about 50 MB.
pub const MAX_TRACE_SLICES: usize = 250_000;

/// One slice of the timeline, in cycles: op `op` of micro-batch `microbatch`
/// occupying `track` from `start_cycle` to `end_cycle`. The op is named by
/// id (its name is in [`Trace::op_names`]), so a slice costs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceSlice {
    pub track: Track,
    pub op: OpId,
    pub start_cycle: u64,
    pub end_cycle: u64,
    pub microbatch: u32,
}

/// A row of the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Track {
    Chiplet(u32),
    Link { id: u32, from: u32, to: u32 },
    Memory,
}

/// The timeline of one run.
///
/// What a slice is: an op running on a chiplet, its weights streaming from
/// off-package memory, or its output crossing a link. A transfer's packets
/// are served on a link one after another; consecutive services of the same
/// op and micro-batch on one link with no gap between them are one slice
/// (on an uncontended link a transfer is one slice per hop, however small
/// its packets). At most [`MAX_TRACE_SLICES`] slices are kept: see
/// [`Truncation`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// Sorted by (track, start, end).
    pub slices: Vec<TraceSlice>,
    /// Op names by op id.
    pub op_names: Vec<String>,
    /// Set when the cap was reached and the trace is not the whole run.
    pub truncation: Option<Truncation>,
}

/// How much of a run a capped trace shows: every slice that starts before
/// `complete_before_cycle` is in the trace, none that starts at or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub complete_before_cycle: u64,
    /// Slices of the run not in the trace.
    pub slices_dropped: u64,
    /// The cap that was reached.
    pub max_slices: usize,
}

impl Trace {
    /// The name of the op a slice belongs to.
    pub fn name(&self, s: &TraceSlice) -> &str {
        self.op_names.get(s.op.idx()).map_or("?", String::as_str)
    }

    /// One line for a person: what a truncated trace leaves out.
    pub fn truncation_note(&self) -> Option<String> {
        self.truncation.map(|t| {
            format!(
                "the trace holds only the run's first {} cycles: it reached its cap of {} slices ({} more not recorded)",
                t.complete_before_cycle, t.max_slices, t.slices_dropped
            )
        })
    }
}

/// Records slices during a run: merges back-to-back services and stops at
/// the cap. Reused across runs (`clear` keeps its allocations).
#[derive(Debug)]
pub(crate) struct TraceRecorder {
    slices: Vec<TraceSlice>,
    /// Per track, the index of its latest slice (the one a new service may
    /// extend). Services on one track are recorded in time order: links and
    /// memory are FIFO, and an op is recorded when it starts.
    last: BTreeMap<Track, usize>,
    max_slices: usize,
    dropped: u64,
    /// The earliest start of a dropped slice.
    first_dropped: Option<u64>,
}

impl Default for TraceRecorder {
    fn default() -> Self {
        TraceRecorder::with_limit(MAX_TRACE_SLICES)
    }
}

impl TraceRecorder {
    pub(crate) fn with_limit(max_slices: usize) -> Self {
        TraceRecorder {
            slices: Vec::new(),
            last: BTreeMap::new(),
            max_slices,
            dropped: 0,
            first_dropped: None,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.slices.clear();
        self.last.clear();
        self.dropped = 0;
        self.first_dropped = None;
    }

    /// Adds a slice, extending the track's latest slice instead when it is
    /// the same op and micro-batch and ends where this one starts. Once one
    /// slice has been dropped at the cap nothing more is recorded (not even
    /// an extension), so the trace is exactly the run before some cycle.
    pub(crate) fn record(&mut self, s: TraceSlice) {
        if self.first_dropped.is_none() {
            if let Some(&k) = self.last.get(&s.track) {
                let prev = &mut self.slices[k];
                if prev.op == s.op
                    && prev.microbatch == s.microbatch
                    && prev.end_cycle == s.start_cycle
                {
                    prev.end_cycle = s.end_cycle;
                    return;
                }
            }
            if self.slices.len() < self.max_slices {
                self.last.insert(s.track, self.slices.len());
                self.slices.push(s);
                return;
            }
        }
        self.dropped += 1;
        self.first_dropped = Some(
            self.first_dropped
                .map_or(s.start_cycle, |c| c.min(s.start_cycle)),
        );
    }

    /// The run's trace, sorted; the recorder is left empty for the next run.
    pub(crate) fn finish(&mut self, op_names: Vec<String>) -> Trace {
        let mut slices = std::mem::take(&mut self.slices);
        let truncation = self.first_dropped.map(|cut| {
            // Slices recorded before the cap that start after the first
            // dropped one would leave holes in the picture: drop them too.
            let before = slices.len();
            slices.retain(|s| s.start_cycle < cut);
            Truncation {
                complete_before_cycle: cut,
                slices_dropped: self.dropped + (before - slices.len()) as u64,
                max_slices: self.max_slices,
            }
        });
        slices.sort_by(|a, b| {
            (a.track, a.start_cycle, a.end_cycle).cmp(&(b.track, b.start_cycle, b.end_cycle))
        });
        self.clear();
        Trace {
            slices,
            op_names,
            truncation,
        }
    }
}

/// Renders a trace as Chrome trace-event JSON (loadable in Perfetto and
/// chrome://tracing): one process per resource class, one thread per chiplet
/// or link, timestamps in microseconds of simulated time. A truncated trace
/// says so in `otherData.truncated`.
pub fn chrome_trace(trace: &Trace, clock_mhz: f64) -> String {
    use std::fmt::Write;
    let slices = &trace.slices;
    let mut out = String::from("{\"displayTimeUnit\":\"ns\",");
    if let Some(note) = trace.truncation_note() {
        let _ = write!(
            out,
            "\"otherData\":{{\"truncated\":{}}},",
            serde_json::to_string(&note).expect("string")
        );
    }
    out.push_str("\"traceEvents\":[\n");
    let mut tracks: Vec<Track> = slices.iter().map(|s| s.track).collect();
    tracks.sort();
    tracks.dedup();
    let ids = |t: &Track| match *t {
        Track::Chiplet(c) => (1, c, format!("chiplet {c}")),
        Track::Link { id, from, to } => (2, id, format!("link {id} ({from}→{to})")),
        Track::Memory => (3, 0, "off-package memory".to_string()),
    };
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push_str(",\n");
        }
        first = false;
    };
    for (pid, name) in [(1, "chiplets"), (2, "links"), (3, "memory")] {
        sep(&mut out);
        let _ = write!(
            out,
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":\"{name}\"}}}}"
        );
    }
    for t in &tracks {
        let (pid, tid, name) = ids(t);
        sep(&mut out);
        let _ = write!(
            out,
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":{}}}}}",
            serde_json::to_string(&name).expect("string")
        );
    }
    let us = |cycles: u64| cycles as f64 / clock_mhz;
    for s in slices {
        let (pid, tid, _) = ids(&s.track);
        sep(&mut out);
        let _ = write!(
            out,
            "{{\"name\":{},\"ph\":\"X\",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{},\"args\":{{\"microbatch\":{},\"start_cycle\":{},\"end_cycle\":{}}}}}",
            serde_json::to_string(trace.name(s)).expect("string"),
            us(s.start_cycle),
            us(s.end_cycle - s.start_cycle),
            s.microbatch,
            s.start_cycle,
            s.end_cycle
        );
    }
    out.push_str("\n]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(track: Track, op: u32, mb: u32, start: u64, end: u64) -> TraceSlice {
        TraceSlice {
            track,
            op: OpId(op),
            start_cycle: start,
            end_cycle: end,
            microbatch: mb,
        }
    }

    const LINK: Track = Track::Link {
        id: 0,
        from: 0,
        to: 1,
    };

    #[test]
    fn back_to_back_services_of_one_op_on_one_track_are_one_slice() {
        let mut r = TraceRecorder::default();
        for k in 0..1000 {
            r.record(slice(LINK, 3, 0, 10 * k, 10 * k + 10));
        }
        // A gap, another op, another micro-batch: each starts a new slice.
        r.record(slice(LINK, 3, 0, 10_005, 10_010));
        r.record(slice(LINK, 4, 0, 10_010, 10_020));
        r.record(slice(LINK, 4, 1, 10_020, 10_030));
        // Interleaved with another track, which does not break the run.
        r.record(slice(Track::Chiplet(0), 3, 0, 0, 5));
        r.record(slice(LINK, 4, 1, 10_030, 10_040));
        let t = r.finish(vec!["a".into(); 5]);
        let spans: Vec<(u32, u64, u64)> = t
            .slices
            .iter()
            .map(|s| (s.op.0, s.start_cycle, s.end_cycle))
            .collect();
        assert_eq!(
            spans,
            [
                (3, 0, 5),
                (3, 0, 10_000),
                (3, 10_005, 10_010),
                (4, 10_010, 10_020),
                (4, 10_020, 10_040)
            ]
        );
        assert_eq!(t.truncation, None);
    }

    #[test]
    fn a_full_trace_stops_and_says_up_to_which_cycle_it_is_complete() {
        let mut r = TraceRecorder::with_limit(3);
        // Alternating ops never merge: one slice per service.
        for k in 0..10u64 {
            r.record(slice(LINK, (k % 2) as u32, 0, 10 * k, 10 * k + 5));
        }
        let t = r.finish(vec!["a".into(), "b".into()]);
        assert_eq!(t.slices.len(), 3);
        assert_eq!(
            t.truncation,
            Some(Truncation {
                complete_before_cycle: 30,
                slices_dropped: 7,
                max_slices: 3,
            })
        );
        let json = chrome_trace(&t, 1000.0);
        assert!(json.contains("\"otherData\":{\"truncated\":\"the trace holds only"));
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["traceEvents"].as_array().unwrap().len(), 3 + 1 + 3);
    }

    #[test]
    fn a_recorder_is_empty_again_after_finishing() {
        let mut r = TraceRecorder::with_limit(1);
        r.record(slice(LINK, 0, 0, 0, 1));
        r.record(slice(LINK, 1, 0, 1, 2));
        assert!(r.finish(vec!["a".into(), "b".into()]).truncation.is_some());
        r.record(slice(LINK, 1, 0, 5, 6));
        let t = r.finish(vec!["a".into(), "b".into()]);
        assert_eq!((t.slices.len(), t.truncation), (1, None));
    }
}
