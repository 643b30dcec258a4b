//! Small integer tensors stored as external data, and what the graph's
//! `value_info` says when their file is absent.
//!
//! `onnx.save_model(..., save_as_external_data=True, size_threshold=0)` moves
//! every initializer into a data file, the small integer ones too (a
//! ReduceMean's `axes`, a Reshape's target), which shape arithmetic needs.
//! When the model was read from a file, such a tensor (an integer type, at
//! most [`MAX_VALUE_ELEMENTS`] elements) is read from its data file: only
//! its own bytes (at most 32 KiB), from a `location` that must stay inside
//! the model's folder — a relative path without `..`, which after resolving
//! symbolic links still lies inside that folder. Float tensors are never
//! read: their dims and type are all the importer uses.
//!
//! When the data file is absent, the tensor has no values and the walk
//! records where they were ([`Missing`]); a node that needs them then takes
//! them from its output's `value_info` where that determines them (Reshape,
//! Expand, Unsqueeze, Squeeze, the Reduce ops' `axes`; dynamo exports
//! record every value's shape), and is otherwise refused with the missing
//! file named.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use crate::MAX_VALUE_ELEMENTS;
use crate::proto::TensorProto;
use crate::reader::{elem_name, int_layout, is_external, is_int, le_ints};

/// An external tensor whose data file is not there: its location as written
/// in the model, and the folder it was looked for in.
#[derive(Clone, Debug)]
pub struct Missing {
    pub location: String,
    pub dir: PathBuf,
}

/// What became of an external initializer.
pub enum Outcome {
    /// Not external, a float tensor or too large to propagate: nothing read.
    Skipped,
    /// The values, read from the data file.
    Read(Vec<i64>),
    /// The data file is not there (or the model was not read from a file).
    Missing(Missing),
}

/// The `external_data` entries of `t`: location, offset and length.
struct Where {
    location: String,
    offset: u64,
    length: Option<u64>,
}

fn entries(t: &TensorProto) -> Result<Where, String> {
    let mut location = None;
    let mut offset = 0;
    let mut length = None;
    for e in &t.external_data {
        let num = |v: &str| {
            v.parse::<u64>().map_err(|_| {
                format!(
                    "external data {:?} is {v:?}, not a non-negative integer",
                    e.key
                )
            })
        };
        match e.key.as_str() {
            "location" => location = Some(e.value.clone()),
            "offset" => offset = num(&e.value)?,
            "length" => length = Some(num(&e.value)?),
            _ => {}
        }
    }
    let location = location.ok_or("is external data without a location")?;
    Ok(Where {
        location,
        offset,
        length,
    })
}

/// Checks that an external data `location` names a file inside the model's
/// folder: relative, and without `..`, a root or a drive prefix.
pub fn check_location(t: &TensorProto) -> Result<(), String> {
    if !is_external(t) {
        return Ok(());
    }
    let w = entries(t)?;
    confined(&w.location)
}

fn confined(location: &str) -> Result<(), String> {
    let p = Path::new(location);
    let escapes = location.is_empty()
        || p.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        });
    if escapes {
        return Err(format!(
            "external data location {location:?} is not a relative path inside the model's folder; tessera reads external data only from there"
        ));
    }
    Ok(())
}

/// Reads the values of a small external integer tensor of `numel` elements
/// from its data file in `dir` (`None`: the model was not read from a file).
pub fn read_ints(t: &TensorProto, numel: u64, dir: Option<&Path>) -> Result<Outcome, String> {
    if !is_external(t) || !is_int(t.data_type) || numel > MAX_VALUE_ELEMENTS {
        return Ok(Outcome::Skipped);
    }
    let w = entries(t)?;
    confined(&w.location)?;
    let Some(dir) = dir else {
        return Ok(Outcome::Missing(Missing {
            location: w.location,
            dir: PathBuf::new(),
        }));
    };
    let path = dir.join(&w.location);
    if !path.is_file() {
        return Ok(Outcome::Missing(Missing {
            location: w.location,
            dir: dir.to_path_buf(),
        }));
    }
    // A symbolic link inside the folder may still point out of it.
    let io = |e: std::io::Error| format!("external data file {:?}: {e}", w.location);
    let real_dir = dir.canonicalize().map_err(io)?;
    let real = path.canonicalize().map_err(io)?;
    if !real.starts_with(&real_dir) {
        return Err(format!(
            "external data location {:?} resolves to {}, outside the model's folder; tessera reads external data only from there",
            w.location,
            real.display()
        ));
    }
    let (width, signed) = int_layout(t.data_type);
    let want = numel * width as u64;
    if let Some(len) = w.length
        && len != want
    {
        return Err(format!(
            "external data length is {len} bytes, but dims {:?} of {} need {want}",
            t.dims,
            elem_name(t.data_type)
        ));
    }
    let mut f = std::fs::File::open(&real).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    if w.offset.checked_add(want).is_none_or(|end| end > size) {
        return Err(format!(
            "external data file {:?} has {size} bytes; the tensor's {want} bytes at offset {} lie past its end",
            w.location, w.offset
        ));
    }
    f.seek(SeekFrom::Start(w.offset)).map_err(io)?;
    let mut buf = vec![0u8; want as usize];
    f.read_exact(&mut buf).map_err(io)?;
    Ok(Outcome::Read(le_ints(&buf, width, signed)))
}

