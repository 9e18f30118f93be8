//! Reader of the Annuaire Santé extraction `Extraction_Correspondance_MSSante`:
//! a zip holding one pipe-separated `.txt` (or that `.txt` itself), one
//! header line, then one line per MSSanté mailbox.
//!
//! The file is published daily by a third party we do not control, and its
//! exact header spelling is not documented byte for byte, so columns are
//! found **by name** (case, accents, spaces and punctuation ignored), never
//! by position; a reordered or extended header still reads. Lines are read
//! one at a time, so a file of several hundred thousand lines never sits in
//! memory, and each line is decoded on its own (UTF-8, else Windows-1252):
//! one badly encoded line does not spoil the others.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::address::Address;

/// Longest line kept, in bytes. Real lines are a few hundred bytes; a
/// longer one is garbage (or a file without line ends) and is skipped
/// without being held in memory.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Most bytes read from the text, inflated or not. The real file is tens of
/// megabytes; this stops a zip bomb or a wrong file early.
pub const MAX_TEXT_BYTES: u64 = 2 << 30;

/// Most entries accepted in the zip (the published one holds exactly one).
pub const MAX_ZIP_ENTRIES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ExtractionError {
    #[error("cannot read the extraction: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a readable zip archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("the zip archive holds {0} entries; an extraction holds one .txt file")]
    TooManyEntries(usize),
    #[error("the zip archive holds no .txt file")]
    NoText,
    #[error("the zip entry declares {0} bytes, more than the {MAX_TEXT_BYTES} accepted")]
    TooLarge(u64),
    #[error("the file is empty: no header line")]
    Empty,
    #[error("the header has no column `{0}`: not an MSSanté extraction, or its format changed")]
    MissingColumn(&'static str),
}

/// One mailbox of the directory, as the box uses it.
///
/// Text fields are empty when the extraction leaves them empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// The MSSanté address, lowercase (local part and domain).
    pub mailbox: String,
    /// `Type de BAL`: `PER` (a person), `ORG` (an organisation), `APP`...
    pub mailbox_type: String,
    /// `Identification nationale PP` as given: `8` + RPPS or `0` + ADELI.
    pub national_id: String,
    /// The 11-digit RPPS number, when the national id carries one.
    pub rpps: Option<String>,
    /// `Civilité d'exercice` (`DR`, `PR`, `MME`, `M`...).
    pub civility: String,
    pub family_name: String,
    pub given_name: String,
    /// `Libellé Profession` (`Médecin`, `Infirmier`...).
    pub profession: String,
    /// `Libellé savoir-faire` (`Cardiologie et maladies vasculaires`...).
    pub specialty: String,
    /// `Raison Sociale structure BAL`, else its `Enseigne commerciale`.
    pub organisation: String,
    /// `Service de rattachement` (`Cardiologie`, for a hospital's box).
    #[serde(default)]
    pub service: String,
    /// Postal lines before the town line: L2 (complément de localisation),
    /// L3 (complément de distribution), L4 (number, type and name of the
    /// street, joined), L5 (lieu-dit); empty ones left out.
    pub address_lines: Vec<String>,
    pub postcode: String,
    /// The town of L6 (`79000 NIORT CEDEX` → `NIORT`).
    pub town: String,
    pub department: String,
    pub country: String,
}

impl DirectoryEntry {
    /// `Dr MARTIN Paul`, or the organisation for an organisational box.
    pub fn display_name(&self) -> String {
        let person = [
            civility_label(&self.civility),
            &self.family_name,
            &self.given_name,
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>();
        // A civility alone is no name.
        let has_name = !self.family_name.is_empty() || !self.given_name.is_empty();
        if has_name && self.mailbox_type != "ORG" {
            person.join(" ")
        } else if !self.organisation.is_empty() {
            self.organisation.clone()
        } else if has_name {
            person.join(" ")
        } else {
            self.mailbox.clone()
        }
    }

    /// The specialty when there is one (more telling), else the profession.
    pub fn best_profession(&self) -> &str {
        if self.specialty.is_empty() {
            &self.profession
        } else {
            &self.specialty
        }
    }
}

/// `DR` → `Dr`, `MME` → `Mme`...; unknown values unchanged.
pub fn civility_label(code: &str) -> &str {
    match code.trim().to_ascii_uppercase().as_str() {
        "DR" => "Dr",
        "PR" => "Pr",
        "M" | "M." => "M.",
        "MME" => "Mme",
        "MLLE" => "Mlle",
        _ => code.trim(),
    }
}

/// What a line became.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "records are handled one at a time; boxing would cost an allocation per line"
)]
pub enum Record {
    Entry {
        line: u64,
        entry: DirectoryEntry,
    },
    /// A line that gives no usable entry, and why (in French: shown to the
    /// person importing).
    Skipped {
        line: u64,
        reason: String,
    },
}

