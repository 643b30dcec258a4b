//! Hardware specs: the types of a multi-chip-module package (chiplet types and
//! instances, directed links, routing, clock, off-package memory, pipeline order,
//! partition constraints) and their limits.
//!
//! A [`HwSpec`] is only ever made by reading: [`HwSpec::from_toml_str`] or
//! [`HwSpec::from_node`] (in `read.rs`), so every spec in the program has
//! passed the same validation. The parts: `read.rs` reads and checks the TOML
//! (the format is documented key by key in `docs/hw_spec.md`), `topology.rs`
//! expands the `[[topology]]` generators (ring, chain, mesh, torus,
//! all-to-all) into explicit links, and `routing.rs` computes the route of
//! every chiplet pair once ([`RouteTable`]). Every number has an upper limit
//! (the `MAX_*` constants below), so that no later product or sum over
//! chiplets can overflow.

mod read;
mod routing;
pub(crate) mod topology;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use routing::RouteTable;

/// Stable id of a chiplet (dense: `0..n_chiplets`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ChipletId(pub u32);

impl ChipletId {
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ChipletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Stable id of a directed link: its index in the list sorted by (from, to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LinkId(pub u32);

impl LinkId {
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

/// A kind of chiplet: its compute engines, SRAM and energy costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChipletType {
    pub name: String,
    /// Peak multiply-accumulates per cycle; equals `array_rows × array_cols`.
    pub macs_per_cycle: u64,
    pub array_rows: u64,
    pub array_cols: u64,
    /// Element operations per cycle of the vector unit (element-wise, norm, softmax).
    pub vector_elems_per_cycle: u64,
    pub sram_kib: u64,
    pub sram_bandwidth_bytes_per_cycle: u64,
    /// Fixed cost of launching any operation.
    pub op_overhead_cycles: u64,
    pub energy_per_mac_pj: f64,
    pub energy_per_sram_byte_pj: f64,
}

impl ChipletType {
    /// SRAM in bytes; at most 2^50 by [`MAX_SRAM_KIB`].
    pub fn sram_bytes(&self) -> u64 {
        self.sram_kib * 1024
    }
}

/// One chiplet instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Chiplet {
    pub id: ChipletId,
    /// Index into [`HwSpec::chiplet_types`].
    pub type_idx: usize,
    /// Grid position `[row, col]`, required for XY routing and snake order.
    pub position: Option<[u32; 2]>,
}

/// One directed package link.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Link {
    pub id: LinkId,
    pub from: ChipletId,
    pub to: ChipletId,
    pub bandwidth_bytes_per_cycle: u64,
    pub latency_cycles: u64,
    pub energy_per_bit_pj: f64,
}

/// How a route between two chiplets is chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// Fewest hops; among equals, the lexicographically smallest chip sequence.
    ShortestPath,
    /// Dimension-ordered over positions `[row, col]`: first in x (the column
    /// index changes: the route moves within its row), then in y (the row
    /// index changes: it moves within the destination's column); on a torus
    /// each dimension takes its shorter direction (ties: increasing).
    Xy,
    /// Explicit routes, as chip sequences; pairs not listed use shortest path
    /// when `fallback_shortest_path`, else every pair must be listed.
    Table {
        routes: Vec<Vec<ChipletId>>,
        fallback_shortest_path: bool,
    },
}

/// What a packet pays beyond its links (see `sim::fabric`), and whether its
/// routers have finite buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Interconnect {
    /// Cycles a packet's head spends in every router it passes, its source's
    /// and its destination's included (route computation, VC and switch
    /// allocation), from entering the router until it starts on the next
    /// link or the ejection port.
    pub router_delay_cycles: u64,
    /// Cycles from a packet's creation at its source until it enters the
    /// source's router (the injection channel).
    pub injection_latency_cycles: u64,
    /// Cycles from leaving the destination router to delivery (the ejection
    /// channel).
    pub ejection_latency_cycles: u64,
    /// Finite input buffers with credit-based flow control and virtual
    /// channels (`sim::fabric::buffered`); `None`: every link is an unbounded
    /// FIFO queue (the ideal model).
    pub buffers: Option<RouterBuffers>,
}

