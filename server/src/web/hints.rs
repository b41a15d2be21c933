//! Preload hints for a page that embeds the widget. The loader (`booket.js`) starts the
//! widget's files as soon as it runs, but it runs only once the page has fetched it and
//! parsed up to it; a page that names the files in its `<head>` lets the browser start
//! them while it is still reading the HTML. Their names change with every build
//! (content-hashed, tools/finish-widget.mjs), so the hints are written from the build's
//! `files.json` when the page is rendered: Booket's own pages do it here, and a host
//! page rendered by a server can do the same from `/booket/files.json`
//! (docs/embedding.md). The first answers each placeholder needs can be named the same way
//! ([`read_hints`]).

use html_escape::encode_double_quoted_attribute as attr;
use std::path::Path;

/// The files of one build, as `files.json` names them.
#[derive(serde::Deserialize)]
struct Files {
    wasm: String,
    js: String,
    css: String,
}

/// A file name as the build writes it: nothing that could leave the directory or the
/// attribute.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The `<link>` tags for the build in `assets`, served under `base` (`/booket`, or the
/// widget server's `https://…/booket`): the wasm fetched with CORS as the loader's
/// `fetch` asks for it (so the browser uses the preloaded answer, not a second download),
/// the glue as a module preload, and the stylesheet itself (marked, so the loader does not
/// add it again). Empty when the build names no files (a page without hints still works:
/// the loader fetches them).
pub fn preload_hints(assets: &Path, base: &str) -> String {
    let Ok(text) = std::fs::read_to_string(assets.join("files.json")) else {
        return String::new();
    };
    let Ok(files) = serde_json::from_str::<Files>(&text) else {
        return String::new();
    };
    if ![&files.wasm, &files.js, &files.css]
        .iter()
        .all(|n| plain(n))
    {
        return String::new();
    }
    let base = attr(base.trim_end_matches('/'));
    format!(
        "<link rel=\"preload\" href=\"{base}/{wasm}\" as=\"fetch\" type=\"application/wasm\" crossorigin>\n\
         <link rel=\"modulepreload\" href=\"{base}/{js}\">\n\
         <link rel=\"stylesheet\" href=\"{base}/{css}\" data-booket-css>\n",
        wasm = files.wasm,
        js = files.js,
        css = files.css,
    )
}

/// The `<link>` tags that start a placeholder's first two answers (its element and its
/// week) while the page is read, for every `(form, element)` on the page; `api` is where
/// the API lives (`/api`, or the widget server's `https://…/api`). The URL is the one the
/// loader asks for (public/booket.js: GET, the contract's arguments in order, the first
/// week with `week` and `hold` empty, form-encoded as `URLSearchParams` does), fetched with
/// CORS as the loader's `fetch` is, so the browser gives the loader the preloaded answer
/// instead of asking again. A hint asked but not taken costs one cached read.
pub fn read_hints<'a>(
    api: &str,
    placeholders: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    use app::contract::{arg, ELEMENT, WEEK};
    let api = api.trim_end_matches('/');
    let mut out = String::new();
    for (form, element) in placeholders {
        for endpoint in [ELEMENT, WEEK] {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for name in endpoint.args {
                let value = match *name {
                    arg::FORM => form,
                    arg::ELEMENT => element,
                    _ => "",
                };
                query.append_pair(name, value);
            }
            let href = format!("{api}/{}?{}", endpoint.name, query.finish());
            out.push_str(&format!(
                "<link rel=\"preload\" href=\"{}\" as=\"fetch\" crossorigin>\n",
                attr(&href)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_hints_name_the_loaders_first_calls() {
        let hints = read_hints("/api", [("demo", "tid"), ("demo", "jobcenter")]);
        assert_eq!(
            hints,
            "<link rel=\"preload\" href=\"/api/element?form=demo&amp;element=tid\" as=\"fetch\" crossorigin>\n\
             <link rel=\"preload\" href=\"/api/week?form=demo&amp;element=tid&amp;week=&amp;hold=\" as=\"fetch\" crossorigin>\n\
             <link rel=\"preload\" href=\"/api/element?form=demo&amp;element=jobcenter\" as=\"fetch\" crossorigin>\n\
             <link rel=\"preload\" href=\"/api/week?form=demo&amp;element=jobcenter&amp;week=&amp;hold=\" as=\"fetch\" crossorigin>\n"
        );
        // Encoded as the browser's URLSearchParams encodes (space as `+`), and nothing a
        // designer typed leaves the attribute.
        let odd = read_hints("https://booking.kommune.dk/api/", [("a b", "x\"><script>")]);
        assert!(odd.contains("href=\"https://booking.kommune.dk/api/element?form=a+b&amp;element=x%22%3E%3Cscript%3E\""), "{odd}");
        assert!(!odd.contains("<script>"), "{odd}");
    }

    fn build_with(files_json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("files.json"), files_json).unwrap();
        dir
    }

    #[test]
    fn hints_name_the_builds_files() {
        let dir = build_with(
            r#"{"wasm":"app-0123456789abcdef.wasm","js":"app-fedcba9876543210.js","css":"booket-00aa11bb22cc33dd.css","loader":"booket.js"}"#,
        );
        let hints = preload_hints(dir.path(), "/booket");
        assert_eq!(
            hints,
            "<link rel=\"preload\" href=\"/booket/app-0123456789abcdef.wasm\" as=\"fetch\" type=\"application/wasm\" crossorigin>\n\
             <link rel=\"modulepreload\" href=\"/booket/app-fedcba9876543210.js\">\n\
             <link rel=\"stylesheet\" href=\"/booket/booket-00aa11bb22cc33dd.css\" data-booket-css>\n"
        );
        let elsewhere = preload_hints(dir.path(), "https://booking.kommune.dk/booket/");
        assert!(elsewhere
            .contains("href=\"https://booking.kommune.dk/booket/app-0123456789abcdef.wasm\""));
    }

    #[test]
    fn no_build_or_a_strange_one_gives_no_hints() {
        let none = tempfile::tempdir().unwrap();
        assert_eq!(preload_hints(none.path(), "/booket"), "");
        for bad in [
            "not json",
            r#"{"wasm":"app.wasm"}"#,
            r#"{"wasm":"../secret","js":"app.js","css":"booket.css"}"#,
            r#"{"wasm":"a\" onload=\"x","js":"app.js","css":"booket.css"}"#,
            r#"{"wasm":"","js":"app.js","css":"booket.css"}"#,
        ] {
            assert_eq!(
                preload_hints(build_with(bad).path(), "/booket"),
                "",
                "{bad}"
            );
        }
    }
}
