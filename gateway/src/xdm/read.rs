//! Reading an `IHE_XDM.ZIP` attachment: its files, and the document entries
//! of its `METADATA.XML` (ebRIM 3.0, IHE ITI-32 "XDM" as used by MSSanté).
//!
//! The archive comes from outside, so it is read defensively: the entry
//! count is capped, every entry's declared size is checked *and* the bytes
//! actually inflated are counted (a zip bomb lies about its sizes),
//! encrypted entries are refused, and entry names are never used as paths —
//! the exporter only takes their last component through
//! [`crate::inbound::safe_name`].
//!
//! Nothing here fails the whole archive for one bad entry or a bad
//! `METADATA.XML`: the practice still gets the documents that could be read,
//! and each difficulty is written down in [`XdmArchive::problems`].

use std::io::{Cursor, Read};

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use serde::Serialize;
use zip::ZipArchive;

use crate::inbound::export::ExportLimits;

/// ebRIM 3.0, the namespace of every element read here.
pub const RIM_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";

/// Classification and identification schemes of an XDSDocumentEntry.
const SCHEME_PATIENT_ID: &str = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427";
const SCHEME_CLASS_CODE: &str = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
const SCHEME_TYPE_CODE: &str = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983";
const SCHEME_FORMAT_CODE: &str = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
const SCHEME_UNIQUE_ID: &str = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";

/// INS assigning authorities: INS-NIR, INS-NIA, INS-NIR de test, INS-NIR de
/// démonstration (FR Core). Other OIDs seen in the wild for the INS are wrong.
pub const INS_AUTHORITIES: [&str; 4] = [
    "1.2.250.1.213.1.4.8",
    "1.2.250.1.213.1.4.9",
    "1.2.250.1.213.1.4.10",
    "1.2.250.1.213.1.4.11",
];

/// The metadata file's name inside each XDM subset.
pub const METADATA_NAME: &str = "METADATA.XML";

#[derive(Debug, thiserror::Error)]
pub enum XdmError {
    #[error("not a readable zip archive: {0}")]
    NotAZip(#[source] zip::result::ZipError),
    #[error("archive has {count} entries, more than the {max} allowed")]
    TooManyEntries { count: usize, max: usize },
    #[error("METADATA.XML is not well-formed XML (near byte {position}): {source}")]
    Metadata {
        position: u64,
        #[source]
        source: quick_xml::Error,
    },
}

/// What could be read from one XDM archive.
#[derive(Debug, Clone, Default)]
pub struct XdmArchive {
    /// The files read, in archive order (directories are not entries).
    pub entries: Vec<XdmEntry>,
    /// Document entries of every `METADATA.XML` found.
    pub documents: Vec<XdmDocument>,
    /// Entries skipped, limits hit, metadata that could not be read.
    pub problems: Vec<String>,
}

/// One file of the archive.
#[derive(Debug, Clone)]
pub struct XdmEntry {
    /// The name as stored in the archive. Untrusted: for messages and
    /// matching only, never to be used as a path.
    pub zip_name: String,
    pub bytes: Vec<u8>,
}

impl XdmEntry {
    /// Last component of the stored name (split on `/` and `\`), unsanitized.
    pub fn base_name(&self) -> &str {
        base_name(&self.zip_name)
    }

    /// True when the stored name is absolute or climbs with `..`: harmless
    /// here (only the base name is used) but a sign of a hostile archive.
    pub fn escapes_archive(&self) -> bool {
        let name = self.zip_name.as_str();
        let absolute = name.starts_with(['/', '\\']) || name.as_bytes().get(1) == Some(&b':');
        absolute || name.split(['/', '\\']).any(|component| component == "..")
    }

    fn is_metadata(&self) -> bool {
        self.base_name().eq_ignore_ascii_case(METADATA_NAME)
    }
}

/// A document entry of `METADATA.XML`, tied to its file when found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdmDocument {
    /// Index in [`XdmArchive::entries`] of the file named by the `URI` slot.
    pub entry: Option<usize>,
    /// Index in [`XdmArchive::entries`] of the `METADATA.XML` it came from.
    pub metadata_entry: usize,
    pub metadata: DocumentMetadata,
}

