//! Strict reading of TOML configuration (hardware specs, scenarios): a TOML tree
//! that keeps every value's line and column, and readers that collect every
//! problem in a file at once, each naming file, line, column and field path.
//!
//! Why not plain `serde` with `deny_unknown_fields`: serde stops at the first
//! error, and a user fixing a spec one error per run is a poor experience.
//! Readers here record which keys a schema asked for, so anything left over is
//! reported as an unknown key together with the keys that are known there.

use std::cell::RefCell;
use std::fmt;

use toml::de::{DeTable, DeValue};

/// A line and column (both 1-based) in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// A TOML value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub val: Val,
    pub pos: Pos,
}

/// A TOML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// A key of a TOML table, with its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub node: Node,
}

impl Val {
    /// The TOML type's name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a float",
            Val::Bool(_) => "a boolean",
            Val::Datetime(_) => "a datetime",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
        }
    }

    /// A short rendering of the value for messages.
    pub fn show(&self) -> String {
        match self {
            Val::Str(s) => format!("{s:?}"),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => f.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Datetime(d) => d.clone(),
            Val::Array(_) => "an array".to_string(),
            Val::Table(_) => "a table".to_string(),
        }
    }
}

impl Node {
    /// Entries of a table node (empty for other values).
    pub fn entries(&self) -> &[Entry] {
        match &self.val {
            Val::Table(entries) => entries,
            _ => &[],
        }
    }

    /// Looks up a key of a table node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.node)
    }

    /// Mutable lookup of a key of a table node.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.val {
            Val::Table(entries) => entries
                .iter_mut()
                .find(|e| e.key == key)
                .map(|e| &mut e.node),
            _ => None,
        }
    }
}

/// One problem in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    /// Field path such as `chiplets[3].sram_kib` (empty for a syntax error).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.pos.line, self.pos.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.message)
    }
}

/// Every problem found in one file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Parses TOML text into a positioned tree. Syntax errors become diagnostics.
pub fn parse(text: &str, file: &str) -> Result<Node, Diagnostics> {
    let lines = LineIndex::new(text);
    match DeTable::parse(text) {
        Ok(root) => {
            let span = root.span();
            Ok(Node {
                val: convert_table(root.get_ref(), &lines),
                pos: if span.is_empty() {
                    Pos { line: 1, column: 1 }
                } else {
                    lines.pos(span.start)
                },
            })
        }
        Err(err) => {
            let pos = err
                .span()
                .map_or(Pos { line: 1, column: 1 }, |s| lines.pos(s.start));
            Err(Diagnostics(vec![Diagnostic {
                file: file.to_string(),
                pos,
                field: String::new(),
                message: format!("TOML syntax error: {}", err.message().trim()),
            }]))
        }
    }
}

struct LineIndex {
    starts: Vec<usize>,
    text: String,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex {
            starts,
            text: text.to_string(),
        }
    }

    fn pos(&self, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let end = offset.min(self.text.len());
        let column = self.text.get(start..end).map_or(1, |s| s.chars().count() + 1);
        Pos {
            line: line as u32,
            column: column as u32,
        }
    }
}

fn convert_table(table: &DeTable<'_>, lines: &LineIndex) -> Val {
    Val::Table(
        table
            .iter()
            .map(|(k, v)| Entry {
                key: k.get_ref().to_string(),
                key_pos: lines.pos(k.span().start),
                node: convert(v.get_ref(), v.span().start, lines),
            })
            .collect(),
    )
}

