//! The bounds on what kubes does on a hook's behalf: how big a module it will compile and
//! how much work that may take, how many streams a run may hold open and how much they may
//! buffer, how large a request body it will parse, how many denials it records and prints,
//! how much output it prints. Defaults fit every example hook with room to spare; each can be
//! raised per hook under `limits:` in hooks.yaml (see docs/security.md).

use std::time::Duration;

/// Per-hook limits; `memory` and `timeout` stay top-level fields of a hook declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookLimits {
    /// Largest `.wasm` file kubes reads (bytes).
    pub module_size: u64,
    /// Most functions (core function bodies plus component-level canonical functions) kubes
    /// compiles for one component: compile memory and time grow with it.
    pub functions: u64,
    /// Longest a compile may take before the hook is refused.
    pub compile_time: Duration,
    /// Watches and log streams open at once in one run.
    pub streams: usize,
    /// Bytes of watch events and log lines buffered for a run, over all its streams,
    /// waiting for the guest to take them. A full buffer pauses the streams.
    pub stream_buffer: u64,
    /// Largest object (JSON bytes) a hook may pass to `apply`, checked before parsing.
    pub request_size: u64,
    /// Largest answer (JSON bytes, all items together) handed back by `list` and `events`.
    pub response_size: u64,
    /// Denials recorded in full and printed as audit lines; the rest are only counted.
    pub denials: usize,
    /// Bytes of output (stdout, stderr, log messages) printed for a run; the rest is counted.
    pub output: u64,
}

pub const MIB: u64 = 1 << 20;

impl Default for HookLimits {
    fn default() -> Self {
        HookLimits {
            // The Python (~18 MB) and JavaScript (~12 MB) example hooks fit with room.
            module_size: 64 * MIB,
            functions: 50_000,
            compile_time: Duration::from_secs(120),
            streams: 64,
            stream_buffer: 32 * MIB,
            // The API server's own request body limit (3 MiB).
            request_size: 3 * MIB,
            response_size: 64 * MIB,
            denials: 50,
            output: 64 * MIB,
        }
    }
}

/// What compiling a component would cost, counted from its binary before compiling it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileCost {
    /// Core function bodies plus canonical functions (each compiled to a trampoline).
    pub functions: u64,
    /// Bytes of core function bodies.
    pub code_bytes: u64,
    /// Core modules inside the component.
    pub modules: u64,
}

/// Count what a component asks the compiler to do. Fails on a binary that does not parse
/// (wasmtime would refuse it too).
pub fn compile_cost(bytes: &[u8]) -> Result<CompileCost, String> {
    use wasmparser::{Parser, Payload};
    let mut cost = CompileCost::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::CodeSectionStart { count, size, .. } => {
                cost.functions += u64::from(count);
                cost.code_bytes += u64::from(size);
            }
            Payload::ModuleSection { .. } => cost.modules += 1,
            Payload::ComponentCanonicalSection(s) => cost.functions += u64::from(s.count()),
            _ => {}
        }
    }
    Ok(cost)
}

impl HookLimits {
    /// Refuse a component whose compile would exceed the budget, before compiling it.
    pub fn check_compile(&self, cost: &CompileCost) -> Result<(), String> {
        if cost.functions > self.functions {
            return Err(format!(
                "it has {} functions, more than the limit of {} (raise `limits: {{functions: N}}` for this hook if it is genuine)",
                cost.functions, self.functions
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_functions_of_a_component() {
        let mut module = wasm_encoder::Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        let mut funcs = wasm_encoder::FunctionSection::new();
        let mut code = wasm_encoder::CodeSection::new();
        for _ in 0..5 {
            funcs.function(0);
            let mut f = wasm_encoder::Function::new([]);
            f.instructions().end();
            code.function(&f);
        }
        module.section(&funcs);
        module.section(&code);
        let mut component = wasm_encoder::Component::new();
        component.section(&wasm_encoder::ModuleSection(&module));
        let cost = compile_cost(&component.finish()).unwrap();
        assert_eq!(cost.functions, 5);
        assert_eq!(cost.modules, 1);
        let limits = HookLimits {
            functions: 4,
            ..Default::default()
        };
        assert!(limits
            .check_compile(&cost)
            .unwrap_err()
            .contains("5 functions"));
    }
}
