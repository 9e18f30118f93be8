//! The practice's own correspondents: favourites picked from the directory,
//! and people not on MSSanté who are reached on paper.
//!
//! Kept in `<data_dir>/directory/address_book.db`, apart from the imported
//! directory, so that an import (which replaces `directory.db` wholesale)
//! can never touch them. WAL mode: the command line may add a contact while
//! the daemon reads the book.
//!
//! Each contact also names a drop folder ([`Contact::folder_name`]): a
//! document put in `Dr MARTIN Paul (cardiologue, Niort)/` is for that
//! contact, so the name must be valid and unambiguous on every file system
//! the practice uses.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::extraction::{DirectoryEntry, civility_label};
use crate::address::Address;
use crate::inbound::safe_name::{safe_file_name, truncate_to};

/// Longest drop-folder name, in bytes (well under every file-system limit,
/// leaving room for the path of the drop directory and a file name).
pub const MAX_FOLDER_NAME_BYTES: usize = 80;

#[derive(Debug, thiserror::Error)]
pub enum AddressBookError {
    #[error("address book storage: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("address book database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The contact is not acceptable; the text is for the person typing.
    #[error("{0}")]
    Invalid(String),
    #[error("no contact with id {0}")]
    NotFound(i64),
    #[error("address book connection poisoned")]
    Poisoned,
}

/// A paper address, as printed on an envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    /// First line: the person or service (`Dr MARTIN Paul`).
    pub name_line: String,
    /// Street lines (building, number and street, lieu-dit).
    pub lines: Vec<String>,
    pub postcode: String,
    pub town: String,
    /// Empty for France.
    #[serde(default)]
    pub country: String,
}

impl PostalAddress {
    /// Enough to put on an envelope: a street line, a postcode, a town.
    pub fn is_complete(&self) -> bool {
        self.lines.iter().any(|l| !l.trim().is_empty())
            && !self.postcode.trim().is_empty()
            && !self.town.trim().is_empty()
    }
}

/// A correspondent of the practice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Given by the address book; 0 for a contact not yet added.
    pub id: i64,
    /// As the practice writes it: `Dr MARTIN Paul`.
    pub display_name: String,
    pub profession: String,
    pub town: String,
    /// The MSSanté address; `None`: not on MSSanté, reached on paper.
    pub mssante: Option<String>,
    pub postal: Option<PostalAddress>,
    pub rpps: Option<String>,
    pub note: String,
    /// Unix time; set by [`AddressBook::add`].
    pub created_at: i64,
}

