//! Data sets for training candidates, real and reachable offline:
//! scikit-learn's `digits` (8×8 grey images, 1,797 samples, a copy of the
//! test set of the UCI Optical Recognition of Handwritten Digits data,
//! CC BY 4.0; committed as `nas/data/digits.csv.gz` with its licence in
//! `nas/data/LICENSE-digits.md`) and Fashion-MNIST (28×28, read from the IDX
//! files of Debian's `dataset-fashion-mnist`). Splits are fixed: the same
//! call always gives the same samples in the same order.
//!
//! Pixels are scaled to `[0, 1]` (digits ÷ 16, Fashion-MNIST ÷ 255); images
//! are stored sample-major as `[c, h, w]` with one channel.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Where Debian's `dataset-fashion-mnist` puts its files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// How to get Fashion-MNIST when it is missing.
pub const FASHION_MNIST_INSTALL: &str = "install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; the files go to /usr/share/datasets/fashion-mnist)";

/// The committed digits file (see `nas/data/LICENSE-digits.md`).
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// Seed of the shuffle that fixes the digits split.
pub const DIGITS_SPLIT_SEED: u64 = 0x5eed_d161;

/// Digits split sizes: training, validation, test (1,797 in all).
pub const DIGITS_SPLIT: (usize, usize, usize) = (1078, 359, 360);

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

    /// The samples at `rows`, in that order (`sample_len` values each).
    fn rows(&self, rows: &[usize], sample_len: usize) -> Split {
        let mut images = Vec::with_capacity(rows.len() * sample_len);
        for &r in rows {
            images.extend_from_slice(&self.images[r * sample_len..(r + 1) * sample_len]);
        }
        Split {
            images,
            labels: rows.iter().map(|&r| self.labels[r]).collect(),
        }
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

/// scikit-learn's digits with a fixed split: the 1,797 samples are shuffled
/// once (ChaCha8 seeded with [`DIGITS_SPLIT_SEED`], Fisher–Yates) and cut
/// into 1,078 training, 359 validation and 360 test samples
/// ([`DIGITS_SPLIT`]). Shape `[1, 8, 8]`, pixels ÷ 16, 10 classes.
pub fn digits() -> Dataset {
    let all = parse_digits(DIGITS_CSV_GZ).expect("the committed digits file is well formed");
    let mut order: Vec<usize> = (0..all.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(DIGITS_SPLIT_SEED);
    for i in (1..order.len()).rev() {
        let j = rng.gen_range(0..=i);
        order.swap(i, j);
    }
    let (n_train, n_val, _) = DIGITS_SPLIT;
    let (train, rest) = order.split_at(n_train);
    let (val, test) = rest.split_at(n_val);
    Dataset {
        name: "digits".into(),
        shape: [1, 8, 8],
        classes: 10,
        train: all.rows(train, 64),
        val: all.rows(val, 64),
        test: all.rows(test, 64),
    }
}

/// Every sample of the digits CSV (64 pixels 0..16, then the label), in file
/// order, pixels ÷ 16.
fn parse_digits(gz: &[u8]) -> Result<Split, DataError> {
    let mut text = String::new();
    GzDecoder::new(gz)
        .read_to_string(&mut text)
        .map_err(|e| DataError(format!("digits.csv.gz: cannot decompress: {e}")))?;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let bad = |what: String| DataError(format!("digits.csv.gz line {}: {what}", i + 1));
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(bad(format!("{} fields, expected 65", fields.len())));
        }
        for f in &fields[..64] {
            let v: f32 = f
                .trim()
                .parse()
                .map_err(|_| bad(format!("pixel {f:?} is not a number")))?;
            if !(0.0..=16.0).contains(&v) {
                return Err(bad(format!("pixel {v} is outside 0..=16")));
            }
            images.push(v / 16.0);
        }
        let label: u8 = fields[64]
            .trim()
            .parse()
            .ok()
            .filter(|l| *l < 10)
            .ok_or_else(|| bad(format!("label {:?} is not a digit 0..9", fields[64])))?;
        labels.push(label);
    }
    Ok(Split { images, labels })
}

