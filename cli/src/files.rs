//! File input and output for the command: reading with the path in every error
//! (through the agent library's loader), and atomic writes (temporary file, then rename) so an interrupted run never
//! leaves a half-written file.

use std::fs;
use std::io::Write;
use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;

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
