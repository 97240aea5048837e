//! Templates with Kubes' (ERB) tags, rendered by minijinja.
//!
//! Tags: `<%= expr %>` prints, `<% stmt %>` is a block statement (minijinja's: `if`/`elif`/
//! `else`/`endif`, `for`/`endfor`, `set`, ...), `<%# comment %>` is dropped. ERB habits that are
//! accepted: `<% end %>` closes the innermost open block (written out as `endif`/`endfor`/...),
//! `elsif` means `elif`, `-%>` drops the newline after a tag and `<%-` the indentation before a
//! block tag (ERB semantics, which keep YAML indentation intact). Block tags on their own line
//! leave no blank line behind.
//!
//! `@name` inside a tag is the variable `name` (Kubes' instance-variable style). The only
//! rewrite done before minijinja sees a template is inside tags: `@name` becomes an internal
//! identifier, `end`/`elsif`/`-` are normalised. Line numbers are never shifted.
//!
//! Undefined names are errors (strict mode), reported as `<file>:<line>: undefined variable
//! `x``. Helpers: `base64` (filter and function), `env_var("NAME")` / `env_var("NAME",
//! "default")`, plus minijinja's built-in filters (`tojson`, `indent`, `default`, `upper`, ...).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use minijinja::value::Value as JValue;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};

use crate::yaml;

/// Prefix of the identifier `@name` is rewritten to.
const AT_PREFIX: &str = "__at_";

/// Statements that open a block closed by `end<keyword>`.
const BLOCK_KEYWORDS: &[&str] = &[
    "if",
    "for",
    "with",
    "filter",
    "macro",
    "call",
    "block",
    "autoescape",
    "raw",
];

/// A template failed to render: file, line (1-based, in the template source) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

/// What a template can see: built-ins (`app`, `env`, `namespace`, `docker_image` and its
/// Kubes alias `built_image`) and
/// variables (as `@name` and `name`; a built-in wins over a variable for the bare name).
#[derive(Debug, Clone)]
pub struct TemplateContext {
    value: JValue,
    names: HashSet<String>,
}

impl TemplateContext {
    pub fn new(builtins: &[(&str, Option<&str>)], variables: &yaml::Mapping) -> TemplateContext {
        let mut map = std::collections::BTreeMap::<String, JValue>::new();
        for (k, v) in variables {
            if let Some(name) = k.as_str() {
                let value = yaml_to_value(v);
                map.insert(format!("{AT_PREFIX}{name}"), value.clone());
                map.insert(name.to_string(), value);
            }
        }
        for (name, value) in builtins {
            match value {
                Some(v) => {
                    map.insert(name.to_string(), JValue::from(*v));
                }
                // An unset built-in stays undefined (so using it is an error), even if a
                // variable has its name: the variable is still reachable as `@name`.
                None => {
                    map.remove(*name);
                }
            }
        }
        let names = map.keys().cloned().collect();
        TemplateContext {
            value: JValue::from(map),
            names,
        }
    }
}