/// The routers' buffers, when they are modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RouterBuffers {
    /// Bytes in a flit, the unit of buffering and flow control; a link moves
    /// one flit per `ceil(flit_bytes / bandwidth_bytes_per_cycle)` cycles.
    pub flit_bytes: u64,
    /// Virtual channels per input port.
    pub virtual_channels: u32,
    /// Flits each virtual channel buffers.
    pub buffer_flits: u32,
}

/// Off-package memory (e.g. DRAM) that some chiplets reach.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OffPackageMemory {
    pub capacity_mib: u64,
    pub bandwidth_bytes_per_cycle: u64,
    pub latency_cycles: u64,
    pub energy_per_byte_pj: f64,
    /// Chiplets with a port to this memory, ascending.
    pub chiplets: Vec<ChipletId>,
    /// Whether weights that do not fit in SRAM may be streamed from it.
    pub weight_streaming: bool,
}

/// The "no skipping chips" constraint's mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoSkipping {
    Off,
    /// Every edge moves data at most one position along the pipeline order.
    Edge,
    /// The chips in use are exactly the first m of the pipeline order.
    Prefix,
}

impl NoSkipping {
    pub fn name(self) -> &'static str {
        match self {
            NoSkipping::Off => "off",
            NoSkipping::Edge => "edge",
            NoSkipping::Prefix => "prefix",
        }
    }
}

/// Which partition constraints this package imposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    pub acyclic_dataflow: bool,
    pub no_skipping: NoSkipping,
    pub no_triangle: bool,
    pub sram_capacity: bool,
}

impl Constraints {
    /// No constraint at all.
    pub fn none() -> Constraints {
        Constraints {
            acyclic_dataflow: false,
            no_skipping: NoSkipping::Off,
            no_triangle: false,
            sram_capacity: false,
        }
    }
}

/// A validated hardware spec.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HwSpec {
    pub name: String,
    pub source: Vec<String>,
    pub notes: String,
    pub clock_mhz: f64,
    pub chiplet_types: Vec<ChipletType>,
    pub chiplets: Vec<Chiplet>,
    /// Sorted by (from, to); `links[i].id == LinkId(i)`.
    pub links: Vec<Link>,
    pub routing: Routing,
    pub routes: RouteTable,
    pub memory: Option<OffPackageMemory>,
    /// Router and endpoint costs beyond the links (`[interconnect]`; all
    /// zero when the spec has none: an ideal network whose packets pay only
    /// their links).
    pub interconnect: Interconnect,
    /// A permutation of the chiplet ids.
    pub pipeline_order: Vec<ChipletId>,
    pub constraints: Constraints,
    /// Human description of the interconnect: each generator's, then the
    /// count of explicit links, joined by " + ", e.g. "mesh 6x6" or
    /// "bidirectional chain of 4 + bidirectional chain of 4 + 8 explicit links";
    /// "no links" for a one-chiplet package without any.
    pub topology: String,
}

/// One-line facts about a spec, for `tessera specs`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpecSummary {
    pub n_chiplets: usize,
    pub n_links: usize,
    pub topology: String,
    pub total_sram_kib: u64,
    /// 2 ops per MAC × MACs per cycle × clock, over all chiplets.
    pub peak_tops: f64,
}

impl HwSpec {
    pub fn n_chiplets(&self) -> usize {
        self.chiplets.len()
    }

    /// The type of chiplet `id`.
    pub fn chiplet_type(&self, id: ChipletId) -> &ChipletType {
        &self.chiplet_types[self.chiplets[id.idx()].type_idx]
    }

    pub fn link(&self, id: LinkId) -> &Link {
        &self.links[id.idx()]
    }

    /// Position of each chiplet in the pipeline order.
    pub fn pipeline_positions(&self) -> Vec<usize> {
        let mut pos = vec![0; self.chiplets.len()];
        for (i, c) in self.pipeline_order.iter().enumerate() {
            pos[c.idx()] = i;
        }
        pos
    }

