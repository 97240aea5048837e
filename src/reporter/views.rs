//! The results of commands that are not runs, as text or as one JSON line: what compile
//! wrote, the plan, a diff, the declared hooks, a component inspection, what `init` and
//! `new hook` wrote.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::Reporter;
use crate::cluster::diff::DiffReport;
use crate::compile::Compiled;
use crate::hooks::describe::{Inspection, ListedHook};
use crate::hooks::output::escape_controls;
use crate::hooks::testing::ScenarioResult;
use crate::hooks::HooksConfig;
use crate::lifecycle::{Point, Step, When};
use crate::plan::Plan;
use crate::project::Project;
use crate::scaffold::init::Initialised;

/// What `kubes new hook` wrote and how to build and wire it.
#[derive(Debug, Serialize)]
pub struct NewHook {
    pub name: String,
    pub lang: String,
    pub dir: PathBuf,
    pub files: Vec<String>,
    pub build_requires: String,
    pub build_command: String,
    pub artifact: PathBuf,
    pub hooks_yaml: String,
}

impl Reporter {
    /// Non-fatal notes from loading the project (text: on stderr, kept off stdout).
    pub fn project_warnings(&self, project: &Project) {
        for w in &project.warnings {
            self.warning(w);
        }
    }

    /// `kubes compile`'s report: what was written, left unchanged and removed.
    pub fn compiled(&self, project: &Project, c: &Compiled) {
        if !self.text() {
            self.json_line(&compiled_json(c));
        } else if !self.options.quiet {
            let verbose = self.options.verbose;
            self.with_out(|w| write_compiled(project, c, verbose, w));
        }
    }

    /// The plan, in apply order, with the hooks attached to each file (text even with `-q`:
    /// it is what was asked for).
    pub fn plan(&self, plan: &Plan, hooks: &HooksConfig) {
        if !self.text() {
            self.json_line(plan);
        } else {
            self.with_out(|w| write_plan(plan, hooks, w));
        }
    }

    /// `kubes diff`'s result: the unified diffs (text, coloured when `color`), or the report.
    pub fn diff(&self, report: &DiffReport, color: bool) {
        if !self.text() {
            self.json_line(report);
        } else if !self.options.quiet {
            self.with_out(|w| {
                for d in &report.differ {
                    for line in d.diff.lines() {
                        writeln!(w, "{}", paint(line, color))?;
                    }
                }
                Ok(())
            });
        }
    }

    /// `kubes rbac`: the policy as YAML (text, even with `-q`: it is what was asked for), or
    /// as one JSON line (a `v1` List).
    pub fn rbac(&self, policy: &crate::rbac::Policy) -> anyhow::Result<()> {
        if !self.text() {
            self.json_line(&policy.to_json());
        } else {
            let text = policy.to_yaml()?;
            self.with_out(|w| w.write_all(text.as_bytes()));
        }
        Ok(())
    }

    /// `kubes hooks audit`: the audit (text even with `-q`), and with `--check FILE` the
    /// diff against the committed one (text: the diff on stdout, the verdict on stderr);
    /// JSON: one line, `{"audit": ..., "check": {"file", "matches", "diff"}}`.
    pub fn hooks_audit(
        &self,
        audit: &crate::hooks::audit::Audit,
        check: Option<(&Path, Option<&str>)>,
    ) {
        if !self.text() {
            let mut v = json!({ "audit": audit });
            if let Some((file, diff)) = check {
                v["check"] = json!({"file": file, "matches": diff.is_none(), "diff": diff});
            }
            self.json_line(&v);
            return;
        }
        match check {
            None => {
                let text = audit.to_text();
                self.with_out(|w| w.write_all(text.as_bytes()));
            }
            Some((file, None)) => {
                if !self.options.quiet {
                    let line = format!("hooks audit matches {}\n", file.display());
                    self.with_out(|w| w.write_all(line.as_bytes()));
                }
            }
            Some((file, Some(diff))) => {
                let diff = diff.to_string();
                self.with_out(|w| w.write_all(diff.as_bytes()));
                self.err_line(&format!(
                    "error: the hooks audit differs from {} (review the change, then update the file with `kubes hooks audit > {}`)",
                    file.display(),
                    file.display()
                ));
            }
        }
    }

