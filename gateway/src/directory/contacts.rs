//! Adding a correspondent, the same way from every place that does it
//! (`facteur contacts add`, the control API behind the web admin): the
//! contact taken from the directory or typed, its MSSanté address checked
//! ([`check_recipient`]), the contact saved, then its drop folder created
//! in each document folder.
//!
//! Blocking (SQLite, files): async callers use `spawn_blocking`.

use std::path::{Path, PathBuf};

use super::address_book::{AddressBook, AddressBookError, Contact, PostalAddress};
use super::check::check_recipient;
use super::store::Directory;
use crate::whitelist::Whitelist;

/// A correspondent to add: from the directory (`from_directory`), or typed.
/// Fields given next to `from_directory` override the directory's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    /// The MSSanté address of a directory entry to take everything from.
    #[serde(default)]
    pub from_directory: Option<String>,
    /// "Dr MARTIN Paul".
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub mssante: Option<String>,
    /// Street lines of the postal address.
    #[serde(default)]
    pub postal_lines: Vec<String>,
    #[serde(default)]
    pub postcode: Option<String>,
    #[serde(default)]
    pub town: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub profession: Option<String>,
    #[serde(default)]
    pub rpps: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Why a correspondent was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddContactError {
    /// `from_directory` names an address the directory does not list.
    #[error("« {0} » n'est pas dans l'annuaire santé.")]
    NotInDirectory(String),
    /// The directory could not be read for `from_directory`.
    #[error("annuaire santé illisible : {0}")]
    Directory(String),
    /// Refused by the recipient check (outside the MSSanté trust space, not
    /// an address); the text is for the person typing.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Book(#[from] AddressBookError),
}

/// A correspondent added, and what was done for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Added {
    pub contact: Contact,
    pub folder_name: String,
    /// From the recipient check (address absent from the directory…).
    pub warnings: Vec<String>,
    /// Drop folders made (or already there), one per document folder.
    pub folders: Vec<PathBuf>,
    /// Drop folders that could not be made, with why.
    pub folder_errors: Vec<String>,
}

impl NewContact {
    /// The contact to save: the directory's entry when asked, the typed
    /// fields over it.
    pub fn resolve(&self, directory: Option<&Directory>) -> Result<Contact, AddContactError> {
        let mut contact = match typed(&self.from_directory) {
            Some(addr) => {
                let directory = directory.ok_or_else(|| {
                    AddContactError::Directory("l'annuaire n'est pas disponible".into())
                })?;
                let entry = directory
                    .lookup(addr)
                    .map_err(|e| AddContactError::Directory(e.to_string()))?
                    .ok_or_else(|| AddContactError::NotInDirectory(addr.to_string()))?;
                Contact::from_directory(&entry)
            }
            None => {
                let name = typed(&self.name).unwrap_or_default().to_string();
                let lines: Vec<String> = self
                    .postal_lines
                    .iter()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect();
                let postal = (!lines.is_empty()).then(|| PostalAddress {
                    name_line: name.clone(),
                    lines,
                    postcode: typed(&self.postcode).unwrap_or_default().to_string(),
                    town: typed(&self.town).unwrap_or_default().to_string(),
                    country: typed(&self.country).unwrap_or_default().to_string(),
                });
                Contact {
                    display_name: name,
                    mssante: typed(&self.mssante).map(str::to_string),
                    postal,
                    town: typed(&self.town).unwrap_or_default().to_string(),
                    ..Contact::default()
                }
            }
        };
        if let Some(profession) = typed(&self.profession) {
            contact.profession = profession.to_string();
        }
        if let Some(rpps) = typed(&self.rpps) {
            contact.rpps = Some(rpps.to_string());
        }
        if let Some(note) = typed(&self.note) {
            contact.note = note.to_string();
        }
        Ok(contact)
    }
}

/// Adds `new` to `book`: resolved, its MSSanté address checked against the
/// whitelist (refused outside it; the directory's warnings returned), saved,
/// then its drop folder made in each of `drop_roots` (a folder that cannot
/// be made is reported, the contact stays: the daemon makes missing folders
/// again).
pub fn add_contact(
    book: &AddressBook,
    directory: Option<&Directory>,
    whitelist: &Whitelist,
    drop_roots: &[PathBuf],
    new: &NewContact,
) -> Result<Added, AddContactError> {
    let contact = new.resolve(directory)?;
    let mut warnings = Vec::new();
    if let Some(addr) = &contact.mssante {
        let check = check_recipient(addr, whitelist, directory);
        if let Some(refusal) = check.refusal {
            return Err(AddContactError::Refused(refusal));
        }
        warnings = check.warnings;
    }
    let contact = book.add(contact)?;
    let (folders, folder_errors) = make_drop_folders(&contact, drop_roots);
    Ok(Added {
        folder_name: contact.folder_name(),
        contact,
        warnings,
        folders,
        folder_errors,
    })
}

