//! Writes a validated hardware spec back as TOML in its explicit form (every
//! chiplet, every link, routes as chosen), so that a run's resolved scenario
//! carries the exact hardware it used. Reading the result back gives an equal
//! [`HwSpec`]. The writers of single sections are shared with
//! `testkit::PackageBuilder`, which writes a spec from parts.

use toml::{Table, Value};

use crate::spec::{
    ChipletId, ChipletType, Constraints, HwSpec, Interconnect, NoSkipping, OffPackageMemory,
    Routing,
};

/// An integer value. Spec limits keep every number of a validated spec far
/// below `i64::MAX`; the test kit's builder checks its numbers first.
pub(crate) fn int(v: u64) -> Value {
    Value::Integer(i64::try_from(v).expect("spec numbers fit in i64"))
}

/// A list of chiplet ids.
pub(crate) fn ids(chips: &[ChipletId]) -> Value {
    Value::Array(chips.iter().map(|c| int(c.0 as u64)).collect())
}

/// One `[chiplet_types.NAME]` table (the name is its key).
pub(crate) fn chiplet_type_table(ty: &ChipletType) -> Table {
    let mut x = Table::new();
    x.insert("macs_per_cycle".into(), int(ty.macs_per_cycle));
    x.insert("array_rows".into(), int(ty.array_rows));
    x.insert("array_cols".into(), int(ty.array_cols));
    x.insert(
        "vector_elems_per_cycle".into(),
        int(ty.vector_elems_per_cycle),
    );
    x.insert("sram_kib".into(), int(ty.sram_kib));
    x.insert(
        "sram_bandwidth_bytes_per_cycle".into(),
        int(ty.sram_bandwidth_bytes_per_cycle),
    );
    x.insert("op_overhead_cycles".into(), int(ty.op_overhead_cycles));
    x.insert(
        "energy_per_mac_pj".into(),
        Value::Float(ty.energy_per_mac_pj),
    );
    x.insert(
        "energy_per_sram_byte_pj".into(),
        Value::Float(ty.energy_per_sram_byte_pj),
    );
    x
}

/// One `[[chiplets]]` entry.
pub(crate) fn chiplet_entry(id: ChipletId, type_name: &str, position: Option<[u32; 2]>) -> Value {
    let mut x = Table::new();
    x.insert("id".into(), int(id.0 as u64));
    x.insert("type".into(), Value::String(type_name.to_string()));
    if let Some([r, col]) = position {
        x.insert(
            "position".into(),
            Value::Array(vec![int(r as u64), int(col as u64)]),
        );
    }
    Value::Table(x)
}

/// The keys every link and generator carries.
pub(crate) fn insert_link_props(
    x: &mut Table,
    bandwidth_bytes_per_cycle: u64,
    latency_cycles: u64,
    energy_per_bit_pj: f64,
) {
    x.insert(
        "bandwidth_bytes_per_cycle".into(),
        int(bandwidth_bytes_per_cycle),
    );
    x.insert("latency_cycles".into(), int(latency_cycles));
    x.insert("energy_per_bit_pj".into(), Value::Float(energy_per_bit_pj));
}

/// The `[routing]` table.
pub(crate) fn routing_table(routing: &Routing) -> Table {
    let mut t = Table::new();
    match routing {
        Routing::ShortestPath => {
            t.insert("kind".into(), Value::String("shortest_path".into()));
        }
        Routing::Xy => {
            t.insert("kind".into(), Value::String("xy".into()));
        }
        Routing::Table {
            routes,
            fallback_shortest_path,
        } => {
            t.insert("kind".into(), Value::String("table".into()));
            t.insert(
                "fallback".into(),
                Value::String(
                    if *fallback_shortest_path {
                        "shortest_path"
                    } else {
                        "none"
                    }
                    .into(),
                ),
            );
            let r = routes
                .iter()
                .map(|path| {
                    let mut x = Table::new();
                    x.insert("path".into(), ids(path));
                    Value::Table(x)
                })
                .collect();
            t.insert("routes".into(), Value::Array(r));
        }
    }
    t
}

