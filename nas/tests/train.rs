//! Training through the public API: learning happens, runs are
//! reproducible (also across rayon thread counts), and networks or settings
//! that cannot be trained are refused with a clear error.

use nas::data::{Dataset, digits};
use nas::ir::{NetBuilder, Op, ValueId};
use nas::seeds::{cifarnet_small, resnet_small};
use nas::train::{TrainConfig, train};

/// Digits with the training split cut to its first `n` samples.
fn digits_first(n: usize) -> Dataset {
    let mut d = digits();
    d.train.labels.truncate(n);
    d.train.images.truncate(n * 64);
    d
}

#[test]
fn loss_falls_and_accuracy_rises_on_digits() {
    let data = digits();
    let net = cifarnet_small(&[1, 8, 8], 10, 16);
    let cfg = TrainConfig {
        epochs: 2,
        ..TrainConfig::default()
    };
    let t = train(&net, &data, &cfg).unwrap();
    assert_eq!(t.epoch_losses.len(), 2);
    // Chance is ln 10 ≈ 2.30 in loss and 0.1 in accuracy.
    assert!(
        t.epoch_losses[1] < t.epoch_losses[0] && t.epoch_losses[1] < 1.0,
        "{:?}",
        t.epoch_losses
    );
    assert!(
        t.val_accuracy > 0.8,
        "validation accuracy {}",
        t.val_accuracy
    );
    let test = t.accuracy(&net, &data, &data.test).unwrap();
    assert!(test > 0.8, "test accuracy {test}");
}

#[test]
fn the_same_seed_gives_identical_weights_and_another_seed_does_not() {
    // A ResNet exercises batch norm's running averages too.
    let data = digits_first(200);
    let net = resnet_small(&[1, 8, 8], 10, 4, 1);
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: 16,
        ..TrainConfig::default()
    };
    let a = train(&net, &data, &cfg).unwrap();
    let b = train(&net, &data, &cfg).unwrap();
    assert_eq!(a.weights(), b.weights());
    assert_eq!(a.epoch_losses, b.epoch_losses);
    assert_eq!(a.val_accuracy, b.val_accuracy);
    assert_eq!(
        a.accuracy(&net, &data, &data.test).unwrap(),
        b.accuracy(&net, &data, &data.test).unwrap()
    );
    let c = train(&net, &data, &TrainConfig { seed: 1, ..cfg }).unwrap();
    assert_ne!(a.weights(), c.weights());
}

/// FNV-1a over the bits of every weight and loss.
fn digest(weights: &[Vec<f32>], losses: &[f32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for x in weights.iter().flatten().chain(losses) {
        for b in x.to_bits().to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Threads of this process (Linux), to confirm rayon's pool size took.
fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim().parse().ok()))
        })
        .flatten()
        .unwrap_or(0)
}

/// dfdx's CPU matmul hands large products to `gemm` on rayon's global
/// pool, whose size is fixed per process by `RAYON_NUM_THREADS`. So this
/// test runs itself twice as a child process, with 1 and 2 threads, and
/// compares the digests the children print. The network's conv and dense
/// products are above gemm's threading threshold (48·48·256
/// multiply-adds), so the 2-thread child really splits them.
#[test]
fn weights_are_identical_with_one_or_two_rayon_threads() {
    const CHILD: &str = "NAS_TRAIN_THREAD_CHILD";
    let run = || {
        let data = digits_first(256);
        let net = cifarnet_small(&[1, 8, 8], 10, 32);
        let cfg = TrainConfig {
            epochs: 1,
            ..TrainConfig::default()
        };
        let t = train(&net, &data, &cfg).unwrap();
        digest(t.weights(), &t.epoch_losses)
    };
    if std::env::var_os(CHILD).is_some() {
        let d = run();
        println!("digest={d:016x} threads={}", thread_count());
        return;
    }
    let child = |threads: &str| -> (String, usize) {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "weights_are_identical_with_one_or_two_rayon_threads",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "child failed: {text}");
        // The test harness prints the test's name on the same line.
        let line = text
            .lines()
            .find_map(|l| l.find("digest=").map(|at| &l[at..]))
            .unwrap_or_else(|| panic!("no digest in the child's output: {text}"));
        let (d, t) = line.split_once(" threads=").unwrap();
        (d.to_string(), t.parse().unwrap())
    };
    let (one, threads_one) = child("1");
    let (two, threads_two) = child("2");
    assert_eq!(one, two, "1 thread vs 2 threads");
    if cfg!(target_os = "linux") {
        assert!(
            threads_two > threads_one,
            "the 2-thread child ran {threads_two} threads, the 1-thread child {threads_one}"
        );
    }
    // And both agree with this process, whatever its pool size.
    assert_eq!(one, format!("digest={:016x}", run()));
}

