//! The cover letter: one A4 page that goes on top of the document, with
//! the practice's letterhead and the recipient's address placed for a
//! French window envelope.
//!
//! Measures (see `docs/paper.md`) are in millimetres from the top-left
//! corner of the sheet, as a person checks them with a ruler; they are
//! turned into PDF points (from the bottom-left) only when drawing.
//!
//! The page uses the standard Helvetica faces in WinAnsiEncoding (see
//! [`super::winansi`]), so nothing is embedded; lines are wrapped with the
//! fonts' real glyph widths.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, ObjectId, Stream, StringFormat, dictionary};

use super::PaperError;
use super::winansi::{self, Face};
use crate::config::PaperConfig;

/// A4, in millimetres.
pub const PAGE_WIDTH_MM: f32 = 210.0;
pub const PAGE_HEIGHT_MM: f32 = 297.0;

/// Left edge of the recipient's address block. A DL envelope (220 × 110
/// mm) has its 100 × 45 mm window 20 mm from its right edge and 15 mm from
/// its bottom, so the window starts 100 mm from the envelope's left edge;
/// the 210 mm sheet can slide 10 mm sideways inside, so the window covers
/// 90–200 mm of the sheet at worst, 100–190 mm always. The block starts at
/// 105 mm and is at most [`ADDRESS_WIDTH_MM`] wide: 105–190 mm.
pub const ADDRESS_LEFT_MM: f32 = 105.0;
/// Top of the address block. The sheet folded in three (99 mm panels) can
/// sit anywhere in the 110 mm height of the envelope: the window (50–95 mm
/// from the envelope's top) shows 39–84 mm of the sheet at one extreme and
/// 50–95 mm at the other. The block lies in 50–76 mm, seen either way.
pub const ADDRESS_TOP_MM: f32 = 50.0;
/// Widest the block may be (La Poste: the address within 85 mm).
pub const ADDRESS_WIDTH_MM: f32 = 85.0;
/// La Poste / NF Z 10-011: at most 6 lines of at most 38 characters.
pub const ADDRESS_MAX_LINES: usize = 6;
pub const ADDRESS_MAX_CHARS: usize = 38;
/// The area the address must stay inside whatever the sheet's position in
/// the envelope (what the tests check), `(left, top, right, bottom)`.
pub const WINDOW_SAFE_MM: (f32, f32, f32, f32) = (100.0, 45.0, 190.0, 84.0);

pub(super) const MARGIN_LEFT_MM: f32 = 20.0;
pub(super) const TEXT_WIDTH_MM: f32 = 170.0;
const LETTERHEAD_TOP_MM: f32 = 15.0;
/// The letterhead stays left of 90 mm, out of the window even when the
/// sheet slides.
const LETTERHEAD_WIDTH_MM: f32 = 70.0;
/// Town and date: below the first fold (99 mm), so never in the window
/// under the address, where sorting machines would read them.
pub(super) const DATE_TOP_MM: f32 = 104.0;
pub(super) const SUBJECT_TOP_MM: f32 = 118.0;
/// The invitation to MSSanté, at the foot of the page.
pub(super) const FOOTER_TOP_MM: f32 = 272.0;
pub(super) const FOOTER_GAP_MM: f32 = 8.0;

pub(super) const BODY_SIZE: f32 = 10.5;
pub(super) const SMALL_SIZE: f32 = 9.0;
pub(super) const FOOTER_SIZE: f32 = 8.0;
const ADDRESS_SIZE: f32 = 10.0;
/// A smaller address font is never used: it would no longer be read by
/// sorting machines.
const ADDRESS_MIN_SIZE: f32 = 8.0;

const MSSANTE_INVITATION: &str = "Pour recevoir nos prochains courriers plus vite et en toute sécurité, \
     rejoignez la messagerie sécurisée de santé MSSanté : https://mssante.fr";

/// The practice, as printed at the top left of every letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letterhead {
    pub practice_name: String,
    pub practitioner: String,
    pub specialty: Option<String>,
    pub address_lines: Vec<String>,
    pub postcode: String,
    pub town: String,
    pub phone: Option<String>,
    /// The practice's MSSanté address.
    pub email: String,
    pub rpps: Option<String>,
}

