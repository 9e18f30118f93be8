//! The one check made wherever a recipient is chosen (command line, web
//! admin, drop folders): may mail go there, and does the address look
//! right?
//!
//! The whitelist decides (health data never leaves the MSSanté trust
//! space); the directory only advises, since it is a daily extraction that
//! lags behind new mailboxes. Texts are in French and non-technical: they
//! are shown to the practice's staff.

use super::extraction::DirectoryEntry;
use super::store::Directory;
use crate::address::Address;
use crate::whitelist::Whitelist;

/// The outcome of [`check_recipient`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecipientCheck {
    /// The address, normalised, when it is one.
    pub address: Option<String>,
    /// Its domain belongs to the MSSanté trust space.
    pub on_whitelist: bool,
    /// The directory's entry for this exact address.
    pub in_directory: Option<DirectoryEntry>,
    /// Why mail must not be sent there; `None`: it may.
    pub refusal: Option<String>,
    /// Things to point out to the person before sending.
    pub warnings: Vec<String>,
}

impl RecipientCheck {
    pub fn is_allowed(&self) -> bool {
        self.refusal.is_none()
    }
}

/// Checks `addr` as a recipient: refused when it is not an address or its
/// domain is not on the whitelist; warned about when the directory does
/// not list it (or cannot be consulted). Blocking when a directory is given
/// (see [`Directory`]).
pub fn check_recipient(
    addr: &str,
    whitelist: &Whitelist,
    directory: Option<&Directory>,
) -> RecipientCheck {
    let mut check = RecipientCheck::default();
    let Some(address) = Address::parse(addr) else {
        check.refusal = Some(format!(
            "« {} » n'est pas une adresse de messagerie valide.",
            addr.trim()
        ));
        return check;
    };
    let normalised = format!("{}@{}", address.local().to_lowercase(), address.domain());
    check.address = Some(normalised.clone());
    check.on_whitelist = whitelist.contains(address.domain());
    if !check.on_whitelist {
        check.refusal = Some(format!(
            "Le domaine « {} » ne fait pas partie de la messagerie sécurisée de santé (MSSanté) : \
             aucun envoi n'est possible vers cette adresse.",
            address.domain()
        ));
    }
    let Some(directory) = directory else {
        check
            .warnings
            .push("Annuaire santé non disponible : l'adresse n'a pas pu être vérifiée.".into());
        return check;
    };
    match directory.status() {
        Ok(status) if status.entries == 0 => {
            check.warnings.push(
                "L'annuaire santé n'a pas encore été importé : l'adresse n'a pas pu être vérifiée."
                    .into(),
            );
            return check;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "directory unreadable during a recipient check");
            check
                .warnings
                .push("Annuaire santé illisible : l'adresse n'a pas pu être vérifiée.".into());
            return check;
        }
    }
    match directory.lookup(&normalised) {
        Ok(Some(entry)) => check.in_directory = Some(entry),
        Ok(None) => check.warnings.push(
            "Adresse absente de l'annuaire santé : vérifiez-la (faute de frappe, ou boîte \
             créée depuis le dernier import)."
                .into(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "directory unreadable during a recipient check");
            check
                .warnings
                .push("Annuaire santé illisible : l'adresse n'a pas pu être vérifiée.".into());
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::extraction::tests::{HEADER, line};

    fn whitelist() -> Whitelist {
        Whitelist::parse(
            b"<ListeBlancheMSSante><ListeDomaines><Domaine><Nom>medecin.mssante.fr</Nom></Domaine></ListeDomaines></ListeBlancheMSSante>",
        )
        .unwrap()
    }

    #[test]
    fn directory_check_recipient() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Directory::open(tmp.path()).unwrap();
        let list = whitelist();

        let c = check_recipient("Paul.Martin@Medecin.MSSante.fr", &list, Some(&dir));
        assert!(c.is_allowed() && c.on_whitelist);
        assert!(c.warnings[0].contains("pas encore été importé"), "{c:?}");

        let file = tmp.path().join("a.txt");
        let text = format!(
            "{HEADER}\n{}\n",
            line(
                "paul.martin@medecin.mssante.fr",
                "MARTIN",
                "Paul",
                "",
                "79000 NIORT"
            )
        );
        std::fs::write(&file, text).unwrap();
        dir.import(&file).unwrap();

        let c = check_recipient("Paul.Martin@Medecin.MSSante.fr", &list, Some(&dir));
        assert!(c.is_allowed());
        assert!(c.warnings.is_empty(), "{c:?}");
        assert_eq!(c.in_directory.unwrap().family_name, "MARTIN");
        assert_eq!(c.address.as_deref(), Some("paul.martin@medecin.mssante.fr"));

        let c = check_recipient("paul.martine@medecin.mssante.fr", &list, Some(&dir));
        assert!(c.is_allowed());
        assert!(c.in_directory.is_none());
        assert!(c.warnings[0].starts_with("Adresse absente de l'annuaire santé"));

        let c = check_recipient("paul.martin@gmail.com", &list, Some(&dir));
        assert!(!c.is_allowed() && !c.on_whitelist);
        assert!(c.refusal.unwrap().contains("gmail.com"));

        let c = check_recipient("n'importe quoi", &list, None);
        assert!(!c.is_allowed());

        let c = check_recipient("paul.martin@medecin.mssante.fr", &list, None);
        assert!(c.is_allowed());
        assert_eq!(c.warnings.len(), 1);
    }
}
