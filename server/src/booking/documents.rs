//! What a booking carries along: the citizen's files (checked against the limits before
//! anything is written) and the PDF summary of the form.

use super::slot_id::SlotRef;
use super::Booket;
use crate::config::{CalendarConfig, UploadLimits};
use crate::summary::{self, Summary};
use app::api::{BookRequest, Upload};
use app::domain::{BookingError, FileProblem};
use app::i18n::{long_date, time_span, weekday_name, Lang};
use chrono::{DateTime, Utc};

pub const SUMMARY_NAME: &str = "Resumé af blanketten.pdf";

/// A file that passed the checks, with a safe name and the Content-Type Booket chose.
pub struct File<'a> {
    pub name: String,
    pub content_type: &'static str,
    pub upload: &'a Upload,
}

/// Characters that change how text is shown without being seen: bidirectional controls
/// (U+202E makes "faktura\u{202E}fdp.xls" look like "fakturaslx.pdf"), zero-width and other
/// format characters, and tag characters.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{61C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// The last path component, without control, bidirectional or other invisible
/// characters, at most 150 characters.
pub fn safe_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .take(150)
        .collect();
    // No leading dots (hidden files) or spaces, however they are mixed (". .pdf").
    let clean = clean
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end()
        .to_owned();
    if clean.is_empty() {
        "fil".into()
    } else {
        clean
    }
}

fn extension(name: &str) -> Option<String> {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty())
}

/// What a file with this extension must look like inside: the Content-Type Booket sends
/// to Graph, and the kinds `infer` may recognise in its first bytes (empty: text, which
/// has no signature and must not look like anything else).
fn expected(ext: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match ext {
        "pdf" => ("application/pdf", &["pdf"]),
        "png" => ("image/png", &["png"]),
        "jpg" | "jpeg" => ("image/jpeg", &["jpg"]),
        "gif" => ("image/gif", &["gif"]),
        "tif" | "tiff" => ("image/tiff", &["tif"]),
        "heic" => ("image/heic", &["heif", "heic"]),
        "txt" => ("text/plain", &[]),
        "csv" => ("text/csv", &[]),
        // Office Open XML and OpenDocument are zip files; `infer` names the kind when
        // its marker is within the bytes it sees, else just "zip".
        "docx" => (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &["docx", "zip"],
        ),
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &["xlsx", "zip"],
        ),
        "odt" => ("application/vnd.oasis.opendocument.text", &["odt", "zip"]),
        "ods" => (
            "application/vnd.oasis.opendocument.spreadsheet",
            &["ods", "zip"],
        ),
        "doc" => ("application/msword", &["doc"]),
        "xls" => ("application/vnd.ms-excel", &["xls"]),
        "rtf" => ("application/rtf", &["rtf"]),
        _ => return None,
    })
}

/// How many of a file's first bytes are looked at.
const SNIFF: usize = 8192;

/// Whether a file's first bytes fit its extension.
fn content_fits(kinds: &[&str], head: &[u8]) -> bool {
    match infer::get(head) {
        Some(found) => kinds.contains(&found.extension()),
        // Text: no signature, and no NUL bytes either (binary data renamed to .txt).
        None => kinds.is_empty() && !head.contains(&0),
    }
}

/// Checks count, size, total size, type by name and by content; the first problem found is
/// the answer. The Content-Type of each file is Booket's, from its type, never the
/// browser's.
pub fn checked<'a>(
    files: &'a [Upload],
    limits: &UploadLimits,
) -> Result<Vec<File<'a>>, BookingError> {
    let refuse = |problem, name: &str, limit: usize| BookingError::Files {
        problem,
        name: name.to_owned(),
        limit: limit as u64,
    };
    if files.len() > limits.max_files {
        return Err(refuse(FileProblem::TooMany, "", limits.max_files));
    }
    let mut total = 0;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let name = safe_name(&f.name);
        if f.len > limits.max_file_bytes {
            return Err(refuse(FileProblem::TooLarge, &name, limits.max_file_bytes));
        }
        total += f.len;
        if total > limits.max_total_bytes {
            return Err(refuse(
                FileProblem::TotalTooLarge,
                &name,
                limits.max_total_bytes,
            ));
        }
        let ext = extension(&name).filter(|e| limits.allowed_types.contains(e));
        let Some((content_type, kinds)) = ext.as_deref().and_then(expected) else {
            return Err(refuse(FileProblem::Type, &name, 0));
        };
        let head = f.read_at(0, SNIFF).map_err(|e| {
            tracing::error!("cannot read an upload back: {e}");
            BookingError::Internal
        })?;
        if !content_fits(kinds, &head) {
            return Err(refuse(FileProblem::Content, &name, 0));
        }
        out.push(File {
            name,
            content_type,
            upload: f,
        });
    }
    Ok(out)
}

/// "tirsdag 1. december 2026, 09:00–09:30" in the calendar's time.
pub fn slot_text(cal: &CalendarConfig, slot: &SlotRef) -> String {
    let start = slot.start.with_timezone(&cal.time_zone).naive_local();
    let end = slot.end.with_timezone(&cal.time_zone).naive_local();
    format!(
        "{} {}, {}",
        weekday_name(Lang::Da, start.date()),
        long_date(Lang::Da, start.date()),
        time_span(start, end)
    )
}