impl Letterhead {
    pub fn from_config(config: &PaperConfig) -> Letterhead {
        Letterhead {
            practice_name: config.practice_name.clone(),
            practitioner: config.practitioner.clone(),
            specialty: config.specialty.clone(),
            address_lines: config.address_lines.clone(),
            postcode: config.postcode.clone(),
            town: config.town.clone(),
            phone: config.phone.clone(),
            email: config.email.clone(),
            rpps: config.rpps.clone(),
        }
    }
}

/// A correspondent's postal address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PostalAddress {
    /// "Dr Paul MARTIN", or the practice's name.
    pub name_line: String,
    /// Street lines, from the most precise (floor, building) to the street.
    pub lines: Vec<String>,
    pub postcode: String,
    pub town: String,
    /// None or "France" for France; otherwise printed last, in capitals.
    pub country: Option<String>,
}

impl PostalAddress {
    /// The lines as printed in the window, by the La Poste rules: at most
    /// 6 lines of at most 38 characters (longer lines are wrapped between
    /// words), the last but country `POSTCODE TOWN` in capitals without
    /// accents, empty lines left out. An address that cannot fit is an
    /// error rather than a letter the post may not deliver.
    pub fn window_lines(&self) -> Result<Vec<String>, PaperError> {
        let bad = |why: String| PaperError::Address(why);
        let name = winansi::clean_line(&self.name_line);
        let postcode = winansi::clean_line(&self.postcode);
        let town = postal_capitals(&winansi::clean_line(&self.town));
        if name.is_empty() {
            return Err(bad("the name line is empty".into()));
        }
        if postcode.is_empty() || town.is_empty() {
            return Err(bad("the postcode and the town are needed".into()));
        }
        let country = self
            .country
            .as_deref()
            .map(winansi::clean_line)
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("france"))
            .map(|c| postal_capitals(&c));
        if country.is_none()
            && !(postcode.len() == 5 && postcode.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad(format!(
                "`{postcode}` is not a French postcode (5 digits)"
            )));
        }
        let mut lines = Vec::new();
        for line in std::iter::once(&self.name_line).chain(&self.lines) {
            lines.extend(wrap_chars(&winansi::clean_line(line), ADDRESS_MAX_CHARS));
        }
        let last = format!("{postcode} {town}");
        if last.chars().count() > ADDRESS_MAX_CHARS {
            return Err(bad(format!(
                "`{last}` is longer than {ADDRESS_MAX_CHARS} characters"
            )));
        }
        lines.push(last);
        lines.extend(country);
        if lines.len() > ADDRESS_MAX_LINES {
            return Err(bad(format!(
                "{} lines once wrapped; the post reads at most {ADDRESS_MAX_LINES}",
                lines.len()
            )));
        }
        Ok(lines)
    }

    /// The address on one line, for logs of the paper summary.
    pub fn one_line(&self) -> String {
        let mut parts = vec![winansi::clean_line(&self.name_line)];
        parts.extend(self.lines.iter().map(|l| winansi::clean_line(l)));
        parts.push(format!(
            "{} {}",
            winansi::clean_line(&self.postcode),
            winansi::clean_line(&self.town)
        ));
        if let Some(country) = &self.country {
            parts.push(winansi::clean_line(country));
        }
        parts.retain(|p| !p.is_empty());
        parts.join(", ")
    }
}

/// Capitals without accents, as La Poste wants the town and the country.
fn postal_capitals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' | 'À' | 'Â' | 'Ä' | 'Á' | 'Ã' | 'Å' => {
                out.push('A')
            }
            'ç' | 'Ç' => out.push('C'),
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => out.push('E'),
            'î' | 'ï' | 'í' | 'ì' | 'Î' | 'Ï' | 'Í' | 'Ì' => out.push('I'),
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' | 'Ô' | 'Ö' | 'Ó' | 'Ò' | 'Õ' => out.push('O'),
            'ù' | 'û' | 'ü' | 'ú' | 'Ù' | 'Û' | 'Ü' | 'Ú' => out.push('U'),
            'ÿ' | 'Ÿ' | 'ý' | 'Ý' => out.push('Y'),
            'ñ' | 'Ñ' => out.push('N'),
            'œ' | 'Œ' => out.push_str("OE"),
            'æ' | 'Æ' => out.push_str("AE"),
            other => out.extend(other.to_uppercase()),
        }
    }
    out
}

