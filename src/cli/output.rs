//! Streamed listings: `machines` and `actions` write each record as it is read, in one
//! of four formats, and keep nothing but the record in hand. Every API string is made
//! terminal-safe here, the listings' one way to stdout: text cells are cleaned
//! (`sanitize::clean`), JSON keeps control, bidi and invisible characters as `\uXXXX`.

use std::borrow::Cow;
use std::io::Write;

use serde_json::Value;
use unicode_width::UnicodeWidthChar;

use super::args::OutputFormat;
use cordon_core::api::models::{IsolationState, Machine, MachineAction};
use cordon_core::sanitize::{clean, clean_lines, escape_json_text};

/// What a listing prints: its noun, every field a record has (the API's names, in the
/// API's order) and the default table's columns.
#[derive(Debug)]
pub struct Schema {
    pub noun: &'static str,
    pub fields: &'static [&'static str],
    pub table: &'static [(&'static str, usize)],
}

/// The Machine entity's fields as cordon serialises them, plus the derived
/// `isolationState`. A unit test keeps this list equal to `Machine`'s.
pub const MACHINES: Schema = Schema {
    noun: "machines",
    fields: &[
        "id",
        "computerDnsName",
        "firstSeen",
        "lastSeen",
        "osPlatform",
        "osVersion",
        "osProcessor",
        "osArchitecture",
        "version",
        "osBuild",
        "lastIpAddress",
        "lastExternalIpAddress",
        "healthStatus",
        "rbacGroupId",
        "rbacGroupName",
        "riskScore",
        "exposureLevel",
        "deviceValue",
        "onboardingStatus",
        "isAadJoined",
        "aadDeviceId",
        "machineTags",
        "ipAddresses",
        "agentVersion",
        "defenderAvStatus",
        "isolationState",
        "isolationScope",
    ],
    // Fixed widths, so the first row can be printed before the last page is read.
    table: &[
        ("NAME", 40),
        ("OS", 18),
        ("HEALTH", 14),
        ("RISK", 13),
        ("EXPOSURE", 8),
        ("ISOLATION", 15),
        ("LAST SEEN", 28),
        ("ID", 40),
    ],
};

/// The MachineAction entity's fields. A unit test keeps this list equal to
/// `MachineAction`'s.
pub const ACTIONS: Schema = Schema {
    noun: "actions",
    fields: &[
        "id",
        "type",
        "title",
        "requestor",
        "requestorComment",
        "status",
        "machineId",
        "computerDnsName",
        "creationDateTimeUtc",
        "lastUpdateDateTimeUtc",
        "cancellationRequestor",
        "cancellationComment",
        "cancellationDateTimeUtc",
        "errorHResult",
        "scope",
        "externalId",
        "requestSource",
    ],
    table: &[
        ("CREATED", 28),
        ("TYPE", 27),
        ("STATUS", 10),
        ("MACHINE", 40),
        ("REQUESTOR", 32),
        ("COMMENT", 60),
        ("ACTION ID", 36),
    ],
};

/// One record of a listing.
pub trait Record {
    /// Every field as one compact JSON object, appended to `buf`.
    fn write_json(&self, buf: &mut Vec<u8>) -> serde_json::Result<()>;
    /// Every field by name (for `--fields`, CSV and a table of chosen fields).
    fn to_map(&self) -> serde_json::Result<serde_json::Map<String, Value>>;
    /// The default table's cells, uncleaned; `None` prints `-`.
    fn table_cells(&self) -> Vec<Option<Cow<'_, str>>>;
}

/// A machine with the isolation state cordon derived for it.
#[derive(Debug, Clone, Copy)]
pub struct MachineRow<'a> {
    pub machine: &'a MachineLine,
    pub state: IsolationState,
}

/// A machine kept as the compact JSON of its `Machine` (the fields and values
/// `--output json` prints), one allocation instead of twenty: a 10,000-machine page
/// waits to be written in about half the memory of the typed records (peak RSS at
/// 100,000 machines 35 MB instead of 47). The table and CSV read it back per record.
#[derive(Debug, Clone)]
pub struct MachineLine {
    id: Box<str>,
    json: Box<str>,
}