/// A dim of a `value_info` shape: known (written or bound by
/// `ImportOptions::dims`) or not.
pub type InfoDim = Option<u64>;

/// Values of the missing integer input `j` of a node of type `op_type`,
/// as far as the output's recorded shape `out` determines them, given the
/// node's input 0 shape `x`, its `keepdims` attribute (Reduce ops) and the
/// missing tensor's element count `numel`. `None`: not determined.
pub fn infer(
    op_type: &str,
    j: usize,
    x: &[u64],
    out: &[InfoDim],
    keepdims: bool,
    numel: u64,
) -> Option<Vec<i64>> {
    if j != 1 {
        return None;
    }
    let as_i64 = |d: u64| i64::try_from(d).ok();
    match op_type {
        "Reshape" => {
            // Every dim known, or one unknown left for Reshape to infer (-1).
            if out.iter().filter(|d| d.is_none()).count() > 1 {
                return None;
            }
            out.iter()
                .map(|d| d.map_or(Some(-1), as_i64))
                .collect::<Option<Vec<_>>>()
                .filter(|v| v.len() as u64 == numel)
        }
        "Expand" => out
            .iter()
            .map(|d| d.and_then(as_i64))
            .collect::<Option<Vec<_>>>()
            .filter(|v| v.len() as u64 == numel),
        "Unsqueeze" => {
            let xs: Vec<InfoDim> = x.iter().map(|&d| Some(d)).collect();
            unmatched(out, &xs, true).filter(|v| v.len() as u64 == numel)
        }
        "Squeeze" => {
            let xs: Vec<InfoDim> = x.iter().map(|&d| Some(d)).collect();
            unmatched(&xs, out, true).filter(|v| v.len() as u64 == numel)
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL2"
        | "ReduceSumSquare" | "ReduceLogSumExp" => {
            let axes: Vec<i64> = if keepdims {
                if out.len() != x.len() {
                    return None;
                }
                // The reduced axes are the ones the output keeps as 1 where
                // the input is larger (reducing a dim of 1 changes nothing).
                x.iter()
                    .zip(out)
                    .enumerate()
                    .filter(|(_, (xi, o))| **o == Some(1) && **xi != 1)
                    .map(|(d, _)| d as i64)
                    .collect()
            } else {
                let xs: Vec<InfoDim> = x.iter().map(|&d| Some(d)).collect();
                unmatched(&xs, out, false)?
            };
            (axes.len() as u64 == numel).then_some(axes)
        }
        _ => None,
    }
}

/// The positions of `long` left over when `short` is matched against it in
/// order, dim by dim (an unknown dim matches any), preferring to match; with
/// `only_ones`, only dims of 1 may be left over. Which of several equal
/// dims is left over does not change the resulting shapes, so the first
/// consistent choice is as good as any.
fn unmatched(long: &[InfoDim], short: &[InfoDim], only_ones: bool) -> Option<Vec<i64>> {
    let k = long.len().checked_sub(short.len())?;
    let mut left = Vec::with_capacity(k);
    let mut o = 0;
    for (i, d) in long.iter().enumerate() {
        let must_match = long.len() - i == short.len() - o;
        let can_match = o < short.len() && (d.is_none() || short[o].is_none() || *d == short[o]);
        let can_leave = !must_match && (!only_ones || *d == Some(1));
        if can_match {
            o += 1;
        } else if can_leave {
            left.push(i as i64);
        } else {
            return None;
        }
    }
    (o == short.len() && left.len() == k).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_target_takes_one_unknown_dim_as_minus_one() {
        let out = [Some(1), None, Some(768)];
        assert_eq!(
            infer("Reshape", 1, &[1, 128, 12, 64], &out, false, 3),
            Some(vec![1, -1, 768])
        );
        assert_eq!(
            infer("Reshape", 1, &[1, 128, 768], &[None, None], false, 2),
            None
        );
    }

    #[test]
    fn unsqueeze_and_squeeze_axes_follow_the_dims_of_one() {
        let out = [Some(1), Some(1), Some(1), Some(128)];
        assert_eq!(
            infer("Unsqueeze", 1, &[1, 128], &out, false, 2),
            Some(vec![1, 2])
        );
        let out = [Some(8), Some(128)];
        assert_eq!(
            infer("Squeeze", 1, &[8, 1, 128], &out, false, 1),
            Some(vec![1])
        );
    }

    #[test]
    fn reduce_axes_are_the_dims_the_output_shrinks() {
        let out = [Some(1), Some(512), Some(1), Some(1)];
        assert_eq!(
            infer("ReduceMean", 1, &[1, 512, 7, 7], &out, true, 2),
            Some(vec![2, 3])
        );
        let out = [Some(1), Some(512)];
        assert_eq!(
            infer("ReduceMean", 1, &[1, 512, 7, 7], &out, false, 2),
            Some(vec![2, 3])
        );
        let out = [Some(1), Some(512), Some(1)];
        assert_eq!(
            infer("ReduceMean", 1, &[1, 512, 7, 7], &out, true, 2),
            None,
            "a kept output of another rank says nothing"
        );
    }

    #[test]
    fn locations_outside_the_folder_are_refused() {
        assert!(confined("m.onnx.data").is_ok());
        assert!(confined("data/m.bin").is_ok());
        assert!(confined("../m.onnx.data").is_err());
        assert!(confined("a/../../m").is_err());
        assert!(confined("/etc/passwd").is_err());
        assert!(confined("").is_err());
    }
}
