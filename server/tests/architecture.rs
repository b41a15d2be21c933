//! The layers of docs/contributing/architecture.md, checked on the source: which top-level
//! module may name which (`crate::x` in its non-test code), and no circles at all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What each module may import, beside `mailbox` (the seam) where it says so.
const ALLOWED: &[(&str, &[&str])] = &[
    ("mailbox", &[]),
    ("store", &[]),
    ("metrics", &[]),
    ("summary", &[]),
    ("der", &[]),
    ("signing", &["der"]),
    ("receipts", &["signing"]),
    ("mail", &["mailbox"]),
    ("exchange", &["mailbox"]),
    ("graph", &["exchange", "mailbox", "metrics", "signing"]),
    ("config", &["der", "graph", "mailbox", "receipts"]),
    ("ews", &["config", "der", "exchange", "mailbox", "metrics"]),
    (
        "booking",
        &[
            "config", "exchange", "mail", "mailbox", "metrics", "receipts", "signing", "store",
            "summary",
        ],
    ),
    ("web", &["booking", "config", "metrics"]),
    (
        "demo",
        &[
            "booking", "config", "ews", "graph", "mailbox", "receipts", "sim", "web",
        ],
    ),
    (
        "check",
        &[
            "booking", "config", "ews", "exchange", "graph", "mailbox", "receipts", "store",
        ],
    ),
];

/// The source without its test modules and comments (what ships).
fn shipped(text: &str) -> String {
    let cut = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..cut]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let top = rel
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            if matches!(top.as_str(), "lib" | "main") || rel.contains("tests") {
                continue;
            }
            let text = shipped(&std::fs::read_to_string(&path).unwrap());
            let named = edges.entry(top.clone()).or_default();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    named.insert(name);
                }
            }
        }
    }
    edges
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, named) in imports() {
        let Some(may) = allowed.get(module.as_str()) else {
            wrong.push(format!("{module}: not in the architecture page's table"));
            continue;
        };
        for n in named {
            if !may.contains(&n.as_str()) {
                wrong.push(format!("{module} imports {n}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn no_module_reaches_itself_through_others() {
    let edges = imports();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = edges[start].iter().collect();
        while let Some(m) = todo.pop() {
            assert_ne!(m, start, "{start} reaches itself");
            if seen.insert(m.clone()) {
                todo.extend(edges.get(m).into_iter().flatten());
            }
        }
    }
}

/// The table above is the page's: a module the page names must exist.
#[test]
fn the_table_names_only_modules_that_exist() {
    let edges = imports();
    for (module, _) in ALLOWED {
        assert!(edges.contains_key(*module), "{module} is gone");
    }
}

/// The parts that must carry ids typed: the core and the seam (with its two sides).
const TYPED_IDS_IN: &[&str] = &[
    "booking",
    "mailbox.rs",
    "graph/mailbox.rs",
    "ews/mailbox.rs",
];

/// A parameter that names a form, element, slot, event, attachment or calendar and is a
/// bare `&str` (outside test modules): the kind the core's types exist to prevent.
fn bare_id_parameters(text: &str) -> Vec<String> {
    const NAMES: &[&str] = &["form", "element", "slot", "event", "attachment", "calendar"];
    let mut found = Vec::new();
    for (i, _) in text.match_indices(": &str") {
        let before = &text[..i];
        let name: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if NAMES
            .iter()
            .any(|n| name == *n || name.starts_with(&format!("{n}_")))
        {
            found.push(name);
        }
    }
    found
}

#[test]
fn the_core_and_the_seam_take_no_id_as_a_bare_str() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for part in TYPED_IDS_IN {
        let path = src.join(part);
        let files: Vec<_> = if path.is_dir() {
            std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| !p.to_string_lossy().contains("tests"))
                .collect()
        } else {
            vec![path]
        };
        for file in files {
            let text = shipped(&std::fs::read_to_string(&file).unwrap());
            for name in bare_id_parameters(&text) {
                wrong.push(format!("{}: {name}: &str", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn a_bare_id_parameter_is_found() {
    assert_eq!(
        bare_id_parameters("fn f(&self, event_id: &str, hold: &str, form: &FormId)"),
        ["event_id"]
    );
    assert_eq!(bare_id_parameters("fn g(calendar: &str)"), ["calendar"]);
    assert!(bare_id_parameters("fn h(formula: &str, slots: &[Slot])").is_empty());
}
