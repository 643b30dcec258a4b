//! What a simulation reports: latency, throughput, per-chiplet and per-link
//! activity, energy and violations, as plain serialisable data with a stable
//! field order; and the timeline trace in Chrome trace-event JSON.

use serde::Serialize;

/// The version of the report schema; bumped whenever a field changes.
pub const REPORT_SCHEMA_VERSION: u32 = 3;

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
    pub energy: EnergyReport,
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
    /// The interval over the second and over the third quarter of the
    /// completions agree within `tolerance` (a fraction of the interval).
    pub converged: bool,
    /// Micro-batches in the run the numbers come from.
    pub microbatches_simulated: u32,
    pub tolerance: f64,
}

/// Per-chiplet activity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChipletReport {
    pub id: u32,
    pub ops_placed: u32,
    pub busy_cycles: u64,
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
    pub energy_pj: f64,
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
}

/// Off-package memory activity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryReport {
    pub bytes_streamed: u64,
    pub busy_cycles: u64,
    pub utilisation: f64,
}

/// Energy by where it is spent.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EnergyReport {
    pub compute_pj: f64,
    pub sram_pj: f64,
    pub links_pj: f64,
    pub memory_pj: f64,
    pub total_pj: f64,
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

/// One slice of the timeline, in cycles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSlice {
    pub track: Track,
    pub name: String,
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

/// Renders slices as Chrome trace-event JSON (loadable in Perfetto and
/// chrome://tracing): one process per resource class, one thread per chiplet
/// or link, timestamps in microseconds of simulated time.
pub fn chrome_trace(slices: &[TraceSlice], clock_mhz: f64) -> String {
    use std::fmt::Write;
    let mut out = String::from("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
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
            serde_json::to_string(&s.name).expect("string"),
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
