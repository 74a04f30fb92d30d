//! What a protocol shows of itself in `mgmctl show protocols`: a
//! [`ProtoStatus`] of named sections, each a single [`Cell`], a block of
//! named cells, or a [`StatusTable`] of typed rows.
//!
//! The protocol fills it in; nothing outside the protocol knows its
//! sections. It serializes to a plain JSON object (a section's name is its
//! key; a block is an object, a table a list of objects keyed by column),
//! which is what `mgmctl --json show protocols` prints under `detail`, and
//! [`ProtoStatus::layout`] says in what order and shape the sections come,
//! so that `mgmctl` can read the object back ([`ProtoStatus::from_json`])
//! and render any protocol's status as text ([`fmt::Display`]).
//!
//! ```
//! # use mgmd::core::protocol::status::{Cell, ProtoStatus, StatusTable};
//! let status = ProtoStatus::new()
//!     .value("upstream", Cell::Interface("wan0".into()))
//!     .block("counters", vec![("flows".into(), Cell::Count(3))])
//!     .table(
//!         "routes",
//!         StatusTable::new(&["group", "inbound"])
//!             .row(vec![Cell::Text("239.1.0.0/16".into()), Cell::Interface("wan0".into())]),
//!     );
//! assert_eq!(
//!     serde_json::to_string(&status).unwrap(),
//!     r#"{"upstream":"wan0","counters":{"flows":3},"routes":[{"group":"239.1.0.0/16","inbound":"wan0"}]}"#
//! );
//! ```

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};

use crate::core::filter::HostFilter;
use crate::core::protocol::ProtoView;
use crate::core::types::{GroupAddr, IfIndex};

/// What a protocol shows of itself: named sections, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProtoStatus {
    pub sections: Vec<(String, Section)>,
}

/// One section of a [`ProtoStatus`].
#[derive(Clone, Debug, PartialEq)]
pub enum Section {
    /// A single value (`upstream`).
    Value(Cell),
    /// Named values (`counters`); JSON: an object.
    Block(Vec<(String, Cell)>),
    /// Rows of typed cells (`routes`); JSON: a list of objects.
    Table(StatusTable),
}

/// Rows of typed cells under named columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// One typed value. Its JSON form tells its kind apart from the others
/// but for the text-like ones (text, interface, group, address), which
/// read back as [`Cell::Text`] and print the same.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Nothing (JSON `null`, text `-`).
    None,
    Text(String),
    Count(u64),
    /// JSON `true`/`false`, text `yes`/`no`.
    Flag(bool),
    /// An interface by name.
    Interface(String),
    Group(GroupAddr),
    Address(IpAddr),
    /// JSON: seconds, always with a fraction (`2.0`); text `2.0s`.
    Duration(Duration),
    /// A host-side filter: JSON `{"mode":..,"sources":[..]}`.
    Filter(HostFilter),
    /// A configured interface and its state now.
    Link(LinkState),
    /// JSON: a list; text: the items joined by commas.
    List(Vec<Cell>),
}

/// A configured interface name as a protocol sees it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkState {
    pub name: String,
    pub ifindex: Option<IfIndex>,
    pub present: bool,
    pub up: bool,
    pub owned: bool,
}

/// The shape of one section: how `mgmctl` reads the JSON object back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionLayout {
    pub name: String,
    pub kind: SectionKind,
    /// A table's columns, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SectionKind {
    Value,
    Block,
    Table,
}

// ===== impl ProtoStatus =====

impl ProtoStatus {
    /// A status with no section (a protocol with nothing to show).
    pub fn new() -> ProtoStatus {
        ProtoStatus::default()
    }

    /// The status with the single value `name` added.
    pub fn value(mut self, name: &str, cell: Cell) -> ProtoStatus {
        self.sections.push((name.to_owned(), Section::Value(cell)));
        self
    }

