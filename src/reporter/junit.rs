//! `--junit FILE`: a run as a JUnit XML report for CI systems, one test case per file
//! applied (deleted, pruned) and per hook run, in the order they ended; the file or hook
//! that stopped the run fails with its message, files not attempted are skipped. Written
//! by `crate::junit`, which makes hostile hook text inert.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::cluster::report::{FileReport, Report};
use crate::junit::{Case, Failure, Suite};
use crate::lifecycle::Step;

/// The cases of a run as they end, written out with the run's report.
#[derive(Debug)]
pub struct JunitLog {
    path: PathBuf,
    started: Instant,
    timestamp: SystemTime,
    cases: Vec<Case>,
}

impl JunitLog {
    pub fn new(path: PathBuf) -> JunitLog {
        JunitLog {
            path,
            started: Instant::now(),
            timestamp: SystemTime::now(),
            cases: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file_done(&mut self, step: Step, file: &FileReport) {
        let out: Vec<String> = file.objects.iter().map(|o| o.line()).collect();
        self.cases.push(Case {
            classname: format!("kubes.{step}"),
            name: file.file.display().to_string(),
            out: out.join("\n"),
            ..Case::default()
        });
    }

    pub fn hook_ended(&mut self, hook: &str, at: &str, elapsed: Duration, failure: Option<&str>) {
        self.cases.push(Case {
            classname: "kubes.hook".into(),
            name: format!("{hook} ({at})"),
            time: Some(elapsed),
            failure: failure
                .map(|f| Failure::new("hook", format!("hook {hook} failed at {at}: {f}"))),
            ..Case::default()
        });
    }

    /// The report as XML, with what the run's report adds: the failure that stopped it
    /// (on its file's case, or a case of its own when no file or hook case carries it) and
    /// the files not attempted.
    pub fn to_xml(&self, report: &Report) -> String {
        let mut cases = self.cases.clone();
        let step = report.step;
        if let Some(f) = &report.failure {
            let hook_case = f.hook.is_some() && cases.iter().any(|c| c.failure.is_some());
            if !hook_case {
                let failure = Failure::new(&f.kind, f.to_string());
                let file = f.file.as_ref().map(|p| p.display().to_string());
                match file
                    .as_ref()
                    .and_then(|name| cases.iter_mut().find(|c| c.name == *name))
                {
                    Some(c) => c.failure = Some(failure),
                    None => cases.push(Case {
                        classname: format!("kubes.{step}"),
                        name: file.unwrap_or_else(|| format!("{step} ({})", f.kind)),
                        failure: Some(failure),
                        ..Case::default()
                    }),
                }
            }
        }
        for p in &report.not_attempted {
            cases.push(Case {
                classname: format!("kubes.{step}"),
                name: p.display().to_string(),
                skipped: Some("not attempted: the run stopped before it".into()),
                ..Case::default()
            });
        }
        let suite = Suite {
            name: format!(
                "kubes {step}{}",
                if report.dry_run { " (dry run)" } else { "" }
            ),
            time: self.started.elapsed(),
            timestamp: Some(self.timestamp),
            cases,
        };
        crate::junit::render("kubes", &[suite])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::report::Failure;

    #[test]
    fn hostile_text_stays_well_formed() {
        let mut log = JunitLog::new("x.xml".into());
        log.hook_ended(
            "h",
            "after apply",
            Duration::from_millis(1500),
            Some("bad <b>\"quote\" & \u{1b}[31mred\u{7}\nsecond line\r\0"),
        );
        let mut report = Report::new(Step::Apply, false);
        report.fail(Failure {
            file: None,
            object: None,
            hook: Some("h".into()),
            kind: "hook".into(),
            message: "hook h failed".into(),
        });
        report
            .not_attempted
            .push(".kubes/output/web/service.yaml".into());
        let xml = log.to_xml(&report);
        assert!(!xml.chars().any(|c| c.is_control() && c != '\n'), "{xml:?}");
        assert!(xml.contains("message=\"hook h failed at after apply: bad &lt;b&gt;&quot;quote&quot; &amp; \\x1b[31mred\\x07&#10;second line\\x0d\\x00\""), "{xml}");
        assert!(xml.contains("time=\"1.500\""), "{xml}");
        assert!(xml.contains("<skipped message=\"not attempted"), "{xml}");
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    }
}