/// Cuts `line` into pieces of at most `max` characters, between words when
/// it can.
fn wrap_chars(line: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for word in line.split(' ').filter(|w| !w.is_empty()) {
        let mut word = word.to_string();
        loop {
            let needed = current.chars().count() + usize::from(!current.is_empty());
            if needed + word.chars().count() <= max {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(&word);
                break;
            }
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
                continue;
            }
            // A single word longer than a line: cut it.
            let cut: String = word.chars().take(max).collect();
            word = word.chars().skip(max).collect();
            out.push(cut);
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// What the cover letter says.
#[derive(Debug, Clone)]
pub struct CoverLetter<'a> {
    pub letterhead: &'a Letterhead,
    pub recipient: &'a PostalAddress,
    /// The document's title ("Compte rendu de coloscopie").
    pub title: &'a str,
    /// "DUPONT Marie, née le 12/03/1961".
    pub patient: Option<&'a str>,
    /// Replaces the standard paragraph; blank lines separate paragraphs.
    pub body: Option<&'a str>,
    pub date: time::Date,
}

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// "le 23 novembre 2026", "le 1er mai 2026".
pub fn french_date(date: time::Date) -> String {
    let day = date.day();
    let month = MONTHS[usize::from(u8::from(date.month())) - 1];
    if day == 1 {
        format!("le 1er {month} {}", date.year())
    } else {
        format!("le {day} {month} {}", date.year())
    }
}

fn pt(mm: f32) -> f32 {
    mm * 72.0 / 25.4
}

/// Operations of one page, placed in millimetres from the top-left corner.
pub(super) struct Page {
    pub(super) ops: Vec<Operation>,
}

impl Page {
    /// One line whose top (ascender) is `top_mm` from the top edge.
    pub(super) fn line(&mut self, x_mm: f32, top_mm: f32, face: Face, size: f32, text: &[u8]) {
        if text.is_empty() {
            return;
        }
        // Helvetica's ascender is 0.718 of the size.
        let baseline = pt(PAGE_HEIGHT_MM - top_mm) - 0.718 * size;
        let font = match face {
            Face::Regular => "F1",
            Face::Bold => "F2",
        };
        self.ops.extend([
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec![font.into(), size.into()]),
            Operation::new("Td", vec![pt(x_mm).into(), baseline.into()]),
            Operation::new(
                "Tj",
                vec![Object::String(text.to_vec(), StringFormat::Literal)],
            ),
            Operation::new("ET", vec![]),
        ]);
    }

    /// Lines wrapped to `width_mm`, from `top_mm`; returns the top of the
    /// next line.
    pub(super) fn paragraph(
        &mut self,
        x_mm: f32,
        top_mm: f32,
        width_mm: f32,
        face: Face,
        size: f32,
        text: &str,
    ) -> f32 {
        let mut top = top_mm;
        for line in wrap(text, face, size, pt(width_mm)) {
            self.line(x_mm, top, face, size, &line);
            top += leading_mm(size);
        }
        top
    }
}

pub(super) fn leading_mm(size: f32) -> f32 {
    size * 1.25 * 25.4 / 72.0
}

/// The words of WinAnsi `text`, French punctuation kept with its word: no
/// line starts with `»`, `:`, `;`, `!` or `?`, none ends with `«` (the
/// space between stays an ordinary one, so the text reads and copies
/// normally).
fn glued_words(text: &[u8]) -> Vec<Vec<u8>> {
    const OPENING: &[u8] = b"\xab"; // «
    const CLOSING: &[&[u8]] = &[b"\xbb", b":", b";", b"!", b"?"];
    let mut words: Vec<Vec<u8>> = Vec::new();
    let mut glue_next = false;
    for word in text.split(|b| *b == b' ').filter(|w| !w.is_empty()) {
        match words.last_mut() {
            Some(last) if glue_next || CLOSING.contains(&word) => {
                last.push(b' ');
                last.extend_from_slice(word);
            }
            _ => words.push(word.to_vec()),
        }
        glue_next = word == OPENING;
    }
    words
}

