//! The report of a run, read from the world once the event loop is done.

use bevy_ecs::prelude::*;

use super::plan::{Model, Plan};
use super::state::{ChipEnergy, Chiplet, ComputeEngine, Ledger, Links, SramSlots};
use super::{SimOutput, SteadyState};
use crate::report::{
    Bottleneck, ChipletReport, EnergyReport, LinkReport, MemoryReport, OpTimeline,
    REPORT_SCHEMA_VERSION, SATURATED_SHARE, SimReport, SteadyStateReport, Violation,
};
use crate::spec::ChipletId;

/// What a run left on one chiplet's components.
struct ChipTally {
    id: ChipletId,
    busy_cycles: u64,
    peak_active: u32,
    compute_pj: f64,
    sram_pj: f64,
}

/// The report (and trace) of the run that just ended; `partition` are the
/// placement's violations of the partition constraints that apply.
pub(super) fn build(
    world: &mut World,
    partition: Vec<crate::constraints::Violation>,
    steady: super::steady::Estimate,
) -> SimOutput {
    // Each chiplet's tallies, read with a query and put in chiplet id order.
    let mut tallies: Vec<ChipTally> = world
        .query::<(&Chiplet, &ComputeEngine, &SramSlots, &ChipEnergy)>()
        .iter(world)
        .map(|(chip, engine, sram, energy)| ChipTally {
            id: chip.0,
            busy_cycles: engine.busy_cycles,
            peak_active: sram.peak_active,
            compute_pj: energy.compute_pj,
            sram_pj: energy.sram_pj,
        })
        .collect();
    tallies.sort_by_key(|t| t.id);
    let model = world.resource::<Model>();
    let plan = world.resource::<Plan>();
    let ledger = world.resource::<Ledger>();
    let fabric = &world.resource::<Links>().0;
    let spec = &model.spec;
    let makespan = ledger.last_cycle.get();
    let util = |busy: u64| {
        if makespan == 0 {
            0.0
        } else {
            busy as f64 / makespan as f64
        }
    };
    let mut violations: Vec<Violation> = partition.into_iter().map(Violation::Partition).collect();
    let mut energy = EnergyReport {
        links_pj: fabric.energy_pj(),
        memory_pj: ledger.memory_pj,
        ..EnergyReport::default()
    };
    // Each chiplet's op cycles of one micro-batch, split by what bounds them.
    let mut compute_bound = vec![0u64; spec.chiplets.len()];
    let mut sram_bound = vec![0u64; spec.chiplets.len()];
    for (op, chip) in plan.chip_of.iter().enumerate() {
        let run = &model.runs[spec.chiplets[chip.idx()].type_idx][op];
        let tally = if run.sram_bound {
            &mut sram_bound
        } else {
            &mut compute_bound
        };
        tally[chip.idx()] += run.cycles.get();
    }
    let mbs = u64::from(steady.microbatches);
    let mut chiplets = Vec::with_capacity(spec.chiplets.len());
    for (c, t) in tallies.iter().enumerate() {
        debug_assert_eq!(t.id.idx(), c, "one entity per chiplet");
        let capacity = spec.chiplet_type(t.id).sram_bytes();
        let weights = plan.resident_weights[c];
        let one_slot = weights + plan.activation_slot_bytes[c];
        let needed = weights + plan.activation_slot_bytes[c] * t.peak_active as u64;
        if one_slot > capacity {
            violations.push(Violation::SramOverflow {
                chiplet: c as u32,
                needed_bytes: one_slot,
                capacity_bytes: capacity,
                over_bytes: one_slot - capacity,
            });
        }
        energy.compute_pj += t.compute_pj;
        energy.sram_pj += t.sram_pj;
        chiplets.push(ChipletReport {
            id: c as u32,
            chiplet_type: spec.chiplet_type(t.id).name.clone(),
            ops_placed: plan.ops_placed[c],
            busy_cycles: t.busy_cycles,
            compute_bound_cycles_per_microbatch: compute_bound[c],
            sram_bound_cycles_per_microbatch: sram_bound[c],
            memory_wait_cycles: t
                .busy_cycles
                .saturating_sub(mbs * (compute_bound[c] + sram_bound[c])),
            utilisation: util(t.busy_cycles),
            sram_capacity_bytes: capacity,
            weight_bytes_resident: plan.resident_weights[c],
            weight_bytes_streamed: plan.streamed_weights[c],
            sram_slot_bytes: plan.activation_slot_bytes[c],
            sram_slots: plan.slots[c],
            microbatches_in_flight_peak: t.peak_active,
            sram_peak_bytes: needed,
            energy_run_pj: t.compute_pj + t.sram_pj,
        });
    }
    let links: Vec<LinkReport> = spec
        .links
        .iter()
        .map(|l| {
            let s = fabric.link(l.id);
            LinkReport {
                id: l.id.0,
                from: l.from.0,
                to: l.to.0,
                bytes: s.bytes.get(),
                packets: s.packets,
                busy_cycles: s.busy.get(),
                utilisation: util(s.busy.get()),
                energy_run_pj: s.bytes.get() as f64 * 8.0 * l.energy_per_bit_pj,
            }
        })
        .collect();
    energy.total_pj = energy.compute_pj + energy.sram_pj + energy.links_pj + energy.memory_pj;
    let first = ledger.mb_completion[0];
    let interval = steady.interval_cycles;
    let batch = model
        .graph
        .inputs()
        .first()
        .and_then(|i| i.shape.first().copied())
        .unwrap_or(1);
    let clock_hz = spec.clock_mhz * 1e6;
    let memory = spec.memory.as_ref().map(|_| MemoryReport {
        bytes_streamed: ledger.memory_bytes.get(),
        busy_cycles: ledger.memory_busy.get(),
        utilisation: util(ledger.memory_busy.get()),
    });
    let inferences = mbs * batch;
    let energy_per_inference_pj = if inferences > 0 {
        energy.total_pj / inferences as f64
    } else {
        0.0
    };
    let interval_s = interval / clock_hz;
    let bottleneck = bottleneck(&chiplets, &links, memory.as_ref(), mbs, interval);
    let report = SimReport {
        schema_version: REPORT_SCHEMA_VERSION,
        valid: violations.is_empty(),
        microbatches: steady.microbatches,
        inferences_per_microbatch: batch,
        first_inference_latency_cycles: first,
        first_inference_latency_us: first as f64 / spec.clock_mhz,
        steady_state_interval_cycles: interval,
        throughput_inferences_per_s: if interval > 0.0 {
            batch as f64 * clock_hz / interval
        } else {
            0.0
        },
        steady_state: SteadyStateReport {
            method: match model.options.steady_state {
                SteadyState::Converge { .. } => "converge",
                SteadyState::Fixed => "fixed",
            },
            converged: steady.converged,
            microbatches_simulated: steady.microbatches,
            tolerance: steady.tolerance,
        },
        makespan_cycles: makespan,
        chiplets,
        links,
        bottleneck,
        memory,
        energy_per_inference_pj,
        average_power_w: if interval_s > 0.0 {
            energy_per_inference_pj * batch as f64 * 1e-12 / interval_s
        } else {
            0.0
        },
        energy_delay_product_j_s: energy_per_inference_pj * 1e-12 * first as f64 / clock_hz,
        energy_run: energy,
        violations,
        events_processed: ledger.events,
        steps: ledger.steps,
    };
    let op_timeline = model.options.trace.then(|| OpTimeline {
        n_ops: model.graph.ops().len(),
        microbatches: steady.microbatches,
        start_cycle: ledger.op_start.clone(),
        end_cycle: ledger.op_end.clone(),
    });
    let names: Option<Vec<String>> = model
        .options
        .trace
        .then(|| model.graph.ops().iter().map(|op| op.name.clone()).collect());
    // The recorder's slices move into the output (no copy of a long trace).
    let trace = names.map(|n| world.resource_mut::<Ledger>().trace.finish(n));
    SimOutput {
        report,
        trace,
        op_timeline,
    }
}