/// An IDX array of unsigned bytes (the format of the MNIST files): its
/// dimensions and its values, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes with `rank` dimensions (1 for
/// labels, 3 for images), gzip-compressed or not (told apart by the gzip
/// magic bytes). With `limit`, only the first `limit` items along the first
/// dimension are read (and `dims[0]` says how many were). Errors name the
/// file and what is wrong with it.
pub fn read_idx(path: &Path, rank: u8, limit: Option<usize>) -> Result<IdxArray, DataError> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        DataError(format!(
            "{shown}: cannot read ({e}); for Fashion-MNIST, {FASHION_MNIST_INSTALL}"
        ))
    })?;
    let mut reader: Box<dyn Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(GzDecoder::new(&bytes[..]))
    } else {
        Box::new(&bytes[..])
    };
    let mut read_exact = |buf: &mut [u8], what: &str| {
        reader
            .read_exact(buf)
            .map_err(|e| DataError(format!("{shown}: truncated or corrupt {what} ({e})")))
    };
    let mut magic = [0u8; 4];
    read_exact(&mut magic, "header")?;
    // Magic: two zero bytes, the element type (0x08 = unsigned byte), the
    // number of dimensions.
    if magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != rank {
        return Err(DataError(format!(
            "{shown}: bad magic number 0x{:08x}, expected 0x{:08x} (IDX, unsigned bytes, {rank} dimension(s))",
            u32::from_be_bytes(magic),
            0x0800 | rank as u32
        )));
    }
    let mut dims = Vec::with_capacity(rank as usize);
    for _ in 0..rank {
        let mut d = [0u8; 4];
        read_exact(&mut d, "header")?;
        dims.push(u32::from_be_bytes(d) as usize);
    }
    if let Some(l) = limit {
        dims[0] = dims[0].min(l);
    }
    let len = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| DataError(format!("{shown}: dimensions {dims:?} overflow")))?;
    let mut data = vec![0u8; len];
    read_exact(
        &mut data,
        &format!("data (expected {len} bytes for {dims:?})"),
    )?;
    Ok(IdxArray { dims, data })
}