/// Encodes and wraps `text` to `width` points using the glyph widths; a
/// word wider than the line is cut between characters.
fn wrap(text: &str, face: Face, size: f32, width: f32) -> Vec<Vec<u8>> {
    let space = winansi::width(b" ", face, size);
    let mut lines = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut current_width = 0.0;
    for word in glued_words(&winansi::encode(text)) {
        let mut word = word;
        loop {
            let w = winansi::width(&word, face, size);
            let extra = if current.is_empty() { 0.0 } else { space };
            if current_width + extra + w <= width {
                if !current.is_empty() {
                    current.push(b' ');
                }
                current.extend_from_slice(&word);
                current_width += extra + w;
                break;
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
                current_width = 0.0;
                continue;
            }
            // Longer than a line on its own: as many bytes as fit (at
            // least one, so this always ends).
            let mut fit = 1;
            while fit < word.len() && winansi::width(&word[..=fit], face, size) <= width {
                fit += 1;
            }
            lines.push(word[..fit].to_vec());
            word.drain(..fit);
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Draws the letter; returns the document (one page) and its page tree's
/// id, to which the merge appends the document's pages.
pub(crate) fn render(letter: &CoverLetter<'_>) -> Result<(Document, ObjectId), PaperError> {
    let address = letter.recipient.window_lines()?;
    let mut page = Page { ops: Vec::new() };

    draw_letterhead(&mut page, letter.letterhead);
    draw_address(&mut page, &address)?;

    let town = winansi::clean_line(&letter.letterhead.town);
    page.line(
        ADDRESS_LEFT_MM,
        DATE_TOP_MM,
        Face::Regular,
        BODY_SIZE,
        &winansi::encode(&format!("{town}, {}", french_date(letter.date))),
    );

    let title = winansi::clean_line(letter.title);
    let subject = match letter.patient.map(winansi::clean_line) {
        Some(patient) if !patient.is_empty() => format!("Objet : {title} – {patient}"),
        _ => format!("Objet : {title}"),
    };
    let mut top = page.paragraph(
        MARGIN_LEFT_MM,
        SUBJECT_TOP_MM,
        TEXT_WIDTH_MM,
        Face::Bold,
        BODY_SIZE,
        &subject,
    );
    top += leading_mm(BODY_SIZE) * 1.5;

    let standard;
    let body = match letter.body {
        Some(body) if !body.trim().is_empty() => body,
        _ => {
            standard = standard_paragraph(&title, letter.patient);
            standard.as_str()
        }
    };
    let mut paragraphs = vec!["Cher confrère,".to_string()];
    paragraphs.extend(split_paragraphs(body));
    paragraphs.push(
        "Je vous prie de croire, cher confrère, à l’expression de mes sentiments confraternels."
            .into(),
    );
    for paragraph in &paragraphs {
        top = page.paragraph(
            MARGIN_LEFT_MM,
            top,
            TEXT_WIDTH_MM,
            Face::Regular,
            BODY_SIZE,
            paragraph,
        );
        top += leading_mm(BODY_SIZE) * 0.8;
    }
    top += leading_mm(BODY_SIZE);
    top = page.paragraph(
        ADDRESS_LEFT_MM,
        top,
        ADDRESS_WIDTH_MM,
        Face::Bold,
        BODY_SIZE,
        &letter.letterhead.practitioner,
    );
    if let Some(specialty) = &letter.letterhead.specialty {
        top = page.paragraph(
            ADDRESS_LEFT_MM,
            top,
            ADDRESS_WIDTH_MM,
            Face::Regular,
            SMALL_SIZE,
            specialty,
        );
    }
    if top > FOOTER_TOP_MM - FOOTER_GAP_MM {
        return Err(PaperError::Letter(
            "the letter's text does not fit on one page".into(),
        ));
    }
    page.paragraph(
        MARGIN_LEFT_MM,
        FOOTER_TOP_MM,
        TEXT_WIDTH_MM,
        Face::Regular,
        FOOTER_SIZE,
        MSSANTE_INVITATION,
    );

    page_document(page)
}

/// The paragraph used when the caller gives no body.
fn standard_paragraph(title: &str, patient: Option<&str>) -> String {
    match patient.map(winansi::clean_line) {
        Some(patient) if !patient.is_empty() => {
            format!("Veuillez trouver ci-joint le document « {title} » concernant {patient}.")
        }
        _ => format!("Veuillez trouver ci-joint le document « {title} »."),
    }
}

/// Paragraphs separated by blank lines; single line breaks within a
/// paragraph are spaces (the text is wrapped again).
fn split_paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(winansi::clean_line(&std::mem::take(&mut current)));
            }
        } else {
            current.push(' ');
            current.push_str(line);
        }
    }
    if !current.trim().is_empty() {
        out.push(winansi::clean_line(&current));
    }
    out
}

