//! The one reporter: everything kubes shows goes through a [`Reporter`], which owns stdout
//! and stderr and renders each thing as text or as JSON lines (`--output json`).
//!
//! During a run (apply, delete, prune, `hooks run`) the cluster side speaks to it as its
//! [`Progress`] (files done, objects pruned), the hook engine as its [`HookReporter`] (hook
//! output, audit lines, "Running hook: ..." notices), and the session directly (warnings,
//! the final [`Report`]). Those two traits are declared where their callers live (`cluster`
//! and `hooks` never import this module); this is the one type that implements both. The
//! results of the other commands (compile, plan, diff, hooks list and inspect, init, new
//! hook) are rendered here too, in [`views`].
//!
//! Text: results and notices on stdout, errors, warnings, hooks' stderr and audit lines on
//! stderr; `-q` leaves errors only; on a terminal, a progress bar with the lines above it.
//! JSON lines: one JSON value per line on stdout, and the run also told as text on stderr. A run is a stream of events, each an
//! object with an `event` field (`start`, `file`, `pruned`, `hook-output`, `audit`, `note`,
//! `warning`, `hook-result`, and last `report`, the whole [`Report`]); a command with one
//! result prints that result as one line. Hook text is escaped ([`escape_controls`]) in
//! both renderings.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::cluster::report::{FileReport, ObjectResult, Progress, Report};
use crate::hooks::output::{
    escape_controls, format_audit, format_hook_line, HookReporter, OutputKind,
};
use crate::hooks::Denial;
use crate::lifecycle::Step;

pub mod junit;
pub mod registry_views;
pub mod views;

/// How things are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    JsonLines,
}

#[derive(Debug, Clone, Copy)]
pub struct ReporterOptions {
    pub format: Format,
    /// Text shows errors only (`-q`).
    pub quiet: bool,
    /// Hooks' debug messages and the retry count (`-v`).
    pub verbose: bool,
    /// Text on a terminal: a progress bar during a run, the lines above it.
    pub progress_bar: bool,
}

pub struct Reporter {
    options: ReporterOptions,
    /// Lines about objects say "(server dry run)".
    dry_run: AtomicBool,
    io: Mutex<Io>,
    /// `--junit FILE`: the run's cases, written with its summary.
    junit: Mutex<Option<junit::JunitLog>>,
    /// JSON lines on stdout: the same run told as text on stderr, for the person watching
    /// the CI log (results of other commands are JSON only).
    human: Option<Box<Reporter>>,
}

struct Io {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    bar: Option<indicatif::ProgressBar>,
}

/// One JSON line of a run: `{"event": NAME, ...body}`.
#[derive(Serialize)]
struct Event<'a, T: Serialize> {
    event: &'a str,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct Message<'a> {
    message: &'a str,
}

impl Reporter {
    /// A reporter writing to this process's stdout and stderr.
    pub fn new(options: ReporterOptions) -> Reporter {
        let mut reporter = Reporter::with_writers(
            options,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        );
        if options.format == Format::JsonLines {
            reporter.human = Some(Box::new(Reporter::with_writers(
                ReporterOptions {
                    format: Format::Text,
                    progress_bar: false,
                    ..options
                },
                Box::new(std::io::stderr()),
                Box::new(std::io::stderr()),
            )));
        }
        reporter
    }

    /// A reporter writing to `out` and `err` (no progress bar: that needs a terminal).
    pub fn with_writers(
        options: ReporterOptions,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
    ) -> Reporter {
        Reporter {
            options,
            dry_run: AtomicBool::new(false),
            io: Mutex::new(Io {
                out,
                err,
                bar: None,
            }),
            junit: Mutex::new(None),
            human: None,
        }
    }

    /// Also write the run as a JUnit XML report to `path` (`--junit FILE`), when its
    /// summary comes.
    pub fn junit_to(&self, path: std::path::PathBuf) {
        *self.junit() = Some(junit::JunitLog::new(path));
    }

    fn junit(&self) -> std::sync::MutexGuard<'_, Option<junit::JunitLog>> {
        self.junit.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn text(&self) -> bool {
        self.options.format == Format::Text
    }

    /// Whether what follows is a server-side dry run (said on every object line).
    pub fn set_dry_run(&self, dry_run: bool) {
        self.dry_run.store(dry_run, Ordering::Relaxed);
    }