/// One official Fashion-MNIST split (`train` or `t10k`), at most `limit`
/// samples, pixels ÷ 255.
fn fashion_split(dir: &Path, prefix: &str, limit: Option<usize>) -> Result<Split, DataError> {
    let find = |stem: String| -> Result<std::path::PathBuf, DataError> {
        let gz = dir.join(format!("{stem}.gz"));
        let raw = dir.join(&stem);
        if gz.is_file() {
            Ok(gz)
        } else if raw.is_file() {
            Ok(raw)
        } else {
            Err(DataError(format!(
                "Fashion-MNIST: {} (or {}) is missing; {FASHION_MNIST_INSTALL}",
                gz.display(),
                raw.display()
            )))
        }
    };
    let images_path = find(format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find(format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&images_path, 3, limit)?;
    let labels = read_idx(&labels_path, 1, limit)?;
    if images.dims[1..] != [28, 28] {
        return Err(DataError(format!(
            "{}: images are {}×{}, expected 28×28",
            images_path.display(),
            images.dims[1],
            images.dims[2]
        )));
    }
    if images.dims[0] != labels.dims[0] {
        return Err(DataError(format!(
            "{} holds {} images but {} holds {} labels",
            images_path.display(),
            images.dims[0],
            labels_path.display(),
            labels.dims[0]
        )));
    }
    if let Some(bad) = labels.data.iter().find(|l| **l >= 10) {
        return Err(DataError(format!(
            "{}: label {bad} is not a class 0..9",
            labels_path.display()
        )));
    }
    Ok(Split {
        images: images.data.iter().map(|&p| p as f32 / 255.0).collect(),
        labels: labels.data,
    })
}

/// Fashion-MNIST from `dir` (IDX files, gzip-compressed or not); `limit`
/// keeps the first `(train, test)` samples of the official splits (the
/// validation split is carved from the end of the kept training samples).
///
/// The files are `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each with or
/// without `.gz`, as Debian's `dataset-fashion-mnist` installs them in
/// [`FASHION_MNIST_DIR`]. Validation is the last tenth (rounded down, but at
/// least one sample when two or more are kept) of the kept training samples;
/// the official test split is the test split. Shape `[1, 28, 28]`, pixels
/// ÷ 255, 10 classes.
pub fn fashion_mnist(dir: &Path, limit: Option<(usize, usize)>) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError(format!(
            "Fashion-MNIST: directory {} does not exist; {FASHION_MNIST_INSTALL}",
            dir.display()
        )));
    }
    let kept = fashion_split(dir, "train", limit.map(|l| l.0))?;
    let test = fashion_split(dir, "t10k", limit.map(|l| l.1))?;
    let n = kept.len();
    let n_val = if n >= 2 { (n / 10).max(1) } else { 0 };
    let cut = n - n_val;
    let rows: Vec<usize> = (0..n).collect();
    Ok(Dataset {
        name: "fashion-mnist".into(),
        shape: [1, 28, 28],
        classes: 10,
        train: kept.rows(&rows[..cut], 784),
        val: kept.rows(&rows[cut..], 784),
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    #[test]
    fn digits_file_is_the_documented_one() {
        let all = parse_digits(DIGITS_CSV_GZ).unwrap();
        assert_eq!(all.len(), 1797);
        assert_eq!(all.images.len(), 1797 * 64);
        let mut per_label = [0usize; 10];
        for &l in &all.labels {
            per_label[l as usize] += 1;
        }
        // The counts LICENSE-digits.md states.
        assert_eq!(
            per_label,
            [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        // A fingerprint of the pixel values: their sum in sixteenths.
        let sum: f64 = all.images.iter().map(|&p| (p * 16.0) as f64).sum();
        assert_eq!(sum, 561_718.0);
        assert_eq!(DIGITS_CSV_GZ.len(), 57_523);
        // The first row of the file, as scikit-learn's load_digits gives it.
        let first: Vec<u8> = all.images[..8].iter().map(|&p| (p * 16.0) as u8).collect();
        assert_eq!(first, [0, 0, 5, 13, 9, 1, 0, 0]);
        assert_eq!(all.labels[..3], [0, 1, 2]);
    }

    #[test]
    fn digits_split_has_fixed_sizes_and_uses_every_sample_once() {
        let d = digits();
        assert_eq!(
            (d.train.len(), d.val.len(), d.test.len()),
            DIGITS_SPLIT,
            "train, val, test"
        );
        assert_eq!(d.train.images.len(), d.train.len() * 64);
        assert!(d.train.images.iter().all(|p| (0.0..=1.0).contains(p)));
        // Every sample lands in exactly one split: the multiset of rows is
        // the file's (compare sorted rows as integer sixteenths).
        let key = |s: &Split| -> Vec<Vec<u8>> {
            (0..s.len())
                .map(|i| {
                    let mut row: Vec<u8> = s.images[i * 64..(i + 1) * 64]
                        .iter()
                        .map(|&p| (p * 16.0) as u8)
                        .collect();
                    row.push(s.labels[i]);
                    row
                })
                .collect()
        };
        let mut joined = key(&d.train);
        joined.extend(key(&d.val));
        joined.extend(key(&d.test));
        joined.sort();
        let mut file = key(&parse_digits(DIGITS_CSV_GZ).unwrap());
        file.sort();
        assert_eq!(joined, file);
        // Fixed: the same call gives the same split.
        assert_eq!(digits(), d);
        // Every class appears in every split.
        for s in [&d.train, &d.val, &d.test] {
            for c in 0..10u8 {
                assert!(s.labels.contains(&c));
            }
        }
    }

    /// A fresh directory for one test.
    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("nas-data-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = magic.to_be_bytes().to_vec();
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// A Fashion-MNIST-shaped directory with `n_train` and `n_test` images,
    /// pixel `p` of image `i` = (i + p) mod 256, label i mod 10.
    fn write_fake_fashion(dir: &Path, n_train: u32, n_test: u32, gz: bool) {
        for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
            let pixels: Vec<u8> = (0..n * 784)
                .map(|k| ((k / 784 + k % 784) % 256) as u8)
                .collect();
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            let files = [
                (
                    format!("{prefix}-images-idx3-ubyte"),
                    idx_bytes(0x0803, &[n, 28, 28], &pixels),
                ),
                (
                    format!("{prefix}-labels-idx1-ubyte"),
                    idx_bytes(0x0801, &[n], &labels),
                ),
            ];
            for (name, bytes) in files {
                if gz {
                    std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
                } else {
                    std::fs::write(dir.join(name), bytes).unwrap();
                }
            }
        }
    }

    #[test]
    fn idx_reader_reads_raw_and_gzip_and_honours_the_limit() {
        let dir = temp_dir("idx-ok");
        let raw = idx_bytes(0x0803, &[3, 2, 2], &(0..12).collect::<Vec<u8>>());
        std::fs::write(dir.join("a"), &raw).unwrap();
        std::fs::write(dir.join("a.gz"), gzip(&raw)).unwrap();
        for name in ["a", "a.gz"] {
            let a = read_idx(&dir.join(name), 3, None).unwrap();
            assert_eq!(a.dims, vec![3, 2, 2]);
            assert_eq!(a.data, (0..12).collect::<Vec<u8>>());
            let first = read_idx(&dir.join(name), 3, Some(2)).unwrap();
            assert_eq!(first.dims, vec![2, 2, 2]);
            assert_eq!(first.data, (0..8).collect::<Vec<u8>>());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn idx_reader_names_the_file_and_the_fault() {
        let dir = temp_dir("idx-bad");
        // Bad magic: an int32 array (0x0c) instead of unsigned bytes.
        let bad = dir.join("bad-magic-idx1-ubyte");
        std::fs::write(&bad, idx_bytes(0x0c01, &[2], &[1, 2])).unwrap();
        let e = read_idx(&bad, 1, None).unwrap_err();
        assert!(e.0.contains("bad-magic-idx1-ubyte"), "{e}");
        assert!(e.0.contains("bad magic number 0x00000c01"), "{e}");
        // Wrong rank: a label file read as images.
        let labels = dir.join("labels-idx1-ubyte");
        std::fs::write(&labels, idx_bytes(0x0801, &[2], &[1, 2])).unwrap();
        let e = read_idx(&labels, 3, None).unwrap_err();
        assert!(
            e.0.contains("labels-idx1-ubyte") && e.0.contains("magic"),
            "{e}"
        );
        // Truncated data.
        let short = dir.join("short.gz");
        std::fs::write(&short, gzip(&idx_bytes(0x0801, &[5], &[1, 2]))).unwrap();
        let e = read_idx(&short, 1, None).unwrap_err();
        assert!(e.0.contains("short.gz") && e.0.contains("truncated"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fashion_mnist_reads_idx_files_and_carves_validation_from_the_end() {
        for gz in [false, true] {
            let dir = temp_dir(&format!("fashion-{gz}"));
            write_fake_fashion(&dir, 30, 7, gz);
            let d = fashion_mnist(&dir, None).unwrap();
            assert_eq!(d.shape, [1, 28, 28]);
            assert_eq!((d.train.len(), d.val.len(), d.test.len()), (27, 3, 7));
            // Validation is samples 27..30 of the file.
            assert_eq!(d.val.labels, vec![7, 8, 9]);
            assert_eq!(d.val.images[0], 27.0 / 255.0);
            let d = fashion_mnist(&dir, Some((20, 4))).unwrap();
            assert_eq!((d.train.len(), d.val.len(), d.test.len()), (18, 2, 4));
            assert_eq!(d.val.labels, vec![8, 9]);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn missing_fashion_mnist_says_how_to_install_it() {
        let dir = temp_dir("fashion-missing");
        let e = fashion_mnist(&dir.join("nowhere"), None).unwrap_err();
        assert!(
            e.0.contains("sudo apt-get install dataset-fashion-mnist"),
            "{e}"
        );
        assert!(e.0.contains("/usr/share/datasets/fashion-mnist"), "{e}");
        let e = fashion_mnist(&dir, None).unwrap_err();
        assert!(e.0.contains("train-images-idx3-ubyte"), "{e}");
        assert!(
            e.0.contains("sudo apt-get install dataset-fashion-mnist"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