/// The XDSDocumentEntry attributes the practice software needs to file a
/// document. Every field is optional: senders omit things.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DocumentMetadata {
    /// The patient's identifier (the INS matricule when `ins`).
    pub patient_id: Option<String>,
    /// OID of the authority that assigned `patient_id`.
    pub patient_id_authority: Option<String>,
    /// True when the authority is one of the INS OIDs ([`INS_AUTHORITIES`]).
    pub ins: bool,
    pub class_code: Option<String>,
    pub type_code: Option<String>,
    pub type_display: Option<String>,
    pub format_code: Option<String>,
    pub title: Option<String>,
    pub mime_type: Option<String>,
    /// As written (HL7 DTM, e.g. `20261123153012`).
    pub creation_time: Option<String>,
    /// The `URI` slot: the document's file name in its subset.
    pub uri: Option<String>,
    /// The `hash` slot: SHA-1 of the document, hex.
    pub hash: Option<String>,
    /// The `size` slot, in bytes, as written.
    pub size: Option<String>,
    /// The document's `uniqueId`.
    pub unique_id: Option<String>,
}

/// Reads the archive's files within `limits` and parses its metadata.
///
/// Fails only when there is nothing to read (not a zip) or the entry count
/// is above `limits.max_xdm_entries` (a bomb of tiny files); every other
/// difficulty is a problem in the result.
pub fn read_xdm(zip_bytes: &[u8], limits: &ExportLimits) -> Result<XdmArchive, XdmError> {
    let mut archive = ZipArchive::new(Cursor::new(zip_bytes)).map_err(XdmError::NotAZip)?;
    if archive.len() > limits.max_xdm_entries {
        return Err(XdmError::TooManyEntries {
            count: archive.len(),
            max: limits.max_xdm_entries,
        });
    }
    let mut result = XdmArchive::default();
    read_entries(&mut archive, limits, &mut result);
    read_all_metadata(&mut result);
    Ok(result)
}

/// Whether reading goes on after an entry.
enum Next {
    Continue,
    Stop,
}

fn read_entries(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    limits: &ExportLimits,
    result: &mut XdmArchive,
) {
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let next = read_entry(archive, index, limits, &mut total, result);
        if let Next::Stop = next {
            break;
        }
    }
}

fn read_entry(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    index: usize,
    limits: &ExportLimits,
    total: &mut u64,
    result: &mut XdmArchive,
) -> Next {
    let number = index + 1;
    // Look at the header first, without inflating anything.
    let (zip_name, declared) = match archive.by_index_raw(index) {
        Err(e) => {
            result
                .problems
                .push(format!("entry {number}: unreadable ({e})"));
            return Next::Continue;
        }
        Ok(file) => {
            let name = String::from_utf8_lossy(file.name_raw()).into_owned();
            if file.is_dir() || name.ends_with(['/', '\\']) {
                return Next::Continue;
            }
            if let Some(problem) = refuse_kind(&file, &name) {
                result.problems.push(problem);
                return Next::Continue;
            }
            (name, file.size())
        }
    };
    let remaining = limits.max_xdm_total_bytes.saturating_sub(*total);
    if declared > limits.max_part_bytes {
        result.problems.push(format!(
            "entry '{zip_name}': declares {declared} bytes, more than the {} allowed; skipped",
            limits.max_part_bytes
        ));
        return Next::Continue;
    }
    if declared > remaining {
        result.problems.push(format!(
            "entry '{zip_name}': archive content above {} bytes; this entry and the following ones skipped",
            limits.max_xdm_total_bytes
        ));
        return Next::Stop;
    }
    let cap = limits.max_part_bytes.min(remaining);
    let bytes = match inflate(archive, index, cap) {
        Ok(bytes) => bytes,
        Err(e) => {
            result
                .problems
                .push(format!("entry '{zip_name}': cannot be read ({e}); skipped"));
            return Next::Continue;
        }
    };
    let actual = bytes.len() as u64;
    if actual > cap {
        // The declared size lied: a bomb. (The zip crate also stops at the
        // declared size; this count does not depend on it.) Whichever limit
        // was hit, nothing more of this archive is worth inflating.
        result.problems.push(format!(
            "entry '{zip_name}': inflates beyond its declared {declared} bytes and the limit \
             ({cap} bytes); this entry and the following ones skipped"
        ));
        return Next::Stop;
    }
    *total += actual;
    result.entries.push(XdmEntry { zip_name, bytes });
    Next::Continue
}

/// Entries never extracted: encrypted ones (we have no password and an
/// MSSanté archive is never encrypted) and symbolic links (written as a
/// file they would only hold a path; never followed).
fn refuse_kind<R: Read>(file: &zip::read::ZipFile<'_, R>, name: &str) -> Option<String> {
    if file.encrypted() {
        Some(format!("entry '{name}': encrypted; skipped"))
    } else if file.is_symlink() {
        Some(format!("entry '{name}': symbolic link; skipped"))
    } else {
        None
    }
}