pub(super) fn draw_letterhead(page: &mut Page, head: &Letterhead) {
    let x = MARGIN_LEFT_MM;
    let w = LETTERHEAD_WIDTH_MM;
    let mut top = LETTERHEAD_TOP_MM;
    top = page.paragraph(x, top, w, Face::Bold, 11.0, &head.practice_name);
    top = page.paragraph(x, top, w, Face::Bold, BODY_SIZE, &head.practitioner);
    if let Some(specialty) = &head.specialty {
        top = page.paragraph(x, top, w, Face::Regular, SMALL_SIZE, specialty);
    }
    top += 1.0;
    for line in &head.address_lines {
        top = page.paragraph(x, top, w, Face::Regular, SMALL_SIZE, line);
    }
    let town = format!("{} {}", head.postcode, head.town);
    top = page.paragraph(x, top, w, Face::Regular, SMALL_SIZE, &town);
    if let Some(phone) = &head.phone {
        top = page.paragraph(
            x,
            top,
            w,
            Face::Regular,
            SMALL_SIZE,
            &format!("Tél. : {phone}"),
        );
    }
    top = page.paragraph(
        x,
        top,
        w,
        Face::Regular,
        SMALL_SIZE,
        &format!("MSSanté : {}", head.email),
    );
    if let Some(rpps) = &head.rpps {
        page.paragraph(
            x,
            top,
            w,
            Face::Regular,
            SMALL_SIZE,
            &format!("RPPS : {rpps}"),
        );
    }
}

pub(super) fn draw_address(page: &mut Page, lines: &[String]) -> Result<(), PaperError> {
    let encoded: Vec<Vec<u8>> = lines.iter().map(|l| winansi::encode(l)).collect();
    let widest = encoded
        .iter()
        .map(|l| winansi::width(l, Face::Regular, 1.0))
        .fold(0.0, f32::max);
    let mut size = ADDRESS_SIZE;
    if widest * size > pt(ADDRESS_WIDTH_MM) {
        size = pt(ADDRESS_WIDTH_MM) / widest;
    }
    if size < ADDRESS_MIN_SIZE {
        return Err(PaperError::Address(format!(
            "a line is too wide for the {ADDRESS_WIDTH_MM} mm of the envelope window"
        )));
    }
    let mut top = ADDRESS_TOP_MM;
    for line in &encoded {
        page.line(ADDRESS_LEFT_MM, top, Face::Regular, size, line);
        top += leading_mm(size);
    }
    Ok(())
}