fn yaml_to_value(v: &yaml::Value) -> JValue {
    use yaml::Value as Y;
    match v {
        Y::Null => JValue::from(()),
        Y::Bool(b) => JValue::from(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                JValue::from(i)
            } else if let Some(u) = n.as_u64() {
                JValue::from(u)
            } else {
                JValue::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Y::String(s) => JValue::from(s.as_str()),
        Y::Sequence(items) => JValue::from(items.iter().map(yaml_to_value).collect::<Vec<_>>()),
        Y::Mapping(m) => JValue::from_pairs(m.iter().map(|(k, v)| (yaml_key(k), yaml_to_value(v)))),
        Y::Tagged(t) => yaml_to_value(&t.value),
    }
}

fn yaml_key(k: &yaml::Value) -> String {
    match k {
        yaml::Value::String(s) => s.clone(),
        other => yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// The template engine, configured once and shared by every render.
pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    pub fn new() -> Renderer {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .block_delimiters("<%", "%>")
            .variable_delimiters("<%=", "%>")
            .comment_delimiters("<%#", "%>")
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("static delimiters are valid");
        env.set_syntax(syntax);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // A null variable prints nothing, as nil does in ERB (`key: <%= @x %>` is YAML null),
        // not minijinja's `none`, which YAML would read as a string.
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        env.add_filter("base64", base64_encode);
        env.add_function("base64", base64_encode);
        env.add_function("env_var", env_var);
        Renderer { env }
    }

    /// Render `source` (the file at `path`, used in messages). Sources without tags are
    /// returned as they are.
    pub fn render<'s>(
        &self,
        path: &Path,
        source: &'s str,
        ctx: &TemplateContext,
    ) -> Result<Cow<'s, str>, TemplateError> {
        if !source.contains("<%") {
            return Ok(Cow::Borrowed(source));
        }
        let prepared = preprocess(source);
        let tmpl = self
            .env
            .template_from_str(&prepared)
            .map_err(|e| self.error(path, &prepared, None, ctx, e))?;
        tmpl.render(&ctx.value)
            .map(Cow::Owned)
            .map_err(|e| self.error(path, &prepared, Some(&tmpl), ctx, e))
    }

    fn error(
        &self,
        path: &Path,
        prepared: &str,
        tmpl: Option<&minijinja::Template<'_, '_>>,
        ctx: &TemplateContext,
        err: minijinja::Error,
    ) -> TemplateError {
        let line = err.line();
        let message = if err.kind() == ErrorKind::UndefinedError {
            match tmpl.and_then(|t| self.undefined_name(t, prepared, line, ctx)) {
                Some(name) => undefined_message(&name),
                None => describe(&err),
            }
        } else {
            describe(&err)
        };
        TemplateError {
            path: path.to_path_buf(),
            line,
            message,
        }
    }

    /// Which name was undefined: a name the template uses that the context lacks, found
    /// on the failing line.
    fn undefined_name(
        &self,
        tmpl: &minijinja::Template<'_, '_>,
        prepared: &str,
        line: Option<usize>,
        ctx: &TemplateContext,
    ) -> Option<String> {
        let globals: HashSet<&str> = self.env.globals().map(|(n, _)| n).collect();
        let mut missing: Vec<String> = tmpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|n| !ctx.names.contains(n) && !globals.contains(n.as_str()))
            .collect();
        missing.sort();
        let line_text = line
            .and_then(|l| prepared.lines().nth(l.saturating_sub(1)))
            .unwrap_or("");
        missing
            .iter()
            .find(|n| contains_word(line_text, n))
            .or(missing.first())
            .map(|n| match n.strip_prefix(AT_PREFIX) {
                Some(var) => format!("@{var}"),
                None => n.clone(),
            })
    }
}

fn undefined_message(name: &str) -> String {
    let hint = match name {
        "docker_image" | "built_image" => " (set `image` in .kubes/config.yaml or pass --image)",
        "namespace" => " (set `namespace` in .kubes/config.yaml or pass -n)",
        "app" => " (set `app` in .kubes/config.yaml or pass --app)",
        n if n.starts_with('@') => " (define it in .kubes/variables/base.yaml or <env>.yaml)",
        _ => " (variables come from .kubes/variables; built-ins are app, env, namespace, docker_image)",
    };
    format!("undefined variable `{name}`{hint}")
}

fn describe(err: &minijinja::Error) -> String {
    let text = match err.detail() {
        Some(detail) => format!("{}: {}", err.kind(), detail),
        None => err.kind().to_string(),
    };
    // Show `@name` as the user wrote it, not as the identifier it was rewritten to.
    text.replace(AT_PREFIX, "@")
}

fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
    })
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn base64_encode(value: JValue) -> Result<String, minijinja::Error> {
    let bytes: Vec<u8> = match value.as_bytes() {
        Some(b) => b.to_vec(),
        None if value.is_undefined() => {
            return Err(minijinja::Error::new(
                ErrorKind::UndefinedError,
                "base64 of an undefined value",
            ))
        }
        None => value.to_string().into_bytes(),
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn env_var(name: String, default: Option<String>) -> Result<String, minijinja::Error> {
    match std::env::var(&name) {
        Ok(v) => Ok(v),
        Err(_) => default.ok_or_else(|| {
            minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("environment variable `{name}` is not set (give a default: env_var(\"{name}\", \"...\"))"),
            )
        }),
    }
}

/// Rewrite ERB habits inside tags into minijinja syntax without moving any line.
pub fn preprocess(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 32);
    let mut stack: Vec<String> = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while let Some(pos) = src[i..].find("<%") {
        let start = i + pos;
        out.push_str(&src[i..start]);
        let rest = &src[start + 2..];
        if let Some(after) = rest.strip_prefix('%') {
            // ERB's `<%%` is a literal `<%`.
            let _ = after;
            out.push_str("<%= '<%' %>");
            i = start + 3;
            continue;
        }
        if rest.starts_with('#') {
            // Comment: copied as is, with ERB's `-%>` reduced to `%>`.
            match rest.find("%>") {
                Some(end) => {
                    let body = rest[..end].strip_suffix('-').unwrap_or(&rest[..end]);
                    out.push_str("<%");
                    out.push_str(body);
                    out.push_str("%>");
                    i = start + 2 + end + 2;
                }
                None => {
                    out.push_str(&src[start..]);
                    i = src.len();
                }
            }
            continue;
        }
        let is_expr = rest.starts_with('=');
        let body_start = start + 2 + usize::from(is_expr);
        let Some(body_end) = find_tag_end(src, body_start) else {
            // Unclosed tag: let the engine report it with its line.
            out.push_str(&src[start..]);
            i = src.len();
            break;
        };
        let mut body = &src[body_start..body_end];
        if !is_expr {
            body = body.strip_prefix('-').unwrap_or(body);
        }
        let trim_after = body.ends_with('-');
        if trim_after {
            body = &body[..body.len() - 1];
        }
        let body = rewrite_at_names(body);
        let mut next = body_end + 2;
        if is_expr {
            out.push_str("<%=");
            out.push_str(&body);
            // ERB `-%>` after an expression eats the newline that follows; keeping it inside
            // the tag (where it is plain whitespace) drops it from the output but not the
            // line count.
            if trim_after && bytes.get(next) == Some(&b'\n') {
                out.push('\n');
                next += 1;
            }
            out.push_str("%>");
        } else {
            out.push_str("<%");
            out.push_str(&rewrite_block_keyword(&body, &mut stack));
            out.push_str("%>");
        }
        i = next;
    }
    out.push_str(&src[i..]);
    out
}

/// Index of the `%>` closing the tag whose body starts at `from`, skipping string literals.
fn find_tag_end(src: &str, from: usize) -> Option<usize> {
    let b = src.as_bytes();
    let mut quote: Option<u8> = None;
    let mut j = from;
    while j < b.len() {
        let c = b[j];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    j += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c == b'"' || c == b'\'' {
                    quote = Some(c);
                } else if c == b'%' && b.get(j + 1) == Some(&b'>') {
                    return Some(j);
                }
            }
        }
        j += 1;
    }
    None
}

/// `@name` -> internal identifier, outside string literals.
fn rewrite_at_names(body: &str) -> Cow<'_, str> {
    if !body.contains('@') {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len() + 8);
    let mut quote: Option<char> = None;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                    out.push(c);
                } else if c == '@'
                    && chars
                        .peek()
                        .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
                {
                    out.push_str(AT_PREFIX);
                } else {
                    out.push(c);
                }
            }
        }
    }
    Cow::Owned(out)
}

