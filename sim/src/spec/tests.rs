//! Unit tests of hardware spec reading: generators, routing, pipeline order.

use std::collections::BTreeSet;

use super::*;
use crate::config::Diagnostics;

/// The parts of a spec that vary between tests; everything else is a fixed,
/// valid package of 64 × 64 chiplets.
struct Package<'a> {
    /// `[[chiplets]]` entries (and any extra chiplet types).
    chiplets: &'a str,
    /// `[[topology]]` generators and `[[links]]`.
    links: &'a str,
    /// The `[routing]` table.
    routing: &'a str,
    /// The value of `pipeline_order`.
    pipeline_order: &'a str,
}

impl Package<'_> {
    fn text(&self) -> String {
        format!(
            r#"name = "unit"
source = ["unit test"]
notes = "unit test fixture"
clock_mhz = 1000
pipeline_order = {order}

[chiplet_types.big]
macs_per_cycle = 4096
array_rows = 64
array_cols = 64
vector_elems_per_cycle = 128
sram_kib = 8192
sram_bandwidth_bytes_per_cycle = 512
op_overhead_cycles = 100
energy_per_mac_pj = 0.2
energy_per_sram_byte_pj = 1.0

{chiplets}
{links}
{routing}

[constraints]
acyclic_dataflow = true
no_skipping = "edge"
no_triangle = true
sram_capacity = true
"#,
            order = self.pipeline_order,
            chiplets = self.chiplets,
            links = self.links,
            routing = self.routing,
        )
    }

    fn spec(&self) -> HwSpec {
        HwSpec::from_toml_str(&self.text(), "unit.toml")
            .unwrap_or_else(|d| panic!("spec rejected:\n{d}\n--- spec ---\n{}", self.text()))
    }
}

const SHORTEST_PATH: &str = "[routing]\nkind = \"shortest_path\"\n";
const XY: &str = "[routing]\nkind = \"xy\"\n";

fn chiplets(n: u32) -> String {
    format!("[[chiplets]]\nid_range = [0, {}]\ntype = \"big\"\n", n - 1)
}

/// A generator of `kind` with the given extra keys and fixed link properties.
fn generator(kind: &str, extra: &str) -> String {
    format!(
        "[[topology]]\nkind = \"{kind}\"\n{extra}\nbandwidth_bytes_per_cycle = 8\nlatency_cycles = 50\nenergy_per_bit_pj = 5.0\n"
    )
}

fn ring(n: u32, bidirectional: bool, routing: &str) -> HwSpec {
    Package {
        chiplets: &chiplets(n),
        links: &generator("ring", &format!("bidirectional = {bidirectional}")),
        routing,
        pipeline_order: "\"ascending\"",
    }
    .spec()
}

fn grid(kind: &str, rows: u32, cols: u32, routing: &str, pipeline_order: &str) -> HwSpec {
    Package {
        chiplets: &chiplets(rows * cols),
        links: &generator(kind, &format!("rows = {rows}\ncols = {cols}")),
        routing,
        pipeline_order,
    }
    .spec()
}

/// The chips a route visits, `src` first and `dst` last.
fn route(spec: &HwSpec, src: u32, dst: u32) -> Vec<u32> {
    let mut chips = vec![src];
    let mut here = ChipletId(src);
    for &l in spec.routes.path(ChipletId(src), ChipletId(dst)) {
        let link = spec.link(l);
        assert_eq!(link.from, here, "route {src}→{dst} is not a chain of links");
        here = link.to;
        chips.push(here.0);
    }
    chips
}

fn ids(chips: &[ChipletId]) -> Vec<u32> {
    chips.iter().map(|c| c.0).collect()
}

#[test]
fn unidirectional_ring_routes_go_forward_only() {
    let spec = ring(4, false, SHORTEST_PATH);
    let pairs: Vec<(u32, u32)> = spec.links.iter().map(|l| (l.from.0, l.to.0)).collect();
    assert_eq!(pairs, [(0, 1), (1, 2), (2, 3), (3, 0)]);
    assert_eq!(route(&spec, 3, 0), [3, 0]);
    assert_eq!(route(&spec, 0, 3), [0, 1, 2, 3]);
    assert_eq!(route(&spec, 2, 1), [2, 3, 0, 1]);
    assert!(spec.routes.path(ChipletId(1), ChipletId(1)).is_empty());
    assert_eq!(spec.topology, "unidirectional ring of 4");
}

#[test]
fn bidirectional_ring_takes_the_shorter_way() {
    let spec = ring(5, true, SHORTEST_PATH);
    assert_eq!(spec.links.len(), 10);
    assert_eq!(route(&spec, 0, 2), [0, 1, 2]);
    assert_eq!(route(&spec, 0, 3), [0, 4, 3]);
    assert_eq!(route(&spec, 4, 1), [4, 0, 1]);
}

#[test]
fn bidirectional_ring_breaks_ties_toward_the_smaller_chip_sequence() {
    // Halfway round a 6-ring both ways are 3 hops; the smaller sequence wins
    // whether it runs forward or backward.
    let spec = ring(6, true, SHORTEST_PATH);
    assert_eq!(route(&spec, 0, 3), [0, 1, 2, 3]);
    assert_eq!(route(&spec, 2, 5), [2, 1, 0, 5]);
    assert_eq!(route(&spec, 3, 0), [3, 2, 1, 0]);
    assert_eq!(route(&spec, 5, 2), [5, 0, 1, 2]);
}

