//! The compute model: how many cycles one operation takes on one chiplet type,
//! and how many bytes it moves through SRAM.
//!
//! The model, stated once:
//! - A matmul or convolution runs on the chiplet's `R × C` systolic array with
//!   the output-stationary cycle count of SCALE-Sim's analytical model
//!   (Samajdar et al., "A Systematic Methodology for Characterizing Scalability
//!   of DNN Accelerators using SCALE-Sim", ISPASS 2020; the same expression is
//!   used by SCALE-Sim v3): for a GEMM with `Sr` output rows (pixels), `Sc`
//!   output columns (filters) and reduction length `T`, each of the
//!   `ceil(Sr/R) · ceil(Sc/C)` output tiles takes `R + C + T − 2` cycles
//!   (fill, `T` accumulation steps, drain). Grouped convolutions and batched
//!   matmuls repeat the GEMM per group / batch entry.
//! - Element-wise, normalisation, softmax and pooling ops run on the vector unit
//!   at `vector_elems_per_cycle` element operations per cycle; `vector_ops` of
//!   each op is fixed by the zoo's stated conventions (`graph/builder.rs`).
//! - Embedding lookups, slices and concatenations only move data.
//! - No op can beat its SRAM traffic: it reads its weights and inputs and
//!   writes its output through SRAM at `sram_bandwidth_bytes_per_cycle`.
//! - Every op pays the chiplet's fixed `op_overhead_cycles`, except a
//!   reshape, which is a view of its input and costs nothing.
//!
//! So `cycles = op_overhead + max(compute, ceil(sram_bytes / sram_bandwidth))`.
//!
//! Which weights stay in SRAM and which stream from off-package memory, and
//! what streaming costs, is stated in `sim::problem` with the SRAM rule it
//! depends on.

use crate::graph::{Gemm, Graph, Op, OpKind};
use crate::problem::ProblemModel;
use crate::spec::{ChipletId, ChipletType, HwSpec};

/// `ceil(a / b)` for positive `b`.
pub fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// Output-stationary systolic-array cycles of one GEMM (all repeats) on an
/// `rows × cols` array: `repeats · ceil(Sr/R) · ceil(Sc/C) · (R + C + T − 2)`.
pub fn systolic_os_cycles(g: &Gemm, array_rows: u64, array_cols: u64) -> u64 {
    if g.macs() == 0 {
        return 0;
    }
    g.repeats
        * div_ceil(g.rows, array_rows)
        * div_ceil(g.cols, array_cols)
        * (array_rows + array_cols + g.reduction - 2)
}

/// Weight bytes an op reads per run: all of them, except for an embedding
/// lookup, which gathers only the rows it outputs.
pub fn weight_bytes_read(op: &Op) -> u64 {
    match op.kind {
        OpKind::Embedding { .. } => op.output_bytes.min(op.weight_bytes),
        _ => op.weight_bytes,
    }
}

/// Bytes of an op's inputs.
pub fn input_bytes(op: &Op) -> u64 {
    op.inputs
        .iter()
        .map(|i| crate::graph::numel(&i.shape) * op.dtype.bytes())
        .sum()
}

/// Bytes an op moves through SRAM: weights and inputs read, output written.
pub fn sram_bytes(op: &Op) -> u64 {
    weight_bytes_read(op) + input_bytes(op) + op.output_bytes
}

pub use crate::problem::Residency;

/// Weight residency of every chiplet for one placement, given each
/// chiplet's activation slot (`constraints::activation_peaks`). The rule is
/// stated in `sim::problem`, which computes it.
pub fn residency(
    spec: &HwSpec,
    graph: &Graph,
    chip_of: &[ChipletId],
    slot_bytes: &[u64],
) -> Residency {
    ProblemModel::for_sram(spec, graph).residency(chip_of, slot_bytes)
}

/// Cycles of the op's compute engine alone (array or vector unit).
pub fn engine_cycles(op: &Op, ty: &ChipletType) -> u64 {
    match op.kind.gemm() {
        Some(g) => systolic_os_cycles(&g, ty.array_rows, ty.array_cols),
        None => div_ceil(op.vector_ops, ty.vector_elems_per_cycle),
    }
}

/// Breakdown of an op's duration on a chiplet type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpCost {
    pub engine_cycles: u64,
    pub sram_cycles: u64,
    pub overhead_cycles: u64,
    /// `overhead + max(engine, sram)`.
    pub cycles: u64,
    pub sram_bytes: u64,
}

/// The op's cycles and SRAM traffic on chiplet type `ty`.
pub fn op_cost(op: &Op, ty: &ChipletType) -> OpCost {
    if op.kind == OpKind::Reshape {
        // A view of its input: no data moves and nothing is issued.
        return OpCost {
            engine_cycles: 0,
            sram_cycles: 0,
            overhead_cycles: 0,
            cycles: 0,
            sram_bytes: 0,
        };
    }
    let engine = engine_cycles(op, ty);
    let bytes = sram_bytes(op);
    let sram = div_ceil(bytes, ty.sram_bandwidth_bytes_per_cycle);
    OpCost {
        engine_cycles: engine,
        sram_cycles: sram,
        overhead_cycles: ty.op_overhead_cycles,
        cycles: ty.op_overhead_cycles + engine.max(sram),
        sram_bytes: bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_formula_on_one_tile() {
        // A 32×32 array computing a 32×32 output with T = 64: one tile of
        // 32 + 32 + 64 − 2 = 126 cycles.
        let g = Gemm {
            repeats: 1,
            rows: 32,
            cols: 32,
            reduction: 64,
        };
        assert_eq!(systolic_os_cycles(&g, 32, 32), 126);
    }

    #[test]
    fn os_formula_counts_partial_tiles_and_repeats() {
        let g = Gemm {
            repeats: 3,
            rows: 33,
            cols: 10,
            reduction: 5,
        };
        // ceil(33/16) = 3 row tiles, ceil(10/8) = 2 column tiles, 16 + 8 + 5 − 2 = 27.
        assert_eq!(systolic_os_cycles(&g, 16, 8), 3 * 3 * 2 * 27);
    }
}
