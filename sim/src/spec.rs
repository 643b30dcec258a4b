//! Hardware specs: the types of a multi-chip-module package (chiplet types and
//! instances, directed links, routing, clock, off-package memory, pipeline order,
//! partition constraints) and their strict reading from TOML.
//!
//! The file format is documented key by key in `docs/hw_spec.md`. Reading reports
//! every problem in a file at once, each naming file, line, column and field
//! path. No hardware number has a default: a key the model needs must be written.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

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
    /// Dimension-ordered: along the column (x) first, then the row (y); on a
    /// torus each dimension takes its shorter direction (ties: increasing).
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
    /// Human description of the interconnect, e.g. "mesh 6x6".
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

fn read_spec(root: &Node, sink: &Sink) -> Option<HwSpec> {
    let top = TableReader::new(root, String::new(), sink);
    let name = top.req_str("name");
    let source = read_source(&top);
    let notes = top.req_str("notes");
    let clock_mhz = top.req_positive("clock_mhz");

    let (chiplet_types, type_names) = read_chiplet_types(&top);
    let chiplets = read_chiplets(&top, &type_names);
    let n = chiplets.as_ref().map(|c| c.len());

    let mut positions: Vec<Option<([u32; 2], Pos, String)>> = chiplets
        .as_ref()
        .map(|cs| {
            cs.iter()
                .map(|(c, pos, field)| c.position.map(|p| (p, *pos, format!("{field}.position"))))
                .collect()
        })
        .unwrap_or_default();

    let mut drafts = Vec::new();
    let mut topology_desc = Vec::new();
    for t in top.table_array("topology") {
        read_generator(&t, n, &mut drafts, &mut positions, &mut topology_desc);
        t.finish();
    }
    for l in top.table_array("links") {
        if let Some(d) = read_link(&l, n) {
            drafts.push(d);
        }
        l.finish();
    }
    let links = n.map(|n| build_links(drafts, n, sink));
    if let Some(links) = &links
        && !links.is_empty()
        && topology_desc.is_empty()
    {
        topology_desc.push(format!("{} explicit links", links.len()));
    }

    let chiplets: Option<Vec<Chiplet>> = chiplets.map(|cs| {
        cs.into_iter()
            .zip(positions.iter())
            .map(|((mut c, _, _), p)| {
                c.position = p.as_ref().map(|(xy, _, _)| *xy);
                c
            })
            .collect()
    });
    if let Some(cs) = &chiplets {
        check_positions(&positions, sink);
        if cs.len() > 1 && links.as_ref().is_some_and(|l| l.is_empty()) {
            sink.error(
                top.pos(),
                "links",
                format!(
                    "{} chiplets but no links; add [[links]] or a [[topology]] generator",
                    cs.len()
                ),
            );
        }
    }

    let routing = match (&chiplets, &links) {
        (Some(cs), Some(links)) => read_routing(&top, cs, links),
        _ => {
            top.has("routing");
            None
        }
    };
    let memory = read_memory(&top, n);
    let pipeline_order = read_pipeline_order(&top, chiplets.as_deref());
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
        topology: topology_desc.join(" + "),
    })
}

