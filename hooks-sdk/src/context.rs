//! Reading the run [`Context`]: the hook's config as a typed value, and the objects of the
//! file a per-resource hook runs around.

use serde::de::DeserializeOwned;

use crate::{Context, HookError, ObjectRef};

impl Context {
    /// The hook's `config` from hooks.yaml as `T`. A hook declared without `config` reads
    /// as an empty map, so a `#[serde(default)]` struct gets its defaults.
    ///
    /// ```no_run
    /// # use kubes_hook_sdk::prelude::*;
    /// #[derive(serde::Deserialize)]
    /// struct Config {
    ///     #[serde(default = "forty")]
    ///     tail_lines: usize,
    /// }
    /// fn forty() -> usize { 40 }
    /// # fn f(ctx: Context) -> Result<(), HookError> {
    /// let config: Config = ctx.config()?;
    /// # Ok(()) }
    /// ```
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, HookError> {
        parse_config(&self.hook, &self.config_json)
    }

    /// The objects of the file this hook runs around (empty for whole-step hooks).
    pub fn target_objects(&self) -> &[ObjectRef] {
        self.target
            .as_ref()
            .map(|t| t.objects.as_slice())
            .unwrap_or(&[])
    }

    /// The one object of `kind` in the target file, e.g. the Job of `migrate/job`. Fails
    /// with a message naming the hook when there is none or more than one.
    pub fn target_object(&self, kind: &str) -> Result<ObjectRef, HookError> {
        let found: Vec<&ObjectRef> = self
            .target_objects()
            .iter()
            .filter(|o| o.kind == kind)
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(HookError::Config(format!(
                "hook {} has no {kind} to work on: {}; name one in its config",
                self.hook,
                match &self.target {
                    Some(t) => format!("its target {}/{} holds no {kind}", t.role, t.kind),
                    None => "it is a whole-step hook (no `on:`)".to_string(),
                }
            ))),
            many => Err(HookError::Config(format!(
                "hook {}: its target holds {} objects of kind {kind} ({}); name one in its config",
                self.hook,
                many.len(),
                many.iter()
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// Parse a hook's config JSON (`null` reads as `{}`), naming the hook and the position of a
/// mistake.
pub fn parse_config<T: DeserializeOwned>(hook: &str, json: &str) -> Result<T, HookError> {
    let text = if json.trim() == "null" || json.trim().is_empty() {
        "{}"
    } else {
        json
    };
    serde_json::from_str(text)
        .map_err(|e| HookError::Config(format!("hook {hook}: `config` in hooks.yaml: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default)]
        job: Option<String>,
        #[serde(default = "ten")]
        tail_lines: usize,
    }
    fn ten() -> usize {
        10
    }

    #[test]
    fn null_config_gives_defaults() {
        let c: Config = parse_config("w", "null").unwrap();
        assert_eq!(
            c,
            Config {
                job: None,
                tail_lines: 10
            }
        );
    }

    #[test]
    fn a_wrong_field_names_the_hook_and_the_field() {
        let e = parse_config::<Config>("migrate-wait", r#"{"tail_lines": "many"}"#).unwrap_err();
        let m = e.to_string();
        assert!(
            m.starts_with(
                "hook migrate-wait: `config` in hooks.yaml: invalid type: string \"many\""
            ),
            "{m}"
        );
        let e = parse_config::<Config>("migrate-wait", r#"{"tail": 3}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `tail`"), "{e}");
    }
}