    /// The status with the block of named values `name` added.
    pub fn block(mut self, name: &str, cells: Vec<(String, Cell)>) -> ProtoStatus {
        self.sections.push((name.to_owned(), Section::Block(cells)));
        self
    }

    /// The status with the block `name` of counters added, in the order
    /// given.
    pub fn counts<'a>(
        self,
        name: &str,
        counters: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> ProtoStatus {
        let cells = counters
            .into_iter()
            .map(|(n, v)| (n.to_owned(), Cell::Count(v)))
            .collect();
        self.block(name, cells)
    }

    /// The status with the table `name` added.
    pub fn table(mut self, name: &str, table: StatusTable) -> ProtoStatus {
        self.sections.push((name.to_owned(), Section::Table(table)));
        self
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// The order and shape of the sections.
    pub fn layout(&self) -> Vec<SectionLayout> {
        self.sections
            .iter()
            .map(|(name, s)| {
                let (kind, columns) = match s {
                    Section::Value(_) => (SectionKind::Value, Vec::new()),
                    Section::Block(_) => (SectionKind::Block, Vec::new()),
                    Section::Table(t) => (SectionKind::Table, t.columns.clone()),
                };
                SectionLayout {
                    name: name.clone(),
                    kind,
                    columns,
                }
            })
            .collect()
    }

    /// The status read back from its JSON object and layout. A block's
    /// cells come in the object's key order; a section the object lacks
    /// is empty.
    pub fn from_json(layout: &[SectionLayout], json: &serde_json::Value) -> ProtoStatus {
        let sections = layout
            .iter()
            .map(|l| {
                let v = json.get(&l.name).unwrap_or(&serde_json::Value::Null);
                let section = match l.kind {
                    SectionKind::Value => Section::Value(Cell::from_json(v)),
                    SectionKind::Block => Section::Block(
                        v.as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), Cell::from_json(v)))
                            .collect(),
                    ),
                    SectionKind::Table => Section::Table(StatusTable {
                        columns: l.columns.clone(),
                        rows: v
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|row| {
                                l.columns
                                    .iter()
                                    .map(|c| {
                                        Cell::from_json(
                                            row.get(c).unwrap_or(&serde_json::Value::Null),
                                        )
                                    })
                                    .collect()
                            })
                            .collect(),
                    }),
                };
                (l.name.clone(), section)
            })
            .collect();
        ProtoStatus { sections }
    }
}

impl Serialize for ProtoStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.sections.len()))?;
        for (name, section) in &self.sections {
            m.serialize_entry(name, section)?;
        }
        m.end()
    }
}

impl Serialize for Section {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Section::Value(c) => c.serialize(s),
            Section::Block(cells) => {
                let mut m = s.serialize_map(Some(cells.len()))?;
                for (name, c) in cells {
                    m.serialize_entry(name, c)?;
                }
                m.end()
            }
            Section::Table(t) => t.serialize(s),
        }
    }
}

/// A block per section: a value on its name's line, a block's cells as
/// aligned name/value lines, a table as aligned columns; everything below
/// a name indented by two spaces.
impl fmt::Display for ProtoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, section) in &self.sections {
            match section {
                Section::Value(c) => writeln!(f, "{name}: {c}")?,
                Section::Block(cells) if cells.is_empty() => writeln!(f, "{name}: none")?,
                Section::Table(t) if t.rows.is_empty() => writeln!(f, "{name}: none")?,
                Section::Block(cells) => {
                    writeln!(f, "{name}:")?;
                    let rows: Vec<Vec<String>> = cells
                        .iter()
                        .map(|(n, c)| vec![n.clone(), c.to_string()])
                        .collect();
                    write_aligned(f, "  ", &rows)?;
                }
                Section::Table(t) => {
                    writeln!(f, "{name}:")?;
                    let mut rows = vec![t.columns.iter().map(|c| header(c)).collect()];
                    rows.extend(
                        t.rows
                            .iter()
                            .map(|r| r.iter().map(Cell::to_string).collect()),
                    );
                    write_aligned(f, "  ", &rows)?;
                }
            }
        }
        Ok(())
    }
}