/// Inflates entry `index`, reading at most `cap + 1` bytes whatever the
/// archive declares: a result longer than `cap` means "over the limit".
fn inflate(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    index: usize,
    cap: u64,
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let file = archive.by_index(index)?;
    // Capacity from the checked declared size, never from the cap alone:
    // an honest small entry should not reserve the whole limit.
    let capacity = usize::try_from(file.size().min(cap)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn read_all_metadata(result: &mut XdmArchive) {
    let metadata_indexes: Vec<usize> = (0..result.entries.len())
        .filter(|&i| result.entries[i].is_metadata())
        .collect();
    if metadata_indexes.is_empty() {
        result
            .problems
            .push("no METADATA.XML in the archive: documents exported without metadata".into());
        return;
    }
    for metadata_entry in metadata_indexes {
        read_one_metadata(result, metadata_entry);
    }
}

fn read_one_metadata(result: &mut XdmArchive, metadata_entry: usize) {
    let zip_name = result.entries[metadata_entry].zip_name.clone();
    let parsed = parse_metadata(&result.entries[metadata_entry].bytes);
    let documents = match parsed {
        Ok(documents) => documents,
        Err(e) => {
            result.problems.push(format!("'{zip_name}': {e}"));
            return;
        }
    };
    if documents.is_empty() {
        result.problems.push(format!(
            "'{zip_name}': no document entry (rim:ExtrinsicObject)"
        ));
    }
    for metadata in documents {
        let entry = find_document_file(&result.entries, metadata_entry, metadata.uri.as_deref());
        if entry.is_none() {
            result.problems.push(format!(
                "'{zip_name}': document '{}' not found in the archive",
                metadata.uri.as_deref().unwrap_or("(no URI slot)")
            ));
        }
        result.documents.push(XdmDocument {
            entry,
            metadata_entry,
            metadata,
        });
    }
}

/// The entry named by a `URI` slot: same base name (ignoring case, as
/// XDM media are often written by Windows tools), preferably in the same
/// subset directory as the metadata file.
fn find_document_file(
    entries: &[XdmEntry],
    metadata_entry: usize,
    uri: Option<&str>,
) -> Option<usize> {
    let wanted = base_name(uri?);
    if wanted.is_empty() {
        return None;
    }
    let subset = directory_of(&entries[metadata_entry].zip_name);
    let same_name = |e: &&XdmEntry| e.base_name().eq_ignore_ascii_case(wanted);
    let candidates: Vec<usize> = (0..entries.len())
        .filter(|&i| i != metadata_entry && same_name(&&entries[i]))
        .collect();
    candidates
        .iter()
        .copied()
        .find(|&i| directory_of(&entries[i].zip_name) == subset)
        .or_else(|| candidates.first().copied())
}

fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or_default()
}

/// Directory part of a stored name, normalised for comparison only.
fn directory_of(name: &str) -> String {
    let cut = name.rfind(['/', '\\']).map_or(0, |i| i);
    name[..cut].replace('\\', "/").to_lowercase()
}

/// Splits an HL7 CX identifier (`id^^^&OID&ISO^NH`) into the identifier and
/// its assigning authority's OID.
pub fn parse_cx(cx: &str) -> (Option<String>, Option<String>) {
    let mut components = cx.split('^');
    let id = components.next().map(str::trim).filter(|s| !s.is_empty());
    let authority = components.nth(2).and_then(authority_oid);
    (id.map(str::to_string), authority)
}

/// CX.4 is `namespace&universal id&type`; the universal id is the OID. A
/// bare OID in CX.4 (seen from some senders) is accepted too.
fn authority_oid(component: &str) -> Option<String> {
    let mut parts = component.split('&');
    let first = parts.next().unwrap_or_default().trim();
    let oid = match parts.next() {
        Some(universal) => universal.trim(),
        None => first,
    };
    let looks_like_oid = !oid.is_empty() && oid.chars().all(|c| c.is_ascii_digit() || c == '.');
    looks_like_oid.then(|| oid.to_string())
}

/// Parses a `METADATA.XML` and returns its document entries.
///
/// Streaming and tolerant: elements are recognised by local name in the
/// ebRIM 3.0 namespace (or no namespace, as some senders forget it), any
/// prefix; unknown elements are skipped; a missing slot leaves a field
/// empty. Only XML that is not well-formed is an error. No DTD or external
/// entity is ever loaded.
pub fn parse_metadata(xml: &[u8]) -> Result<Vec<DocumentMetadata>, XdmError> {
    let mut reader = NsReader::from_reader(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut parser = MetadataParser::default();
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_resolved_event()
            .map_err(|source| XdmError::Metadata { position, source })?;
        match event {
            (ns, Event::Start(start)) => {
                let element = Element::classify(&ns, start.local_name().as_ref());
                parser.start(element, &start);
            }
            (_, Event::End(_)) => parser.end(),
            (_, Event::Text(text)) => {
                if let Ok(text) = text.unescape() {
                    parser.text(&text);
                }
            }
            (_, Event::CData(data)) => parser.text(&String::from_utf8_lossy(&data)),
            (_, Event::Eof) => break,
            _ => {}
        }
    }
    Ok(parser.documents)
}

/// The ebRIM elements that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    ExtrinsicObject,
    Slot,
    ValueList,
    Value,
    Name,
    LocalizedString,
    Classification,
    ExternalIdentifier,
    Other,
}

