//! The SASL mechanisms that carry an access token: XOAUTH2 (what the
//! MSSanté rules name) and OAUTHBEARER (RFC 7628), for SMTP and IMAP.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Xoauth2,
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// XOAUTH2 when offered (the MSSanté rule), else OAUTHBEARER.
    pub fn choose<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<Mechanism> {
        let offered: Vec<String> = offered.into_iter().map(str::to_ascii_uppercase).collect();
        if offered.iter().any(|m| m == "XOAUTH2") {
            Some(Mechanism::Xoauth2)
        } else if offered.iter().any(|m| m == "OAUTHBEARER") {
            Some(Mechanism::OAuthBearer)
        } else {
            None
        }
    }

    /// The client's first message, before base64.
    pub fn initial_response(self, user: &str, token: &str) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(
            match self {
                Mechanism::Xoauth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
                // gs2 header with the authorization identity; `,` and `=`
                // in it are escaped as RFC 5801 says.
                Mechanism::OAuthBearer => format!(
                    "n,a={},\x01auth=Bearer {token}\x01\x01",
                    user.replace('=', "=3D").replace(',', "=2C")
                ),
            }
            .into_bytes(),
        )
    }

    /// The same, base64-encoded, as SMTP and IMAP send it.
    pub fn initial_response_base64(self, user: &str, token: &str) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.initial_response(user, token).as_slice()))
    }

    /// What the client answers to the server's error challenge, so the
    /// server ends the exchange with its failure reply: an empty response
    /// for XOAUTH2, `%x01` for OAUTHBEARER.
    pub fn abort_response(self) -> &'static [u8] {
        match self {
            Mechanism::Xoauth2 => b"",
            Mechanism::OAuthBearer => b"\x01",
        }
    }
}

/// The server's error challenge (base64 JSON such as
/// `{"status":"invalid_token","schemes":"bearer"}`), as one short line
/// for the practice; `None` when it says nothing readable.
pub fn describe_challenge(base64: &str) -> Option<String> {
    let raw = STANDARD.decode(base64.trim()).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    let status = json.get("status").and_then(|s| s.as_str())?;
    let status: String = status
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(60)
        .collect();
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_is_preferred_and_oauthbearer_taken_when_alone() {
        assert_eq!(
            Mechanism::choose(["PLAIN", "oauthbearer", "XOAUTH2"]),
            Some(Mechanism::Xoauth2)
        );
        assert_eq!(
            Mechanism::choose(["OAUTHBEARER"]),
            Some(Mechanism::OAuthBearer)
        );
        assert_eq!(Mechanism::choose(["PLAIN", "EXTERNAL"]), None);
    }

    #[test]
    fn initial_responses_follow_the_specifications() {
        assert_eq!(
            Mechanism::Xoauth2
                .initial_response("dr@test.mssante.fr", "tok")
                .as_slice(),
            b"user=dr@test.mssante.fr\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            Mechanism::OAuthBearer
                .initial_response("a=b,c@x", "tok")
                .as_slice(),
            b"n,a=a=3Db=2Cc@x,\x01auth=Bearer tok\x01\x01"
        );
        // The example of Google's XOAUTH2 documentation.
        assert_eq!(
            Mechanism::Xoauth2
                .initial_response_base64(
                    "someuser@example.com",
                    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
                )
                .as_str(),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn error_challenges_are_read_defensively() {
        let c = STANDARD.encode(r#"{"status":"invalid_token","schemes":"bearer","scope":"x"}"#);
        assert_eq!(describe_challenge(&c).as_deref(), Some("invalid_token"));
        assert_eq!(describe_challenge("not base64!"), None);
        assert_eq!(describe_challenge(&STANDARD.encode("{}")), None);
    }
}
