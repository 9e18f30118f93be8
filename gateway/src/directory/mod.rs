//! The Annuaire Santé directory and the practice's address book: who can be
//! written to, and how.
//!
//! - [`extraction`] reads the public extraction `Extraction_Correspondance_MSSante`;
//! - [`store`] keeps it in SQLite with a full-text index, replaced
//!   atomically at each import;
//! - [`address_book`] holds the practice's own correspondents (MSSanté or
//!   paper) and their drop-folder names;
//! - [`check`] is the recipient check used wherever a recipient is chosen;
//! - [`contacts`] adds a correspondent (checked, saved, drop folders made)
//!   for the command line and the control API alike.
//!
//! Everything here is blocking (SQLite, files): async callers use
//! `tokio::task::spawn_blocking`.

pub mod address_book;
pub mod check;
pub mod contacts;
pub mod extraction;
pub mod store;

pub use address_book::{AddressBook, AddressBookError, Contact, PostalAddress};
pub use check::{RecipientCheck, check_recipient};
pub use contacts::{AddContactError, Added, NewContact, add_contact};
pub use extraction::DirectoryEntry;
pub use store::{Directory, DirectoryError, DirectoryStatus, ImportReport};
