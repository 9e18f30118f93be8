//! Who a dropped document goes to, in this order: its sidecar
//! (`<name>.json` or `<name>.pdf.json`), the correspondent's subfolder it
//! was dropped in, or the file-name convention `<address>__<title>.pdf`
//! (several addresses joined by `+`).

use std::path::{Path, PathBuf};

use super::sidecar::{PostalRecipient, Sidecar, parse_sidecar};
use crate::address::Address;

/// A correspondent found from the subfolder the document was dropped in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderContact {
    pub label: String,
    pub mssante: Option<String>,
    pub postal: Option<PostalRecipient>,
}

/// The routing decision for one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ready {
        sidecar: Box<Sidecar>,
        /// The sidecar file, moved along with the document.
        sidecar_path: Option<PathBuf>,
    },
    /// No recipient yet: the sidecar may still be on its way.
    NoRecipient,
    /// The sidecar exists but is still being written.
    SidecarBusy,
    /// The sidecar is wrong: the reason, in French.
    Refused {
        reason: String,
        sidecar_path: Option<PathBuf>,
    },
}

/// The sidecar files a document may have.
pub fn sidecar_candidates(document: &Path) -> [PathBuf; 2] {
    let mut with_extension = document.as_os_str().to_owned();
    with_extension.push(".json");
    [
        document.with_extension("json"),
        PathBuf::from(with_extension),
    ]
}

/// True for the sidecar of some document (skipped by the scanner).
pub fn is_sidecar_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".json")
}

/// Decides where `document` goes. `settle` is how long a sidecar must have
/// been left alone before it is trusted to be complete.
pub fn route(
    document: &Path,
    contact: Option<&FolderContact>,
    settle: std::time::Duration,
) -> Route {
    for candidate in sidecar_candidates(document) {
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        let recent = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_none_or(|age| age < settle);
        let bytes = match std::fs::read(&candidate) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Route::Refused {
                    reason: format!("le fichier JSON ne peut pas être lu ({e})"),
                    sidecar_path: Some(candidate),
                };
            }
        };
        return match parse_sidecar(&bytes) {
            Ok(mut sidecar) => {
                if sidecar.to.is_empty() && sidecar.paper.is_empty() {
                    if let Some(contact) = contact {
                        add_contact(&mut sidecar, contact);
                    } else {
                        return Route::Refused {
                            reason: "le fichier JSON ne donne aucun destinataire (clé « to » ou « paper »)".into(),
                            sidecar_path: Some(candidate),
                        };
                    }
                }
                Route::Ready {
                    sidecar: Box::new(sidecar),
                    sidecar_path: Some(candidate),
                }
            }
            // A sidecar being written is not yet valid JSON: wait.
            Err(_) if recent => Route::SidecarBusy,
            Err(e) => Route::Refused {
                reason: e.0,
                sidecar_path: Some(candidate),
            },
        };
    }
    if let Some(contact) = contact {
        let mut sidecar = Sidecar::default();
        add_contact(&mut sidecar, contact);
        return Route::Ready {
            sidecar: Box::new(sidecar),
            sidecar_path: None,
        };
    }
    let name = document
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match recipients_from_name(&name) {
        Some(Ok(to)) => Route::Ready {
            sidecar: Box::new(Sidecar {
                to,
                ..Sidecar::default()
            }),
            sidecar_path: None,
        },
        Some(Err(reason)) => Route::Refused {
            reason,
            sidecar_path: None,
        },
        None => Route::NoRecipient,
    }
}

fn add_contact(sidecar: &mut Sidecar, contact: &FolderContact) {
    if let Some(address) = &contact.mssante {
        sidecar.to.push(address.to_lowercase());
    } else if let Some(postal) = &contact.postal {
        sidecar.paper.push(postal.clone());
    }
}

/// `dr.martin@x.mssante.fr+dr.durand@y.mssante.fr__Titre.pdf`: the part
/// before the first `__` names the recipients. `None` when the name does
/// not follow the convention at all.
pub fn recipients_from_name(file_name: &str) -> Option<Result<Vec<String>, String>> {
    let (head, _) = file_name.split_once("__")?;
    if !head.contains('@') {
        return None;
    }
    let mut to = Vec::new();
    for part in head.split('+') {
        let Some(address) = Address::parse(part.trim()) else {
            return Some(Err(format!(
                "le nom du fichier commence par « {part} », qui n'est pas une adresse de messagerie"
            )));
        };
        let address = format!("{}@{}", address.local(), address.domain()).to_lowercase();
        if !to.contains(&address) {
            to.push(address);
        }
    }
    Some(Ok(to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_file_name_convention() {
        assert_eq!(
            recipients_from_name("Dr.Martin@x.mssante.fr+b@y.mssante.fr__CR.pdf"),
            Some(Ok(vec![
                "dr.martin@x.mssante.fr".into(),
                "b@y.mssante.fr".into()
            ]))
        );
        assert_eq!(recipients_from_name("scan_0001.pdf"), None);
        assert_eq!(recipients_from_name("CR__Dupont.pdf"), None);
        assert!(matches!(
            recipients_from_name("a@b@c__CR.pdf"),
            Some(Err(_))
        ));
    }

    #[test]
    fn sidecar_first_then_folder_then_name() {
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("a@b.mssante.fr__CR.pdf");
        std::fs::write(&doc, b"%PDF").unwrap();
        let contact = FolderContact {
            label: "Dr X".into(),
            mssante: Some("x@c.mssante.fr".into()),
            postal: None,
        };
        let now = Duration::ZERO;
        match route(&doc, None, now) {
            Route::Ready {
                sidecar,
                sidecar_path: None,
            } => assert_eq!(sidecar.to, ["a@b.mssante.fr"]),
            other => panic!("{other:?}"),
        }
        match route(&doc, Some(&contact), now) {
            Route::Ready { sidecar, .. } => assert_eq!(sidecar.to, ["x@c.mssante.fr"]),
            other => panic!("{other:?}"),
        }
        std::fs::write(
            dir.path().join("a@b.mssante.fr__CR.json"),
            br#"{"to": "s@d.mssante.fr"}"#,
        )
        .unwrap();
        match route(&doc, Some(&contact), now) {
            Route::Ready {
                sidecar,
                sidecar_path: Some(_),
            } => assert_eq!(sidecar.to, ["s@d.mssante.fr"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_half_written_sidecar_is_waited_for_and_a_bad_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("scan.pdf");
        std::fs::write(&doc, b"%PDF").unwrap();
        assert_eq!(route(&doc, None, Duration::ZERO), Route::NoRecipient);
        std::fs::write(dir.path().join("scan.pdf.json"), br#"{"to": ["a@b.mss"#).unwrap();
        assert_eq!(
            route(&doc, None, Duration::from_secs(60)),
            Route::SidecarBusy
        );
        assert!(matches!(
            route(&doc, None, Duration::ZERO),
            Route::Refused { .. }
        ));
        std::fs::write(dir.path().join("scan.pdf.json"), br#"{"subject": "x"}"#).unwrap();
        assert!(
            matches!(route(&doc, None, Duration::ZERO), Route::Refused { reason, .. } if reason.contains("aucun destinataire"))
        );
    }
}