/// A one-page document holding `page`, with the two standard fonts.
pub(super) fn page_document(page: Page) -> Result<(Document, ObjectId), PaperError> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let mut fonts = lopdf::Dictionary::new();
    for (name, face) in [("F1", Face::Regular), ("F2", Face::Bold)] {
        let id = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => face.base_font(),
            "Encoding" => "WinAnsiEncoding",
        });
        fonts.set(name, id);
    }
    let resources = doc.add_object(dictionary! { "Font" => fonts });
    let content = Content {
        operations: page.ops,
    }
    .encode()
    .map_err(|e| PaperError::Pdf(format!("cannot encode the letter: {e}")))?;
    let mut stream = Stream::new(dictionary! {}, content);
    // Text compresses well; a failure only leaves it uncompressed.
    let _ = stream.compress();
    let content_id = doc.add_object(stream);
    let media_box: Vec<Object> = vec![
        0.into(),
        0.into(),
        pt(PAGE_WIDTH_MM).into(),
        pt(PAGE_HEIGHT_MM).into(),
    ];
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
        "Resources" => resources,
        "MediaBox" => media_box,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![Object::Reference(page_id)],
            "Count" => 1,
        }),
    );
    let catalog = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog);
    // No title or subject in the metadata: they would carry patient data
    // into every PDF viewer's "properties" box and print spooler log.
    let info = doc.add_object(dictionary! {
        "Producer" => Object::string_literal("Facteur"),
    });
    doc.trailer.set("Info", info);
    Ok((doc, pages_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> PostalAddress {
        PostalAddress {
            name_line: "Dr Paul MARTIN".into(),
            lines: vec!["Cabinet médical".into(), "12 rue de l’Église".into()],
            postcode: "79000".into(),
            town: "Niort".into(),
            country: None,
        }
    }

    #[test]
    fn paper_address_lines_follow_la_poste_rules() {
        let lines = address().window_lines().unwrap();
        assert_eq!(
            lines,
            [
                "Dr Paul MARTIN",
                "Cabinet médical",
                "12 rue de l’Église",
                "79000 NIORT"
            ]
        );
        let mut a = address();
        a.town = "Saint-Étienne-la-Thillaye".into();
        assert_eq!(
            a.window_lines().unwrap().last().unwrap(),
            "79000 SAINT-ETIENNE-LA-THILLAYE"
        );
        a.lines = vec!["Résidence les Jardins de la Vallée, bâtiment B, escalier 3".into()];
        let lines = a.window_lines().unwrap();
        assert!(lines.iter().all(|l| l.chars().count() <= 38), "{lines:?}");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn paper_address_refuses_what_cannot_be_delivered() {
        let mut a = address();
        a.postcode = "7900".into();
        assert!(matches!(a.window_lines(), Err(PaperError::Address(m)) if m.contains("7900")));
        let mut a = address();
        a.lines = (0..5).map(|i| format!("ligne {i}")).collect();
        assert!(matches!(a.window_lines(), Err(PaperError::Address(_))));
        let mut a = address();
        a.name_line = " \u{202e} ".into();
        assert!(a.window_lines().is_err());
        // Abroad: any postcode, the country in capitals last.
        let mut a = address();
        a.postcode = "1000".into();
        a.town = "Bruxelles".into();
        a.country = Some("Belgique".into());
        let lines = a.window_lines().unwrap();
        assert_eq!(&lines[lines.len() - 2..], ["1000 BRUXELLES", "BELGIQUE"]);
    }

    #[test]
    fn paper_dates_in_french() {
        use time::macros::date;
        assert_eq!(french_date(date!(2026 - 11 - 23)), "le 23 novembre 2026");
        assert_eq!(french_date(date!(2026 - 08 - 01)), "le 1er août 2026");
    }

    #[test]
    fn paper_wrapping_uses_glyph_widths() {
        let text = "Veuillez trouver ci-joint le compte rendu de la consultation de votre patiente";
        let lines = wrap(text, Face::Regular, 10.0, 150.0);
        assert!(lines.len() > 1);
        for line in &lines {
            assert!(winansi::width(line, Face::Regular, 10.0) <= 150.0);
        }
        let joined: Vec<u8> = lines.join(&b' ');
        assert_eq!(joined, winansi::encode(text));
        // French punctuation never starts or ends a line alone.
        let text = "Objet de la demande : un bilan « cœur et foie » complet ; merci !";
        for width in (60..300).step_by(7) {
            for line in wrap(text, Face::Regular, 10.0, width as f32) {
                assert!(
                    !line.starts_with(b"\xbb") && !line.starts_with(b":"),
                    "{line:?}"
                );
                assert!(!line.ends_with(b"\xab"), "{line:?}");
            }
        }
        // A word wider than the line is cut, not lost.
        let long = "x".repeat(100);
        let lines = wrap(&long, Face::Bold, 10.0, 50.0);
        assert_eq!(lines.concat().len(), 100);
    }
}
