//! Writes compiled objects as YAML that every reader takes the same way.
//!
//! The output is applied by kubes (as JSON) and, the Kubes way, by `kubectl apply -f`, whose
//! YAML reader follows YAML 1.1: there `on`, `yes`, `n` are booleans and `2001-12-14` a
//! timestamp. A string is therefore written plain only when no YAML version could read it as
//! anything but that string; otherwise it is double-quoted (JSON escapes are valid YAML).
//! Multi-line strings become literal blocks. Layout is the usual Kubernetes style: block
//! mappings indented by two, sequence dashes at their key's indentation.

use crate::yaml::{self, Value};

/// One document (no `---` marker), ending in a newline.
pub fn document(doc: &Value) -> String {
    let mut out = String::with_capacity(512);
    match doc {
        Value::Mapping(m) if !m.is_empty() => mapping(m, 0, false, &mut out),
        Value::Sequence(s) if !s.is_empty() => sequence(s, 0, false, &mut out),
        other => {
            scalar_inline(other, &mut out);
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// `first_inline`: the first key continues a `- ` already written.
fn mapping(m: &yaml::Mapping, indent: usize, first_inline: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if !(i == 0 && first_inline) {
            pad(out, indent);
        }
        key(k, out);
        out.push(':');
        value_after(v, indent, indent + 2, out);
    }
}

fn sequence(s: &[Value], indent: usize, first_inline: bool, out: &mut String) {
    for (i, item) in s.iter().enumerate() {
        if !(i == 0 && first_inline) {
            pad(out, indent);
        }
        out.push('-');
        match item {
            Value::Mapping(m) if !m.is_empty() => {
                out.push(' ');
                mapping(m, indent + 2, true, out);
            }
            Value::Sequence(s) if !s.is_empty() => {
                out.push(' ');
                sequence(s, indent + 2, true, out);
            }
            other => value_after(other, indent, indent + 2, out),
        }
    }
}

/// The value after `key:` or `-`: nested blocks go on the next lines, scalars stay inline.
/// `seq_indent` is where a nested sequence's dashes go (the key's own indentation).
fn value_after(v: &Value, seq_indent: usize, child_indent: usize, out: &mut String) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            mapping(m, child_indent, false, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            sequence(s, seq_indent, false, out);
        }
        Value::Tagged(t) => value_after(&t.value, seq_indent, child_indent, out),
        Value::String(s) if is_block_candidate(s) => {
            literal_block(s, child_indent, out);
        }
        other => {
            out.push(' ');
            scalar_inline(other, out);
            out.push('\n');
        }
    }
}

fn key(k: &Value, out: &mut String) {
    match k {
        Value::String(s) => string_inline(s, out),
        other => scalar_inline(other, out),
    }
}

fn scalar_inline(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                if f.is_nan() {
                    out.push_str(".nan");
                } else if f.is_infinite() {
                    out.push_str(if f > 0.0 { ".inf" } else { "-.inf" });
                } else {
                    out.push_str(&n.to_string());
                }
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => string_inline(s, out),
        Value::Mapping(_) => out.push_str("{}"),
        Value::Sequence(_) => out.push_str("[]"),
        Value::Tagged(t) => scalar_inline(&t.value, out),
    }
}

fn string_inline(s: &str, out: &mut String) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        out.push_str(&serde_json::to_string(s).expect("strings serialize"));
    }
}

/// Multi-line text that reads back exactly from a literal block.
fn is_block_candidate(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && !s
            .chars()
            .any(|c| c == '\r' || (c.is_control() && c != '\n' && c != '\t'))
}

