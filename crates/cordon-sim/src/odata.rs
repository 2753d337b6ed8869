//! A small OData `$filter` parser and evaluator: enough of the grammar the Defender API
//! accepts to serve cordon and scripts honestly, and to answer 400 `ODataError` with a
//! useful message for anything else.
//!
//! Supported: `eq ne gt ge lt le`, `and or not`, parentheses, '...' strings ('' escapes
//! a quote), numbers, `true false null`, datetime literals (`2024-01-01Z`, full ISO),
//! `startswith/endswith/contains(field,'x')`, `tolower(field)`, and
//! `field/any(t: t eq 'x')` over string lists.

use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Time(DateTime<Utc>),
    List(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field(String),
    Var,
    Lit(Val),
    ToLower(Box<Operand>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Op, Operand, Operand),
    Func(String, Operand, Operand),
    Any(String, Box<Expr>),
}

/// Something a filter can look at: returns None for an unknown field.
pub trait Entity {
    fn field(&self, name: &str) -> Option<Val>;
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Time(DateTime<Utc>),
    LParen,
    RParen,
    Comma,
    Colon,
}

fn tokenize(s: &str) -> Result<Vec<(usize, Tok)>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push((start, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((start, Tok::RParen));
                i += 1;
            }
            ',' => {
                out.push((start, Tok::Comma));
                i += 1;
            }
            ':' => {
                out.push((start, Tok::Colon));
                i += 1;
            }
            '\'' => {
                i += 1;
                let mut lit = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "unterminated string starting at position {start}"
                            ));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            lit.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((start, Tok::Str(lit)));
            }
            c if c.is_ascii_digit() || c == '-' => {
                while i < chars.len() && !matches!(chars[i], ' ' | '(' | ')' | ',') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if let Ok(n) = word.parse::<f64>() {
                    out.push((start, Tok::Num(n)));
                } else if let Some(t) = parse_time(&word) {
                    out.push((start, Tok::Time(t)));
                } else {
                    return Err(format!(
                        "'{word}' at position {start} is not a number or a date"
                    ));
                }
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '/' | '.' | '$'))
                {
                    i += 1;
                }
                out.push((start, Tok::Ident(chars[start..i].iter().collect())));
            }
            other => return Err(format!("unexpected '{other}' at position {start}")),
        }
    }
    Ok(out)
}

/// `2024-01-01Z`, `2024-01-01`, or RFC 3339.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let d = s.strip_suffix('Z').unwrap_or(s);
    NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    fields: &'a [&'a str],
    lambda_var: Option<String>,
    depth: usize,
}

/// Nesting deeper than this is refused, so a hostile filter cannot overflow the stack.
const MAX_DEPTH: usize = 64;

/// Parse `filter`, accepting only `fields` as field names.
pub fn parse(filter: &str, fields: &[&str]) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokenize(filter)?,
        pos: 0,
        fields,
        lambda_var: None,
        depth: 0,
    };
    if p.toks.is_empty() {
        return Err("the filter is empty".into());
    }
    let e = p.or()?;
    if let Some((at, t)) = p.toks.get(p.pos) {
        return Err(format!("unexpected {t:?} at position {at}"));
    }
    Ok(e)
}

