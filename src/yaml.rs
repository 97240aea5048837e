//! YAML, through one door: every other module reads and writes YAML with these functions
//! and types, and only this file names `serde_yaml`, so the library can be swapped here.
//!
//! Errors carry the line and column apart from the message: serde_yaml writes
//! " at line X column Y" into its message text, and callers print the location up front
//! (`file:line:column: message`), so it is cut out here, once. A leaf: imports nothing of
//! the crate.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use serde_yaml::{Mapping, Number, Value};

/// A YAML error: what went wrong, and where when that is known (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The message without the location phrase.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_yaml::Error> for Error {
    fn from(e: serde_yaml::Error) -> Error {
        let loc = e.location();
        Error {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message: strip_location(&e.to_string()),
        }
    }
}

impl Error {
    /// For a schema error about a key the type does not have: the key, with the path of
    /// the mapping it is in (`order.kinds_x`, `colour`).
    pub fn unknown_field(&self) -> Option<String> {
        let start = self.message.find("unknown field `")?;
        let rest = &self.message[start + "unknown field `".len()..];
        let key = rest.split('`').next().unwrap_or_default();
        // serde_yaml prefixes nested errors with their path, e.g. "order: unknown field ..."
        let prefix = self.message[..start].trim_end_matches(": ").trim();
        Some(if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        })
    }
}

/// Parse one YAML document into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    Ok(serde_yaml::from_str(text)?)
}

/// Every document of a multi-document stream (`---`-separated), in order; null (empty)
/// documents included.
pub fn documents(text: &str) -> impl Iterator<Item = Result<Value, Error>> + '_ {
    serde_yaml::Deserializer::from_str(text).map(|de| Ok(Value::deserialize(de)?))
}

/// `v` as YAML text.
pub fn to_string<T: Serialize + ?Sized>(v: &T) -> Result<String, Error> {
    Ok(serde_yaml::to_string(v)?)
}

/// How a value is described in messages: `a mapping`, `a list`, `nothing`.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Drop YAML tags (`!foo x` -> `x`), at every depth.
pub fn untag(v: Value) -> Value {
    match v {
        Value::Tagged(t) => untag(t.value),
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(untag).collect()),
        Value::Mapping(m) => {
            Value::Mapping(m.into_iter().map(|(k, v)| (untag(k), untag(v))).collect())
        }
        other => other,
    }
}

/// serde_yaml puts " at line X column Y" into its messages; the location is printed up
/// front instead, so the phrase is cut out wherever it is.
fn strip_location(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else {
        return msg.to_string();
    };
    let rest = &msg[i + " at line ".len()..];
    let digits = |s: &str| s.chars().take_while(|c| c.is_ascii_digit()).count();
    let n = digits(rest);
    let Some(after) = rest[n..].strip_prefix(" column ") else {
        return msg.to_string();
    };
    let m = digits(after);
    if n == 0 || m == 0 {
        return msg.to_string();
    }
    format!("{}{}", &msg[..i], &after[m..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_cut_out_of_messages() {
        assert_eq!(
            strip_location("bad at line 5 column 1, while parsing"),
            "bad, while parsing"
        );
        assert_eq!(strip_location("bad at line 5 column 1"), "bad");
        assert_eq!(strip_location("at line x"), "at line x");
    }

    #[test]
    fn errors_keep_line_and_column_apart() {
        let e = from_str::<Value>("a: [\n").unwrap_err();
        assert!(e.line.is_some() && e.column.is_some(), "{e:?}");
        assert!(!e.message.contains(" at line "), "{e:?}");
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            roles: Option<Vec<String>>,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Outer {
            order: Option<Inner>,
        }
        let e = from_str::<Outer>("colour: red\n").unwrap_err();
        assert_eq!(e.unknown_field().as_deref(), Some("colour"));
        let e = from_str::<Outer>("order:\n  rolez: [a]\n").unwrap_err();
        assert_eq!(e.unknown_field().as_deref(), Some("order.rolez"));
        assert_eq!(from_str::<Value>("a: [").unwrap_err().unknown_field(), None);
    }
}