impl Element {
    fn classify(ns: &ResolveResult<'_>, local: &[u8]) -> Self {
        let in_rim = match ns {
            ResolveResult::Bound(ns) => ns.as_ref() == RIM_NS.as_bytes(),
            ResolveResult::Unbound => true,
            ResolveResult::Unknown(_) => false,
        };
        if !in_rim {
            return Element::Other;
        }
        match local {
            b"ExtrinsicObject" => Element::ExtrinsicObject,
            b"Slot" => Element::Slot,
            b"ValueList" => Element::ValueList,
            b"Value" => Element::Value,
            b"Name" => Element::Name,
            b"LocalizedString" => Element::LocalizedString,
            b"Classification" => Element::Classification,
            b"ExternalIdentifier" => Element::ExternalIdentifier,
            _ => Element::Other,
        }
    }
}

/// A document entry being read; the patient id candidates are resolved
/// when the entry ends, the ExternalIdentifier taking precedence.
#[derive(Default)]
struct DocumentBuilder {
    metadata: DocumentMetadata,
    patient_id_cx: Option<String>,
    source_patient_id_cx: Option<String>,
}

impl DocumentBuilder {
    fn finish(mut self) -> DocumentMetadata {
        if let Some(cx) = self.patient_id_cx.or(self.source_patient_id_cx) {
            let (id, authority) = parse_cx(&cx);
            self.metadata.ins = authority
                .as_deref()
                .is_some_and(|oid| INS_AUTHORITIES.contains(&oid));
            self.metadata.patient_id = id;
            self.metadata.patient_id_authority = authority;
        }
        self.metadata
    }

    fn apply_slot(&mut self, slot: Slot) {
        let first = slot.values.first().cloned();
        match slot.name.as_str() {
            "URI" => self.metadata.uri = join_uri(&slot.values),
            "creationTime" => self.metadata.creation_time = first,
            "hash" => self.metadata.hash = first,
            "size" => self.metadata.size = first,
            "sourcePatientId" => self.source_patient_id_cx = first,
            _ => {}
        }
    }

    fn apply_classification(&mut self, classification: Classification) {
        let Classification {
            scheme,
            code,
            display,
        } = classification;
        if scheme.eq_ignore_ascii_case(SCHEME_CLASS_CODE) {
            self.metadata.class_code = code;
        } else if scheme.eq_ignore_ascii_case(SCHEME_TYPE_CODE) {
            self.metadata.type_code = code;
            self.metadata.type_display = display;
        } else if scheme.eq_ignore_ascii_case(SCHEME_FORMAT_CODE) {
            self.metadata.format_code = code;
        }
    }
}

/// XDS allows a long `URI` split over several values `1|...`, `2|...`;
/// XDM senders normally write one plain value.
fn join_uri(values: &[String]) -> Option<String> {
    if values.len() > 1 && values.iter().all(|v| numbered_part(v).is_some()) {
        let mut parts: Vec<(u32, &str)> = values.iter().filter_map(|v| numbered_part(v)).collect();
        parts.sort_by_key(|(n, _)| *n);
        return Some(parts.into_iter().map(|(_, rest)| rest).collect());
    }
    values.first().map(|v| v.trim().to_string())
}

