//! Trains the two seed networks on the digits data and prints each epoch's
//! loss, validation and test accuracy and the wall time:
//! `cargo run --release -p nas --example train_digits [epochs]`.

use std::time::Instant;

use nas::data::digits;
use nas::seeds::{cifarnet_small, resnet_small};
use nas::train::{TrainConfig, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let epochs: u32 = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 5,
    };
    let data = digits();
    let cfg = TrainConfig {
        epochs,
        ..TrainConfig::default()
    };
    for net in [
        cifarnet_small(&[1, 8, 8], 10, 64),
        resnet_small(&[1, 8, 8], 10, 8, 1),
    ] {
        let start = Instant::now();
        let trained = train(&net, &data, &cfg)?;
        let train_s = start.elapsed().as_secs_f64();
        let test = trained.accuracy(&net, &data, &data.test)?;
        println!(
            "{} ({} parameters): {} epochs × {} samples, batch {}, lr {}: {:.2} s",
            net.name,
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
