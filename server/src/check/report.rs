//! The report: one line per check (passed, cannot tell, failed) with a hint, in sections,
//! and the helpers that word them in Danish or English.

use app::i18n::Lang;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// Cannot tell from here, or works but deserves a look; does not fail the check.
    Warn,
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Line {
    pub status: Status,
    pub text: String,
    /// How to fix it, or how to verify by hand (failed and warned checks).
    pub hint: Option<String>,
}

impl Line {
    /// Not a failure (passed or warned).
    pub fn ok(&self) -> bool {
        self.status != Status::Fail
    }
}

#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sections: Vec<Section>,
}

impl Report {
    pub fn all_ok(&self) -> bool {
        self.sections.iter().all(|s| s.lines.iter().all(Line::ok))
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.sections {
            out.push_str(&s.title);
            out.push('\n');
            for l in &s.lines {
                out.push_str(match l.status {
                    Status::Pass => "  ✓ ",
                    Status::Warn => "  ! ",
                    Status::Fail => "  ✗ ",
                });
                out.push_str(&l.text);
                out.push('\n');
                if let Some(h) = &l.hint {
                    out.push_str("      → ");
                    out.push_str(h);
                    out.push('\n');
                }
            }
        }
        out
    }
}

pub(super) fn t(lang: Lang, da: &str, en: &str) -> String {
    match lang {
        Lang::Da => da.to_owned(),
        Lang::En => en.to_owned(),
    }
}

pub(super) fn pass(text: String) -> Line {
    Line {
        status: Status::Pass,
        text,
        hint: None,
    }
}

pub(super) fn warn(text: String, hint: String) -> Line {
    Line {
        status: Status::Warn,
        text,
        hint: Some(hint),
    }
}

pub(super) fn fail(text: String, hint: String) -> Line {
    Line {
        status: Status::Fail,
        text,
        hint: Some(hint),
    }
}
