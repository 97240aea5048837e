//! Template rendering for the scaffolds: `{{key}}` placeholders replaced by values. Templates
//! are code in three languages full of braces, so the syntax is deliberately this small, and
//! a placeholder without a value is an error rather than text left in a generated file.

/// Replace every `{{key}}` in `template` by its value. `Err` names the first placeholder
/// that has no value.
pub fn render(template: &str, values: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| {
            format!(
                "unclosed `{{{{` at byte {}",
                template.len() - rest.len() + start
            )
        })?;
        let key = &after[..end];
        let value = values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("placeholder `{{{{{key}}}}}` has no value"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn replaces_placeholders() {
        let out = render("a {{x}} b {{y}}{{x}}", &[("x", "1"), ("y", "two")]).unwrap();
        assert_eq!(out, "a 1 b two1");
    }

    #[test]
    fn leaves_single_braces_alone() {
        assert_eq!(render("fn f() { g(x) }", &[]).unwrap(), "fn f() { g(x) }");
    }

    #[test]
    fn a_placeholder_without_value_is_an_error() {
        let err = render("hello {{nmae}}", &[("name", "x")]).unwrap_err();
        assert_eq!(err, "placeholder `{{nmae}}` has no value");
        assert!(render("oops {{name", &[("name", "x")])
            .unwrap_err()
            .contains("unclosed"));
    }
}