impl Contact {
    /// A contact for a directory entry (not yet added): its address, name,
    /// specialty (else profession), town and, when it has a street line,
    /// its postal address.
    pub fn from_directory(entry: &DirectoryEntry) -> Contact {
        let display_name = if entry.mailbox_type == "ORG" && !entry.organisation.is_empty() {
            entry.organisation.clone()
        } else {
            [
                civility_label(&entry.civility),
                &entry.family_name,
                &entry.given_name,
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
        };
        let display_name = if display_name.is_empty() {
            entry.display_name()
        } else {
            display_name
        };
        let town = title_case(&entry.town);
        let postal = PostalAddress {
            name_line: display_name.clone(),
            lines: entry.address_lines.clone(),
            postcode: entry.postcode.clone(),
            town: entry.town.clone(),
            country: if entry.country.eq_ignore_ascii_case("france") {
                String::new()
            } else {
                entry.country.clone()
            },
        };
        Contact {
            id: 0,
            display_name,
            profession: entry.best_profession().to_string(),
            town,
            mssante: Some(entry.mailbox.clone()),
            postal: postal.is_complete().then_some(postal),
            rpps: entry.rpps.clone(),
            note: String::new(),
            created_at: 0,
        }
    }

    /// The drop-folder name: `Dr MARTIN Paul (cardiologue, Niort)`.
    ///
    /// Safe on Linux, macOS, Windows and Samba shares: no path separator,
    /// none of `: * ? " < > |`, no control, bidirectional or zero-width
    /// characters (which could make two folders look alike or reverse what
    /// is shown), no leading dot or dash, no trailing dot or space, no
    /// Windows device name, at most [`MAX_FOLDER_NAME_BYTES`] bytes.
    pub fn folder_name(&self) -> String {
        let details: Vec<&str> = [self.profession.trim(), self.town.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let wanted = if details.is_empty() {
            self.display_name.clone()
        } else {
            format!("{} ({})", self.display_name.trim(), details.join(", "))
        };
        let cleaned: String = wanted
            .chars()
            .filter(|&c| !is_invisible(c))
            // Separators would make safe_file_name keep only the last part.
            .map(|c| if c == '/' || c == '\\' { '-' } else { c })
            .collect();
        // Cut before sanitising so that no part of the name is taken for an
        // extension to keep (`St. Maixent)`).
        let cut = truncate_to(cleaned.trim(), MAX_FOLDER_NAME_BYTES);
        let fallback = if self.id > 0 {
            format!("correspondant {}", self.id)
        } else {
            "correspondant".to_string()
        };
        safe_file_name(Some(cut), &fallback)
    }

    /// Checks the contact can be reached and saved.
    pub fn validate(&self) -> Result<(), AddressBookError> {
        let invalid = |m: &str| Err(AddressBookError::Invalid(m.to_string()));
        if self.display_name.trim().is_empty() {
            return invalid("Le nom du correspondant est vide.");
        }
        if self.display_name.chars().any(char::is_control) {
            return invalid("Le nom du correspondant contient des caractères invisibles.");
        }
        if let Some(addr) = &self.mssante
            && Address::parse(addr).is_none()
        {
            return Err(AddressBookError::Invalid(format!(
                "« {addr} » n'est pas une adresse de messagerie valide."
            )));
        }
        let postal_ok = self.postal.as_ref().is_some_and(PostalAddress::is_complete);
        if self.mssante.is_none() && !postal_ok {
            return invalid(
                "Il faut une adresse MSSanté ou une adresse postale complète (rue, code postal, ville).",
            );
        }
        Ok(())
    }

    /// The MSSanté address in stored form (domain normalised, lowercase).
    fn normalised(mut self) -> Contact {
        self.mssante = self.mssante.as_deref().and_then(normalise_mailbox);
        self.display_name = self.display_name.trim().to_string();
        self
    }
}

fn normalise_mailbox(text: &str) -> Option<String> {
    Address::parse(text).map(|a| format!("{}@{}", a.local().to_lowercase(), a.domain()))
}

/// Characters that change how text is displayed without being seen:
/// bidirectional controls, zero-width characters, the BOM.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
    ) || c.is_control()
}

/// `LA ROCHELLE` → `La Rochelle`, `ST-MAIXENT-L'ECOLE` → `St-Maixent-L'Ecole`.
fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.trim().chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// The address book database.
pub struct AddressBook {
    conn: Mutex<Connection>,
}

const SELECT: &str = "SELECT id, display_name, profession, town, mssante, postal, rpps, note, created_at FROM contacts";

