//! The `IHE_XDM.ZIP` archive: `README.TXT` and `INDEX.HTM` at the root, the
//! metadata and the document in `IHE_XDM/SUBSET01/` (ITI-32 media layout).

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

use super::metadata::metadata_xml;
use super::{DOCUMENT_NAME, METADATA_NAME, Submission};

/// Where the subset lives in the archive.
pub const SUBSET_DIR: &str = "IHE_XDM/SUBSET01/";

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("could not write the XDM archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("could not write the XDM archive: {0}")]
    Io(#[from] std::io::Error),
}

/// Facts about the sender printed in `README.TXT`.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    /// The box's MSSanté mailbox.
    pub mailbox: &'a str,
    /// Product name and version.
    pub product: &'a str,
}

/// Builds the archive for `submission`.
pub fn build_package(
    submission: &Submission<'_>,
    origin: &Origin<'_>,
) -> Result<Vec<u8>, PackageError> {
    let metadata = metadata_xml(submission);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    // PDFs are compressed already: storing them saves the box's CPU.
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);

    writer.start_file("README.TXT", deflated)?;
    writer.write_all(readme(submission, origin).as_bytes())?;
    writer.start_file("INDEX.HTM", deflated)?;
    writer.write_all(index(submission).as_bytes())?;
    writer.add_directory("IHE_XDM/", deflated)?;
    writer.add_directory(SUBSET_DIR, deflated)?;
    writer.start_file(format!("{SUBSET_DIR}{METADATA_NAME}"), deflated)?;
    writer.write_all(metadata.as_bytes())?;
    writer.start_file(format!("{SUBSET_DIR}{DOCUMENT_NAME}"), stored)?;
    writer.write_all(submission.document)?;
    Ok(writer.finish()?.into_inner())
}

/// `README.TXT`: who sent the media and with what (ITI-32 asks for the
/// sender and the application).
fn readme(submission: &Submission<'_>, origin: &Origin<'_>) -> String {
    let author = submission.author;
    format!(
        "Support IHE XDM (ITI-32) / IHE XDM media\r\n\
         \r\n\
         Expediteur / Sender : {} {} <{}>\r\n\
         Application : {}\r\n\
         Date d'envoi / Sent : {}\r\n\
         \r\n\
         Contenu / Content :\r\n\
         - INDEX.HTM : sommaire / index\r\n\
         - {SUBSET_DIR}{METADATA_NAME} : metadonnees XDS (ebRIM 3.0)\r\n\
         - {SUBSET_DIR}{DOCUMENT_NAME} : {}\r\n",
        author.given_name,
        author.family_name.to_uppercase(),
        origin.mailbox,
        origin.product,
        super::hl7_time(submission.submission_time),
        submission.description.title,
    )
}

/// `INDEX.HTM`: a page that opens the document from the media.
fn index(submission: &Submission<'_>) -> String {
    let title = html_escape(&submission.description.title);
    format!(
        "<!DOCTYPE html>\r\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\r\n\
         <body><h1>Documents</h1><ul>\r\n\
         <li><a href=\"{SUBSET_DIR}{DOCUMENT_NAME}\">{title}</a></li>\r\n\
         </ul><p><a href=\"README.TXT\">README.TXT</a></p></body></html>\r\n"
    )
}

fn html_escape(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdm::metadata::tests::{sample_author, sample_description, sample_patient};
    use crate::xdm::{SubmissionIds, read_xdm, sha1_hex};

    #[test]
    fn the_archive_has_the_xdm_layout_and_reads_back() {
        let description = sample_description();
        let patient = sample_patient();
        let author = sample_author();
        let ids = SubmissionIds::generate();
        let document: Vec<u8> = b"%PDF-1.4\n".iter().copied().cycle().take(5000).collect();
        let recipients = vec!["dr.martin@medecin.test.mssante.fr".to_string()];
        let submission = Submission {
            document: &document,
            description: &description,
            patient: Some(&patient),
            author: &author,
            recipients: &recipients,
            source_id: "2.25.7",
            submission_time: time::OffsetDateTime::now_utc(),
            ids: &ids,
        };
        let origin = Origin {
            mailbox: "cabinet@x.mssante.fr",
            product: "Facteur",
        };
        let zip = build_package(&submission, &origin).unwrap();
        let archive = read_xdm(&zip, &crate::xdm::read::tests::limits()).unwrap();
        let names: Vec<&str> = archive
            .entries
            .iter()
            .map(|e| e.zip_name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "README.TXT",
                "INDEX.HTM",
                "IHE_XDM/SUBSET01/METADATA.XML",
                "IHE_XDM/SUBSET01/DOC0001.PDF"
            ]
        );
        assert!(archive.problems.is_empty(), "{:?}", archive.problems);
        let doc = &archive.documents[0];
        let entry = &archive.entries[doc.entry.unwrap()];
        assert_eq!(entry.bytes, document);
        assert_eq!(
            doc.metadata.hash.as_deref(),
            Some(sha1_hex(&document).as_str())
        );
        let index = String::from_utf8(archive.entries[1].bytes.clone()).unwrap();
        assert!(index.contains("&lt;abdominale&gt;"));
    }
}