/// `"2|.PDF"` is part 2 of a split value.
fn numbered_part(value: &str) -> Option<(u32, &str)> {
    let (number, rest) = value.split_once('|')?;
    let number = number.parse::<u32>().ok()?;
    Some((number, rest))
}

#[derive(Default)]
struct Slot {
    name: String,
    values: Vec<String>,
}

#[derive(Default)]
struct Classification {
    scheme: String,
    code: Option<String>,
    display: Option<String>,
}

/// Streaming state: where we are, and the objects being built.
#[derive(Default)]
struct MetadataParser {
    stack: Vec<Element>,
    documents: Vec<DocumentMetadata>,
    document: Option<DocumentBuilder>,
    slot: Option<Slot>,
    classification: Option<Classification>,
    value: Option<String>,
}

impl MetadataParser {
    fn parent(&self) -> Option<Element> {
        self.stack.last().copied()
    }

    fn grandparent(&self) -> Option<Element> {
        self.stack.len().checked_sub(2).map(|i| self.stack[i])
    }

    fn start(&mut self, element: Element, start: &BytesStart<'_>) {
        let in_document = self.parent() == Some(Element::ExtrinsicObject);
        match element {
            Element::ExtrinsicObject if self.document.is_none() => {
                let mut document = DocumentBuilder::default();
                document.metadata.mime_type = attribute(start, "mimeType");
                self.document = Some(document);
            }
            Element::Slot if in_document => {
                self.slot = Some(Slot {
                    name: attribute(start, "name").unwrap_or_default(),
                    values: Vec::new(),
                });
            }
            Element::Value if self.slot.is_some() && self.parent() == Some(Element::ValueList) => {
                self.value = Some(String::new());
            }
            Element::LocalizedString if self.parent() == Some(Element::Name) => {
                self.localized_string(attribute(start, "value"));
            }
            Element::Classification if in_document => {
                self.classification = Some(Classification {
                    scheme: attribute(start, "classificationScheme").unwrap_or_default(),
                    code: attribute(start, "nodeRepresentation"),
                    display: None,
                });
            }
            Element::ExternalIdentifier if in_document => self.external_identifier(start),
            _ => {}
        }
        self.stack.push(element);
    }

    /// A `Name/LocalizedString`: the document's title or a code's display
    /// name, depending on what the `Name` belongs to. The first one wins
    /// (several languages may be given).
    fn localized_string(&mut self, value: Option<String>) {
        match self.grandparent() {
            Some(Element::ExtrinsicObject) if self.stack.len() >= 2 => {
                if let Some(document) = &mut self.document {
                    document.metadata.title = document.metadata.title.take().or(value);
                }
            }
            Some(Element::Classification) => {
                if let Some(classification) = &mut self.classification {
                    classification.display = classification.display.take().or(value);
                }
            }
            _ => {}
        }
    }