impl MachineLine {
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl From<Machine> for MachineLine {
    fn from(m: Machine) -> Self {
        // A Machine of Strings always serialises.
        let json = serde_json::to_string(&m).unwrap_or_else(|_| "{}".into());
        Self {
            id: m.id.into_boxed_str(),
            json: json.into_boxed_str(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for MachineLine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Through the typed Machine: the same quirks absorbed, the same output.
        Machine::deserialize(d).map(Self::from)
    }
}

impl Record for MachineRow<'_> {
    fn write_json(&self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        // `{…}` becomes `{…,"isolationState":"…"}` without a detour through a Value.
        buf.extend_from_slice(self.machine.json.as_bytes());
        if buf.last() == Some(&b'}') {
            buf.pop();
            buf.extend_from_slice(b",\"isolationState\":");
            serde_json::to_writer(&mut *buf, self.state.label())?;
            // Full or Selective where cordon knows it (the service does not say).
            if let Some(scope) = self.state.scope() {
                buf.extend_from_slice(b",\"isolationScope\":");
                serde_json::to_writer(&mut *buf, scope.as_str())?;
            }
            buf.push(b'}');
        }
        Ok(())
    }

    fn to_map(&self) -> serde_json::Result<serde_json::Map<String, Value>> {
        let mut map = match serde_json::from_str(&self.machine.json)? {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        map.insert("isolationState".into(), self.state.label().into());
        map.insert(
            "isolationScope".into(),
            self.state
                .scope()
                .map_or(Value::Null, |s| s.as_str().into()),
        );
        Ok(map)
    }

    fn table_cells(&self) -> Vec<Option<Cow<'_, str>>> {
        let m: Machine = serde_json::from_str(&self.machine.json).unwrap_or_default();
        let owned = |s: Option<String>| s.filter(|v| !v.is_empty()).map(Cow::Owned);
        vec![
            Some(Cow::Owned(m.display_name().to_string())),
            owned(m.os_platform),
            owned(m.health_status),
            owned(m.risk_score),
            owned(m.exposure_level),
            Some(self.state.short().into()),
            owned(m.last_seen),
            Some(Cow::Owned(m.id)),
        ]
    }
}

impl Record for MachineAction {
    fn write_json(&self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(buf, self)
    }

    fn to_map(&self) -> serde_json::Result<serde_json::Map<String, Value>> {
        match serde_json::to_value(self)? {
            Value::Object(map) => Ok(map),
            _ => Ok(serde_json::Map::new()),
        }
    }

    fn table_cells(&self) -> Vec<Option<Cow<'_, str>>> {
        vec![
            opt(&self.creation_date_time_utc),
            Some(match self.isolation_scope() {
                Some(t) => format!("Isolate ({})", t.as_str()).into(),
                None => self.action_type.as_str().into(),
            }),
            Some(self.status.as_str().into()),
            opt(&self.computer_dns_name),
            opt(&self.requestor),
            opt(&self.requestor_comment),
            Some(self.id.as_str().into()),
        ]
    }
}

fn opt(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().filter(|v| !v.is_empty()).map(Cow::from)
}

/// `--fields` named something the listing does not have.
#[derive(Debug, thiserror::Error)]
#[error("--fields: {noun} have no field '{name}'; the fields are {known}.")]
pub struct UnknownField {
    noun: &'static str,
    name: String,
    known: String,
}

/// Why a listing stopped writing.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The reader went away (`| head`): not an error for the user.
    #[error("the reader of standard output closed it")]
    Closed,
    #[error("cannot write to standard output: {0}")]
    Io(std::io::Error),
    #[error("cannot encode a record as JSON: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Self::Closed
        } else {
            Self::Io(e)
        }
    }
}

/// Writes one listing record by record. Each record is formatted whole in a buffer,
/// made terminal-safe, then written, so a reader stopped at any point (Ctrl-C, an
/// error) holds whole records; `flush` after each page.
pub struct Listing<W: Write> {
    out: W,
    format: OutputFormat,
    schema: &'static Schema,
    /// The chosen fields (`--fields`), or None for the format's default.
    fields: Option<Vec<&'static str>>,
    buf: Vec<u8>,
    records: usize,
    started: bool,
}