fn convert(value: &DeValue<'_>, offset: usize, lines: &LineIndex) -> Node {
    let val = match value {
        DeValue::String(s) => Val::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(v) => Val::Int(v),
            // Out of i64 range: keep the text so the reader reports it as a bad value.
            Err(_) => Val::Str(i.as_str().to_string()),
        },
        DeValue::Float(f) => Val::Float(f.as_str().replace('_', "").parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Val::Bool(*b),
        DeValue::Datetime(d) => Val::Datetime(d.to_string()),
        DeValue::Array(a) => Val::Array(
            a.iter()
                .map(|v| convert(v.get_ref(), v.span().start, lines))
                .collect(),
        ),
        DeValue::Table(t) => convert_table(t, lines),
    };
    Node {
        val,
        pos: lines.pos(offset),
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Sink {
    file: String,
    diags: RefCell<Vec<Diagnostic>>,
}

impl Sink {
    pub fn new(file: &str) -> Self {
        Sink {
            file: file.to_string(),
            diags: RefCell::new(Vec::new()),
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// Records a problem at `pos` for field path `field`.
    pub fn error(&self, pos: Pos, field: &str, message: impl Into<String>) {
        self.diags.borrow_mut().push(Diagnostic {
            file: self.file.clone(),
            pos,
            field: field.to_string(),
            message: message.into(),
        });
    }

    pub fn has_errors(&self) -> bool {
        !self.diags.borrow().is_empty()
    }

    /// The problems, sorted by position then field, deduplicated.
    pub fn into_diagnostics(self) -> Diagnostics {
        let mut d = self.diags.into_inner();
        d.sort();
        d.dedup();
        Diagnostics(d)
    }
}

/// Joins a field path and a key.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A positioned value with its field path, for typed reading.
#[derive(Clone)]
pub struct ValueReader<'a> {
    pub node: &'a Node,
    pub path: String,
    pub sink: &'a Sink,
}

impl<'a> ValueReader<'a> {
    fn wrong(&self, expected: &str) {
        self.sink.error(
            self.node.pos,
            &self.path,
            format!(
                "expected {expected}, found {} {}",
                self.node.val.type_name(),
                self.node.val.show()
            ),
        );
    }

    pub fn pos(&self) -> Pos {
        self.node.pos
    }

    /// A string.
    pub fn str(&self) -> Option<&'a str> {
        match &self.node.val {
            Val::Str(s) => Some(s),
            _ => {
                self.wrong("a string");
                None
            }
        }
    }

    /// One of the given words.
    pub fn word(&self, words: &[&str]) -> Option<&'a str> {
        let s = self.str()?;
        if words.contains(&s) {
            Some(s)
        } else {
            self.sink.error(
                self.node.pos,
                &self.path,
                format!("unknown value {s:?}; expected one of: {}", words.join(", ")),
            );
            None
        }
    }

    pub fn bool(&self) -> Option<bool> {
        match self.node.val {
            Val::Bool(b) => Some(b),
            _ => {
                self.wrong("true or false");
                None
            }
        }
    }

    /// An integer ≥ `min`.
    pub fn int_at_least(&self, min: u64) -> Option<u64> {
        let what = match min {
            0 => "a non-negative integer".to_string(),
            1 => "a positive integer".to_string(),
            m => format!("an integer ≥ {m}"),
        };
        match self.node.val {
            Val::Int(i) if i >= 0 && i as u64 >= min => Some(i as u64),
            Val::Int(i) => {
                self.sink.error(
                    self.node.pos,
                    &self.path,
                    format!("must be {what}, found {i}"),
                );
                None
            }
            _ => {
                self.wrong(&what);
                None
            }
        }
    }

    /// A finite number (integer or float) with a lower bound; `strict` excludes it.
    pub fn number(&self, min: f64, strict: bool) -> Option<f64> {
        let what = match (min == 0.0, strict) {
            (true, true) => "a positive number".to_string(),
            (true, false) => "a non-negative number".to_string(),
            (false, true) => format!("a number > {min}"),
            (false, false) => format!("a number ≥ {min}"),
        };
        let v = match self.node.val {
            Val::Int(i) => i as f64,
            Val::Float(f) => f,
            _ => {
                self.wrong(&what);
                return None;
            }
        };
        if !v.is_finite() || v < min || (strict && v == min) {
            self.sink.error(
                self.node.pos,
                &self.path,
                format!("must be {what}, found {}", self.node.val.show()),
            );
            return None;
        }
        Some(v)
    }

    /// An array; each element read with its indexed path.
    pub fn array(&self) -> Option<Vec<(String, &'a Node)>> {
        match &self.node.val {
            Val::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (format!("{}[{i}]", self.path), n))
                    .collect(),
            ),
            _ => {
                self.wrong("an array");
                None
            }
        }
    }

    /// An array of integers ≥ `min`; `None` if any element is bad.
    pub fn int_array(&self, min: u64) -> Option<Vec<u64>> {
        let items = self.array()?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (path, node) in &items {
            let r = ValueReader {
                node,
                path: path.clone(),
                sink: self.sink,
            };
            match r.int_at_least(min) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A table, read through a [`TableReader`].
    pub fn table(&self) -> Option<TableReader<'a>> {
        match &self.node.val {
            Val::Table(_) => Some(TableReader::new(self.node, self.path.clone(), self.sink)),
            _ => {
                self.wrong("a table");
                None
            }
        }
    }
}

/// Reads the keys of one table, remembering which were asked for so that
/// [`TableReader::finish`] can report every key the schema does not know.
pub struct TableReader<'a> {
    node: &'a Node,
    path: String,
    sink: &'a Sink,
    asked: RefCell<Vec<&'static str>>,
}

