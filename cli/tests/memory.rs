//! Peak memory of the real binary on a run with many packets: the trace and
//! the plots drawn from it are bounded (`sim::report::Trace`), so memory does
//! not grow with the packet count. Before the bound, `resnet50_simba` at
//! 16-byte packets with the trace and plots on peaked at 2.0 GB.
//!
//! How memory is measured: the child's `VmHWM` (peak resident set) is read
//! from `/proc/PID/status` every millisecond while it runs. A reading can
//! miss growth in the last millisecond before exit, but an unbounded trace
//! grows during the whole simulation, long before the end. Linux only:
//! elsewhere the test says so and checks nothing.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The budget: about five times what the run takes (11 MB in a release
/// build), and a hundredth of what it took before the trace was bounded.
const BUDGET_KIB: u64 = 64 * 1024;

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn resnet50_simba_at_16_byte_packets_with_trace_and_plots_stays_within_budget() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: peak memory is not measured on this platform");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("scenarios/resnet50_simba.toml")).unwrap();
    let spec = root.join("hw_specs/simba_6x6.toml");
    let scenario = text
        .replace("packet_bytes = 1024", "packet_bytes = 16")
        .replace("trace = false", "trace = true")
        .replace(
            "\"../hw_specs/simba_6x6.toml\"",
            &format!("{:?}", spec.display().to_string()),
        );
    assert!(scenario.contains("packet_bytes = 16") && scenario.contains("trace = true"));
    assert!(scenario.contains("plots = \"svg\""));
    let dir = std::env::temp_dir().join(format!("tessera-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("resnet50_simba_16.toml");
    std::fs::write(&file, scenario).unwrap();
    let out = dir.join("out");

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tessera runs");
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "still running after 300 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "{stderr}");
    // Merging back-to-back packets keeps this trace far below its cap.
    assert!(!stderr.contains("warning"), "{stderr}");
    for f in ["trace.json", "gantt.svg", "chiplets.svg", "report.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(peak > 0, "no reading of the child's memory");
    assert!(
        peak <= BUDGET_KIB,
        "peak resident memory {peak} KiB is over the budget of {BUDGET_KIB} KiB"
    );
    eprintln!(
        "peak resident memory {peak} KiB in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