/// Counts kept while reading, for the import report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines read, header and blank lines included.
    pub lines: u64,
    pub blank: u64,
    /// Lines with fewer fields than the header (read anyway when the
    /// mailbox and name are there).
    pub short: u64,
    /// Lines that were not UTF-8 and were read as Windows-1252.
    pub latin1: u64,
}

/// Which field of [`DirectoryEntry`] a column feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    MailboxType,
    Mailbox,
    IdType,
    Id,
    NationalId,
    Civility,
    FamilyName,
    GivenName,
    Profession,
    Specialty,
    Service,
    CompanyName,
    TradeName,
    L2,
    L3,
    L4Number,
    L4NumberComplement,
    L4StreetType,
    L4Street,
    L5,
    L6,
    Postcode,
    Department,
    Country,
}

const FIELD_COUNT: usize = 24;

/// Normalised header names (see [`normalise_header`]) of each field; the
/// first is the name in the published file, the others variants seen in
/// documentation (`Code postal structure BAL`...).
const COLUMNS: [(Field, &[&str]); FIELD_COUNT] = [
    (Field::MailboxType, &["typedebal", "typebal"]),
    (Field::Mailbox, &["adressebal", "adressemailbal", "bal"]),
    (Field::IdType, &["typeidentifiantpp", "typedidentifiantpp"]),
    (Field::Id, &["identifiantpp"]),
    (Field::NationalId, &["identificationnationalepp"]),
    (Field::Civility, &["civilitedexercice", "civiliteexercice"]),
    (Field::FamilyName, &["nomdexercice", "nomexercice"]),
    (Field::GivenName, &["prenomdexercice", "prenomexercice"]),
    (Field::Profession, &["libelleprofession"]),
    (Field::Specialty, &["libellesavoirfaire"]),
    (Field::Service, &["servicederattachement"]),
    (
        Field::CompanyName,
        &["raisonsocialestructurebal", "raisonsociale"],
    ),
    (
        Field::TradeName,
        &["enseignecommercialestructurebal", "enseignecommerciale"],
    ),
    (Field::L2, &["l2complementlocalisation"]),
    (Field::L3, &["l3complementdistribution"]),
    (Field::L4Number, &["l4numerovoie"]),
    (Field::L4NumberComplement, &["l4complementnumerovoie"]),
    (Field::L4StreetType, &["nl4typevoie", "l4typevoie"]),
    (Field::L4Street, &["l4libellevoie"]),
    (Field::L5, &["l5lieuditmention"]),
    (Field::L6, &["l6ligneacheminement"]),
    (Field::Postcode, &["codepostal", "codepostalstructurebal"]),
    (
        Field::Department,
        &["departement", "departementstructurebal"],
    ),
    (Field::Country, &["pays", "paysstructurebal"]),
];

/// Header name reduced to lowercase ASCII letters and digits: accents
/// folded, spaces, apostrophes and other punctuation dropped.
/// `Nom d'exercice` → `nomdexercice`, `Département` → `departement`.
pub fn normalise_header(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let c = fold_accent(c.to_lowercase().next().unwrap_or(c));
            c.is_ascii_alphanumeric().then_some(c)
        })
        .collect()
}

/// The base letter of a lowercase accented Latin letter (French and the
/// neighbours found in names); other characters unchanged.
fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        _ => c,
    }
}

/// Position of each field in the header, when present.
#[derive(Debug, Clone)]
struct ColumnMap {
    positions: [Option<usize>; FIELD_COUNT],
    /// Number of named columns (trailing empty ones from a final `|` not
    /// counted): a line with fewer fields is short.
    width: usize,
}