#[test]
fn mesh_xy_routes_go_along_the_column_index_first_then_the_row() {
    // 3 × 3 mesh, chip = 3 × row + col.
    let spec = grid("mesh", 3, 3, XY, "\"ascending\"");
    assert_eq!(spec.routing, Routing::Xy);
    assert_eq!(spec.chiplets[5].position, Some([1, 2]));
    assert_eq!(route(&spec, 0, 8), [0, 1, 2, 5, 8]);
    assert_eq!(route(&spec, 8, 0), [8, 7, 6, 3, 0]);
    assert_eq!(route(&spec, 2, 6), [2, 1, 0, 3, 6]);
    assert_eq!(route(&spec, 3, 5), [3, 4, 5]);
    assert_eq!(route(&spec, 7, 1), [7, 4, 1]);
    // Shortest path on the same mesh prefers the smaller chip sequence instead.
    let sp = grid("mesh", 3, 3, SHORTEST_PATH, "\"ascending\"");
    assert_eq!(route(&sp, 8, 0), [8, 5, 2, 1, 0]);
}

#[test]
fn torus_xy_takes_the_shorter_wrap_direction() {
    // 4 × 4 torus, chip = 4 × row + col.
    let spec = grid("torus", 4, 4, XY, "\"ascending\"");
    assert_eq!(spec.links.len(), 64);
    assert_eq!(spec.topology, "torus 4x4");
    assert_eq!(route(&spec, 0, 3), [0, 3], "one wrap hop instead of three");
    assert_eq!(route(&spec, 3, 0), [3, 0]);
    assert_eq!(route(&spec, 0, 12), [0, 12]);
    assert_eq!(route(&spec, 0, 15), [0, 3, 15]);
    assert_eq!(route(&spec, 1, 14), [1, 2, 14]);
    // Two hops either way: ties go in the increasing direction, in both dimensions.
    assert_eq!(route(&spec, 0, 2), [0, 1, 2]);
    assert_eq!(route(&spec, 5, 15), [5, 6, 7, 11, 15]);
}

#[test]
fn shortest_path_ties_on_a_2x2_mesh_take_the_smaller_chip_sequence() {
    // 0 1
    // 2 3
    let spec = grid("mesh", 2, 2, SHORTEST_PATH, "\"ascending\"");
    assert_eq!(spec.links.len(), 8);
    assert_eq!(route(&spec, 0, 3), [0, 1, 3]);
    assert_eq!(route(&spec, 3, 0), [3, 1, 0]);
    assert_eq!(route(&spec, 1, 2), [1, 0, 2]);
    assert_eq!(route(&spec, 2, 1), [2, 0, 1]);
    // XY on the same grid goes along the row first.
    let xy = grid("mesh", 2, 2, XY, "\"ascending\"");
    assert_eq!(route(&xy, 3, 0), [3, 2, 0]);
    assert_eq!(route(&xy, 1, 2), [1, 0, 2]);
    assert_eq!(route(&xy, 2, 1), [2, 3, 1]);
}

#[test]
fn snake_pipeline_order_on_a_3x3_mesh_reverses_every_other_row() {
    let spec = grid("mesh", 3, 3, SHORTEST_PATH, "\"snake\"");
    assert_eq!(ids(&spec.pipeline_order), [0, 1, 2, 5, 4, 3, 6, 7, 8]);
    assert_eq!(spec.pipeline_positions(), [0, 1, 2, 5, 4, 3, 6, 7, 8]);
}

#[test]
fn snake_pipeline_order_follows_explicit_positions() {
    // Chips placed out of id order: 0 at [1, 1], 1 at [0, 0], 2 at [1, 0], 3 at [0, 1].
    let placed: String = [[1, 1], [0, 0], [1, 0], [0, 1]]
        .iter()
        .enumerate()
        .map(|(id, [r, c])| {
            format!("[[chiplets]]\nid = {id}\ntype = \"big\"\nposition = [{r}, {c}]\n\n")
        })
        .collect();
    let spec = Package {
        chiplets: &placed,
        links: &generator("all_to_all", ""),
        routing: SHORTEST_PATH,
        pipeline_order: "\"snake\"",
    }
    .spec();
    assert_eq!(ids(&spec.pipeline_order), [1, 3, 0, 2]);
}

