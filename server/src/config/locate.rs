//! Finds the line of a key path in the TOML text, for messages.

/// `calendars[1].outlook_calendar` → `[Key("calendars"), Index(1), Key("outlook_calendar")]`
fn steps(path: &str) -> Vec<Result<&str, usize>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out.push(Ok(&rest[..i]));
            rest = &rest[i..];
            while let Some(close) = rest.find(']') {
                if let Ok(n) = rest[1..close].parse() {
                    out.push(Err(n));
                }
                rest = &rest[close + 1..];
            }
        } else {
            out.push(Ok(rest));
        }
    }
    out
}

/// The line of the deepest part of `path` found in `text`.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for step in steps(path) {
        let next = match step {
            Ok(key) => item.get(key),
            Err(i) => item.get(i),
        };
        match next {
            Some(n) => {
                item = n;
                let here = match n {
                    toml_edit::Item::Table(t) => t.span(),
                    toml_edit::Item::Value(v) => v.span(),
                    _ => None,
                };
                span = here.or(span);
            }
            None => break,
        }
    }
    let start = span?.start.min(text.len());
    Some(text[..start].matches('\n').count() + 1)
}
