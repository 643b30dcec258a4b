//! Strict reading of a hardware spec from TOML: every key checked against its
//! schema and its limits, every reference to a chiplet checked against the
//! chiplets defined, and every problem in a file reported at once, each naming
//! file, line, column and field path. No hardware number has a default: a key
//! the model needs must be written. A check that depends on a part already
//! reported as broken (routes over a failed generator, say) is skipped rather
//! than made to restate that error.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use crate::config::{self, Diagnostics, Node, Pos, Sink, TableReader, ValueReader};

use super::routing::{self, ExplicitRoutes, Net, XyFailure};
use super::topology::read_generator;
use super::*;

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
}

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
pub(super) struct LinkDraft {
    pub from: u64,
    pub to: u64,
    pub bandwidth_bytes_per_cycle: u64,
    pub latency_cycles: u64,
    pub energy_per_bit_pj: f64,
    pub pos: Pos,
    pub field: String,
}

/// A chiplet's grid position and where it was given (an explicit `position`
/// or a mesh/torus generator): the place to report a conflict.
#[derive(Clone, Debug)]
pub(super) struct Placed {
    pub xy: [u32; 2],
    pub pos: Pos,
    pub field: String,
    pub by_generator: bool,
}

/// What references to chiplets (from links, generators, routes, memory and the
/// pipeline order) are checked against. Known even when `[[chiplets]]` has
/// other errors, so that those references are still checked.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ids {
    /// The chiplet count, when every entry's ids were read and they are
    /// exactly `0..n`.
    pub n: Option<usize>,
    /// One past the highest id, when every entry's ids were read (gaps are
    /// possible, and reported).
    pub bound: Option<usize>,
}

impl Ids {
    /// Why `id` names no chiplet, when that can be told.
    pub fn unknown(&self, id: u64) -> Option<String> {
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
    let interconnect = read_interconnect(&top);
    let pipeline_order = read_pipeline_order(&top, ids, net.map(|n| n.chiplets));
    let constraints = read_constraints(&top);
    let (routing, routes) = routing?;
    let interconnect = interconnect.and_then(|i| check_vc_classes(&top, i, &links, &routes));
    top.finish();

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
        interconnect: interconnect?,
        pipeline_order: pipeline_order?,
        constraints: constraints?,
        // Only a one-chiplet package may have no links (checked above).
        topology: topology_name.unwrap_or_else(|| {
            if topology_desc.is_empty() {
                "no links".to_string()
            } else {
                topology_desc.join(" + ")
            }
        }),
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

pub(super) fn read_link_props(t: &TableReader<'_>) -> (Option<u64>, Option<u64>, Option<f64>) {
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
            report_unreachable(routing::shortest_paths(net.links, n), n, &t)?,
        ),
        "xy" => (Routing::Xy, report_xy(routing::xy_routes(net), &t)?),
        _ => {
            let (fallback, explicit) = table?;
            report_table(routing::table_paths(net, fallback, explicit), fallback, &t)?
        }
    };
    Some((routing, RouteTable::new(n, paths)))
}

fn report_unreachable(
    paths: Vec<Option<Vec<LinkId>>>,
    n: usize,
    t: &TableReader<'_>,
) -> Option<Vec<Vec<LinkId>>> {
    let problems: Vec<String> = routing::unreachable(&paths, n)
        .into_iter()
        .map(|(dst, from)| {
            format!(
                "no route reaches chiplet {dst} from chiplet(s) {}; every chiplet must reach every other",
                config::list(&from, LIST_SHOWN)
            )
        })
        .collect();
    if problems.is_empty() {
        return Some(paths.into_iter().map(Option::unwrap_or_default).collect());
    }
    report_capped(t.sink(), t.pos(), "routing", &problems, |rest| {
        format!("and {rest} more chiplets that some chiplet cannot reach")
    });
    None
}

/// XY routes, or their failure reported at `[routing]`.
fn report_xy(
    routes: Result<Vec<Vec<LinkId>>, XyFailure>,
    t: &TableReader<'_>,
) -> Option<Vec<Vec<LinkId>>> {
    match routes {
        Ok(paths) => Some(paths),
        Err(XyFailure::Unplaced(missing)) => {
            t.sink().error(
                t.pos(),
                "routing",
                format!(
                    "xy routing needs a position for every chiplet; chiplet(s) {} have none",
                    config::list(&missing, LIST_SHOWN)
                ),
            );
            None
        }
        Err(XyFailure::Unroutable(problems)) => {
            report_capped(t.sink(), t.pos(), "routing", &problems, |rest| {
                format!("and {rest} more chiplet pairs that xy routing cannot route")
            });
            None
        }
    }
}