impl Parser<'_> {
    fn peek_ident(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some((_, Tok::Ident(s))) => Some(s.as_str()),
            _ => None,
        }
    }

    fn expect(&mut self, want: &Tok) -> Result<(), String> {
        match self.toks.get(self.pos) {
            Some((_, t)) if t == want => {
                self.pos += 1;
                Ok(())
            }
            Some((at, t)) => Err(format!("expected {want:?} at position {at}, found {t:?}")),
            None => Err(format!("expected {want:?} at the end of the filter")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_ident() == Some("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_ident() == Some("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("the filter nests deeper than {MAX_DEPTH} levels"));
        }
        let e = self.unary_inner();
        self.depth -= 1;
        e
    }

    fn unary_inner(&mut self) -> Result<Expr, String> {
        if self.peek_ident() == Some("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if matches!(self.toks.get(self.pos), Some((_, Tok::LParen))) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(&Tok::RParen)?;
            return Ok(e);
        }
        if let Some(name) = self.peek_ident().map(str::to_string) {
            if let Some(field) = name.strip_suffix("/any") {
                self.check_field(field)?;
                self.pos += 1;
                self.expect(&Tok::LParen)?;
                let var = match self.toks.get(self.pos) {
                    Some((_, Tok::Ident(v))) => v.clone(),
                    _ => return Err("any() needs a variable, e.g. any(t: t eq 'x')".into()),
                };
                self.pos += 1;
                self.expect(&Tok::Colon)?;
                let saved = self.lambda_var.replace(var);
                let body = self.or()?;
                self.lambda_var = saved;
                self.expect(&Tok::RParen)?;
                return Ok(Expr::Any(field.to_string(), Box::new(body)));
            }
            if matches!(name.as_str(), "startswith" | "endswith" | "contains") {
                self.pos += 1;
                self.expect(&Tok::LParen)?;
                let a = self.operand()?;
                self.expect(&Tok::Comma)?;
                let b = self.operand()?;
                self.expect(&Tok::RParen)?;
                return Ok(Expr::Func(name, a, b));
            }
        }
        let left = self.operand()?;
        let op = match self.peek_ident() {
            Some("eq") => Op::Eq,
            Some("ne") => Op::Ne,
            Some("gt") => Op::Gt,
            Some("ge") => Op::Ge,
            Some("lt") => Op::Lt,
            Some("le") => Op::Le,
            _ => {
                return Err(match self.toks.get(self.pos) {
                    Some((at, t)) => {
                        format!("expected a comparison operator at position {at}, found {t:?}")
                    }
                    None => "expected a comparison operator at the end of the filter".into(),
                });
            }
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(Expr::Cmp(op, left, right))
    }

    fn check_field(&self, name: &str) -> Result<(), String> {
        if self.fields.contains(&name) {
            Ok(())
        } else {
            Err(format!(
                "'{name}' is not a filterable property; use one of: {}",
                self.fields.join(", ")
            ))
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let Some((at, tok)) = self.toks.get(self.pos).cloned() else {
            return Err("the filter ends where a value was expected".into());
        };
        self.pos += 1;
        Ok(match tok {
            Tok::Str(s) => Operand::Lit(Val::Str(s)),
            Tok::Num(n) => Operand::Lit(Val::Num(n)),
            Tok::Time(t) => Operand::Lit(Val::Time(t)),
            Tok::Ident(id) => match id.as_str() {
                "true" => Operand::Lit(Val::Bool(true)),
                "false" => Operand::Lit(Val::Bool(false)),
                "null" => Operand::Lit(Val::Null),
                "tolower" => {
                    self.expect(&Tok::LParen)?;
                    let inner = self.operand()?;
                    self.expect(&Tok::RParen)?;
                    Operand::ToLower(Box::new(inner))
                }
                v if self.lambda_var.as_deref() == Some(v) => Operand::Var,
                f => {
                    self.check_field(f)?;
                    Operand::Field(f.to_string())
                }
            },
            other => return Err(format!("unexpected {other:?} at position {at}")),
        })
    }
}

fn value<E: Entity>(o: &Operand, e: &E, var: Option<&str>) -> Val {
    match o {
        Operand::Field(f) => e.field(f).unwrap_or(Val::Null),
        Operand::Var => var.map_or(Val::Null, |v| Val::Str(v.to_string())),
        Operand::Lit(v) => v.clone(),
        Operand::ToLower(inner) => match value(inner, e, var) {
            Val::Str(s) => Val::Str(s.to_lowercase()),
            other => other,
        },
    }
}

fn compare(op: Op, a: &Val, b: &Val) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Val::Null, Val::Null) => Some(Ordering::Equal),
        (Val::Null, _) | (_, Val::Null) => None,
        (Val::Str(x), Val::Str(y)) => match (parse_time(x), parse_time(y)) {
            (Some(tx), Some(ty)) if op != Op::Eq && op != Op::Ne => tx.partial_cmp(&ty),
            _ => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        },
        (Val::Str(x), Val::Time(t)) => parse_time(x).and_then(|tx| tx.partial_cmp(t)),
        (Val::Time(t), Val::Str(y)) => parse_time(y).and_then(|ty| t.partial_cmp(&ty)),
        (Val::Time(x), Val::Time(y)) => x.partial_cmp(y),
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Num(y)) => x.parse::<f64>().ok().and_then(|x| x.partial_cmp(y)),
        (Val::Num(x), Val::Str(y)) => y.parse::<f64>().ok().and_then(|y| x.partial_cmp(&y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    };
    match (op, ord) {
        (Op::Ne, None) => true,
        (_, None) => false,
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
    }
}

