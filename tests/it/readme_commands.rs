//! Story: a user copies a command from the README or the docs, and kubes accepts it. Every
//! `kubes ...` line in a code block of README.md and docs/*.md (also `$ kubes ...` and
//! `VAR=value kubes ...`; comments after ` #` removed) is parsed with the CLI's own clap
//! definition (`kubes::cli::Cli`), not run. A synopsis line is parsed with its optional parts
//! (`[--dir DIR]`) in and the first of each set of alternatives (`rust|python|js`).

use clap::Parser;

use crate::common::repo;

/// The `kubes` command lines in the code blocks of a Markdown text, with their line numbers.
fn command_lines(markdown: &str) -> Vec<(usize, String)> {
    let mut out = vec![];
    let mut in_block = false;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let mut cmd = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        // Leading environment assignments: `KUBES_ENV=prod kubes plan`.
        while let Some((first, rest)) = cmd.split_once(' ') {
            if first.contains('=') && !first.starts_with('-') {
                cmd = rest.trim_start();
            } else {
                break;
            }
        }
        if !cmd.starts_with("kubes ") && cmd != "kubes" {
            continue;
        }
        let cmd = match cmd.find(" #") {
            Some(at) => &cmd[..at],
            None => cmd,
        };
        out.push((i + 1, cmd.trim_end().to_string()));
    }
    out
}

/// Words of a command line: whitespace-separated, quotes grouping, up to a redirection or
/// pipe; a synopsis' brackets dropped (their content kept) and alternatives `a|b` reduced to
/// the first.
fn words(line: &str) -> Vec<String> {
    let mut words = vec![];
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, '[' | ']') => {}
            (None, c) => word.push(c),
        }
    }
    if started || !word.is_empty() {
        words.push(word);
    }
    // A shell redirection or pipe ends what kubes parses (`kubes hooks audit > FILE`).
    if let Some(end) = words
        .iter()
        .position(|w| matches!(w.as_str(), ">" | ">>" | "2>" | "|" | "&&" | ";"))
    {
        words.truncate(end);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('|') {
            Some((first, _)) if !first.is_empty() => first.to_string(),
            _ => w,
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn documents() -> Vec<(String, String)> {
    let mut docs = vec![("README.md".to_string(), repo().join("README.md"))];
    let mut names: Vec<_> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    names.sort();
    for p in names {
        docs.push((
            format!("docs/{}", p.file_name().unwrap().to_string_lossy()),
            p,
        ));
    }
    docs.into_iter()
        .map(|(name, path)| (name, std::fs::read_to_string(path).unwrap()))
        .collect()
}

#[test]
fn every_kubes_command_in_the_readme_and_docs_is_one_the_cli_accepts() {
    let mut checked = 0;
    let mut refused = vec![];
    for (name, text) in documents() {
        for (line, cmd) in command_lines(&text) {
            checked += 1;
            if let Err(e) = kubes::cli::Cli::try_parse_from(words(&cmd)) {
                let why = e.to_string();
                let why = why.lines().next().unwrap_or_default().to_string();
                refused.push(format!("{name}:{line}: {cmd}\n    {why}"));
            }
        }
    }
    assert!(checked >= 10, "only {checked} command lines found");
    assert!(
        refused.is_empty(),
        "commands the CLI refuses:\n{}",
        refused.join("\n")
    );
}

#[test]
fn the_flags_the_readme_promises_exist() {
    for line in [
        "kubes deploy --image myapp:1.2.3 --force-conflicts",
        "kubes apply --no-force-conflicts --prune --dry-run",
        "kubes deploy --lock-timeout 90s",
        "kubes deploy --no-wait",
        "kubes prune -y",
        "kubes prune --yes --dry-run",
        "kubes diff --image myapp:1.2.3",
        "kubes delete -y --wait",
    ] {
        if let Err(e) = kubes::cli::Cli::try_parse_from(line.split_whitespace()) {
            panic!("{line}: {e}");
        }
    }
}

#[test]
fn the_extraction_finds_commands_and_reduces_synopses() {
    let md = "text kubes init\n```sh\n$ kubes plan   # the plan\nKUBES_ENV=prod kubes plan\n# kubes compile\nkubes new hook NAME [--lang rust|python|js]\n```\nkubes outside\n";
    let lines: Vec<String> = command_lines(md).into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        lines,
        [
            "kubes plan",
            "kubes plan",
            "kubes new hook NAME [--lang rust|python|js]"
        ]
    );
    assert_eq!(
        words(&lines[2]),
        ["kubes", "new", "hook", "NAME", "--lang", "rust"]
    );
    assert_eq!(words("kubes x 'a b' \"\""), ["kubes", "x", "a b"]);
}