#[test]
fn a_network_without_one_score_per_class_is_refused() {
    let data = digits_first(32);
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    // Seven scores for ten classes.
    let seven = cifarnet_small(&[1, 8, 8], 7, 4);
    let e = train(&seven, &data, &cfg).expect_err("refused");
    assert!(e.0.contains("output shape is [7]"), "{e}");
    assert!(e.0.contains("one score per class ([10])"), "{e}");
    // An image-shaped output.
    let mut b = NetBuilder::new("image_out", &[1, 8, 8]);
    let y = b.push("relu", "", Op::Relu, &[ValueId::INPUT]).unwrap();
    let e = train(&b.finish(y), &data, &cfg).expect_err("refused");
    assert!(
        e.0.contains("image_out: the output shape is [1, 8, 8]"),
        "{e}"
    );
    // A network for another input shape.
    let wide = cifarnet_small(&[1, 28, 28], 10, 4);
    let e = train(&wide, &data, &cfg).expect_err("refused");
    assert!(e.0.contains("takes [1, 28, 28]"), "{e}");
}

#[test]
fn a_divergent_run_is_an_error_naming_its_epoch() {
    let data = digits_first(64);
    let net = cifarnet_small(&[1, 8, 8], 10, 4);
    let cfg = TrainConfig {
        epochs: 2,
        learning_rate: 1e36,
        ..TrainConfig::default()
    };
    let e = train(&net, &data, &cfg).expect_err("diverges");
    assert!(e.0.contains("non-finite") && e.0.contains("epoch 1"), "{e}");
    let zero_batch = TrainConfig {
        batch_size: 0,
        ..TrainConfig::default()
    };
    assert!(train(&net, &data, &zero_batch).is_err());
    let huge_batch = TrainConfig {
        batch_size: usize::MAX,
        ..TrainConfig::default()
    };
    let e = train(&net, &data, &huge_batch).expect_err("refused");
    assert!(e.0.contains("too large"), "{e}");
}

#[test]
fn a_dead_branch_is_skipped_and_keeps_its_initial_weights() {
    let data = digits_first(64);
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let live = cifarnet_small(&[1, 8, 8], 10, 4);
    let mut dead = live.clone();
    // A dense layer reading the flatten that nothing reads.
    let mut b = NetBuilder::new("scratch", &[64]);
    b.push("d", "", Op::Dense { units: 5 }, &[ValueId::INPUT])
        .unwrap();
    let mut node = b.finish(ValueId::INPUT).nodes.remove(0);
    node.inputs = vec![ValueId(7)];
    dead.nodes.push(node);
    dead.validate().unwrap();
    let a = train(&live, &data, &cfg).unwrap();
    let d = train(&dead, &data, &cfg).unwrap();
    // The dead layer's weight and bias come last and are never trained;
    // the live layers are drawn first, so they match the live network's.
    assert_eq!(d.weights().len(), a.weights().len() + 2);
    assert_eq!(&d.weights()[..a.weights().len()], a.weights());
    assert!(d.weights().last().unwrap().iter().all(|b| *b == 0.0));
}

#[test]
fn weights_trained_for_one_network_do_not_evaluate_another() {
    let data = digits_first(32);
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let small = cifarnet_small(&[1, 8, 8], 10, 4);
    let t = train(&small, &data, &cfg).unwrap();
    let acc = t.accuracy(&small, &data, &data.test).unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let other = cifarnet_small(&[1, 8, 8], 10, 8);
    let e = t.accuracy(&other, &data, &data.test).expect_err("refused");
    assert!(e.0.contains("another network"), "{e}");
}
