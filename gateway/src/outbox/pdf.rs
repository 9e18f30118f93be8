//! Is this file a PDF we can send, and is it finished?
//!
//! A PDF ends with `%%EOF` (after its cross-reference table): a file that
//! does not yet is most likely still being written, which is a better
//! signal than time alone for scanners that pause between pages. Real
//! parsing (corrupt structure, encryption, page count) is done with lopdf
//! by [`crate::paper::inspect_pdf`] when available.

/// What the bytes look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdfState {
    /// Complete and readable.
    Ready,
    /// Starts like a PDF but has no end marker yet.
    Unfinished,
    /// Refused, with the reason in French.
    Refused(String),
}

/// Looks at the document's bytes.
pub fn pdf_state(bytes: &[u8]) -> PdfState {
    if bytes.is_empty() {
        return PdfState::Refused("le fichier est vide".into());
    }
    // The header may follow a few bytes of garbage (allowed within 1 KiB).
    let head = &bytes[..bytes.len().min(1024)];
    if !contains(head, b"%PDF-") {
        return PdfState::Refused(
            "ce n'est pas un PDF (seuls les documents PDF peuvent être envoyés)".into(),
        );
    }
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    if !contains(tail, b"%%EOF") {
        return PdfState::Unfinished;
    }
    if is_encrypted(bytes) {
        return PdfState::Refused(
            "le PDF est protégé par un mot de passe ou chiffré : enregistrez-le sans protection"
                .into(),
        );
    }
    PdfState::Ready
}

/// An `/Encrypt` entry in a trailer (or cross-reference stream dictionary)
/// means the content cannot be read by the receiver's software.
fn is_encrypted(bytes: &[u8]) -> bool {
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], b"/Encrypt") {
        let after = bytes.get(from + at + 8).copied().unwrap_or(b' ');
        // `/EncryptMetadata` is another key; `/Encrypt` is followed by a
        // delimiter or a space.
        if !after.is_ascii_alphanumeric() {
            return true;
        }
        from += at + 8;
    }
    false
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(pdf_state(b"%PDF-1.4\n1 0 obj\n%%EOF\n"), PdfState::Ready);
        assert_eq!(
            pdf_state(b"%PDF-1.4\n1 0 obj\nstream"),
            PdfState::Unfinished
        );
        assert!(matches!(pdf_state(b""), PdfState::Refused(r) if r.contains("vide")));
        assert!(
            matches!(pdf_state(b"PK\x03\x04"), PdfState::Refused(r) if r.contains("pas un PDF"))
        );
        assert!(matches!(
            pdf_state(b"%PDF-1.6\ntrailer << /Encrypt 5 0 R >>\n%%EOF"),
            PdfState::Refused(r) if r.contains("mot de passe")
        ));
        assert_eq!(
            pdf_state(b"%PDF-1.6\n<< /EncryptMetadata false >>\n%%EOF"),
            PdfState::Ready
        );
    }
}
