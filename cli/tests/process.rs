//! The real `tessera` binary: exit codes and no panic output for user mistakes.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .expect("tessera runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn success_exits_0() {
    let (code, stdout, _) = run(&["models"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("bert-base"));
}

#[test]
fn mistakes_exit_2_without_a_backtrace() {
    for args in [
        &["graph", "show", "nosuch"][..],
        &["check", "/no/such/file.toml"],
        &["bogus-subcommand"],
    ] {
        let (code, _, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
        assert!(stderr.lines().count() >= 1);
    }
}