/// The `[memory]` table.
pub(crate) fn memory_table(m: &OffPackageMemory) -> Table {
    let mut x = Table::new();
    x.insert("capacity_mib".into(), int(m.capacity_mib));
    x.insert(
        "bandwidth_bytes_per_cycle".into(),
        int(m.bandwidth_bytes_per_cycle),
    );
    x.insert("latency_cycles".into(), int(m.latency_cycles));
    x.insert(
        "energy_per_byte_pj".into(),
        Value::Float(m.energy_per_byte_pj),
    );
    x.insert("chiplets".into(), ids(&m.chiplets));
    x.insert(
        "weight_streaming".into(),
        Value::Boolean(m.weight_streaming),
    );
    x
}

/// The `[constraints]` table.
pub(crate) fn constraints_table(c: &Constraints) -> Table {
    let mut x = Table::new();
    x.insert(
        "acyclic_dataflow".into(),
        Value::Boolean(c.acyclic_dataflow),
    );
    x.insert(
        "no_skipping".into(),
        Value::String(
            match c.no_skipping {
                NoSkipping::Off => "off",
                NoSkipping::Edge => "edge",
                NoSkipping::Prefix => "prefix",
            }
            .into(),
        ),
    );
    x.insert("no_triangle".into(), Value::Boolean(c.no_triangle));
    x.insert("sram_capacity".into(), Value::Boolean(c.sram_capacity));
    x
}

/// The spec as a TOML table in the format `docs/hw_spec.md` describes.
pub fn spec_to_toml(spec: &HwSpec) -> Table {
    let mut t = Table::new();
    t.insert("name".into(), Value::String(spec.name.clone()));
    t.insert(
        "source".into(),
        Value::Array(spec.source.iter().cloned().map(Value::String).collect()),
    );
    t.insert("notes".into(), Value::String(spec.notes.clone()));
    t.insert("topology_name".into(), Value::String(spec.topology.clone()));
    t.insert("clock_mhz".into(), Value::Float(spec.clock_mhz));
    t.insert("pipeline_order".into(), ids(&spec.pipeline_order));
    let mut types = Table::new();
    for ty in &spec.chiplet_types {
        types.insert(ty.name.clone(), Value::Table(chiplet_type_table(ty)));
    }
    t.insert("chiplet_types".into(), Value::Table(types));
    let chiplets = spec
        .chiplets
        .iter()
        .map(|c| chiplet_entry(c.id, &spec.chiplet_types[c.type_idx].name, c.position))
        .collect();
    t.insert("chiplets".into(), Value::Array(chiplets));
    let links = spec
        .links
        .iter()
        .map(|l| {
            let mut x = Table::new();
            x.insert("from".into(), int(l.from.0 as u64));
            x.insert("to".into(), int(l.to.0 as u64));
            insert_link_props(
                &mut x,
                l.bandwidth_bytes_per_cycle,
                l.latency_cycles,
                l.energy_per_bit_pj,
            );
            Value::Table(x)
        })
        .collect();
    t.insert("links".into(), Value::Array(links));
    t.insert("routing".into(), Value::Table(routing_table(&spec.routing)));
    if let Some(m) = &spec.memory {
        t.insert("memory".into(), Value::Table(memory_table(m)));
    }
    if spec.interconnect != Interconnect::default() {
        let i = &spec.interconnect;
        let mut x = Table::new();
        for (k, v) in [
            ("router_delay_cycles", i.router_delay_cycles),
            ("injection_latency_cycles", i.injection_latency_cycles),
            ("ejection_latency_cycles", i.ejection_latency_cycles),
        ] {
            x.insert(k.into(), Value::Integer(v as i64));
        }
        if let Some(b) = &i.buffers {
            for (k, v) in [
                ("flit_bytes", b.flit_bytes),
                ("virtual_channels", u64::from(b.virtual_channels)),
                ("buffer_flits", u64::from(b.buffer_flits)),
            ] {
                x.insert(k.into(), Value::Integer(v as i64));
            }
        }
        t.insert("interconnect".into(), Value::Table(x));
    }
    t.insert(
        "constraints".into(),
        Value::Table(constraints_table(&spec.constraints)),
    );
    t
}

/// The spec as TOML text.
pub fn spec_to_toml_string(spec: &HwSpec) -> String {
    toml::to_string(&spec_to_toml(spec)).expect("a TOML table serialises")
}
