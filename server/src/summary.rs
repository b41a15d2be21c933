//! The PDF summary of a submitted form (docs/designers/booking.md, The PDF summary), made in-process with `pdf-writer`.
//!
//! Citizens' names come in every script, so the text is set in DejaVu Sans (regular and
//! bold, freely licensed, `server/fonts/`), which covers Latin with its extensions
//! (Vietnamese included), Greek and Cyrillic. Each PDF embeds only the glyphs it uses
//! (subset with `subsetter`) as CID fonts with a ToUnicode map, so the text copies and
//! extracts exactly as typed; lines wrap by the font's real advance widths. Text is
//! NFC-normalised first (a browser may send "é" as "e" + a combining accent). A character
//! the font lacks is written as "?", so nothing is ever silently dropped.
//!
//! (About 500 lines: PDF objects, font subsetting and real-width wrapping are one piece;
//! the extraction tests in every script are with it.)

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};
use std::collections::BTreeMap;
use ttf_parser::{Face, GlyphId};
use unicode_normalization::UnicodeNormalization;

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
const TITLE: f32 = 16.0;
const LEADING: f32 = 14.0;

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// One of the two faces, with the glyphs a document uses from it.
struct Font {
    face: Face<'static>,
    data: &'static [u8],
    /// PostScript name, e.g. "DejaVuSans-Bold".
    name: &'static str,
    /// Original glyph id → the text it stands for (for ToUnicode).
    used: BTreeMap<u16, String>,
}

impl Font {
    fn load(data: &'static [u8], name: &'static str) -> Font {
        let face = Face::parse(data, 0).expect("the embedded font parses");
        Font {
            face,
            data,
            name,
            used: BTreeMap::new(),
        }
    }

    /// The glyph for `c`, or "?" when the font has none.
    fn glyph(&self, c: char) -> (GlyphId, char) {
        match self.face.glyph_index(c) {
            Some(g) => (g, c),
            None => (self.face.glyph_index('?').unwrap_or(GlyphId(0)), '?'),
        }
    }

    /// Width of `c` at `size`, in points.
    fn width(&self, c: char, size: f32) -> f32 {
        let (g, _) = self.glyph(c);
        let advance = self.face.glyph_hor_advance(g).unwrap_or(0);
        f32::from(advance) / f32::from(self.face.units_per_em()) * size
    }

    fn text_width(&self, s: &str, size: f32) -> f32 {
        s.chars().map(|c| self.width(c, size)).sum()
    }

    /// Notes the glyphs of `text` as used and returns their original ids.
    fn shape(&mut self, text: &str) -> Vec<u16> {
        text.chars()
            .map(|c| {
                let (g, shown) = self.glyph(c);
                self.used.entry(g.0).or_insert_with(|| shown.to_string());
                g.0
            })
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Title,
    Label,
    Value,
    Gap,
}

impl Style {
    fn size(self) -> f32 {
        if self == Style::Title {
            TITLE
        } else {
            BODY
        }
    }

    fn bold(self) -> bool {
        matches!(self, Style::Title | Style::Label)
    }
}

/// Renders the summary as a PDF file.
pub fn render(s: &Summary<'_>) -> Vec<u8> {
    let mut fonts = [
        Font::load(REGULAR, "DejaVuSans"),
        Font::load(BOLD, "DejaVuSans-Bold"),
    ];
    let width = PAGE_W - 2.0 * MARGIN;
    let mut lines: Vec<(Style, String)> = Vec::new();
    {
        let [regular, bold] = &fonts;
        let mut push = |style: Style, text: &str| {
            if style == Style::Gap {
                lines.push((Style::Gap, String::new()));
                return;
            }
            let font = if style.bold() { bold } else { regular };
            let text: String = text.nfc().collect();
            push_wrapped(&mut lines, style, &text, font, width);
        };
        push(Style::Title, s.title);
        push(
            Style::Value,
            "Oplysningerne herunder er som indtastet af borgeren; Booket har ikke kontrolleret dem.",
        );
        push(Style::Gap, "");
        push(Style::Label, "Indsendt");
        push(Style::Value, s.submitted);
        push(Style::Label, "Booket tid");
        push(Style::Value, s.slot);
        push(Style::Gap, "");
        for (label, value) in s.fields {
            push(Style::Label, label);
            let value = if value.trim().is_empty() {
                "–"
            } else {
                value.as_str()
            };
            for paragraph in value.lines() {
                push(Style::Value, paragraph);
            }
        }
        if !s.files.is_empty() {
            push(Style::Gap, "");
            push(Style::Label, "Vedhæftede filer");
            for f in s.files {
                push(Style::Value, &format!("• {f}"));
            }
        }
    }

    // Lay the lines out on as many pages as they need, as glyph ids.
    let per_page = ((PAGE_H - 2.0 * MARGIN) / LEADING) as usize;
    let pages: Vec<Vec<(Style, Vec<u16>)>> = lines
        .chunks(per_page.max(1))
        .map(|page| {
            page.iter()
                .map(|(style, text)| {
                    let font = &mut fonts[usize::from(style.bold())];
                    (*style, font.shape(text))
                })
                .collect()
        })
        .collect();

    let mut pdf = Pdf::new();
    let mut next = 0;
    let mut new_ref = || {
        next += 1;
        Ref::new(next)
    };
    let catalog = new_ref();
    let tree = new_ref();
    // Each font: its glyph ids in the subset (original → new).
    let mut font_refs = Vec::new();
    let mut remaps = Vec::new();
    for font in &fonts {
        let type0 = new_ref();
        let remap = write_font(&mut pdf, font, type0, &mut new_ref);
        font_refs.push(type0);
        remaps.push(remap);
    }
    let page_ids: Vec<(Ref, Ref)> = pages.iter().map(|_| (new_ref(), new_ref())).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().map(|(p, _)| *p))
        .count(page_ids.len() as i32);
    for (lines, (page_id, content_id)) in pages.iter().zip(&page_ids) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(*content_id);
        let mut resources = page.resources();
        let mut names = resources.fonts();
        names.pair(Name(b"F1"), font_refs[0]);
        names.pair(Name(b"F2"), font_refs[1]);
        names.finish();
        resources.finish();
        page.finish();

