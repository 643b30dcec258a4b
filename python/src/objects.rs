//! `tessera.Spec` and `tessera.Workload`: a validated hardware spec and a
//! workload graph, read once and passed to any call in place of a path or a
//! model name. Both are immutable, expose plain attributes (numbers,
//! strings, dicts), and pickle by their source (a spec's text, a graph's
//! JSON), so they can cross process boundaries.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use agent::load::Workload as Source;
use sim::graph::Graph;
use sim::spec::HwSpec;
use tessera_cli::UserError;

use crate::errors::detached;

/// A hardware spec (a multi-chip-module package), validated as `tessera
/// check` validates it. Load one with `Spec.load(path)` or
/// `Spec.from_toml(text)`; pass it wherever a spec path is taken.
#[pyclass(frozen, module = "tessera", name = "Spec")]
pub struct Spec {
    hw: Arc<HwSpec>,
    /// The TOML text it was read from.
    text: String,
    /// The name its messages use: the file's path, or `from_toml`'s name.
    source: String,
    /// The file, when it came from one.
    path: Option<PathBuf>,
    /// `--set`-style overrides applied to the file (`FIELD=VALUE`).
    overrides: Vec<String>,
}

impl Spec {
    /// The validated spec.
    pub fn hw(&self) -> Arc<HwSpec> {
        Arc::clone(&self.hw)
    }

    /// The file it was read from, if any.
    pub fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    fn parse(text: String, source: String, path: Option<PathBuf>) -> Result<Spec, UserError> {
        let hw = HwSpec::from_toml_str(&text, &source)
            .map_err(|d| UserError::from(agent::LoadError::Spec(d)))?;
        Ok(Spec {
            hw: Arc::new(hw),
            text,
            source,
            path,
            overrides: Vec::new(),
        })
    }

    /// The file's spec with `overrides` applied, as `--set` applies them.
    fn overridden(&self, overrides: Vec<String>) -> Result<Spec, UserError> {
        let Some(path) = &self.path else {
            return Err(UserError::new(
                "--set: overrides apply to a spec read from a file (Spec.load); this one came \
                 from Spec.from_toml",
            ));
        };
        let parsed = tessera_cli::scenario::parse_sets(&overrides)?;
        let hw = tessera_cli::scenario::spec_from_flags(path, parsed)?;
        Ok(Spec {
            hw: Arc::new(hw),
            text: self.text.clone(),
            source: self.source.clone(),
            path: Some(path.clone()),
            overrides,
        })
    }
}

