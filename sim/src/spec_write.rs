//! Writes a validated hardware spec back as TOML in its explicit form (every
//! chiplet, every link, routes as chosen), so that a run's resolved scenario
//! carries the exact hardware it used. Reading the result back gives an equal
//! [`HwSpec`].

use toml::{Table, Value};

use crate::spec::{HwSpec, NoSkipping, Routing};

fn int(v: u64) -> Value {
    // Spec limits keep every number far below i64::MAX.
    Value::Integer(i64::try_from(v).expect("spec numbers fit in i64"))
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
    t.insert(
        "pipeline_order".into(),
        Value::Array(
            spec.pipeline_order
                .iter()
                .map(|c| int(c.0 as u64))
                .collect(),
        ),
    );
    let mut types = Table::new();
    for ty in &spec.chiplet_types {
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
        types.insert(ty.name.clone(), Value::Table(x));
    }
    t.insert("chiplet_types".into(), Value::Table(types));
    let chiplets = spec
        .chiplets
        .iter()
        .map(|c| {
            let mut x = Table::new();
            x.insert("id".into(), int(c.id.0 as u64));
            x.insert(
                "type".into(),
                Value::String(spec.chiplet_types[c.type_idx].name.clone()),
            );
            if let Some([r, col]) = c.position {
                x.insert(
                    "position".into(),
                    Value::Array(vec![int(r as u64), int(col as u64)]),
                );
            }
            Value::Table(x)
        })
        .collect();
    t.insert("chiplets".into(), Value::Array(chiplets));
    let links = spec
        .links
        .iter()
        .map(|l| {
            let mut x = Table::new();
            x.insert("from".into(), int(l.from.0 as u64));
            x.insert("to".into(), int(l.to.0 as u64));
            x.insert(
                "bandwidth_bytes_per_cycle".into(),
                int(l.bandwidth_bytes_per_cycle),
            );
            x.insert("latency_cycles".into(), int(l.latency_cycles));
            x.insert(
                "energy_per_bit_pj".into(),
                Value::Float(l.energy_per_bit_pj),
            );
            Value::Table(x)
        })
        .collect();
    t.insert("links".into(), Value::Array(links));
    let mut routing = Table::new();
    match &spec.routing {
        Routing::ShortestPath => {
            routing.insert("kind".into(), Value::String("shortest_path".into()));
        }
        Routing::Xy => {
            routing.insert("kind".into(), Value::String("xy".into()));
        }
        Routing::Table {
            routes,
            fallback_shortest_path,
        } => {
            routing.insert("kind".into(), Value::String("table".into()));
            routing.insert(
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
                    x.insert(
                        "path".into(),
                        Value::Array(path.iter().map(|c| int(c.0 as u64)).collect()),
                    );
                    Value::Table(x)
                })
                .collect();
            routing.insert("routes".into(), Value::Array(r));
        }
    }
    t.insert("routing".into(), Value::Table(routing));
    if let Some(m) = &spec.memory {
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
        x.insert(
            "chiplets".into(),
            Value::Array(m.chiplets.iter().map(|c| int(c.0 as u64)).collect()),
        );
        x.insert(
            "weight_streaming".into(),
            Value::Boolean(m.weight_streaming),
        );
        t.insert("memory".into(), Value::Table(x));
    }
    let c = &spec.constraints;
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
    t.insert("constraints".into(), Value::Table(x));
    t
}

/// The spec as TOML text.
pub fn spec_to_toml_string(spec: &HwSpec) -> String {
    toml::to_string(&spec_to_toml(spec)).expect("a TOML table serialises")
}