impl ColumnMap {
    fn from_header(header: &str) -> Result<ColumnMap, ExtractionError> {
        let names: Vec<String> = split_fields(header).map(normalise_header).collect();
        let width = names
            .iter()
            .rposition(|n| !n.is_empty())
            .map_or(0, |p| p + 1);
        let mut positions = [None; FIELD_COUNT];
        for (slot, (_, aliases)) in positions.iter_mut().zip(COLUMNS.iter()) {
            // The first alias that names a column wins, so the published
            // name is preferred over a looser variant.
            *slot = aliases
                .iter()
                .find_map(|alias| names.iter().position(|n| n == alias));
        }
        let map = ColumnMap { positions, width };
        if map.get(Field::Mailbox).is_none() {
            return Err(ExtractionError::MissingColumn("Adresse BAL"));
        }
        if map.get(Field::FamilyName).is_none() {
            return Err(ExtractionError::MissingColumn("Nom d'exercice"));
        }
        Ok(map)
    }

    fn get(&self, field: Field) -> Option<usize> {
        self.positions[field as usize]
    }
}

fn split_fields(line: &str) -> impl Iterator<Item = &str> {
    line.split('|')
}

/// Streaming reader: one [`Record`] per non-blank data line.
pub struct Entries<R> {
    reader: R,
    columns: ColumnMap,
    buf: Vec<u8>,
    stats: ReadStats,
}

impl<R: BufRead> Entries<R> {
    /// Reads the header line and maps the columns.
    pub fn new(mut reader: R) -> Result<Entries<R>, ExtractionError> {
        let mut buf = Vec::with_capacity(1024);
        let mut stats = ReadStats::default();
        loop {
            match read_line_capped(&mut reader, &mut buf, MAX_LINE_BYTES)? {
                None => return Err(ExtractionError::Empty),
                Some(_) => {
                    stats.lines += 1;
                    let text = decode_line(&buf).0;
                    let text = text.trim_start_matches('\u{feff}');
                    if text.trim().is_empty() {
                        stats.blank += 1;
                        continue;
                    }
                    let columns = ColumnMap::from_header(text)?;
                    return Ok(Entries {
                        reader,
                        columns,
                        buf,
                        stats,
                    });
                }
            }
        }
    }

    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    fn record(&mut self, line: u64, fits: bool) -> Record {
        if !fits {
            return Record::Skipped {
                line,
                reason: format!("ligne de plus de {MAX_LINE_BYTES} octets ignorée"),
            };
        }
        let (text, latin1) = decode_line(&self.buf);
        if latin1 {
            self.stats.latin1 += 1;
        }
        let fields: Vec<&str> = split_fields(&text).collect();
        let present = fields
            .iter()
            .rposition(|f| !f.trim().is_empty())
            .map_or(0, |p| p + 1);
        let short = fields.len() < self.columns.width;
        if short {
            self.stats.short += 1;
        }
        let get = |field: Field| -> &str {
            self.columns
                .get(field)
                .and_then(|i| fields.get(i))
                .map_or("", |f| f.trim())
        };
        let raw_mailbox = get(Field::Mailbox);
        if raw_mailbox.is_empty() {
            let reason = if short {
                format!(
                    "ligne incomplète ({} champs sur {}) : pas d'adresse BAL",
                    present, self.columns.width
                )
            } else {
                "pas d'adresse BAL".to_string()
            };
            return Record::Skipped { line, reason };
        }
        let Some(address) = Address::parse(raw_mailbox) else {
            return Record::Skipped {
                line,
                reason: format!("adresse BAL invalide : {}", printable(raw_mailbox)),
            };
        };
        let mailbox = format!("{}@{}", address.local().to_lowercase(), address.domain());
        let national_id = get(Field::NationalId).to_string();
        let rpps = derive_rpps(&national_id, get(Field::IdType), get(Field::Id));
        let organisation = first_non_empty(get(Field::CompanyName), get(Field::TradeName));
        let street = join_words(&[
            get(Field::L4Number),
            get(Field::L4NumberComplement),
            get(Field::L4StreetType),
            get(Field::L4Street),
        ]);
        let address_lines = [get(Field::L2), get(Field::L3), &street, get(Field::L5)]
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let (l6_postcode, town) = split_routing_line(get(Field::L6));
        let postcode = first_non_empty(get(Field::Postcode), l6_postcode);
        let entry = DirectoryEntry {
            mailbox,
            mailbox_type: get(Field::MailboxType).to_ascii_uppercase(),
            national_id,
            rpps,
            civility: get(Field::Civility).to_string(),
            family_name: get(Field::FamilyName).to_string(),
            given_name: get(Field::GivenName).to_string(),
            profession: get(Field::Profession).to_string(),
            specialty: get(Field::Specialty).to_string(),
            organisation,
            service: get(Field::Service).to_string(),
            address_lines,
            postcode,
            town,
            department: get(Field::Department).to_string(),
            country: get(Field::Country).to_string(),
        };
        Record::Entry { line, entry }
    }
}

