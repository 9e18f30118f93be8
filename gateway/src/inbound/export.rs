//! The export path of the inbound bridge: one received message becomes one
//! directory the practice software imports.
//!
//! ```text
//! import_dir/<key>/
//!   message.eml          the raw message, byte for byte
//!   message.json         headers, files, XDM document entries, problems
//!   corps.txt, corps.html  the body
//!   <attachments>        safe, de-duplicated names (see safe_name)
//!   xdm/, xdm-2/         the unpacked IHE_XDM.ZIP attachments
//! ```
//!
//! The directory appears atomically: everything is written and fsync'd
//! under `import_dir/.partial-<key>`, then renamed to `import_dir/<key>` and
//! the import directory fsync'd. The practice software therefore never sees
//! a half-written message, and after a crash a leftover `.partial-` is
//! simply redone.
//!
//! Content from the sender never decides a path: every name goes through
//! [`safe_name`](super::safe_name), files are created with `create_new`
//! (never overwriting), and a malformed message still yields `message.eml`
//! and `message.json`, with what went wrong listed in `problems`.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use mail_parser::{
    Address, ContentType, Encoding, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use serde::Serialize;

use super::safe_name::Namer;
use crate::xdm::{DocumentMetadata, XdmArchive, read_xdm};

const MESSAGE_EML: &str = "message.eml";
const MESSAGE_JSON: &str = "message.json";
const BODY_TEXT: &str = "corps.txt";
const BODY_HTML: &str = "corps.html";
const XDM_DIR: &str = "xdm";
const PARTIAL_PREFIX: &str = ".partial-";
/// Longest key accepted: the key is one path component.
const MAX_KEY_BYTES: usize = 150;

/// Size and count limits for what one message may make us write or inflate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLimits {
    /// Largest attachment, body or XDM entry written; larger ones are skipped.
    pub max_part_bytes: u64,
    /// Most bytes inflated from one XDM archive.
    pub max_xdm_total_bytes: u64,
    /// Most entries one XDM archive may have.
    pub max_xdm_entries: usize,
}

impl Default for ExportLimits {
    fn default() -> Self {
        Self {
            max_part_bytes: 50 * 1024 * 1024,
            max_xdm_total_bytes: 200 * 1024 * 1024,
            max_xdm_entries: 1000,
        }
    }
}

/// What an export left in the import directory.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// The message's directory, `import_dir/<key>`.
    pub dir: PathBuf,
    /// Files in it, relative, `/`-separated (`xdm/DOC0001.PDF`).
    pub files: Vec<String>,
    /// What could not be exported as is (also in `message.json`). These
    /// quote file names and archive entries chosen by the sender, which may
    /// carry a patient's name: log their count, not their text.
    pub problems: Vec<String>,
}

/// An export that produced nothing usable; the message should be retried.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("export key {key:?} is not a plain file name")]
    InvalidKey { key: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} exists and is not an export directory")]
    Occupied { path: PathBuf },
    #[error("cannot encode message.json: {0}")]
    Json(#[source] serde_json::Error),
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ExportError + 'a {
    move |source| ExportError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one directory for the message into `import_dir`, atomically:
/// everything is written under `import_dir/.partial-<key>` (fsync'd files)
/// then renamed to `import_dir/<key>` (fsync the import dir). If
/// `import_dir/<key>` already exists the message counts as already
/// exported: its content is listed, nothing is overwritten.
///
/// Only one exporter may work on an import directory at a time (the
/// fetcher is that one): the existence check and the rename are not one
/// atomic step.
pub fn export_message(
    raw: &[u8],
    import_dir: &Path,
    key: &str,
    limits: &ExportLimits,
) -> Result<Exported, ExportError> {
    validate_key(key)?;
    check_import_dir(import_dir)?;
    let final_dir = import_dir.join(key);
    if let Some(existing) = existing_export(&final_dir)? {
        return Ok(existing);
    }
    let partial = import_dir.join(format!("{PARTIAL_PREFIX}{key}"));
    remove_leftover(&partial)?;
    fs::create_dir(&partial).map_err(io_error("create", &partial))?;

    let written = write_everything(raw, &partial, limits);
    let (files, problems) = match written {
        Ok(written) => written,
        Err(e) => {
            // Best effort: the next attempt removes it anyway.
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    fs::rename(&partial, &final_dir).map_err(io_error("rename into place", &partial))?;
    sync_dir(import_dir)?;
    Ok(Exported {
        dir: final_dir,
        files,
        problems,
    })
}

/// The key becomes a directory name: one plain component, not hidden, so
/// a wrong caller cannot make us write elsewhere or collide with `.partial-`.
fn validate_key(key: &str) -> Result<(), ExportError> {
    let plain = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.starts_with('.') || !plain {
        return Err(ExportError::InvalidKey {
            key: key.to_string(),
        });
    }
    Ok(())
}

/// The import directory must exist: creating it here would hide a wrong
/// setting or an unmounted share.
fn check_import_dir(import_dir: &Path) -> Result<(), ExportError> {
    let metadata =
        fs::metadata(import_dir).map_err(io_error("open import directory", import_dir))?;
    if metadata.is_dir() {
        Ok(())
    } else {
        Err(ExportError::Io {
            action: "use import directory",
            path: import_dir.to_path_buf(),
            source: io::Error::from(io::ErrorKind::NotADirectory),
        })
    }
}

/// An existing `<key>` directory means "already exported" (a previous run
/// renamed it into place, then died before flagging the message).
fn existing_export(final_dir: &Path) -> Result<Option<Exported>, ExportError> {
    let metadata = match fs::symlink_metadata(final_dir) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("inspect", final_dir)(e)),
    };
    if !metadata.is_dir() {
        return Err(ExportError::Occupied {
            path: final_dir.to_path_buf(),
        });
    }
    let mut files = Vec::new();
    list_files(final_dir, "", 0, &mut files)?;
    files.sort();
    Ok(Some(Exported {
        dir: final_dir.to_path_buf(),
        files,
        problems: recorded_problems(&final_dir.join(MESSAGE_JSON)),
    }))
}

/// Regular files under `dir`, two levels deep at most (the export makes
/// only `xdm*/` subdirectories); symbolic links are not followed.
fn list_files(
    dir: &Path,
    prefix: &str,
    depth: usize,
    files: &mut Vec<String>,
) -> Result<(), ExportError> {
    let entries = fs::read_dir(dir).map_err(io_error("list", dir))?;
    for entry in entries {
        let entry = entry.map_err(io_error("list", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry
            .file_type()
            .map_err(io_error("inspect", &entry.path()))?;
        if file_type.is_file() {
            files.push(format!("{prefix}{name}"));
        } else if file_type.is_dir() && depth == 0 {
            list_files(&entry.path(), &format!("{name}/"), depth + 1, files)?;
        }
    }
    Ok(())
}

/// The problems recorded at the first export, so a re-export reports them
/// again; an unreadable `message.json` is itself a problem.
fn recorded_problems(message_json: &Path) -> Vec<String> {
    let recorded = fs::read(message_json)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|json| {
            json.get("problems")?.as_array().map(|list| {
                list.iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect()
            })
        });
    recorded.unwrap_or_else(|| {
        vec!["already exported, but its message.json is missing or unreadable".into()]
    })
}

/// A `.partial-` directory is what a crash left: never imported (the
/// software only sees renamed directories), so it is redone from scratch.
fn remove_leftover(partial: &Path) -> Result<(), ExportError> {
    let metadata = match fs::symlink_metadata(partial) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("inspect", partial)(e)),
    };
    // remove_dir_all does not follow symbolic links; a link or a file
    // under that name is removed itself, never its target.
    let removed = if metadata.is_dir() {
        fs::remove_dir_all(partial)
    } else {
        fs::remove_file(partial)
    };
    removed.map_err(io_error("remove leftover", partial))
}

fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("sync", dir))
}

/// Writes the whole content into `root` (the partial directory); returns
/// the files written and the problems met.
fn write_everything(
    raw: &[u8],
    root: &Path,
    limits: &ExportLimits,
) -> Result<(Vec<String>, Vec<String>), ExportError> {
    let mut export = Export {
        raw,
        limits,
        out: DirWriter::new(root),
        namer: Namer::new(),
        problems: Vec::new(),
        xdm: Vec::new(),
    };
    // First, so that whatever happens next the message itself is there.
    export.out.write(None, MESSAGE_EML, raw)?;
    let headers = match MessageParser::default().parse(raw) {
        Some(message) => {
            export.write_bodies(&message)?;
            export.write_attachments(&message)?;
            Headers::of(&message)
        }
        None => {
            export
                .problems
                .push("the message could not be parsed: only message.eml is exported".into());
            Headers::default()
        }
    };
    export.write_json(headers)?;
    export.out.sync_dirs()?;
    let mut files = export.out.files;
    files.push(MESSAGE_JSON.to_string());
    Ok((files, export.problems))
}

/// Creates files (never overwriting) and directories under the partial
/// directory, fsyncing each file and remembering what to list.
struct DirWriter {
    root: PathBuf,
    files: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl DirWriter {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            files: Vec::new(),
            dirs: vec![root.to_path_buf()],
        }
    }

    /// `name` and `dir` are safe names (ours or from a `Namer`).
    fn write(&mut self, dir: Option<&str>, name: &str, bytes: &[u8]) -> Result<(), ExportError> {
        let (path, listed) = match dir {
            Some(dir) => (self.root.join(dir).join(name), format!("{dir}/{name}")),
            None => (self.root.join(name), name.to_string()),
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error("create", &path))?;
        file.write_all(bytes).map_err(io_error("write", &path))?;
        file.sync_all().map_err(io_error("sync", &path))?;
        // message.json is listed by the caller: it cannot list itself.
        if listed != MESSAGE_JSON {
            self.files.push(listed);
        }
        Ok(())
    }

    fn make_dir(&mut self, name: &str) -> Result<(), ExportError> {
        let path = self.root.join(name);
        fs::create_dir(&path).map_err(io_error("create", &path))?;
        self.dirs.push(path);
        Ok(())
    }

    /// Subdirectories first, then the message directory holding them, so
    /// the rename publishes only durable entries.
    fn sync_dirs(&self) -> Result<(), ExportError> {
        self.dirs.iter().rev().try_for_each(|dir| sync_dir(dir))
    }
}

/// One export in progress.
struct Export<'a> {
    raw: &'a [u8],
    limits: &'a ExportLimits,
    out: DirWriter,
    namer: Namer,
    problems: Vec<String>,
    xdm: Vec<XdmJson>,
}

/// `message.json`. Keys are stable: absent values are `null` or `[]`.
#[derive(Serialize)]
struct MessageJson<'a> {
    #[serde(flatten)]
    headers: Headers,
    files: &'a [String],
    xdm: &'a [XdmJson],
    problems: &'a [String],
    exported_at: Option<String>,
}

#[derive(Serialize, Default)]
struct Headers {
    from: Option<String>,
    from_name: Option<String>,
    to: Vec<String>,
    cc: Vec<String>,
    subject: Option<String>,
    /// RFC 3339, or null when absent or unreadable.
    date: Option<String>,
    message_id: Option<String>,
}