// ===== impl StatusTable =====

impl StatusTable {
    /// A table with these columns and no row.
    pub fn new(columns: &[&str]) -> StatusTable {
        StatusTable {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// The table with `row` added (one cell per column).
    pub fn row(mut self, row: Vec<Cell>) -> StatusTable {
        debug_assert_eq!(row.len(), self.columns.len(), "one cell per column");
        self.rows.push(row);
        self
    }

    /// The table of these interfaces and their state:
    /// `name`, `ifindex`, `present`, `up`, `owned`.
    pub fn links(view: &ProtoView<'_>, names: &[String]) -> StatusTable {
        names.iter().map(|n| LinkState::of(view, n)).fold(
            StatusTable::new(&["name", "ifindex", "present", "up", "owned"]),
            |t, l| {
                t.row(vec![
                    Cell::Interface(l.name),
                    l.ifindex.map_or(Cell::None, |i| Cell::Count(i.0.into())),
                    Cell::Flag(l.present),
                    Cell::Flag(l.up),
                    Cell::Flag(l.owned),
                ])
            },
        )
    }
}

impl Serialize for StatusTable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Row<'a>(&'a [String], &'a [Cell]);
        impl Serialize for Row<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (name, c) in self.0.iter().zip(self.1) {
                    m.serialize_entry(name, c)?;
                }
                m.end()
            }
        }
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for r in &self.rows {
            seq.serialize_element(&Row(&self.columns, r))?;
        }
        seq.end()
    }
}

// ===== impl Cell =====

impl Cell {
    /// `Some` value as a cell, `None` as [`Cell::None`].
    pub fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Cell) -> Cell {
        v.map_or(Cell::None, f)
    }

    /// The cell a JSON value reads back as (see [`Cell`]).
    pub fn from_json(v: &serde_json::Value) -> Cell {
        use serde_json::Value as J;
        match v {
            J::Null => Cell::None,
            J::Bool(b) => Cell::Flag(*b),
            J::Number(n) => match (n.as_u64(), n.as_f64()) {
                (Some(n), _) => Cell::Count(n),
                (None, Some(s)) if s >= 0.0 && s.is_finite() => {
                    Cell::Duration(Duration::from_secs_f64(s))
                }
                _ => Cell::Text(n.to_string()),
            },
            J::String(s) => Cell::Text(s.clone()),
            J::Array(items) => Cell::List(items.iter().map(Cell::from_json).collect()),
            J::Object(o) if o.contains_key("mode") => HostFilter::deserialize(v)
                .map(Cell::Filter)
                .unwrap_or_else(|_| Cell::Text(v.to_string())),
            J::Object(o) if o.contains_key("present") => LinkState::deserialize(v)
                .map(Cell::Link)
                .unwrap_or_else(|_| Cell::Text(v.to_string())),
            J::Object(_) => Cell::Text(v.to_string()),
        }
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::None => s.serialize_none(),
            Cell::Text(x) | Cell::Interface(x) => s.serialize_str(x),
            Cell::Count(x) => s.serialize_u64(*x),
            Cell::Flag(x) => s.serialize_bool(*x),
            Cell::Group(x) => x.serialize(s),
            Cell::Address(x) => x.serialize(s),
            Cell::Duration(x) => s.serialize_f64(x.as_secs_f64()),
            Cell::Filter(x) => x.serialize(s),
            Cell::Link(x) => x.serialize(s),
            Cell::List(x) => x.serialize(s),
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::None => f.write_str("-"),
            Cell::Text(x) | Cell::Interface(x) if x.is_empty() => f.write_str("-"),
            Cell::Text(x) | Cell::Interface(x) => f.write_str(x),
            Cell::Count(x) => x.fmt(f),
            Cell::Flag(x) => f.write_str(if *x { "yes" } else { "no" }),
            Cell::Group(x) => x.fmt(f),
            Cell::Address(x) => x.fmt(f),
            Cell::Duration(x) => write!(f, "{:.1}s", x.as_secs_f64()),
            Cell::Filter(HostFilter::Include(s)) => write!(f, "include {}", list(s)),
            Cell::Filter(HostFilter::Exclude(s)) => write!(f, "exclude {}", list(s)),
            Cell::Link(l) => l.fmt(f),
            Cell::List(x) if x.is_empty() => f.write_str("-"),
            Cell::List(x) => {
                let items: Vec<String> = x.iter().map(Cell::to_string).collect();
                f.write_str(&items.join(","))
            }
        }
    }
}

