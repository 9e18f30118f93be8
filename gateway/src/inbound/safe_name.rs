//! File names for exported parts that are safe to create on the box and on
//! the Windows share the practice software usually reads.
//!
//! Every name here comes from a sender we do not control (MIME `filename`,
//! zip entry names), so a name is reduced to one harmless path component:
//! no directory part, no hidden file, no `..`, no characters that Windows,
//! Samba or a shell would treat specially, no device names.

use std::collections::HashSet;

/// Longest name produced, in bytes: well under every file-system limit
/// (255 bytes on Linux, 260 characters for a whole Windows path), leaving
/// room for the import directory and the message key.
pub const MAX_NAME_BYTES: usize = 100;

/// An extension longer than this is not treated as one (`report.` followed
/// by 80 characters is a long name, not an extension worth keeping).
const MAX_EXTENSION_BYTES: usize = 16;

/// Names the export writes itself; attachments never get them.
pub const RESERVED_NAMES: [&str; 5] = [
    "message.eml",
    "message.json",
    "corps.txt",
    "corps.html",
    "xdm",
];

/// Device names Windows refuses as file names, whatever the extension.
const WINDOWS_DEVICES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Turns a name chosen by a sender into a safe file name, or `fallback`
/// (itself sanitized) when nothing usable remains.
///
/// Keeps the last path component (split on `/` and `\`), drops control
/// characters and combining accents, replaces everything outside letters,
/// digits, space and `-_.()+,` by `_`, removes leading dots and dashes and
/// trailing dots and spaces, defuses Windows device names and limits the
/// result to [`MAX_NAME_BYTES`] bytes, keeping the extension.
pub fn safe_file_name(wanted: Option<&str>, fallback: &str) -> String {
    if let Some(name) = wanted.and_then(sanitize) {
        return name;
    }
    // The fallback is ours, but sanitizing it too keeps the guarantee
    // independent of every caller.
    sanitize(fallback).unwrap_or_else(|| "fichier".to_string())
}

fn sanitize(wanted: &str) -> Option<String> {
    let last = wanted.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned = collapse(&replace_characters(last));
    let trimmed = trim_edges(&cleaned);
    if trimmed.is_empty() {
        return None;
    }
    let limited = limit_length(trimmed, MAX_NAME_BYTES);
    let name = defuse_device_name(&limited);
    if name.is_empty() { None } else { Some(name) }
}

fn replace_characters(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            if c.is_control() || is_combining_accent(c) {
                // Control characters are dropped, not replaced: a stray
                // CR/LF/TAB in a folded header is noise, not content.
                // Combining accents come from names in decomposed form
                // (macOS); dropping them leaves the base letter.
                None
            } else if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')' | '+' | ',') {
                Some(c)
            } else if c.is_whitespace() {
                Some(' ')
            } else {
                Some('_')
            }
        })
        .collect()
}