#[test]
fn ascending_and_explicit_pipeline_orders() {
    let spec = ring(4, false, SHORTEST_PATH);
    assert_eq!(ids(&spec.pipeline_order), [0, 1, 2, 3]);
    let spec = Package {
        chiplets: &chiplets(4),
        links: &generator("ring", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "[2, 0, 3, 1]",
    }
    .spec();
    assert_eq!(ids(&spec.pipeline_order), [2, 0, 3, 1]);
    assert_eq!(spec.pipeline_positions(), [1, 3, 0, 2]);
}

#[test]
fn all_to_all_has_a_link_for_every_ordered_pair() {
    for n in [2u32, 3, 5] {
        let spec = Package {
            chiplets: &chiplets(n),
            links: &generator("all_to_all", ""),
            routing: SHORTEST_PATH,
            pipeline_order: "\"ascending\"",
        }
        .spec();
        assert_eq!(spec.links.len() as u32, n * (n - 1));
        let pairs: BTreeSet<(u32, u32)> = spec.links.iter().map(|l| (l.from.0, l.to.0)).collect();
        assert_eq!(pairs.len(), spec.links.len(), "a pair is linked twice");
        for a in 0..n {
            for b in (0..n).filter(|&b| b != a) {
                assert_eq!(route(&spec, a, b), [a, b]);
            }
        }
    }
}

#[test]
fn chain_links_neighbours_without_wrapping() {
    // A one-way chain cannot reach back to its first chip, which every
    // routing must; the error names who cannot reach whom.
    let one_way = Package {
        chiplets: &chiplets(4),
        links: &generator("chain", "bidirectional = false"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    };
    let err = HwSpec::from_toml_str(&one_way.text(), "unit.toml").unwrap_err();
    assert!(
        err.to_string()
            .contains("no route reaches chiplet 0 from chiplet(s) 1, 2, 3"),
        "{err}"
    );
    let spec = Package {
        chiplets: &chiplets(4),
        links: &generator("chain", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .spec();
    let pairs: Vec<(u32, u32)> = spec.links.iter().map(|l| (l.from.0, l.to.0)).collect();
    assert_eq!(pairs, [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]);
    assert_eq!(route(&spec, 3, 0), [3, 2, 1, 0]);
}

#[test]
fn links_are_sorted_by_from_then_to_and_ids_are_indices() {
    let explicit: String = [(3, 1), (0, 2), (2, 0), (1, 3)]
        .iter()
        .map(|(f, t)| {
            format!(
                "[[links]]\nfrom = {f}\nto = {t}\nbandwidth_bytes_per_cycle = 4\nlatency_cycles = 9\nenergy_per_bit_pj = 1.5\n\n"
            )
        })
        .collect();
    let spec = Package {
        chiplets: &chiplets(4),
        links: &format!("{}\n{explicit}", generator("ring", "bidirectional = false")),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .spec();
    let pairs: Vec<(u32, u32)> = spec.links.iter().map(|l| (l.from.0, l.to.0)).collect();
    assert_eq!(
        pairs,
        [
            (0, 1),
            (0, 2),
            (1, 2),
            (1, 3),
            (2, 0),
            (2, 3),
            (3, 0),
            (3, 1)
        ]
    );
    for (i, l) in spec.links.iter().enumerate() {
        assert_eq!(l.id, LinkId(i as u32));
        assert_eq!(spec.link(l.id), l);
    }
    // Generated and explicit links keep their own properties.
    let chord = &spec.links[1];
    assert_eq!(
        (
            chord.bandwidth_bytes_per_cycle,
            chord.latency_cycles,
            chord.energy_per_bit_pj
        ),
        (4, 9, 1.5)
    );
    let ring_link = &spec.links[0];
    assert_eq!(
        (
            ring_link.bandwidth_bytes_per_cycle,
            ring_link.latency_cycles,
            ring_link.energy_per_bit_pj
        ),
        (8, 50, 5.0)
    );
    assert_eq!(spec.topology, "unidirectional ring of 4 + 4 explicit links");
    assert_eq!(route(&spec, 0, 2), [0, 2]);
}

#[test]
fn table_routing_uses_explicit_routes_and_falls_back_to_shortest_path() {
    // On a bidirectional 4-ring, shortest path from 0 to 2 would be 0, 1, 2.
    let spec = ring(
        4,
        true,
        "[routing]\nkind = \"table\"\nfallback = \"shortest_path\"\n\n[[routing.routes]]\npath = [0, 3, 2]\n\n[[routing.routes]]\npath = [3, 0]\n",
    );
    assert_eq!(route(&spec, 0, 2), [0, 3, 2], "explicit route");
    assert_eq!(route(&spec, 3, 0), [3, 0], "explicit route");
    assert_eq!(route(&spec, 2, 0), [2, 1, 0], "fallback");
    assert_eq!(route(&spec, 1, 3), [1, 0, 3], "fallback");
    // Routes are kept ordered by (source, destination), not by file order.
    assert_eq!(
        spec.routing,
        Routing::Table {
            routes: vec![
                vec![ChipletId(0), ChipletId(3), ChipletId(2)],
                vec![ChipletId(3), ChipletId(0)],
            ],
            fallback_shortest_path: true,
        }
    );
}

#[test]
fn table_routing_without_fallback_accepts_a_complete_table() {
    let routes: String = [
        &[0, 1][..],
        &[1, 2],
        &[2, 0],
        &[0, 1, 2],
        &[1, 2, 0],
        &[2, 0, 1],
    ]
    .iter()
    .map(|p| format!("[[routing.routes]]\npath = {p:?}\n\n"))
    .collect();
    let spec = ring(
        3,
        false,
        &format!("[routing]\nkind = \"table\"\nfallback = \"none\"\n\n{routes}"),
    );
    assert_eq!(route(&spec, 2, 1), [2, 0, 1]);
    assert!(matches!(
        spec.routing,
        Routing::Table { fallback_shortest_path: false, ref routes } if routes.len() == 6
    ));
}

#[test]
fn summary_counts_peak_tops_over_all_chiplets() {
    let two_types = r#"[chiplet_types.small]
macs_per_cycle = 256
array_rows = 16
array_cols = 16
vector_elems_per_cycle = 32
sram_kib = 1024
sram_bandwidth_bytes_per_cycle = 64
op_overhead_cycles = 10
energy_per_mac_pj = 0.1
energy_per_sram_byte_pj = 0.5

[[chiplets]]
id_range = [0, 3]
type = "big"

[[chiplets]]
id_range = [4, 5]
type = "small"
"#;
    let spec = Package {
        chiplets: two_types,
        links: &generator("ring", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .spec();
    assert_eq!(spec.chiplet_type(ChipletId(3)).name, "big");
    assert_eq!(spec.chiplet_type(ChipletId(4)).name, "small");
    assert_eq!(spec.chiplet_type(ChipletId(4)).sram_bytes(), 1024 * 1024);
    let s = spec.summary();
    assert_eq!(s.n_chiplets, 6);
    assert_eq!(s.n_links, 12);
    assert_eq!(s.total_sram_kib, 4 * 8192 + 2 * 1024);
    // 2 ops per MAC × (4 × 4096 + 2 × 256) MACs per cycle × 1000 MHz.
    let expected = 2.0 * (4.0 * 4096.0 + 2.0 * 256.0) * 1000e6 / 1e12;
    assert!(
        (s.peak_tops - expected).abs() < 1e-9,
        "{} vs {expected}",
        s.peak_tops
    );
    assert!((s.peak_tops - 33.792).abs() < 1e-9);
    assert_eq!(s.topology, "bidirectional ring of 6");
}

#[test]
fn memory_all_reaches_every_chiplet() {
    let text = Package {
        chiplets: &chiplets(3),
        links: &generator("ring", "bidirectional = false"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .text()
        + "\n[memory]\ncapacity_mib = 1024\nbandwidth_bytes_per_cycle = 64\nlatency_cycles = 200\nenergy_per_byte_pj = 20.0\nweight_streaming = false\nchiplets = \"all\"\n";
    let spec = HwSpec::from_toml_str(&text, "unit.toml").unwrap_or_else(|d| panic!("{d}"));
    let memory = spec.memory.expect("memory is given");
    assert_eq!(ids(&memory.chiplets), [0, 1, 2]);
    assert!(!memory.weight_streaming);
}

#[test]
fn diagnostics_name_file_line_and_field() {
    let bad = Package {
        chiplets: &chiplets(3),
        links: &generator("ring", "bidirectional = false"),
        routing: SHORTEST_PATH,
        pipeline_order: "[0, 1]",
    }
    .text();
    let err = HwSpec::from_toml_str(&bad, "pkg.toml").unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let d = &err.0[0];
    assert_eq!(
        (d.file.as_str(), d.pos.line, d.field.as_str()),
        ("pkg.toml", 5, "pipeline_order")
    );
    assert!(d.message.contains("missing chiplet(s) 2"), "{err}");
}

/// The diagnostics of a spec that must be rejected.
fn rejected(text: &str) -> Diagnostics {
    HwSpec::from_toml_str(text, "unit.toml")
        .err()
        .unwrap_or_else(|| panic!("spec accepted:\n{text}"))
}

/// The 1-based line of the first line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> u32 {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?}")) as u32
        + 1
}

/// Asserts that a diagnostic names `field` at `line` with a message containing `message`.
#[track_caller]
fn assert_reported(d: &Diagnostics, field: &str, line: u32, message: &str) {
    assert!(
        d.0.iter()
            .any(|d| d.field == field && d.pos.line == line && d.message.contains(message)),
        "no diagnostic {field} at line {line} containing {message:?}:\n{d}"
    );
}

/// A valid 4-chip bidirectional ring to break in tests.
fn ring4() -> String {
    Package {
        chiplets: &chiplets(4),
        links: &generator("ring", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .text()
}

#[test]
fn numbers_beyond_their_limits_are_reported_with_the_limit() {
    let cases = [
        (
            "sram_kib = 8192",
            "sram_kib = 9223372036854775807",
            "chiplet_types.big.sram_kib",
            "must be at most 1099511627776 (2^40), found 9223372036854775807",
        ),
        (
            "array_rows = 64",
            "array_rows = 4294967296",
            "chiplet_types.big.array_rows",
            "must be at most 65536 (2^16), found 4294967296",
        ),
        (
            "macs_per_cycle = 4096",
            "macs_per_cycle = 18446744073709551616",
            "chiplet_types.big.macs_per_cycle",
            "found 18446744073709551616 (integer out of range)",
        ),
        (
            "op_overhead_cycles = 100",
            "op_overhead_cycles = 9223372036854775807",
            "chiplet_types.big.op_overhead_cycles",
            "must be at most 4294967296 (2^32)",
        ),
        (
            "clock_mhz = 1000",
            "clock_mhz = 1e300",
            "clock_mhz",
            "must be at most 1000000, found 1e300",
        ),
        (
            "energy_per_mac_pj = 0.2",
            "energy_per_mac_pj = 1e300",
            "chiplet_types.big.energy_per_mac_pj",
            "must be at most 1000000, found 1e300",
        ),
        (
            "latency_cycles = 50",
            "latency_cycles = -9223372036854775808",
            "topology[0].latency_cycles",
            "must be a non-negative integer, found -9223372036854775808",
        ),
        (
            "bandwidth_bytes_per_cycle = 8",
            "bandwidth_bytes_per_cycle = 1099511627777",
            "topology[0].bandwidth_bytes_per_cycle",
            "must be at most 1099511627776 (2^40)",
        ),
    ];
    for (from, to, field, message) in cases {
        let text = ring4().replacen(from, to, 1);
        let d = rejected(&text);
        assert_reported(&d, field, line_of(&text, to), message);
    }
}

#[test]
fn huge_array_sides_and_grids_are_reported_not_overflowed() {
    let text = ring4()
        .replace("array_rows = 64", "array_rows = 9223372036854775807")
        .replace("array_cols = 64", "array_cols = 9223372036854775807");
    let d = rejected(&text);
    assert_reported(
        &d,
        "chiplet_types.big.array_rows",
        line_of(&text, "array_rows"),
        "must be at most",
    );
    assert_reported(
        &d,
        "chiplet_types.big.array_cols",
        line_of(&text, "array_cols"),
        "must be at most",
    );

    let text = Package {
        chiplets: &chiplets(4),
        links: &generator("mesh", "rows = 4294967296\ncols = 4294967296"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .text();
    let d = rejected(&text);
    assert_reported(
        &d,
        "topology[0].rows",
        line_of(&text, "rows ="),
        "must be at most 1024",
    );
    assert_reported(
        &d,
        "topology[0].cols",
        line_of(&text, "cols ="),
        "must be at most 1024",
    );
}

#[test]
fn an_id_range_beyond_the_chiplet_limit_is_refused_before_it_is_expanded() {
    for last in ["1024", "9223372036854775807"] {
        let text = ring4().replace("id_range = [0, 3]", &format!("id_range = [0, {last}]"));
        let d = rejected(&text);
        assert_reported(
            &d,
            "chiplets[0].id_range",
            line_of(&text, "id_range"),
            &format!("too many chiplets: id {last} is beyond the limit of 1024 chiplets"),
        );
    }
    // The limit itself is allowed: without links (so that no route table is
    // built, which takes seconds for 1024 chiplets) the only complaint left is
    // the missing links.
    let text = Package {
        chiplets: &chiplets(1024),
        links: "",
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .text();
    let d = rejected(&text);
    assert_eq!(d.0.len(), 1, "{d}");
    assert!(
        d.0[0].message.starts_with("1024 chiplets but no links"),
        "{d}"
    );
}

#[test]
fn position_coordinates_are_bounded() {
    let text = format!(
        "{}\n[[chiplets]]\nid = 4\ntype = \"big\"\nposition = [0, 4294967296]\n",
        chiplets(4)
    );
    let text = Package {
        chiplets: &text,
        links: &generator("ring", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .text();
    let d = rejected(&text);
    assert_reported(
        &d,
        "chiplets[1].position[1]",
        line_of(&text, "position"),
        "must be at most 1023",
    );
}

#[test]
fn errors_point_at_the_offending_key_not_the_table_header() {
    // macs ≠ rows × cols: at `macs_per_cycle`.
    let text = ring4().replace("macs_per_cycle = 4096", "macs_per_cycle = 4000");
    assert_reported(
        &rejected(&text),
        "chiplet_types.big.macs_per_cycle",
        line_of(&text, "macs_per_cycle"),
        "is 4000 but the 64 × 64 systolic array performs 4096 MACs per cycle",
    );
    // A duplicate id: at `id`.
    let text = ring4().replace(
        "[[topology]]",
        "[[chiplets]]\nid = 2\ntype = \"big\"\n\n[[topology]]",
    );
    assert_reported(
        &rejected(&text),
        "chiplets[1].id",
        line_of(&text, "id = 2"),
        "duplicate chiplet id 2 (already defined by chiplets[0])",
    );
    // Links to an unknown chiplet and to itself: at `from` and `to`.
    let links = "[[links]]\nfrom = 9\nto = 1\nbandwidth_bytes_per_cycle = 4\nlatency_cycles = 9\nenergy_per_bit_pj = 1.5\n\n[[links]]\nfrom = 2\nto = 2\nbandwidth_bytes_per_cycle = 4\nlatency_cycles = 9\nenergy_per_bit_pj = 1.5\n";
    let text = ring4().replace("[routing]", &format!("{links}\n[routing]"));
    let d = rejected(&text);
    assert_reported(
        &d,
        "links[0].from",
        line_of(&text, "from = 9"),
        "unknown chiplet 9; chiplet ids are 0 to 3",
    );
    assert_reported(
        &d,
        "links[1].to",
        line_of(&text, "to = 2"),
        "a link from chiplet 2 to itself is not allowed",
    );
    // Grid sizes: at `rows` or `cols`, whichever is wrong.
    let torus = |rows: u32, cols: u32| {
        Package {
            chiplets: &chiplets(rows * cols),
            links: &generator("torus", &format!("rows = {rows}\ncols = {cols}")),
            routing: SHORTEST_PATH,
            pipeline_order: "\"ascending\"",
        }
        .text()
    };
    let text = torus(3, 2);
    assert_reported(
        &rejected(&text),
        "topology[0].cols",
        line_of(&text, "cols ="),
        "a torus needs at least 3 rows and 3 columns",
    );
    let text = torus(2, 3);
    assert_reported(
        &rejected(&text),
        "topology[0].rows",
        line_of(&text, "rows ="),
        "a torus needs at least 3 rows and 3 columns",
    );
}

#[test]
fn a_generator_too_small_names_chips_only_when_the_file_has_it() {
    let two = |extra: &str| {
        Package {
            chiplets: &chiplets(2),
            links: &generator("ring", &format!("bidirectional = true\n{extra}")),
            routing: SHORTEST_PATH,
            pipeline_order: "\"ascending\"",
        }
        .text()
    };
    let text = two("");
    let d = rejected(&text);
    assert_reported(
        &d,
        "topology[0].kind",
        line_of(&text, "kind = \"ring\""),
        "a ring needs at least 3 chiplets, found 2",
    );
    assert!(d.0.iter().all(|d| d.field != "topology[0].chips"), "{d}");
    let text = two("chips = [1, 0]");
    assert_reported(
        &rejected(&text),
        "topology[0].chips",
        line_of(&text, "chips ="),
        "a ring needs at least 3 chiplets, found 2",
    );
}

#[test]
fn missing_top_level_keys_are_reported_at_the_first_line_that_is_not_a_comment() {
    let text = format!(
        "# a header comment\n\n{}",
        ring4().replace("clock_mhz = 1000\n", "")
    );
    let d = rejected(&text);
    assert_eq!(d.0.len(), 1, "{d}");
    assert_eq!((d.0[0].pos.line, d.0[0].pos.column), (3, 1));
    assert_eq!(d.0[0].field, "clock_mhz");
}

#[test]
fn a_broken_chiplet_entry_does_not_hide_other_problems() {
    // Chiplet 2 is defined twice, the second time with an unknown type; a
    // link, the pipeline order and the memory name chiplets that do not exist.
    let entries = format!("{}\n[[chiplets]]\nid = 2\ntype = \"gpu\"\n", chiplets(4));
    let text = Package {
        chiplets: &entries,
        links: &format!(
            "{}\n[[links]]\nfrom = 0\nto = 7\nbandwidth_bytes_per_cycle = 4\nlatency_cycles = 9\nenergy_per_bit_pj = 1.5\n",
            generator("ring", "bidirectional = true")
        ),
        routing: "[routing]\nkind = \"dijkstra\"\n",
        pipeline_order: "[0, 1, 1, 3, 8]",
    }
    .text()
        + "\n[memory]\ncapacity_mib = 1024\nbandwidth_bytes_per_cycle = 64\nlatency_cycles = 200\nenergy_per_byte_pj = 20.0\nweight_streaming = false\nchiplets = [0, 5]\n";
    let d = rejected(&text);
    assert_reported(
        &d,
        "chiplets[1].id",
        line_of(&text, "id = 2"),
        "duplicate chiplet id 2",
    );
    assert_reported(
        &d,
        "chiplets[1].type",
        line_of(&text, "type = \"gpu\""),
        "unknown chiplet type \"gpu\"",
    );
    assert_reported(
        &d,
        "links[0].to",
        line_of(&text, "to = 7"),
        "unknown chiplet 7; chiplet ids are 0 to 3",
    );
    assert_reported(
        &d,
        "routing.kind",
        line_of(&text, "kind = \"dijkstra\""),
        "unknown value \"dijkstra\"",
    );
    assert_reported(
        &d,
        "pipeline_order",
        line_of(&text, "pipeline_order"),
        "must be a permutation of the 4 chiplet ids: chiplet 1 appears twice; unknown chiplet 8; missing chiplet(s) 2",
    );
    assert_reported(
        &d,
        "memory.chiplets",
        line_of(&text, "chiplets = [0, 5]"),
        "unknown chiplet 5; chiplet ids are 0 to 3",
    );
}

#[test]
fn references_are_checked_against_the_limit_when_chiplet_ids_are_unreadable() {
    let text = ring4()
        .replace("id_range = [0, 3]", "id_range = [0, \"three\"]")
        .replace(
            "[routing]",
            "[[links]]\nfrom = 0\nto = 5000\nbandwidth_bytes_per_cycle = 4\nlatency_cycles = 9\nenergy_per_bit_pj = 1.5\n\n[routing]",
        );
    let d = rejected(&text);
    assert_reported(
        &d,
        "chiplets[0].id_range[1]",
        line_of(&text, "id_range"),
        "expected a non-negative integer, found a string \"three\"",
    );
    assert_reported(
        &d,
        "links[0].to",
        line_of(&text, "to = 5000"),
        "a package has at most 1024 chiplets",
    );
    // The ids are unknown, so a gap or a missing link cannot be told.
    assert_eq!(d.0.len(), 2, "{d}");
}

#[test]
fn chiplets_that_are_not_tables_are_not_also_missing() {
    for value in ["[1, 2]", "5", "\"all\""] {
        let text = format!("chiplets = {value}\n{}", ring4().replace(&chiplets(4), ""));
        let d = rejected(&text);
        assert!(
            d.0.iter()
                .all(|d| !d.message.contains("missing required key")),
            "{value}: {d}"
        );
        assert!(d.0.iter().all(|d| d.pos.line == 1), "{value}: {d}");
    }
}

#[test]
fn a_failed_generator_causes_no_follow_on_errors() {
    // A grid of the wrong size makes no links and no positions; "no links",
    // unreachable chiplets, xy routing and "snake" must not pile up on it.
    for routing in [SHORTEST_PATH, XY] {
        let text = Package {
            chiplets: &chiplets(9),
            links: &generator("mesh", "rows = 3\ncols = 4"),
            routing,
            pipeline_order: "\"snake\"",
        }
        .text();
        let d = rejected(&text);
        assert_eq!(d.0.len(), 1, "{d}");
        assert_reported(
            &d,
            "topology[0].rows",
            line_of(&text, "rows ="),
            "rows × cols = 3 × 4 = 12 but the package has 9 chiplets",
        );
    }
    // The same for a generator with a bad link property.
    let text = ring4().replace(
        "bandwidth_bytes_per_cycle = 8",
        "bandwidth_bytes_per_cycle = 0",
    );
    let d = rejected(&text);
    assert_eq!(d.0.len(), 1, "{d}");
}

#[test]
fn xy_failures_are_reported_for_a_few_pairs_then_counted() {
    // Chiplets on a 4 × 4 grid with only all-to-all links: no link joins grid
    // neighbours in one hop along a dimension unless they are adjacent, and
    // columns 0, 2, 4, 6 are never adjacent.
    let placed: String = (0..16)
        .map(|i| {
            format!(
                "[[chiplets]]\nid = {i}\ntype = \"big\"\nposition = [{}, {}]\n\n",
                i / 4,
                2 * (i % 4)
            )
        })
        .collect();
    let text = Package {
        chiplets: &placed,
        links: &generator("all_to_all", ""),
        routing: XY,
        pipeline_order: "\"ascending\"",
    }
    .text();
    let d = rejected(&text);
    assert_eq!(d.0.len(), 4, "{d}");
    assert!(d.0.iter().all(|d| d.field == "routing"), "{d}");
    assert!(
        d.0[0].message.contains(
            "xy routing from chiplet 0 at [0, 0] to chiplet 1 at [0, 2]: no chain of links in x (within row 0, changing the column) from [0, 0]"
        ),
        "{d}"
    );
    assert!(
        d.0[3]
            .message
            .contains("more chiplet pairs that xy routing cannot route"),
        "{d}"
    );
}

#[test]
fn unreachable_chiplets_are_reported_for_a_few_then_counted() {
    // Two separate rings of 4: each chiplet is unreachable from the other ring.
    let text = Package {
        chiplets: &chiplets(8),
        links: &format!(
            "{}\n{}",
            generator("ring", "bidirectional = true\nchips = [0, 1, 2, 3]"),
            generator("ring", "bidirectional = true\nchips = [4, 5, 6, 7]")
        ),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .text();
    let d = rejected(&text);
    assert_eq!(d.0.len(), 4, "{d}");
    assert_reported(
        &d,
        "routing",
        line_of(&text, "[routing]"),
        "no route reaches chiplet 0 from chiplet(s) 4, 5, 6, 7",
    );
    assert!(d.0[3].message.contains("and 5 more chiplets"), "{d}");
}

#[test]
fn long_lists_in_messages_are_cut_at_eight() {
    let text = Package {
        chiplets: &chiplets(20),
        links: &generator("ring", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "[0]",
    }
    .text();
    assert_reported(
        &rejected(&text),
        "pipeline_order",
        5,
        "missing chiplet(s) 1, 2, 3, 4, 5, 6, 7, 8, and 11 more",
    );
}

#[test]
fn name_notes_and_sources_must_not_be_empty() {
    let text = ring4()
        .replace("name = \"unit\"", "name = \"\"")
        .replace("notes = \"unit test fixture\"", "notes = \"  \"")
        .replace("source = [\"unit test\"]", "source = [\"unit test\", \"\"]");
    let d = rejected(&text);
    assert_reported(&d, "name", 1, "must be a non-empty string");
    assert_reported(&d, "notes", 3, "must be a non-empty string");
    assert_reported(&d, "source[1]", 2, "must be a non-empty string");
}

#[test]
fn messages_show_types_and_values_plainly() {
    let text = ring4()
        .replace("sram_kib = 8192", "sram_kib = 8192.0")
        .replace("array_rows = 64", "array_rows = [64]")
        .replace(
            "vector_elems_per_cycle = 128",
            "vector_elems_per_cycle = { n = 128 }",
        )
        .replace("name = \"unit\"", "name = 99999999999999999999");
    let d = rejected(&text);
    assert_reported(
        &d,
        "chiplet_types.big.sram_kib",
        line_of(&text, "sram_kib"),
        "expected a positive integer, found a float 8192.0",
    );
    assert_reported(
        &d,
        "chiplet_types.big.array_rows",
        line_of(&text, "array_rows"),
        "expected a positive integer, found an array",
    );
    assert_reported(
        &d,
        "chiplet_types.big.vector_elems_per_cycle",
        line_of(&text, "vector_elems_per_cycle"),
        "expected a positive integer, found a table",
    );
    assert_reported(
        &d,
        "name",
        1,
        "expected a string, found 99999999999999999999 (integer out of range)",
    );
    let all = d.to_string();
    assert!(
        !all.contains("an array an array") && !all.contains("a table a table"),
        "{all}"
    );
}

#[test]
fn the_topology_string_mentions_explicit_links_beside_generators() {
    let one_link = "[[links]]\nfrom = 0\nto = 2\nbandwidth_bytes_per_cycle = 4\nlatency_cycles = 9\nenergy_per_bit_pj = 1.5\n";
    let spec = Package {
        chiplets: &chiplets(4),
        links: &format!("{}\n{one_link}", generator("ring", "bidirectional = false")),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .spec();
    assert_eq!(spec.topology, "unidirectional ring of 4 + 1 explicit link");
}

/// `ring4()` with `[interconnect]` holding `body`.
fn ring4_with_interconnect(body: &str) -> String {
    format!("{}\n[interconnect]\n{body}", ring4())
}

#[test]
fn buffered_routers_are_read_and_written_back() {
    let text = ring4_with_interconnect(
        "router_delay_cycles = 3\ninjection_latency_cycles = 3\nejection_latency_cycles = 1\n\
         flit_bytes = 16\nvirtual_channels = 4\nbuffer_flits = 8\n",
    );
    let spec = HwSpec::from_toml_str(&text, "unit.toml").unwrap();
    assert_eq!(
        spec.interconnect.buffers,
        Some(RouterBuffers {
            flit_bytes: 16,
            virtual_channels: 4,
            buffer_flits: 8
        })
    );
    let written = toml::to_string(&crate::spec_write::spec_to_toml(&spec)).unwrap();
    let again = HwSpec::from_toml_str(&written, "written.toml").unwrap();
    assert_eq!(again.interconnect, spec.interconnect);
    // Without the buffer keys the links are ideal queues.
    let ideal = ring4_with_interconnect(
        "router_delay_cycles = 3\ninjection_latency_cycles = 3\nejection_latency_cycles = 1\n",
    );
    let spec = HwSpec::from_toml_str(&ideal, "unit.toml").unwrap();
    assert_eq!(spec.interconnect.buffers, None);
}

#[test]
fn buffered_router_mistakes_are_reported_at_their_keys() {
    let base =
        "router_delay_cycles = 3\ninjection_latency_cycles = 3\nejection_latency_cycles = 1\n";
    // Only some of the three buffer keys.
    let text = ring4_with_interconnect(&format!("{base}flit_bytes = 16\n"));
    let d = rejected(&text);
    let header = line_of(&text, "[interconnect]");
    assert_reported(
        &d,
        "interconnect.virtual_channels",
        header,
        "need all of flit_bytes",
    );
    assert_reported(
        &d,
        "interconnect.buffer_flits",
        header,
        "found only flit_bytes",
    );
    // Zero VCs, too many, zero-depth buffers.
    for (line, field, message) in [
        (
            "virtual_channels = 0",
            "interconnect.virtual_channels",
            "positive integer",
        ),
        (
            "virtual_channels = 65",
            "interconnect.virtual_channels",
            "64",
        ),
        (
            "buffer_flits = 0",
            "interconnect.buffer_flits",
            "positive integer",
        ),
    ] {
        let mut keys = vec![
            "flit_bytes = 16",
            "virtual_channels = 2",
            "buffer_flits = 4",
        ];
        let k = line.split(' ').next().unwrap();
        keys.retain(|x| !x.starts_with(k));
        keys.push(line);
        let text = ring4_with_interconnect(&format!("{base}{}\n", keys.join("\n")));
        let d = rejected(&text);
        assert_reported(&d, field, line_of(&text, line), message);
    }
    // The pipeline needs a cycle each for VC and switch allocation.
    let text = ring4_with_interconnect(
        "router_delay_cycles = 1\ninjection_latency_cycles = 3\nejection_latency_cycles = 1\n\
         flit_bytes = 16\nvirtual_channels = 2\nbuffer_flits = 4\n",
    );
    let d = rejected(&text);
    assert_reported(
        &d,
        "interconnect.router_delay_cycles",
        line_of(&text, "router_delay_cycles"),
        ">= 2",
    );
    // An 8-chip ring's routes form a cycle of channel dependencies: one VC
    // cannot be free of deadlock. (A 4-chip ring's 2-hop routes happen not
    // to: they need one class.)
    let ring8 = Package {
        chiplets: &chiplets(8),
        links: &generator("ring", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .text();
    let text = format!(
        "{ring8}\n[interconnect]\n{base}flit_bytes = 16\nvirtual_channels = 1\nbuffer_flits = 4\n"
    );
    let d = rejected(&text);
    assert_reported(
        &d,
        "interconnect.virtual_channels",
        line_of(&text, "virtual_channels"),
        "the routes need 2 virtual channels",
    );
}