    fn external_identifier(&mut self, start: &BytesStart<'_>) {
        let scheme = attribute(start, "identificationScheme").unwrap_or_default();
        let Some(document) = &mut self.document else {
            return;
        };
        if scheme.eq_ignore_ascii_case(SCHEME_PATIENT_ID) {
            document.patient_id_cx = attribute(start, "value");
        } else if scheme.eq_ignore_ascii_case(SCHEME_UNIQUE_ID) {
            document.metadata.unique_id = attribute(start, "value");
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(value) = &mut self.value {
            value.push_str(text);
        }
    }

    fn end(&mut self) {
        let Some(element) = self.stack.pop() else {
            return;
        };
        let in_document = self.parent() == Some(Element::ExtrinsicObject);
        match element {
            Element::Value => {
                if let (Some(value), Some(slot)) = (self.value.take(), &mut self.slot) {
                    slot.values.push(value.trim().to_string());
                }
            }
            Element::Slot if in_document => {
                if let (Some(slot), Some(document)) = (self.slot.take(), &mut self.document) {
                    document.apply_slot(slot);
                }
            }
            Element::Classification if in_document => {
                if let (Some(c), Some(document)) = (self.classification.take(), &mut self.document)
                {
                    document.apply_classification(c);
                }
            }
            Element::ExtrinsicObject => {
                if let Some(document) = self.document.take() {
                    self.documents.push(document.finish());
                }
            }
            _ => {}
        }
    }
}

/// An attribute's unescaped value; absent or undecodable counts as absent.
fn attribute(start: &BytesStart<'_>, name: &str) -> Option<String> {
    let attribute = start.try_get_attribute(name).ok().flatten()?;
    let value = attribute.unescape_value().ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    const FIXTURE: &[u8] = include_bytes!("testdata/METADATA.XML");

    pub(crate) fn limits() -> ExportLimits {
        ExportLimits::default()
    }

    pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    /// Overwrites the declared uncompressed size of entry `name` in its
    /// local and central headers, to forge what a writer would refuse to.
    pub(crate) fn forge_declared_size(zip: &mut [u8], name: &str, size: u32) {
        // (signature, offset of the size, offset of the name length, of the name)
        let headers: [(&[u8], usize, usize, usize); 2] =
            [(b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)];
        for i in 0..zip.len().saturating_sub(46) {
            for (signature, size_at, name_len_at, name_at) in headers {
                if &zip[i..i + 4] != signature {
                    continue;
                }
                let len = u16::from_le_bytes([zip[i + name_len_at], zip[i + name_len_at + 1]]);
                if zip.get(i + name_at..i + name_at + usize::from(len)) == Some(name.as_bytes()) {
                    zip[i + size_at..i + size_at + 4].copy_from_slice(&size.to_le_bytes());
                }
            }
        }
    }

    /// Sets the "encrypted" flag of every entry.
    fn flag_encrypted(zip: &mut [u8]) {
        for i in 0..zip.len().saturating_sub(4) {
            let at = match &zip[i..i + 4] {
                b"PK\x03\x04" => i + 6,
                b"PK\x01\x02" => i + 8,
                _ => continue,
            };
            zip[at] |= 1;
        }
    }

    #[test]
    fn parses_the_fixture() {
        let documents = parse_metadata(FIXTURE).unwrap();
        assert_eq!(documents.len(), 1);
        let d = &documents[0];
        assert_eq!(d.patient_id.as_deref(), Some("279035121518989"));
        assert_eq!(
            d.patient_id_authority.as_deref(),
            Some("1.2.250.1.213.1.4.10")
        );
        assert!(d.ins);
        assert_eq!(d.class_code.as_deref(), Some("11"));
        assert_eq!(d.type_code.as_deref(), Some("11488-4"));
        assert_eq!(d.type_display.as_deref(), Some("Note de consultation"));
        assert_eq!(
            d.format_code.as_deref(),
            Some("urn:ihe:iti:xds-sd:pdf:2008")
        );
        assert_eq!(
            d.title.as_deref(),
            Some("Compte rendu de consultation de cardiologie")
        );
        assert_eq!(d.mime_type.as_deref(), Some("application/pdf"));
        assert_eq!(d.creation_time.as_deref(), Some("20261123143000"));
        assert_eq!(d.uri.as_deref(), Some("DOC0001.PDF"));
    }

    #[test]
    fn cx_identifiers() {
        assert_eq!(
            parse_cx("279035121518989^^^&1.2.250.1.213.1.4.8&ISO^NH"),
            (
                Some("279035121518989".into()),
                Some("1.2.250.1.213.1.4.8".into())
            )
        );
        assert_eq!(
            parse_cx("IPP123^^^HOPITAL&1.2.3.4&ISO^PI"),
            (Some("IPP123".into()), Some("1.2.3.4".into()))
        );
        assert_eq!(
            parse_cx("IPP9^^^1.2.3"),
            (Some("IPP9".into()), Some("1.2.3".into()))
        );
        assert_eq!(parse_cx("justanid"), (Some("justanid".into()), None));
        assert_eq!(parse_cx("x^^^&not an oid&ISO"), (Some("x".into()), None));
        assert_eq!(parse_cx(""), (None, None));
        assert_eq!(parse_cx("^^^^^^^"), (None, None));
    }

    #[test]
    fn source_patient_id_is_the_fallback_and_other_authorities_are_not_ins() {
        let xml =
            br#"<rim:RegistryObjectList xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
          <rim:ExtrinsicObject id="d" mimeType="text/xml">
            <rim:Slot name="sourcePatientId"><rim:ValueList>
              <rim:Value>IPP42^^^&amp;1.2.250.1.999.1&amp;ISO^PI</rim:Value>
            </rim:ValueList></rim:Slot>
          </rim:ExtrinsicObject></rim:RegistryObjectList>"#;
        let documents = parse_metadata(xml).unwrap();
        assert_eq!(documents[0].patient_id.as_deref(), Some("IPP42"));
        assert_eq!(
            documents[0].patient_id_authority.as_deref(),
            Some("1.2.250.1.999.1")
        );
        assert!(!documents[0].ins);
    }

    #[test]
    fn any_prefix_or_default_namespace_and_missing_parts() {
        let xml = br#"<?xml version="1.0"?>
          <SubmitObjectsRequest xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0">
           <RegistryObjectList xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
            <ExtrinsicObject id="a"/>
            <ExtrinsicObject id="b" mimeType="application/pdf">
              <Name><LocalizedString value="Titre"/></Name>
            </ExtrinsicObject>
           </RegistryObjectList>
           <x:ExtrinsicObject xmlns:x="urn:other" mimeType="ignored/other-namespace"/>
          </SubmitObjectsRequest>"#;
        let documents = parse_metadata(xml).unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0], DocumentMetadata::default());
        assert_eq!(documents[1].title.as_deref(), Some("Titre"));
        assert_eq!(documents[1].mime_type.as_deref(), Some("application/pdf"));
    }

    #[test]
    fn classification_names_do_not_become_the_title() {
        let xml = br#"<r:ExtrinsicObject xmlns:r="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
            <r:Classification classificationScheme="URN:UUID:F0306F51-975F-434E-A61C-C59651D33983"
                nodeRepresentation="11488-4">
              <r:Name><r:LocalizedString value="Note de consultation"/></r:Name>
            </r:Classification>
            <r:Name><r:LocalizedString value="Le titre"/></r:Name>
          </r:ExtrinsicObject>"#;
        let d = &parse_metadata(xml).unwrap()[0];
        assert_eq!(d.title.as_deref(), Some("Le titre"));
        assert_eq!(d.type_code.as_deref(), Some("11488-4"));
        assert_eq!(d.type_display.as_deref(), Some("Note de consultation"));
    }

    #[test]
    fn split_uri_values_are_joined() {
        let values = vec!["2|.PDF".to_string(), "1|DOC0001".to_string()];
        assert_eq!(join_uri(&values).as_deref(), Some("DOC0001.PDF"));
        assert_eq!(
            join_uri(&["a|b.pdf".to_string()]).as_deref(),
            Some("a|b.pdf")
        );
        assert_eq!(join_uri(&[]), None);
    }

    #[test]
    fn garbage_xml_is_an_error_and_entities_are_not_expanded() {
        assert!(matches!(
            parse_metadata(b"<a><b></a>"),
            Err(XdmError::Metadata { .. })
        ));
        // External entities are never fetched nor expanded.
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
          <ExtrinsicObject><Name><LocalizedString value="&x;"/></Name></ExtrinsicObject>"#;
        let documents = parse_metadata(xxe).unwrap();
        assert_eq!(documents[0].title, None);
        // Not XML at all: no document, no panic.
        assert!(
            parse_metadata(b"%PDF-1.4 \x00\xff\xfe")
                .unwrap_or_default()
                .is_empty()
        );
    }

    #[test]
    fn reads_an_archive_and_maps_documents_to_files() {
        let zip = zip_of(&[
            ("README.TXT", b"lisez-moi"),
            ("IHE_XDM/SUBSET01/METADATA.XML", FIXTURE),
            ("IHE_XDM/SUBSET01/doc0001.pdf", b"%PDF-1.4 fake"),
        ]);
        let archive = read_xdm(&zip, &limits()).unwrap();
        assert_eq!(archive.entries.len(), 3, "{:?}", archive.problems);
        assert!(archive.problems.is_empty(), "{:?}", archive.problems);
        assert_eq!(archive.documents.len(), 1);
        assert_eq!(archive.documents[0].entry, Some(2));
        assert_eq!(archive.documents[0].metadata_entry, 1);
        assert_eq!(archive.entries[2].bytes, b"%PDF-1.4 fake");
    }

    #[test]
    fn prefers_the_document_of_the_same_subset() {
        let zip = zip_of(&[
            ("IHE_XDM/SUBSET01/DOC0001.PDF", b"one"),
            ("IHE_XDM/SUBSET02/DOC0001.PDF", b"two"),
            ("IHE_XDM/SUBSET02/METADATA.XML", FIXTURE),
        ]);
        let archive = read_xdm(&zip, &limits()).unwrap();
        assert_eq!(archive.documents[0].entry, Some(1));
    }

    #[test]
    fn missing_document_and_missing_metadata_are_problems() {
        let zip = zip_of(&[("IHE_XDM/SUBSET01/METADATA.XML", FIXTURE)]);
        let archive = read_xdm(&zip, &limits()).unwrap();
        assert_eq!(archive.documents[0].entry, None);
        assert!(archive.problems[0].contains("DOC0001.PDF"));

        let zip = zip_of(&[("a.pdf", b"x")]);
        let archive = read_xdm(&zip, &limits()).unwrap();
        assert_eq!(archive.entries.len(), 1);
        assert!(archive.problems[0].contains("no METADATA.XML"));
    }

    #[test]
    fn bad_metadata_is_a_problem_not_an_error() {
        let zip = zip_of(&[("METADATA.XML", b"<oops><a></oops>"), ("DOC.PDF", b"x")]);
        let archive = read_xdm(&zip, &limits()).unwrap();
        assert_eq!(archive.entries.len(), 2);
        assert!(archive.documents.is_empty());
        assert!(archive.problems[0].contains("not well-formed"));
    }

    #[test]
    fn not_a_zip_and_too_many_entries_are_errors() {
        assert!(matches!(
            read_xdm(b"PK but not really", &limits()),
            Err(XdmError::NotAZip(_))
        ));
        let names: Vec<String> = (0..5).map(|i| format!("f{i}")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let small = ExportLimits {
            max_xdm_entries: 4,
            ..limits()
        };
        assert!(matches!(
            read_xdm(&zip_of(&entries), &small),
            Err(XdmError::TooManyEntries { count: 5, max: 4 })
        ));
    }

    #[test]
    fn declared_size_over_the_part_limit_is_skipped_without_inflating() {
        let big = vec![0u8; 2 * 1024 * 1024];
        let zip = zip_of(&[("bomb.bin", &big), ("ok.txt", b"fine")]);
        assert!(zip.len() < 100 * 1024, "deflate should shrink zeros");
        let small = ExportLimits {
            max_part_bytes: 1024 * 1024,
            ..limits()
        };
        let archive = read_xdm(&zip, &small).unwrap();
        assert_eq!(archive.entries.len(), 1);
        assert_eq!(archive.entries[0].zip_name, "ok.txt");
        assert!(archive.problems[0].contains("bomb.bin"));
    }

    #[test]
    fn lying_declared_size_is_caught_while_inflating() {
        let big = vec![0u8; 4 * 1024 * 1024];
        let mut zip = zip_of(&[
            ("first.txt", b"kept"),
            ("bomb.bin", &big),
            ("after.txt", b"x"),
        ]);
        forge_declared_size(&mut zip, "bomb.bin", 10);
        let small = ExportLimits {
            max_part_bytes: 1024 * 1024,
            ..limits()
        };
        let archive = read_xdm(&zip, &small).unwrap();
        let names: Vec<&str> = archive
            .entries
            .iter()
            .map(|e| e.zip_name.as_str())
            .collect();
        assert_eq!(names, ["first.txt", "after.txt"]);
        assert!(
            archive.problems.iter().any(|p| p.contains("bomb.bin")),
            "{:?}",
            archive.problems
        );
        let kept: u64 = archive.entries.iter().map(|e| e.bytes.len() as u64).sum();
        assert!(kept <= small.max_part_bytes);
    }

    #[test]
    fn total_limit_stops_reading() {
        let chunk = vec![7u8; 1000];
        let zip = zip_of(&[("a", &chunk), ("b", &chunk), ("c", &chunk)]);
        let small = ExportLimits {
            max_xdm_total_bytes: 2500,
            ..limits()
        };
        let archive = read_xdm(&zip, &small).unwrap();
        assert_eq!(archive.entries.len(), 2);
        assert!(archive.problems.iter().any(|p| p.contains("'c'")));
    }

    #[test]
    fn encrypted_entries_are_refused() {
        let mut zip = zip_of(&[("secret.pdf", b"data")]);
        flag_encrypted(&mut zip);
        let archive = read_xdm(&zip, &limits()).unwrap();
        assert!(archive.entries.is_empty());
        assert!(archive.problems[0].contains("encrypted"));
    }

    #[test]
    fn traversal_names_are_kept_as_text_only_and_directories_ignored() {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        writer
            .add_directory("IHE_XDM/", SimpleFileOptions::default())
            .unwrap();
        writer
            .start_file("../../etc/evil.pdf", SimpleFileOptions::default())
            .unwrap();
        writer.write_all(b"x").unwrap();
        let zip = writer.finish().unwrap().into_inner();
        let archive = read_xdm(&zip, &limits()).unwrap();
        assert_eq!(archive.entries.len(), 1);
        assert_eq!(archive.entries[0].base_name(), "evil.pdf");
        assert!(archive.entries[0].escapes_archive());
    }
}