fn read_source(top: &TableReader<'_>) -> Option<Vec<String>> {
    let r = top.req("source")?;
    let items = r.array()?;
    if items.is_empty() {
        top.sink()
            .error(r.pos(), "source", "must cite at least one source");
        return None;
    }
    let mut out = Vec::new();
    for (path, node) in &items {
        let v = ValueReader {
            node,
            path: path.clone(),
            sink: top.sink(),
        };
        out.push(v.str()?.to_string());
    }
    Some(out)
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
            let int = |k: &'static str| t.req_positive_int(k);
            let macs = int(CHIPLET_TYPE_KEYS[0]);
            let rows = int(CHIPLET_TYPE_KEYS[1]);
            let cols = int(CHIPLET_TYPE_KEYS[2]);
            let vector = int(CHIPLET_TYPE_KEYS[3]);
            let sram = int(CHIPLET_TYPE_KEYS[4]);
            let sram_bw = int(CHIPLET_TYPE_KEYS[5]);
            let overhead = t.req_int(CHIPLET_TYPE_KEYS[6]);
            let e_mac = t.req_nonneg(CHIPLET_TYPE_KEYS[7]);
            let e_sram = t.req_nonneg(CHIPLET_TYPE_KEYS[8]);
            if let (Some(m), Some(r), Some(c)) = (macs, rows, cols)
                && m != r * c
            {
                t.sink().error(
                    t.pos(),
                    &t.field("macs_per_cycle"),
                    format!(
                        "is {m} but the {r} × {c} systolic array performs {} MACs per cycle",
                        r * c
                    ),
                );
                return None;
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

/// Reads `[[chiplets]]`: each entry has `type` and either `id` (with optional
/// `position`) or `id_range = [first, last]` (inclusive). Ids must be exactly
/// `0..n`. Returns chiplets sorted by id with the position and field of their
/// entry.
fn read_chiplets(
    top: &TableReader<'_>,
    type_names: &[String],
) -> Option<Vec<(Chiplet, Pos, String)>> {
    let entries = top.table_array("chiplets");
    if entries.is_empty() {
        top.sink().error(
            top.pos(),
            "chiplets",
            "missing required key: at least one [[chiplets]] entry",
        );
        return None;
    }
    let mut by_id: BTreeMap<u64, (Chiplet, Pos, String)> = BTreeMap::new();
    let mut ok = true;
    for t in entries {
        let ty_reader = t.req("type");
        let ty = ty_reader.as_ref().and_then(|r| r.str());
        let type_idx = ty.and_then(|ty| {
            let idx = type_names.iter().position(|n| n == ty);
            if idx.is_none() && !type_names.is_empty() {
                t.sink().error(
                    ty_reader.as_ref().map_or(t.pos(), |r| r.pos()),
                    &t.field("type"),
                    format!(
                        "unknown chiplet type {ty:?}; defined types: {}",
                        type_names.join(", ")
                    ),
                );
            }
            idx
        });
        let id = t.opt("id").map(|r| r.int_at_least(0));
        let range = t.opt("id_range").map(|r| (r.pos(), r.int_array(0)));
        let position = t.opt("position").map(|r| r.int_array(0));
        let ids: Option<Vec<u64>> = match (id, range) {
            (Some(id), None) => id.map(|i| vec![i]),
            (None, Some((pos, r))) => match r.as_deref() {
                Some([a, b]) if a <= b => Some((*a..=*b).collect()),
                Some(_) => {
                    t.sink().error(
                        pos,
                        &t.field("id_range"),
                        "must be [first, last] with first ≤ last (inclusive)",
                    );
                    None
                }
                None => None,
            },
            (Some(_), Some(_)) => {
                t.sink()
                    .error(t.pos(), t.path(), "give either `id` or `id_range`, not both");
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
        };
        let position = match position {
            None => None,
            Some(Some(p)) if p.len() == 2 => {
                if ids.as_ref().is_some_and(|ids| ids.len() != 1) {
                    t.sink().error(
                        t.pos(),
                        &t.field("position"),
                        "a position belongs to a single `id`, not an `id_range`",
                    );
                    ok = false;
                }
                match (u32::try_from(p[0]), u32::try_from(p[1])) {
                    (Ok(r), Ok(c)) => Some([r, c]),
                    _ => {
                        t.sink()
                            .error(t.pos(), &t.field("position"), "coordinates are too large");
                        ok = false;
                        None
                    }
                }
            }
            Some(Some(_)) => {
                t.sink()
                    .error(t.pos(), &t.field("position"), "must be [row, col]");
                ok = false;
                None
            }
            Some(None) => {
                ok = false;
                None
            }
        };
        let key_field = if t.has("id") { "id" } else { "id_range" };
        if let (Some(ids), Some(type_idx)) = (ids, type_idx) {
            for id in ids {
                if id > u32::MAX as u64 {
                    t.sink().error(t.pos(), &t.field(key_field), "id is too large");
                    ok = false;
                    continue;
                }
                if let Some((_, _, first)) = by_id.get(&id) {
                    t.sink().error(
                        t.pos(),
                        &t.field(key_field),
                        format!("duplicate chiplet id {id} (already defined by {first})"),
                    );
                    ok = false;
                    continue;
                }
                by_id.insert(
                    id,
                    (
                        Chiplet {
                            id: ChipletId(id as u32),
                            type_idx,
                            position,
                        },
                        t.pos(),
                        t.path().to_string(),
                    ),
                );
            }
        } else {
            ok = false;
        }
        t.finish();
    }
    if !ok {
        return None;
    }
    let n = by_id.len() as u64;
    if let Some((&max, (_, pos, field))) = by_id.iter().next_back()
        && max != n - 1
    {
        let missing: Vec<String> = (0..=max)
            .filter(|i| !by_id.contains_key(i))
            .take(8)
            .map(|i| i.to_string())
            .collect();
        top.sink().error(
            *pos,
            field,
            format!(
                "chiplet ids must be exactly 0..{} with none missing; missing: {}",
                n - 1,
                missing.join(", ")
            ),
        );
        return None;
    }
    Some(by_id.into_values().collect())
}

fn read_link_props(t: &TableReader<'_>) -> (Option<u64>, Option<u64>, Option<f64>) {
    (
        t.req_positive_int("bandwidth_bytes_per_cycle"),
        t.req_int("latency_cycles"),
        t.req_nonneg("energy_per_bit_pj"),
    )
}

fn read_link(t: &TableReader<'_>, n: Option<usize>) -> Option<LinkDraft> {
    let from = t.req_int("from");
    let to = t.req_int("to");
    let (bw, lat, energy) = read_link_props(t);
    let mut ok = true;
    for (key, v) in [("from", from), ("to", to)] {
        if let (Some(v), Some(n)) = (v, n)
            && v >= n as u64
        {
            t.sink().error(
                t.pos(),
                &t.field(key),
                format!(
                    "links to unknown chiplet {v}; chiplet ids are 0..{}",
                    n - 1
                ),
            );
            ok = false;
        }
    }
    if let (Some(f), Some(to)) = (from, to)
        && f == to
    {
        t.sink().error(
            t.pos(),
            &t.field("to"),
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

/// Expands a `[[topology]]` generator into link drafts (and grid positions for
/// meshes and tori).
fn read_generator(
    t: &TableReader<'_>,
    n: Option<usize>,
    drafts: &mut Vec<LinkDraft>,
    positions: &mut [Option<([u32; 2], Pos, String)>],
    desc: &mut Vec<String>,
) {
    const KINDS: &[&str] = &["ring", "chain", "mesh", "torus", "all_to_all"];
    let kind = t.req_word("kind", KINDS);
    let chips = t.opt("chips").map(|r| (r.pos(), r.int_array(0)));
    let (bw, lat, energy) = read_link_props(t);
    let Some(kind) = kind else { return };
    let (bidirectional, dims) = match kind.as_str() {
        "ring" | "chain" => (t.req_bool("bidirectional"), None),
        "mesh" | "torus" => (
            Some(true),
            Some((t.req_positive_int("rows"), t.req_positive_int("cols"))),
        ),
        _ => (Some(true), None),
    };
    let Some(n) = n else { return };
    let chips: Vec<u64> = match chips {
        None => (0..n as u64).collect(),
        Some((_, None)) => return,
        Some((pos, Some(list))) => {
            let mut seen = BTreeSet::new();
            for &c in &list {
                if c >= n as u64 {
                    t.sink().error(
                        pos,
                        &t.field("chips"),
                        format!("unknown chiplet {c}; chiplet ids are 0..{}", n - 1),
                    );
                    return;
                }
                if !seen.insert(c) {
                    t.sink().error(
                        pos,
                        &t.field("chips"),
                        format!("chiplet {c} is listed twice"),
                    );
                    return;
                }
            }
            list
        }
    };
    let (Some(bw), Some(lat), Some(energy), Some(bidirectional)) = (bw, lat, energy, bidirectional)
    else {
        return;
    };
    let k = chips.len();
    let min = match kind.as_str() {
        "ring" => 3,
        _ => 2,
    };
    if k < min {
        t.sink().error(
            t.pos(),
            &t.field("chips"),
            format!("a {kind} needs at least {min} chiplets, found {k}"),
        );
        return;
    }
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    match kind.as_str() {
        "ring" | "chain" => {
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
        "mesh" | "torus" => {
            let Some((Some(rows), Some(cols))) = dims else {
                return;
            };
            if rows * cols != k as u64 {
                t.sink().error(
                    t.pos(),
                    &t.field("rows"),
                    format!("rows × cols = {rows} × {cols} = {} but the grid has {k} chiplets", rows * cols),
                );
                return;
            }
            if kind == "torus" && (rows < 3 || cols < 3) {
                t.sink().error(
                    t.pos(),
                    &t.field("rows"),
                    "a torus needs at least 3 rows and 3 columns (smaller wraps duplicate mesh links)",
                );
                return;
            }
            let (rows, cols) = (rows as usize, cols as usize);
            let at = |r: usize, c: usize| chips[r * cols + c];
            for r in 0..rows {
                for c in 0..cols {
                    let here = at(r, c);
                    let slot = &mut positions[here as usize];
                    let xy = [r as u32, c as u32];
                    match slot {
                        Some((old, pos, field)) if *old != xy => {
                            t.sink().error(
                                *pos,
                                field,
                                format!(
                                    "chiplet {here} is at {old:?} but the {kind} generator places it at {xy:?}"
                                ),
                            );
                        }
                        Some(_) => {}
                        None => *slot = Some((xy, t.pos(), t.path().to_string())),
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

fn build_links(mut drafts: Vec<LinkDraft>, n: usize, sink: &Sink) -> Vec<Link> {
    drafts.retain(|d| (d.from as usize) < n && (d.to as usize) < n);
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

fn check_positions(positions: &[Option<([u32; 2], Pos, String)>], sink: &Sink) {
    let mut seen: BTreeMap<[u32; 2], usize> = BTreeMap::new();
    for (id, p) in positions.iter().enumerate() {
        if let Some((xy, pos, field)) = p
            && let Some(other) = seen.insert(*xy, id)
        {
            sink.error(
                *pos,
                field,
                format!("chiplets {other} and {id} share position {xy:?}"),
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

fn read_routing(
    top: &TableReader<'_>,
    chiplets: &[Chiplet],
    links: &[Link],
) -> Option<(Routing, RouteTable)> {
    let t = top.req_table("routing")?;
    let n = chiplets.len();
    let kind = t.req_word("kind", &["shortest_path", "xy", "table"]);
    let result = match kind.as_deref() {
        Some("shortest_path") => {
            let paths = shortest_paths(links, n);
            report_unreachable(&paths, n, &t).map(|p| (Routing::ShortestPath, p))
        }
        Some("xy") => xy_routes(chiplets, links, &t).map(|p| (Routing::Xy, p)),
        Some("table") => table_routes(chiplets, links, &t),
        _ => None,
    };
    t.finish();
    let (routing, paths) = result?;
    Some((routing, RouteTable { n_chiplets: n, paths }))
}

fn report_unreachable(
    paths: &[Option<Vec<LinkId>>],
    n: usize,
    t: &TableReader<'_>,
) -> Option<Vec<Vec<LinkId>>> {
    let mut ok = true;
    for dst in 0..n {
        let from: Vec<String> = (0..n)
            .filter(|&src| paths[src * n + dst].is_none())
            .map(|s| s.to_string())
            .collect();
        if !from.is_empty() {
            ok = false;
            t.sink().error(
                t.pos(),
                &t.field("kind"),
                format!(
                    "no route reaches chiplet {dst} from chiplet(s) {}; every chiplet must reach every other",
                    from.join(", ")
                ),
            );
        }
    }
    ok.then(|| paths.iter().map(|p| p.clone().unwrap_or_default()).collect())
}

/// Dimension-ordered routes over chiplet positions.
fn xy_routes(
    chiplets: &[Chiplet],
    links: &[Link],
    t: &TableReader<'_>,
) -> Option<Vec<Vec<LinkId>>> {
    let n = chiplets.len();
    let missing: Vec<String> = chiplets
        .iter()
        .filter(|c| c.position.is_none())
        .map(|c| c.id.to_string())
        .collect();
    if !missing.is_empty() {
        t.sink().error(
            t.pos(),
            &t.field("kind"),
            format!(
                "xy routing needs a position for every chiplet; chiplet(s) {} have none",
                missing.join(", ")
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
    let walk = |pos: [u32; 2], target: u32, dim: usize, dir: i64| -> Option<(Vec<LinkId>, [u32; 2])> {
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
    let mut ok = true;
    for src in chiplets {
        for dst in chiplets {
            if src.id == dst.id {
                continue;
            }
            let mut here = src.position.expect("checked");
            let goal = dst.position.expect("checked");
            let mut path = Vec::new();
            // Column (x) first, then row (y).
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
                        ok = false;
                        t.sink().error(
                            t.pos(),
                            &t.field("kind"),
                            format!(
                                "xy routing from chiplet {} at {:?} to chiplet {} at {goal:?}: no chain of links along {} from {here:?}",
                                src.id,
                                src.position.expect("checked"),
                                dst.id,
                                if dim == 1 { "the row (x)" } else { "the column (y)" }
                            ),
                        );
                        break;
                    }
                }
            }
            paths[src.id.idx() * n + dst.id.idx()] = path;
        }
    }
    ok.then_some(paths)
}

fn table_routes(
    chiplets: &[Chiplet],
    links: &[Link],
    t: &TableReader<'_>,
) -> Option<(Routing, Vec<Vec<LinkId>>)> {
    let n = chiplets.len();
    let fallback = t.req_word("fallback", &["shortest_path", "none"]);
    let link_between: BTreeMap<(u64, u64), LinkId> = links
        .iter()
        .map(|l| ((l.from.0 as u64, l.to.0 as u64), l.id))
        .collect();
    let mut explicit: BTreeMap<(u64, u64), (Vec<LinkId>, Vec<ChipletId>)> = BTreeMap::new();
    let mut ok = true;
    for r in t.table_array("routes") {
        let path = r.req("path").and_then(|v| v.int_array(0));
        r.finish();
        let Some(path) = path else {
            ok = false;
            continue;
        };
        if path.len() < 2 {
            r.sink()
                .error(r.pos(), &r.field("path"), "a route lists at least two chiplets");
            ok = false;
            continue;
        }
        let mut hops = Vec::new();
        for w in path.windows(2) {
            match link_between.get(&(w[0], w[1])) {
                Some(l) => hops.push(*l),
                None => {
                    r.sink().error(
                        r.pos(),
                        &r.field("path"),
                        format!("no link {} → {} for this route", w[0], w[1]),
                    );
                    ok = false;
                    break;
                }
            }
        }
        let mut seen = BTreeSet::new();
        if !path.iter().all(|c| seen.insert(*c)) {
            r.sink()
                .error(r.pos(), &r.field("path"), "a route visits a chiplet twice");
            ok = false;
        }
        let key = (path[0], path[path.len() - 1]);
        if hops.len() == path.len() - 1 {
            let chips = path.iter().map(|&c| ChipletId(c as u32)).collect();
            if explicit.insert(key, (hops, chips)).is_some() {
                r.sink().error(
                    r.pos(),
                    &r.field("path"),
                    format!("a route {} → {} is already listed", key.0, key.1),
                );
                ok = false;
            }
        }
    }
    let fallback = fallback?;
    if !ok {
        return None;
    }
    let shortest = shortest_paths(links, n);
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
                None if fallback == "shortest_path" => match &shortest[i] {
                    Some(p) => paths[i] = p.clone(),
                    None => unrouted.push(format!("{src}→{dst}")),
                },
                None => unrouted.push(format!("{src}→{dst}")),
            }
        }
    }
    if !unrouted.is_empty() {
        let shown: Vec<&str> = unrouted.iter().take(8).map(String::as_str).collect();
        t.sink().error(
            t.pos(),
            &t.field("routes"),
            format!(
                "{} chiplet pair(s) have no route (e.g. {}); list them or set fallback = \"shortest_path\"",
                unrouted.len(),
                shown.join(", ")
            ),
        );
        return None;
    }
    let routes = explicit.into_values().map(|(_, chips)| chips).collect();
    Some((
        Routing::Table {
            routes,
            fallback_shortest_path: fallback == "shortest_path",
        },
        paths,
    ))
}

/// `Some(None)` when there is no memory, `None` on error.
fn read_memory(top: &TableReader<'_>, n: Option<usize>) -> Option<Option<OffPackageMemory>> {
    let Some(t) = top.opt_table("memory") else {
        // A present but mistyped [memory] was reported by opt_table.
        return if top.has("memory") { None } else { Some(None) };
    };
    let capacity = t.req_positive_int("capacity_mib");
    let bw = t.req_positive_int("bandwidth_bytes_per_cycle");
    let lat = t.req_int("latency_cycles");
    let energy = t.req_nonneg("energy_per_byte_pj");
    let streaming = t.req_bool("weight_streaming");
    let chiplets = t.req("chiplets").and_then(|r| match &r.node.val {
        config::Val::Str(_) => r.word(&["all"]).and(n).map(|n| (0..n as u64).collect()),
        _ => {
            let list = r.int_array(0)?;
            let n = n?;
            let mut out = BTreeSet::new();
            for c in list {
                if c >= n as u64 {
                    r.sink.error(
                        r.pos(),
                        &r.path,
                        format!("unknown chiplet {c}; chiplet ids are 0..{}", n - 1),
                    );
                    return None;
                }
                if !out.insert(c) {
                    r.sink
                        .error(r.pos(), &r.path, format!("chiplet {c} is listed twice"));
                    return None;
                }
            }
            if out.is_empty() {
                r.sink.error(
                    r.pos(),
                    &r.path,
                    "no chiplet reaches the memory; list at least one or write \"all\"",
                );
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
fn read_pipeline_order(top: &TableReader<'_>, chiplets: Option<&[Chiplet]>) -> Option<Vec<ChipletId>> {
    let r = top.req("pipeline_order")?;
    let chiplets = chiplets?;
    let n = chiplets.len();
    if let config::Val::Str(_) = r.node.val {
        return match r.word(&["ascending", "snake"])? {
            "ascending" => Some((0..n as u32).map(ChipletId).collect()),
            _ => {
                if chiplets.iter().any(|c| c.position.is_none()) {
                    r.sink.error(
                        r.pos(),
                        &r.path,
                        "\"snake\" needs a position for every chiplet (use a mesh or torus generator, or `position`)",
                    );
                    return None;
                }
                let mut order: Vec<(u32, i64, ChipletId)> = chiplets
                    .iter()
                    .map(|c| {
                        let [row, col] = c.position.expect("checked");
                        let key = if row % 2 == 0 { col as i64 } else { -(col as i64) };
                        (row, key, c.id)
                    })
                    .collect();
                order.sort();
                Some(order.into_iter().map(|(_, _, id)| id).collect())
            }
        };
    }
    let list = r.int_array(0)?;
    let mut seen = vec![false; n];
    let mut problems = Vec::new();
    for &c in &list {
        if c >= n as u64 {
            problems.push(format!("unknown chiplet {c}"));
        } else if std::mem::replace(&mut seen[c as usize], true) {
            problems.push(format!("chiplet {c} appears twice"));
        }
    }
    let absent: Vec<String> = (0..n).filter(|&i| !seen[i]).map(|i| i.to_string()).collect();
    if !absent.is_empty() {
        problems.push(format!("missing chiplet(s) {}", absent.join(", ")));
    }
    if !problems.is_empty() {
        r.sink.error(
            r.pos(),
            &r.path,
            format!(
                "must be a permutation of the {n} chiplet ids: {}",
                problems.join("; ")
            ),
        );
        return None;
    }
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