impl Headers {
    fn of(message: &Message<'_>) -> Self {
        let from = message.from().and_then(Address::first);
        Self {
            from: from.and_then(|a| a.address()).map(str::to_string),
            from_name: from.and_then(|a| a.name()).map(str::to_string),
            to: addresses(message.to()),
            cc: addresses(message.cc()),
            subject: message.subject().map(str::to_string),
            date: message
                .date()
                .filter(|d| d.is_valid())
                .map(|d| d.to_rfc3339()),
            message_id: message.message_id().map(str::to_string),
        }
    }
}

fn addresses(list: Option<&Address<'_>>) -> Vec<String> {
    list.map(|list| {
        list.iter()
            .filter_map(|a| a.address())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

#[derive(Serialize)]
struct XdmJson {
    /// The archive's file name in the message directory.
    archive: String,
    /// Where it was unpacked (`xdm`, `xdm-2`...).
    dir: String,
    documents: Vec<DocumentJson>,
}

#[derive(Serialize)]
struct DocumentJson {
    /// The document's file, e.g. `xdm/DOC0001.PDF`; null if not in the archive.
    file: Option<String>,
    #[serde(flatten)]
    metadata: DocumentMetadata,
}

/// An attachment to write: its position, what the sender called it, and
/// the directory it unpacks into if it is an XDM archive.
struct Planned<'m> {
    number: usize,
    part: &'m MessagePart<'m>,
    wanted: Option<String>,
    xdm_dir: Option<String>,
}

impl Export<'_> {
    fn too_big(&self, len: usize) -> bool {
        u64::try_from(len).map_or(true, |len| len > self.limits.max_part_bytes)
    }

    /// `corps.txt` (every text body part; HTML-only mail converted to
    /// text) and `corps.html` when the sender wrote HTML.
    fn write_bodies(&mut self, message: &Message<'_>) -> Result<(), ExportError> {
        let text: Vec<Cow<'_, str>> = (0..message.text_body_count())
            .filter_map(|i| message.body_text(i))
            .collect();
        self.write_body(BODY_TEXT, &text.join("\n"))?;
        let html: Vec<&str> = message
            .html_bodies()
            .filter_map(|part| match &part.body {
                PartType::Html(html) => Some(html.as_ref()),
                _ => None,
            })
            .collect();
        self.write_body(BODY_HTML, &html.join("\n"))
    }

    fn write_body(&mut self, name: &str, body: &str) -> Result<(), ExportError> {
        if body.is_empty() {
            return Ok(());
        }
        if self.too_big(body.len()) {
            self.problems.push(format!(
                "{name}: {} bytes, more than the {} allowed; not exported",
                body.len(),
                self.limits.max_part_bytes
            ));
            return Ok(());
        }
        self.out.write(None, name, body.as_bytes())
    }

    fn write_attachments(&mut self, message: &Message<'_>) -> Result<(), ExportError> {
        let planned = self.plan_attachments(message);
        for attachment in planned {
            self.write_attachment(attachment)?;
        }
        Ok(())
    }

    /// Decides which attachments are XDM archives and reserves their
    /// directory names before any attachment is named, so an attachment
    /// called `xdm-2` cannot take the second archive's directory.
    fn plan_attachments<'m>(&mut self, message: &'m Message<'_>) -> Vec<Planned<'m>> {
        let mut xdm_count = 0;
        message
            .attachments()
            .enumerate()
            .map(|(i, part)| {
                let wanted = wanted_name(part);
                let xdm_dir = is_xdm(wanted.as_deref(), part.content_type()).then(|| {
                    xdm_count += 1;
                    let dir = if xdm_count == 1 {
                        XDM_DIR.to_string()
                    } else {
                        format!("{XDM_DIR}-{xdm_count}")
                    };
                    self.namer.reserve(&dir);
                    dir
                });
                Planned {
                    number: i + 1,
                    part,
                    wanted,
                    xdm_dir,
                }
            })
            .collect()
    }

    fn write_attachment(&mut self, attachment: Planned<'_>) -> Result<(), ExportError> {
        let Planned {
            number,
            part,
            wanted,
            xdm_dir,
        } = attachment;
        let label = describe(number, wanted.as_deref());
        let bytes = attachment_bytes(self.raw, part);
        if self.too_big(bytes.len()) {
            self.problems.push(format!(
                "{label}: {} bytes, more than the {} allowed; not exported",
                bytes.len(),
                self.limits.max_part_bytes
            ));
            return Ok(());
        }
        if part.is_encoding_problem {
            self.problems
                .push(format!("{label}: malformed content, exported as received"));
        }
        let fallback = format!("piece-jointe-{number}.{}", fallback_extension(part));
        let name = self.namer.unique(wanted.as_deref(), &fallback);
        if let Some(wanted) = &wanted
            && *wanted != name
        {
            self.problems.push(format!(
                "attachment {number}: name '{wanted}' replaced by '{name}'"
            ));
        }
        self.out.write(None, &name, &bytes)?;
        if let Some(dir) = xdm_dir {
            self.write_xdm(&name, &bytes, dir)?;
        }
        Ok(())
    }

    /// Unpacks an XDM archive into `dir` (flattened, safe names) and
    /// records its document entries.
    fn write_xdm(
        &mut self,
        archive_name: &str,
        bytes: &[u8],
        dir: String,
    ) -> Result<(), ExportError> {
        let archive = match read_xdm(bytes, self.limits) {
            Ok(archive) => archive,
            Err(e) => {
                self.problems
                    .push(format!("{archive_name}: {e}; not unpacked"));
                return Ok(());
            }
        };
        self.out.make_dir(&dir)?;
        let files = self.write_xdm_entries(archive_name, &archive, &dir)?;
        let documents = archive
            .documents
            .into_iter()
            .map(|document| DocumentJson {
                file: document.entry.and_then(|i| files.get(i).cloned()),
                metadata: document.metadata,
            })
            .collect();
        self.problems.extend(
            archive
                .problems
                .iter()
                .map(|p| format!("{archive_name}: {p}")),
        );
        self.xdm.push(XdmJson {
            archive: archive_name.to_string(),
            dir,
            documents,
        });
        Ok(())
    }

    /// Writes every entry; returns each entry's path in the message
    /// directory, by entry index.
    fn write_xdm_entries(
        &mut self,
        archive_name: &str,
        archive: &XdmArchive,
        dir: &str,
    ) -> Result<Vec<String>, ExportError> {
        let mut namer = Namer::empty();
        let mut files = Vec::with_capacity(archive.entries.len());
        for (i, entry) in archive.entries.iter().enumerate() {
            let name = namer.unique(Some(entry.base_name()), &format!("fichier-{}", i + 1));
            if entry.escapes_archive() {
                self.problems.push(format!(
                    "{archive_name}: entry '{}' has a path leading outside the archive; written as '{dir}/{name}'",
                    entry.zip_name
                ));
            } else if entry.base_name() != name {
                self.problems.push(format!(
                    "{archive_name}: entry '{}' written as '{dir}/{name}'",
                    entry.zip_name
                ));
            }
            self.out.write(Some(dir), &name, &entry.bytes)?;
            files.push(format!("{dir}/{name}"));
        }
        Ok(files)
    }

    fn write_json(&mut self, headers: Headers) -> Result<(), ExportError> {
        let exported_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .ok();
        let json = MessageJson {
            headers,
            files: &self.out.files,
            xdm: &self.xdm,
            problems: &self.problems,
            exported_at,
        };
        let bytes = serde_json::to_vec_pretty(&json).map_err(ExportError::Json)?;
        self.out.write(None, MESSAGE_JSON, &bytes)
    }
}

fn describe(number: usize, wanted: Option<&str>) -> String {
    match wanted {
        Some(name) => format!("attachment {number} ('{name}')"),
        None => format!("attachment {number}"),
    }
}

/// The name the sender gave; for a forwarded message without one, its
/// subject. A message always ends in `.eml` so it opens in a mail client.
fn wanted_name(part: &MessagePart<'_>) -> Option<String> {
    let named = part.attachment_name().map(str::to_string);
    if !is_message(part) {
        return named;
    }
    let nested_subject = part.message().and_then(|m| m.subject()).map(str::to_string);
    let name = named.or(nested_subject)?;
    if name.to_ascii_lowercase().ends_with(".eml") {
        Some(name)
    } else {
        Some(format!("{name}.eml"))
    }
}

fn is_message(part: &MessagePart<'_>) -> bool {
    matches!(part.body, PartType::Message(_))
        || part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("rfc822") || s.eq_ignore_ascii_case("global")
                })
        })
}