    pub fn summary(&self) -> SpecSummary {
        let total_sram_kib = self
            .chiplets
            .iter()
            .map(|c| self.chiplet_types[c.type_idx].sram_kib)
            .sum();
        let macs: u64 = self
            .chiplets
            .iter()
            .map(|c| self.chiplet_types[c.type_idx].macs_per_cycle)
            .sum();
        SpecSummary {
            n_chiplets: self.chiplets.len(),
            n_links: self.links.len(),
            topology: self.topology.clone(),
            total_sram_kib,
            peak_tops: 2.0 * macs as f64 * self.clock_mhz * 1e6 / 1e12,
        }
    }
}

/// The most chiplets a package may have. The route table holds a path for each
/// of the n² ordered pairs (of up to n − 1 links each) and is built by n
/// breadth-first searches, so n is bounded to keep reading a spec quick and its
/// tables small; 1024 is far beyond the packages in the literature (Simba has 36).
pub const MAX_CHIPLETS: usize = 1024;
/// Largest grid coordinate in a position: a grid has at most
/// `MAX_CHIPLETS` rows and columns.
pub const MAX_COORD: u64 = MAX_CHIPLETS as u64 - 1;
/// Largest systolic-array side (`array_rows`, `array_cols`).
pub const MAX_ARRAY_SIDE: u64 = 1 << 16;
/// Largest `macs_per_cycle`: the largest array, `MAX_ARRAY_SIDE²`.
pub const MAX_MACS_PER_CYCLE: u64 = MAX_ARRAY_SIDE * MAX_ARRAY_SIDE;
/// Largest rate per cycle (vector elements; SRAM, link and memory bandwidth).
pub const MAX_PER_CYCLE: u64 = 1 << 40;
/// Largest SRAM per chiplet: `sram_kib × 1024` bytes, summed over
/// `MAX_CHIPLETS` chiplets, stays below 2^60.
pub const MAX_SRAM_KIB: u64 = 1 << 40;
/// Largest off-package memory: `capacity_mib × 2^20` bytes stays below 2^60.
pub const MAX_CAPACITY_MIB: u64 = 1 << 40;
/// Most virtual channels per router input port (`[interconnect]`).
pub const MAX_VIRTUAL_CHANNELS: u64 = 64;
/// Deepest virtual-channel buffer, in flits (`[interconnect]`).
pub const MAX_BUFFER_FLITS: u64 = 1 << 16;
/// Largest latency or overhead in cycles: a route of `MAX_CHIPLETS − 1` hops
/// of it leaves 2^22 headroom for the simulator's sums over operations.
pub const MAX_CYCLES: u64 = 1 << 32;
/// Largest cycle count of one op on any chiplet type (`cost::op_cost`'s
/// `cycles`; 2^40 cycles are 18 minutes at 1 GHz for one op of one
/// micro-batch). A graph within the graph limits (`graph::MAX_*`) can exceed
/// it on a small chiplet, or on a large array with tiny GEMMs (each tile pays
/// `R + C − 2` cycles of fill and drain). So it is
/// checked where the graph meets the spec (`cost::bounded_op_cost`, for
/// every op and type by `problem::check_cycle_bounds`), and the refusal names
/// the op and the chiplet type.
pub const MAX_OP_CYCLES: u64 = 1 << 40;
/// Largest bound on one run's duration: every event of a simulation happens
/// when some activity (an op, a memory read, a packet on a link and its
/// latency) that started at an earlier event ends, so no event time exceeds
/// the sum of all activities' durations. `problem::check_cycle_bounds` refuses
/// a (spec, graph, options) whose sum (with the bytes moved added in, so that
/// byte tallies are bounded too) exceeds 2^62; the simulator's times, busy
/// cycles and byte counts then fit in `u64` with 2^62 to spare.
pub const MAX_RUN_CYCLES: u64 = 1 << 62;
/// Largest clock (1 THz).
pub const MAX_CLOCK_MHZ: f64 = 1e6;
/// Largest energy per MAC, SRAM byte, link bit or memory byte (1 µJ).
pub const MAX_ENERGY_PJ: f64 = 1e6;

#[cfg(test)]
mod tests;
