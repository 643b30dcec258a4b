//! File input and output for the command: reading with the path in every error
//! (through the agent library's loader), atomic writes (temporary file, then
//! rename) so an interrupted run never leaves a half-written file, and
//! output directories replaced as a whole.
//!
//! # Output directories: all or nothing
//!
//! A run's files are written into a fresh staging directory beside the
//! target (`.NAME.tessera-new-PID-N`), each synced; only when every one has
//! been written is the target swapped for it: the old directory is renamed
//! aside, the staging directory renamed into place, and the old one removed
//! (if the second rename fails, the old one is renamed back). So a failed
//! write (disk full, a path that cannot be created) leaves the previous
//! contents untouched, and a directory never mixes files of two runs: files
//! an earlier run wrote and this one does not are gone with the old
//! directory. Between the two renames the target briefly does not exist
//! ("the previous contents or nothing").
//!
//! Because the whole directory is replaced, tessera only replaces what it
//! recognises as its own: a missing or empty directory, one holding only
//! regular files among them `report.json` and `scenario.resolved.toml` (what
//! every run writes), or one holding only a train run's `checkpoint.json`
//! (written into the output directory as the run goes, so it survives a
//! crash; see [`CHECKPOINT`]). Anything else (a subdirectory, a user's own
//! files) is refused with a message naming `--force`, which replaces it
//! anyway. The runner refuses one more kind before this check, with
//! `--force` too: a directory that is, or holds, one of the run's inputs
//! (its scenario, spec, graph or ONNX file), which replacing it would delete.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::UserError;

/// Reads a UTF-8 text file ([`agent::load::read_text`]); a missing or
/// unreadable file is a user error.
pub fn read_text(path: &Path) -> Result<String, UserError> {
    Ok(agent::load::read_text(path)?)
}