/// `IHE_XDM.ZIP` under any case, or a zip whose name mentions XDM (some
/// software names it `IHE_XDM (1).zip` or sends it as octet-stream).
fn is_xdm(wanted: Option<&str>, content_type: Option<&ContentType<'_>>) -> bool {
    let Some(name) = wanted.map(|w| w.rsplit(['/', '\\']).next().unwrap_or_default()) else {
        return false;
    };
    if name.eq_ignore_ascii_case("IHE_XDM.ZIP") {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    let zip_type = content_type.is_some_and(|ct| {
        ct.subtype().is_some_and(|s| {
            matches!(
                s.to_ascii_lowercase().as_str(),
                "zip" | "x-zip-compressed" | "x-zip"
            )
        })
    });
    (zip_type || lower.ends_with(".zip")) && lower.contains("xdm")
}

/// The attachment's bytes as the sender had them.
fn attachment_bytes<'a>(raw: &'a [u8], part: &'a MessagePart<'_>) -> Cow<'a, [u8]> {
    match &part.body {
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => Cow::Borrowed(bytes.as_ref()),
        // mail-parser converts text to UTF-8; a lab result in ISO-8859-1
        // (HPRIM) must reach the practice software in its own charset.
        PartType::Text(_) | PartType::Html(_) => original_bytes(raw, part)
            .map(Cow::Owned)
            .unwrap_or(Cow::Borrowed(part.contents())),
        PartType::Message(nested) => {
            // A nested message that was not transfer-encoded is a slice of
            // the outer raw message (mail-parser then keeps the outer one as
            // the nested `raw_message`); an encoded one was decoded.
            if part.encoding == Encoding::None {
                raw_body(raw, part).map_or(Cow::Borrowed(nested.raw_message()), Cow::Borrowed)
            } else {
                Cow::Borrowed(nested.raw_message())
            }
        }
        PartType::Multipart(_) => Cow::Borrowed(&[]),
    }
}

/// The part's body in the raw message, before any decoding.
fn raw_body<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> Option<&'a [u8]> {
    let start = part.raw_body_offset() as usize;
    let end = part.raw_end_offset() as usize;
    let end = if end > start { end } else { raw.len() };
    raw.get(start..end)
}

/// The part's body with only its transfer encoding undone.
fn original_bytes(raw: &[u8], part: &MessagePart<'_>) -> Option<Vec<u8>> {
    let body = raw_body(raw, part)?;
    match part.encoding {
        Encoding::Base64 => mail_parser::decoders::base64::base64_decode(body),
        Encoding::QuotedPrintable => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
        }
        Encoding::None => Some(body.to_vec()),
    }
}