/// U+0300..U+036F, the combining diacritical marks of decomposed Latin.
fn is_combining_accent(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

/// Runs of `_` or of spaces become one, so `a<<<>>>b` reads `a_b`.
fn collapse(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut previous = None;
    for c in name.chars() {
        if (c == '_' || c == ' ') && previous == Some(c) {
            continue;
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

/// Leading dots make hidden files (and `..`); a leading dash reads as an
/// option to command-line tools; Windows silently drops trailing dots and
/// spaces, so `a.pdf.` and `a.pdf` would be the same file there.
fn trim_edges(name: &str) -> &str {
    name.trim_start_matches(['.', '-', ' '])
        .trim_end_matches(['.', ' '])
}

/// Cuts the name to `max` bytes on a character boundary, keeping a short
/// extension so the practice software still recognises the file type.
fn limit_length(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, extension) = split_extension(name);
    let room = max.saturating_sub(extension.len());
    let stem = trim_edges(truncate_to(stem, room));
    format!("{stem}{extension}")
}

/// `("report", ".pdf")`; the extension (with its dot) is empty when there is
/// none or when it is too long to be one.
pub(crate) fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES + 1 => name.split_at(dot),
        _ => (name, ""),
    }
}

pub(crate) fn truncate_to(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Windows reserves `CON`, `NUL`, `COM1`... whatever the extension
/// (`con.txt` opens the console), ignoring trailing spaces before the dot.
fn defuse_device_name(name: &str) -> String {
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    if WINDOWS_DEVICES.iter().any(|d| d.eq_ignore_ascii_case(stem)) {
        // Still under the limit: the device names are at most 4 bytes.
        truncate_to(&format!("_{name}"), MAX_NAME_BYTES).to_string()
    } else {
        name.to_string()
    }
}

/// Hands out distinct safe names within one directory.
///
/// Comparison ignores case: the Windows and Samba shares the practice
/// software reads are case-insensitive, so `CR.pdf` and `cr.pdf` would be
/// the same file there.
#[derive(Debug, Clone, Default)]
pub struct Namer {
    taken: HashSet<String>,
}

impl Namer {
    /// A namer for the top of a message directory: the names the export
    /// writes itself ([`RESERVED_NAMES`]) are never handed out.
    pub fn new() -> Self {
        let mut namer = Self::empty();
        for name in RESERVED_NAMES {
            namer.reserve(name);
        }
        namer
    }

    /// A namer with nothing reserved (e.g. for the `xdm/` subdirectory).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Marks `name` as used; false if it already was.
    pub fn reserve(&mut self, name: &str) -> bool {
        self.taken.insert(name.to_lowercase())
    }

    /// A safe, not yet used name for `wanted` (see [`safe_file_name`]):
    /// `name.pdf`, then `name-2.pdf`, `name-3.pdf`...
    pub fn unique(&mut self, wanted: Option<&str>, fallback: &str) -> String {
        let base = safe_file_name(wanted, fallback);
        if self.reserve(&base) {
            return base;
        }
        let (stem, extension) = split_extension(&base);
        let mut counter: u64 = 2;
        loop {
            let suffix = format!("-{counter}{extension}");
            let stem = truncate_to(stem, MAX_NAME_BYTES.saturating_sub(suffix.len()));
            let candidate = format!("{stem}{suffix}");
            if self.reserve(&candidate) {
                return candidate;
            }
            counter += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(name: &str) -> String {
        safe_file_name(Some(name), "fallback.bin")
    }

    #[test]
    fn keeps_ordinary_names() {
        assert_eq!(safe("compte-rendu.pdf"), "compte-rendu.pdf");
        assert_eq!(safe("CR (1), final+v2.pdf"), "CR (1), final+v2.pdf");
        assert_eq!(safe("Résumé échographie.pdf"), "Résumé échographie.pdf");
    }

    #[test]
    fn keeps_only_the_last_path_component() {
        assert_eq!(safe("../../etc/passwd"), "passwd");
        assert_eq!(safe("C:\\Windows\\evil.exe"), "evil.exe");
        assert_eq!(safe("/absolute/path/x.pdf"), "x.pdf");
        assert_eq!(safe("dir\\..\\..\\x.pdf"), "x.pdf");
        // A trailing separator leaves nothing: fallback.
        assert_eq!(safe("../../"), "fallback.bin");
    }

    #[test]
    fn no_hidden_files_nor_dot_names() {
        assert_eq!(safe(".."), "fallback.bin");
        assert_eq!(safe("."), "fallback.bin");
        assert_eq!(safe("....."), "fallback.bin");
        assert_eq!(safe(".bashrc"), "bashrc");
        assert_eq!(safe("..evil.pdf"), "evil.pdf");
        assert_eq!(safe("report.pdf..."), "report.pdf");
        assert_eq!(safe("report.pdf . ."), "report.pdf");
        assert_eq!(safe("-rf.txt"), "rf.txt");
    }

    #[test]
    fn drops_control_characters_and_nul() {
        assert_eq!(safe("a\u{0}b\r\n\tc.pdf"), "abc.pdf");
        assert_eq!(safe("\u{7f}\u{85}x.pdf"), "x.pdf");
        assert_eq!(safe("\u{0}\u{1}\u{2}"), "fallback.bin");
    }

    #[test]
    fn replaces_special_characters() {
        assert_eq!(safe("a:b*c?d\"e<f>g|h.pdf"), "a_b_c_d_e_f_g_h.pdf");
        assert_eq!(safe("a<<<>>>b.pdf"), "a_b.pdf");
        assert_eq!(safe("a    b.pdf"), "a b.pdf");
        assert_eq!(safe("$HOME;rm -rf.sh"), "_HOME_rm -rf.sh");
        // Right-to-left override, used to disguise "exe" as "pdf".
        assert_eq!(safe("invoice\u{202e}fdp.exe"), "invoice_fdp.exe");
        assert_eq!(safe("photo 📷.jpg"), "photo _.jpg");
        assert_eq!(safe("a\u{a0}b.pdf"), "a b.pdf");
    }

    #[test]
    fn unicode_letters_are_kept_and_decomposed_accents_folded() {
        assert_eq!(
            safe("Ordonnance_Müller_Straße.pdf"),
            "Ordonnance_Müller_Straße.pdf"
        );
        assert_eq!(safe("診断書.pdf"), "診断書.pdf");
        // "é" written as "e" + U+0301 (macOS).
        assert_eq!(safe("Re\u{301}sume\u{301}.pdf"), "Resume.pdf");
    }

    #[test]
    fn windows_device_names_are_defused() {
        assert_eq!(safe("CON.txt"), "_CON.txt");
        assert_eq!(safe("con"), "_con");
        assert_eq!(safe("nul.tar.gz"), "_nul.tar.gz");
        assert_eq!(safe("LPT1 .pdf"), "_LPT1 .pdf");
        assert_eq!(safe("com10.pdf"), "com10.pdf");
        assert_eq!(safe("console.pdf"), "console.pdf");
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension() {
        let long = format!("{}.pdf", "a".repeat(300));
        let name = safe(&long);
        assert_eq!(name.len(), MAX_NAME_BYTES);
        assert!(name.ends_with("a.pdf"));

        // Multi-byte characters are never cut in the middle.
        let long = format!("{}.pdf", "é".repeat(300));
        let name = safe(&long);
        assert!(name.len() <= MAX_NAME_BYTES);
        assert!(name.ends_with(".pdf"));

        // An "extension" of 200 bytes is no extension.
        let long = format!("x.{}", "b".repeat(200));
        assert_eq!(safe(&long).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn empty_names_fall_back() {
        assert_eq!(
            safe_file_name(None, "piece-jointe-1.pdf"),
            "piece-jointe-1.pdf"
        );
        assert_eq!(safe(""), "fallback.bin");
        assert_eq!(safe("   "), "fallback.bin");
        assert_eq!(safe_file_name(Some(""), "../"), "fichier");
    }

    #[test]
    fn namer_deduplicates_ignoring_case() {
        let mut namer = Namer::new();
        assert_eq!(namer.unique(Some("cr.pdf"), "x"), "cr.pdf");
        assert_eq!(namer.unique(Some("CR.pdf"), "x"), "CR-2.pdf");
        assert_eq!(namer.unique(Some("../cr.pdf"), "x"), "cr-3.pdf");
        assert_eq!(namer.unique(Some("noext"), "x"), "noext");
        assert_eq!(namer.unique(Some("noext"), "x"), "noext-2");
    }

    #[test]
    fn namer_never_hands_out_reserved_names() {
        let mut namer = Namer::new();
        assert_eq!(namer.unique(Some("message.eml"), "x"), "message-2.eml");
        assert_eq!(namer.unique(Some("Message.JSON"), "x"), "Message-2.JSON");
        assert_eq!(namer.unique(Some("corps.txt"), "x"), "corps-2.txt");
        assert_eq!(namer.unique(Some("CORPS.HTML"), "x"), "CORPS-2.HTML");
        assert_eq!(namer.unique(Some("xdm"), "x"), "xdm-2");
        let mut plain = Namer::empty();
        assert_eq!(plain.unique(Some("message.eml"), "x"), "message.eml");
    }

    #[test]
    fn namer_suffix_respects_the_length_limit() {
        let mut namer = Namer::new();
        let long = format!("{}.pdf", "a".repeat(300));
        let first = namer.unique(Some(&long), "x");
        let second = namer.unique(Some(&long), "x");
        assert_ne!(first.to_lowercase(), second.to_lowercase());
        assert!(second.len() <= MAX_NAME_BYTES);
        assert!(second.ends_with("-2.pdf"));
    }
}