impl<R: BufRead> Iterator for Entries<R> {
    type Item = Result<Record, ExtractionError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let fits = match read_line_capped(&mut self.reader, &mut self.buf, MAX_LINE_BYTES) {
                Ok(None) => return None,
                Ok(Some(fits)) => fits,
                Err(e) => return Some(Err(e.into())),
            };
            self.stats.lines += 1;
            let line = self.stats.lines;
            if fits
                && self
                    .buf
                    .iter()
                    .all(|b| b.is_ascii_whitespace() || *b == b'|')
            {
                self.stats.blank += 1;
                continue;
            }
            return Some(Ok(self.record(line, fits)));
        }
    }
}

/// Reads one line into `buf` without its line end (`\n` or `\r\n`).
/// `None` at end of input; `Some(false)` when the line was longer than
/// `max` (the rest is consumed and dropped, `buf` holds the start).
fn read_line_capped<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut fits = true;
    let mut read_any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        if fits {
            let room = max.saturating_sub(buf.len());
            if chunk.len() > room {
                fits = false;
                buf.extend_from_slice(&chunk[..room]);
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            break;
        }
    }
    if !read_any {
        return Ok(None);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(fits))
}

/// UTF-8 when the bytes are UTF-8, else Windows-1252 (the usual "latin-1"
/// of French Windows tools); the flag tells which.
fn decode_line(bytes: &[u8]) -> (std::borrow::Cow<'_, str>, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.into(), false),
        Err(_) => (
            bytes.iter().map(|&b| cp1252(b)).collect::<String>().into(),
            true,
        ),
    }
}

/// Windows-1252 byte to character: Latin-1 except 0x80..0x9F.
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

/// RPPS from `8` + 11 digits, else from `Identifiant PP` when its type is
/// `8` (RPPS).
fn derive_rpps(national_id: &str, id_type: &str, id: &str) -> Option<String> {
    let digits = |s: &str| s.len() == 11 && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = national_id.strip_prefix('8')
        && digits(rest)
    {
        return Some(rest.to_string());
    }
    (id_type == "8" && digits(id)).then(|| id.to_string())
}

/// `79000 NIORT CEDEX 9` → (`79000`, `NIORT`); a line without a leading
/// postcode is all town.
fn split_routing_line(l6: &str) -> (&str, String) {
    let l6 = l6.trim();
    let (postcode, rest) = match l6.split_once(char::is_whitespace) {
        Some((first, rest)) if first.len() == 5 && first.bytes().all(|b| b.is_ascii_digit()) => {
            (first, rest.trim())
        }
        _ if l6.len() == 5 && l6.bytes().all(|b| b.is_ascii_digit()) => (l6, ""),
        _ => ("", l6),
    };
    (postcode, strip_cedex(rest).to_string())
}

/// `NIORT CEDEX 9` → `NIORT`.
fn strip_cedex(town: &str) -> &str {
    let upper = town.to_ascii_uppercase();
    match upper.rfind(" CEDEX") {
        Some(i) if upper[i + 6..].trim().bytes().all(|b| b.is_ascii_digit()) => {
            town[..i].trim_end()
        }
        _ => town,
    }
}

fn first_non_empty(a: &str, b: &str) -> String {
    if a.is_empty() { b } else { a }.to_string()
}

fn join_words(words: &[&str]) -> String {
    words
        .iter()
        .filter(|w| !w.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text from the file, made safe to show in a report: control characters
/// replaced, length bounded.
fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// Counts bytes and fails once more than `limit` have been read, whatever
/// the archive declared.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than {MAX_TEXT_BYTES} bytes of text"),
            )
        })?;
        Ok(n)
    }
}

