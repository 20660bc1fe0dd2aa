//! A small GraphQL reader for the SuperOps simulator: enough of the language that the
//! simulator answers real client documents the way a GraphQL server does.
//!
//! Supported: `query`/`mutation` operations (named or anonymous) with variable
//! definitions, several root fields, aliases, arguments (variables, strings, numbers,
//! booleans, `null`, enums, lists, objects), nested selection sets, commas and `#`
//! comments. Not supported (answered with a validation error): fragments, directives,
//! subscriptions. Variable types are read and ignored; values come from `variables`.
//!
//! [`project`] then shapes a resolved record by the selection set: only the fields asked
//! for, under their aliases; a field the type does not have, a sub-selection on a JSON
//! scalar (SuperOps' `client`, `site`, `requester`…) or an object without one is an
//! error, as the schema would make it.

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationKind {
    Query,
    Mutation,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub alias: Option<String>,
    pub name: String,
    /// Arguments with variables already substituted.
    pub args: Map<String, Value>,
    pub selection: Vec<Field>,
}

impl Field {
    /// The key the field's value is answered under.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub kind: OperationKind,
    pub name: Option<String>,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(String),
    Punct(char),
    Spread,
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' | '}' | '(' | ')' | '[' | ']' | ':' | '$' | '!' | '=' | '@' | '|' | '&' => {
                out.push(Tok::Punct(c));
                i += 1;
            }
            '.' => {
                if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                    out.push(Tok::Spread);
                    i += 3;
                } else {
                    return Err(format!("unexpected '.' at {i}"));
                }
            }
            '"' => {
                if chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"') {
                    // Block string: raw up to the closing triple quote.
                    let start = i + 3;
                    let mut j = start;
                    while j + 2 < chars.len()
                        && !(chars[j] == '"' && chars[j + 1] == '"' && chars[j + 2] == '"')
                    {
                        j += 1;
                    }
                    if j + 2 >= chars.len() {
                        return Err("unterminated block string".into());
                    }
                    out.push(Tok::Str(chars[start..j].iter().collect()));
                    i = j + 3;
                    continue;
                }
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err("unterminated string".into());
                    };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = chars.get(i) else {
                                return Err("unterminated string".into());
                            };
                            i += 1;
                            match e {
                                'n' => s.push('\n'),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                'b' => s.push('\u{8}'),
                                'f' => s.push('\u{c}'),
                                'u' => {
                                    let hex: String = chars.iter().skip(i).take(4).collect();
                                    let code = u32::from_str_radix(&hex, 16)
                                        .map_err(|_| format!("bad escape \\u{hex}"))?;
                                    s.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                                    i += 4;
                                }
                                other => s.push(other),
                            }
                        }
                        '\n' => return Err("line break in a string".into()),
                        other => s.push(other),
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-'))
                {
                    i += 1;
                }
                out.push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                out.push(Tok::Name(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    vars: &'a Map<String, Value>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(p)) if p == c => Ok(()),
            other => Err(format!(
                "expected '{c}', found {}",
                describe(other.as_ref())
            )),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Name(n)) => Ok(n),
            other => Err(format!(
                "expected a name, found {}",
                describe(other.as_ref())
            )),
        }
    }

    fn document(&mut self) -> Result<Vec<Operation>, String> {
        let mut ops = Vec::new();
        while self.peek().is_some() {
            ops.push(self.operation()?);
        }
        if ops.is_empty() {
            return Err("the document has no operation".into());
        }
        Ok(ops)
    }

    fn operation(&mut self) -> Result<Operation, String> {
        if self.is_punct('{') {
            return Ok(Operation {
                kind: OperationKind::Query,
                name: None,
                fields: self.selection_set()?,
            });
        }
        let kind = match self.name()?.as_str() {
            "query" => OperationKind::Query,
            "mutation" => OperationKind::Mutation,
            "fragment" => return Err("fragments are not supported".into()),
            other => return Err(format!("unsupported operation type {other:?}")),
        };
        let name = match self.peek() {
            Some(Tok::Name(_)) => Some(self.name()?),
            _ => None,
        };
        if self.is_punct('(') {
            self.variable_definitions()?;
        }
        if self.is_punct('@') {
            return Err("directives are not supported".into());
        }
        Ok(Operation {
            kind,
            name,
            fields: self.selection_set()?,
        })
    }

    /// `($a: Type!, $b: [Type] = default)`: read and skipped (values come from
    /// `variables`).
    fn variable_definitions(&mut self) -> Result<(), String> {
        self.expect('(')?;
        while !self.is_punct(')') {
            self.expect('$')?;
            self.name()?;
            self.expect(':')?;
            self.type_ref()?;
            if self.is_punct('=') {
                self.next();
                self.value()?;
            }
        }
        self.expect(')')
    }

    fn type_ref(&mut self) -> Result<(), String> {
        if self.is_punct('[') {
            self.next();
            self.type_ref()?;
            self.expect(']')?;
        } else {
            self.name()?;
        }
        if self.is_punct('!') {
            self.next();
        }
        Ok(())
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, String> {
        self.expect('{')?;
        let mut fields = Vec::new();
        while !self.is_punct('}') {
            match self.peek() {
                Some(Tok::Spread) => return Err("fragments are not supported".into()),
                None => return Err("unterminated selection set".into()),
                _ => fields.push(self.field()?),
            }
        }
        self.expect('}')?;
        if fields.is_empty() {
            return Err("an empty selection set".into());
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<Field, String> {
        let first = self.name()?;
        let (alias, name) = if self.is_punct(':') {
            self.next();
            (Some(first), self.name()?)
        } else {
            (None, first)
        };
        let mut args = Map::new();
        if self.is_punct('(') {
            self.next();
            while !self.is_punct(')') {
                let k = self.name()?;
                self.expect(':')?;
                let v = self.value()?;
                args.insert(k, v);
            }
            self.expect(')')?;
        }
        if self.is_punct('@') {
            return Err("directives are not supported".into());
        }
        let selection = if self.is_punct('{') {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(Field {
            alias,
            name,
            args,
            selection,
        })
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Tok::Punct('$')) => {
                let n = self.name()?;
                Ok(self.vars.get(&n).cloned().unwrap_or(Value::Null))
            }
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => {
                if let Ok(i) = n.parse::<i64>() {
                    Ok(Value::from(i))
                } else {
                    n.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                        .ok_or_else(|| format!("bad number {n:?}"))
                }
            }
            Some(Tok::Name(n)) => Ok(match n.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                // Enum values travel as their names.
                _ => Value::String(n),
            }),
            Some(Tok::Punct('[')) => {
                let mut list = Vec::new();
                while !self.is_punct(']') {
                    if self.peek().is_none() {
                        return Err("unterminated list".into());
                    }
                    list.push(self.value()?);
                }
                self.expect(']')?;
                Ok(Value::Array(list))
            }
            Some(Tok::Punct('{')) => {
                let mut obj = Map::new();
                while !self.is_punct('}') {
                    if self.peek().is_none() {
                        return Err("unterminated object".into());
                    }
                    let k = self.name()?;
                    self.expect(':')?;
                    obj.insert(k, self.value()?);
                }
                self.expect('}')?;
                Ok(Value::Object(obj))
            }
            other => Err(format!(
                "expected a value, found {}",
                describe(other.as_ref())
            )),
        }
    }
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "the end of the document".into(),
        Some(Tok::Name(n)) => format!("{n:?}"),
        Some(Tok::Str(s)) => format!("string {s:?}"),
        Some(Tok::Num(n)) => format!("number {n}"),
        Some(Tok::Punct(c)) => format!("'{c}'"),
        Some(Tok::Spread) => "'...'".into(),
    }
}

