//! The INS (Identifiant National de Santé) matricule: 13 characters of NIR
//! (or NIA) and a 2-digit check key, `97 - (NIR mod 97)`.
//!
//! Corsican birth departments `2A` and `2B` are read as 19 and 18 for the
//! key, as the NIR rules say. A wrong key is almost always a typing error:
//! refusing it stops a document from being filed under another patient.

use super::read::INS_AUTHORITIES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsError {
    #[error("l'INS doit compter 15 caractères (13 du NIR et 2 de clé), il en compte {0}")]
    Length(usize),
    #[error("l'INS contient un caractère inattendu : seuls les chiffres (et 2A/2B) sont permis")]
    Characters,
    #[error(
        "la clé de l'INS est fausse (attendue {expected:02}, lue {found:02}) : vérifiez le numéro"
    )]
    Key { expected: u64, found: u64 },
    #[error("l'OID {0} n'est pas celui d'un INS (attendu 1.2.250.1.213.1.4.8, .9, .10 ou .11)")]
    Authority(String),
}

/// Checks an INS matricule (spaces tolerated) and returns it without spaces.
pub fn check_matricule(text: &str) -> Result<String, InsError> {
    let matricule: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let count = matricule.chars().count();
    if count != 15 {
        return Err(InsError::Length(count));
    }
    let upper = matricule.to_ascii_uppercase();
    let (nir, key) = upper.split_at(13);
    let numeric = match &nir[5..7] {
        "2A" => format!("{}19{}", &nir[..5], &nir[7..]),
        "2B" => format!("{}18{}", &nir[..5], &nir[7..]),
        _ => nir.to_string(),
    };
    if !numeric.bytes().all(|b| b.is_ascii_digit()) || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InsError::Characters);
    }
    let number: u64 = numeric.parse().map_err(|_| InsError::Characters)?;
    let found: u64 = key.parse().map_err(|_| InsError::Characters)?;
    let expected = 97 - number % 97;
    if expected != found {
        return Err(InsError::Key { expected, found });
    }
    Ok(upper)
}

/// Checks that `oid` is one of the INS assigning authorities.
pub fn check_authority(oid: &str) -> Result<(), InsError> {
    if INS_AUTHORITIES.contains(&oid) {
        Ok(())
    } else {
        Err(InsError::Authority(oid.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correct_key_is_accepted_and_spaces_removed() {
        assert_eq!(
            check_matricule("2 79 03 51 215 189 89").unwrap(),
            "279035121518989"
        );
    }

    #[test]
    fn a_wrong_key_is_refused_with_the_expected_one() {
        assert_eq!(
            check_matricule("279035121518988"),
            Err(InsError::Key {
                expected: 89,
                found: 88
            })
        );
    }

    #[test]
    fn corsican_departments_count_as_19_and_18() {
        // 2A reads as 19 and 2B as 18 for the key.
        let key_a = 97 - 1_850_519_004_013u64 % 97;
        let key_b = 97 - 1_850_518_004_013u64 % 97;
        assert_ne!(key_a, key_b);
        assert!(check_matricule(&format!("185052A004013{key_a:02}")).is_ok());
        assert!(check_matricule(&format!("185052B004013{key_b:02}")).is_ok());
        assert!(matches!(
            check_matricule(&format!("185052B004013{key_a:02}")),
            Err(InsError::Key { .. })
        ));
    }

    #[test]
    fn wrong_length_and_letters_are_refused() {
        assert_eq!(check_matricule("2790351215189"), Err(InsError::Length(13)));
        assert_eq!(
            check_matricule("27903512151898X"),
            Err(InsError::Characters)
        );
        assert_eq!(
            check_matricule("2790351215189\u{200f}89"),
            Err(InsError::Length(16))
        );
    }

    #[test]
    fn only_ins_oids_are_authorities() {
        assert!(check_authority("1.2.250.1.213.1.4.8").is_ok());
        assert!(check_authority("1.2.250.1.213.1.4.10").is_ok());
        assert!(check_authority("1.2.250.1.213.1.4.5").is_err());
    }
}