// ===== impl LinkState =====

impl LinkState {
    /// The interface called `name` as `view`'s protocol sees it now.
    pub fn of(view: &ProtoView<'_>, name: &str) -> LinkState {
        let link = view.link_named(name);
        LinkState {
            name: name.to_owned(),
            ifindex: link.map(|l| l.ifindex),
            present: link.is_some(),
            up: link.is_some_and(|l| l.oper_up()),
            owned: link.is_some_and(|l| view.owns(l.ifindex)),
        }
    }
}

/// The name, and what keeps it from being used if anything does:
/// `wan1 (absent)`, `wan1 (down)`, `wan1 (not owned)`.
impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.present {
            f.write_str(" (absent)")
        } else if !self.up {
            f.write_str(" (down)")
        } else if !self.owned {
            f.write_str(" (not owned)")
        } else {
            Ok(())
        }
    }
}

// ===== helper functions =====

/// A column name as a table header: `only_with_members` -> `ONLY-WITH-MEMBERS`.
fn header(column: &str) -> String {
    column.to_uppercase().replace('_', "-")
}

/// Addresses joined by commas, or `none`.
fn list(addrs: &std::collections::BTreeSet<IpAddr>) -> String {
    if addrs.is_empty() {
        return "none".into();
    }
    let v: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    v.join(",")
}

