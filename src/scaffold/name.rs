//! Which hook names `kubes new hook` accepts: a DNS-1123 label (the name appears in
//! hooks.yaml, in the deploy log and in Kubernetes-style references), and for Rust also a
//! name cargo accepts as a package name.

use super::Lang;
use crate::names::{self, LabelProblem, MAX_LABEL};

/// Why a name was refused, in words a user can act on.
pub fn validate(name: &str, lang: Lang) -> Result<(), String> {
    names::check_dns_label(name).map_err(|problem| match problem {
        LabelProblem::Empty => "it is empty".to_string(),
        LabelProblem::TooLong(n) => {
            format!("it is {n} characters long; at most {MAX_LABEL} are allowed")
        }
        LabelProblem::BadChar(c) => {
            format!("it contains {c:?}; only lowercase letters a-z, digits 0-9 and '-' are allowed")
        }
        LabelProblem::BadEnds => "it must start and end with a letter or a digit".to_string(),
    })?;
    if lang == Lang::Rust {
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err("a Rust package name cannot start with a digit".into());
        }
        if RUST_RESERVED.contains(&name) {
            return Err(format!(
                "`{name}` is a Rust keyword, a built-in crate or a dependency of the scaffold"
            ));
        }
    }
    Ok(())
}

/// Names cargo refuses as a package, or that clash with the scaffold's own dependencies.
#[rustfmt::skip]
const RUST_RESERVED: &[&str] = &[
    // keywords (only those that are valid DNS labels)
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
    "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final",
    "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
    // built-in crates
    "std", "core", "alloc", "proc-macro", "test",
    // the scaffold's dependencies
    "kubes-hook-sdk", "serde", "serde-json", "wit-bindgen", "wasip2",
];

/// A valid name close to `name`, to suggest in the error (empty when there is none).
pub fn suggest(name: &str) -> String {
    names::to_dns_label(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["my-hook", "a", "migrate-wait2", &"a".repeat(63)] {
            assert_eq!(validate(ok, Lang::Rust), Ok(()), "{ok}");
        }
        // A leading digit is a valid label, just not a Rust package name.
        assert_eq!(validate("1st-hook", Lang::Python), Ok(()));
        assert_eq!(validate("1st-hook", Lang::Js), Ok(()));
    }

    #[test]
    fn refuses_what_is_not_a_label_and_says_why() {
        let cases = [
            ("", "empty"),
            ("My-Hook", "contains 'M'"),
            ("my_hook", "contains '_'"),
            ("my.hook", "contains '.'"),
            ("-hook", "start and end"),
            ("hook-", "start and end"),
            (&"a".repeat(64), "64 characters"),
        ];
        for (bad, why) in cases {
            for lang in [Lang::Rust, Lang::Python, Lang::Js] {
                let err = validate(bad, lang).unwrap_err();
                assert!(err.contains(why), "{bad:?}: {err}");
            }
        }
    }

    #[test]
    fn refuses_names_cargo_would_refuse_for_rust_only() {
        assert!(validate("1st-hook", Lang::Rust)
            .unwrap_err()
            .contains("digit"));
        assert!(validate("fn", Lang::Rust).unwrap_err().contains("keyword"));
        assert!(validate("serde", Lang::Rust).is_err());
        assert_eq!(validate("fn", Lang::Js), Ok(()));
    }

    #[test]
    fn suggests_a_valid_label() {
        assert_eq!(suggest("My_Hook"), "my-hook");
        assert_eq!(suggest("--a..b--"), "a-b");
        assert_eq!(suggest("___"), "");
    }
}