/// Extension for an attachment that came without a name.
fn fallback_extension(part: &MessagePart<'_>) -> &'static str {
    if is_message(part) {
        return "eml";
    }
    let Some(ct) = part.content_type() else {
        return "txt";
    };
    let subtype = ct.subtype().unwrap_or_default().to_ascii_lowercase();
    match (ct.ctype().to_ascii_lowercase().as_str(), subtype.as_str()) {
        (_, "pdf") => "pdf",
        (_, "zip" | "x-zip-compressed" | "x-zip") => "zip",
        (_, "xml" | "hl7v3+xml") => "xml",
        ("text", "html") => "html",
        ("text", _) => "txt",
        ("image", "jpeg" | "jpg") => "jpg",
        ("image", "png") => "png",
        ("image", "gif") => "gif",
        ("image", "tiff") => "tif",
        (_, "dicom") => "dcm",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::collections::BTreeSet;

    const METADATA: &[u8] = include_bytes!("../xdm/testdata/METADATA.XML");
    const PDF: &[u8] = include_bytes!("../xdm/testdata/DOC0001.PDF");

    /// A temporary root holding the import directory, so tests can check
    /// that nothing appears beside it.
    struct Setup {
        root: tempfile::TempDir,
    }

    impl Setup {
        fn new() -> Self {
            let root = tempfile::tempdir().unwrap();
            fs::create_dir(root.path().join("import")).unwrap();
            fs::write(root.path().join("sibling.txt"), b"untouched").unwrap();
            Self { root }
        }

        fn import(&self) -> PathBuf {
            self.root.path().join("import")
        }

        fn export(&self, raw: &[u8], key: &str) -> Exported {
            self.export_with(raw, key, &ExportLimits::default())
        }

        fn export_with(&self, raw: &[u8], key: &str, limits: &ExportLimits) -> Exported {
            let exported = export_message(raw, &self.import(), key, limits).unwrap();
            self.assert_contained();
            exported
        }

        fn read(&self, key: &str, file: &str) -> Vec<u8> {
            fs::read(self.import().join(key).join(file)).unwrap()
        }

        fn json(&self, key: &str) -> serde_json::Value {
            serde_json::from_slice(&self.read(key, MESSAGE_JSON)).unwrap()
        }

        /// Every path under the root: the root keeps only `import` and the
        /// sibling, the import dir only finished message directories.
        fn assert_contained(&self) {
            let top = names(self.root.path());
            assert_eq!(
                top,
                BTreeSet::from(["import".to_string(), "sibling.txt".to_string()])
            );
            assert_eq!(
                fs::read(self.root.path().join("sibling.txt")).unwrap(),
                b"untouched"
            );
            for key in names(&self.import()) {
                assert!(!key.starts_with('.'), "leftover {key}");
                assert!(
                    self.import().join(&key).is_dir(),
                    "{key} is not a directory"
                );
            }
        }
    }

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Test messages are written with `\n`; mail has `\r\n`.
    fn crlf(text: &str) -> Vec<u8> {
        text.replace('\n', "\r\n").into_bytes()
    }

    fn base64_lines(bytes: &[u8]) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        lines.join("\n")
    }

    const HEADERS: &str = "From: \"Dr Claire Cardio\" <claire.cardio@exemple.mssante.fr>
To: marc.generaliste@cabinet.mssante.fr, Secrétariat <secretariat@cabinet.mssante.fr>
Cc: archives@cabinet.mssante.fr
Subject: =?UTF-8?Q?Compte_rendu_de_consultation?=
Date: Mon, 23 Nov 2026 15:30:12 +0100
Message-ID: <cr-42@exemple.mssante.fr>
MIME-Version: 1.0
";

    /// multipart/mixed: a short text body, then the given parts.
    fn multipart(parts: &[String]) -> Vec<u8> {
        let mut text = format!(
            "{HEADERS}Content-Type: multipart/mixed; boundary=\"B0\"\n\n--B0\n\
             Content-Type: text/plain; charset=utf-8\n\nBonjour, ci-joint le compte rendu.\n"
        );
        for part in parts {
            text.push_str("--B0\n");
            text.push_str(part);
        }
        text.push_str("--B0--\n");
        crlf(&text)
    }

    fn binary_part(content_type: &str, name: &str, bytes: &[u8]) -> String {
        format!(
            "Content-Type: {content_type}; name=\"{name}\"\nContent-Transfer-Encoding: base64\n\
             Content-Disposition: attachment; filename=\"{name}\"\n\n{}\n",
            base64_lines(bytes)
        )
    }

    use crate::xdm::read::tests::zip_of;

    fn xdm_zip() -> Vec<u8> {
        zip_of(&[
            ("README.TXT", b"Archive XDM de test"),
            ("INDEX.HTM", b"<html><body>index</body></html>"),
            ("IHE_XDM/SUBSET01/METADATA.XML", METADATA),
            ("IHE_XDM/SUBSET01/DOC0001.PDF", PDF),
        ])
    }

    #[test]
    fn plain_text_mail() {
        let setup = Setup::new();
        let raw = crlf(&format!(
            "{HEADERS}Content-Type: text/plain; charset=utf-8\n\
             Content-Transfer-Encoding: quoted-printable\n\nPatient vu ce jour, =C3=A9cho normale.\n"
        ));
        let exported = setup.export(&raw, "k1");
        assert_eq!(exported.dir, setup.import().join("k1"));
        assert_eq!(exported.files, ["message.eml", "corps.txt", "message.json"]);
        assert!(exported.problems.is_empty(), "{:?}", exported.problems);
        assert_eq!(setup.read("k1", "message.eml"), raw);
        assert_eq!(
            String::from_utf8(setup.read("k1", "corps.txt"))
                .unwrap()
                .trim_end(),
            "Patient vu ce jour, écho normale."
        );
        let json = setup.json("k1");
        assert_eq!(json["from"], "claire.cardio@exemple.mssante.fr");
        assert_eq!(json["from_name"], "Dr Claire Cardio");
        assert_eq!(
            json["to"],
            serde_json::json!([
                "marc.generaliste@cabinet.mssante.fr",
                "secretariat@cabinet.mssante.fr"
            ])
        );
        assert_eq!(
            json["cc"],
            serde_json::json!(["archives@cabinet.mssante.fr"])
        );
        assert_eq!(json["subject"], "Compte rendu de consultation");
        assert_eq!(json["date"], "2026-11-23T15:30:12+01:00");
        assert_eq!(json["message_id"], "cr-42@exemple.mssante.fr");
        assert_eq!(
            json["files"],
            serde_json::json!(["message.eml", "corps.txt"])
        );
        assert_eq!(json["xdm"], serde_json::json!([]));
        assert_eq!(json["problems"], serde_json::json!([]));
        assert!(json["exported_at"].as_str().unwrap().contains('T'));
    }

    #[test]
    fn html_alternative_gives_both_bodies() {
        let setup = Setup::new();
        let raw = crlf(&format!(
            "{HEADERS}Content-Type: multipart/alternative; boundary=A\n\n--A\n\
             Content-Type: text/plain; charset=utf-8\n\nTexte\n--A\n\
             Content-Type: text/html; charset=utf-8\n\n<p>HTML</p>\n--A--\n"
        ));
        let exported = setup.export(&raw, "k");
        assert_eq!(
            exported.files,
            ["message.eml", "corps.txt", "corps.html", "message.json"]
        );
        assert!(
            String::from_utf8(setup.read("k", "corps.html"))
                .unwrap()
                .contains("<p>HTML</p>")
        );
    }

    #[test]
    fn mail_with_pdf_attachment() {
        let setup = Setup::new();
        let raw = multipart(&[binary_part("application/pdf", "compte-rendu.pdf", PDF)]);
        let exported = setup.export(&raw, "k");
        assert_eq!(
            exported.files,
            [
                "message.eml",
                "corps.txt",
                "compte-rendu.pdf",
                "message.json"
            ]
        );
        assert!(exported.problems.is_empty(), "{:?}", exported.problems);
        assert_eq!(setup.read("k", "compte-rendu.pdf"), PDF);
    }

    #[test]
    fn mail_with_xdm_archive() {
        let setup = Setup::new();
        let raw = multipart(&[
            binary_part("application/pdf", "compte-rendu.pdf", PDF),
            binary_part("application/zip", "IHE_XDM.ZIP", &xdm_zip()),
        ]);
        let exported = setup.export(&raw, "k");
        assert!(exported.problems.is_empty(), "{:?}", exported.problems);
        for file in [
            "IHE_XDM.ZIP",
            "xdm/README.TXT",
            "xdm/INDEX.HTM",
            "xdm/METADATA.XML",
            "xdm/DOC0001.PDF",
        ] {
            assert!(
                exported.files.contains(&file.to_string()),
                "{file}: {:?}",
                exported.files
            );
        }
        assert_eq!(setup.read("k", "xdm/DOC0001.PDF"), PDF);
        assert_eq!(setup.read("k", "xdm/METADATA.XML"), METADATA);
        let json = setup.json("k");
        let xdm = &json["xdm"][0];
        assert_eq!(xdm["archive"], "IHE_XDM.ZIP");
        assert_eq!(xdm["dir"], "xdm");
        let document = &xdm["documents"][0];
        assert_eq!(document["file"], "xdm/DOC0001.PDF");
        assert_eq!(document["patient_id"], "279035121518989");
        assert_eq!(document["patient_id_authority"], "1.2.250.1.213.1.4.10");
        assert_eq!(document["ins"], true);
        assert_eq!(document["class_code"], "11");
        assert_eq!(document["type_code"], "11488-4");
        assert_eq!(document["type_display"], "Note de consultation");
        assert_eq!(document["format_code"], "urn:ihe:iti:xds-sd:pdf:2008");
        assert_eq!(
            document["title"],
            "Compte rendu de consultation de cardiologie"
        );
        assert_eq!(document["mime_type"], "application/pdf");
        assert_eq!(document["creation_time"], "20261123143000");
        assert_eq!(
            json["files"].as_array().unwrap().len(),
            exported.files.len() - 1
        );
    }

    #[test]
    fn second_xdm_archive_and_name_clashes() {
        let setup = Setup::new();
        let raw = multipart(&[
            binary_part("application/octet-stream", "xdm-2", b"not a dir"),
            binary_part("application/zip", "ihe_xdm.zip", &xdm_zip()),
            binary_part(
                "application/x-zip-compressed",
                "IHE_XDM (1).zip",
                &xdm_zip(),
            ),
            binary_part("text/plain", "corps.txt", b"pas le corps"),
        ]);
        let exported = setup.export(&raw, "k");
        let files = &exported.files;
        for file in [
            "xdm-2-2",
            "ihe_xdm.zip",
            "IHE_XDM (1).zip",
            "xdm/DOC0001.PDF",
            "xdm-2/DOC0001.PDF",
            "corps-2.txt",
        ] {
            assert!(files.contains(&file.to_string()), "{file}: {files:?}");
        }
        assert_eq!(setup.read("k", "corps-2.txt"), b"pas le corps");
        let json = setup.json("k");
        assert_eq!(json["xdm"][1]["documents"][0]["file"], "xdm-2/DOC0001.PDF");
        assert!(
            exported
                .problems
                .iter()
                .any(|p| p == "attachment 1: name 'xdm-2' replaced by 'xdm-2-2'")
        );
    }

    #[test]
    fn zip_bomb_is_stopped_and_the_rest_exported() {
        let setup = Setup::new();
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let mut zip = zip_of(&[
            ("IHE_XDM/SUBSET01/METADATA.XML", METADATA),
            ("IHE_XDM/SUBSET01/DOC0001.PDF", PDF),
            ("IHE_XDM/SUBSET01/BOMB.BIN", &zeros),
        ]);
        // 8 MiB of zeros that declares 100 bytes.
        crate::xdm::read::tests::forge_declared_size(&mut zip, "IHE_XDM/SUBSET01/BOMB.BIN", 100);
        let limits = ExportLimits {
            max_part_bytes: 1024 * 1024,
            ..ExportLimits::default()
        };
        let raw = multipart(&[binary_part("application/zip", "IHE_XDM.ZIP", &zip)]);
        let exported = setup.export_with(&raw, "k", &limits);
        assert!(
            exported.problems.iter().any(|p| p.contains("BOMB.BIN")),
            "{:?}",
            exported.problems
        );
        assert!(!exported.files.iter().any(|f| f.contains("BOMB")));
        for file in [
            "corps.txt",
            "IHE_XDM.ZIP",
            "xdm/METADATA.XML",
            "xdm/DOC0001.PDF",
            "message.json",
        ] {
            assert!(
                exported.files.contains(&file.to_string()),
                "{file}: {:?}",
                exported.files
            );
        }
        assert_eq!(setup.read("k", "xdm/DOC0001.PDF"), PDF);
    }

    #[test]
    fn traversal_names_in_the_zip_stay_inside() {
        let setup = Setup::new();
        let zip = zip_of(&[
            ("../../evil.pdf", b"1"),
            ("/etc/cron.d/evil2", b"2"),
            ("..\\..\\windows.pdf", b"3"),
            ("IHE_XDM/../../../../METADATA.XML", METADATA),
            ("a/b/../../DOC0001.PDF", PDF),
            ("..", b"4"),
            ("CON", b"5"),
        ]);
        let raw = multipart(&[binary_part("application/zip", "IHE_XDM.ZIP", &zip)]);
        let exported = setup.export(&raw, "k");
        let xdm_files: BTreeSet<String> = names(&setup.import().join("k").join("xdm"));
        let expected = [
            "evil.pdf",
            "evil2",
            "windows.pdf",
            "METADATA.XML",
            "DOC0001.PDF",
            "fichier-6",
            "_CON",
        ];
        assert_eq!(xdm_files, expected.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            setup.json("k")["xdm"][0]["documents"][0]["file"],
            "xdm/DOC0001.PDF"
        );
        assert!(
            exported
                .problems
                .iter()
                .any(|p| p.contains("'../../evil.pdf' has a path leading outside")),
            "{:?}",
            exported.problems
        );
    }

    #[test]
    fn hostile_attachment_names_are_made_safe() {
        let setup = Setup::new();
        let raw = multipart(&[
            binary_part("application/octet-stream", "../../etc/passwd", b"a"),
            // A quoted-string unescapes "\\": the name is C:\Windows\evil.exe.
            binary_part(
                "application/octet-stream",
                "C:\\\\Windows\\\\evil.exe",
                b"b",
            ),
            binary_part("text/plain", "CON.txt", b"c"),
            binary_part("application/octet-stream", ".hidden", b"d"),
            binary_part("application/octet-stream", "..", b"e"),
            binary_part("application/pdf", "message.json", b"f"),
        ]);
        let exported = setup.export(&raw, "k");
        for file in [
            "passwd",
            "evil.exe",
            "_CON.txt",
            "hidden",
            "piece-jointe-5.bin",
            "message-2.json",
        ] {
            assert!(
                exported.files.contains(&file.to_string()),
                "{file}: {:?}",
                exported.files
            );
        }
        assert!(
            exported.problems.contains(
                &"attachment 1: name '../../etc/passwd' replaced by 'passwd'".to_string()
            )
        );
        // message.json is ours, not the sender's.
        assert!(setup.json("k")["files"].is_array());
    }

    #[test]
    fn attachment_without_name_gets_a_fallback() {
        let setup = Setup::new();
        let raw = multipart(&[format!(
            "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\
             Content-Disposition: attachment\n\n{}\n",
            base64_lines(PDF)
        )]);
        let exported = setup.export(&raw, "k");
        assert!(
            exported.files.contains(&"piece-jointe-1.pdf".to_string()),
            "{:?}",
            exported.files
        );
        assert!(exported.problems.is_empty(), "{:?}", exported.problems);
    }

    #[test]
    fn text_attachment_keeps_its_charset() {
        let setup = Setup::new();
        // An HPRIM result in ISO-8859-1: "Hémoglobine" with é = 0xE9.
        let latin1: &[u8] = b"H\xe9moglobine 14,2 g/dl\r\n";
        let raw = multipart(&[format!(
            "Content-Type: text/plain; charset=iso-8859-1; name=\"resultat.hpr\"\n\
             Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"resultat.hpr\"\n\n{}\n",
            base64_lines(latin1)
        )]);
        setup.export(&raw, "k");
        assert_eq!(setup.read("k", "resultat.hpr"), latin1);

        let raw = multipart(&["Content-Type: text/plain; charset=iso-8859-1\n\
             Content-Transfer-Encoding: quoted-printable\n\
             Content-Disposition: attachment; filename=\"qp.hpr\"\n\nH=E9moglobine\n"
            .to_string()]);
        setup.export(&raw, "k2");
        assert_eq!(setup.read("k2", "qp.hpr"), b"H\xe9moglobine");

        // 8bit, not transfer-encoded: the raw bytes, without the line end
        // that belongs to the boundary.
        let mut raw = multipart(&["Content-Type: text/plain; charset=iso-8859-1\n\
             Content-Disposition: attachment; filename=\"8bit.hpr\"\n\n"
            .to_string()]);
        let at = raw.len() - b"--B0--\r\n".len();
        raw.splice(at..at, b"H\xe9mo\r\nligne 2\r\n".iter().copied());
        setup.export(&raw, "k3");
        assert_eq!(setup.read("k3", "8bit.hpr"), b"H\xe9mo\r\nligne 2");
    }

    #[test]
    fn oversized_part_is_skipped() {
        let setup = Setup::new();
        let raw = multipart(&[
            binary_part("application/pdf", "gros.pdf", &vec![1u8; 4096]),
            binary_part("application/pdf", "petit.pdf", b"%PDF small"),
        ]);
        let limits = ExportLimits {
            max_part_bytes: 1000,
            ..ExportLimits::default()
        };
        let exported = setup.export_with(&raw, "k", &limits);
        assert!(!exported.files.contains(&"gros.pdf".to_string()));
        assert!(exported.files.contains(&"petit.pdf".to_string()));
        assert!(
            exported.problems[0].contains("'gros.pdf'"),
            "{:?}",
            exported.problems
        );
        assert!(exported.problems[0].contains("4096 bytes"));
    }

    #[test]
    fn malformed_messages_do_not_crash() {
        let setup = Setup::new();
        let samples: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\x00\x01\x02\xff\xfe".to_vec(),
            b"no headers at all, just text".to_vec(),
            crlf(
                "Subject: unterminated\nContent-Type: multipart/mixed; boundary=X\n\n--X\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\n!!!not base64!!!\n",
            ),
            crlf(
                "Subject: bad charset =?x-unknown?B?////?=\nContent-Type: text/plain; charset=x-klingon\n\n\u{fffd}\n",
            ),
            crlf("Content-Type: multipart/mixed\n\nboundary missing\n"),
            crlf("Content-Type: message/rfc822\n\n"),
            b"From: a@b\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n"
                .to_vec(),
        ];
        for (i, raw) in samples.iter().enumerate() {
            let key = format!("m{i}");
            let exported = setup.export(raw, &key);
            assert_eq!(setup.read(&key, "message.eml"), *raw, "sample {i}");
            assert!(exported.files.contains(&"message.json".to_string()));
            let json = setup.json(&key);
            assert!(json["problems"].is_array(), "sample {i}");
        }
        let exported = setup.export(b"", "empty");
        assert!(
            exported
                .problems
                .iter()
                .any(|p| p.contains("could not be parsed")),
            "{:?}",
            exported.problems
        );
    }

    #[test]
    fn nested_message_is_exported_as_eml() {
        let setup = Setup::new();
        let nested = "From: labo@exemple.mssante.fr\nSubject: Resultats\n\
             Content-Type: multipart/mixed; boundary=N\n\n--N\nContent-Type: text/plain\n\nVoir PJ\n\
             --N\nContent-Type: application/pdf; name=inner.pdf\nContent-Transfer-Encoding: base64\n\n\
             JVBERg==\n--N--\n";
        let raw = multipart(&[format!(
            "Content-Type: message/rfc822\nContent-Disposition: attachment; filename=\"transfert\"\n\n{nested}"
        )]);
        let exported = setup.export(&raw, "k");
        assert!(
            exported.files.contains(&"transfert.eml".to_string()),
            "{:?}",
            exported.files
        );
        // The nested message's own attachment is not unpacked.
        assert!(!exported.files.contains(&"inner.pdf".to_string()));
        let eml = setup.read("k", "transfert.eml");
        let eml = String::from_utf8(eml).unwrap();
        assert!(
            eml.starts_with("From: labo@exemple.mssante.fr\r\n"),
            "{eml}"
        );
        assert!(eml.contains("JVBERg=="));
        assert!(!eml.contains("Compte_rendu"), "outer message leaked: {eml}");

        // Base64-encoded, without a file name: named after its subject.
        let raw = multipart(&[format!(
            "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n{}\n",
            base64_lines(&crlf(nested))
        )]);
        let exported = setup.export(&raw, "k2");
        assert!(
            exported.files.contains(&"Resultats.eml".to_string()),
            "{:?}",
            exported.files
        );
        assert_eq!(setup.read("k2", "Resultats.eml"), crlf(nested));
    }

    #[test]
    fn re_export_of_the_same_key_overwrites_nothing() {
        let setup = Setup::new();
        let first = multipart(&[binary_part("application/pdf", "compte-rendu.pdf", PDF)]);
        let exported = setup.export(&first, "k");
        let again = setup.export(b"Subject: other\r\n\r\nother\r\n", "k");
        assert_eq!(again.dir, exported.dir);
        let mut expected = exported.files.clone();
        expected.sort();
        assert_eq!(again.files, expected);
        assert_eq!(again.problems, exported.problems);
        assert_eq!(setup.read("k", "message.eml"), first);
    }

    #[test]
    fn leftover_partial_directory_is_redone() {
        let setup = Setup::new();
        let partial = setup.import().join(".partial-k");
        fs::create_dir(&partial).unwrap();
        fs::write(partial.join("message.eml"), b"half").unwrap();
        let raw = crlf(&format!("{HEADERS}\nbody\n"));
        setup.export(&raw, "k");
        assert_eq!(setup.read("k", "message.eml"), raw);
        assert!(!partial.exists());
    }

    #[test]
    fn refuses_bad_keys_and_missing_import_dir() {
        let setup = Setup::new();
        let limits = ExportLimits::default();
        for key in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\\b",
            ".partial-x",
            "é",
            &"x".repeat(200),
        ] {
            let result = export_message(b"", &setup.import(), key, &limits);
            assert!(
                matches!(result, Err(ExportError::InvalidKey { .. })),
                "{key:?}"
            );
        }
        let missing = setup.root.path().join("missing");
        assert!(matches!(
            export_message(b"", &missing, "k", &limits),
            Err(ExportError::Io { .. })
        ));
        assert!(!missing.exists());
        fs::write(setup.import().join("occupied"), b"x").unwrap();
        assert!(matches!(
            export_message(b"", &setup.import(), "occupied", &limits),
            Err(ExportError::Occupied { .. })
        ));
    }
}