impl AddressBook {
    /// Opens (creating if needed) `<data_dir>/directory/address_book.db`.
    pub fn open(data_dir: &Path) -> Result<AddressBook, AddressBookError> {
        let dir = data_dir.join("directory");
        std::fs::create_dir_all(&dir).map_err(|source| AddressBookError::Io {
            path: dir.clone(),
            source,
        })?;
        let conn = Connection::open(dir.join("address_book.db"))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS contacts (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 display_name TEXT NOT NULL,
                 profession TEXT NOT NULL,
                 town TEXT NOT NULL,
                 mssante TEXT,
                 postal TEXT,
                 rpps TEXT,
                 note TEXT NOT NULL,
                 created_at INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS contacts_mssante ON contacts (mssante);",
        )?;
        Ok(AddressBook {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, AddressBookError>,
    ) -> Result<T, AddressBookError> {
        let mut conn = self.conn.lock().map_err(|_| AddressBookError::Poisoned)?;
        f(&mut conn)
    }

    /// Replaces every contact with `contacts` (a restored backup), in one
    /// transaction: all are checked first, and on any refusal nothing
    /// changes.
    pub fn replace_all(&self, contacts: &[Contact]) -> Result<usize, AddressBookError> {
        for contact in contacts {
            contact.validate()?;
        }
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM contacts", [])?;
            for contact in contacts {
                let contact = contact.clone().normalised();
                check_unique(&tx, &contact, None)?;
                tx.execute(
                    "INSERT INTO contacts (display_name, profession, town, mssante, postal, rpps, note, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        contact.display_name,
                        contact.profession,
                        contact.town,
                        contact.mssante,
                        postal_json(&contact)?,
                        contact.rpps,
                        contact.note,
                        contact.created_at
                    ],
                )?;
            }
            tx.commit()?;
            Ok(contacts.len())
        })
    }

    /// Adds a contact and returns it with its id and creation time.
    /// Refused when invalid, when its MSSanté address is already a contact,
    /// or when its drop folder would have the same name as another's.
    pub fn add(&self, contact: Contact) -> Result<Contact, AddressBookError> {
        contact.validate()?;
        let mut contact = contact.normalised();
        contact.created_at = crate::queue::now_unix();
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            check_unique(&tx, &contact, None)?;
            tx.execute(
                "INSERT INTO contacts (display_name, profession, town, mssante, postal, rpps, note, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    contact.display_name,
                    contact.profession,
                    contact.town,
                    contact.mssante,
                    postal_json(&contact)?,
                    contact.rpps,
                    contact.note,
                    contact.created_at
                ],
            )?;
            contact.id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(contact)
        })
    }

    /// Replaces the contact of id `contact.id` (its creation time is kept).
    pub fn update(&self, contact: Contact) -> Result<Contact, AddressBookError> {
        contact.validate()?;
        let contact = contact.normalised();
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if get(&tx, contact.id)?.is_none() {
                return Err(AddressBookError::NotFound(contact.id));
            }
            check_unique(&tx, &contact, Some(contact.id))?;
            let changed = tx.execute(
                "UPDATE contacts SET display_name = ?2, profession = ?3, town = ?4, mssante = ?5,
                     postal = ?6, rpps = ?7, note = ?8
                 WHERE id = ?1",
                params![
                    contact.id,
                    contact.display_name,
                    contact.profession,
                    contact.town,
                    contact.mssante,
                    postal_json(&contact)?,
                    contact.rpps,
                    contact.note
                ],
            )?;
            if changed == 0 {
                return Err(AddressBookError::NotFound(contact.id));
            }
            let stored = get(&tx, contact.id)?.ok_or(AddressBookError::NotFound(contact.id))?;
            tx.commit()?;
            Ok(stored)
        })
    }

    pub fn remove(&self, id: i64) -> Result<(), AddressBookError> {
        self.with(
            |conn| match conn.execute("DELETE FROM contacts WHERE id = ?1", [id])? {
                0 => Err(AddressBookError::NotFound(id)),
                _ => Ok(()),
            },
        )
    }

    pub fn get(&self, id: i64) -> Result<Option<Contact>, AddressBookError> {
        self.with(|conn| get(conn, id))
    }

    /// Every contact, by name.
    pub fn list(&self) -> Result<Vec<Contact>, AddressBookError> {
        self.with(|conn| list(conn))
    }

    /// The contact with this MSSanté address (case-insensitive).
    pub fn find_by_mssante(&self, mailbox: &str) -> Result<Option<Contact>, AddressBookError> {
        let Some(key) = normalise_mailbox(mailbox) else {
            return Ok(None);
        };
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE mssante = ?1"))?;
            Ok(stmt.query_row([key], read_contact).optional()?)
        })
    }

    /// The contact whose drop folder has this name. Compared ignoring case,
    /// as Windows and Samba shares do.
    pub fn find_by_folder_name(&self, folder: &str) -> Result<Option<Contact>, AddressBookError> {
        let wanted = folder.trim().to_lowercase();
        Ok(self
            .list()?
            .into_iter()
            .find(|c| c.folder_name().to_lowercase() == wanted))
    }
}

fn postal_json(contact: &Contact) -> Result<Option<String>, AddressBookError> {
    contact
        .postal
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| AddressBookError::Invalid(format!("adresse postale : {e}")))
}

fn get(conn: &Connection, id: i64) -> Result<Option<Contact>, AddressBookError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE id = ?1"))?;
    Ok(stmt.query_row([id], read_contact).optional()?)
}

fn list(conn: &Connection) -> Result<Vec<Contact>, AddressBookError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} ORDER BY display_name COLLATE NOCASE, id"
    ))?;
    let rows = stmt.query_map([], read_contact)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// One contact per MSSanté address and per drop-folder name.
fn check_unique(
    conn: &Connection,
    contact: &Contact,
    except: Option<i64>,
) -> Result<(), AddressBookError> {
    let folder = contact.folder_name().to_lowercase();
    for other in list(conn)?.into_iter().filter(|c| Some(c.id) != except) {
        if contact.mssante.is_some() && other.mssante == contact.mssante {
            return Err(AddressBookError::Invalid(format!(
                "« {} » est déjà dans le carnet (n° {}).",
                other.mssante.unwrap_or_default(),
                other.id
            )));
        }
        if other.folder_name().to_lowercase() == folder {
            return Err(AddressBookError::Invalid(format!(
                "Le correspondant n° {} a déjà le dossier « {} » : précisez le nom, la profession ou la ville.",
                other.id,
                other.folder_name()
            )));
        }
    }
    Ok(())
}