        let mut content = Content::new();
        let mut y = PAGE_H - MARGIN;
        for (style, glyphs) in lines {
            if *style == Style::Gap {
                y -= LEADING * 0.5;
                continue;
            }
            y -= if *style == Style::Title {
                20.0
            } else {
                LEADING
            };
            let which = usize::from(style.bold());
            let codes: Vec<u8> = glyphs
                .iter()
                .flat_map(|g| remaps[which].get(g).copied().unwrap_or(0).to_be_bytes())
                .collect();
            content.begin_text();
            content.set_font(Name(if which == 1 { b"F2" } else { b"F1" }), style.size());
            content.next_line(MARGIN, y);
            content.show(Str(&codes));
            content.end_text();
        }
        let data = deflate(&content.finish());
        pdf.stream(*content_id, &data).filter(Filter::FlateDecode);
    }
    pdf.finish()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 9)
}

/// Writes one font as a Type0 font over a CIDFontType2 with the subset program, widths
/// and a ToUnicode map; returns original glyph id → glyph id in the subset (= CID).
fn write_font(
    pdf: &mut Pdf,
    font: &Font,
    type0: Ref,
    new_ref: &mut impl FnMut() -> Ref,
) -> BTreeMap<u16, u16> {
    let (cid, descriptor, cmap, file) = (new_ref(), new_ref(), new_ref(), new_ref());
    let mut remapper = subsetter::GlyphRemapper::new();
    let remap: BTreeMap<u16, u16> = font.used.keys().map(|&g| (g, remapper.remap(g))).collect();
    // A subset's name carries a tag of six capitals that names its glyph set.
    let tag: String = {
        let mut h: u32 = 2166136261;
        for g in font.used.keys() {
            h = (h ^ u32::from(*g)).wrapping_mul(16777619);
        }
        (0..6)
            .map(|i| char::from(b'A' + ((h >> (i * 5)) % 26) as u8))
            .collect()
    };
    let base = format!("{tag}+{}", font.name);
    let program = subsetter::subset(font.data, 0, &remapper).unwrap_or_else(|e| {
        // Cannot happen with the fonts shipped; the whole font still renders.
        tracing::error!("font subsetting failed ({e:?}); embedding the whole font");
        font.data.to_vec()
    });

    pdf.type0_font(type0)
        .base_font(Name(base.as_bytes()))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap);

    let units = f32::from(font.face.units_per_em());
    let scale = |v: f32| v / units * 1000.0;
    let mut cid_font = pdf.cid_font(cid);
    cid_font
        .subtype(CidFontType::Type2)
        .base_font(Name(base.as_bytes()))
        .system_info(SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        })
        .font_descriptor(descriptor)
        .default_width(0.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    let mut widths = cid_font.widths();
    for (&old, &new) in &remap {
        let advance = font.face.glyph_hor_advance(GlyphId(old)).unwrap_or(0);
        widths.consecutive(new, [scale(f32::from(advance))]);
    }
    widths.finish();
    cid_font.finish();

    let bbox = font.face.global_bounding_box();
    pdf.font_descriptor(descriptor)
        .name(Name(base.as_bytes()))
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(
            scale(f32::from(bbox.x_min)),
            scale(f32::from(bbox.y_min)),
            scale(f32::from(bbox.x_max)),
            scale(f32::from(bbox.y_max)),
        ))
        .italic_angle(0.0)
        .ascent(scale(f32::from(font.face.ascender())))
        .descent(scale(f32::from(font.face.descender())))
        .cap_height(scale(f32::from(
            font.face.capital_height().unwrap_or(font.face.ascender()),
        )))
        .stem_v(if font.name.ends_with("Bold") {
            120.0
        } else {
            80.0
        })
        .font_file2(file);

    let mut unicode = UnicodeCmap::new(
        Name(b"Custom"),
        SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"UCS"),
            supplement: 0,
        },
    );
    for (old, text) in &font.used {
        if let Some(&new) = remap.get(old) {
            unicode.pair_with_multiple(new, text.chars());
        }
    }
    pdf.cmap(cmap, &unicode.finish());

    let length = program.len() as i32;
    pdf.stream(file, &deflate(&program))
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), length);
    remap
}

