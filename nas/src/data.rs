//! Data sets for training candidates, real and reachable offline:
//! scikit-learn's `digits` (8×8 grey images, 1,797 samples, a copy of the
//! test set of the UCI Optical Recognition of Handwritten Digits data,
//! CC BY 4.0; committed as `nas/data/digits.csv.gz` with its licence) and
//! Fashion-MNIST (28×28, read from the IDX files of Debian's
//! `dataset-fashion-mnist`). Splits are fixed.

use std::path::Path;

/// Where Debian's `dataset-fashion-mnist` puts its files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// A labelled set of images, normalised.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// `n · c · h · w` values, sample-major.
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A data set with fixed train, validation and test splits.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub name: String,
    /// Per-sample shape `[c, h, w]`.
    pub shape: [u64; 3],
    pub classes: u64,
    pub train: Split,
    pub val: Split,
    pub test: Split,
}

/// Why a data set could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError(pub String);

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataError {}

/// scikit-learn's digits with a fixed split.
pub fn digits() -> Dataset {
    todo!("digits")
}

/// Fashion-MNIST from `dir` (IDX files, gzip-compressed or not); `limit`
/// keeps the first `(train, test)` samples of the official splits (the
/// validation split is carved from the end of the kept training samples).
pub fn fashion_mnist(dir: &Path, limit: Option<(usize, usize)>) -> Result<Dataset, DataError> {
    let _ = (dir, limit);
    todo!("fashion-mnist")
}