    fn dry_run(&self) -> bool {
        self.dry_run.load(Ordering::Relaxed)
    }

    fn io(&self) -> std::sync::MutexGuard<'_, Io> {
        self.io.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A line (or lines) for stdout, above the progress bar if there is one.
    fn out_line(&self, text: &str) {
        let mut io = self.io();
        match &io.bar {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(io.out, "{text}");
            }
        }
    }

    /// Text for stderr as it is (with its own newlines), the progress bar held meanwhile.
    fn err_text(&self, text: &str) {
        let mut io = self.io();
        let Io { err, bar, .. } = &mut *io;
        match bar {
            Some(bar) => bar.suspend(|| {
                let _ = err.write_all(text.as_bytes());
            }),
            None => {
                let _ = err.write_all(text.as_bytes());
            }
        }
    }

    fn err_line(&self, text: &str) {
        self.err_text(&format!("{text}\n"));
    }

    /// One JSON value on one line of stdout.
    fn json_line(&self, value: &impl Serialize) {
        let text = serde_json::to_string(value)
            .unwrap_or_else(|e| format!("{{\"event\":\"error\",\"message\":\"{e}\"}}"));
        let mut io = self.io();
        let _ = writeln!(io.out, "{text}");
    }

    fn event(&self, event: &str, body: impl Serialize) {
        self.json_line(&Event { event, body });
    }

    /// Text written to stdout by `write` (text rendering only).
    fn with_out(&self, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
        let mut io = self.io();
        let _ = write(&mut *io.out);
        let _ = io.out.flush();
    }

    /// A notice from kubes itself (`Running hook: ...`).
    pub fn note(&self, line: &str) {
        if !self.text() {
            if let Some(h) = &self.human {
                h.note(line);
            }
            self.event("note", Message { message: line });
        } else if !self.options.quiet {
            self.out_line(line);
        }
    }

    /// Something the user should know that does not stop the run.
    pub fn warning(&self, message: &str) {
        if !self.text() {
            if let Some(h) = &self.human {
                h.warning(message);
            }
            self.event("warning", Message { message });
        } else if !self.options.quiet {
            self.err_line(&format!("warning: {message}"));
        }
    }

    /// The end of a run: what failed and what was and was not done (text, on stderr, only
    /// when it failed), or the whole report (JSON).
    pub fn summary(&self, report: &Report) {
        self.finish();
        let junit = self.junit().take();
        if let Some(log) = junit {
            if let Err(e) = std::fs::write(log.path(), log.to_xml(report)) {
                self.warning(&format!(
                    "writing the JUnit report {}: {e}",
                    log.path().display()
                ));
            }
        }
        if !self.text() {
            if let Some(h) = &self.human {
                h.summary(report);
            }
            self.event("report", report);
            return;
        }
        if self.options.verbose && report.retries > 0 {
            self.err_line(&format!(
                "{} requests retried (429, 5xx or connection errors)",
                report.retries
            ));
        }
        if let Some(fail) = &report.failure {
            if report.interrupted() {
                // `interrupted by SIGINT`: not an error of the run, but the summary follows.
                self.err_line(&fail.message);
            } else {
                self.err_line(&format!("error: {fail}"));
            }
            if !self.options.quiet {
                self.err_text(&report.failure_summary());
            }
        }
    }

    /// `kubes hooks run`: the hook succeeded.
    pub fn hook_succeeded(&self, hook: &str, elapsed: Duration) {
        if !self.text() {
            if let Some(h) = &self.human {
                h.hook_succeeded(hook, elapsed);
            }
            #[derive(Serialize)]
            struct Done<'a> {
                hook: &'a str,
                ok: bool,
                elapsed_ms: u128,
            }
            self.event(
                "hook-result",
                Done {
                    hook,
                    ok: true,
                    elapsed_ms: elapsed.as_millis(),
                },
            );
        } else if !self.options.quiet {
            self.out_line(&format!(
                "hook {hook} succeeded in {} ms",
                elapsed.as_millis()
            ));
        }
    }

    /// `kubes hooks run`: the hook failed at `at` (its point, `after apply on migrate/job`).
    pub fn hook_failed(&self, hook: &str, at: &str, failure: &str) {
        if !self.text() {
            if let Some(h) = &self.human {
                h.hook_failed(hook, at, failure);
            }
            #[derive(Serialize)]
            struct Failed<'a> {
                hook: &'a str,
                ok: bool,
                message: &'a str,
            }
            let message = format!("hook {hook} failed at {at}: {failure}");
            self.event(
                "hook-result",
                Failed {
                    hook,
                    ok: false,
                    message: &message,
                },
            );
        } else {
            self.err_line(&format!("hook {hook} failed at {at}: {failure}"));
        }
    }
}

