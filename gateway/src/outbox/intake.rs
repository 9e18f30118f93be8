//! Taking one finished document: check it, route it, build its message,
//! hand it to the queue, then file it in `sent/` — or in `errors/` with a
//! `.error.txt` saying why, in French. Nothing is deleted on failure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::Instrument;

use super::document::{DocumentInputs, build_document};
use super::pdf::{PdfState, pdf_state};
use super::routing::{FolderContact, Route, route};
use super::settings::{AfterSend, OutboxConfig};
use super::sidecar::Sidecar;
use crate::card::CardService;
use crate::config::PaperConfig;
use crate::directory::{AddressBook, Directory};
use crate::paper::{CoverLetter, Letterhead, PaperError, PostalAddress};
use crate::queue::tracking::{PaperSent, Tracking};
use crate::queue::{Envelope, Queue, QueueId};
use crate::whitelist::Whitelist;
use crate::xdm::Author;

/// Folder names inside a watched folder that are not correspondents.
pub const SENT_DIR: &str = "sent";
pub const ERRORS_DIR: &str = "errors";

/// A file found in a watched folder, believed complete.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The watched folder.
    pub root: PathBuf,
    pub path: PathBuf,
    /// The correspondent's subfolder it was dropped in, if any.
    pub subfolder: Option<String>,
    /// When the watcher first saw it.
    pub first_seen: Instant,
}

/// What became of a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Queued (and filed in `sent/` or deleted).
    Sent { queue_id: String },
    /// Moved to `errors/`.
    Refused { reason: String },
    /// Not yet: look again later.
    Wait,
    /// The file went away while being looked at (renamed or removed by
    /// someone else): nothing to do.
    Gone,
}

/// Everything intake needs from the daemon.
pub struct Intake {
    pub settings: OutboxConfig,
    pub queue: Queue,
    pub whitelist: Arc<Whitelist>,
    pub mailbox: String,
    pub nil: String,
    pub card: Option<CardService>,
    pub delivery_wake: Arc<Notify>,
    /// The practice's correspondents: their folders route documents.
    pub address_book: Option<Arc<AddressBook>>,
    /// The health directory, to warn about addresses it does not list.
    pub directory: Option<Arc<Directory>>,
    /// Paper letters; `None` when the practice has not set them up.
    pub paper: Option<PaperConfig>,
    pub tracking: Arc<Tracking>,
}

