//! Training candidates in dfdx on the CPU, on the stable toolchain. Layer
//! sizes are runtime values (a synthesized network's widths are not known at
//! compile time), so tensors are runtime-shaped and the optimiser is our own
//! Adam over them. dfdx 0.13's conv2d and pool2d sit behind its `nightly`
//! feature; here a convolution is a gather of patches (im2col, with one extra
//! zero element that padding positions index) followed by a matmul, which
//! gives gradients for both input and weights; pooling is the same gather
//! followed by a max or mean.

use crate::data::{Dataset, Split};
use crate::ir::Net;

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
            learning_rate: 1e-3,
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
pub struct Trained {
    /// Mean training loss per epoch.
    pub epoch_losses: Vec<f32>,
    /// Accuracy on the validation split.
    pub val_accuracy: f64,
    weights: Vec<Vec<f32>>,
}

impl Trained {
    /// The learned parameters, node by node in a fixed order.
    pub fn weights(&self) -> &[Vec<f32>] {
        &self.weights
    }

    /// Accuracy of the trained network on `split`.
    pub fn accuracy(&self, net: &Net, data: &Dataset, split: &Split) -> Result<f64, TrainError> {
        let _ = (net, data, split);
        todo!("evaluation")
    }
}

/// Trains `net` on `data.train` and measures it on `data.val`.
pub fn train(net: &Net, data: &Dataset, cfg: &TrainConfig) -> Result<Trained, TrainError> {
    let _ = (net, data, cfg);
    todo!("training")
}
