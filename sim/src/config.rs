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
    /// An integer literal outside the signed 64-bit range, kept as written
    /// (radix prefix included) so that messages can show it.
    IntOutOfRange(String),
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
            Val::Int(_) | Val::IntOutOfRange(_) => "an integer",
            Val::Float(_) => "a float",
            Val::Bool(_) => "a boolean",
            Val::Datetime(_) => "a datetime",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
        }
    }

    /// A short rendering of the value for messages. Floats keep a decimal
    /// point or exponent (`8192.0`, `1e300`) so they cannot be mistaken for
    /// integers; arrays and tables are shown by their type only.
    pub fn show(&self) -> String {
        match self {
            Val::Str(s) => format!("{s:?}"),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => format!("{f:?}"),
            Val::Bool(b) => b.to_string(),
            Val::Datetime(d) => d.clone(),
            Val::IntOutOfRange(text) => format!("{text} (integer out of range)"),
            Val::Array(_) => "an array".to_string(),
            Val::Table(_) => "a table".to_string(),
        }
    }

    /// "a string \"x\"", "an integer 3", "a table": the type, and the value
    /// for scalars, as the `found …` part of a message.
    pub fn describe(&self) -> String {
        match self {
            Val::Array(_) | Val::Table(_) => self.type_name().to_string(),
            Val::IntOutOfRange(_) => self.show(),
            _ => format!("{} {}", self.type_name(), self.show()),
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
        Ok(root) => Ok(Node {
            val: convert_table(root.get_ref(), &lines),
            pos: first_content(text).map_or(Pos { line: 1, column: 1 }, |at| lines.pos(at)),
        }),
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

/// Byte offset of the first character of the first line that is neither blank
/// nor a comment: where a file's top-level keys begin, and so where a missing
/// top-level key is reported (a header comment is no place to add a key).
fn first_content(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches([' ', '\t', '\u{feff}']);
        if !body.trim_end().is_empty() && !body.starts_with('#') {
            return Some(offset + (line.len() - body.len()));
        }
        offset += line.len();
    }
    None
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
        let column = self
            .text
            .get(start..end)
            .map_or(1, |s| s.chars().count() + 1);
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
            Err(_) => Val::IntOutOfRange(i.to_string()),
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

    /// How many problems have been recorded so far. Readers compare counts
    /// before and after a section to skip checks that would only repeat an
    /// error already reported in it.
    pub fn n_errors(&self) -> usize {
        self.diags.borrow().len()
    }

    /// The problems, sorted by position then field, without repeats. Problems
    /// at the same position and field keep the order they were found in, so a
    /// closing "… and N more" stays last.
    pub fn into_diagnostics(self) -> Diagnostics {
        let mut d = self.diags.into_inner();
        d.sort_by(|a, b| (a.pos, &a.field).cmp(&(b.pos, &b.field)));
        let mut out: Vec<Diagnostic> = Vec::with_capacity(d.len());
        for diag in d {
            let same_place = out
                .iter()
                .rev()
                .take_while(|o| (o.pos, &o.field) == (diag.pos, &diag.field));
            if !same_place.clone().any(|o| o.message == diag.message) {
                out.push(diag);
            }
        }
        Diagnostics(out)
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

/// An upper limit for messages: powers of two of 2^16 and more also say so,
/// e.g. `1099511627776 (2^40)`.
pub fn show_limit(max: u64) -> String {
    if max.is_power_of_two() && max >= 1 << 16 {
        format!("{max} (2^{})", max.trailing_zeros())
    } else {
        max.to_string()
    }
}

/// Up to `shown` items joined by ", ", then "and N more" for the rest, so that
/// a message about a large package stays one readable line.
pub fn list<T: fmt::Display>(items: &[T], shown: usize) -> String {
    let mut out: Vec<String> = items.iter().take(shown).map(T::to_string).collect();
    if items.len() > shown {
        out.push(format!("and {} more", items.len() - shown));
    }
    out.join(", ")
}

/// A positioned value with its field path, for typed reading.
#[derive(Clone)]
pub struct ValueReader<'a> {
    pub node: &'a Node,
    pub path: String,
    pub sink: &'a Sink,
}

impl<'a> ValueReader<'a> {
    /// Reports that the value has the wrong type: `expected …, found …`,
    /// showing the value only when it is a scalar.
    pub fn wrong(&self, expected: &str) {
        self.error(format!(
            "expected {expected}, found {}",
            self.node.val.describe()
        ));
    }

    /// Records a problem at this value.
    pub fn error(&self, message: impl Into<String>) {
        self.sink.error(self.node.pos, &self.path, message);
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

    /// A string with at least one non-blank character (names, notes,
    /// citations: an empty one says nothing).
    pub fn text(&self) -> Option<&'a str> {
        let s = self.str()?;
        if s.trim().is_empty() {
            self.error("must be a non-empty string");
            return None;
        }
        Some(s)
    }

    /// One of the given words.
    pub fn word(&self, words: &[&str]) -> Option<&'a str> {
        let s = self.str()?;
        if words.contains(&s) {
            Some(s)
        } else {
            self.error(format!(
                "unknown value {s:?}; expected one of: {}",
                words.join(", ")
            ));
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

    /// An integer in `min..=max`. Limits keep every later computation on the
    /// value (products, sums over chiplets, byte counts) within 64 bits.
    pub fn int_in(&self, min: u64, max: u64) -> Option<u64> {
        let what = match min {
            0 => "a non-negative integer".to_string(),
            1 => "a positive integer".to_string(),
            m => format!("an integer ≥ {m}"),
        };
        match &self.node.val {
            Val::Int(i) if *i < 0 || (*i as u64) < min => {
                self.error(format!("must be {what}, found {i}"));
                None
            }
            Val::Int(i) if *i as u64 > max => {
                self.error(format!("must be at most {}, found {i}", show_limit(max)));
                None
            }
            Val::Int(i) => Some(*i as u64),
            Val::IntOutOfRange(text) if text.starts_with('-') => {
                self.error(format!("must be {what}, found {}", self.node.val.show()));
                None
            }
            // With no limit of its own, the value is only too large for 64 bits.
            Val::IntOutOfRange(_) if max == u64::MAX => {
                self.error(format!("must be {what}, found {}", self.node.val.show()));
                None
            }
            Val::IntOutOfRange(_) => {
                self.error(format!(
                    "must be at most {}, found {}",
                    show_limit(max),
                    self.node.val.show()
                ));
                None
            }
            _ => {
                self.wrong(&what);
                None
            }
        }
    }

    /// A finite number (integer or float) with a lower bound (`strict`
    /// excludes it) and an upper bound `max`.
    pub fn number(&self, min: f64, strict: bool, max: f64) -> Option<f64> {
        let what = match (min == 0.0, strict) {
            (true, true) => "a positive number".to_string(),
            (true, false) => "a non-negative number".to_string(),
            (false, true) => format!("a number > {min}"),
            (false, false) => format!("a number ≥ {min}"),
        };
        let v = match &self.node.val {
            Val::Int(i) => *i as f64,
            Val::Float(f) => *f,
            Val::IntOutOfRange(text) if text.starts_with('-') => f64::NEG_INFINITY,
            Val::IntOutOfRange(_) => f64::INFINITY,
            _ => {
                self.wrong(&what);
                return None;
            }
        };
        let out_of_range = matches!(self.node.val, Val::IntOutOfRange(_));
        if v.is_nan() || v < min || (strict && v == min) || (v.is_infinite() && !out_of_range) {
            self.error(format!("must be {what}, found {}", self.node.val.show()));
            return None;
        }
        if v > max {
            self.error(format!(
                "must be at most {max}, found {}",
                self.node.val.show()
            ));
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

    /// An array of integers in `min..=max`; `None` if any element is bad
    /// (each bad element is reported).
    pub fn int_array(&self, min: u64, max: u64) -> Option<Vec<u64>> {
        let items = self.array()?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (path, node) in &items {
            let r = ValueReader {
                node,
                path: path.clone(),
                sink: self.sink,
            };
            match r.int_in(min, max) {
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

/// An array of tables (`[[key]]`) as read.
pub struct TableArray<'a> {
    /// The value, when the key is present.
    pub node: Option<&'a Node>,
    /// Whether the value is an array with a table for every element (an
    /// absent key counts as well-formed and empty).
    pub well_formed: bool,
    /// The elements that are tables, each with its indexed path.
    pub tables: Vec<TableReader<'a>>,
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

    /// Where `key`'s value is, or the table's own position when it is absent:
    /// the place to report a problem with that key.
    pub fn pos_of(&self, key: &str) -> Pos {
        self.node.get(key).map_or(self.node.pos, |n| n.pos)
    }

    /// Records a problem with `key`, at its value (or at the table when absent).
    pub fn error_at(&self, key: &str, message: impl Into<String>) {
        self.sink.error(self.pos_of(key), &self.field(key), message);
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

    /// A required non-blank string (see [`ValueReader::text`]).
    pub fn req_text(&self, key: &'static str) -> Option<String> {
        self.req(key)?.text().map(str::to_string)
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

    /// A required integer in `1..=max` (rates, capacities, counts).
    pub fn req_positive_int(&self, key: &'static str, max: u64) -> Option<u64> {
        self.req(key)?.int_in(1, max)
    }

    /// A required integer in `0..=max` (latencies, overheads, ids).
    pub fn req_int(&self, key: &'static str, max: u64) -> Option<u64> {
        self.req(key)?.int_in(0, max)
    }

    pub fn opt_int(&self, key: &'static str, max: u64) -> Option<u64> {
        self.opt(key)?.int_in(0, max)
    }

    /// A required number in `(0, max]`.
    pub fn req_positive(&self, key: &'static str, max: f64) -> Option<f64> {
        self.req(key)?.number(0.0, true, max)
    }

    /// A required number in `[0, max]` (energies may be zero when not modelled).
    pub fn req_nonneg(&self, key: &'static str, max: f64) -> Option<f64> {
        self.req(key)?.number(0.0, false, max)
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

    /// An optional array of tables (`[[key]]`); every element that is not a
    /// table is reported.
    pub fn table_array(&self, key: &'static str) -> TableArray<'a> {
        self.asked.borrow_mut().push(key);
        let Some(node) = self.node.get(key) else {
            return TableArray {
                node: None,
                well_formed: true,
                tables: Vec::new(),
            };
        };
        let path = self.field(key);
        let Val::Array(items) = &node.val else {
            ValueReader {
                node,
                path,
                sink: self.sink,
            }
            .wrong("an array of tables");
            return TableArray {
                node: Some(node),
                well_formed: false,
                tables: Vec::new(),
            };
        };
        let mut tables = Vec::new();
        let mut well_formed = true;
        for (i, item) in items.iter().enumerate() {
            let r = ValueReader {
                node: item,
                path: format!("{path}[{i}]"),
                sink: self.sink,
            };
            match r.table() {
                Some(t) => tables.push(t),
                None => well_formed = false,
            }
        }
        TableArray {
            node: Some(node),
            well_formed,
            tables,
        }
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
        assert_eq!(r.req_positive_int("x", 10), Some(1));
        assert_eq!(r.req_positive_int("y", 10), None);
        assert_eq!(r.req_positive_int("w", 10), None);
        r.finish();
        let d = sink.into_diagnostics();
        let fields: Vec<&str> = d.0.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["w", "y", "zz"]);
        assert!(d.0[2].message.contains("known keys here: w, x, y"));
    }

    #[test]
    fn the_root_is_placed_at_the_first_line_that_is_not_a_comment() {
        let root = parse("# header\n  # more\n\n  a = 1\n", "f.toml").unwrap();
        assert_eq!(root.pos, Pos { line: 4, column: 3 });
        let empty = parse("# only a comment\n", "f.toml").unwrap();
        assert_eq!(empty.pos, Pos { line: 1, column: 1 });
    }

    #[test]
    fn integers_beyond_64_bits_are_out_of_range_not_strings() {
        let root = parse("a = 99999999999999999999\nb = 1_000\n", "f.toml").unwrap();
        assert_eq!(
            root.get("a").unwrap().val,
            Val::IntOutOfRange("99999999999999999999".to_string())
        );
        assert_eq!(root.get("b").unwrap().val, Val::Int(1000));
        let sink = Sink::new("f.toml");
        let r = TableReader::new(&root, String::new(), &sink);
        assert_eq!(r.req_int("a", 100), None);
        assert_eq!(r.req_str("a"), None);
        let d = sink.into_diagnostics();
        let messages: Vec<&str> = d.0.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "must be at most 100, found 99999999999999999999 (integer out of range)",
                "expected a string, found 99999999999999999999 (integer out of range)",
            ]
        );
    }

    #[test]
    fn found_values_show_floats_with_a_point_and_containers_by_type_only() {
        let root = parse("f = 8192.0\ne = 1e300\nt = { x = 1 }\na = [1]\n", "f.toml").unwrap();
        let show = |k: &str| root.get(k).unwrap().val.describe();
        assert_eq!(show("f"), "a float 8192.0");
        assert_eq!(show("e"), "a float 1e300");
        assert_eq!(show("t"), "a table");
        assert_eq!(show("a"), "an array");
    }

    #[test]
    fn lists_are_cut_with_a_count_of_the_rest() {
        assert_eq!(list(&[1, 2, 3], 8), "1, 2, 3");
        assert_eq!(list(&[1, 2, 3, 4], 2), "1, 2, and 2 more");
    }

    #[test]
    fn diagnostics_at_one_place_keep_the_order_they_were_found_in() {
        let sink = Sink::new("f.toml");
        let at = Pos { line: 2, column: 1 };
        sink.error(at, "x", "zebra");
        sink.error(Pos { line: 1, column: 1 }, "y", "first");
        sink.error(at, "x", "and 3 more");
        sink.error(at, "x", "zebra");
        let d = sink.into_diagnostics();
        let messages: Vec<&str> = d.0.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["first", "zebra", "and 3 more"]);
    }
}