    /// `kubes hooks list`.
    pub fn hooks_list(&self, file: &Path, rows: &[ListedHook]) {
        if !self.text() {
            self.json_line(&rows);
        } else {
            self.with_out(|w| write_hooks_list(file, rows, w));
        }
    }

    /// `kubes hooks inspect`. Names inside a component are the author's: escaped like any
    /// hook output.
    pub fn inspection(&self, report: &Inspection) {
        if !self.text() {
            self.json_line(report);
        } else {
            self.with_out(|w| write_inspection(report, w));
        }
    }

    /// `kubes init`.
    pub fn initialised(&self, root: &Path, done: &Initialised) {
        if !self.text() {
            self.json_line(&json!({ "app": done.app, "created": done.created, "kept": done.kept }));
        } else if !self.options.quiet {
            self.with_out(|w| {
                writeln!(
                    w,
                    "Initialised kubes project for app `{}` in {}",
                    done.app,
                    root.display()
                )?;
                for rel in &done.created {
                    writeln!(w, "  created  {rel}")?;
                }
                for rel in &done.kept {
                    writeln!(w, "  kept     {rel} (already exists)")?;
                }
                writeln!(w, "Next: kubes compile && kubes plan")
            });
        }
    }

    /// `kubes hooks test`: the table's header, before the first scenario runs.
    pub fn scenario_header(&self) {
        if self.text() && !self.options.quiet {
            self.with_out(|w| {
                writeln!(
                    w,
                    "{:<40} {:<6} {:>9} {:>11}",
                    "SCENARIO", "RESULT", "TIME", "SIMULATED"
                )
            });
        }
    }

    /// `kubes hooks test`: one scenario's row as soon as it ran, with why it failed.
    pub fn scenario_result(&self, r: &ScenarioResult) {
        if !self.text() {
            self.json_line(&json!({
                "scenario": r.name,
                "file": r.file,
                "passed": r.passed(),
                "wall_ms": r.wall.as_secs_f64() * 1000.0,
                "simulated_ms": r.simulated.as_millis() as u64,
                "failures": r.failures,
                "output": r.output,
            }));
            return;
        }
        if self.options.quiet && r.passed() {
            return;
        }
        self.with_out(|w| {
            writeln!(
                w,
                "{:<40} {:<6} {:>9} {:>11}",
                escape_controls(&r.name),
                if r.passed() { "ok" } else { "FAILED" },
                format!("{:.3}s", r.wall.as_secs_f64()),
                humantime::format_duration(Duration::from_millis(r.simulated.as_millis() as u64))
                    .to_string(),
            )?;
            for f in &r.failures {
                for (i, line) in f.lines().enumerate() {
                    let lead = if i == 0 { "  - " } else { "    " };
                    writeln!(w, "{lead}{}", escape_controls(line))?;
                }
            }
            Ok(())
        });
    }

    /// `kubes hooks test`: the totals.
    pub fn scenario_summary(&self, results: &[ScenarioResult], wall: Duration) {
        let failed = results.iter().filter(|r| !r.passed()).count();
        if !self.text() {
            self.json_line(&json!({"scenarios": results.len(), "failed": failed,
                "wall_ms": wall.as_secs_f64() * 1000.0}));
        } else if !self.options.quiet || failed > 0 {
            self.with_out(|w| {
                writeln!(
                    w,
                    "{} scenarios, {} passed, {failed} failed in {:.2}s",
                    results.len(),
                    results.len() - failed,
                    wall.as_secs_f64()
                )
            });
        }
    }

