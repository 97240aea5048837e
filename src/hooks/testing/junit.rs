//! Scenario results as JUnit XML (one `<testsuite>` of `<testcase>`s), the format CI
//! systems show test results from.

use std::fmt::Write as _;

use super::ScenarioResult;

/// `results` of the hook project `suite` as a JUnit XML document.
pub fn render(suite: &str, results: &[ScenarioResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed()).count();
    let total: f64 = results.iter().map(|r| r.wall.as_secs_f64()).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.3}\">",
        esc(suite),
        results.len()
    );
    for r in results {
        let _ = write!(
            x,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            esc(suite),
            esc(&r.name),
            r.wall.as_secs_f64()
        );
        if r.passed() {
            x.push_str("/>\n");
            continue;
        }
        let _ = writeln!(
            x,
            ">\n    <failure message=\"{}\">{}</failure>\n  </testcase>",
            esc(r.failures[0].lines().next().unwrap_or_default()),
            esc(&r.failures.join("\n"))
        );
    }
    x.push_str("</testsuite>\n");
    x
}

/// Text made safe for XML: the five special characters escaped, and characters XML 1.0
/// cannot hold at all (most C0 controls) written as `\xNN` (hook output is hostile).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(name: &str, failures: &[&str]) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            file: "t.scenario.yaml".into(),
            failures: failures.iter().map(|s| s.to_string()).collect(),
            wall: Duration::from_millis(120),
            simulated: Duration::from_secs(300),
            output: vec![],
            outcome: Ok(()),
        }
    }

    #[test]
    fn failures_are_reported_and_hostile_text_is_escaped() {
        let x = render(
            "migrate-wait",
            &[
                result("ok", &[]),
                result("bad", &["line \"<x>\" missing\u{1b}[2K\nmore"]),
            ],
        );
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(
            x.contains("<testcase classname=\"migrate-wait\" name=\"ok\" time=\"0.120\"/>"),
            "{x}"
        );
        assert!(
            x.contains("message=\"line &quot;&lt;x&gt;&quot; missing\\x1b[2K\""),
            "{x}"
        );
        assert!(!x.contains('\u{1b}'));
    }
}
