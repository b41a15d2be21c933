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

/// A file that passed the checks, with a safe name.
pub struct File<'a> {
    pub name: String,
    pub content_type: String,
    pub bytes: &'a [u8],
}

/// The last path component, without control characters, at most 150 characters.
pub fn safe_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(150).collect();
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

/// Checks count, size, total size and type; the first problem found is the answer.
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
        if f.bytes.len() > limits.max_file_bytes {
            return Err(refuse(FileProblem::TooLarge, &name, limits.max_file_bytes));
        }
        total += f.bytes.len();
        if total > limits.max_total_bytes {
            return Err(refuse(
                FileProblem::TotalTooLarge,
                &name,
                limits.max_total_bytes,
            ));
        }
        match extension(&name) {
            Some(ext) if limits.allowed_types.contains(&ext) => {}
            _ => return Err(refuse(FileProblem::Type, &name, 0)),
        }
        let content_type = if f.content_type.len() <= 100 && f.content_type.contains('/') {
            f.content_type.clone()
        } else {
            "application/octet-stream".into()
        };
        out.push(File {
            name,
            content_type,
            bytes: &f.bytes,
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

    fn up(name: &str, size: usize) -> Upload {
        Upload {
            name: name.into(),
            content_type: "application/pdf".into(),
            bytes: vec![0; size],
        }
    }

    fn limits() -> UploadLimits {
        UploadLimits {
            max_files: 2,
            max_file_bytes: 100,
            max_total_bytes: 150,
            allowed_types: vec!["pdf".into(), "png".into()],
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
        assert_eq!(
            problem(checked(&[up("a.pdf", 100), up("b.PNG", 50)], &l)),
            None
        );
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
        for bad in ["virus.exe", "noext", "a.pdf.js", "script.html"] {
            assert_eq!(
                problem(checked(&[up(bad, 1)], &l)),
                Some(FileProblem::Type),
                "{bad}"
            );
        }
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