/// Parses `query` and picks the operation to run: the one named `operation_name`, or
/// the only one.
pub fn parse(
    query: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Value>,
) -> Result<Operation, String> {
    let mut p = Parser {
        toks: tokenize(query)?,
        pos: 0,
        vars: variables,
    };
    let mut ops = p.document()?;
    match operation_name {
        Some(n) => ops
            .into_iter()
            .find(|o| o.name.as_deref() == Some(n))
            .ok_or_else(|| format!("unknown operation named {n:?}")),
        None if ops.len() == 1 => Ok(ops.remove(0)),
        None => Err("several operations and no operationName".into()),
    }
}

/// Fields whose GraphQL type is the `JSON` scalar: answered whole, never sub-selected.
pub const JSON_SCALARS: &[&str] = &[
    "client",
    "site",
    "requester",
    "technician",
    "techGroup",
    "sla",
    "customFields",
    "primaryContact",
    "secondaryContact",
    "accountManager",
    "hqSite",
    "technicianGroups",
    "assetClass",
    "deviceCategory",
    "role",
    "groups",
    "team",
    "designation",
    "reportingManager",
    "user",
    "addedBy",
    "workItem",
    "serviceItem",
    "additionalRequester",
    "followers",
    "condition",
];

/// Shapes `value` (a record of type `type_name` with every field present) by the
/// selection set.
pub fn project(value: &Value, selection: &[Field], type_name: &str) -> Result<Value, String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| project(v, selection, type_name))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Null => Ok(Value::Null),
        Value::Object(obj) => {
            if selection.is_empty() {
                return Err(format!(
                    "a field of type {type_name} must have a selection of subfields"
                ));
            }
            let mut out = Map::new();
            for f in selection {
                let Some(v) = obj.get(&f.name) else {
                    return Err(format!(
                        "Field '{}' in type '{type_name}' is undefined",
                        f.name
                    ));
                };
                let shaped = if JSON_SCALARS.contains(&f.name.as_str()) {
                    if !f.selection.is_empty() {
                        return Err(format!(
                            "Sub selection not allowed on leaf type JSON of field {}",
                            f.name
                        ));
                    }
                    v.clone()
                } else {
                    shape_field(v, f)?
                };
                out.insert(f.key().to_string(), shaped);
            }
            Ok(Value::Object(out))
        }
        scalar => Ok(scalar.clone()),
    }
}

