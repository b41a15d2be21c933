//! The documentation holds together: every relative link in the README and `docs/`
//! resolves (to a file, and to a heading where it names one), and every setting in
//! `booket.example.toml` is in the configuration reference, under its table.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn markdown_files() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    let mut stack = vec![root().join("docs")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Targets of `[text](target)` and `![alt](target)`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        out.push(after[..end].trim().to_owned());
        rest = &after[end..];
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| slug(h.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for link in links(&prose(&text)) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", file.display()));
                continue;
            }
            if !anchor.is_empty() {
                let text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{}: {link} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
    assert!(
        checked > 20,
        "only {checked} links found: is the parser still right?"
    );
}

/// `(table, key)` for every setting the example gives, commented-out ones included.
fn example_settings() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("booket.example.toml")).unwrap();
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        if line.starts_with('[') {
            table = line.to_owned();
            continue;
        }
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        let key = key.trim();
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            out.push((table.clone(), key.to_owned()));
        }
    }
    out
}

#[test]
fn every_example_setting_is_in_the_reference_under_its_table() {
    let reference =
        std::fs::read_to_string(root().join("docs/operators/configuration.md")).unwrap();
    let section = |table: &str| {
        let head = format!("## `{table}`");
        let start = reference.find(&head)?;
        let body = &reference[start + head.len()..];
        Some(body[..body.find("\n## ").unwrap_or(body.len())].to_owned())
    };
    let settings = example_settings();
    assert!(settings.len() > 60, "{settings:?}");
    let mut missing = Vec::new();
    for (table, key) in settings {
        // `[[receipts.previous_keys]]` is documented in `[receipts]`.
        let documented_in = match table.as_str() {
            "[[receipts.previous_keys]]" => "[receipts]",
            t => t,
        };
        match section(documented_in) {
            Some(s) if s.contains(&format!("`{key}`")) => {}
            _ => missing.push(format!("{table} {key}")),
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