pub fn eval<E: Entity>(expr: &Expr, e: &E) -> bool {
    eval_with(expr, e, None)
}

fn eval_with<E: Entity>(expr: &Expr, e: &E, var: Option<&str>) -> bool {
    match expr {
        Expr::And(a, b) => eval_with(a, e, var) && eval_with(b, e, var),
        Expr::Or(a, b) => eval_with(a, e, var) || eval_with(b, e, var),
        Expr::Not(a) => !eval_with(a, e, var),
        Expr::Cmp(op, a, b) => compare(*op, &value(a, e, var), &value(b, e, var)),
        Expr::Func(name, a, b) => match (value(a, e, var), value(b, e, var)) {
            (Val::Str(x), Val::Str(y)) => {
                let (x, y) = (x.to_lowercase(), y.to_lowercase());
                match name.as_str() {
                    "startswith" => x.starts_with(&y),
                    "endswith" => x.ends_with(&y),
                    _ => x.contains(&y),
                }
            }
            _ => false,
        },
        Expr::Any(field, body) => match e.field(field) {
            Some(Val::List(items)) => items.iter().any(|it| eval_with(body, e, Some(it))),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Row(HashMap<&'static str, Val>);
    impl Entity for Row {
        fn field(&self, name: &str) -> Option<Val> {
            self.0.get(name).cloned()
        }
    }

    const FIELDS: &[&str] = &["name", "risk", "tags", "seen", "group"];

    fn row() -> Row {
        Row(HashMap::from([
            ("name", Val::Str("ws-fin-01.contoso.local".into())),
            ("risk", Val::Str("High".into())),
            ("tags", Val::List(vec!["ward-7".into(), "vip".into()])),
            ("seen", Val::Str("2026-11-20T10:00:00Z".into())),
            ("group", Val::Num(140.0)),
        ]))
    }

    fn check(f: &str) -> bool {
        eval(&parse(f, FIELDS).expect("parses"), &row())
    }

    #[test]
    fn comparisons_functions_and_logic() {
        assert!(check("risk eq 'High'"));
        assert!(check("risk eq 'high'"));
        assert!(!check("risk ne 'High'"));
        assert!(check("startswith(name,'ws-fin')"));
        assert!(check("contains(name, 'contoso') and not (risk eq 'Low')"));
        assert!(check("risk eq 'Low' or group eq 140"));
        assert!(check("seen gt 2026-11-01Z"));
        assert!(!check("seen lt 2026-11-01T00:00:00Z"));
        assert!(check("tags/any(t: t eq 'vip')"));
        assert!(!check("tags/any(t: t eq 'none')"));
        assert!(check("tolower(name) eq 'WS-FIN-01.CONTOSO.LOCAL'"));
        assert!(check("name eq 'it''s' or risk eq 'High'"));
    }

    #[test]
    fn long_or_chains_parse() {
        let f: Vec<String> = (0..50).map(|i| format!("name eq 'm{i}'")).collect();
        let e = parse(&f.join(" or "), FIELDS).expect("parses");
        assert!(!eval(&e, &row()));
    }

    #[test]
    fn hostile_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}risk eq 'x'{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep, FIELDS).unwrap_err().contains("nests deeper"));
        let nots = format!("{}risk eq 'x'", "not ".repeat(10_000));
        assert!(parse(&nots, FIELDS).unwrap_err().contains("nests deeper"));
        let ok = format!("{}risk eq 'High'{}", "(".repeat(30), ")".repeat(30));
        assert!(eval(&parse(&ok, FIELDS).expect("30 levels parse"), &row()));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(
            parse("color eq 'x'", FIELDS)
                .unwrap_err()
                .contains("'color'")
        );
        assert!(parse("risk eq", FIELDS).unwrap_err().contains("value"));
        assert!(
            parse("risk 'High'", FIELDS)
                .unwrap_err()
                .contains("operator")
        );
        assert!(
            parse("name eq 'open", FIELDS)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(parse("(risk eq 'x'", FIELDS).is_err());
    }
}