/// The resource with the most work per micro-batch relative to the
/// steady-state interval: each chiplet's engine occupancy (its ops' cycles
/// and their waits for streamed weights), each link's busy cycles, the
/// memory's. On a tie the first in that order (chiplets, then links, by
/// id) is kept.
fn bottleneck(
    chiplets: &[ChipletReport],
    links: &[LinkReport],
    memory: Option<&MemoryReport>,
    microbatches: u64,
    interval_cycles: f64,
) -> Option<Bottleneck> {
    if microbatches == 0 || interval_cycles <= 0.0 {
        return None;
    }
    let per_mb = |busy: u64| busy as f64 / microbatches as f64;
    let chips = chiplets.iter().map(|c| {
        // The engine is held for its ops' cycles and while they wait for
        // streamed weights; the largest of the three names the limit.
        let wait = per_mb(c.memory_wait_cycles);
        let compute = c.compute_bound_cycles_per_microbatch as f64;
        let sram = c.sram_bound_cycles_per_microbatch as f64;
        let resource = if wait > compute.max(sram) {
            "chiplet_memory_wait"
        } else if sram > compute {
            "chiplet_sram"
        } else {
            "chiplet_compute"
        };
        (resource, Some(c.id), None, per_mb(c.busy_cycles))
    });
    let links = links.iter().map(|l| {
        (
            "link",
            Some(l.id),
            Some((l.from, l.to)),
            per_mb(l.busy_cycles),
        )
    });
    let memory = memory.map(|m| ("memory", None, None, per_mb(m.busy_cycles)));
    let (resource, id, ends, busy) = chips.chain(links).chain(memory).fold(
        None,
        |best: Option<(&'static str, _, _, f64)>, x| match best {
            Some(b) if b.3 >= x.3 => Some(b),
            _ => Some(x),
        },
    )?;
    if busy <= 0.0 {
        return None;
    }
    let share = busy / interval_cycles;
    Some(Bottleneck {
        resource,
        id,
        from: ends.map(|e: (u32, u32)| e.0),
        to: ends.map(|e| e.1),
        busy_cycles_per_microbatch: busy,
        share_of_interval: share,
        saturated: share >= SATURATED_SHARE,
    })
}
