//! What a run writes and how: the `report.json` envelope, the scratch
//! directory plots are drawn in, and writing the output directory as a
//! whole once the run has succeeded (`files::replace_dir`: staged beside
//! it, then swapped in, so it never mixes two runs' files).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::error::UserError;
use crate::files::replace_dir;
use crate::plots::Format;
use crate::scenario::Scenario;

/// Version of the `report.json` envelope.
pub const RUN_REPORT_SCHEMA_VERSION: u32 = 1;

/// Files to write, in order, as (name, bytes).
pub(super) type Outputs = Vec<(String, Vec<u8>)>;

/// The `report.json` envelope.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    schema_version: u32,
    tessera_version: &'a str,
    scenario: &'a str,
    task: &'a str,
    seed: u64,
    complete: bool,
    result: T,
}

/// `report.json`: the task's result inside the envelope that says which
/// scenario, task, seed and tessera version made it, and whether it finished.
pub(super) fn envelope_json<T: Serialize>(s: &Scenario, complete: bool, result: T) -> String {
    let e = Envelope {
        schema_version: RUN_REPORT_SCHEMA_VERSION,
        tessera_version: env!("CARGO_PKG_VERSION"),
        scenario: &s.name,
        task: s.task.kind(),
        seed: s.seed,
        complete,
        result,
    };
    let mut text = serde_json::to_string_pretty(&e).expect("report serialises");
    text.push('\n');
    text
}

/// `report.json` as the one output a task writes, in [`Outputs`] form.
pub(super) fn report_file<T: Serialize>(
    s: &Scenario,
    complete: bool,
    result: T,
) -> (String, Vec<u8>) {
    (
        "report.json".to_string(),
        envelope_json(s, complete, result).into_bytes(),
    )
}

/// Makes `files` the whole contents of the output directory, all or
/// nothing; an earlier run's files there are replaced, anything else is
/// refused unless `force`.
pub(super) fn write_outputs(out_dir: &Path, files: &Outputs, force: bool) -> Result<(), UserError> {
    replace_dir(out_dir, files, force)
}

/// A private scratch directory for plots. The plot module writes files, but
/// nothing may appear in the output directory before the run has succeeded,
/// so plots are drawn here, read back with [`PlotScratch::take`] and written
/// with the rest. The directory is removed when this value is dropped, also
/// when drawing failed.
pub(super) struct PlotScratch {
    dir: PathBuf,
    format: Format,
}

/// Scratch directories made by this process so far: each gets its own name,
/// so concurrent runs in one process (tests) never share one.
static PLOT_DIRS: AtomicUsize = AtomicUsize::new(0);

impl PlotScratch {
    pub(super) fn new(out_dir: &Path, format: Format) -> Result<Self, UserError> {
        let name = out_dir
            .file_name()
            .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
        let dir = std::env::temp_dir().join(format!(
            "tessera-plots-{}-{}-{}",
            std::process::id(),
            name,
            PLOT_DIRS.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| UserError::new(format!("{}: cannot create: {e}", dir.display())))?;
        Ok(PlotScratch { dir, format })
    }

    pub(super) fn format(&self) -> Format {
        self.format
    }

    /// Where the plot named `stem` is drawn: `stem.svg` or `stem.png`.
    pub(super) fn path(&self, stem: &str) -> PathBuf {
        let ext = match self.format {
            Format::Svg => "svg",
            Format::Png => "png",
        };
        self.dir.join(format!("{stem}.{ext}"))
    }

    /// A drawn plot, read back as an output file named as it was drawn.
    pub(super) fn take(&self, path: &Path) -> Result<(String, Vec<u8>), UserError> {
        let bytes = std::fs::read(path)
            .map_err(|e| UserError::new(format!("{}: cannot read: {e}", path.display())))?;
        let name = path
            .file_name()
            .expect("plot files have names")
            .to_string_lossy()
            .into_owned();
        Ok((name, bytes))
    }
}

impl Drop for PlotScratch {
    fn drop(&mut self) {
        // Best effort: a scratch directory left in the system's temporary
        // directory harms nothing.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