/// Track open blocks; turn `end` into the matching `end<keyword>` and `elsif` into `elif`.
fn rewrite_block_keyword(body: &str, stack: &mut Vec<String>) -> String {
    let trimmed = body.trim_start();
    let lead = &body[..body.len() - trimmed.len()];
    let kw_len = trimmed
        .find(|c: char| !is_ident_char(c))
        .unwrap_or(trimmed.len());
    let (kw, tail) = trimmed.split_at(kw_len);
    if BLOCK_KEYWORDS.contains(&kw) || (kw == "set" && !tail.contains('=')) {
        stack.push(kw.to_string());
        return body.to_string();
    }
    if kw == "elsif" {
        return format!("{lead}elif{tail}");
    }
    if kw == "end" {
        return match stack.pop() {
            Some(open) => format!("{lead}end{open}{tail}"),
            None => body.to_string(),
        };
    }
    if let Some(open) = kw.strip_prefix("end") {
        if stack.last().is_some_and(|s| s == open) {
            stack.pop();
        }
    }
    body.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(vars: &str) -> TemplateContext {
        let vars: yaml::Mapping = yaml::from_str(vars).unwrap();
        TemplateContext::new(
            &[
                ("app", Some("demo")),
                ("env", Some("dev")),
                ("namespace", Some("demo")),
                ("docker_image", Some("demo/web:1")),
            ],
            &vars,
        )
    }

    fn render(src: &str, vars: &str) -> Result<String, TemplateError> {
        Renderer::new()
            .render(Path::new("web/deployment.yaml"), src, &ctx(vars))
            .map(|c| c.into_owned())
    }

    #[test]
    fn expressions_builtins_and_at_variables() {
        let out = render(
            "image: <%= docker_image %>\nreplicas: <%= @replicas %>\nn: <%= replicas %>\n",
            "replicas: 2",
        )
        .unwrap();
        assert_eq!(out, "image: demo/web:1\nreplicas: 2\nn: 2\n");
    }

    #[test]
    fn nested_variables_keep_their_shape_and_order() {
        let vars = "db: {host: pg, port: 5432}\nports: [80, 443]";
        assert_eq!(
            render("<%= @db.host %>:<%= db.port %>", vars).unwrap(),
            "pg:5432"
        );
        assert_eq!(
            render(
                "<% for k, v in @db|items %><%= k %>=<%= v %>;<% end %>",
                vars
            )
            .unwrap(),
            "host=pg;port=5432;"
        );
        assert_eq!(render("<%= @ports[1] %>", vars).unwrap(), "443");
        let err = render("x\n<%= @db.user %>", vars).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("`@db.user` is undefined"), "{err}");
        assert_eq!(
            render("<% if @nope is defined %>a<% else %>b<% end %>", vars).unwrap(),
            "b"
        );
        assert_eq!(render("a: <%= @unset %>", "unset: null").unwrap(), "a: ");
    }

    #[test]
    fn seed_job_line_renders_unchanged_apart_from_the_tag() {
        let out = render(
            "        image: <%= docker_image %>\n        command: [\"bin/job/migrate.sh\"]\n",
            "",
        )
        .unwrap();
        assert_eq!(
            out,
            "        image: demo/web:1\n        command: [\"bin/job/migrate.sh\"]\n"
        );
    }

    #[test]
    fn blocks_with_endif_and_with_erb_end_keep_yaml_indentation() {
        let src = "spec:\n  <% if @replicas > 1 %>\n  replicas: <%= @replicas %>\n  <% endif %>\n  x: 1\n";
        assert_eq!(
            render(src, "replicas: 3").unwrap(),
            "spec:\n  replicas: 3\n  x: 1\n"
        );
        let erb = "spec:\n<% if @replicas > 1 -%>\n  replicas: <%= @replicas %>\n<% else -%>\n  paused: true\n<% end -%>\n  x: 1\n";
        assert_eq!(
            render(erb, "replicas: 3").unwrap(),
            "spec:\n  replicas: 3\n  x: 1\n"
        );
        assert_eq!(
            render(erb, "replicas: 1").unwrap(),
            "spec:\n  paused: true\n  x: 1\n"
        );
        let each = "ports:\n<% for p in @ports %>\n- <%= p %>\n<% end %>\n";
        assert_eq!(
            render(each, "ports: [80, 443]").unwrap(),
            "ports:\n- 80\n- 443\n"
        );
    }

    #[test]
    fn comments_vanish_and_erb_trim_after_expression_eats_one_newline() {
        assert_eq!(render("<%# note %>\na: 1\n", "").unwrap(), "a: 1\n");
        assert_eq!(render("a: <%= app -%>\nb\n", "").unwrap(), "a: demob\n");
    }

    #[test]
    fn at_inside_strings_is_left_alone() {
        assert_eq!(
            render("e: <%= \"ops@example.com\" %>\n", "").unwrap(),
            "e: ops@example.com\n"
        );
    }

    #[test]
    fn undefined_variable_names_file_line_and_variable() {
        let err = render("a: 1\nb: <%= @missing %>\n", "").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(err.to_string(), "web/deployment.yaml:2: undefined variable `@missing` (define it in .kubes/variables/base.yaml or <env>.yaml)");
        let err = render("a: 1\n\nc: <%= nope %>\n", "").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("web/deployment.yaml:3: undefined variable `nope`"),
            "{err}"
        );
    }

    #[test]
    fn unset_docker_image_is_an_error_with_a_hint() {
        let vars = yaml::Mapping::new();
        let ctx = TemplateContext::new(&[("docker_image", None)], &vars);
        let err = Renderer::new()
            .render(
                Path::new("migrate/job.yaml"),
                "image: <%= docker_image %>\n",
                &ctx,
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("migrate/job.yaml:1: undefined variable `docker_image` (set `image`"),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = render("a: 1\n<% if %>\n", "").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(
            err.to_string()
                .starts_with("web/deployment.yaml:2: syntax error"),
            "{err}"
        );
    }

    #[test]
    fn helpers_base64_and_env_var() {
        assert_eq!(
            render("<%= 'hi' | base64 %> <%= base64(@pw) %>", "pw: secret").unwrap(),
            "aGk= c2VjcmV0"
        );
        std::env::set_var("KUBES_TEMPLATE_TEST_VAR", "x1");
        assert_eq!(
            render("<%= env_var('KUBES_TEMPLATE_TEST_VAR') %>", "").unwrap(),
            "x1"
        );
        assert_eq!(
            render("<%= env_var('KUBES_TEMPLATE_TEST_UNSET', 'd') %>", "").unwrap(),
            "d"
        );
        let err = render("a\n<%= env_var('KUBES_TEMPLATE_TEST_UNSET') %>", "").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.message
                .contains("KUBES_TEMPLATE_TEST_UNSET` is not set"),
            "{err}"
        );
    }

    #[test]
    fn brace_syntax_of_other_tools_passes_through() {
        assert_eq!(
            render("a: '{{ .Values.x }}' <%= app %>", "").unwrap(),
            "a: '{{ .Values.x }}' demo"
        );
    }

    #[test]
    fn broken_templates_are_errors_not_panics() {
        for src in [
            "<%",
            "<%=",
            "<%#",
            "%>",
            "<%-",
            "<%%>",
            "<% end %>",
            "<% endfor %>",
            "<%= @ %>",
            "<%= @1 %>",
            "<% if x %>",
            "<% for %>",
            "<%= 'unterminated %>",
            "<%= \"a\\\" %>",
            "<%=-%>",
            "<% - %>",
            "<%= @é %>",
            "é<%= app %>ü",
            "<% set x %>y<% end %><%= x %>",
            "<%= range(10000000)|length %>",
            "<% macro m() %><%= m() %><% end %><%= m() %>",
        ] {
            let _ = render(src, "a: 1");
        }
    }

    #[test]
    fn preprocess_never_moves_lines() {
        let src = "a\n<% if x -%>\nb <%= @y -%>\nc\n<% end %>\nd <%# c -%>\n";
        assert_eq!(preprocess(src).lines().count(), src.lines().count());
    }
}