#[pymethods]
impl Spec {
    /// Reads and validates a hardware spec file (TOML, `docs/hw_spec.md`),
    /// or a shipped spec by name (`"simba_6x6"`, as `tessera specs` lists
    /// them, like the command's `--hw`). A mistake raises `tessera.InputError` with every problem as
    /// `file:line:col: field: message`.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Spec> {
        detached(py, move || {
            let path = tessera_cli::load::find_spec(&path)?;
            let text = agent::load::read_text(&path)?;
            Spec::parse(text, path.display().to_string(), Some(path))
        })
    }

    /// Validates a hardware spec given as TOML text; `name` is what error
    /// messages call it.
    #[staticmethod]
    #[pyo3(signature = (text, name = "<string>".to_string()))]
    fn from_toml(py: Python<'_>, text: String, name: String) -> PyResult<Spec> {
        detached(py, move || Spec::parse(text, name, None))
    }

    /// A copy with spec fields changed, as `tessera simulate --set
    /// FIELD=VALUE` changes them (each item `"FIELD=VALUE"`, VALUE in TOML).
    /// Needs a spec read from a file.
    fn with_overrides(&self, py: Python<'_>, overrides: Vec<String>) -> PyResult<Spec> {
        let mut all = self.overrides.clone();
        all.extend(overrides);
        let this = Spec {
            hw: Arc::clone(&self.hw),
            text: self.text.clone(),
            source: self.source.clone(),
            path: self.path.clone(),
            overrides: Vec::new(),
        };
        detached(py, move || this.overridden(all))
    }

    /// Rebuilds a pickled spec.
    #[staticmethod]
    fn _restore(
        py: Python<'_>,
        text: String,
        source: String,
        path: Option<PathBuf>,
        overrides: Vec<String>,
    ) -> PyResult<Spec> {
        detached(py, move || {
            let spec = Spec::parse(text, source, path)?;
            if overrides.is_empty() {
                Ok(spec)
            } else {
                spec.overridden(overrides)
            }
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let this = slf.get();
        let restore = py.get_type::<Spec>().getattr("_restore")?;
        let path = this.path.as_ref().map(|p| p.display().to_string());
        let args = (
            this.text.clone(),
            this.source.clone(),
            path,
            this.overrides.clone(),
        )
            .into_pyobject(py)?;
        PyTuple::new(py, [restore, args.into_any()])
    }

    /// The package's name (the spec's `name` key).
    #[getter]
    fn name(&self) -> String {
        self.hw.name.clone()
    }

    /// The file it was read from, or None.
    #[getter(path)]
    fn path_str(&self) -> Option<String> {
        self.path.as_ref().map(|p| p.display().to_string())
    }

    /// The `FIELD=VALUE` overrides applied to the file.
    #[getter(overrides)]
    fn overrides_list(&self) -> Vec<String> {
        self.overrides.clone()
    }

    /// Number of chiplets.
    #[getter]
    fn n_chiplets(&self) -> usize {
        self.hw.n_chiplets()
    }

    /// Number of directed links.
    #[getter]
    fn n_links(&self) -> usize {
        self.hw.summary().n_links
    }

    /// The topology in words (e.g. "unidirectional ring of 16").
    #[getter]
    fn topology(&self) -> String {
        self.hw.summary().topology
    }

    /// SRAM of all chiplets together, in bytes.
    #[getter]
    fn total_sram_bytes(&self) -> u64 {
        self.hw.summary().total_sram_kib * 1024
    }

    /// Peak int8 tera-operations per second of all chiplets together.
    #[getter]
    fn peak_tops(&self) -> f64 {
        self.hw.summary().peak_tops
    }

    /// The clock in MHz.
    #[getter]
    fn clock_mhz(&self) -> f64 {
        self.hw.clock_mhz
    }

    /// The chiplet ids in pipeline order.
    #[getter]
    fn pipeline_order(&self) -> Vec<u32> {
        self.hw.pipeline_order.iter().map(|c| c.0).collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "tessera.Spec({:?}: {} chiplets, {})",
            self.hw.name,
            self.hw.n_chiplets(),
            self.hw.summary().topology
        )
    }
}

/// A workload graph: a zoo model with parameters, a tessera graph JSON file
/// or an ONNX file with its dims, loaded as `tessera graph show` loads it.
/// Create one with `tessera.load_workload`.
#[pyclass(frozen, module = "tessera", name = "Workload")]
pub struct Workload {
    graph: Arc<Graph>,
    source: Source,
}

impl Workload {
    /// The graph.
    pub fn graph(&self) -> Arc<Graph> {
        Arc::clone(&self.graph)
    }

    /// How it was loaded.
    pub fn source(&self) -> Source {
        self.source.clone()
    }
}

#[pymethods]
impl Workload {
    /// Loads a workload as `--model NAME -p KEY=VALUE ...` does: an ONNX
    /// file (`*.onnx`), a graph JSON file, else a zoo model name.
    #[staticmethod]
    #[pyo3(signature = (model, params = BTreeMap::new()))]
    fn load(py: Python<'_>, model: String, params: BTreeMap<String, String>) -> PyResult<Workload> {
        detached(py, move || {
            let graph = tessera_cli::load::load_graph(&model, &params)?;
            Ok(Workload {
                graph: Arc::new(graph),
                source: Source::from_name(&model, params),
            })
        })
    }