impl<W: Write> Listing<W> {
    /// A listing in `format`; `fields` empty means the default columns. An unknown field
    /// is refused before anything is read or written.
    pub fn new(
        out: W,
        format: OutputFormat,
        schema: &'static Schema,
        fields: &[String],
    ) -> Result<Self, UnknownField> {
        let fields = if fields.is_empty() {
            None
        } else {
            let mut chosen = Vec::with_capacity(fields.len());
            for name in fields {
                let name = name.trim();
                match schema.fields.iter().find(|f| **f == name) {
                    Some(f) => chosen.push(*f),
                    None => {
                        return Err(UnknownField {
                            noun: schema.noun,
                            name: clean(name).into_owned(),
                            known: schema.fields.join(", "),
                        });
                    }
                }
            }
            Some(chosen)
        };
        Ok(Self {
            out,
            format,
            schema,
            fields,
            buf: Vec::with_capacity(4096),
            records: 0,
            started: false,
        })
    }

    /// Records written so far.
    pub fn records(&self) -> usize {
        self.records
    }

    /// The header (table, CSV) or the opening bracket (JSON), once.
    fn start(&mut self) -> Result<(), WriteError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let mut line = String::new();
        match self.format {
            OutputFormat::Json => line.push_str("[\n"),
            OutputFormat::Jsonl => {}
            OutputFormat::Csv => {
                let names = self
                    .fields
                    .clone()
                    .unwrap_or_else(|| self.schema.fields.to_vec());
                line.push_str(&names.join(","));
                line.push('\n');
            }
            OutputFormat::Table => {
                let cells: Vec<(String, usize)> = match &self.fields {
                    Some(fields) => fields
                        .iter()
                        .map(|f| (f.to_string(), field_width(f)))
                        .collect(),
                    None => self
                        .schema
                        .table
                        .iter()
                        .map(|(h, w)| (h.to_string(), *w))
                        .collect(),
                };
                table_line(&mut line, cells.iter().map(|(c, w)| (Some(c.as_str()), *w)));
            }
        }
        self.out.write_all(line.as_bytes())?;
        Ok(())
    }

    /// Format and write one record.
    pub fn record(&mut self, record: &dyn Record) -> Result<(), WriteError> {
        self.start()?;
        self.buf.clear();
        match self.format {
            OutputFormat::Json | OutputFormat::Jsonl => {
                if self.format == OutputFormat::Json && self.records > 0 {
                    self.buf.extend_from_slice(b",\n");
                }
                match &self.fields {
                    None => record.write_json(&mut self.buf)?,
                    Some(fields) => {
                        let map = record.to_map()?;
                        self.buf.push(b'{');
                        for (i, name) in fields.iter().enumerate() {
                            if i > 0 {
                                self.buf.push(b',');
                            }
                            serde_json::to_writer(&mut self.buf, name)?;
                            self.buf.push(b':');
                            serde_json::to_writer(
                                &mut self.buf,
                                map.get(*name).unwrap_or(&Value::Null),
                            )?;
                        }
                        self.buf.push(b'}');
                    }
                }
                if self.format == OutputFormat::Jsonl {
                    self.buf.push(b'\n');
                }
                // serde_json produced it from Strings: valid UTF-8.
                let text = String::from_utf8_lossy(&self.buf);
                self.out.write_all(escape_json_text(&text).as_bytes())?;
            }
            OutputFormat::Csv => {
                let map = record.to_map()?;
                let fields = self.fields.as_deref().unwrap_or(self.schema.fields);
                let mut line = String::new();
                for (i, name) in fields.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    csv_cell(&mut line, map.get(*name));
                }
                line.push('\n');
                self.out.write_all(clean_lines(&line).as_bytes())?;
            }
            OutputFormat::Table => {
                let mut line = String::new();
                match &self.fields {
                    None => {
                        let cells = record.table_cells();
                        let widths = self.schema.table.iter().map(|(_, w)| *w);
                        table_line(&mut line, cells.iter().map(|c| c.as_deref()).zip(widths));
                    }
                    Some(fields) => {
                        let map = record.to_map()?;
                        let cells: Vec<Option<String>> =
                            fields.iter().map(|f| text_of(map.get(*f))).collect();
                        table_line(
                            &mut line,
                            cells
                                .iter()
                                .map(|c| c.as_deref())
                                .zip(fields.iter().map(|f| field_width(f))),
                        );
                    }
                }
                self.out.write_all(clean_lines(&line).as_bytes())?;
            }
        }
        self.records += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.out.flush()?;
        Ok(())
    }

    /// The closing bracket (JSON) or the count line (table), then flush. Only for a
    /// listing that read every page: an interrupted JSON array stays unclosed, so it
    /// cannot pass for a whole one.
    pub fn finish(&mut self) -> Result<(), WriteError> {
        self.start()?;
        match self.format {
            OutputFormat::Json => self.out.write_all(b"\n]\n")?,
            OutputFormat::Table => {
                writeln!(self.out, "{} {}", self.records, self.schema.noun)?;
            }
            OutputFormat::Jsonl | OutputFormat::Csv => {}
        }
        self.flush()
    }
}