impl Progress for Reporter {
    fn start(&self, step: Step, files: usize) {
        if !self.text() {
            #[derive(Serialize)]
            struct Start {
                step: Step,
                files: usize,
                dry_run: bool,
            }
            self.event(
                "start",
                Start {
                    step,
                    files,
                    dry_run: self.dry_run(),
                },
            );
            return;
        }
        if !self.options.progress_bar || self.options.quiet {
            return;
        }
        let bar = indicatif::ProgressBar::new(files as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} files")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(step.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.io().bar = Some(bar);
    }

    fn file_done(&self, step: Step, file: &FileReport) {
        if let Some(log) = self.junit().as_mut() {
            log.file_done(step, file);
        }
        if !self.text() {
            if let Some(h) = &self.human {
                Progress::file_done(&**h, step, file);
            }
            #[derive(Serialize)]
            struct Done<'a> {
                step: Step,
                dry_run: bool,
                #[serde(flatten)]
                file: &'a FileReport,
            }
            self.event(
                "file",
                Done {
                    step,
                    dry_run: self.dry_run(),
                    file,
                },
            );
            return;
        }
        if !self.options.quiet {
            let mut text = format!("=> {step} {}", file.file.display());
            for o in &file.objects {
                text.push('\n');
                text.push_str(&o.line());
                // (`would be created (dry run; ...)` says so already.)
                if self.dry_run() && !o.action.contains("dry run") {
                    text.push_str(" (server dry run)");
                }
            }
            self.out_line(&text);
        }
        if let Some(bar) = &self.io().bar {
            bar.inc(1);
        }
    }

    fn pruned(&self, object: &ObjectResult) {
        if !self.text() {
            if let Some(h) = &self.human {
                Progress::pruned(&**h, object);
            }
            #[derive(Serialize)]
            struct Pruned<'a> {
                dry_run: bool,
                #[serde(flatten)]
                object: &'a ObjectResult,
            }
            self.event(
                "pruned",
                Pruned {
                    dry_run: self.dry_run(),
                    object,
                },
            );
        } else if !self.options.quiet {
            let suffix = if self.dry_run() {
                " (server dry run)"
            } else {
                ""
            };
            self.out_line(&format!("pruned {}{suffix}", object.line()));
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.io().bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl HookReporter for Reporter {
    fn hook_line(&self, hook: &str, kind: OutputKind, line: &str) {
        if kind == OutputKind::Debug && !self.options.verbose {
            return;
        }
        if !self.text() {
            if let Some(h) = &self.human {
                HookReporter::hook_line(&**h, hook, kind, line);
            }
            #[derive(Serialize)]
            struct Line<'a> {
                hook: &'a str,
                stream: &'a str,
                line: &'a str,
            }
            self.event(
                "hook-output",
                Line {
                    hook,
                    stream: kind.as_str(),
                    line: &escape_controls(line),
                },
            );
        } else if kind.is_error_stream() {
            self.err_line(&format_hook_line(hook, kind, line));
        } else if !self.options.quiet {
            self.out_line(&format_hook_line(hook, kind, line));
        }
    }

    fn audit(&self, denial: &Denial) {
        if !self.text() {
            if let Some(h) = &self.human {
                HookReporter::audit(&**h, denial);
            }
            #[derive(Serialize)]
            struct Audit<'a> {
                hook: &'a str,
                message: &'a str,
            }
            self.event(
                "audit",
                Audit {
                    hook: &escape_controls(&denial.hook),
                    message: &escape_controls(&denial.to_string()),
                },
            );
        } else {
            self.err_line(&format_audit(denial));
        }
    }

    fn note(&self, line: &str) {
        Reporter::note(self, line);
    }

    fn hook_started(&self, hook: &str, at: &str) {
        if !self.text() {
            #[derive(Serialize)]
            struct Start<'a> {
                hook: &'a str,
                at: &'a str,
            }
            self.event(
                "hook-start",
                Start {
                    hook: &escape_controls(hook),
                    at: &escape_controls(at),
                },
            );
        }
    }

    fn hook_ended(&self, hook: &str, at: &str, elapsed: Duration, failure: Option<&str>) {
        if let Some(log) = self.junit().as_mut() {
            log.hook_ended(hook, at, elapsed, failure);
        }
        if !self.text() {
            #[derive(Serialize)]
            struct End<'a> {
                hook: &'a str,
                at: &'a str,
                ok: bool,
                elapsed_ms: u128,
                #[serde(skip_serializing_if = "Option::is_none")]
                message: Option<String>,
            }
            self.event(
                "hook-end",
                End {
                    hook: &escape_controls(hook),
                    at: &escape_controls(at),
                    ok: failure.is_none(),
                    elapsed_ms: elapsed.as_millis(),
                    message: failure.map(|f| escape_controls(f).into_owned()),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn reporter(format: Format, quiet: bool) -> (Reporter, Buf, Buf) {
        let (out, err) = (Buf::default(), Buf::default());
        let options = ReporterOptions {
            format,
            quiet,
            verbose: false,
            progress_bar: false,
        };
        let r = Reporter::with_writers(options, Box::new(out.clone()), Box::new(err.clone()));
        (r, out, err)
    }

    const EVIL: &str = "\u{1b}[2K\r[kubes] ok\u{202e}";

    #[test]
    fn text_puts_hook_stdout_on_stdout_and_escapes_it() {
        let (r, out, err) = reporter(Format::Text, false);
        r.hook_line("h", OutputKind::Stdout, EVIL);
        r.hook_line("h", OutputKind::Warn, "careful");
        r.hook_line("h", OutputKind::Debug, "hidden without -v");
        HookReporter::note(&r, "Running hook: before apply");
        assert_eq!(
            out.text(),
            "[h] \\x1b[2K\\x0d[kubes] ok\\u{202e}\nRunning hook: before apply\n"
        );
        assert_eq!(err.text(), "[h] warn: careful\n");
    }

    #[test]
    fn quiet_text_keeps_errors_only() {
        let (r, out, err) = reporter(Format::Text, true);
        r.hook_line("h", OutputKind::Stdout, "chatter");
        r.hook_line("h", OutputKind::Error, "broken");
        r.note("Running hook: before apply");
        r.warning("ignored file");
        assert_eq!(out.text(), "");
        assert_eq!(err.text(), "[h] error: broken\n");
    }

    #[test]
    fn json_lines_are_one_event_each_and_escaped() {
        let (r, out, err) = reporter(Format::JsonLines, true);
        r.set_dry_run(true);
        r.hook_line("h", OutputKind::Stdout, EVIL);
        r.note("Running hook: before apply");
        r.summary(&Report::new(Step::Apply, true));
        assert_eq!(err.text(), "");
        let lines: Vec<serde_json::Value> = out
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{}", out.text());
        assert_eq!(lines[0]["event"], "hook-output");
        assert_eq!(lines[0]["stream"], "stdout");
        assert_eq!(lines[0]["line"], "\\x1b[2K\\x0d[kubes] ok\\u{202e}");
        assert_eq!(lines[1]["event"], "note");
        assert_eq!(lines[2]["event"], "report");
        assert_eq!(lines[2]["ok"], true);
        assert_eq!(lines[2]["dry_run"], true);
    }

    #[test]
    fn object_lines_say_dry_run() {
        let (r, out, _) = reporter(Format::Text, false);
        r.set_dry_run(true);
        let file = FileReport {
            file: ".kubes/output/web/service.yaml".into(),
            target: "web/service".into(),
            objects: vec![ObjectResult {
                object: crate::cluster::ObjectRef {
                    api_version: "v1".into(),
                    kind: "Service".into(),
                    namespace: Some("demo".into()),
                    name: "web".into(),
                },
                display: "service/web".into(),
                action: "created".into(),
                applied: None,
            }],
        };
        r.file_done(Step::Apply, &file);
        assert_eq!(
            out.text(),
            "=> apply .kubes/output/web/service.yaml\nservice/web created (server dry run)\n"
        );
    }
}
