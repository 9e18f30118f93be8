//! Text for the standard PDF fonts: Unicode reduced to WinAnsiEncoding
//! (Windows-1252), and the widths of its glyphs in Helvetica and
//! Helvetica-Bold.
//!
//! The cover letter uses the 14 standard fonts every PDF reader and printer
//! has, so nothing is embedded and the file stays small. Their encoding
//! covers French entirely (é è à ç ô « » ’ œ €); anything else is replaced
//! by the nearest ASCII letter or `?`, never emitted as bytes the font
//! would draw as something else. Control and bidirectional-override
//! characters are removed: they have no glyph, and an override could
//! reorder what the reader sees.

/// The two faces the letter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Regular,
    Bold,
}

impl Face {
    /// The standard PostScript name (the `/BaseFont` of the font).
    pub fn base_font(self) -> &'static str {
        match self {
            Face::Regular => "Helvetica",
            Face::Bold => "Helvetica-Bold",
        }
    }
}

/// Removes what has no place in a printed line: control characters (a
/// newline becomes a space), bidirectional controls, zero-width characters
/// and the byte-order mark; runs of spaces become one and the ends are
/// trimmed.
pub fn clean_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if matches!(c, '\t' | '\n' | '\r' | '\u{2028}' | '\u{2029}') {
            ' '
        } else {
            c
        };
        if c.is_control() || is_invisible_format(c) {
            continue;
        }
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// Bidirectional embeddings, overrides, isolates and marks; zero-width
/// spaces and joiners; the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// The WinAnsi byte of `c`, if it has one.
fn winansi_byte(c: char) -> Option<u8> {
    let code = c as u32;
    if (0x20..0x7F).contains(&code) || (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    windows_1252_extra(c)
}

/// Appends `c` in WinAnsi, or its stand-in (several bytes for ligature
/// letters such as `Ĳ`), or `?`.
fn push_encoded(c: char, out: &mut Vec<u8>) {
    if let Some(byte) = winansi_byte(c) {
        out.push(byte);
        return;
    }
    match transliterate(c) {
        // Stand-ins are made of WinAnsi characters only.
        Some(text) => out.extend(text.chars().map(|s| winansi_byte(s).unwrap_or(b'?'))),
        None => out.push(b'?'),
    }
}

/// Characters of Windows-1252 in 0x80..=0x9F (where Latin-1 has controls).
fn windows_1252_extra(c: char) -> Option<u8> {
    Some(match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    })
}

/// Latin Extended-A (U+0100..U+017F) without its accents: names from
/// other European languages keep their letters (`Łukasz` → `Lukasz`).
/// Generated from the Unicode decompositions (the WinAnsi letters of the
/// range, Œ œ Š š Ž ž Ÿ, are encoded before this table is consulted).
const LATIN_EXTENDED_A: &str = "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi??JjKkkLlLlLlLlLlNnNnNnnNnOoOoOo??RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";

/// A close ASCII stand-in for characters outside WinAnsi.
fn transliterate(c: char) -> Option<&'static str> {
    let code = c as u32;
    if (0x100..0x180).contains(&code) {
        let index = (code - 0x100) as usize;
        return match c {
            'Ĳ' => Some("IJ"),
            'ĳ' => Some("ij"),
            _ => LATIN_EXTENDED_A.get(index..index + 1).filter(|s| *s != "?"),
        };
    }
    Some(match c {
        // Spaces: the narrow no-break space French puts before « ; : ! ? ».
        '\u{202F}' | '\u{2007}' => "\u{A0}",
        '\u{2000}'..='\u{2006}' | '\u{2008}'..='\u{200A}' | '\u{205F}' | '\u{3000}' => " ",
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2212}' | '\u{2043}' => "-",
        '\u{2032}' | '\u{02BC}' | '\u{02B9}' => "'",
        '\u{2033}' => "\"",
        '\u{2219}' => "\u{2022}",
        'Ș' => "S",
        'ș' => "s",
        'Ț' => "T",
        'ț' => "t",
        '\u{2264}' => "<=",
        '\u{2265}' => ">=",
        '\u{2192}' => "->",
        _ => return None,
    })
}

/// `text` in WinAnsiEncoding, cleaned as by [`clean_line`]. Every
/// character gives at least one byte, so nothing vanishes silently.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in clean_line(text).chars() {
        push_encoded(c, &mut out);
    }
    out
}

/// Width of WinAnsi-encoded `bytes` at `size` points, from the Adobe
/// metrics of the standard fonts.
pub fn width(bytes: &[u8], face: Face, size: f32) -> f32 {
    let table = match face {
        Face::Regular => &HELVETICA,
        Face::Bold => &HELVETICA_BOLD,
    };
    let units: u32 = bytes
        .iter()
        .map(|b| {
            b.checked_sub(32)
                .and_then(|i| table.get(usize::from(i)))
                .copied()
                .map_or(0, u32::from)
        })
        .sum();
    units as f32 * size / 1000.0
}

/// Width of `text` (encoded first) at `size` points.
pub fn text_width(text: &str, face: Face, size: f32) -> f32 {
    width(&encode(text), face, size)
}

// Glyph widths in thousandths of the font size, for codes 32..=255 of
// WinAnsiEncoding; from Adobe's AFM files of Helvetica and Helvetica-Bold.
#[rustfmt::skip]
const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 350,
    556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350,
    350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350, 500, 667,
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 578, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 350,
    556, 350, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350,
    350, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 350, 500, 667,
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278,
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_text_is_winansi() {
        assert_eq!(
            encode("é è à ç ô « » ’ œ € Œ"),
            b"\xe9 \xe8 \xe0 \xe7 \xf4 \xab \xbb \x92 \x9c \x80 \x8c".to_vec()
        );
        assert_eq!(encode("Niort"), b"Niort".to_vec());
    }

    #[test]
    fn outside_winansi_is_replaced_not_dropped() {
        assert_eq!(encode("Łukasz Dvořák"), b"Lukasz Dvor\xe1k".to_vec());
        assert_eq!(encode("Ștefan"), b"Stefan".to_vec());
        assert_eq!(encode("診断"), b"??".to_vec());
        assert_eq!(encode("a\u{202F}:"), b"a\xa0:".to_vec());
        assert_eq!(encode("2 \u{2212} 1"), b"2 - 1".to_vec());
        assert_eq!(encode("😀"), b"?".to_vec());
    }

    #[test]
    fn controls_and_bidi_are_stripped() {
        assert_eq!(
            encode("a\u{202E}b\u{200F}c\u{0}d\u{FEFF}"),
            b"abcd".to_vec()
        );
        assert_eq!(clean_line("  un\n\tdeux  \r\n trois "), "un deux trois");
    }

    #[test]
    fn widths_follow_the_adobe_metrics() {
        // Helvetica: A 667, space 278, é 556; bold A 722.
        assert_eq!(width(b"A", Face::Regular, 1000.0), 667.0);
        assert_eq!(width(b" ", Face::Regular, 1000.0), 278.0);
        assert_eq!(width(b"\xe9", Face::Regular, 1000.0), 556.0);
        assert_eq!(width(b"A", Face::Bold, 1000.0), 722.0);
        assert_eq!(width(b"\x80", Face::Regular, 1000.0), 556.0);
        assert!((text_width("Bonjour", Face::Regular, 10.0) - 34.46).abs() < 0.01);
    }
}