fn literal_block(s: &str, indent: usize, out: &mut String) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push_str(match trailing {
        0 => " |-\n",
        1 => " |\n",
        _ => " |+\n",
    });
    for line in body.split('\n') {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    // `|+` keeps every trailing newline: the ones after the first become empty lines.
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// Words some YAML version reads as null, booleans or special floats.
const SPECIAL_WORDS: &[&str] = &[
    "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", "+.inf",
    ".nan", "=", "<<",
];

/// Could this string be written without quotes and read back as the same string by a
/// YAML 1.1 or 1.2 reader? Conservative: when in doubt, quote.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.ends_with([' ', ':']) || s.contains(": ") || s.contains(" #") {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _./:@=,+-()".contains(c))
    {
        return false;
    }
    if SPECIAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        return false;
    }
    if first.is_ascii_alphabetic() || first == '/' || first == '_' {
        return true;
    }
    // Starts like a number, date or time: plain only if some character rules all of those
    // out (e.g. `512Mi`, `12h`), never for `1.5`, `0x1F`, `1e3`, `2001-12-14`, `1:30`.
    first.is_ascii_digit()
        && s.chars()
            .any(|c| c.is_ascii_alphabetic() && !"eEoObBxXaAcCdDfF".contains(c))
        && !s.contains(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> String {
        let v: Value = yaml::from_str(text).unwrap();
        let out = document(&v);
        let back: Value = yaml::from_str(&out).unwrap();
        assert_eq!(back, v, "round trip of:\n{out}");
        out
    }

    #[test]
    fn kubernetes_layout() {
        let out = roundtrip(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: {}\nspec:\n  containers:\n  - name: a\n    command: [sh, -c]\n    ports:\n    - containerPort: 80\n  volumes: []\n",
        );
        assert_eq!(
            out,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: {}\nspec:\n  containers:\n  - name: a\n    command:\n    - sh\n    - \"-c\"\n    ports:\n    - containerPort: 80\n  volumes: []\n"
        );
    }

    #[test]
    fn yaml_1_1_lookalikes_are_quoted() {
        let out = roundtrip(
            "a: 'on'\nb: 'yes'\nc: 'n'\nd: '2001-12-14'\ne: '1:30'\nf: '0x1F'\ng: '1e3'\nh: '1.27'\ni: ''\nj: 'null'\nk: 'Off'\n",
        );
        for line in out.lines() {
            assert!(line.contains('"'), "unquoted: {line}");
        }
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        let out = roundtrip(
            "image: demo/web:1\nmem: 512Mi\nt: 12h\ncmd: bin/job/migrate.sh\nhost: a.b-c.example\n",
        );
        assert!(!out.contains('"'), "{out}");
    }

    #[test]
    fn multi_line_strings_are_literal_blocks_with_exact_newlines() {
        let out =
            roundtrip("a: \"x\\ny\\n\"\nb: \"x\\n\\ny\"\nc: \"x\\ny\\n\\n\"\nd: \" lead\\ny\"\n");
        assert!(out.contains("a: |\n  x\n  y\n"), "{out}");
        assert!(out.contains("b: |-\n  x\n\n  y\n"), "{out}");
        assert!(out.contains("c: |+\n"), "{out}");
        assert!(out.contains("d: \" lead\\ny\""), "{out}");
    }

    #[test]
    fn awkward_strings_round_trip() {
        let cases = [
            "a\n  ",
            "a\n\n",
            "\n",
            " x\ny",
            "x\n y",
            "a\tb\nc",
            "#x\ny",
            "- x\ny",
            "key: v\nz",
            "a\r\nb",
            "",
            " ",
            "a #b",
            "a: b",
            "*ref",
            "&anchor",
            "!tag",
            "%dir",
            "@at",
            "`tick",
            "{x}",
            "[x]",
            "'q'",
            "\"dq\"",
            "x,y",
            "?q",
            "|",
            ">",
            "-",
            "--- x",
            "...",
            "é ünïcödé",
            "tab\there",
            "\u{1}ctl",
            "0",
            "-1",
            "+1",
            "0o17",
            "0b11",
            "1_000",
            ".5",
            "1e-3",
            "12:30:45",
            "2026-01-01T00:00:00Z",
            "NULL",
            "True",
            "Yes",
            "ON",
            "~",
            "<<",
            "=",
        ];
        for c in cases {
            let mut m = yaml::Mapping::new();
            m.insert(Value::from(c), Value::from(c));
            m.insert(Value::from("list"), Value::Sequence(vec![Value::from(c)]));
            let v = Value::Mapping(m);
            let out = document(&v);
            let back: Value = yaml::from_str(&out).unwrap_or_else(|e| panic!("{c:?}: {e}\n{out}"));
            assert_eq!(back, v, "{c:?} did not round trip:\n{out}");
        }
    }

    #[test]
    fn nested_sequences_and_scalars_round_trip() {
        roundtrip("a:\n- - 1\n  - 2\n- - x: 1\n    y: [true, null, 1.5, -3]\n- \"multi\\nline\\n\"\nb: .inf\n");
    }
}
