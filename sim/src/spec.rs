//! Hardware specs: the types of a multi-chip-module package (chiplet types and
//! instances, directed links, routing, clock, off-package memory, pipeline order,
//! partition constraints) and their strict reading from TOML.
//!
//! The file format is documented key by key in `docs/hw_spec.md`. Reading reports
//! every problem in a file at once, each naming file, line, column and field
//! path. No hardware number has a default: a key the model needs must be written.
//! Every number has an upper limit (the `MAX_*` constants), so that no later
//! product or sum over chiplets can overflow. A check that depends on a part
//! already reported as broken (routes over a failed generator, say) is skipped
//! rather than made to restate that error.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::ops::RangeInclusive;

use serde::Serialize;

use crate::config::{self, Diagnostics, Node, Pos, Sink, TableReader, ValueReader};

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Constraints {
    pub acyclic_dataflow: bool,
    pub no_skipping: NoSkipping,
    pub no_triangle: bool,
    pub sram_capacity: bool,
}

/// All-pairs routes as link sequences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteTable {
    n_chiplets: usize,
    paths: Vec<Vec<LinkId>>,
}

impl RouteTable {
    /// Links from `src` to `dst` in order (empty when `src == dst`).
    pub fn path(&self, src: ChipletId, dst: ChipletId) -> &[LinkId] {
        &self.paths[src.idx() * self.n_chiplets + dst.idx()]
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
    /// A permutation of the chiplet ids.
    pub pipeline_order: Vec<ChipletId>,
    pub constraints: Constraints,
    /// Human description of the interconnect: each generator's, then the
    /// count of explicit links, joined by " + ", e.g. "mesh 6x6" or
    /// "bidirectional chain of 4 + bidirectional chain of 4 + 8 explicit links".
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
    /// Parses and validates a spec. `file` is used in messages only.
    pub fn from_toml_str(text: &str, file: &str) -> Result<HwSpec, Diagnostics> {
        let root = config::parse(text, file)?;
        HwSpec::from_node(&root, file)
    }

    /// Validates a spec from a parsed TOML tree (scenarios apply overrides to
    /// the tree first, keeping positions for messages).
    pub fn from_node(root: &Node, file: &str) -> Result<HwSpec, Diagnostics> {
        let sink = Sink::new(file);
        let spec = read_spec(root, &sink);
        match spec {
            Some(spec) if !sink.has_errors() => Ok(spec),
            _ => {
                let d = sink.into_diagnostics();
                assert!(!d.0.is_empty(), "spec reading failed without a diagnostic");
                Err(d)
            }
        }
    }

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
/// Largest latency or overhead in cycles: a route of `MAX_CHIPLETS − 1` hops
/// of it leaves 2^22 headroom for the simulator's sums over operations.
pub const MAX_CYCLES: u64 = 1 << 32;
/// Largest clock (1 THz).
pub const MAX_CLOCK_MHZ: f64 = 1e6;
/// Largest energy per MAC, SRAM byte, link bit or memory byte (1 µJ).
pub const MAX_ENERGY_PJ: f64 = 1e6;

/// At most this many diagnostics of one kind about one field; the rest are
/// counted in a last one ("and N more …"), so one broken link does not bury
/// the file's other problems under a diagnostic per chiplet pair.
const MAX_REPEATED: usize = 4;
/// Items shown in one message's list before "and N more".
const LIST_SHOWN: usize = 8;

const CHIPLET_TYPE_KEYS: &[&str] = &[
    "macs_per_cycle",
    "array_rows",
    "array_cols",
    "vector_elems_per_cycle",
    "sram_kib",
    "sram_bandwidth_bytes_per_cycle",
    "op_overhead_cycles",
    "energy_per_mac_pj",
    "energy_per_sram_byte_pj",
];

/// Link properties as read (before ids are assigned).
#[derive(Clone, Debug)]
struct LinkDraft {
    from: u64,
    to: u64,
    bandwidth_bytes_per_cycle: u64,
    latency_cycles: u64,
    energy_per_bit_pj: f64,
    pos: Pos,
    field: String,
}

/// A chiplet's grid position and where it was given (an explicit `position`
/// or a mesh/torus generator): the place to report a conflict.
#[derive(Clone, Debug)]
struct Placed {
    xy: [u32; 2],
    pos: Pos,
    field: String,
    by_generator: bool,
}

/// What references to chiplets (from links, generators, routes, memory and the
/// pipeline order) are checked against. Known even when `[[chiplets]]` has
/// other errors, so that those references are still checked.
#[derive(Clone, Copy, Debug)]
struct Ids {
    /// The chiplet count, when every entry's ids were read and they are
    /// exactly `0..n`.
    n: Option<usize>,
    /// One past the highest id, when every entry's ids were read (gaps are
    /// possible, and reported).
    bound: Option<usize>,
}

impl Ids {
    /// Why `id` names no chiplet, when that can be told.
    fn unknown(&self, id: u64) -> Option<String> {
        match self.bound {
            Some(bound) if id >= bound as u64 => Some(format!(
                "unknown chiplet {id}; chiplet ids are 0 to {}",
                bound - 1
            )),
            None if id >= MAX_CHIPLETS as u64 => Some(format!(
                "unknown chiplet {id}; a package has at most {MAX_CHIPLETS} chiplets"
            )),
            _ => None,
        }
    }
}

/// `[[chiplets]]` as read.
struct ChipletsRead {
    /// Sorted by id, positions not yet filled in; `Some` only when every entry
    /// is valid.
    chiplets: Option<Vec<Chiplet>>,
    ids: Ids,
    /// Explicit positions by id (`ids.bound` long; empty when that is unknown).
    positions: Vec<Option<Placed>>,
}

/// The validated chiplets and links that routes are computed over.
#[derive(Clone, Copy)]
struct Net<'a> {
    chiplets: &'a [Chiplet],
    links: &'a [Link],
}

fn read_spec(root: &Node, sink: &Sink) -> Option<HwSpec> {
    let top = TableReader::new(root, String::new(), sink);
    let name = top.req_text("name");
    let source = read_source(&top);
    let notes = top.req_text("notes");
    // Optional: how to describe the interconnect when the links are written
    // out explicitly (a resolved spec keeps its generator's description).
    let topology_name = top
        .opt("topology_name")
        .and_then(|r| r.text().map(str::to_string));
    let clock_mhz = top.req_positive("clock_mhz", MAX_CLOCK_MHZ);

    let (chiplet_types, type_names) = read_chiplet_types(&top);
    let ChipletsRead {
        chiplets,
        ids,
        mut positions,
    } = read_chiplets(&top, &type_names);

    // Generators, explicit links and positions. The checks that need the
    // whole interconnect (at least one link, routes, "snake") are skipped when
    // this section reported anything: a broken generator makes no links, and
    // those checks would restate its error once per chiplet pair.
    let errors_before = sink.n_errors();
    let mut drafts = Vec::new();
    let mut topology_desc = Vec::new();
    for t in top.table_array("topology").tables {
        read_generator(&t, ids, &mut drafts, &mut positions, &mut topology_desc);
        t.finish();
    }
    let explicit = top.table_array("links").tables;
    for l in &explicit {
        if let Some(d) = read_link(l, ids) {
            drafts.push(d);
        }
        l.finish();
    }
    if !explicit.is_empty() {
        let s = if explicit.len() == 1 { "" } else { "s" };
        topology_desc.push(format!("{} explicit link{s}", explicit.len()));
    }
    let links = ids.bound.map(|bound| build_links(drafts, bound, sink));
    check_positions(&positions, sink);
    if let (Some(n), Some(links)) = (ids.n, &links)
        && n > 1
        && links.is_empty()
        && sink.n_errors() == errors_before
    {
        sink.error(
            top.pos(),
            "links",
            format!("{n} chiplets but no links; add [[links]] or a [[topology]] generator"),
        );
    }
    let topology_ok = sink.n_errors() == errors_before;

    let chiplets: Option<Vec<Chiplet>> = chiplets.map(|cs| {
        cs.into_iter()
            .map(|mut c| {
                c.position = positions[c.id.idx()].as_ref().map(|p| p.xy);
                c
            })
            .collect()
    });
    let net = match (&chiplets, &links) {
        (Some(chiplets), Some(links)) if topology_ok => Some(Net { chiplets, links }),
        _ => None,
    };
    let routing = read_routing(&top, ids, links.as_deref().filter(|_| topology_ok), net);
    let memory = read_memory(&top, ids);
    let pipeline_order = read_pipeline_order(&top, ids, net.map(|n| n.chiplets));
    let constraints = read_constraints(&top);
    top.finish();

    let (routing, routes) = routing?;
    Some(HwSpec {
        name: name?,
        source: source?,
        notes: notes?,
        clock_mhz: clock_mhz?,
        chiplet_types: chiplet_types?,
        chiplets: chiplets?,
        links: links?,
        routing,
        routes,
        memory: memory?,
        pipeline_order: pipeline_order?,
        constraints: constraints?,
        topology: topology_name.unwrap_or_else(|| topology_desc.join(" + ")),
    })
}

/// Reports `problems` at one place, one diagnostic each but at most
/// [`MAX_REPEATED`]; `rest(k)` describes the k left over.
fn report_capped(
    sink: &Sink,
    pos: Pos,
    field: &str,
    problems: &[String],
    rest: impl FnOnce(usize) -> String,
) {
    let shown = if problems.len() > MAX_REPEATED {
        MAX_REPEATED - 1
    } else {
        problems.len()
    };
    for p in &problems[..shown] {
        sink.error(pos, field, p.clone());
    }
    if shown < problems.len() {
        sink.error(pos, field, rest(problems.len() - shown));
    }
}

fn read_source(top: &TableReader<'_>) -> Option<Vec<String>> {
    let r = top.req("source")?;
    let items = r.array()?;
    if items.is_empty() {
        r.error("must cite at least one source");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (path, node) in &items {
        let v = ValueReader {
            node,
            path: path.clone(),
            sink: top.sink(),
        };
        match v.text() {
            Some(s) => out.push(s.to_string()),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Reads `[chiplet_types.NAME]` tables; returns the types (in file order) and
/// their names.
fn read_chiplet_types(top: &TableReader<'_>) -> (Option<Vec<ChipletType>>, Vec<String>) {
    let Some(types) = top.req_table("chiplet_types") else {
        return (None, Vec::new());
    };
    types.accept_all();
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut ok = true;
    if types.entries().is_empty() {
        types
            .sink()
            .error(types.pos(), "chiplet_types", "defines no chiplet type");
        ok = false;
    }
    for e in types.entries() {
        names.push(e.key.clone());
        let path = types.field(&e.key);
        let Some(t) = (ValueReader {
            node: &e.node,
            path,
            sink: types.sink(),
        })
        .table() else {
            ok = false;
            continue;
        };
        let read = (|| {
            let macs = t.req_positive_int(CHIPLET_TYPE_KEYS[0], MAX_MACS_PER_CYCLE);
            let rows = t.req_positive_int(CHIPLET_TYPE_KEYS[1], MAX_ARRAY_SIDE);
            let cols = t.req_positive_int(CHIPLET_TYPE_KEYS[2], MAX_ARRAY_SIDE);
            let vector = t.req_positive_int(CHIPLET_TYPE_KEYS[3], MAX_PER_CYCLE);
            let sram = t.req_positive_int(CHIPLET_TYPE_KEYS[4], MAX_SRAM_KIB);
            let sram_bw = t.req_positive_int(CHIPLET_TYPE_KEYS[5], MAX_PER_CYCLE);
            let overhead = t.req_int(CHIPLET_TYPE_KEYS[6], MAX_CYCLES);
            let e_mac = t.req_nonneg(CHIPLET_TYPE_KEYS[7], MAX_ENERGY_PJ);
            let e_sram = t.req_nonneg(CHIPLET_TYPE_KEYS[8], MAX_ENERGY_PJ);
            if let (Some(m), Some(r), Some(c)) = (macs, rows, cols) {
                // The limits keep r × c within 2^32; checked anyway, since a
                // wrapped product could equal `m` and pass.
                let performs = r.checked_mul(c);
                if performs != Some(m) {
                    let performs = performs.map_or("more than 2^64".to_string(), |p| p.to_string());
                    t.error_at(
                        "macs_per_cycle",
                        format!(
                            "is {m} but the {r} × {c} systolic array performs {performs} MACs per cycle"
                        ),
                    );
                    return None;
                }
            }
            Some(ChipletType {
                name: e.key.clone(),
                macs_per_cycle: macs?,
                array_rows: rows?,
                array_cols: cols?,
                vector_elems_per_cycle: vector?,
                sram_kib: sram?,
                sram_bandwidth_bytes_per_cycle: sram_bw?,
                op_overhead_cycles: overhead?,
                energy_per_mac_pj: e_mac?,
                energy_per_sram_byte_pj: e_sram?,
            })
        })();
        t.finish();
        match read {
            Some(ct) => out.push(ct),
            None => ok = false,
        }
    }
    (ok.then_some(out), names)
}

/// One `[[chiplets]]` entry's claim on an id.
struct IdClaim {
    type_idx: Option<usize>,
    /// The entry, e.g. `chiplets[2]`.
    entry: String,
    /// The `id` or `id_range` value that names the id.
    key_pos: Pos,
    key_field: String,
    position: Option<Placed>,
}

/// Reads `[[chiplets]]`: each entry has `type` and either `id` (with optional
/// `position`) or `id_range = [first, last]` (inclusive). Ids must be exactly
/// `0..n`, with `n ≤ MAX_CHIPLETS`. Every entry is read even when another is
/// broken, and what is known about the ids is returned for checking references.
fn read_chiplets(top: &TableReader<'_>, type_names: &[String]) -> ChipletsRead {
    let mut out = ChipletsRead {
        chiplets: None,
        ids: Ids {
            n: None,
            bound: None,
        },
        positions: Vec::new(),
    };
    let entries = top.table_array("chiplets");
    match entries.node {
        None => {
            top.sink().error(
                top.pos(),
                "chiplets",
                "missing required key: at least one [[chiplets]] entry",
            );
            return out;
        }
        Some(node) if entries.well_formed && entries.tables.is_empty() => {
            top.sink().error(
                node.pos,
                "chiplets",
                "has no entries; give at least one [[chiplets]] entry",
            );
            return out;
        }
        Some(_) => {}
    }
    let mut claims: BTreeMap<u64, IdClaim> = BTreeMap::new();
    // Whether every entry's ids were read, and whether everything was.
    let mut ids_complete = entries.well_formed;
    let mut ok = entries.well_formed;
    for t in &entries.tables {
        let type_idx = read_type_ref(t, type_names);
        let ids = read_chiplet_ids(t);
        let position = read_position(t, ids.as_ref().map(|(r, _)| r));
        ok &= type_idx.is_some() && ids.is_some() && position.is_ok();
        ids_complete &= ids.is_some();
        if let Some((range, key)) = ids {
            let mut duplicates: Vec<u64> = Vec::new();
            let mut first_by: Vec<String> = Vec::new();
            for id in range {
                if let Some(first) = claims.get(&id) {
                    duplicates.push(id);
                    if !first_by.contains(&first.entry) {
                        first_by.push(first.entry.clone());
                    }
                    continue;
                }
                let claim = IdClaim {
                    type_idx,
                    entry: t.path().to_string(),
                    key_pos: t.pos_of(key),
                    key_field: t.field(key),
                    position: position.clone().ok().flatten(),
                };
                claims.insert(id, claim);
            }
            if !duplicates.is_empty() {
                let what = match duplicates.as_slice() {
                    [id] => format!("duplicate chiplet id {id}"),
                    _ => format!(
                        "duplicate chiplet ids {}",
                        config::list(&duplicates, LIST_SHOWN)
                    ),
                };
                t.error_at(
                    key,
                    format!("{what} (already defined by {})", first_by.join(", ")),
                );
                ok = false;
            }
        }
        t.finish();
    }
    let Some((&max, last)) = claims.iter().next_back() else {
        return out;
    };
    if !ids_complete {
        // A gap may be the broken entry's ids: say nothing more about ids.
        return out;
    }
    let bound = max as usize + 1;
    out.ids.bound = Some(bound);
    out.positions = vec![None; bound];
    for (&id, claim) in &claims {
        out.positions[id as usize] = claim.position.clone();
    }
    let count = claims.len();
    if count != bound {
        let missing: Vec<u64> = (0..max).filter(|i| !claims.contains_key(i)).collect();
        top.sink().error(
            last.key_pos,
            &last.key_field,
            format!(
                "chiplet ids must be exactly 0 to {} with none missing; missing: {}",
                count - 1,
                config::list(&missing, LIST_SHOWN)
            ),
        );
        return out;
    }
    out.ids.n = Some(count);
    if ok {
        out.chiplets = claims
            .iter()
            .map(|(&id, claim)| {
                Some(Chiplet {
                    id: ChipletId(id as u32),
                    type_idx: claim.type_idx?,
                    position: None,
                })
            })
            .collect();
    }
    out
}

/// A `[[chiplets]]` entry's `type`, as an index into `type_names`.
fn read_type_ref(t: &TableReader<'_>, type_names: &[String]) -> Option<usize> {
    let r = t.req("type")?;
    let ty = r.str()?;
    let idx = type_names.iter().position(|n| n == ty);
    // With no type names, [chiplet_types] itself is broken and reported.
    if idx.is_none() && !type_names.is_empty() {
        r.error(format!(
            "unknown chiplet type {ty:?}; defined types: {}",
            type_names.join(", ")
        ));
    }
    idx
}

/// A `[[chiplets]]` entry's ids and the key that gave them. The last id is
/// checked against [`MAX_CHIPLETS`] before a range is expanded.
fn read_chiplet_ids(t: &TableReader<'_>) -> Option<(RangeInclusive<u64>, &'static str)> {
    let too_many = |key: &str, last: u64| {
        t.error_at(
            key,
            format!(
                "too many chiplets: id {last} is beyond the limit of {MAX_CHIPLETS} chiplets per package (ids 0 to {})",
                MAX_CHIPLETS - 1
            ),
        );
    };
    match (t.opt("id"), t.opt("id_range")) {
        (Some(r), None) => {
            let id = r.int_in(0, u64::MAX)?;
            if id >= MAX_CHIPLETS as u64 {
                too_many("id", id);
                return None;
            }
            Some((id..=id, "id"))
        }
        (None, Some(r)) => match *r.int_array(0, u64::MAX)? {
            [first, last] if first <= last => {
                if last >= MAX_CHIPLETS as u64 {
                    too_many("id_range", last);
                    return None;
                }
                Some((first..=last, "id_range"))
            }
            _ => {
                r.error("must be [first, last] with first ≤ last (inclusive)");
                None
            }
        },
        (Some(_), Some(_)) => {
            t.sink().error(
                t.pos(),
                t.path(),
                "give either `id` or `id_range`, not both",
            );
            None
        }
        (None, None) => {
            t.sink().error(
                t.pos(),
                &t.field("id"),
                "missing required key: each [[chiplets]] entry needs `id` or `id_range`",
            );
            None
        }
    }
}

/// A `[[chiplets]]` entry's explicit `position`; `Err` when it is reported as wrong.
fn read_position(
    t: &TableReader<'_>,
    ids: Option<&RangeInclusive<u64>>,
) -> Result<Option<Placed>, ()> {
    let Some(r) = t.opt("position") else {
        return Ok(None);
    };
    let coords = r.int_array(0, MAX_COORD).ok_or(())?;
    let [row, col] = *coords else {
        r.error("must be [row, col]");
        return Err(());
    };
    if ids.is_some_and(|ids| ids.start() != ids.end()) {
        r.error("a position belongs to a single `id`, not an `id_range`");
        return Err(());
    }
    Ok(Some(Placed {
        // MAX_COORD fits in 32 bits.
        xy: [row as u32, col as u32],
        pos: r.pos(),
        field: r.path.clone(),
        by_generator: false,
    }))
}

fn read_link_props(t: &TableReader<'_>) -> (Option<u64>, Option<u64>, Option<f64>) {
    (
        t.req_positive_int("bandwidth_bytes_per_cycle", MAX_PER_CYCLE),
        t.req_int("latency_cycles", MAX_CYCLES),
        t.req_nonneg("energy_per_bit_pj", MAX_ENERGY_PJ),
    )
}

fn read_link(t: &TableReader<'_>, ids: Ids) -> Option<LinkDraft> {
    let from = t.req_int("from", u64::MAX);
    let to = t.req_int("to", u64::MAX);
    let (bw, lat, energy) = read_link_props(t);
    let mut ok = true;
    for (key, v) in [("from", from), ("to", to)] {
        if let Some(why) = v.and_then(|v| ids.unknown(v)) {
            t.error_at(key, why);
            ok = false;
        }
    }
    if let (Some(f), Some(to)) = (from, to)
        && f == to
    {
        t.error_at(
            "to",
            format!("a link from chiplet {f} to itself is not allowed"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(LinkDraft {
        from: from?,
        to: to?,
        bandwidth_bytes_per_cycle: bw?,
        latency_cycles: lat?,
        energy_per_bit_pj: energy?,
        pos: t.pos(),
        field: t.path().to_string(),
    })
}

/// A generator's `chips` list, each id known and listed once; `None` when
/// reported as wrong.
fn read_generator_chips(r: &ValueReader<'_>, ids: Ids) -> Option<Vec<u64>> {
    let list = r.int_array(0, u64::MAX)?;
    let mut seen = BTreeSet::new();
    for &c in &list {
        if let Some(why) = ids.unknown(c) {
            r.error(why);
            return None;
        }
        if !seen.insert(c) {
            r.error(format!("chiplet {c} is listed twice"));
            return None;
        }
    }
    Some(list)
}

/// Expands a `[[topology]]` generator into link drafts (and grid positions for
/// meshes and tori). Size errors name the key that states the size: `chips`
/// when given, else `kind` (the generator then spans every chiplet); `rows`
/// or `cols` for grids.
fn read_generator(
    t: &TableReader<'_>,
    ids: Ids,
    drafts: &mut Vec<LinkDraft>,
    positions: &mut [Option<Placed>],
    desc: &mut Vec<String>,
) {
    const KINDS: &[&str] = &["ring", "chain", "mesh", "torus", "all_to_all"];
    let kind = t.req_word("kind", KINDS);
    let chips_reader = t.opt("chips");
    let (bw, lat, energy) = read_link_props(t);
    let Some(kind) = kind else {
        // Which other keys belong depends on the kind: accept them all rather
        // than call each one unknown.
        for key in ["bidirectional", "rows", "cols"] {
            t.has(key);
        }
        return;
    };
    let (bidirectional, dims) = match kind.as_str() {
        "ring" | "chain" => (t.req_bool("bidirectional"), None),
        "mesh" | "torus" => (
            Some(true),
            Some((
                t.req_positive_int("rows", MAX_CHIPLETS as u64),
                t.req_positive_int("cols", MAX_CHIPLETS as u64),
            )),
        ),
        _ => (Some(true), None),
    };
    let chips: Vec<u64> = match &chips_reader {
        Some(r) => match read_generator_chips(r, ids) {
            Some(list) => list,
            None => return,
        },
        None => match ids.n {
            Some(n) => (0..n as u64).collect(),
            None => return,
        },
    };
    let k = chips.len();
    let min = if kind == "ring" { 3 } else { 2 };
    if k < min {
        match chips_reader {
            Some(_) => t.error_at(
                "chips",
                format!("a {kind} needs at least {min} chiplets, found {k}"),
            ),
            None => t.error_at(
                "kind",
                format!(
                    "a {kind} needs at least {min} chiplets, found {k} (without `chips` it spans all the package's chiplets)"
                ),
            ),
        }
        return;
    }
    let grid = match dims {
        None => None,
        Some((Some(rows), Some(cols))) => {
            if rows.checked_mul(cols) != Some(k as u64) {
                let product = rows
                    .checked_mul(cols)
                    .map_or("more than 2^64".to_string(), |p| p.to_string());
                let has = if chips_reader.is_some() {
                    format!("`chips` lists {k}")
                } else {
                    format!("the package has {k} chiplets")
                };
                t.error_at(
                    "rows",
                    format!("rows × cols = {rows} × {cols} = {product} but {has}"),
                );
                return;
            }
            if kind == "torus" && (rows < 3 || cols < 3) {
                t.error_at(
                    if rows < 3 { "rows" } else { "cols" },
                    "a torus needs at least 3 rows and 3 columns (smaller wraps duplicate mesh links)",
                );
                return;
            }
            Some((rows as usize, cols as usize))
        }
        Some(_) => return,
    };
    let (Some(bw), Some(lat), Some(energy), Some(bidirectional)) = (bw, lat, energy, bidirectional)
    else {
        return;
    };
    if ids.bound.is_none() {
        // Without every chiplet id, links and positions cannot be placed.
        return;
    }
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    match (kind.as_str(), grid) {
        ("ring" | "chain", _) => {
            let m = if kind == "ring" { k } else { k - 1 };
            for i in 0..m {
                let (a, b) = (chips[i], chips[(i + 1) % k]);
                pairs.push((a, b));
                if bidirectional {
                    pairs.push((b, a));
                }
            }
            desc.push(format!(
                "{} {kind} of {k}",
                if bidirectional {
                    "bidirectional"
                } else {
                    "unidirectional"
                }
            ));
        }
        (_, Some((rows, cols))) => {
            let at = |r: usize, c: usize| chips[r * cols + c];
            for r in 0..rows {
                for c in 0..cols {
                    let here = at(r, c);
                    let xy = [r as u32, c as u32];
                    let slot = &mut positions[here as usize];
                    match slot {
                        Some(old) if old.xy == xy => {}
                        Some(old) if !old.by_generator => t.sink().error(
                            old.pos,
                            &old.field,
                            format!(
                                "chiplet {here} is at {:?} but the {kind} generator places it at {xy:?}",
                                old.xy
                            ),
                        ),
                        Some(old) => t.sink().error(
                            t.pos(),
                            t.path(),
                            format!(
                                "chiplet {here} is placed at {:?} by {} but this {kind} generator places it at {xy:?}",
                                old.xy, old.field
                            ),
                        ),
                        None => {}
                    }
                    // After a conflict (reported above) the generator's place
                    // wins, so that the same mistake is not also reported as
                    // two chiplets sharing a position.
                    if slot.as_ref().is_none_or(|old| old.xy != xy) {
                        *slot = Some(Placed {
                            xy,
                            pos: t.pos(),
                            field: t.path().to_string(),
                            by_generator: true,
                        });
                    }
                    let mut neighbours = Vec::new();
                    if c + 1 < cols {
                        neighbours.push(at(r, c + 1));
                    } else if kind == "torus" {
                        neighbours.push(at(r, 0));
                    }
                    if r + 1 < rows {
                        neighbours.push(at(r + 1, c));
                    } else if kind == "torus" {
                        neighbours.push(at(0, c));
                    }
                    for nb in neighbours {
                        pairs.push((here, nb));
                        pairs.push((nb, here));
                    }
                }
            }
            desc.push(format!("{kind} {rows}x{cols}"));
        }
        _ => {
            for &a in &chips {
                for &b in &chips {
                    if a != b {
                        pairs.push((a, b));
                    }
                }
            }
            desc.push(format!("all-to-all of {k}"));
        }
    }
    for (from, to) in pairs {
        drafts.push(LinkDraft {
            from,
            to,
            bandwidth_bytes_per_cycle: bw,
            latency_cycles: lat,
            energy_per_bit_pj: energy,
            pos: t.pos(),
            field: t.path().to_string(),
        });
    }
}

/// Sorts drafts into links (ids `0..`), reporting repeated `(from, to)` pairs.
/// Drafts naming a chiplet at or beyond `bound` were reported when read.
fn build_links(mut drafts: Vec<LinkDraft>, bound: usize, sink: &Sink) -> Vec<Link> {
    drafts.retain(|d| (d.from as usize) < bound && (d.to as usize) < bound);
    // Stable sort keeps file order among duplicates, so the later one is flagged.
    drafts.sort_by_key(|d| (d.from, d.to));
    let mut links: Vec<Link> = Vec::with_capacity(drafts.len());
    let mut prev: Option<&LinkDraft> = None;
    for d in &drafts {
        if let Some(p) = prev
            && (p.from, p.to) == (d.from, d.to)
        {
            sink.error(
                d.pos,
                &d.field,
                format!(
                    "duplicate link {} → {} (also defined by {})",
                    d.from, d.to, p.field
                ),
            );
            continue;
        }
        links.push(Link {
            id: LinkId(links.len() as u32),
            from: ChipletId(d.from as u32),
            to: ChipletId(d.to as u32),
            bandwidth_bytes_per_cycle: d.bandwidth_bytes_per_cycle,
            latency_cycles: d.latency_cycles,
            energy_per_bit_pj: d.energy_per_bit_pj,
        });
        prev = Some(d);
    }
    links
}

fn check_positions(positions: &[Option<Placed>], sink: &Sink) {
    let mut seen: BTreeMap<[u32; 2], usize> = BTreeMap::new();
    for (id, p) in positions.iter().enumerate() {
        if let Some(p) = p
            && let Some(other) = seen.insert(p.xy, id)
        {
            sink.error(
                p.pos,
                &p.field,
                format!("chiplets {other} and {id} share position {:?}", p.xy),
            );
        }
    }
}

/// Adjacency: for each chip, (neighbour, link) sorted by neighbour id.
fn adjacency(links: &[Link], n: usize) -> Vec<Vec<(usize, LinkId)>> {
    let mut adj = vec![Vec::new(); n];
    for l in links {
        adj[l.from.idx()].push((l.to.idx(), l.id));
    }
    // `links` is sorted by (from, to), so each list is already sorted.
    adj
}

/// Hop distances to `dst` from every chip (reverse BFS); `usize::MAX` if unreachable.
fn distances_to(dst: usize, links: &[Link], n: usize) -> Vec<usize> {
    let mut rev = vec![Vec::new(); n];
    for l in links {
        rev[l.to.idx()].push(l.from.idx());
    }
    let mut dist = vec![usize::MAX; n];
    dist[dst] = 0;
    let mut queue = VecDeque::from([dst]);
    while let Some(v) = queue.pop_front() {
        for &u in &rev[v] {
            if dist[u] == usize::MAX {
                dist[u] = dist[v] + 1;
                queue.push_back(u);
            }
        }
    }
    dist
}

/// Shortest-hop routes for every pair, ties broken toward the lexicographically
/// smallest chip sequence: walking greedily to the smallest-id neighbour that is
/// one hop closer gives exactly that sequence. `None` for unreachable pairs.
fn shortest_paths(links: &[Link], n: usize) -> Vec<Option<Vec<LinkId>>> {
    let adj = adjacency(links, n);
    let mut out = vec![None; n * n];
    for dst in 0..n {
        let dist = distances_to(dst, links, n);
        for src in 0..n {
            if dist[src] == usize::MAX {
                continue;
            }
            let mut path = Vec::with_capacity(dist[src]);
            let mut v = src;
            while v != dst {
                let &(next, link) = adj[v]
                    .iter()
                    .find(|(u, _)| dist[*u] == dist[v] - 1)
                    .expect("a closer neighbour exists on a shortest path");
                path.push(link);
                v = next;
            }
            out[src * n + dst] = Some(path);
        }
    }
    out
}

/// Explicit routes of `kind = "table"`, keyed by (first, last) chiplet.
type ExplicitRoutes = BTreeMap<(u64, u64), (Vec<LinkId>, Vec<ChipletId>)>;

/// Reads `[routing]`. Its keys are always checked; routes are computed only
/// over a valid interconnect (`net`), since over a broken one every failure
/// would restate an error already reported. A route failure names the field
/// `routing` and the chiplets concerned, at the `[routing]` header: the fix is
/// in the topology or the rule, not in one key.
fn read_routing(
    top: &TableReader<'_>,
    ids: Ids,
    links: Option<&[Link]>,
    net: Option<Net<'_>>,
) -> Option<(Routing, RouteTable)> {
    let t = top.req_table("routing")?;
    let kind = t.req_word("kind", &["shortest_path", "xy", "table"]);
    let table = match kind.as_deref() {
        Some("table") => read_route_table(&t, ids, links),
        Some(_) => None,
        None => {
            // Whether these keys belong depends on the kind.
            t.has("fallback");
            t.has("routes");
            None
        }
    };
    t.finish();
    let net = net?;
    let n = net.chiplets.len();
    let (routing, paths) = match kind.as_deref()? {
        "shortest_path" => (
            Routing::ShortestPath,
            report_unreachable(shortest_paths(net.links, n), n, &t)?,
        ),
        "xy" => (Routing::Xy, xy_routes(net, &t)?),
        _ => {
            let (fallback, explicit) = table?;
            table_paths(net, fallback, explicit, &t)?
        }
    };
    Some((
        routing,
        RouteTable {
            n_chiplets: n,
            paths,
        },
    ))
}

fn report_unreachable(
    paths: Vec<Option<Vec<LinkId>>>,
    n: usize,
    t: &TableReader<'_>,
) -> Option<Vec<Vec<LinkId>>> {
    let mut problems = Vec::new();
    for dst in 0..n {
        let from: Vec<usize> = (0..n)
            .filter(|&src| paths[src * n + dst].is_none())
            .collect();
        if !from.is_empty() {
            problems.push(format!(
                "no route reaches chiplet {dst} from chiplet(s) {}; every chiplet must reach every other",
                config::list(&from, LIST_SHOWN)
            ));
        }
    }
    if problems.is_empty() {
        return Some(paths.into_iter().map(Option::unwrap_or_default).collect());
    }
    report_capped(t.sink(), t.pos(), "routing", &problems, |rest| {
        format!("and {rest} more chiplets that some chiplet cannot reach")
    });
    None
}

/// Dimension-ordered routes over chiplet positions `[row, col]`: first in x
/// (the column index changes: the route moves within its row), then in y (the
/// row index changes: the route moves within the destination's column).
fn xy_routes(net: Net<'_>, t: &TableReader<'_>) -> Option<Vec<Vec<LinkId>>> {
    let Net { chiplets, links } = net;
    let n = chiplets.len();
    let missing: Vec<ChipletId> = chiplets
        .iter()
        .filter(|c| c.position.is_none())
        .map(|c| c.id)
        .collect();
    if !missing.is_empty() {
        t.sink().error(
            t.pos(),
            "routing",
            format!(
                "xy routing needs a position for every chiplet; chiplet(s) {} have none",
                config::list(&missing, LIST_SHOWN)
            ),
        );
        return None;
    }
    let at: BTreeMap<[u32; 2], usize> = chiplets
        .iter()
        .map(|c| (c.position.expect("checked above"), c.id.idx()))
        .collect();
    let rows = at.keys().map(|p| p[0]).max().unwrap_or(0) as i64 + 1;
    let cols = at.keys().map(|p| p[1]).max().unwrap_or(0) as i64 + 1;
    let link_between: BTreeMap<(usize, usize), LinkId> = links
        .iter()
        .map(|l| ((l.from.idx(), l.to.idx()), l.id))
        .collect();
    // Walk one dimension from `pos` toward `target` in direction `dir`, wrapping
    // at the grid edge; `None` if a needed chip or link is missing.
    let walk =
        |pos: [u32; 2], target: u32, dim: usize, dir: i64| -> Option<(Vec<LinkId>, [u32; 2])> {
            let size = if dim == 0 { rows } else { cols };
            let mut here = pos;
            let mut path = Vec::new();
            while here[dim] != target {
                let mut next = here;
                next[dim] = (here[dim] as i64 + dir).rem_euclid(size) as u32;
                let a = *at.get(&here)?;
                let b = *at.get(&next)?;
                path.push(*link_between.get(&(a, b))?);
                here = next;
                if path.len() as i64 > size {
                    return None;
                }
            }
            Some((path, here))
        };
    let mut paths = vec![Vec::new(); n * n];
    let mut problems = Vec::new();
    for src in chiplets {
        for dst in chiplets {
            if src.id == dst.id {
                continue;
            }
            let mut here = src.position.expect("checked");
            let goal = dst.position.expect("checked");
            let mut path = Vec::new();
            // x (dimension 1, the column index) first, then y (dimension 0, the row index).
            for dim in [1, 0] {
                let plus = walk(here, goal[dim], dim, 1);
                let minus = walk(here, goal[dim], dim, -1);
                let best = match (plus, minus) {
                    (Some(p), Some(m)) => Some(if m.0.len() < p.0.len() { m } else { p }),
                    (p, m) => p.or(m),
                };
                match best {
                    Some((segment, end)) => {
                        path.extend(segment);
                        here = end;
                    }
                    None => {
                        let along = if dim == 1 {
                            format!("in x (within row {}, changing the column)", here[0])
                        } else {
                            format!("in y (within column {}, changing the row)", here[1])
                        };
                        problems.push(format!(
                            "xy routing from chiplet {} at {:?} to chiplet {} at {goal:?}: no chain of links {along} from {here:?}",
                            src.id,
                            src.position.expect("checked"),
                            dst.id,
                        ));
                        break;
                    }
                }
            }
            paths[src.id.idx() * n + dst.id.idx()] = path;
        }
    }
    if problems.is_empty() {
        return Some(paths);
    }
    report_capped(t.sink(), t.pos(), "routing", &problems, |rest| {
        format!("and {rest} more chiplet pairs that xy routing cannot route")
    });
    None
}

/// Reads the keys of `kind = "table"`: `fallback` and `[[routing.routes]]`.
/// Each route is checked on its own (length, known chiplets, no chip twice,
/// one route per pair) and, when the links are known, against them. Returns
/// whether unlisted pairs fall back to shortest path, and the routes.
fn read_route_table(
    t: &TableReader<'_>,
    ids: Ids,
    links: Option<&[Link]>,
) -> Option<(bool, ExplicitRoutes)> {
    let fallback = t.req_word("fallback", &["shortest_path", "none"]);
    let link_between: Option<BTreeMap<(u64, u64), LinkId>> = links.map(|links| {
        links
            .iter()
            .map(|l| ((l.from.0 as u64, l.to.0 as u64), l.id))
            .collect()
    });
    let mut explicit = ExplicitRoutes::new();
    let routes = t.table_array("routes");
    let mut ok = routes.well_formed;
    for r in &routes.tables {
        let reader = r.req("path");
        let path = reader.as_ref().and_then(|v| v.int_array(0, u64::MAX));
        r.finish();
        let (Some(reader), Some(path)) = (reader, path) else {
            ok = false;
            continue;
        };
        if path.len() < 2 {
            reader.error("a route lists at least two chiplets");
            ok = false;
            continue;
        }
        if let Some(why) = path.iter().find_map(|&c| ids.unknown(c)) {
            reader.error(why);
            ok = false;
            continue;
        }
        let mut seen = BTreeSet::new();
        if !path.iter().all(|c| seen.insert(*c)) {
            reader.error("a route visits a chiplet twice");
            ok = false;
        }
        let Some(link_between) = &link_between else {
            ok = false;
            continue;
        };
        let mut hops = Vec::new();
        for w in path.windows(2) {
            match link_between.get(&(w[0], w[1])) {
                Some(l) => hops.push(*l),
                None => {
                    reader.error(format!("no link {} → {} for this route", w[0], w[1]));
                    ok = false;
                    break;
                }
            }
        }
        let key = (path[0], path[path.len() - 1]);
        if hops.len() == path.len() - 1 {
            let chips = path.iter().map(|&c| ChipletId(c as u32)).collect();
            if explicit.insert(key, (hops, chips)).is_some() {
                reader.error(format!("a route {} → {} is already listed", key.0, key.1));
                ok = false;
            }
        }
    }
    let fallback = fallback?;
    ok.then_some((fallback == "shortest_path", explicit))
}

/// Routes for every pair under `kind = "table"`: the listed route, else (with
/// the fallback) the shortest path.
fn table_paths(
    net: Net<'_>,
    fallback: bool,
    explicit: ExplicitRoutes,
    t: &TableReader<'_>,
) -> Option<(Routing, Vec<Vec<LinkId>>)> {
    let n = net.chiplets.len();
    let shortest = shortest_paths(net.links, n);
    let mut paths = vec![Vec::new(); n * n];
    let mut unrouted = Vec::new();
    for src in 0..n {
        for dst in 0..n {
            if src == dst {
                continue;
            }
            let i = src * n + dst;
            match explicit.get(&(src as u64, dst as u64)) {
                Some((p, _)) => paths[i] = p.clone(),
                None if fallback => match &shortest[i] {
                    Some(p) => paths[i] = p.clone(),
                    None => unrouted.push(format!("{src}→{dst}")),
                },
                None => unrouted.push(format!("{src}→{dst}")),
            }
        }
    }
    if !unrouted.is_empty() {
        let how = if fallback {
            "and no chain of links joins them"
        } else {
            "list them or set fallback = \"shortest_path\""
        };
        let field = if t.has("routes") {
            t.field("routes")
        } else {
            "routing".to_string()
        };
        t.sink().error(
            t.pos(),
            &field,
            format!(
                "{} chiplet pair(s) have no route: {}; {how}",
                unrouted.len(),
                config::list(&unrouted, LIST_SHOWN)
            ),
        );
        return None;
    }
    let routes = explicit.into_values().map(|(_, chips)| chips).collect();
    Some((
        Routing::Table {
            routes,
            fallback_shortest_path: fallback,
        },
        paths,
    ))
}

/// `Some(None)` when there is no memory, `None` on error.
fn read_memory(top: &TableReader<'_>, ids: Ids) -> Option<Option<OffPackageMemory>> {
    let Some(t) = top.opt_table("memory") else {
        // A present but mistyped [memory] was reported by opt_table.
        return if top.has("memory") { None } else { Some(None) };
    };
    let capacity = t.req_positive_int("capacity_mib", MAX_CAPACITY_MIB);
    let bw = t.req_positive_int("bandwidth_bytes_per_cycle", MAX_PER_CYCLE);
    let lat = t.req_int("latency_cycles", MAX_CYCLES);
    let energy = t.req_nonneg("energy_per_byte_pj", MAX_ENERGY_PJ);
    let streaming = t.req_bool("weight_streaming");
    let chiplets = t.req("chiplets").and_then(|r| match &r.node.val {
        config::Val::Str(_) => r.word(&["all"]).and(ids.n).map(|n| (0..n as u64).collect()),
        _ => {
            let list = r.int_array(0, u64::MAX)?;
            let mut out = BTreeSet::new();
            for c in list {
                if let Some(why) = ids.unknown(c) {
                    r.error(why);
                    return None;
                }
                if !out.insert(c) {
                    r.error(format!("chiplet {c} is listed twice"));
                    return None;
                }
            }
            if out.is_empty() {
                r.error("no chiplet reaches the memory; list at least one or write \"all\"");
                return None;
            }
            Some(out.into_iter().collect::<Vec<u64>>())
        }
    });
    t.finish();
    Some(Some(OffPackageMemory {
        capacity_mib: capacity?,
        bandwidth_bytes_per_cycle: bw?,
        latency_cycles: lat?,
        energy_per_byte_pj: energy?,
        chiplets: chiplets?.into_iter().map(|c| ChipletId(c as u32)).collect(),
        weight_streaming: streaming?,
    }))
}

/// `pipeline_order`: a permutation of chiplet ids, or "ascending", or "snake"
/// (boustrophedon over grid positions: row 0 left to right, row 1 right to left, …).
/// A list is checked for repeats and unknown ids even when `[[chiplets]]` has
/// errors; "snake" is checked only over a valid interconnect (`chiplets`),
/// since a broken generator leaves positions unset.
fn read_pipeline_order(
    top: &TableReader<'_>,
    ids: Ids,
    chiplets: Option<&[Chiplet]>,
) -> Option<Vec<ChipletId>> {
    let r = top.req("pipeline_order")?;
    if let config::Val::Str(_) = r.node.val {
        return match r.word(&["ascending", "snake"])? {
            "ascending" => ids.n.map(|n| (0..n as u32).map(ChipletId).collect()),
            _ => {
                let chiplets = chiplets?;
                let unplaced: Vec<ChipletId> = chiplets
                    .iter()
                    .filter(|c| c.position.is_none())
                    .map(|c| c.id)
                    .collect();
                if !unplaced.is_empty() {
                    r.error(format!(
                        "\"snake\" needs a position for every chiplet (use a mesh or torus generator, or `position`); chiplet(s) {} have none",
                        config::list(&unplaced, LIST_SHOWN)
                    ));
                    return None;
                }
                let mut order: Vec<(u32, i64, ChipletId)> = chiplets
                    .iter()
                    .map(|c| {
                        let [row, col] = c.position.expect("checked");
                        let key = if row % 2 == 0 {
                            col as i64
                        } else {
                            -(col as i64)
                        };
                        (row, key, c.id)
                    })
                    .collect();
                order.sort();
                Some(order.into_iter().map(|(_, _, id)| id).collect())
            }
        };
    }
    let list = r.int_array(0, u64::MAX)?;
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for &c in &list {
        *counts.entry(c).or_default() += 1;
    }
    let mut problems = Vec::new();
    for (&c, &k) in &counts {
        if ids.unknown(c).is_none() && k > 1 {
            problems.push(match k {
                2 => format!("chiplet {c} appears twice"),
                _ => format!("chiplet {c} appears {k} times"),
            });
        }
    }
    if problems.len() > LIST_SHOWN {
        let rest = problems.len() - LIST_SHOWN;
        problems.truncate(LIST_SHOWN);
        problems.push(format!("{rest} more chiplets appear more than once"));
    }
    let unknown: Vec<u64> = counts
        .keys()
        .copied()
        .filter(|&c| ids.unknown(c).is_some())
        .collect();
    match unknown.as_slice() {
        [] => {}
        [c] => problems.push(format!("unknown chiplet {c}")),
        _ => problems.push(format!(
            "unknown chiplets {}",
            config::list(&unknown, LIST_SHOWN)
        )),
    }
    if let Some(n) = ids.n {
        let absent: Vec<u64> = (0..n as u64).filter(|i| !counts.contains_key(i)).collect();
        if !absent.is_empty() {
            problems.push(format!(
                "missing chiplet(s) {}",
                config::list(&absent, LIST_SHOWN)
            ));
        }
    }
    if !problems.is_empty() {
        let of = ids.n.map_or(String::new(), |n| format!("{n} "));
        r.error(format!(
            "must be a permutation of the {of}chiplet ids: {}",
            problems.join("; ")
        ));
        return None;
    }
    ids.n?;
    Some(list.into_iter().map(|c| ChipletId(c as u32)).collect())
}

fn read_constraints(top: &TableReader<'_>) -> Option<Constraints> {
    let t = top.req_table("constraints")?;
    let acyclic = t.req_bool("acyclic_dataflow");
    let skipping = t.req_word("no_skipping", &["off", "edge", "prefix"]);
    let triangle = t.req_bool("no_triangle");
    let sram = t.req_bool("sram_capacity");
    t.finish();
    Some(Constraints {
        acyclic_dataflow: acyclic?,
        no_skipping: match skipping?.as_str() {
            "edge" => NoSkipping::Edge,
            "prefix" => NoSkipping::Prefix,
            _ => NoSkipping::Off,
        },
        no_triangle: triangle?,
        sram_capacity: sram?,
    })
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