/// Opens the extraction at `path` (zip or bare `.txt`) and hands its
/// records to `read`.
///
/// A callback rather than a returned iterator because an entry of a zip
/// borrows the archive.
pub fn read_path<T>(
    path: &Path,
    read: impl FnOnce(&mut Entries<Box<dyn BufRead + '_>>) -> T,
) -> Result<T, ExtractionError> {
    let file = std::fs::File::open(path)?;
    read_source(file, read)
}

/// Same as [`read_path`] over any seekable source: a zip when it starts
/// with a zip signature, else the text itself.
pub fn read_source<S: Read + Seek, T>(
    mut source: S,
    read: impl FnOnce(&mut Entries<Box<dyn BufRead + '_>>) -> T,
) -> Result<T, ExtractionError> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match source.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    source.seek(SeekFrom::Start(0))?;
    if magic[..got] != *b"PK\x03\x04" {
        let text: Box<dyn BufRead> = Box::new(BufReader::with_capacity(
            64 * 1024,
            Limited {
                inner: source,
                left: MAX_TEXT_BYTES,
            },
        ));
        let mut entries = Entries::new(text)?;
        return Ok(read(&mut entries));
    }
    let mut archive = zip::ZipArchive::new(source)?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(ExtractionError::TooManyEntries(archive.len()));
    }
    let count = archive.len();
    let mut text_index = None;
    for i in 0..count {
        let entry = archive.by_index_raw(i)?;
        if entry.is_file()
            && String::from_utf8_lossy(entry.name_raw())
                .to_ascii_lowercase()
                .ends_with(".txt")
        {
            if text_index.is_some() {
                return Err(ExtractionError::TooManyEntries(count));
            }
            if entry.size() > MAX_TEXT_BYTES {
                return Err(ExtractionError::TooLarge(entry.size()));
            }
            text_index = Some(i);
        }
    }
    let index = text_index.ok_or(ExtractionError::NoText)?;
    let entry = archive.by_index(index)?;
    let text: Box<dyn BufRead + '_> = Box::new(BufReader::with_capacity(
        64 * 1024,
        Limited {
            inner: entry,
            left: MAX_TEXT_BYTES,
        },
    ));
    let mut entries = Entries::new(text)?;
    Ok(read(&mut entries))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const HEADER: &str = "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|Type identifiant structure|Identification Structure|Service de rattachement|Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Catégorie profession|Libellé de catégorie profession|Code Profession|Libellé Profession|Code savoir-faire|Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION|L3COMPLEMENTDISTRIBUTION|L4NUMEROVOIE|L4COMPLEMENTNUMEROVOIE|NL4TYPEVOIE|L4LIBELLEVOIE|L5LIEUDITMENTION|L6LIGNEACHEMINEMENT|Code postal|Département|Pays";

    /// A data line in the published column order.
    pub fn line(
        mailbox: &str,
        family: &str,
        given: &str,
        specialty: &str,
        town_line: &str,
    ) -> String {
        format!(
            "PER|{mailbox}|8|10001234567|810001234567|||| DR|{family}|{given}|C|Civil|10|Médecin|SM04|{specialty}|O|Cabinet du Parc||Bât. B||12|bis|RUE|des Lilas||{town_line}|{}|79 Deux-Sèvres|France|",
            town_line.split(' ').next().unwrap_or("")
        )
    }

    fn read_all(text: &[u8]) -> Result<(Vec<Record>, ReadStats), ExtractionError> {
        read_source(std::io::Cursor::new(text), |entries| {
            let records: Vec<Record> = entries.map(|r| r.unwrap()).collect();
            (records, entries.stats().clone())
        })
    }

    fn entries_of(records: &[Record]) -> Vec<&DirectoryEntry> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Entry { entry, .. } => Some(entry),
                Record::Skipped { .. } => None,
            })
            .collect()
    }

    #[test]
    fn reads_the_published_layout() {
        let text = format!(
            "{HEADER}\r\n{}\r\n",
            line(
                "Paul.Martin@Medecin.MSSante.fr",
                "MARTIN",
                "Paul",
                "Cardiologie",
                "79000 NIORT CEDEX 9"
            )
        );
        let (records, stats) = read_all(text.as_bytes()).unwrap();
        let entries = entries_of(&records);
        assert_eq!(entries.len(), 1);
        let e = entries[0];
        assert_eq!(e.mailbox, "paul.martin@medecin.mssante.fr");
        assert_eq!(e.mailbox_type, "PER");
        assert_eq!(e.national_id, "810001234567");
        assert_eq!(e.rpps.as_deref(), Some("10001234567"));
        assert_eq!(e.civility, "DR");
        assert_eq!(e.family_name, "MARTIN");
        assert_eq!(e.given_name, "Paul");
        assert_eq!(e.profession, "Médecin");
        assert_eq!(e.specialty, "Cardiologie");
        assert_eq!(e.organisation, "Cabinet du Parc");
        assert_eq!(e.address_lines, vec!["Bât. B", "12 bis RUE des Lilas"]);
        assert_eq!(e.postcode, "79000");
        assert_eq!(e.town, "NIORT");
        assert_eq!(e.department, "79 Deux-Sèvres");
        assert_eq!(e.country, "France");
        assert_eq!(e.display_name(), "Dr MARTIN Paul");
        assert_eq!(stats.lines, 2);
        assert_eq!(stats.short, 0);
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_and_spelling() {
        // Reordered, upper case, accents dropped, extra spaces, an unknown
        // extra column, and the variant names of the reference notes.
        let header = "PAYS|Extra colonne| adresse  bal |NOM D'EXERCICE|prenom d exercice|Libelle savoir faire|Code postal structure BAL|Departement structure BAL|Type de BAL";
        let text =
            format!("{header}\nFrance|x|a@b.mssante.fr|DURAND|Hélène|Pédiatrie|75012|75|ORG\n");
        let (records, _) = read_all(text.as_bytes()).unwrap();
        let e = entries_of(&records)[0].clone();
        assert_eq!(e.mailbox, "a@b.mssante.fr");
        assert_eq!(e.family_name, "DURAND");
        assert_eq!(e.given_name, "Hélène");
        assert_eq!(e.specialty, "Pédiatrie");
        assert_eq!(e.postcode, "75012");
        assert_eq!(e.department, "75");
        assert_eq!(e.country, "France");
        assert_eq!(e.mailbox_type, "ORG");
        assert_eq!(e.rpps, None);
    }

    #[test]
    fn missing_required_columns_are_named() {
        let err = read_all(b"Type de BAL|Nom d'exercice\nPER|X\n").unwrap_err();
        assert!(
            matches!(err, ExtractionError::MissingColumn("Adresse BAL")),
            "{err}"
        );
        let err = read_all(b"Type de BAL|Adresse BAL\nPER|a@b.fr\n").unwrap_err();
        assert!(
            matches!(err, ExtractionError::MissingColumn("Nom d'exercice")),
            "{err}"
        );
        assert!(matches!(read_all(b"").unwrap_err(), ExtractionError::Empty));
        assert!(matches!(
            read_all(b"\n\r\n").unwrap_err(),
            ExtractionError::Empty
        ));
    }

    #[test]
    fn latin1_lines_are_decoded_one_by_one() {
        let mut text = format!("{HEADER}\n").into_bytes();
        // "Hélène" and "Sèvres" in Windows-1252, between two UTF-8 lines.
        text.extend(line("a@x.mssante.fr", "A", "Zoé", "", "79000 NIORT").into_bytes());
        text.push(b'\n');
        let mut fields: Vec<&[u8]> = vec![b""; 31];
        fields[0] = b"PER";
        fields[1] = b"b@x.mssante.fr";
        fields[8] = b"MME";
        fields[9] = b"L\xc9GER";
        fields[10] = b"H\xe9l\xe8ne";
        fields[27] = b"79000 NIORT";
        fields[28] = b"79000";
        fields[29] = b"Deux-S\xe8vres \x80";
        fields[30] = b"France";
        text.extend(fields.join(&b'|'));
        text.push(b'\n');
        text.extend(line("c@x.mssante.fr", "C", "Zoé", "", "79000 NIORT").into_bytes());
        let (records, stats) = read_all(&text).unwrap();
        let entries = entries_of(&records);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].given_name, "Zoé");
        assert_eq!(entries[1].family_name, "LÉGER");
        assert_eq!(entries[1].given_name, "Hélène");
        assert_eq!(entries[1].department, "Deux-Sèvres €");
        assert_eq!(entries[2].given_name, "Zoé");
        assert_eq!(stats.latin1, 1);
    }

    #[test]
    fn short_blank_and_bad_lines_are_counted_not_fatal() {
        let text = format!(
            "\u{feff}{HEADER}|\n\n   \n|||\nPER|short@x.mssante.fr|8|1|1||||DR|COURT\nPER\nPER|not an address|||||||DR|X|Y\n{}",
            line("ok@x.mssante.fr", "OK", "Ok", "", "79000 NIORT")
        );
        let (records, stats) = read_all(text.as_bytes()).unwrap();
        let entries = entries_of(&records);
        assert_eq!(
            entries
                .iter()
                .map(|e| e.mailbox.as_str())
                .collect::<Vec<_>>(),
            ["short@x.mssante.fr", "ok@x.mssante.fr"]
        );
        assert_eq!(entries[0].family_name, "COURT");
        assert_eq!(entries[0].town, "");
        assert_eq!(stats.blank, 3);
        assert_eq!(stats.short, 3, "{stats:?}");
        let skipped: Vec<_> = records
            .iter()
            .filter_map(|r| match r {
                Record::Skipped { line, reason } => Some((*line, reason.clone())),
                Record::Entry { .. } => None,
            })
            .collect();
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert_eq!(skipped[0].0, 6);
        assert!(skipped[0].1.contains("incomplète"), "{skipped:?}");
        assert!(skipped[1].1.contains("invalide"), "{skipped:?}");
    }

    #[test]
    fn overlong_lines_are_skipped_without_being_kept() {
        let text = format!(
            "{HEADER}\nPER|{}\n{}\n",
            "x".repeat(MAX_LINE_BYTES * 3),
            line("ok@x.mssante.fr", "OK", "Ok", "", "79000 NIORT")
        );
        let (records, _) = read_all(text.as_bytes()).unwrap();
        assert!(matches!(&records[0], Record::Skipped { line: 2, .. }));
        assert_eq!(entries_of(&records).len(), 1);
    }

    #[test]
    fn reads_the_zip_and_refuses_odd_archives() {
        use std::io::Write;
        use zip::write::SimpleFileOptions;
        let zip = |names: &[&str]| {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for name in names {
                w.start_file(*name, SimpleFileOptions::default()).unwrap();
                let body = format!(
                    "{HEADER}\n{}\n",
                    line("z@x.mssante.fr", "Z", "Z", "", "79000 NIORT")
                );
                w.write_all(body.as_bytes()).unwrap();
            }
            w.finish().unwrap().into_inner()
        };
        let (records, _) = read_all(&zip(&[
            "Extraction_Correspondance_MSSante_202601010000.txt",
        ]))
        .unwrap();
        assert_eq!(entries_of(&records)[0].mailbox, "z@x.mssante.fr");
        assert!(matches!(
            read_all(&zip(&["a.csv"])),
            Err(ExtractionError::NoText)
        ));
        assert!(matches!(
            read_all(&zip(&["a.txt", "b.txt"])),
            Err(ExtractionError::TooManyEntries(2))
        ));
        assert!(matches!(
            read_all(&zip(&["a", "b", "c", "d", "e.txt"])),
            Err(ExtractionError::TooManyEntries(5))
        ));
        assert!(matches!(
            read_all(b"PK\x03\x04garbage"),
            Err(ExtractionError::Zip(_))
        ));
    }

    #[test]
    fn header_normalisation() {
        assert_eq!(normalise_header("Nom d'exercice"), "nomdexercice");
        assert_eq!(
            normalise_header(" Libellé  savoir-faire "),
            "libellesavoirfaire"
        );
        assert_eq!(normalise_header("DÉPARTEMENT"), "departement");
        assert_eq!(normalise_header("Civilité d’exercice"), "civilitedexercice");
    }

    #[test]
    fn routing_line() {
        assert_eq!(split_routing_line("79000 NIORT"), ("79000", "NIORT".into()));
        assert_eq!(
            split_routing_line("79000 NIORT CEDEX 9"),
            ("79000", "NIORT".into())
        );
        assert_eq!(
            split_routing_line("20000 AJACCIO"),
            ("20000", "AJACCIO".into())
        );
        assert_eq!(split_routing_line("ST MAIXENT"), ("", "ST MAIXENT".into()));
        assert_eq!(split_routing_line(""), ("", String::new()));
    }
}
