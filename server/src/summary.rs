//! The PDF summary of a submitted form (SPEC §5.6), made in-process with `pdf-writer`.
//!
//! It uses the PDF standard fonts (Helvetica) with WinAnsiEncoding, which covers Danish
//! (æ ø å) and the rest of Western European text without embedding a font file. Characters
//! outside that set are replaced by "?". Long values wrap and flow onto further pages.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// What goes into the summary.
pub struct Summary<'a> {
    pub title: &'a str,
    /// e.g. "27.11.2026 kl. 14:05"
    pub submitted: &'a str,
    /// e.g. "tirsdag 1. december 2026, 09:00–09:30 (Borgerservice)"
    pub slot: &'a str,
    pub fields: &'a [(String, String)],
    pub files: &'a [String],
}

const PAGE_W: f32 = 595.0; // A4 in points
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;
const BODY: f32 = 10.5;
const LEADING: f32 = 14.0;

/// Renders the summary as a PDF file.
pub fn render(s: &Summary<'_>) -> Vec<u8> {
    let mut lines: Vec<(Style, String)> = Vec::new();
    let width = PAGE_W - 2.0 * MARGIN;
    push_wrapped(&mut lines, Style::Title, s.title, 16.0, width);
    lines.push((Style::Gap, String::new()));
    push_wrapped(&mut lines, Style::Label, "Indsendt", BODY, width);
    push_wrapped(&mut lines, Style::Value, s.submitted, BODY, width);
    push_wrapped(&mut lines, Style::Label, "Booket tid", BODY, width);
    push_wrapped(&mut lines, Style::Value, s.slot, BODY, width);
    lines.push((Style::Gap, String::new()));
    for (label, value) in s.fields {
        push_wrapped(&mut lines, Style::Label, label, BODY, width);
        let value = if value.trim().is_empty() {
            "–"
        } else {
            value.as_str()
        };
        for paragraph in value.lines() {
            push_wrapped(&mut lines, Style::Value, paragraph, BODY, width);
        }
    }
    if !s.files.is_empty() {
        lines.push((Style::Gap, String::new()));
        push_wrapped(&mut lines, Style::Label, "Vedhæftede filer", BODY, width);
        for f in s.files {
            push_wrapped(&mut lines, Style::Value, &format!("• {f}"), BODY, width);
        }
    }

    // Lay the lines out on as many pages as they need.
    let per_page = ((PAGE_H - 2.0 * MARGIN) / LEADING) as usize;
    let pages: Vec<&[(Style, String)]> = lines.chunks(per_page.max(1)).collect();

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let mut next = 5;
    let mut ids = Vec::new();
    for _ in &pages {
        ids.push((Ref::new(next), Ref::new(next + 1)));
        next += 2;
    }
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(ids.iter().map(|(p, _)| *p))
        .count(ids.len() as i32);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    for (lines, (page_id, content_id)) in pages.iter().zip(&ids) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(*content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(b"F1"), regular);
        fonts.pair(Name(b"F2"), bold);
        fonts.finish();
        resources.finish();
        page.finish();

        let mut content = Content::new();
        let mut y = PAGE_H - MARGIN;
        for (style, text) in lines.iter() {
            let (font, size) = match style {
                Style::Title => (Name(b"F2"), 16.0),
                Style::Label => (Name(b"F2"), BODY),
                Style::Value => (Name(b"F1"), BODY),
                Style::Gap => {
                    y -= LEADING * 0.5;
                    continue;
                }
            };
            y -= if matches!(style, Style::Title) {
                20.0
            } else {
                LEADING
            };
            content.begin_text();
            content.set_font(font, size);
            content.next_line(MARGIN, y);
            content.show(Str(&win_ansi(text)));
            content.end_text();
        }
        let data = content.finish();
        pdf.stream(*content_id, &data);
    }
    pdf.finish()
}

#[derive(Clone, Copy)]
enum Style {
    Title,
    Label,
    Value,
    Gap,
}

/// A generous estimate of a character's width in Helvetica (in em): never too narrow, so
/// wrapped lines never run off the page.
fn char_em(c: char) -> f32 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | '\'' | '|' | ':' | ';' | '!' | ' ' => 0.3,
        'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '-' => 0.4,
        'M' | 'W' | 'm' | 'w' | '@' | '%' | 'Æ' | 'æ' | 'Œ' | 'œ' => 0.95,
        c if c.is_uppercase() => 0.75,
        _ => 0.6,
    }
}

