//! Trains the two seed networks on the digits data and prints each epoch's
//! loss, validation and test accuracy and the wall time:
//! `cargo run --release -p nas --example train_digits [epochs [learning_rate [fashion]]]`
//! (with `fashion`: the first 6,000 training and 1,000 test images of
//! Fashion-MNIST from Debian's `dataset-fashion-mnist` instead).

use std::time::Instant;

use nas::data::{FASHION_MNIST_DIR, digits, fashion_mnist};
use nas::seeds::{cifarnet_small, resnet_small};
use nas::train::{TrainConfig, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let epochs: u32 = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 5,
    };
    let learning_rate: f32 = match std::env::args().nth(2) {
        Some(a) => a.parse()?,
        None => TrainConfig::default().learning_rate,
    };
    let data = match std::env::args().nth(3).as_deref() {
        Some("fashion") => fashion_mnist(FASHION_MNIST_DIR.as_ref(), Some((6000, 1000)))?,
        Some(other) => return Err(format!("unknown data set {other:?}").into()),
        None => digits(),
    };
    let shape = data.shape;
    let cfg = TrainConfig {
        epochs,
        learning_rate,
        ..TrainConfig::default()
    };
    for net in [
        cifarnet_small(&shape, 10, 64),
        resnet_small(&shape, 10, 8, 1),
    ] {
        let start = Instant::now();
        let trained = train(&net, &data, &cfg)?;
        let train_s = start.elapsed().as_secs_f64();
        let test = trained.accuracy(&net, &data, &data.test)?;
        println!(
            "{} on {} ({} parameters): {} epochs × {} samples, batch {}, lr {}: {:.2} s",
            net.name,
            data.name,
            net.params()?,
            cfg.epochs,
            data.train.len(),
            cfg.batch_size,
            cfg.learning_rate,
            train_s
        );
        let losses: Vec<String> = trained
            .epoch_losses
            .iter()
            .map(|l| format!("{l:.4}"))
            .collect();
        println!("  epoch losses: {}", losses.join(" "));
        println!(
            "  validation accuracy {:.4}, test accuracy {test:.4}",
            trained.val_accuracy
        );
    }
    Ok(())
}
