//! Scenario results as JUnit XML (one `<testsuite>` of `<testcase>`s, written by
//! `crate::junit`), the format CI systems show test results from.

use crate::junit::{Case, Failure, Suite};

use super::ScenarioResult;

/// `results` of the hook project `suite` as a JUnit XML document.
pub fn render(suite: &str, results: &[ScenarioResult]) -> String {
    let cases = results
        .iter()
        .map(|r| Case {
            classname: suite.into(),
            name: r.name.clone(),
            time: Some(r.wall),
            failure: (!r.passed()).then(|| Failure {
                kind: "scenario".into(),
                message: r.failures[0].lines().next().unwrap_or_default().into(),
                text: r.failures.join("\n"),
            }),
            ..Case::default()
        })
        .collect();
    let suite = Suite {
        name: suite.into(),
        time: results.iter().map(|r| r.wall).sum(),
        timestamp: None,
        cases,
    };
    crate::junit::render("kubes hooks test", &[suite])
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
        assert!(x.contains("<failure type=\"scenario\""), "{x}");
        assert!(
            x.contains("message=\"line &quot;&lt;x&gt;&quot; missing\\x1b[2K\""),
            "{x}"
        );
        assert!(!x.contains('\u{1b}'));
    }
}