    /// `kubes new hook`.
    pub fn new_hook(&self, report: &NewHook) {
        if !self.text() {
            self.json_line(report);
        } else {
            self.with_out(|w| write_new_hook(report, w));
        }
    }
}

fn compiled_json(c: &Compiled) -> serde_json::Value {
    json!({
        "files": c.files.iter().map(|f| json!({
            "target": format!("{}/{}", f.role, f.kind),
            "output": f.output,
            "source": f.source,
            "layers": f.layers,
            "written": f.written,
            "objects": f.objects.iter().map(|o| json!({"kind": o.kind, "name": o.name, "namespace": o.namespace})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "removed": c.removed,
    })
}

fn write_compiled(
    project: &Project,
    c: &Compiled,
    verbose: bool,
    w: &mut dyn Write,
) -> io::Result<()> {
    let written = c.files.iter().filter(|f| f.written).count();
    writeln!(
        w,
        "Compiled {} file{} into .kubes/output (env {}{}): {} written, {} unchanged, {} removed",
        c.files.len(),
        if c.files.len() == 1 { "" } else { "s" },
        project.env,
        project
            .app
            .as_deref()
            .map(|a| format!(", app {a}"))
            .unwrap_or_default(),
        written,
        c.files.len() - written,
        c.removed.len(),
    )?;
    for f in &c.files {
        let status = if f.written { "wrote" } else { "unchanged" };
        writeln!(w, "  {status:<9}  {}", f.output.display())?;
        if verbose {
            for l in &f.layers {
                writeln!(w, "               <- {}", l.display())?;
            }
        }
    }
    for r in &c.removed {
        writeln!(w, "  {:<9}  {}", "removed", r.display())?;
    }
    Ok(())
}

/// The text form of a plan: one line per object, in apply order, e.g.
/// `shared/namespace  Namespace/demo` or `web/service  Service/web  (namespace demo)`.
/// Hooks attached to a file are printed around its lines, step hooks around the list.
pub fn write_plan(plan: &Plan, hooks: &HooksConfig, w: &mut dyn Write) -> io::Result<()> {
    let width = plan.files().map(|f| f.target().len()).max().unwrap_or(0);
    if plan.files.is_empty() {
        writeln!(
            w,
            "Nothing to apply: no resources in .kubes/resources (or all skipped)."
        )?;
    }
    // `hook NAME (POINT, MODULE)` lines. A file's before-hooks carry the file's name in the
    // first column: indented like after-hooks they would read as belonging to the file
    // printed above them.
    let hook_lines = |w: &mut dyn Write, when: When, target: Option<&str>| -> io::Result<()> {
        for h in hooks.hooks_at(
            Point {
                when,
                step: Step::Apply,
            },
            target,
        ) {
            let lead = match (target, when) {
                (None, _) => String::new(),
                (Some(t), When::Before) => format!("{t:<width$}  "),
                (Some(_), When::After) => " ".repeat(width + 2),
            };
            writeln!(w, "{lead}hook {} ({}, {})", h.name, h.point, h.module)?;
        }
        Ok(())
    };
    hook_lines(w, When::Before, None)?;
    for file in plan.files() {
        let target = file.target();
        hook_lines(w, When::Before, Some(&target))?;
        if file.objects.is_empty() {
            writeln!(w, "{target:<width$}  (no objects)")?;
        }
        for o in &file.objects {
            match &o.namespace {
                Some(ns) => writeln!(
                    w,
                    "{target:<width$}  {}/{}  (namespace {ns})",
                    o.kind, o.name
                )?,
                None => writeln!(w, "{target:<width$}  {}/{}", o.kind, o.name)?,
            }
        }
        hook_lines(w, When::After, Some(&target))?;
    }
    hook_lines(w, When::After, None)
}

/// A unified diff line, coloured the way `git diff` does.
fn paint(line: &str, color: bool) -> String {
    if !color {
        return line.to_string();
    }
    let code = if line.starts_with("+++") || line.starts_with("---") {
        "1"
    } else if line.starts_with('+') {
        "32"
    } else if line.starts_with('-') {
        "31"
    } else if line.starts_with("@@") {
        "36"
    } else {
        return line.to_string();
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

fn write_hooks_list(file: &Path, rows: &[ListedHook], w: &mut dyn Write) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(
            w,
            "No hooks declared ({} not found or empty).",
            file.display()
        );
    }
    for r in rows {
        let on = if r.on.is_empty() {
            "(whole step)".to_string()
        } else {
            r.on.join(",")
        };
        let digest = r
            .digest
            .strip_prefix("sha256:")
            .map(|d| format!("sha256:{}", &d[..12]))
            .unwrap_or(r.digest.clone());
        writeln!(w, "{}", r.name)?;
        writeln!(w, "  point:   {} on {on}", r.point)?;
        writeln!(w, "  module:  {} ({digest})", r.module)?;
        writeln!(
            w,
            "  limits:  timeout {}ms, memory {} MiB, exit_on_fail {}",
            r.timeout_ms,
            r.memory >> 20,
            r.exit_on_fail
        )?;
        if r.grants.is_empty() {
            writeln!(w, "  grants:  none")?;
        }
        for (i, grant) in r.grants.iter().enumerate() {
            let lead = if i == 0 { "grants:  " } else { "         " };
            writeln!(w, "  {lead}{grant}")?;
        }
    }
    Ok(())
}

fn write_inspection(report: &Inspection, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "{}: {} ({})",
        report.file.display(),
        report.kind,
        report.digest
    )?;
    let safe = |t: String| escape_controls(&t).into_owned();
    if !report.imports.is_empty() {
        writeln!(w, "imports:")?;
        for i in &report.imports {
            writeln!(w, "  {}", safe(i.to_string()))?;
        }
    }
    if !report.exports.is_empty() {
        writeln!(w, "exports:")?;
        for e in &report.exports {
            writeln!(w, "  {}", safe(e.to_string()))?;
        }
    }
    if report.fits_hook_world {
        writeln!(
            w,
            "hook world: yes ({})",
            report.world.as_deref().unwrap_or("kubes:hook/hook")
        )?;
    } else {
        writeln!(w, "hook world: no")?;
        for p in &report.problems {
            writeln!(w, "  - {}", safe(p.clone()))?;
        }
    }
    for h in &report.hooks {
        writeln!(w, "hook {} ({}):", h.name, h.point)?;
        if h.grants.is_empty() {
            writeln!(w, "  grants: none (every cluster call is refused)")?;
        }
        for lines in &h.grants {
            for (i, line) in lines.iter().enumerate() {
                let lead = if i == 0 { "grant: " } else { "       " };
                writeln!(w, "  {lead}{line}")?;
            }
        }
        writeln!(w, "  limits: {}", h.limits.join("; "))?;
    }
    Ok(())
}

fn write_new_hook(report: &NewHook, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "Created hook {} ({}) in {}:",
        report.name,
        report.lang,
        report.dir.display()
    )?;
    for f in &report.files {
        writeln!(w, "  {}", report.dir.join(f).display())?;
    }
    writeln!(w)?;
    writeln!(w, "Build it:")?;
    writeln!(w, "  {}", report.build_command)?;
    writeln!(w, "  -> {}", report.artifact.display())?;
    writeln!(w, "  (needs {})", report.build_requires)?;
    writeln!(w)?;
    writeln!(
        w,
        "Test it (the scenarios in tests/, against a simulated cluster):"
    )?;
    writeln!(
        w,
        "  kubes hooks test {}",
        crate::scaffold::shell_word(&report.dir)
    )?;
    writeln!(w)?;
    writeln!(
        w,
        "Wire it: copy the .wasm into your project's hooks/ as hooks/{}.wasm and add to .kubes/config/hooks.yaml:",
        report.name
    )?;
    write!(w, "{}", report.hooks_yaml)
}