fn text_width(s: &str, size: f32) -> f32 {
    s.chars().map(char_em).sum::<f32>() * size
}

/// Word-wraps `text` to `width`; words longer than a line are broken.
fn push_wrapped(out: &mut Vec<(Style, String)>, style: Style, text: &str, size: f32, width: f32) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if text_width(&candidate, size) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            out.push((style, std::mem::take(&mut line)));
        }
        // A single word wider than the line: break it.
        let mut piece = String::new();
        for c in word.chars() {
            if text_width(&piece, size) + char_em(c) * size > width && !piece.is_empty() {
                out.push((style, std::mem::take(&mut piece)));
            }
            piece.push(c);
        }
        line = piece;
    }
    if !line.is_empty() || text.trim().is_empty() {
        out.push((style, line));
    }
}

/// Text in WinAnsiEncoding (Windows-1252); unknown characters become "?".
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c as u32 {
            0x20..=0x7E | 0xA0..=0xFF => c as u32 as u8,
            _ => match c {
                '€' => 0x80,
                '‚' => 0x82,
                '„' => 0x84,
                '…' => 0x85,
                '‘' => 0x91,
                '’' => 0x92,
                '“' => 0x93,
                '”' => 0x94,
                '•' => 0x95,
                '–' => 0x96,
                '—' => 0x97,
                '™' => 0x99,
                'Œ' => 0x8C,
                'œ' => 0x9C,
                _ => b'?',
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(pdf: &[u8]) -> String {
        let doc = lopdf::Document::load_mem(pdf).expect("a readable PDF");
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        doc.extract_text(&pages).expect("text extracts")
    }

    #[test]
    fn the_summary_holds_title_time_slot_fields_and_files_with_danish_letters() {
        let fields = vec![
            ("Navn".to_string(), "Søren Ærø Åberg".to_string()),
            (
                "Besked".to_string(),
                "Jeg vil gerne tale om min sag – og om <b>andet</b>.".to_string(),
            ),
        ];
        let files = vec!["lønseddel.pdf".to_string()];
        let pdf = render(&Summary {
            title: "Ansøgning om borgersamtale",
            submitted: "27.11.2026 kl. 14:05",
            slot: "tirsdag 1. december 2026, 09:00–09:30 (Borgerservice)",
            fields: &fields,
            files: &files,
        });
        assert!(pdf.starts_with(b"%PDF-"));
        let text = text_of(&pdf);
        for want in [
            "Ansøgning om borgersamtale",
            "27.11.2026 kl. 14:05",
            "tirsdag 1. december 2026, 09:00–09:30 (Borgerservice)",
            "Navn",
            "Søren Ærø Åberg",
            "Jeg vil gerne tale om min sag – og om <b>andet</b>.",
            "Vedhæftede filer",
            "lønseddel.pdf",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
    }

    #[test]
    fn long_values_wrap_and_flow_onto_more_pages() {
        let long = "Ærlig talt ".repeat(600) + &"x".repeat(300);
        let fields = vec![("Lang tekst".to_string(), long.clone())];
        let pdf = render(&Summary {
            title: "T",
            submitted: "s",
            slot: "t",
            fields: &fields,
            files: &[],
        });
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        assert!(
            doc.get_pages().len() >= 2,
            "{} pages",
            doc.get_pages().len()
        );
        let text = text_of(&pdf);
        // Every word arrives; the unbreakable run is split over lines but complete.
        assert_eq!(text.matches("Ærlig").count(), 600);
        assert_eq!(text.chars().filter(|&c| c == 'x').count(), 300);
        // No line is wider than the page.
        let mut lines = Vec::new();
        push_wrapped(&mut lines, Style::Value, &long, BODY, PAGE_W - 2.0 * MARGIN);
        assert!(lines
            .iter()
            .all(|(_, l)| text_width(l, BODY) <= PAGE_W - 2.0 * MARGIN));
    }

    #[test]
    fn characters_outside_win_ansi_become_question_marks() {
        assert_eq!(
            win_ansi("æøå ÆØÅ é ü"),
            vec![0xE6, 0xF8, 0xE5, 0x20, 0xC6, 0xD8, 0xC5, 0x20, 0xE9, 0x20, 0xFC]
        );
        assert_eq!(win_ansi("ł漢"), b"??".to_vec());
        assert_eq!(win_ansi("–€"), vec![0x96, 0x80]);
    }
}
