//! The environment variables the real `tessera` binary reads
//! (`TESSERA_MAX_BUDGET`, `TESSERA_THREADS`): a value that is not a whole
//! number from 1 up is refused with one line naming the variable and exit
//! code 2, before anything is written; a good value takes effect.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a small `tessera partition ... --json --out OUT` (a scenario built
/// from flags, run as `tessera run` runs one) with one variable set.
fn run_with(var: &str, value: &str, out: &Path) -> (i32, String, String) {
    let spec = root().join("hw_specs/mesh_4x4.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "partition",
            "--hw",
            spec.to_str().unwrap(),
            "--model",
            "mlp",
        ])
        .args(["--method", "random", "--budget", "50", "--json", "--out"])
        .arg(out)
        .env_remove("TESSERA_MAX_BUDGET")
        .env_remove("TESSERA_THREADS")
        .env(var, value)
        .output()
        .expect("tessera runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn malformed_environment_variables_are_refused_in_one_line() {
    let out = std::env::temp_dir().join(format!("tessera-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    for (var, value) in [
        ("TESSERA_MAX_BUDGET", "abc"),
        ("TESSERA_MAX_BUDGET", "0"),
        ("TESSERA_MAX_BUDGET", "-3"),
        ("TESSERA_THREADS", "x"),
        ("TESSERA_THREADS", "0"),
    ] {
        let (code, stdout, stderr) = run_with(var, value, &out);
        assert_eq!(code, 2, "{var}={value}: {stderr}");
        assert_eq!(stdout, "", "{var}={value}");
        assert_eq!(stderr.lines().count(), 1, "{var}={value}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: environment variable {var}=")),
            "{stderr}"
        );
        assert!(!out.exists(), "{var}={value}: nothing written");
    }
}

#[test]
fn a_good_budget_cap_from_the_environment_takes_effect() {
    let out = std::env::temp_dir().join(format!("tessera-env-ok-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let (code, stdout, stderr) = run_with("TESSERA_MAX_BUDGET", "3", &out);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let budget = report["result"]["budget"].as_u64();
    assert_eq!(budget, Some(3), "{}", &stdout[..stdout.len().min(400)]);
    std::fs::remove_dir_all(&out).unwrap();
}