/// Writes `contents` to `path` atomically: a sibling temporary file is written
/// and synced, then renamed over `path`.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), UserError> {
    let err = |e: std::io::Error| UserError::new(format!("{}: cannot write: {e}", path.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| UserError::new(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Files every run writes: a directory holding them (and only regular
/// files) is an earlier run's output, which a new run may replace.
const RUN_MARKERS: [&str; 2] = ["report.json", "scenario.resolved.toml"];

/// The checkpoint a train run writes into its output directory while it
/// goes (with [`write_atomic`], whose temporary file begins
/// `.checkpoint.json.tmp`): a directory holding only it, or its temporary
/// after a crash mid-write, is a run's that never finished.
pub const CHECKPOINT: &str = "checkpoint.json";

/// Writes a run's periodic checkpoint into its output directory (made if
/// need be), atomically: the `train` and `nas` tasks' shared writer.
pub fn write_checkpoint(out_dir: &Path, text: &str) -> Result<(), UserError> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| UserError::new(format!("{}: cannot create: {e}", out_dir.display())))?;
    write_atomic(&out_dir.join(CHECKPOINT), text.as_bytes())
}

/// Staging and set-aside directories made by this process so far (each
/// gets its own name, so concurrent runs in one process never share one).
static STAGED: AtomicUsize = AtomicUsize::new(0);

/// Checks that `dir` may be replaced by a run's output: it does not exist,
/// or is an empty directory or an earlier run's output, or `force` is set
/// (then any directory). Called before a run starts and again before the
/// swap.
pub fn check_replaceable(dir: &Path, force: bool) -> Result<(), UserError> {
    let err = |why: String| UserError::new(format!("{}: {why}", dir.display()));
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(format!("cannot read: {e}"))),
    };
    if !meta.is_dir() {
        return Err(err(
            "exists and is not a directory; choose another output directory".to_string(),
        ));
    }
    if force {
        return Ok(());
    }
    let mut names = Vec::new();
    let mut foreign = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| err(format!("cannot read: {e}")))? {
        let entry = entry.map_err(|e| err(format!("cannot read: {e}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !is_file {
            foreign.push(format!("{name}/"));
        }
        names.push(name);
    }
    let in_progress = names
        .iter()
        .all(|n| n == CHECKPOINT || n.starts_with(&format!(".{CHECKPOINT}.tmp")));
    let ours = in_progress || RUN_MARKERS.iter().all(|m| names.iter().any(|n| n == m));
    if ours && foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let shown = if foreign.is_empty() {
        "files that are not an earlier run's output".to_string()
    } else {
        format!("{} (not written by tessera)", foreign.join(", "))
    };
    Err(err(format!(
        "the output directory holds {shown}; a run replaces its output directory as a whole, so choose another output directory, empty this one, or pass --force to replace it"
    )))
}

/// Makes `files` (name, bytes) the whole contents of directory `dir`, all
/// or nothing (see the module comment): on error `dir` is as it was.
pub fn replace_dir(dir: &Path, files: &[(String, Vec<u8>)], force: bool) -> Result<(), UserError> {
    let at = |p: &Path, what: &str, e: std::io::Error| {
        UserError::new(format!("{}: cannot {what}: {e}", p.display()))
    };
    let parent = match dir.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .ok_or_else(|| UserError::new(format!("{}: not a directory name", dir.display())))?
        .to_string_lossy()
        .into_owned();
    fs::create_dir_all(&parent).map_err(|e| at(&parent, "create", e))?;
    let sibling = |kind: &str| {
        parent.join(format!(
            ".{name}.tessera-{kind}-{}-{}",
            std::process::id(),
            STAGED.fetch_add(1, Ordering::SeqCst)
        ))
    };
    let stage = sibling("new");
    fs::create_dir(&stage).map_err(|e| at(&stage, "create", e))?;
    let written = (|| {
        for (file, bytes) in files {
            let path = stage.join(file);
            let write = || -> std::io::Result<()> {
                let mut f = fs::File::create(&path)?;
                f.write_all(bytes)?;
                f.sync_all()
            };
            write().map_err(|e| at(&dir.join(file), "write", e))?;
        }
        check_replaceable(dir, force)?;
        if fs::symlink_metadata(dir).is_err() {
            return fs::rename(&stage, dir).map_err(|e| at(dir, "create", e));
        }
        let old = sibling("old");
        fs::rename(dir, &old).map_err(|e| at(dir, "replace", e))?;
        if let Err(e) = fs::rename(&stage, dir) {
            // Put the previous contents back; the staged files go below.
            let _ = fs::rename(&old, dir);
            return Err(at(dir, "replace", e));
        }
        // Best effort: a set-aside directory left behind harms nothing.
        let _ = fs::remove_dir_all(&old);
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_dir_all(&stage);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn run_files(extra: &str) -> Vec<(String, Vec<u8>)> {
        [RUN_MARKERS[0], RUN_MARKERS[1], extra]
            .iter()
            .map(|n| (n.to_string(), n.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_replaced_directory_holds_only_the_new_run_and_nothing_is_left_beside_it() {
        let root = std::env::temp_dir().join(format!("tessera-replace-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let out = root.join("out");
        replace_dir(&out, &run_files("trace.json"), false).unwrap();
        replace_dir(&out, &run_files("summary.txt"), false).unwrap();
        assert_eq!(
            listing(&out),
            ["report.json", "scenario.resolved.toml", "summary.txt"]
        );
        assert_eq!(listing(&root), ["out"], "no staging or old directory left");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_previous_contents() {
        let root = std::env::temp_dir().join(format!("tessera-failed-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let out = root.join("out");
        replace_dir(&out, &run_files("trace.json"), false).unwrap();
        // The second file cannot be created (its directory does not exist).
        let mut files = run_files("summary.txt");
        files.insert(1, ("no/such/dir.txt".to_string(), b"x".to_vec()));
        let err = replace_dir(&out, &files, false).unwrap_err();
        assert!(
            err.message.contains("no/such/dir.txt: cannot write"),
            "{}",
            err.message
        );
        assert_eq!(
            listing(&out),
            ["report.json", "scenario.resolved.toml", "trace.json"]
        );
        assert_eq!(listing(&root), ["out"]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_directory_tessera_did_not_write_is_replaced_only_with_force() {
        let root = std::env::temp_dir().join(format!("tessera-foreign-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let out = root.join("out");
        fs::create_dir_all(out.join("trace.json")).unwrap();
        fs::write(out.join("notes.txt"), "mine").unwrap();
        let err = replace_dir(&out, &run_files("trace.json"), false).unwrap_err();
        assert!(
            err.message.contains("trace.json/ (not written by tessera)"),
            "{}",
            err.message
        );
        assert!(err.message.contains("--force"), "{}", err.message);
        assert_eq!(listing(&out), ["notes.txt", "trace.json"]);
        replace_dir(&out, &run_files("trace.json"), true).unwrap();
        assert_eq!(
            listing(&out),
            ["report.json", "scenario.resolved.toml", "trace.json"]
        );
        assert!(out.join("trace.json").is_file());
        fs::remove_dir_all(&root).unwrap();
    }

    /// A train run writes its checkpoint into the output directory as it
    /// goes; that directory (also with a temporary left by a crash) is
    /// replaced by the run's outputs, a user's file beside it is not.
    #[test]
    fn a_directory_holding_only_a_checkpoint_is_an_unfinished_run() {
        let root = std::env::temp_dir().join(format!("tessera-ckpt-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let out = root.join("out");
        fs::create_dir_all(&out).unwrap();
        write_atomic(&out.join(CHECKPOINT), b"{}").unwrap();
        fs::write(out.join(".checkpoint.json.tmp123"), "half").unwrap();
        check_replaceable(&out, false).unwrap();
        fs::write(out.join("notes.txt"), "mine").unwrap();
        assert!(check_replaceable(&out, false).is_err());
        fs::remove_file(out.join("notes.txt")).unwrap();
        replace_dir(&out, &run_files(CHECKPOINT), false).unwrap();
        assert_eq!(
            listing(&out),
            ["checkpoint.json", "report.json", "scenario.resolved.toml"]
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("tessera-files-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("out.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
