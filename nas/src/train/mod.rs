//! Training candidates in dfdx on the CPU, on the stable toolchain. Layer
//! sizes are runtime values (a synthesized network's widths are not known at
//! compile time), so tensors are runtime-shaped and the optimiser is our own
//! Adam over them. dfdx 0.13's conv2d and pool2d sit behind its `nightly`
//! feature; here a convolution is a gather of patches (im2col, with one extra
//! zero element that padding positions index) followed by a matmul, which
//! gives gradients for both input and weights; pooling is the same gather
//! followed by a max or mean. `train/model.rs` says how every op is built.
//!
//! Training: parameters are drawn from ChaCha8 seeded with `cfg.seed`
//! (He-uniform weights), every epoch visits the training split in an order
//! shuffled by a second stream of the same seed, in mini-batches of
//! `cfg.batch_size` (the last one smaller), minimising the mean softmax
//! cross-entropy of the `[classes]` output with Adam. Evaluation runs in
//! batches of the same size, batch norm using its running averages.
//!
//! Determinism: the same network, data and config give bit-identical
//! weights and accuracies. Everything is sequential except dfdx's CPU
//! matmul, which hands large products to `gemm` with rayon's thread count;
//! `gemm` splits the output into tiles across threads but sums every output
//! element over `k` in the same order whatever the thread count, so results
//! do not depend on it (tested with `RAYON_NUM_THREADS=1` and `2` in
//! `nas/tests/train.rs`). Candidates trained in parallel threads share
//! rayon's global pool for their matmuls and stay deterministic.
//!
//! Speed (release build, 2-core machine shared with other builds,
//! `cargo run --release -p nas --example train_digits`): the CifarNet seed
//! at width 64 (279k parameters) trains 5 epochs of the 1,078 digits in
//! batches of 32 in 1.9–2.2 s and reaches 97.5% test accuracy; the small
//! ResNet (width 8, one block per stage) takes 0.6 s and reaches 93.9%.
//! Time goes mostly to gemm, the im2col gathers and allocation.

mod adam;
#[cfg(test)]
mod gradcheck;
mod index;
mod model;

use dfdx::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::{Dataset, Split};
use crate::ir::{Net, numel};
use adam::Adam;
use model::{Model, RunningStats};

/// How a candidate is trained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    pub epochs: u32,
    pub batch_size: usize,
    pub learning_rate: f32,
    /// Seeds weight initialisation and batch order.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 5,
            batch_size: 32,
            // Measured on digits (`nas/examples/train_digits.rs`, 5 epochs):
            // the CifarNet seed reaches 97.5% test accuracy at 1e-3 and
            // 3e-3, the small ResNet 80% at 1e-3 but 94% at 3e-3.
            learning_rate: 3e-3,
            seed: 0,
        }
    }
}

/// Why a network could not be trained (e.g. its output is not one score
/// per class).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainError(pub String);

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TrainError {}

/// A trained network.
#[derive(Clone, Debug)]
pub struct Trained {
    /// Mean training loss per epoch.
    pub epoch_losses: Vec<f32>,
    /// Accuracy on the validation split.
    pub val_accuracy: f64,
    weights: Vec<Vec<f32>>,
    /// Batch norm's running averages, one per batch-norm node.
    running: Vec<RunningStats>,
    batch_size: usize,
}

impl Trained {
    /// The learned parameters, node by node in a fixed order (weight before
    /// bias; scale before shift). Batch norm's running averages are state,
    /// not parameters, and are not included.
    pub fn weights(&self) -> &[Vec<f32>] {
        &self.weights
    }

    /// Accuracy of the trained network on `split`. `net` must be the
    /// network that was trained.
    pub fn accuracy(&self, net: &Net, data: &Dataset, split: &Split) -> Result<f64, TrainError> {
        check_fit(net, data)?;
        check_split(data, split, "the evaluated split")?;
        let mut model = Model::new(net, &mut ChaCha8Rng::seed_from_u64(0))
            .map_err(|e| TrainError(format!("{}: {e}", net.name)))?;
        let lens: Vec<usize> = self.weights.iter().map(Vec::len).collect();
        if model.parameter_lens() != lens || model.stats.len() != self.running.len() {
            return Err(TrainError(format!(
                "{}: these weights were trained for another network",
                net.name
            )));
        }
        model.set_parameters(&self.weights);
        model.stats = self.running.clone();
        check_batch(&model, net, self.batch_size)?;
        evaluate(&mut model, net, split, self.batch_size)
    }
}

/// Refuses a network that does not map the data's images to one score per
/// class.
fn check_fit(net: &Net, data: &Dataset) -> Result<(), TrainError> {
    let fail = |msg: String| Err(TrainError(format!("{}: {msg}", net.name)));
    if net.input != data.shape {
        return fail(format!(
            "the network takes {:?} but {} images are {:?}",
            net.input, data.name, data.shape
        ));
    }
    let out = net
        .output_shape()
        .map_err(|e| TrainError(format!("{}: {e}", net.name)))?;
    if out != [data.classes] {
        return fail(format!(
            "the output shape is {out:?}, but training needs one score per class ([{}])",
            data.classes
        ));
    }
    Ok(())
}

