//! Paper for correspondents not on MSSanté, so that nothing is forgotten:
//! a cover letter (practice letterhead, the recipient's address placed for
//! a window envelope, an invitation to join MSSanté) followed by the
//! document, as one print-ready PDF written to the to-print folder and,
//! when a printer is configured, sent to it over IPP.
//!
//! - [`letter`]: the cover letter page; [`winansi`]: its text and fonts.
//! - [`invitation`]: the letter inviting a correspondent to join MSSanté.
//! - [`merge`]: the document's pages appended; bad PDFs refused.
//! - [`spool`]: files written whole, never over another.
//! - [`ipp`]: the printer.
//! - [`summary`]: the monthly list of correspondents still reached on
//!   paper (the log itself is in [`crate::queue::tracking`]).
//!
//! See `docs/paper.md`.

pub mod invitation;
pub mod ipp;
pub mod letter;
pub mod merge;
pub mod spool;
pub mod summary;
pub mod winansi;

use std::path::PathBuf;

pub use letter::{CoverLetter, Letterhead, PostalAddress};
pub use merge::{PdfInfo, inspect_pdf};

use crate::config::PaperConfig;
use crate::queue::QueueError;

/// Why a paper letter could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    #[error("postal address: {0}")]
    Address(String),
    #[error("cover letter: {0}")]
    Letter(String),
    #[error("the document is an encrypted PDF; send it without password protection")]
    Encrypted,
    #[error("the document is not a readable PDF: {0}")]
    Unreadable(String),
    #[error("the document has no pages")]
    NoPages,
    #[error("cannot make the PDF: {0}")]
    Pdf(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Printer(#[from] ipp::IppError),
    #[error(transparent)]
    Database(#[from] QueueError),
    #[error("the PDF work stopped unexpectedly")]
    Stopped,
}

/// The cover letter followed by every page of `document_pdf`, as one PDF.
/// The document is refused if it is encrypted, unreadable or empty.
pub fn build_paper_pdf(
    letter: &CoverLetter<'_>,
    document_pdf: &[u8],
) -> Result<Vec<u8>, PaperError> {
    // The document first: a bad PDF is the likelier failure, and the
    // clearer one to report.
    let document = merge::load_document(document_pdf)?;
    let (cover, pages) = letter::render(letter)?;
    merge::append(cover, pages, document)
}

/// What became of one paper letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperOutcome {
    /// The print-ready PDF in the to-print folder.
    pub pdf_path: PathBuf,
    /// The printer's job id, when it accepted the job.
    pub printed: Option<i32>,
    /// Why printing failed; the PDF is there to print by hand.
    pub print_error: Option<String>,
}

/// Makes the print-ready PDF, writes it to `config.to_print_dir` as
/// `<file_stem>.pdf` (made a safe file name; `-2`, `-3`... when taken),
/// then sends it to the printer if one is configured. A printer failure
/// is reported in the outcome, not as an error: the PDF is already safe
/// in the folder. Errors are for what leaves nothing to print.
///
/// The caller records the letter ([`crate::queue::tracking::Tracking::record_paper`])
/// once this returns `Ok`.
pub async fn send_on_paper(
    config: &PaperConfig,
    letter: CoverLetter<'_>,
    document_pdf: &[u8],
    file_stem: &str,
) -> Result<PaperOutcome, PaperError> {
    // The PDF work is CPU-bound (parsing, compressing) and the file
    // writing blocks: both off the async workers. The inputs are copied
    // because a blocking task must own what it uses.
    let letterhead = letter.letterhead.clone();
    let recipient = letter.recipient.clone();
    let title = letter.title.to_string();
    let patient = letter.patient.map(str::to_string);
    let body = letter.body.map(str::to_string);
    let date = letter.date;
    let document = document_pdf.to_vec();
    let dir = config.to_print_dir.clone();
    let stem = crate::inbound::safe_name::safe_file_name(Some(file_stem), "courrier");
    let (pdf_path, pdf) = tokio::task::spawn_blocking(move || {
        let letter = CoverLetter {
            letterhead: &letterhead,
            recipient: &recipient,
            title: &title,
            patient: patient.as_deref(),
            body: body.as_deref(),
            date,
        };
        let pdf = build_paper_pdf(&letter, &document)?;
        let path = spool::write_new(&dir, &stem, "pdf", &pdf)?;
        Ok::<_, PaperError>((path, pdf))
    })
    .await
    .map_err(|_| PaperError::Stopped)??;
    // The file name may name the patient: logs carry sizes only.
    tracing::info!(bytes = pdf.len(), "paper letter ready to print");

    let mut outcome = PaperOutcome {
        pdf_path,
        printed: None,
        print_error: None,
    };
    if let Some(printer) = &config.printer {
        let job_name = outcome
            .pdf_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "courrier.pdf".into());
        let result = match ipp::PrinterUri::parse(printer) {
            Ok(uri) => ipp::print(&uri, &job_name, &pdf, config.printer_timeout()).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(job) => {
                tracing::info!(job, "paper letter sent to the printer");
                outcome.printed = Some(job);
            }
            Err(e) => {
                tracing::warn!(error = %e, "paper letter not printed; it stays in the to-print folder");
                outcome.print_error = Some(e.to_string());
            }
        }
    }
    Ok(outcome)
}