impl Intake {
    /// Takes `candidate` as far as it can go now.
    pub async fn take(&self, candidate: &Candidate) -> Taken {
        let name = file_name(&candidate.path);
        let span = tracing::info_span!("document", file = %name);
        let outcome = self.try_take(candidate).instrument(span.clone()).await;
        let _enter = span.enter();
        match outcome {
            Ok(taken) => taken,
            Err(reason) => {
                let sidecar_path = reason.1.clone();
                match file_error(candidate, sidecar_path.as_deref(), &reason.0) {
                    Ok(()) => {
                        tracing::warn!(reason = %reason.0, "document refused, moved to errors/");
                        Taken::Refused { reason: reason.0 }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Taken::Gone,
                    Err(e) => {
                        tracing::error!(error = %e, reason = %reason.0, "document refused but could not be moved to errors/; left in place");
                        Taken::Refused { reason: reason.0 }
                    }
                }
            }
        }
    }

    async fn try_take(&self, candidate: &Candidate) -> Result<Taken, (String, Option<PathBuf>)> {
        let path = &candidate.path;
        let before = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(_) => return Ok(Taken::Gone),
        };
        let max = self.settings.max_document_size;
        if before.len() > max {
            return Err((
                format!(
                    "le document fait {}, plus que les {} permis",
                    human_size(before.len()),
                    human_size(max)
                ),
                None,
            ));
        }
        let bytes = match tokio::fs::read(path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Taken::Gone),
            Err(e) => return Err((format!("le document ne peut pas être lu ({e})"), None)),
        };
        match std::fs::metadata(path) {
            Err(_) => return Ok(Taken::Gone),
            Ok(after)
                if after.len() != bytes.len() as u64
                    || after.modified().ok() != before.modified().ok() =>
            {
                return Ok(Taken::Wait);
            }
            Ok(_) => {}
        }
        match pdf_state(&bytes) {
            PdfState::Ready => {}
            PdfState::Unfinished => {
                if candidate.first_seen.elapsed()
                    < Duration::from_secs(self.settings.incomplete_timeout)
                {
                    return Ok(Taken::Wait);
                }
                return Err((
                    "le PDF est incomplet ou endommagé (pas de marque de fin %%EOF)".into(),
                    None,
                ));
            }
            PdfState::Refused(reason) => return Err((reason, None)),
        }
        let inspected = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || crate::paper::inspect_pdf(&bytes)).await
        };
        match inspected {
            Ok(Ok(info)) if info.encrypted => {
                return Err((
                    "le PDF est protégé par un mot de passe ou chiffré : enregistrez-le sans protection".into(),
                    None,
                ));
            }
            Ok(Ok(info)) if info.pages == 0 => {
                return Err(("le PDF ne contient aucune page".into(), None));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err((pdf_problem(&e), None)),
            Err(_) => return Err(("le PDF n'a pas pu être examiné".into(), None)),
        }

        let contact = match (&candidate.subfolder, &self.address_book) {
            (Some(folder), Some(book)) => {
                let (folder, book) = (folder.clone(), book.clone());
                tokio::task::spawn_blocking(move || folder_contact(&book, &folder))
                    .await
                    .ok()
                    .flatten()
            }
            _ => None,
        };
        if candidate.subfolder.is_some() && contact.is_none() {
            tracing::warn!(
                "subfolder is not a known correspondent; using the sidecar or file name"
            );
        }
        let settle = Duration::from_secs(self.settings.settle_time);
        let (sidecar, sidecar_path) = match route(path, contact.as_ref(), settle) {
            Route::Ready {
                sidecar,
                sidecar_path,
            } => (sidecar, sidecar_path),
            Route::SidecarBusy => return Ok(Taken::Wait),
            Route::NoRecipient => {
                if candidate.first_seen.elapsed() < Duration::from_secs(self.settings.sidecar_wait)
                {
                    return Ok(Taken::Wait);
                }
                return Err((
                    "aucun destinataire : ajoutez un fichier .json à côté du document, déposez-le dans le dossier d'un correspondant, ou nommez-le « adresse@domaine__titre.pdf »".into(),
                    None,
                ));
            }
            Route::Refused {
                reason,
                sidecar_path,
            } => return Err((reason, sidecar_path)),
        };
        let refuse = |reason: String| (reason, sidecar_path.clone());

        let outside: Vec<&String> = sidecar
            .to
            .iter()
            .filter(|address| {
                crate::address::Address::parse(address)
                    .is_none_or(|a| !self.whitelist.contains(a.domain()))
            })
            .collect();
        if !outside.is_empty() {
            return Err(refuse(format!(
                "{} : hors de l'espace de confiance MSSanté ; les données de santé ne peuvent pas y être envoyées",
                outside
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.warn_unlisted(&sidecar.to).await;
        let paper = match (&self.paper, sidecar.paper.is_empty()) {
            (_, true) => None,
            (Some(paper), false) => Some(paper),
            (None, false) => {
                return Err(refuse(
                    "ce correspondant n'a pas d'adresse MSSanté et l'envoi papier n'est pas configuré sur cette boîte (réglages « papier »)".into(),
                ));
            }
        };

        let message_id = self.message_id(candidate, &bytes, sidecar_path.as_deref(), &before);
        if let Some(patient) = &sidecar.patient {
            // So that tracking finds the document by patient; the patient
            // is never written to the log.
            let patient = crate::queue::tracking::PatientRef::from_patient(patient);
            if let Err(e) = self.tracking.record_patient(&message_id, &patient) {
                tracing::warn!(error = %e, "patient not noted in tracking; the document goes on");
            }
        }
        let mut queue_id = None;
        if !sidecar.to.is_empty() {
            let id = match self.queue.find_message_id(&message_id).await {
                Ok(Some(id)) => {
                    tracing::info!(queue_id = %id.as_str(), "already queued before a restart; filing it");
                    id
                }
                Ok(None) => self
                    .enqueue(candidate, &bytes, &sidecar, &message_id, &before)
                    .await
                    .map_err(refuse)?,
                Err(e) => return Err(refuse(format!("la file d'envoi est indisponible ({e})"))),
            };
            self.delivery_wake.notify_one();
            tracing::info!(queue_id = %id.as_str(), recipients = sidecar.to.len(), "document queued");
            queue_id = Some(id.as_str().to_string());
        }
        if let Some(paper) = paper {
            // Mail already queued is not undone when paper fails: the
            // document then goes to errors/ saying which part is missing.
            let done = if queue_id.is_some() {
                " (l'envoi MSSanté, lui, est parti)"
            } else {
                ""
            };
            self.send_on_paper(paper, candidate, &bytes, &sidecar, &message_id)
                .await
                .map_err(|e| refuse(format!("{e}{done}")))?;
        }
        match file_sent(candidate, sidecar_path.as_deref(), self.settings.after_send) {
            Ok(Some(filed)) => {
                if let Err(e) =
                    self.tracking
                        .record_document(&message_id, &filed, &file_name(&candidate.path))
                {
                    tracing::warn!(error = %e, "document not noted in tracking; it stays in sent/");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "taken, but could not be moved to sent/"),
        }
        Ok(Taken::Sent {
            queue_id: queue_id.unwrap_or_else(|| "paper".into()),
        })
    }

    /// Logs the recipients the health directory does not list (a typo, or
    /// a mailbox too new for the daily extraction): a warning, not a
    /// refusal.
    async fn warn_unlisted(&self, recipients: &[String]) {
        let Some(directory) = self.directory.clone() else {
            return;
        };
        let recipients = recipients.to_vec();
        let unlisted = tokio::task::spawn_blocking(move || {
            recipients
                .into_iter()
                .filter(|r| matches!(directory.lookup(r), Ok(None)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for recipient in unlisted {
            tracing::warn!(%recipient, "recipient not found in the health directory; check the address");
        }
    }

    /// Creates the drop folder of every correspondent that lacks one, in
    /// every document folder; never removes any.
    pub async fn ensure_contact_folders(&self) {
        let Some(book) = self.address_book.clone() else {
            return;
        };
        let folders = self.settings.folders.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let Ok(contacts) = book.list() else {
                return;
            };
            for root in &folders {
                for contact in &contacts {
                    let path = root.join(contact.folder_name());
                    if !path.exists()
                        && let Err(e) = std::fs::create_dir_all(&path)
                    {
                        tracing::warn!(folder = %path.display(), error = %e, "cannot create a correspondent's folder");
                    }
                }
            }
        })
        .await;
    }

    /// One print-ready letter per postal recipient, each recorded in
    /// tracking as sent on paper.
    async fn send_on_paper(
        &self,
        config: &PaperConfig,
        candidate: &Candidate,
        pdf: &[u8],
        sidecar: &Sidecar,
        message_id: &str,
    ) -> Result<(), String> {
        let letterhead = Letterhead::from_config(config);
        let name = file_name(&candidate.path);
        let title = super::document::title_of(sidecar, &name);
        let patient = sidecar.patient.as_ref().map(|p| {
            let given = p.given_names.first().map(String::as_str).unwrap_or("");
            let born = p
                .birth_date
                .map(|d| format!(", né(e) le {}", crate::xdm::french_date(d)))
                .unwrap_or_default();
            format!("{} {given}{born}", p.family_name.to_uppercase())
                .replace("  ", " ")
                .trim()
                .to_string()
        });
        for recipient in &sidecar.paper {
            let address = PostalAddress {
                name_line: recipient.name.clone(),
                lines: recipient.lines.clone(),
                postcode: recipient.postcode.clone(),
                town: recipient.town.clone(),
                country: recipient.country.clone(),
            };
            let key = format!("{}|{}", recipient.name, recipient.postcode).to_lowercase();
            match self.tracking.paper_recorded(message_id, &key) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    return Err(format!(
                        "le suivi des courriers papier est indisponible ({e})"
                    ));
                }
            }
            let letter = CoverLetter {
                letterhead: &letterhead,
                recipient: &address,
                title: &title,
                patient: patient.as_deref(),
                body: None,
                date: time::OffsetDateTime::now_utc().date(),
            };
            let stem = format!("{title} - {}", recipient.name);
            let outcome = crate::paper::send_on_paper(config, letter, pdf, &stem)
                .await
                .map_err(|e| {
                    format!(
                        "le courrier papier pour {} n'a pas pu être préparé : {}",
                        recipient.name,
                        pdf_problem(&e)
                    )
                })?;
            if let Some(error) = &outcome.print_error {
                tracing::warn!(error = %error, "paper letter written but not printed");
            }
            let postal = address.one_line();
            self.tracking
                .record_paper(&PaperSent {
                    message_key: message_id,
                    correspondent_key: &key,
                    correspondent_label: &recipient.name,
                    postal: &postal,
                    postal_address: Some(&address),
                    title: &title,
                    at: crate::queue::now_unix(),
                })
                .map_err(|e| {
                    format!(
                        "le courrier papier est prêt mais n'a pas pu être noté dans le suivi ({e})"
                    )
                })?;
        }
        Ok(())
    }

    async fn enqueue(
        &self,
        candidate: &Candidate,
        bytes: &[u8],
        sidecar: &Sidecar,
        message_id: &str,
        meta: &std::fs::Metadata,
    ) -> Result<QueueId, String> {
        let author = self.author();
        let file_time = meta
            .modified()
            .ok()
            .map(time::OffsetDateTime::from)
            .unwrap_or_else(time::OffsetDateTime::now_utc);
        let name = file_name(&candidate.path);
        let inputs = DocumentInputs {
            pdf: bytes,
            file_name: &name,
            sidecar,
            recipients: &sidecar.to,
            author: &author,
            codes: &self.settings.codes,
            mailbox: &self.mailbox,
            nil: &self.nil,
            file_time,
            message_id,
            now: time::OffsetDateTime::now_utc(),
        };
        let built = build_document(&inputs).map_err(|e| e.to_string())?;
        let envelope = Envelope {
            sender: self.mailbox.clone(),
            recipients: sidecar.to.clone(),
            submitted_by: Some("outbox".into()),
        };
        self.queue
            .accept(
                QueueId::generate(),
                envelope,
                built.message,
                Some(message_id.to_string()),
            )
            .await
            .map_err(|e| match &e {
                crate::queue::QueueError::Io { source, .. }
                    if source.raw_os_error() == Some(28) =>
                {
                    "le disque de la boîte est plein : le document n'a pas été envoyé ; libérez de la place puis redéposez-le".to_string()
                }
                _ => format!("la file d'envoi a refusé le document ({e})"),
            })
    }

    /// The author: settings first, the card's holder for what they leave
    /// out.
    pub fn author(&self) -> Author {
        let holder = self.card.as_ref().and_then(|card| card.status().holder);
        self.settings.author.resolve(holder.as_ref())
    }

    /// A Message-ID derived from the document, its routing and its file's
    /// identity: the same drop always gets the same id, so a restart
    /// between the queue's commit and the move to `sent/` finds it queued.
    fn message_id(
        &self,
        candidate: &Candidate,
        bytes: &[u8],
        sidecar: Option<&Path>,
        meta: &std::fs::Metadata,
    ) -> String {
        use std::os::unix::fs::MetadataExt;
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(candidate.path.as_os_str().as_encoded_bytes());
        context.update(&meta.ino().to_le_bytes());
        context.update(&meta.mtime().to_le_bytes());
        context.update(&meta.mtime_nsec().to_le_bytes());
        context.update(bytes);
        if let Some(bytes) = sidecar.and_then(|p| std::fs::read(p).ok()) {
            context.update(&bytes);
        }
        let digest = context.finish();
        let hex: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let domain = self
            .mailbox
            .rsplit_once('@')
            .map_or("facteur.local", |(_, d)| d);
        format!("{hex}.document@{domain}")
    }
}

/// The correspondent whose drop folder is `folder`.
fn folder_contact(book: &AddressBook, folder: &str) -> Option<FolderContact> {
    let contact = book.find_by_folder_name(folder).ok().flatten()?;
    Some(FolderContact {
        label: contact.display_name.clone(),
        mssante: contact.mssante.clone(),
        postal: contact.postal.map(|p| super::sidecar::PostalRecipient {
            name: p.name_line,
            lines: p.lines,
            postcode: p.postcode,
            town: p.town,
            country: (!p.country.trim().is_empty()).then_some(p.country),
        }),
    })
}

/// A paper/PDF problem in the words of the practice.
fn pdf_problem(error: &PaperError) -> String {
    match error {
        PaperError::Encrypted => {
            "le PDF est protégé par un mot de passe ou chiffré : enregistrez-le sans protection"
                .into()
        }
        PaperError::Unreadable(why) => format!("le PDF est endommagé ou illisible ({why})"),
        PaperError::NoPages => "le PDF ne contient aucune page".into(),
        PaperError::Address(why) => format!("l'adresse postale ne convient pas ({why})"),
        other => other.to_string(),
    }
}

pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} Mo", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} ko", bytes.div_ceil(1024))
    }
}