    /// Rebuilds a pickled workload from its graph JSON and its source.
    #[staticmethod]
    fn _restore(
        py: Python<'_>,
        graph_json: String,
        model: String,
        params: BTreeMap<String, String>,
    ) -> PyResult<Workload> {
        detached(py, move || {
            let graph = Graph::from_json(&graph_json)
                .map_err(|e| UserError::new(format!("{model}: {e}")))?;
            Ok(Workload {
                graph: Arc::new(graph),
                source: Source::from_name(&model, params),
            })
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let this = slf.get();
        let restore = py.get_type::<Workload>().getattr("_restore")?;
        let (model, params) = this.source_parts();
        let args = (this.graph.to_json(), model, params).into_pyobject(py)?;
        PyTuple::new(py, [restore, args.into_any()])
    }

    /// The graph's name (the model with its distinguishing parameters).
    #[getter]
    fn name(&self) -> String {
        self.graph.name().to_string()
    }

    /// The model it was built from (a zoo name, or the imported model's).
    #[getter]
    fn model(&self) -> String {
        self.graph.model().to_string()
    }

    /// Where it came from: "zoo", "graph_json" or "onnx".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.source {
            Source::Zoo { .. } => "zoo",
            Source::GraphJson(_) => "graph_json",
            Source::Onnx { .. } => "onnx",
        }
    }

    /// The file it was read from, or None for a zoo model.
    #[getter]
    fn path(&self) -> Option<String> {
        match &self.source {
            Source::Zoo { .. } => None,
            Source::GraphJson(p) | Source::Onnx { path: p, .. } => Some(p.display().to_string()),
        }
    }

    /// The graph's parameters as text (every zoo parameter, defaults too).
    #[getter]
    fn model_params(&self) -> BTreeMap<String, String> {
        self.graph.params().clone()
    }

    /// Number of operations.
    #[getter]
    fn n_ops(&self) -> u64 {
        self.graph.totals().ops
    }

    /// Multiply-accumulates per inference.
    #[getter]
    fn macs(&self) -> u64 {
        self.graph.totals().macs
    }

    /// Vector (element-wise) operations per inference.
    #[getter]
    fn vector_ops(&self) -> u64 {
        self.graph.totals().vector_ops
    }

    /// Number of trained parameters (weights).
    #[getter]
    fn n_params(&self) -> u64 {
        self.graph.totals().params
    }

    /// Bytes of weights.
    #[getter]
    fn weight_bytes(&self) -> u64 {
        self.graph.totals().weight_bytes
    }

    /// Bytes of activations produced per inference.
    #[getter]
    fn activation_bytes(&self) -> u64 {
        self.graph.totals().activation_bytes
    }

    /// The operations in id (topological) order, one dict each: id, name,
    /// kind, output_shape, macs, params, weight_bytes.
    fn ops<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for op in self.graph.ops() {
            let kind = match &op.kind {
                sim::graph::OpKind::Elementwise { func } => func.name(),
                k => k.name(),
            };
            let d = PyDict::new(py);
            d.set_item("id", op.id.0)?;
            d.set_item("name", &op.name)?;
            d.set_item("kind", kind)?;
            d.set_item("output_shape", op.output_shape.clone())?;
            d.set_item("macs", op.macs)?;
            d.set_item("params", op.params)?;
            d.set_item("weight_bytes", op.weight_bytes)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The graph as tessera graph JSON text (`tessera graph export`).
    fn to_json(&self) -> String {
        self.graph.to_json()
    }

    fn __repr__(&self) -> String {
        let t = self.graph.totals();
        format!(
            "tessera.Workload({:?}: {} ops, {} MACs, {} params)",
            self.graph.name(),
            t.ops,
            t.macs,
            t.params
        )
    }
}

impl Workload {
    /// The name `Workload::from_name` reads back into this source, and its
    /// parameters.
    fn source_parts(&self) -> (String, BTreeMap<String, String>) {
        match &self.source {
            Source::Zoo { model, params } => (model.clone(), params.clone()),
            Source::GraphJson(p) => (p.display().to_string(), BTreeMap::new()),
            Source::Onnx { path, params, .. } => (path.display().to_string(), params.clone()),
        }
    }
}