pub fn summary_pdf(
    booket: &Booket,
    req: &BookRequest,
    cal: &CalendarConfig,
    slot: &SlotRef,
    files: &[File<'_>],
    now: DateTime<Utc>,
) -> Vec<u8> {
    let title = booket
        .config
        .form(&req.form)
        .map(|f| f.title.as_str())
        .unwrap_or("Blanket");
    let local = now.with_timezone(&cal.time_zone);
    let submitted = format!("{} kl. {}", local.format("%d.%m.%Y"), local.format("%H:%M"));
    let slot = format!("{} ({})", slot_text(cal, slot), cal.name);
    let fields: Vec<(String, String)> = req
        .fields
        .iter()
        .map(|f| {
            (
                if f.label.is_empty() {
                    f.name.clone()
                } else {
                    f.label.clone()
                },
                f.value.clone(),
            )
        })
        .collect();
    let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    summary::render(&Summary {
        title,
        submitted: &submitted,
        slot: &slot,
        fields: &fields,
        files: &names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `size` bytes that really is a PDF.
    fn up(name: &str, size: usize) -> Upload {
        let mut bytes = b"%PDF-1.7\n".to_vec();
        bytes.resize(size.max(bytes.len()), b' ');
        bytes.truncate(size);
        Upload::in_memory(name, bytes)
    }

    fn limits() -> UploadLimits {
        UploadLimits {
            max_files: 2,
            max_file_bytes: 100,
            max_total_bytes: 150,
            allowed_types: vec!["pdf".into(), "png".into(), "txt".into(), "docx".into()],
        }
    }

    fn problem(r: Result<Vec<File<'_>>, BookingError>) -> Option<FileProblem> {
        match r {
            Err(BookingError::Files { problem, .. }) => Some(problem),
            Err(e) => panic!("{e:?}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn limits_on_count_size_total_and_type() {
        let l = limits();
        let png = Upload::in_memory("b.PNG", b"\x89PNG\r\n\x1a\n....IHDR".to_vec());
        assert_eq!(problem(checked(&[up("a.pdf", 100), png], &l)), None);
        assert_eq!(
            problem(checked(
                &[up("a.pdf", 1), up("b.pdf", 1), up("c.pdf", 1)],
                &l
            )),
            Some(FileProblem::TooMany)
        );
        assert_eq!(
            problem(checked(&[up("a.pdf", 101)], &l)),
            Some(FileProblem::TooLarge)
        );
        assert_eq!(
            problem(checked(&[up("a.pdf", 100), up("b.pdf", 51)], &l)),
            Some(FileProblem::TotalTooLarge)
        );
        for bad in ["virus.exe", "noext", "a.pdf.js", "script.html", "old.doc"] {
            assert_eq!(
                problem(checked(&[up(bad, 1)], &l)),
                Some(FileProblem::Type),
                "{bad}"
            );
        }
    }

    #[test]
    fn content_must_match_the_name_and_booket_chooses_the_content_type() {
        let l = limits();
        let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xffPE\0\0".to_vec();
        // A program renamed to .pdf, .txt or .docx.
        for name in ["faktura.pdf", "notes.txt", "cv.docx"] {
            let f = Upload::in_memory(name, exe.clone());
            assert_eq!(
                problem(checked(&[f], &l)),
                Some(FileProblem::Content),
                "{name}"
            );
        }
        // A PNG called .pdf; binary bytes called .txt.
        let png = Upload::in_memory("scan.pdf", b"\x89PNG\r\n\x1a\n....IHDR".to_vec());
        assert_eq!(problem(checked(&[png], &l)), Some(FileProblem::Content));
        let bin = Upload::in_memory("a.txt", vec![b'a', 0, b'b']);
        assert_eq!(problem(checked(&[bin], &l)), Some(FileProblem::Content));
        // Real ones pass, and the browser's word on the type is not used.
        let text = Upload::in_memory("Besked.TXT", "Hej – æøå\n".as_bytes().to_vec());
        let zip = Upload::in_memory("cv.docx", b"PK\x03\x04\x14\x00\x06\x00".to_vec());
        let ok = checked(std::slice::from_ref(&text), &l).unwrap();
        assert_eq!(ok[0].content_type, "text/plain");
        let ok = checked(std::slice::from_ref(&zip), &l).unwrap();
        assert!(ok[0].content_type.contains("wordprocessingml"));
        let ok = [up("a.pdf", 20)];
        assert_eq!(checked(&ok, &l).unwrap()[0].content_type, "application/pdf");
    }

    #[test]
    fn names_lose_bidi_and_invisible_characters() {
        // U+202E turns the rest around: it must not survive into Outlook.
        assert_eq!(safe_name("faktura\u{202E}fdp.xls"), "fakturafdp.xls");
        assert_eq!(safe_name("a\u{200B}b\u{2066}c\u{FEFF}.pdf"), "abc.pdf");
        assert_eq!(safe_name("\u{202E}\u{202D}.pdf"), "pdf");
        // Letters of every script stay.
        assert_eq!(
            safe_name("Ольга Łukasz Ελένη.pdf"),
            "Ольга Łukasz Ελένη.pdf"
        );
    }

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(safe_name("C:\\Users\\x\\lønseddel.pdf"), "lønseddel.pdf");
        assert_eq!(safe_name("../../etc/passwd.pdf"), "passwd.pdf");
        assert_eq!(safe_name("a\u{0}b\nc.pdf"), "abc.pdf");
        assert_eq!(safe_name(""), "fil");
        assert_eq!(safe_name(".hidden.pdf"), "hidden.pdf");
        assert_eq!(safe_name(". .  .pdf "), "pdf");
        assert_eq!(safe_name(" . "), "fil");
    }
}