/// Table routes, or the pairs left without a route reported at `routes`.
fn report_table(
    routes: Result<(Routing, Vec<Vec<LinkId>>), Vec<String>>,
    fallback: bool,
    t: &TableReader<'_>,
) -> Option<(Routing, Vec<Vec<LinkId>>)> {
    let unrouted = match routes {
        Ok(routes) => return Some(routes),
        Err(unrouted) => unrouted,
    };
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

/// `[interconnect]`: the three latencies are required when the table is
/// there, and the three buffer keys come all together or not at all; an
/// ideal network (all zero, no buffers) when it is absent. `None` on error.
fn read_interconnect(top: &TableReader<'_>) -> Option<Interconnect> {
    let Some(t) = top.opt_table("interconnect") else {
        return if top.has("interconnect") {
            None
        } else {
            Some(Interconnect::default())
        };
    };
    let router = t.req_int("router_delay_cycles", MAX_CYCLES);
    let injection = t.req_int("injection_latency_cycles", MAX_CYCLES);
    let ejection = t.req_int("ejection_latency_cycles", MAX_CYCLES);
    const BUFFER_KEYS: [&str; 3] = ["flit_bytes", "virtual_channels", "buffer_flits"];
    let present: Vec<&str> = BUFFER_KEYS.iter().copied().filter(|k| t.has(k)).collect();
    let buffers = if present.is_empty() {
        Some(None)
    } else if present.len() < BUFFER_KEYS.len() {
        for k in BUFFER_KEYS.iter().filter(|k| !present.contains(k)) {
            t.error_at(
                k,
                format!(
                    "missing: buffered routers need all of {} (found only {})",
                    BUFFER_KEYS.join(", "),
                    present.join(", ")
                ),
            );
        }
        None
    } else {
        let flit = t.req_positive_int("flit_bytes", MAX_PER_CYCLE);
        let vcs = t.req_positive_int("virtual_channels", MAX_VIRTUAL_CHANNELS);
        let depth = t.req_positive_int("buffer_flits", MAX_BUFFER_FLITS);
        // The buffered pipeline needs a cycle each for VC and switch
        // allocation, and a flit needs at least a cycle to enter the router.
        if let (Some(r), Some(_)) = (router, vcs)
            && r < 2
        {
            t.error_at(
                "router_delay_cycles",
                format!("buffered routers need router_delay_cycles >= 2 (VC and switch allocation take a cycle each), found {r}"),
            );
        }
        if let (Some(i), Some(_)) = (injection, vcs)
            && i < 1
        {
            t.error_at(
                "injection_latency_cycles",
                "buffered routers need injection_latency_cycles >= 1 (the injection channel), found 0",
            );
        }
        match (flit, vcs, depth, router, injection) {
            (Some(f), Some(v), Some(d), Some(r), Some(i)) if r >= 2 && i >= 1 => {
                Some(Some(RouterBuffers {
                    flit_bytes: f,
                    virtual_channels: v as u32,
                    buffer_flits: d as u32,
                }))
            }
            _ => None,
        }
    };
    t.finish();
    Some(Interconnect {
        router_delay_cycles: router?,
        injection_latency_cycles: injection?,
        ejection_latency_cycles: ejection?,
        buffers: buffers?,
    })
}

/// Buffered routers need a virtual channel per VC class their routes need
/// for deadlock freedom (`sim::fabric::buffered`). `None` on error.
fn check_vc_classes(
    top: &TableReader<'_>,
    i: Interconnect,
    links: &Option<Vec<Link>>,
    routes: &RouteTable,
) -> Option<Interconnect> {
    let (Some(b), Some(links)) = (i.buffers, links) else {
        return Some(i);
    };
    let needed = crate::fabric::buffered::required_vc_classes(links, routes.n_chiplets(), routes);
    if needed <= b.virtual_channels {
        return Some(i);
    }
    let t = top.opt_table("interconnect")?;
    t.error_at(
        "virtual_channels",
        format!(
            "the routes need {needed} virtual channels to be free of deadlock (their channel dependencies form cycles; each crossing of a cycle's back edge moves a packet to the next VC class), found {}",
            b.virtual_channels
        ),
    );
    None
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
