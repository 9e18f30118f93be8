//! `[credential] kind = "psc"`: the Pro Santé Connect settings.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How the practitioner logs in to Pro Santé Connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginMethod {
    /// The CPS card in the box's reader: the box logs in by itself.
    Card,
    /// The e-CPS phone app: the practitioner approves each login (CIBA).
    Ecps,
}

impl LoginMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::Card => "card",
            LoginMethod::Ecps => "ecps",
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PscSettings {
    pub login: LoginMethod,
    /// The OpenID provider; its metadata is read from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret (`client_secret_basic`).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Or the box's client certificate and key, PEM (`tls_client_auth`).
    #[serde(default)]
    pub client_certificate: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// CA certificates (PEM) the provider's certificate must chain to;
    /// absent: the public web CAs.
    #[serde(default)]
    pub trust_anchors: Option<PathBuf>,
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Where the provider sends the card login back; the box reads the
    /// code from the redirect and never serves this address.
    #[serde(default = "default_redirect_uri")]
    pub redirect_uri: String,
    /// The practitioner's national id (`8` + RPPS), the e-CPS login hint.
    #[serde(default)]
    pub national_id: Option<String>,
    /// Card login: only readers whose name contains this text.
    #[serde(default)]
    pub reader: Option<String>,
    /// Card login: CA certificates sent after the card's own.
    #[serde(default)]
    pub intermediates: Option<PathBuf>,
    #[serde(default = "default_expiry_warning_days")]
    pub expiry_warning_days: i64,
    /// Seconds before an access token's end at which it is renewed.
    #[serde(default = "default_refresh_before")]
    pub refresh_before: u64,
    /// Time limit of one exchange with the provider, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
}

fn default_scope() -> String {
    "openid scope_all".into()
}

fn default_redirect_uri() -> String {
    "https://facteur.local/psc/retour".into()
}

fn default_expiry_warning_days() -> i64 {
    30
}

fn default_refresh_before() -> u64 {
    60
}

fn default_timeout() -> u64 {
    15
}

impl std::fmt::Debug for PscSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PscSettings")
            .field("login", &self.login)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl PscSettings {
    pub fn resolve_relative_paths(&mut self, base: &Path) {
        for p in [
            &mut self.client_secret_file,
            &mut self.client_certificate,
            &mut self.client_key,
            &mut self.trust_anchors,
            &mut self.intermediates,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Checks what can be checked without the network: (key, reason).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        super::http::https_url(&self.issuer).map_err(|e| ("credential.issuer", e.to_string()))?;
        if self.client_id.trim().is_empty() {
            return Err(("credential.client_id", "required".into()));
        }
        let certificate = self.client_certificate.is_some() && self.client_key.is_some();
        if self.client_certificate.is_some() != self.client_key.is_some() {
            return Err((
                "credential.client_certificate",
                "client_certificate and client_key go together".into(),
            ));
        }
        if self.client_secret_file.is_some() == certificate {
            return Err((
                "credential.client_secret_file",
                "the box authenticates to the provider with either a client secret file or a client certificate and key"
                    .into(),
            ));
        }
        if !self.scope.split_whitespace().any(|s| s == "openid") {
            return Err(("credential.scope", "must include `openid`".into()));
        }
        if super::http::https_url(&self.redirect_uri).is_err() {
            return Err((
                "credential.redirect_uri",
                "must be an https:// address".into(),
            ));
        }
        if let Some(id) = &self.national_id
            && !valid_national_id(id)
        {
            return Err((
                "credential.national_id",
                "8 followed by the RPPS number (or 0 and the ADELI number): digits only".into(),
            ));
        }
        if self.expiry_warning_days < 0 {
            return Err(("credential.expiry_warning_days", "must be 0 or more".into()));
        }
        if self.timeout == 0 {
            return Err(("credential.timeout", "must be at least 1 second".into()));
        }
        Ok(())
    }
}

/// A practitioner's national id as the directory and PSC write it.
pub fn valid_national_id(id: &str) -> bool {
    (9..=12).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &str) -> Result<PscSettings, String> {
        toml::from_str::<PscSettings>(&format!(
            "login = \"ecps\"\nissuer = \"https://psc.example/auth\"\nclient_id = \"facteur\"\n{extra}"
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_secret_or_a_certificate_is_needed_not_both() {
        let s = settings("client_secret_file = \"s\"").unwrap();
        assert!(s.validate().is_ok());
        assert_eq!(s.scope, "openid scope_all");
        let none = settings("").unwrap();
        assert_eq!(
            none.validate().unwrap_err().0,
            "credential.client_secret_file"
        );
        let both =
            settings("client_secret_file = \"s\"\nclient_certificate = \"c\"\nclient_key = \"k\"")
                .unwrap();
        assert!(both.validate().is_err());
        let half = settings("client_certificate = \"c\"").unwrap();
        assert_eq!(
            half.validate().unwrap_err().0,
            "credential.client_certificate"
        );
        assert!(
            settings("client_certificate = \"c\"\nclient_key = \"k\"")
                .unwrap()
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let s = |extra: &str| {
            settings(&format!("client_secret_file = \"s\"\n{extra}"))
                .unwrap()
                .validate()
                .unwrap_err()
                .0
        };
        assert_eq!(s("national_id = \"8abc\""), "credential.national_id");
        assert_eq!(s("scope = \"scope_all\""), "credential.scope");
        assert_eq!(s("redirect_uri = \"http://x/\""), "credential.redirect_uri");
        assert_eq!(s("timeout = 0"), "credential.timeout");
        let plain = toml::from_str::<PscSettings>(
            "login = \"card\"\nissuer = \"http://psc.example\"\nclient_id = \"f\"\nclient_secret_file = \"s\"",
        )
        .unwrap();
        assert_eq!(plain.validate().unwrap_err().0, "credential.issuer");
        assert!(settings("login2 = 1").is_err());
    }

    #[test]
    fn the_secret_path_never_shows_in_debug_output() {
        let s = settings("client_secret_file = \"/data/psc-secret\"").unwrap();
        assert!(!format!("{s:?}").contains("psc-secret"));
    }
}
