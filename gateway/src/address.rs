//! Mail addresses as the box needs them: a local part and a normalised domain.

use std::fmt;

/// An `local@domain` address. The domain is stored in its ASCII (punycode)
/// lowercase form so that whitelist checks compare like with like, whatever
/// form the client used.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    local: String,
    domain: String,
}

impl Address {
    /// Parses a bare address (no angle brackets, no display name). Returns
    /// `None` for anything that is not `local@domain` with a plausible domain.
    pub fn parse(text: &str) -> Option<Address> {
        let text = text.trim();
        let (local, domain) = text.rsplit_once('@')?;
        if local.is_empty()
            || local.len() > 64
            || local.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return None;
        }
        let domain = normalise_domain(domain)?;
        Some(Address {
            local: local.to_string(),
            domain,
        })
    }

    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain, lowercase ASCII (IDNs in punycode).
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Lowercase ASCII form of a domain name, or `None` if it is not one.
pub fn normalise_domain(domain: &str) -> Option<String> {
    let domain = domain.trim().trim_end_matches('.');
    if domain.is_empty() || domain.len() > 253 || !domain.contains('.') {
        return None;
    }
    let ascii = idna::domain_to_ascii(domain).ok()?;
    let valid = ascii.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    valid.then_some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let a = Address::parse("Dr.Martin@Medecin.MSSante.fr").unwrap();
        assert_eq!(a.local(), "Dr.Martin");
        assert_eq!(a.domain(), "medecin.mssante.fr");
        assert_eq!(a.to_string(), "Dr.Martin@medecin.mssante.fr");
    }

    #[test]
    fn idn_domains_become_punycode() {
        let a = Address::parse("accueil@hôpital.mssante.fr").unwrap();
        assert_eq!(a.domain(), "xn--hpital-ixa.mssante.fr");
    }

    #[test]
    fn rejects_non_addresses() {
        for bad in [
            "",
            "nobody",
            "@mssante.fr",
            "a@",
            "a@localhost",
            "a b@x.fr",
            "a@x..fr",
            "a@-x.fr",
            "a@x_y.fr",
        ] {
            assert!(Address::parse(bad).is_none(), "{bad:?}");
        }
    }
}