fn read_contact(row: &rusqlite::Row<'_>) -> rusqlite::Result<Contact> {
    let postal: Option<String> = row.get(5)?;
    Ok(Contact {
        id: row.get(0)?,
        display_name: row.get(1)?,
        profession: row.get(2)?,
        town: row.get(3)?,
        mssante: row.get(4)?,
        // Written by us as JSON; an unreadable value is dropped rather than
        // making the whole book unreadable.
        postal: postal.and_then(|p| serde_json::from_str(&p).ok()),
        rpps: row.get(6)?,
        note: row.get(7)?,
        created_at: row.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn martin() -> Contact {
        Contact {
            display_name: "Dr MARTIN Paul".into(),
            profession: "cardiologue".into(),
            town: "Niort".into(),
            mssante: Some("Paul.Martin@Medecin.MSSante.fr".into()),
            ..Contact::default()
        }
    }

    fn paper() -> Contact {
        Contact {
            display_name: "Dr DURAND Anne".into(),
            profession: "dermatologue".into(),
            town: "Parthenay".into(),
            mssante: None,
            postal: Some(PostalAddress {
                name_line: "Dr DURAND Anne".into(),
                lines: vec!["3 rue du Marché".into()],
                postcode: "79200".into(),
                town: "PARTHENAY".into(),
                country: String::new(),
            }),
            ..Contact::default()
        }
    }

    #[test]
    fn directory_address_book_crud() {
        let tmp = tempfile::tempdir().unwrap();
        let book = AddressBook::open(tmp.path()).unwrap();
        assert!(book.list().unwrap().is_empty());

        let m = book.add(martin()).unwrap();
        assert!(m.id > 0);
        assert!(m.created_at > 0);
        assert_eq!(m.mssante.as_deref(), Some("paul.martin@medecin.mssante.fr"));
        let p = book.add(paper()).unwrap();
        assert_eq!(book.get(p.id).unwrap().unwrap(), p);
        assert_eq!(
            book.list()
                .unwrap()
                .iter()
                .map(|c| c.display_name.as_str())
                .collect::<Vec<_>>(),
            ["Dr DURAND Anne", "Dr MARTIN Paul"]
        );

        assert_eq!(
            book.find_by_mssante("PAUL.MARTIN@medecin.mssante.fr")
                .unwrap()
                .unwrap()
                .id,
            m.id
        );
        assert!(
            book.find_by_mssante("x@medecin.mssante.fr")
                .unwrap()
                .is_none()
        );
        assert_eq!(
            book.find_by_folder_name("dr martin paul (CARDIOLOGUE, niort)")
                .unwrap()
                .unwrap()
                .id,
            m.id
        );

        // Same address twice, or the same folder name: refused.
        assert!(matches!(
            book.add(martin()),
            Err(AddressBookError::Invalid(_))
        ));
        let mut twin = paper();
        twin.postal.as_mut().unwrap().lines = vec!["autre rue".into()];
        assert!(matches!(book.add(twin), Err(AddressBookError::Invalid(_))));

        let mut changed = p.clone();
        changed.note = "préfère le courrier".into();
        changed.mssante = Some("anne.durand@medecin.mssante.fr".into());
        let stored = book.update(changed).unwrap();
        assert_eq!(stored.note, "préfère le courrier");
        assert_eq!(stored.created_at, p.created_at);
        assert!(matches!(
            book.update(Contact { id: 999, ..paper() }),
            Err(AddressBookError::NotFound(999))
        ));

        book.remove(m.id).unwrap();
        assert!(book.get(m.id).unwrap().is_none());
        assert!(matches!(
            book.remove(m.id),
            Err(AddressBookError::NotFound(_))
        ));
        // The book survives reopening.
        drop(book);
        let book = AddressBook::open(tmp.path()).unwrap();
        assert_eq!(book.list().unwrap().len(), 1);
    }

    #[test]
    fn directory_contact_validation() {
        assert!(martin().validate().is_ok());
        assert!(paper().validate().is_ok());
        let no_way = Contact {
            mssante: None,
            ..martin()
        };
        assert!(no_way.validate().is_err());
        let incomplete = Contact {
            postal: Some(PostalAddress {
                town: String::new(),
                ..paper().postal.unwrap()
            }),
            ..paper()
        };
        assert!(incomplete.validate().is_err());
        let bad = Contact {
            mssante: Some("not an address".into()),
            ..martin()
        };
        assert!(bad.validate().is_err());
        let nameless = Contact {
            display_name: "  ".into(),
            ..martin()
        };
        assert!(nameless.validate().is_err());
    }

    #[test]
    fn directory_folder_names_are_safe() {
        assert_eq!(
            martin().folder_name(),
            "Dr MARTIN Paul (cardiologue, Niort)"
        );
        let named = |name: &str, profession: &str, town: &str| {
            Contact {
                display_name: name.into(),
                profession: profession.into(),
                town: town.into(),
                ..martin()
            }
            .folder_name()
        };
        assert_eq!(named("Dr MARTIN Paul", "", ""), "Dr MARTIN Paul");
        // Slashes and backslashes never make a sub-folder.
        assert_eq!(
            named("Dr A/B", "ORL\\chirurgie", "Niort"),
            "Dr A-B (ORL-chirurgie, Niort)"
        );
        assert_eq!(named("../..", "", ""), "correspondant");
        // Bidi overrides and zero-width characters vanish.
        assert_eq!(
            named(
                "Dr \u{202e}NITRAM\u{202c} Paul\u{200b}",
                "",
                "Ni\u{200f}ort"
            ),
            "Dr NITRAM Paul (Niort)"
        );
        assert_eq!(named("Dr \"X\" <Y>: a*b?c|d", "", ""), "Dr _X_ _Y_ a_b_c_d");
        assert_eq!(named("Dr X\r\nY\t", "", ""), "Dr XY");
        assert_eq!(named(".hidden", "", ""), "hidden");
        assert_eq!(named("CON", "", ""), "_CON");
        assert_eq!(named("Dr Y.", "", "St. Maixent"), "Dr Y. (St. Maixent)");
        // Very long: bounded, cut on a character boundary.
        let long = named(
            &"Hélène ".repeat(40),
            "médecine générale",
            "Saint-Maixent-l'École",
        );
        assert!(long.len() <= MAX_FOLDER_NAME_BYTES, "{}", long.len());
        assert!(long.starts_with("Hélène Hélène"));
        assert!(!long.ends_with(' ') && !long.ends_with('.'));
        // Nothing usable left.
        let empty = Contact { id: 7, ..martin() };
        let empty = Contact {
            display_name: "\u{202e}\u{200b}".into(),
            profession: String::new(),
            town: String::new(),
            ..empty
        };
        assert_eq!(empty.folder_name(), "correspondant 7");
    }

    #[test]
    fn directory_contact_from_entry() {
        let entry = DirectoryEntry {
            mailbox: "paul.martin@medecin.mssante.fr".into(),
            mailbox_type: "PER".into(),
            national_id: "810001234567".into(),
            rpps: Some("10001234567".into()),
            civility: "DR".into(),
            family_name: "MARTIN".into(),
            given_name: "Paul".into(),
            profession: "Médecin".into(),
            specialty: "Cardiologie et maladies vasculaires".into(),
            organisation: "Cabinet du Parc".into(),
            service: String::new(),
            address_lines: vec!["12 RUE des Lilas".into()],
            postcode: "79000".into(),
            town: "NIORT".into(),
            department: "79".into(),
            country: "France".into(),
        };
        let c = Contact::from_directory(&entry);
        assert_eq!(c.display_name, "Dr MARTIN Paul");
        assert_eq!(c.profession, "Cardiologie et maladies vasculaires");
        assert_eq!(c.town, "Niort");
        assert_eq!(c.rpps.as_deref(), Some("10001234567"));
        let postal = c.postal.clone().unwrap();
        assert_eq!(postal.lines, ["12 RUE des Lilas"]);
        assert_eq!(postal.country, "");
        assert!(c.validate().is_ok());
        let org = Contact::from_directory(&DirectoryEntry {
            mailbox_type: "ORG".into(),
            family_name: String::new(),
            given_name: String::new(),
            ..entry
        });
        assert_eq!(org.display_name, "Cabinet du Parc");
        assert_eq!(title_case("ST-MAIXENT-L'ECOLE"), "St-Maixent-L'Ecole");
    }
}