/// A field's value by its own selection: objects (and lists of them) need one,
/// scalars (and lists of them) take none; `null` answers either way.
fn shape_field(v: &Value, f: &Field) -> Result<Value, String> {
    let leaf = |v: &Value| !matches!(v, Value::Object(_) | Value::Null);
    match v {
        Value::Null => Ok(Value::Null),
        Value::Object(_) => project(v, &f.selection, &f.name),
        Value::Array(items) if f.selection.is_empty() => {
            if items.iter().any(Value::is_object) {
                return Err(format!(
                    "a field of type {} must have a selection of subfields",
                    f.name
                ));
            }
            Ok(v.clone())
        }
        Value::Array(items) => {
            if items.iter().any(leaf) {
                return Err(format!(
                    "Sub selection not allowed on leaf type of field {}",
                    f.name
                ));
            }
            project(v, &f.selection, &f.name)
        }
        _ if f.selection.is_empty() => Ok(v.clone()),
        _ => Err(format!(
            "Sub selection not allowed on leaf type of field {}",
            f.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn operations_with_aliases_arguments_and_variables() {
        let doc = r#"
            # the ticket and its parts in one request
            query ticketDetail($id: ID!, $li: ListInfoInput) {
              t: getTicket(input: {ticketId: $id}) { ticketId status client }
              getWorklogEntries(input: {module: TICKET, listInfo: $li}) {
                entries { itemId qty }
                listInfo { hasMore }
              }
            }"#;
        let op = parse(
            doc,
            None,
            &vars(json!({"id": "77", "li": {"page": 1, "pageSize": 100}})),
        )
        .unwrap();
        assert_eq!(op.kind, OperationKind::Query);
        assert_eq!(op.name.as_deref(), Some("ticketDetail"));
        assert_eq!(op.fields.len(), 2);
        assert_eq!(op.fields[0].key(), "t");
        assert_eq!(op.fields[0].name, "getTicket");
        assert_eq!(op.fields[0].args["input"], json!({"ticketId": "77"}));
        assert_eq!(
            op.fields[1].args["input"],
            json!({"module": "TICKET", "listInfo": {"page": 1, "pageSize": 100}})
        );
        assert_eq!(op.fields[1].selection[0].selection.len(), 2);

        let m = parse(
            "mutation { updateClient(input: {accountId: \"1\", customFields: {udf1text: \"a\\\"b\"}, n: -2.5, l: [1, 2]}) { accountId } }",
            None,
            &Map::new(),
        )
        .unwrap();
        assert_eq!(m.kind, OperationKind::Mutation);
        assert_eq!(
            m.fields[0].args["input"],
            json!({"accountId": "1", "customFields": {"udf1text": "a\"b"}, "n": -2.5, "l": [1, 2]})
        );
    }

    #[test]
    fn bad_documents_are_refused() {
        for doc in [
            "",
            "query { }",
            "query { a(",
            "{ a { ...F } }",
            "subscription { a }",
            "{ a \"x }",
        ] {
            assert!(parse(doc, None, &Map::new()).is_err(), "{doc:?}");
        }
        assert!(parse("query A { a } query B { b }", None, &Map::new()).is_err());
        let b = parse("query A { a } query B { b }", Some("B"), &Map::new()).unwrap();
        assert_eq!(b.fields[0].name, "b");
    }

    #[test]
    fn projection_follows_the_selection_and_the_schema_rules() {
        let record = json!({
            "ticketId": "1", "status": "Open",
            "client": {"accountId": "9", "name": "Alder"},
            "listInfo": {"page": 1, "hasMore": null}
        });
        let op = parse(
            "{ x { id: ticketId client listInfo { hasMore } } }",
            None,
            &Map::new(),
        )
        .unwrap();
        let got = project(&record, &op.fields[0].selection, "Ticket").unwrap();
        assert_eq!(
            got,
            json!({"id": "1", "client": {"accountId": "9", "name": "Alder"}, "listInfo": {"hasMore": null}})
        );
        let bad = |q: &str| {
            let op = parse(q, None, &Map::new()).unwrap();
            project(&record, &op.fields[0].selection, "Ticket").unwrap_err()
        };
        assert!(bad("{ x { nope } }").contains("undefined"));
        assert!(bad("{ x { client { name } } }").contains("JSON"));
        assert!(bad("{ x { listInfo } }").contains("selection of subfields"));
        assert!(bad("{ x { status { a } } }").contains("Sub selection"));
    }
}