/// Word-wraps `text` to `width` by the font's advance widths; words longer than a line
/// are broken.
fn push_wrapped(out: &mut Vec<(Style, String)>, style: Style, text: &str, font: &Font, width: f32) {
    let size = style.size();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if font.text_width(&candidate, size) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            out.push((style, std::mem::take(&mut line)));
        }
        // A single word wider than the line: break it.
        let mut piece = String::new();
        for c in word.chars() {
            if !piece.is_empty() && font.text_width(&piece, size) + font.width(c, size) > width {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(pdf: &[u8]) -> String {
        let doc = lopdf::Document::load_mem(pdf).expect("a readable PDF");
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        doc.extract_text(&pages).expect("text extracts")
    }

    fn summary_with(fields: &[(String, String)], files: &[String]) -> Vec<u8> {
        render(&Summary {
            title: "Ansøgning om borgersamtale",
            submitted: "27.11.2026 kl. 14:05",
            slot: "tirsdag 1. december 2026, 09:00–09:30 (Borgerservice)",
            fields,
            files,
        })
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
        let pdf = summary_with(&fields, &files);
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
            "som indtastet af borgeren",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
    }

    #[test]
    fn names_in_every_script_come_out_exactly() {
        let names = [
            "Łukasz Wójcik",
            "Zoë Nguyễn",
            "Αλέξανδρος Παπαδόπουλος",
            "Ольга Иванова",
            "Đặng Thị Hồng",
            "Øystein Ærøskøbing",
            "Şükrü Ğündoğdu",
        ];
        let fields: Vec<(String, String)> = names
            .iter()
            .map(|n| ("Navn".to_string(), n.to_string()))
            .collect();
        let files = vec!["Паспорт Łukasza.pdf".to_string()];
        let text = text_of(&summary_with(&fields, &files));
        for want in names.iter().copied().chain(["Паспорт Łukasza.pdf"]) {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        assert!(!text.contains('?'), "{text}");
    }

    #[test]
    fn decomposed_input_is_composed_and_missing_glyphs_become_question_marks() {
        // "Nguyễn" as a browser on some systems sends it: e + circumflex + tilde.
        let decomposed = "Nguye\u{302}\u{303}n".to_string();
        let fields = vec![
            ("Navn".to_string(), decomposed),
            ("Andet".to_string(), "漢字 ok".to_string()),
        ];
        let text = text_of(&summary_with(&fields, &[]));
        assert!(text.contains("Nguyễn"), "{text}");
        assert!(text.contains("?? ok"), "{text}");
    }

    #[test]
    fn only_the_glyphs_used_are_embedded() {
        let small = summary_with(&[("Navn".to_string(), "Ada".to_string())], &[]);
        let names = [(
            "Navn".to_string(),
            "Αλέξανδρος Ольга Łukasz Nguyễn".to_string(),
        )];
        let larger = summary_with(&names, &[]);
        // The whole fonts are 1.4 MB; a summary stays small and grows with its letters.
        assert!(small.len() < 40_000, "{} bytes", small.len());
        assert!(larger.len() > small.len());
        assert!(larger.len() < 60_000, "{} bytes", larger.len());
    }

    #[test]
    fn long_values_wrap_by_real_widths_and_flow_onto_more_pages() {
        let long = "Ærlig talt ".repeat(600) + &"W".repeat(300);
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
        assert_eq!(text.chars().filter(|&c| c == 'W').count(), 300);
        // No line is wider than the page, and lines are filled (widths are not guessed
        // generously): each but the last of the run of W's is within one glyph of full.
        let font = Font::load(REGULAR, "DejaVuSans");
        let width = PAGE_W - 2.0 * MARGIN;
        let mut lines = Vec::new();
        push_wrapped(&mut lines, Style::Value, &long, &font, width);
        assert!(lines.iter().all(|(_, l)| font.text_width(l, BODY) <= width));
        let ws: Vec<&String> = lines
            .iter()
            .map(|(_, l)| l)
            .filter(|l| l.starts_with('W'))
            .collect();
        assert!(ws.len() >= 2);
        for l in &ws[..ws.len() - 1] {
            assert!(font.text_width(l, BODY) + font.width('W', BODY) > width);
        }
    }
}