/// A free name in `dir` for `name`: `name`, then `stem (2).ext`, …
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    (2..)
        .map(|n| dir.join(format!("{stem} ({n}){extension}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Moves the document (and its sidecar, under the same new stem) into
/// `root/<dir>/`; returns the document's new path.
fn move_into(candidate: &Candidate, sidecar: Option<&Path>, dir: &str) -> std::io::Result<PathBuf> {
    let target_dir = candidate.root.join(dir);
    std::fs::create_dir_all(&target_dir)?;
    let name = file_name(&candidate.path);
    let target = free_name(&target_dir, &name);
    std::fs::rename(&candidate.path, &target)?;
    if let Some(sidecar) = sidecar {
        let new_name = format!("{}.json", file_name(&target));
        let sidecar_target = free_name(&target_dir, &new_name);
        if let Err(e) = std::fs::rename(sidecar, &sidecar_target) {
            tracing::warn!(error = %e, "the sidecar could not be moved with its document");
        }
    }
    Ok(target)
}

/// Files the document after sending; where it went, if it was kept.
fn file_sent(
    candidate: &Candidate,
    sidecar: Option<&Path>,
    after: AfterSend,
) -> std::io::Result<Option<PathBuf>> {
    match after {
        AfterSend::Move => move_into(candidate, sidecar, SENT_DIR).map(Some),
        AfterSend::Delete => {
            std::fs::remove_file(&candidate.path)?;
            if let Some(sidecar) = sidecar {
                let _ = std::fs::remove_file(sidecar);
            }
            Ok(None)
        }
    }
}

/// Moves the document to `errors/` and writes `<name>.error.txt` beside it.
fn file_error(candidate: &Candidate, sidecar: Option<&Path>, reason: &str) -> std::io::Result<()> {
    let target = move_into(candidate, sidecar, ERRORS_DIR)?;
    let name = file_name(&target);
    let now = time::OffsetDateTime::now_utc();
    let text = format!(
        "Le document « {} » n'a pas été envoyé.\r\n\r\n\
         Raison : {reason}.\r\n\r\n\
         Que faire : corrigez le problème, puis déposez de nouveau le document (et son fichier .json s'il en a un) dans le dossier d'envoi. Le document est conservé ici, rien n'a été supprimé.\r\n\r\n\
         Date : {:02}/{:02}/{:04} {:02}:{:02} (heure UTC)\r\n",
        file_name(&candidate.path),
        now.day(),
        u8::from(now.month()),
        now.year(),
        now.hour(),
        now.minute(),
    );
    let error_path = target.with_file_name(format!("{name}.error.txt"));
    std::fs::write(error_path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITELIST: &[u8] = b"<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\"><ListeDomaines>\
        <Domaine><Nom>medecin.test.mssante.fr</Nom></Domaine></ListeDomaines></ListeBlancheMSSante>";
    const PDF: &[u8] = include_bytes!("../xdm/testdata/DOC0001.PDF");

    struct Fixture {
        _dir: tempfile::TempDir,
        intake: Intake,
        root: PathBuf,
    }

    fn box_with(settings: impl FnOnce(&mut OutboxConfig)) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("outbox");
        std::fs::create_dir_all(&root).unwrap();
        let mut config: OutboxConfig =
            toml::from_str(&format!("folders = [{:?}]", root.display().to_string())).unwrap();
        settings(&mut config);
        let queue_dir = dir.path().join("queue");
        let queue = Queue::open(
            &queue_dir,
            crate::queue::RetryPolicy {
                initial: Duration::from_secs(60),
                max: Duration::from_secs(600),
                lifetime: Duration::from_secs(3600),
            },
        )
        .unwrap();
        let tracking = Arc::new(Tracking::open(&queue_dir).unwrap());
        let intake = Intake {
            settings: config,
            queue,
            whitelist: Arc::new(Whitelist::parse(WHITELIST).unwrap()),
            mailbox: "cabinet@medecin.test.mssante.fr".into(),
            nil: "FACTEUR-TEST".into(),
            card: None,
            delivery_wake: Arc::new(Notify::new()),
            address_book: None,
            directory: None,
            paper: None,
            tracking,
        };
        Fixture {
            _dir: dir,
            intake,
            root,
        }
    }

    fn candidate(b: &Fixture, name: &str) -> Candidate {
        Candidate {
            root: b.root.clone(),
            path: b.root.join(name),
            subfolder: None,
            first_seen: Instant::now(),
        }
    }

    #[tokio::test]
    async fn a_document_is_queued_once_and_filed_in_sent() {
        let b = box_with(|_| {});
        let name = "dr.martin@medecin.test.mssante.fr__CR.pdf";
        std::fs::write(b.root.join(name), PDF).unwrap();
        let taken = b.intake.take(&candidate(&b, name)).await;
        assert!(matches!(taken, Taken::Sent { .. }), "{taken:?}");
        assert!(b.root.join(SENT_DIR).join(name).exists());
        let queued = b.intake.queue.list().unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].recipient, "dr.martin@medecin.test.mssante.fr");
        // Tracking knows where it was filed, for the download.
        let filed = b.intake.tracking.document(&queued[0].id).unwrap().unwrap();
        assert_eq!(filed.path, b.root.join(SENT_DIR).join(name));
        assert_eq!(filed.name, name);
    }

    #[tokio::test]
    async fn a_restart_after_the_queue_commit_files_without_sending_twice() {
        let b = box_with(|_| {});
        let name = "dr.martin@medecin.test.mssante.fr__CR.pdf";
        let path = b.root.join(name);
        std::fs::write(&path, PDF).unwrap();
        let c = candidate(&b, name);
        // The crash: queued, but the file is still there.
        let meta = std::fs::metadata(&path).unwrap();
        let id = b.intake.message_id(&c, PDF, None, &meta);
        let sidecar = Sidecar {
            to: vec!["dr.martin@medecin.test.mssante.fr".into()],
            ..Sidecar::default()
        };
        b.intake
            .enqueue(&c, PDF, &sidecar, &id, &meta)
            .await
            .unwrap();
        // After the restart the same file is found queued and only filed.
        let taken = b.intake.take(&c).await;
        assert!(matches!(taken, Taken::Sent { .. }), "{taken:?}");
        assert_eq!(b.intake.queue.list().unwrap().len(), 1);
        assert!(b.root.join(SENT_DIR).join(name).exists());
    }

    #[tokio::test]
    async fn a_file_removed_before_it_is_read_is_gone_not_an_error() {
        let b = box_with(|_| {});
        let taken = b.intake.take(&candidate(&b, "vanished.pdf")).await;
        assert_eq!(taken, Taken::Gone);
        assert!(!b.root.join(ERRORS_DIR).exists());
    }

    #[tokio::test]
    async fn without_paper_settings_a_postal_recipient_is_an_error_not_a_loss() {
        let b = box_with(|_| {});
        std::fs::write(b.root.join("cr.pdf"), PDF).unwrap();
        std::fs::write(
            b.root.join("cr.json"),
            br#"{"paper": [{"name": "Dr X", "postcode": "79000", "town": "Niort"}]}"#,
        )
        .unwrap();
        let mut c = candidate(&b, "cr.pdf");
        c.first_seen -= Duration::from_secs(5);
        // The sidecar was just written: it is trusted once settled.
        let taken = b.intake.take(&c).await;
        let taken = if taken == Taken::Wait {
            tokio::time::sleep(Duration::from_secs(4)).await;
            b.intake.take(&c).await
        } else {
            taken
        };
        assert!(
            matches!(&taken, Taken::Refused { reason } if reason.contains("papier")),
            "{taken:?}"
        );
        assert!(b.root.join(ERRORS_DIR).join("cr.pdf").exists());
        assert!(b.intake.queue.list().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_unfinished_pdf_waits_then_becomes_an_error() {
        let b = box_with(|c| c.incomplete_timeout = 1);
        std::fs::write(
            b.root.join("a@medecin.test.mssante.fr__x.pdf"),
            &PDF[..PDF.len() / 2],
        )
        .unwrap();
        let mut c = candidate(&b, "a@medecin.test.mssante.fr__x.pdf");
        assert_eq!(b.intake.take(&c).await, Taken::Wait);
        c.first_seen -= Duration::from_secs(2);
        assert!(
            matches!(b.intake.take(&c).await, Taken::Refused { reason } if reason.contains("incomplet"))
        );
    }

    #[test]
    fn free_names_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_name(dir.path(), "a.pdf"), dir.path().join("a.pdf"));
        std::fs::write(dir.path().join("a.pdf"), b"1").unwrap();
        std::fs::write(dir.path().join("a (2).pdf"), b"2").unwrap();
        assert_eq!(free_name(dir.path(), "a.pdf"), dir.path().join("a (3).pdf"));
        std::fs::write(dir.path().join("noext"), b"1").unwrap();
        assert_eq!(free_name(dir.path(), "noext"), dir.path().join("noext (2)"));
    }

    #[test]
    fn a_refused_document_and_its_sidecar_move_to_errors_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("cr.pdf");
        let sidecar = dir.path().join("cr.json");
        std::fs::write(&doc, b"%PDF").unwrap();
        std::fs::write(&sidecar, b"{}").unwrap();
        let candidate = Candidate {
            root: dir.path().to_path_buf(),
            path: doc.clone(),
            subfolder: None,
            first_seen: Instant::now(),
        };
        file_error(&candidate, Some(&sidecar), "le PDF est chiffré").unwrap();
        assert!(!doc.exists() && !sidecar.exists());
        let errors = dir.path().join(ERRORS_DIR);
        assert_eq!(std::fs::read(errors.join("cr.pdf")).unwrap(), b"%PDF");
        assert_eq!(std::fs::read(errors.join("cr.pdf.json")).unwrap(), b"{}");
        let text = std::fs::read_to_string(errors.join("cr.pdf.error.txt")).unwrap();
        assert!(text.contains("Raison : le PDF est chiffré."), "{text}");
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(20 * 1024 * 1024), "20.0 Mo");
        assert_eq!(human_size(1500), "2 ko");
    }
}
