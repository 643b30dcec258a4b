//! Hardware overrides: spec field paths (`topology[0].bandwidth_bytes_per_cycle`),
//! override values flattened to one per leaf, and applying one to a spec
//! tree with its type kept. Shared by `[hardware.overrides]` and `--set`.

use sim::config::{self, Node, Pos, Val};

pub(super) const EMPTY_OVERRIDE: &str = "an empty table overrides nothing; give field = value";

/// The leaves of an override value; `empty` hears of every empty table.
pub(super) fn flatten(
    path: &str,
    node: &Node,
    out: &mut Vec<(String, Node)>,
    empty: &mut dyn FnMut(&str, Pos),
) {
    match &node.val {
        Val::Table(entries) if entries.is_empty() => empty(path, node.pos),
        Val::Table(entries) => {
            for e in entries {
                flatten(&config::join(path, &e.key), &e.node, out, empty);
            }
        }
        _ => out.push((path.to_string(), node.clone())),
    }
}

/// Splits a field path such as `topology[0].bandwidth_bytes_per_cycle` into
/// keys and indices.
fn path_segments(path: &str) -> Option<Vec<Result<String, usize>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && out.is_empty() {
            return None;
        }
        if !key.is_empty() {
            out.push(Ok(key.to_string()));
        }
        let mut rest = rest;
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            out.push(Err(stripped[..end].parse().ok()?));
            rest = &stripped[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Replaces the value at `path` in a spec tree with `value`. The field must
/// exist and the new value must have the same type (integers and floats are
/// both numbers).
pub fn apply_override(root: &mut Node, path: &str, value: &Node) -> Result<(), String> {
    let segments = path_segments(path).ok_or_else(|| format!("{path:?} is not a field path"))?;
    let mut node = root;
    let mut walked = String::new();
    for seg in segments {
        node = match seg {
            Ok(key) => {
                walked = config::join(&walked, &key);
                node.get_mut(&key)
                    .ok_or_else(|| format!("the spec has no field {walked}"))?
            }
            Err(i) => {
                walked = format!("{walked}[{i}]");
                match &mut node.val {
                    Val::Array(items) => {
                        let n = items.len();
                        items
                            .get_mut(i)
                            .ok_or_else(|| format!("the spec has no {walked} ({n} entries)"))?
                    }
                    _ => return Err(format!("the spec's {walked} is not an array")),
                }
            }
        };
    }
    let numeric = |v: &Val| matches!(v, Val::Int(_) | Val::Float(_));
    let same = std::mem::discriminant(&node.val) == std::mem::discriminant(&value.val)
        || (numeric(&node.val) && numeric(&value.val));
    if !same {
        return Err(format!(
            "{path} is {} in the spec, the override is {}",
            node.val.type_name(),
            value.val.type_name()
        ));
    }
    node.val = value.val.clone();
    Ok(())
}

/// A field path as spec messages write it (`a.b[0].c`), or `None` if it is
/// not a field path.
pub(super) fn canonical_path(path: &str) -> Option<String> {
    let mut out = String::new();
    for seg in path_segments(path)? {
        match seg {
            Ok(key) => out = config::join(&out, &key),
            Err(i) => out.push_str(&format!("[{i}]")),
        }
    }
    Some(out)
}
