//! The results of `kubes hooks push|pull|inspect REF|lock|sign|keygen|save|load`, as text
//! or as one JSON line. What a registry says (annotations, import names) is attacker-
//! controlled: escaped like hook output.

use std::io::{self, Write};
use std::path::Path;

use serde_json::json;

use super::Reporter;
use crate::hooks::output::escape_controls;
use crate::hooks::registry::archive::ArchiveSummary;
use crate::hooks::registry::lock::Pin;
use crate::hooks::registry::ops::{Inspected, Pushed, Signed};
use crate::hooks::registry::Origin;

fn esc(s: &str) -> String {
    escape_controls(s).into_owned()
}

fn write_origin(o: &Origin, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{}", esc(&o.reference))?;
    writeln!(w, "  digest:    {} (pinned by {})", o.digest, o.pinned_by)?;
    writeln!(w, "  component: {} ({} bytes)", o.component, o.size)?;
    if let Some(v) = &o.world {
        writeln!(w, "  world:     kubes:hook/hook@{}", esc(v))?;
    }
    if let Some(s) = &o.source {
        writeln!(w, "  source:    {}", esc(s))?;
    }
    if let Some(v) = &o.version {
        writeln!(w, "  version:   {}", esc(v))?;
    }
    match (&o.signer, &o.signature) {
        (Some(k), _) => writeln!(w, "  signed by: {k} (trusted)")?,
        (None, Some(d)) => writeln!(w, "  signature: {d} (not checked: no trusted key matched)")?,
        (None, None) => writeln!(w, "  signature: none")?,
    }
    writeln!(
        w,
        "  fetched:   {}",
        if o.from_cache {
            "from the local store"
        } else {
            "from the registry"
        }
    )
}

impl Reporter {
    fn notes_to_stderr(&self, notes: &[String]) {
        for n in notes {
            self.warning(&esc(n));
        }
    }

    pub fn pushed(&self, p: &Pushed) {
        if !self.text() {
            return self.json_line(p);
        }
        self.with_out(|w| {
            writeln!(w, "pushed {}", p.reference)?;
            writeln!(w, "  digest:    {}", p.digest)?;
            writeln!(w, "  component: {} ({} bytes)", p.component, p.size)?;
            if let Some(v) = &p.world {
                writeln!(w, "  world:     kubes:hook/hook@{}", esc(v))?;
            }
            Ok(())
        });
    }

    pub fn pulled(&self, o: &Origin, notes: &[String]) {
        self.notes_to_stderr(notes);
        if !self.text() {
            return self.json_line(o);
        }
        self.with_out(|w| write_origin(o, w));
    }

    pub fn registry_inspection(&self, i: &Inspected) {
        self.notes_to_stderr(&i.notes);
        if !self.text() {
            return self.json_line(i);
        }
        self.with_out(|w| {
            write_origin(&i.origin, w)?;
            if let Some(c) = &i.config.component {
                if let Some(t) = &c.target {
                    writeln!(w, "  target:    {}", esc(t))?;
                }
                writeln!(w, "  imports:")?;
                for n in &c.imports {
                    writeln!(w, "    {}", esc(n))?;
                }
                writeln!(w, "  exports:")?;
                for n in &c.exports {
                    writeln!(w, "    {}", esc(n))?;
                }
            }
            if !i.annotations.is_empty() {
                writeln!(w, "  annotations:")?;
                for (k, v) in &i.annotations {
                    writeln!(w, "    {}: {}", esc(k), esc(v))?;
                }
            }
            Ok(())
        });
    }

    pub fn locked(&self, path: &Path, pins: &[Pin], notes: &[String]) {
        self.notes_to_stderr(notes);
        if !self.text() {
            return self.json_line(&json!({ "lockfile": path, "modules": pins }));
        }
        self.with_out(|w| {
            writeln!(w, "wrote {} ({} modules)", path.display(), pins.len())?;
            for p in pins {
                writeln!(w, "  {} -> {}", esc(&p.reference), p.digest)?;
            }
            Ok(())
        });
    }

    pub fn signed(&self, s: &Signed) {
        if !self.text() {
            return self.json_line(s);
        }
        self.with_out(|w| {
            writeln!(w, "signed {}@{}", s.reference, s.digest)?;
            writeln!(w, "  signer:    {}", s.signer)?;
            writeln!(w, "  signature: {} (tag {})", s.signature, s.tag)
        });
    }

    pub fn key_generated(&self, private: &Path, public: &str) {
        if !self.text() {
            return self.json_line(&json!({ "private_key": private, "public_key": public }));
        }
        self.with_out(|w| {
            writeln!(
                w,
                "wrote {} (private, mode 0600) and its .pub",
                private.display()
            )?;
            writeln!(w, "public key: {public}")?;
            writeln!(
                w,
                "trust it in hooks.yaml: trust: {{ keys: [{public}], require: true }}"
            )
        });
    }

    pub fn archive(&self, action: &str, s: &ArchiveSummary, notes: &[String]) {
        self.notes_to_stderr(notes);
        if !self.text() {
            return self.json_line(&json!({ "action": action, "archive": s }));
        }
        self.with_out(|w| {
            writeln!(
                w,
                "{action} {}: {} modules, {} blobs, {} bytes",
                s.file,
                s.modules.len(),
                s.blobs,
                s.bytes
            )?;
            for (r, d) in &s.modules {
                writeln!(w, "  {} -> {d}", esc(r))?;
            }
            Ok(())
        });
    }
}