/// Rows as left-aligned columns two spaces apart, each line after
/// `indent`, trailing blanks trimmed.
fn write_aligned(f: &mut fmt::Formatter<'_>, indent: &str, rows: &[Vec<String>]) -> fmt::Result {
    let mut width: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            match width.get_mut(i) {
                Some(w) => *w = (*w).max(c.chars().count()),
                None => width.push(c.chars().count()),
            }
        }
    }
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = width[i]))
            .collect();
        writeln!(f, "{indent}{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::net::Ipv4Addr;

    fn link(name: &str, present: bool, up: bool, owned: bool) -> Cell {
        Cell::Link(LinkState {
            name: name.into(),
            ifindex: present.then_some(IfIndex(7)),
            present,
            up,
            owned,
        })
    }

    fn sample() -> ProtoStatus {
        let g: GroupAddr = "239.1.1.1".parse().unwrap();
        ProtoStatus::new()
            .value("upstream", Cell::Interface("wan0".into()))
            .value("hold", Cell::Duration(Duration::from_millis(2500)))
            .table(
                "routes",
                StatusTable::new(&["source", "group", "inbound", "outbound", "with_members"]).row(
                    vec![
                        Cell::None,
                        Cell::Group(g),
                        link("wan0", true, true, true),
                        Cell::List(vec![
                            link("lan0", true, false, true),
                            link("lan9", false, false, false),
                        ]),
                        Cell::List(vec![]),
                    ],
                ),
            )
            .table("joins", StatusTable::new(&["group"]))
            .block(
                "membership",
                vec![(
                    g.to_string(),
                    Cell::Filter(HostFilter::Exclude(BTreeSet::from([Ipv4Addr::new(
                        10, 0, 0, 1,
                    )
                    .into()]))),
                )],
            )
            .block(
                "counters",
                vec![
                    ("flows_accepted".into(), Cell::Count(12)),
                    ("joined".into(), Cell::Flag(true)),
                ],
            )
    }

    #[test]
    fn serializes_as_a_plain_object_in_section_order() {
        assert_eq!(
            serde_json::to_string(&sample()).unwrap(),
            concat!(
                r#"{"upstream":"wan0","hold":2.5,"routes":[{"source":null,"group":"239.1.1.1","#,
                r#""inbound":{"name":"wan0","ifindex":7,"present":true,"up":true,"owned":true},"#,
                r#""outbound":[{"name":"lan0","ifindex":7,"present":true,"up":false,"owned":true},"#,
                r#"{"name":"lan9","ifindex":null,"present":false,"up":false,"owned":false}],"#,
                r#""with_members":[]}],"joins":[],"#,
                r#""membership":{"239.1.1.1":{"mode":"exclude","sources":["10.0.0.1"]}},"#,
                r#""counters":{"flows_accepted":12,"joined":true}}"#
            )
        );
        assert_eq!(serde_json::to_string(&ProtoStatus::new()).unwrap(), "{}");
    }

    #[test]
    fn reads_back_from_json_and_layout_and_prints_the_same() {
        let status = sample();
        let layout = status.layout();
        assert_eq!(
            serde_json::to_string(&layout[2]).unwrap(),
            r#"{"name":"routes","kind":"table","columns":["source","group","inbound","outbound","with_members"]}"#
        );
        let json = serde_json::to_value(&status).unwrap();
        let back = ProtoStatus::from_json(&layout, &json);
        assert_eq!(back.to_string(), status.to_string());
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
        // Text-like cells come back as text; the others keep their kind.
        assert_eq!(
            back.section("upstream"),
            Some(&Section::Value(Cell::Text("wan0".into())))
        );
        assert_eq!(
            back.section("hold"),
            Some(&Section::Value(Cell::Duration(Duration::from_millis(2500))))
        );
        assert_eq!(
            back.section("membership"),
            status.section("membership"),
            "a filter reads back as a filter"
        );
        // A section the object lacks reads back empty.
        let missing = ProtoStatus::from_json(&layout, &serde_json::json!({}));
        assert_eq!(
            missing.section("joins"),
            Some(&Section::Table(StatusTable {
                columns: vec!["group".into()],
                rows: vec![],
            }))
        );
        assert_eq!(
            missing.section("upstream"),
            Some(&Section::Value(Cell::None))
        );
    }

    #[test]
    fn prints_values_blocks_and_aligned_tables() {
        assert_eq!(
            sample().to_string(),
            "\
upstream: wan0
hold: 2.5s
routes:
  SOURCE  GROUP      INBOUND  OUTBOUND                   WITH-MEMBERS
  -       239.1.1.1  wan0     lan0 (down),lan9 (absent)  -
joins: none
membership:
  239.1.1.1  exclude 10.0.0.1
counters:
  flows_accepted  12
  joined          yes
"
        );
        assert_eq!(ProtoStatus::new().to_string(), "");
    }

    #[test]
    fn cells_print_by_kind() {
        let cases = [
            (Cell::None, "-"),
            (Cell::Text(String::new()), "-"),
            (Cell::Count(3), "3"),
            (Cell::Flag(false), "no"),
            (Cell::Address(Ipv4Addr::new(10, 0, 0, 1).into()), "10.0.0.1"),
            (
                Cell::Filter(HostFilter::Include(BTreeSet::new())),
                "include none",
            ),
            (link("lan1", true, true, false), "lan1 (not owned)"),
            (link("lan1", true, true, true), "lan1"),
            (
                Cell::List(vec![Cell::Count(1), Cell::Interface("lan1".into())]),
                "1,lan1",
            ),
        ];
        for (cell, text) in cases {
            assert_eq!(cell.to_string(), text, "{cell:?}");
        }
    }
}