/// Refuses a split whose images or labels do not fit the data set.
fn check_split(data: &Dataset, split: &Split, what: &str) -> Result<(), TrainError> {
    let n = numel(&data.shape) as usize;
    if split.is_empty() {
        return Err(TrainError(format!("{}: {what} is empty", data.name)));
    }
    if split.images.len() != split.len() * n {
        return Err(TrainError(format!(
            "{}: {what} has {} values for {} images of {n}",
            data.name,
            split.images.len(),
            split.len()
        )));
    }
    if let Some(l) = split.labels.iter().find(|&&l| l as u64 >= data.classes) {
        return Err(TrainError(format!(
            "{}: {what} has label {l}, but there are {} classes",
            data.name, data.classes
        )));
    }
    Ok(())
}

/// Refuses a batch too large for 32-bit gather indices.
fn check_batch(model: &Model, net: &Net, batch_size: usize) -> Result<(), TrainError> {
    if batch_size > model.max_batch() {
        return Err(TrainError(format!(
            "{}: batch size {batch_size} is too large for this network (at most {})",
            net.name,
            model.max_batch()
        )));
    }
    Ok(())
}

/// The images of `rows` of `split`, `n` values each.
fn gather_images(split: &Split, rows: &[usize], n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * n);
    for &r in rows {
        out.extend_from_slice(&split.images[r * n..(r + 1) * n]);
    }
    out
}

/// Fraction of `split` whose highest score is its label.
fn evaluate(
    model: &mut Model,
    net: &Net,
    split: &Split,
    batch_size: usize,
) -> Result<f64, TrainError> {
    let n = split.images.len() / split.len().max(1);
    let rows: Vec<usize> = (0..split.len()).collect();
    let mut correct = 0usize;
    for chunk in rows.chunks(batch_size.max(1)) {
        let x = model.batch(gather_images(split, chunk, n), chunk.len());
        let scores = model.forward(x, false).as_vec();
        let classes = scores.len() / chunk.len();
        for (j, &r) in chunk.iter().enumerate() {
            let row = &scores[j * classes..(j + 1) * classes];
            if row.iter().any(|s| !s.is_finite()) {
                return Err(TrainError(format!(
                    "{}: a score became non-finite in evaluation",
                    net.name
                )));
            }
            let best = (0..classes)
                .reduce(|a, b| if row[b] > row[a] { b } else { a })
                .unwrap_or(0);
            correct += usize::from(best == split.labels[r] as usize);
        }
    }
    Ok(correct as f64 / split.len().max(1) as f64)
}

/// Trains `net` on `data.train` and measures it on `data.val`.
pub fn train(net: &Net, data: &Dataset, cfg: &TrainConfig) -> Result<Trained, TrainError> {
    check_fit(net, data)?;
    check_split(data, &data.train, "the training split")?;
    check_split(data, &data.val, "the validation split")?;
    if cfg.batch_size == 0 {
        return Err(TrainError("the batch size must be at least 1".into()));
    }
    if !(cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0) {
        return Err(TrainError(format!(
            "the learning rate must be positive and finite, got {}",
            cfg.learning_rate
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut model =
        Model::new(net, &mut rng).map_err(|e| TrainError(format!("{}: {e}", net.name)))?;
    check_batch(&model, net, cfg.batch_size)?;
    let mut order_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    order_rng.set_stream(1);
    let mut params = model.parameters();
    let mut adam = Adam::new(cfg.learning_rate, params.iter().map(Vec::len));
    let (n, classes) = (numel(&data.shape) as usize, data.classes as usize);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let mut epoch_losses = Vec::with_capacity(cfg.epochs as usize);
    for epoch in 1..=cfg.epochs {
        for i in (1..order.len()).rev() {
            let j = rand::Rng::gen_range(&mut order_rng, 0..=i);
            order.swap(i, j);
        }
        let mut loss_sum = 0.0f64;
        for chunk in order.chunks(cfg.batch_size) {
            let x = model.batch(gather_images(&data.train, chunk, n), chunk.len());
            let mut one_hot = vec![0.0f32; chunk.len() * classes];
            for (j, &r) in chunk.iter().enumerate() {
                one_hot[j * classes + data.train.labels[r] as usize] = 1.0;
            }
            let target = model.constant(one_hot, (chunk.len(), classes));
            let logits = model.forward(x, true);
            let loss = cross_entropy_with_logits_loss(logits, target);
            let value = loss.array();
            let non_finite = |what: &str| {
                TrainError(format!(
                    "{}: {what} became non-finite in epoch {epoch} (loss {value})",
                    net.name
                ))
            };
            if !value.is_finite() {
                return Err(non_finite("the training loss"));
            }
            let grads = model.gradients(&mut loss.backward());
            if grads.iter().flatten().any(|g| !g.is_finite()) {
                return Err(non_finite("a gradient"));
            }
            adam.step(&mut params, &grads);
            if params.iter().flatten().any(|p| !p.is_finite()) {
                return Err(non_finite("a weight"));
            }
            model.set_parameters(&params);
            loss_sum += value as f64 * chunk.len() as f64;
        }
        epoch_losses.push((loss_sum / order.len() as f64) as f32);
    }
    let val_accuracy = evaluate(&mut model, net, &data.val, cfg.batch_size)?;
    Ok(Trained {
        epoch_losses,
        val_accuracy,
        weights: params,
        running: model.stats.clone(),
        batch_size: cfg.batch_size,
    })
}