impl<'a> TableReader<'a> {
    /// Reads `node`, a table, at field path `path`.
    pub fn new(node: &'a Node, path: String, sink: &'a Sink) -> Self {
        TableReader {
            node,
            path,
            sink,
            asked: RefCell::new(Vec::new()),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn pos(&self) -> Pos {
        self.node.pos
    }

    pub fn sink(&self) -> &'a Sink {
        self.sink
    }

    /// The field path of `key` in this table.
    pub fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Whether the table has `key` (counts as asking for it).
    pub fn has(&self, key: &'static str) -> bool {
        self.asked.borrow_mut().push(key);
        self.node.get(key).is_some()
    }

    /// Looks up an optional key.
    pub fn opt(&self, key: &'static str) -> Option<ValueReader<'a>> {
        self.asked.borrow_mut().push(key);
        let node = self.node.get(key)?;
        Some(ValueReader {
            node,
            path: self.field(key),
            sink: self.sink,
        })
    }

    /// Looks up a required key, reporting it missing.
    pub fn req(&self, key: &'static str) -> Option<ValueReader<'a>> {
        let r = self.opt(key);
        if r.is_none() {
            self.missing(key);
        }
        r
    }

    /// Reports `key` as missing.
    pub fn missing(&self, key: &str) {
        self.sink
            .error(self.node.pos, &self.field(key), "missing required key");
    }

    pub fn req_str(&self, key: &'static str) -> Option<String> {
        self.req(key)?.str().map(str::to_string)
    }

    pub fn opt_str(&self, key: &'static str) -> Option<String> {
        self.opt(key)?.str().map(str::to_string)
    }

    pub fn req_word(&self, key: &'static str, words: &[&str]) -> Option<String> {
        self.req(key)?.word(words).map(str::to_string)
    }

    pub fn req_bool(&self, key: &'static str) -> Option<bool> {
        self.req(key)?.bool()
    }

    /// A required integer ≥ 1 (rates, capacities, counts).
    pub fn req_positive_int(&self, key: &'static str) -> Option<u64> {
        self.req(key)?.int_at_least(1)
    }

    /// A required integer ≥ 0 (latencies, overheads, ids).
    pub fn req_int(&self, key: &'static str) -> Option<u64> {
        self.req(key)?.int_at_least(0)
    }

    pub fn opt_int(&self, key: &'static str) -> Option<u64> {
        self.opt(key)?.int_at_least(0)
    }

    /// A required number > 0.
    pub fn req_positive(&self, key: &'static str) -> Option<f64> {
        self.req(key)?.number(0.0, true)
    }

    /// A required number ≥ 0 (energies may be zero when not modelled).
    pub fn req_nonneg(&self, key: &'static str) -> Option<f64> {
        self.req(key)?.number(0.0, false)
    }

    pub fn opt_table(&self, key: &'static str) -> Option<TableReader<'a>> {
        self.asked.borrow_mut().push(key);
        let node = self.node.get(key)?;
        ValueReader {
            node,
            path: self.field(key),
            sink: self.sink,
        }
        .table()
    }

    pub fn req_table(&self, key: &'static str) -> Option<TableReader<'a>> {
        let t = self.opt_table(key);
        if t.is_none() && self.node.get(key).is_none() {
            self.missing(key);
        }
        t
    }

    /// An optional array of tables (`[[key]]`), each with its indexed path.
    pub fn table_array(&self, key: &'static str) -> Vec<TableReader<'a>> {
        self.asked.borrow_mut().push(key);
        let Some(node) = self.node.get(key) else {
            return Vec::new();
        };
        let path = self.field(key);
        let Val::Array(items) = &node.val else {
            ValueReader {
                node,
                path,
                sink: self.sink,
            }
            .wrong("an array of tables");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let r = ValueReader {
                node: item,
                path: item_path,
                sink: self.sink,
            };
            if let Some(t) = r.table() {
                out.push(t);
            }
        }
        out
    }

    /// Entries of this table, for tables keyed by user names (e.g. chiplet types).
    pub fn entries(&self) -> &'a [Entry] {
        self.node.entries()
    }

    /// Marks every key as known (for tables of user-named entries).
    pub fn accept_all(&self) {
        let mut asked = self.asked.borrow_mut();
        asked.clear();
        asked.push("*");
    }

    /// Reports every key that was never asked for.
    pub fn finish(&self) {
        let asked = self.asked.borrow().clone();
        if asked.contains(&"*") {
            return;
        }
        for e in self.node.entries() {
            if !asked.contains(&e.key.as_str()) {
                let mut known: Vec<&str> = asked.clone();
                known.sort_unstable();
                known.dedup();
                self.sink.error(
                    e.key_pos,
                    &self.field(&e.key),
                    format!("unknown key; known keys here: {}", known.join(", ")),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let root = parse("a = 1\n[t]\n  b = \"x\"\n", "f.toml").unwrap();
        let t = root.get("t").unwrap();
        let b = t.entries().iter().find(|e| e.key == "b").unwrap();
        assert_eq!(b.key_pos, Pos { line: 3, column: 3 });
        assert_eq!(b.node.pos, Pos { line: 3, column: 7 });
    }

    #[test]
    fn syntax_error_names_line() {
        let err = parse("a = 1\nb = = 2\n", "f.toml").unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].pos.line, 2);
        assert!(err.to_string().starts_with("f.toml:2:"), "{err}");
    }

    #[test]
    fn unknown_and_missing_keys_are_all_reported() {
        let root = parse("x = 1\ny = -2\nzz = 3\n", "f.toml").unwrap();
        let sink = Sink::new("f.toml");
        let r = TableReader::new(&root, String::new(), &sink);
        assert_eq!(r.req_positive_int("x"), Some(1));
        assert_eq!(r.req_positive_int("y"), None);
        assert_eq!(r.req_positive_int("w"), None);
        r.finish();
        let d = sink.into_diagnostics();
        let fields: Vec<&str> = d.0.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["w", "y", "zz"]);
        assert!(d.0[2].message.contains("known keys here: w, x, y"));
    }
}