/// Makes `contact`'s drop folder in each of `roots`; never removes any.
pub fn make_drop_folders(contact: &Contact, roots: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut made = Vec::new();
    let mut errors = Vec::new();
    for root in roots {
        let path = drop_folder(root, contact);
        match std::fs::create_dir_all(&path) {
            Ok(()) => made.push(path),
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    (made, errors)
}

/// Where `contact`'s documents are dropped in the document folder `root`.
pub fn drop_folder(root: &Path, contact: &Contact) -> PathBuf {
    root.join(contact.folder_name())
}

/// A field as typed: trimmed, `None` when blank.
fn typed(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::extraction::tests::{HEADER, line};

    const WHITELIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?><ListeBlancheMSSante>
        <ListeDomaines><Domaine><Nom>medecin.mssante.fr</Nom></Domaine></ListeDomaines></ListeBlancheMSSante>"#;

    fn setup(dir: &Path) -> (AddressBook, Directory, Whitelist) {
        let text = format!(
            "{HEADER}\n{}\n",
            line(
                "paul.martin@medecin.mssante.fr",
                "MARTIN",
                "Paul",
                "Cardiologie",
                "79000 NIORT"
            )
        );
        let file = dir.join("extraction.txt");
        std::fs::write(&file, text).unwrap();
        let directory = Directory::open(dir).unwrap();
        directory.import(&file).unwrap();
        (
            AddressBook::open(dir).unwrap(),
            directory,
            Whitelist::parse(WHITELIST.as_bytes()).unwrap(),
        )
    }

    #[test]
    fn adds_from_the_directory_and_makes_the_drop_folders() {
        let dir = tempfile::tempdir().unwrap();
        let (book, directory, whitelist) = setup(dir.path());
        let roots = vec![dir.path().join("outbox-a"), dir.path().join("outbox-b")];
        let added = add_contact(
            &book,
            Some(&directory),
            &whitelist,
            &roots,
            &NewContact {
                from_directory: Some("Paul.Martin@medecin.mssante.fr".into()),
                ..NewContact::default()
            },
        )
        .unwrap();
        assert_eq!(added.folder_name, "Dr MARTIN Paul (Cardiologie, Niort)");
        assert!(added.warnings.is_empty(), "{:?}", added.warnings);
        for root in &roots {
            assert!(root.join(&added.folder_name).is_dir());
        }
        assert_eq!(added.folders.len(), 2);
        assert_eq!(book.list().unwrap().len(), 1);
        // Twice: refused by the book, nothing else made.
        let again = add_contact(
            &book,
            Some(&directory),
            &whitelist,
            &roots,
            &NewContact {
                from_directory: Some("paul.martin@medecin.mssante.fr".into()),
                ..NewContact::default()
            },
        );
        assert!(matches!(
            again,
            Err(AddContactError::Book(AddressBookError::Invalid(_)))
        ));
        let unknown = add_contact(
            &book,
            Some(&directory),
            &whitelist,
            &roots,
            &NewContact {
                from_directory: Some("nobody@medecin.mssante.fr".into()),
                ..NewContact::default()
            },
        );
        assert!(matches!(unknown, Err(AddContactError::NotInDirectory(_))));
    }

    #[test]
    fn typed_contacts_are_checked_against_the_whitelist() {
        let dir = tempfile::tempdir().unwrap();
        let (book, directory, whitelist) = setup(dir.path());
        let outside = add_contact(
            &book,
            Some(&directory),
            &whitelist,
            &[],
            &NewContact {
                name: Some("Dr GMAIL".into()),
                mssante: Some("dr@gmail.com".into()),
                ..NewContact::default()
            },
        );
        assert!(
            matches!(&outside, Err(AddContactError::Refused(m)) if m.contains("gmail.com")),
            "{outside:?}"
        );
        assert!(book.list().unwrap().is_empty());
        // On the whitelist but not in the directory: added, with a warning.
        let added = add_contact(
            &book,
            Some(&directory),
            &whitelist,
            &[],
            &NewContact {
                name: Some("Dr NOUVEAU Jean".into()),
                mssante: Some("jean.nouveau@medecin.mssante.fr".into()),
                profession: Some("pédiatre".into()),
                town: Some("Niort".into()),
                ..NewContact::default()
            },
        )
        .unwrap();
        assert_eq!(added.warnings.len(), 1);
        assert_eq!(added.folder_name, "Dr NOUVEAU Jean (pédiatre, Niort)");
        // On paper: a complete postal address instead.
        let paper = add_contact(
            &book,
            Some(&directory),
            &whitelist,
            &[],
            &NewContact {
                name: Some("Dr DURAND Anne".into()),
                postal_lines: vec!["3 rue du Marché".into(), " ".into()],
                postcode: Some("79200".into()),
                town: Some("Parthenay".into()),
                ..NewContact::default()
            },
        )
        .unwrap();
        let postal = paper.contact.postal.unwrap();
        assert_eq!(postal.lines, ["3 rue du Marché"]);
        assert_eq!(postal.name_line, "Dr DURAND Anne");
        let incomplete = add_contact(
            &book,
            None,
            &whitelist,
            &[],
            &NewContact {
                name: Some("Dr SANSADRESSE".into()),
                ..NewContact::default()
            },
        );
        assert!(matches!(
            incomplete,
            Err(AddContactError::Book(AddressBookError::Invalid(_)))
        ));
    }
}
