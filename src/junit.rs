//! JUnit XML, the test report format CI systems read (Jenkins' junit-10.xsd; the tests
//! validate against it): the one writer behind every `--junit FILE`, of a deploy
//! (`reporter::junit`) and of `kubes hooks test` (`hooks::testing`).
//!
//! Names, messages and output may come from hooks, so all text is hostile: control
//! characters are written as `\xNN` (bidi overrides as `\u{..}`) before XML escaping, and the
//! document is always well-formed.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// A `<testsuite>`.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub time: Duration,
    pub timestamp: Option<SystemTime>,
    pub cases: Vec<Case>,
}

/// A `<testcase>`: passed, failed (`failure`) or skipped (`skipped`, with why).
#[derive(Debug, Clone, Default)]
pub struct Case {
    pub classname: String,
    pub name: String,
    pub time: Option<Duration>,
    pub failure: Option<Failure>,
    pub skipped: Option<String>,
    /// `<system-out>`: what the case printed.
    pub out: String,
}

/// A `<failure>`: its type, its one-line message, and the whole text.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: String,
    pub message: String,
    pub text: String,
}

impl Failure {
    /// A failure whose message is `text` (line breaks and all).
    pub fn new(kind: &str, text: String) -> Failure {
        Failure {
            kind: kind.into(),
            message: text.clone(),
            text,
        }
    }
}

/// `suites` as one JUnit XML document (`<testsuites name="NAME">`).
pub fn render(name: &str, suites: &[Suite]) -> String {
    let count = |f: fn(&Case) -> bool| -> usize {
        suites
            .iter()
            .map(|s| s.cases.iter().filter(|c| f(c)).count())
            .sum()
    };
    let tests = count(|_| true);
    let failures = count(|c| c.failure.is_some());
    let time: Duration = suites.iter().map(|s| s.time).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{}\">",
        attr(name),
        secs(time)
    );
    for suite in suites {
        let failures = suite.cases.iter().filter(|c| c.failure.is_some()).count();
        let skipped = suite.cases.iter().filter(|c| c.skipped.is_some()).count();
        let _ = write!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\"",
            attr(&suite.name),
            suite.cases.len(),
            secs(suite.time)
        );
        if let Some(t) = suite.timestamp {
            let _ = write!(x, " timestamp=\"{}\"", humantime::format_rfc3339_seconds(t));
        }
        x.push_str(">\n");
        for c in &suite.cases {
            case(&mut x, c);
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

fn case(x: &mut String, c: &Case) {
    let _ = write!(
        x,
        "    <testcase classname=\"{}\" name=\"{}\"",
        attr(&c.classname),
        attr(&c.name)
    );
    if let Some(t) = c.time {
        let _ = write!(x, " time=\"{}\"", secs(t));
    }
    if c.failure.is_none() && c.skipped.is_none() && c.out.is_empty() {
        x.push_str("/>\n");
        return;
    }
    x.push_str(">\n");
    if let Some(f) = &c.failure {
        let _ = writeln!(
            x,
            "      <failure type=\"{}\" message=\"{}\">{}</failure>",
            attr(&f.kind),
            attr(&f.message),
            text(&f.text)
        );
    }
    if let Some(why) = &c.skipped {
        let _ = writeln!(x, "      <skipped message=\"{}\"/>", attr(why));
    }
    if !c.out.is_empty() {
        let _ = writeln!(x, "      <system-out>{}</system-out>", text(&c.out));
    }
    x.push_str("    </testcase>\n");
}

/// Seconds with millisecond precision (`1.234`), the form the schema's time pattern takes.
fn secs(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// Element text: line breaks kept.
fn text(s: &str) -> String {
    s.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// An attribute value: line breaks as character references.
fn attr(s: &str) -> String {
    s.split('\n').map(escape).collect::<Vec<_>>().join("&#10;")
}

/// One line, made inert and XML-safe: controls (tab aside) as `\xNN`, bidi overrides and
/// the noncharacters XML 1.0 cannot hold as `\u{..}`, then the five special characters.
fn escape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push(c),
            c if c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{fffe}' | '\u{ffff}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_stays_well_formed_and_counts_add_up() {
        let hostile = "bad <b>\"quote\" & \u{1b}[31mred\u{7}\nsecond line\r\0\u{202e}\u{ffff}";
        let suites = [
            Suite {
                name: "one".into(),
                time: Duration::from_millis(1500),
                timestamp: None,
                cases: vec![
                    Case {
                        name: "ok".into(),
                        classname: "c".into(),
                        time: Some(Duration::from_millis(120)),
                        ..Case::default()
                    },
                    Case {
                        name: hostile.into(),
                        failure: Some(Failure::new("hook", hostile.into())),
                        ..Case::default()
                    },
                ],
            },
            Suite {
                name: "two".into(),
                time: Duration::from_millis(500),
                timestamp: Some(SystemTime::UNIX_EPOCH),
                cases: vec![Case {
                    name: "s".into(),
                    skipped: Some("not attempted".into()),
                    out: "line 1\nline\u{1b} 2".into(),
                    ..Case::default()
                }],
            },
        ];
        let xml = render("kubes", &suites);
        assert!(
            !xml.chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{xml:?}"
        );
        assert!(xml.contains("<testsuites name=\"kubes\" tests=\"3\" failures=\"1\" errors=\"0\" time=\"2.000\">"), "{xml}");
        assert!(xml.contains("<testsuite name=\"one\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"1.500\">"), "{xml}");
        assert!(
            xml.contains("skipped=\"1\" time=\"0.500\" timestamp=\"1970-01-01T00:00:00Z\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"c\" name=\"ok\" time=\"0.120\"/>"),
            "{xml}"
        );
        assert!(xml.contains("message=\"bad &lt;b&gt;&quot;quote&quot; &amp; \\x1b[31mred\\x07&#10;second line\\x0d\\x00\\u{202e}\\u{ffff}\""), "{xml}");
        assert!(
            xml.contains(">bad &lt;b&gt;&quot;quote&quot; &amp; \\x1b[31mred\\x07\nsecond line"),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"not attempted\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<system-out>line 1\nline\\x1b 2</system-out>"),
            "{xml}"
        );
    }
}
