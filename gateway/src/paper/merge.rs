//! The document's pages appended after the cover letter, in one PDF.
//!
//! The document comes from practice software or from a sender we do not
//! control, so it is checked before anything is printed: an encrypted PDF
//! (the printer could not open it either, or would print it with
//! restrictions silently ignored), a file that does not parse, or one
//! without pages is refused with a clear error. lopdf bounds nesting depth
//! and decompressed sizes while parsing; every call that can fail returns
//! an error here rather than panicking. (The release build aborts on
//! panic, so `catch_unwind` would protect nothing there; no panic of lopdf
//! 0.47 on hostile input is known.)

use std::collections::BTreeMap;

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::PaperError;

/// Largest document accepted, in bytes: a scanned report of a hundred
/// pages fits; more is not a letter.
pub const MAX_DOCUMENT_BYTES: usize = 100 * 1024 * 1024;

/// What the document folder needs to know before accepting a PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfInfo {
    pub pages: usize,
    pub encrypted: bool,
}

/// Parses `bytes` and reports its page count and whether it is encrypted.
/// Fails only on what is not a readable PDF (encryption is reported, not
/// refused, so the caller can say which problem it is).
pub fn inspect_pdf(bytes: &[u8]) -> Result<PdfInfo, PaperError> {
    let doc = load(bytes)?;
    Ok(PdfInfo {
        pages: doc.get_pages().len(),
        encrypted: is_encrypted(&doc),
    })
}

/// The document, loaded and checked: not encrypted, at least one page.
pub(crate) fn load_document(bytes: &[u8]) -> Result<Document, PaperError> {
    let doc = load(bytes)?;
    if is_encrypted(&doc) {
        return Err(PaperError::Encrypted);
    }
    if doc.get_pages().is_empty() {
        return Err(PaperError::NoPages);
    }
    Ok(doc)
}

fn load(bytes: &[u8]) -> Result<Document, PaperError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(PaperError::Unreadable(format!(
            "larger than {} MiB",
            MAX_DOCUMENT_BYTES / 1024 / 1024
        )));
    }
    // A PDF starts with its header within the first kilobyte; checking it
    // first gives a plain answer for a Word file or an image.
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(PaperError::Unreadable("not a PDF file".into()));
    }
    Document::load_mem(bytes).map_err(|e| PaperError::Unreadable(e.to_string()))
}

/// Encrypted as loaded: either the password is unknown (the trailer still
/// names `/Encrypt`) or lopdf opened it with the empty password.
fn is_encrypted(doc: &Document) -> bool {
    doc.trailer.has(b"Encrypt") || doc.was_encrypted()
}

/// Page attributes a page may inherit from its ancestors in the page tree
/// (ISO 32000-1, 7.7.3.4). They are copied onto each page before the page
/// moves to the letter's tree, so sizes, rotation and resources stay.
const INHERITED: [&[u8]; 4] = [b"MediaBox", b"CropBox", b"Resources", b"Rotate"];

/// Appends every page of `document` to `letter` (whose page tree is
/// `letter_pages`) and returns the combined file.
pub(crate) fn append(
    mut letter: Document,
    letter_pages: ObjectId,
    mut document: Document,
) -> Result<Vec<u8>, PaperError> {
    let pages: Vec<ObjectId> = document.get_pages().into_values().collect();
    if pages.is_empty() {
        return Err(PaperError::NoPages);
    }
    for &page_id in &pages {
        let page = materialize(&document, page_id)?;
        document.objects.insert(page_id, Object::Dictionary(page));
    }
    // Renumbering changes the ids of the pages: find them again by order.
    document.renumber_objects_with(letter.max_id + 1);
    let pages: Vec<ObjectId> = document.get_pages().into_values().collect();
    letter.max_id = letter.max_id.max(document.max_id);

    let skip: std::collections::HashSet<ObjectId> = document
        .objects
        .iter()
        .filter(|(_, object)| {
            matches!(
                object
                    .as_dict()
                    .and_then(|d| d.get(b"Type"))
                    .and_then(Object::as_name),
                Ok(b"Catalog" | b"Pages")
            )
        })
        .map(|(id, _)| *id)
        .collect();
    let objects: BTreeMap<ObjectId, Object> = std::mem::take(&mut document.objects);
    for (id, object) in objects {
        if !skip.contains(&id) {
            letter.objects.insert(id, object);
        }
    }
    for &page_id in &pages {
        let page = letter
            .get_dictionary_mut(page_id)
            .map_err(|e| PaperError::Unreadable(format!("page {page_id:?}: {e}")))?;
        page.set("Parent", letter_pages);
    }
    let tree = letter
        .get_dictionary_mut(letter_pages)
        .map_err(|e| PaperError::Pdf(e.to_string()))?;
    let mut kids = tree
        .get(b"Kids")
        .and_then(Object::as_array)
        .cloned()
        .unwrap_or_default();
    kids.extend(pages.iter().map(|id| Object::Reference(*id)));
    let count = i64::try_from(kids.len()).unwrap_or(i64::MAX);
    tree.set("Kids", kids);
    tree.set("Count", count);

    // The document's catalog is gone: what only it referenced (outlines,
    // structure tree, forms) would be dead weight.
    letter.prune_objects();
    let mut out = Vec::new();
    letter
        .save_to(&mut out)
        .map_err(|e| PaperError::Pdf(format!("cannot write the PDF: {e}")))?;
    Ok(out)
}

/// The page's dictionary with its inherited attributes made its own.
fn materialize(doc: &Document, page_id: ObjectId) -> Result<Dictionary, PaperError> {
    let unreadable = |e: lopdf::Error| PaperError::Unreadable(format!("page tree: {e}"));
    let mut page = doc.get_dictionary(page_id).map_err(unreadable)?.clone();
    for key in INHERITED {
        if page.has(key) {
            continue;
        }
        if let Some(value) = inherited(doc, page_id, key).map_err(unreadable)? {
            page.set(key, value);
        }
    }
    if !page.has(b"MediaBox") {
        // Required by the standard; readers assume Letter or A4. A4 is
        // what a French practice prints on.
        page.set(
            "MediaBox",
            vec![0.into(), 0.into(), 595.28.into(), 841.89.into()],
        );
    }
    if !page.has(b"Resources") {
        page.set("Resources", Dictionary::new());
    }
    Ok(page)
}

/// The value of `key` from the nearest ancestor of `page_id` having it.
fn inherited(doc: &Document, page_id: ObjectId, key: &[u8]) -> lopdf::Result<Option<Object>> {
    let mut current = page_id;
    let mut visited = std::collections::HashSet::new();
    loop {
        if !visited.insert(current) {
            return Err(lopdf::Error::ReferenceCycle(current));
        }
        let node = doc.get_dictionary(current)?;
        if current != page_id
            && let Ok(value) = node.get(key)
            && !matches!(doc.dereference(value), Ok((_, Object::Null)) | Err(_))
        {
            return Ok(Some(value.clone()));
        }
        match node.get(b"Parent") {
            Ok(Object::Reference(parent)) => current = *parent,
            _ => return Ok(None),
        }
    }
}
