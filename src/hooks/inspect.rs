//! What a `.wasm` file is: not wasm, a core module, or a component; a component's imports
//! and exports; and whether it fits the `kubes:hook` world (naming what does not).

use std::fmt;

use serde::Serialize;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;
use wasmtime::Engine;

/// The first eight bytes of a wasm binary: magic, then version and layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryKind {
    Component,
    CoreModule,
    NotWasm(String),
}

pub fn binary_kind(bytes: &[u8]) -> BinaryKind {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        let what = if bytes.is_empty() {
            "the file is empty".to_string()
        } else {
            "no `\\0asm` magic at its start".to_string()
        };
        return BinaryKind::NotWasm(what);
    }
    // Version (u16 LE) then layer (u16 LE): core modules are version 1 layer 0,
    // components are layer 1.
    match (
        u16::from_le_bytes([bytes[4], bytes[5]]),
        u16::from_le_bytes([bytes[6], bytes[7]]),
    ) {
        (_, 1) => BinaryKind::Component,
        (1, 0) => BinaryKind::CoreModule,
        (v, l) => BinaryKind::NotWasm(format!("unknown wasm version {v} layer {l}")),
    }
}

/// One import or export of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub name: String,
    /// `func`, `instance`, `resource`, `type`, `module`, `component`.
    pub kind: &'static str,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

fn kind_name(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "func",
        ComponentItem::CoreFunc(_) => "core func",
        ComponentItem::Module(_) => "module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

pub fn imports(engine: &Engine, c: &Component) -> Vec<Item> {
    c.component_type()
        .imports(engine)
        .map(|(n, i)| Item {
            name: n.to_string(),
            kind: kind_name(&i.ty),
        })
        .collect()
}

pub fn exports(engine: &Engine, c: &Component) -> Vec<Item> {
    c.component_type()
        .exports(engine)
        .map(|(n, i)| Item {
            name: n.to_string(),
            kind: kind_name(&i.ty),
        })
        .collect()
}

/// WASI p2 packages a hook may import (all linked; the sandbox decides what they can do).
const WASI_PACKAGES: [&str; 6] = [
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:random/",
    "wasi:sockets/",
];

/// Interfaces of our own package a hook may import, per contract version.
const HOOK_INTERFACES_V01: [&str; 3] = ["kubes:hook/types", "kubes:hook/cluster", "kubes:hook/log"];
const HOOK_INTERFACES_V02: [&str; 4] = [
    "kubes:hook/types",
    "kubes:hook/cluster",
    "kubes:hook/progress",
    "kubes:hook/log",
];

/// Which `kubes:hook` contract a component was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookVersion {
    V01,
    V02,
}

/// The contract version of the `kubes:hook` interfaces `c` imports (`None`: it imports none,
/// e.g. a hook that only prints).
pub fn hook_version(engine: &Engine, c: &Component) -> Option<HookVersion> {
    imports(engine, c).iter().find_map(|i| {
        let (iface, version) = i.name.split_once('@')?;
        if !iface.starts_with("kubes:hook/") {
            return None;
        }
        if version.starts_with("0.1.") {
            Some(HookVersion::V01)
        } else {
            Some(HookVersion::V02)
        }
    })
}

/// Why `c` does not fit the hook world; empty when it does (as far as names go: the linker
/// then checks the types).
pub fn world_gaps(engine: &Engine, c: &Component) -> Vec<String> {
    let mut gaps = Vec::new();
    let exports = exports(engine, c);
    match exports.iter().find(|e| e.name == "run") {
        Some(e) if e.kind == "func" => {}
        Some(e) => gaps.push(format!(
            "export `run` is a {}, expected func(ctx: context) -> result<_, string>",
            e.kind
        )),
        None => {
            let mut gap =
                "missing export `run` (func(ctx: context) -> result<_, string>)".to_string();
            if exports.iter().any(|e| e.name.starts_with("wasi:cli/run")) {
                gap.push_str(": this is a WASI command (it exports wasi:cli/run), not a hook");
            } else if !exports.is_empty() {
                let names: Vec<&str> = exports.iter().map(|e| e.name.as_str()).collect();
                gap.push_str(&format!("; it exports {}", names.join(", ")));
            }
            gaps.push(gap);
        }
    }
    let ours_version = hook_version(engine, c);
    for import in imports(engine, c) {
        let (iface, version) = import.name.split_once('@').unwrap_or((&import.name, ""));
        let wasi =
            WASI_PACKAGES.iter().any(|p| iface.starts_with(p)) && version.starts_with("0.2.");
        // One contract version per component: 0.1.0 or 0.2.0, not a mix.
        let ours = match ours_version {
            Some(HookVersion::V01) => {
                HOOK_INTERFACES_V01.contains(&iface) && version.starts_with("0.1.")
            }
            _ => HOOK_INTERFACES_V02.contains(&iface) && version.starts_with("0.2."),
        };
        if !(wasi || ours) {
            gaps.push(format!(
                "imports `{}`, which hooks are not given",
                import.name
            ));
        }
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_binary_kinds() {
        assert_eq!(binary_kind(b"\0asm\x01\0\0\0rest"), BinaryKind::CoreModule);
        assert_eq!(binary_kind(b"\0asm\x0d\0\x01\0rest"), BinaryKind::Component);
        assert!(matches!(
            binary_kind(b"#!/bin/sh\necho hi\n"),
            BinaryKind::NotWasm(_)
        ));
        assert!(matches!(binary_kind(b""), BinaryKind::NotWasm(d) if d.contains("empty")));
    }
}