/// Columns for a field chosen with `--fields` in a table.
fn field_width(field: &str) -> usize {
    match field {
        "id" | "computerDnsName" | "machineId" | "ipAddresses" => 40,
        "requestorComment" | "cancellationComment" => 60,
        "requestor" | "cancellationRequestor" | "rbacGroupName" => 32,
        f if f.ends_with("Utc") || f.ends_with("Seen") => 28,
        _ => 20,
    }
}

/// Cells cut or padded to their widths (by terminal columns), two spaces apart; the last
/// cell is not padded.
fn table_line<'a>(line: &mut String, cells: impl Iterator<Item = (Option<&'a str>, usize)>) {
    for (i, (cell, width)) in cells.enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let cleaned = clean(cell.filter(|c| !c.is_empty()).unwrap_or("-"));
        let used = fit(line, &cleaned, width);
        line.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    }
    let kept = line.trim_end().len();
    line.truncate(kept);
    line.push('\n');
}

/// Append `text` cut to `width` columns (an ellipsis marks the cut); the columns used.
fn fit(line: &mut String, text: &str, width: usize) -> usize {
    let total: usize = text.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        line.push_str(text);
        return total;
    }
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        line.push(c);
        used += w;
    }
    line.push('…');
    used + 1
}

/// A field's value as text for a table cell: strings as they are, null as nothing,
/// numbers and booleans as written, arrays and objects as compact JSON.
fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// One CSV cell (RFC 4180): cleaned like any text, quoted when it holds a comma or a
/// quote (doubled). A string that a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@` first) gets a leading `'`: a hostile name must not become a formula.
fn csv_cell(line: &mut String, value: Option<&Value>) {
    let (text, from_string) = match value {
        None | Some(Value::Null) => return,
        Some(Value::String(s)) => (clean(s), true),
        Some(other) => (Cow::Owned(clean(&other.to_string()).into_owned()), false),
    };
    let formula = from_string && text.starts_with(['=', '+', '-', '@']);
    let quote = text.contains([',', '"', '\n', '\r']);
    if quote {
        line.push('"');
    }
    if formula {
        line.push('\'');
    }
    for c in text.chars() {
        if c == '"' {
            line.push('"');
        }
        line.push(c);
    }
    if quote {
        line.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_in_order<T: serde::Serialize>(value: &T) -> Vec<String> {
        // Compact JSON of a record whose strings hold no quotes: the keys in order.
        let text = serde_json::to_string(value).expect("json");
        let map: serde_json::Map<String, Value> = serde_json::from_str(&text).expect("object");
        let mut keys: Vec<(usize, String)> = map
            .keys()
            .map(|k| {
                (
                    text.find(&format!("\"{k}\":")).unwrap_or(usize::MAX),
                    k.clone(),
                )
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    #[test]
    fn the_field_lists_are_the_entities_fields() {
        let mut machine = keys_in_order(&Machine::default());
        machine.push("isolationState".into());
        machine.push("isolationScope".into());
        assert_eq!(machine, MACHINES.fields);
        let action: MachineAction = serde_json::from_value(serde_json::json!({
            "id": "a", "type": "Isolate", "status": "Pending"
        }))
        .expect("action");
        assert_eq!(keys_in_order(&action), ACTIONS.fields);
    }

    fn machine(name: &str) -> Machine {
        Machine {
            id: "abc".into(),
            computer_dns_name: Some(name.into()),
            machine_tags: vec!["ward-7".into(), "icu".into()],
            ..Machine::default()
        }
    }

    fn render(format: OutputFormat, fields: &[&str], machines: &[Machine]) -> String {
        let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let mut listing = Listing::new(&mut out, format, &MACHINES, &fields).expect("fields");
        for m in machines {
            let line = MachineLine::from(m.clone());
            listing
                .record(&MachineRow {
                    machine: &line,
                    state: IsolationState::NotIsolated,
                })
                .expect("write");
        }
        listing.finish().expect("finish");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn csv_quotes_commas_and_quotes_and_defuses_formulas() {
        let out = render(
            OutputFormat::Csv,
            &["computerDnsName", "machineTags", "osBuild"],
            &[machine("a,b \"c\""), machine("=cmd|' /C calc'!A0")],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "computerDnsName,machineTags,osBuild");
        assert_eq!(lines[1], r#""a,b ""c""","[""ward-7"",""icu""]","#);
        assert_eq!(lines[2], r#"'=cmd|' /C calc'!A0,"[""ward-7"",""icu""]","#);
    }

    #[test]
    fn json_is_one_array_and_jsonl_one_object_a_line() {
        let ms = [machine("a"), machine("b")];
        let json: Value =
            serde_json::from_str(&render(OutputFormat::Json, &[], &ms)).expect("valid JSON");
        assert_eq!(json.as_array().map(Vec::len), Some(2));
        assert_eq!(json[1]["computerDnsName"], "b");
        assert_eq!(json[1]["isolationState"], "Not isolated");
        let empty: Value =
            serde_json::from_str(&render(OutputFormat::Json, &[], &[])).expect("valid JSON");
        assert_eq!(empty, serde_json::json!([]));
        let jsonl = render(OutputFormat::Jsonl, &["isolationState", "id"], &ms);
        assert_eq!(
            jsonl,
            "{\"isolationState\":\"Not isolated\",\"id\":\"abc\"}\n".repeat(2)
        );
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err = Listing::new(
            Vec::new(),
            OutputFormat::Csv,
            &MACHINES,
            &["id".into(), "nmae".into()],
        )
        .err()
        .expect("refused");
        let text = err.to_string();
        assert!(
            text.contains("'nmae'") && text.contains("computerDnsName"),
            "{text}"
        );
    }

    #[test]
    fn tables_have_fixed_columns_and_cut_wide_text_by_columns() {
        let out = render(
            OutputFormat::Table,
            &["computerDnsName", "id"],
            &[
                machine("東京東京東京東京東京東京東京東京東京東京東京"),
                machine("ab"),
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("computerDnsName{}  id", " ".repeat(25)));
        assert!(
            lines[1].starts_with("東京東京東京東京東京東京東京東京東京東… "),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], format!("ab{}  abc", " ".repeat(38)));
        assert_eq!(lines[3], "2 machines");
    }

    #[test]
    fn hostile_cells_are_cleaned_in_every_format() {
        let evil = machine("\u{1b}]0;pwned\u{7}evil\u{1b}[31m\u{202e}x\u{9b}2J\r\nforged");
        for format in [
            OutputFormat::Table,
            OutputFormat::Csv,
            OutputFormat::Json,
            OutputFormat::Jsonl,
        ] {
            let out = render(format, &[], std::slice::from_ref(&evil));
            for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}', '\r'] {
                assert!(!out.contains(bad), "{format:?}: {out:?}");
            }
            assert!(out.contains("evil"), "{format:?}: {out:?}");
        }
    }
}
