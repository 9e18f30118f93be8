//! Calls for the address book, the health directory and the paper report
//! (`/v1/contacts`, `/v1/directory/…`, `/v1/paper/…`).

use std::time::Duration;

use super::{AUDIT_ACTOR, Daemon, DaemonError, encode};
use crate::texts;

/// Adding a contact makes folders and waits for a commit.
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// Making a letter is quick; reading it over the socket too.
const PDF_TIMEOUT: Duration = Duration::from_secs(15);

/// `GET /v1/directory/status`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DirectoryStatus {
    #[serde(default)]
    pub available: bool,
    #[serde(default)]
    pub entries: u64,
    #[serde(default)]
    pub imported_at: Option<i64>,
    #[serde(default)]
    pub source: Option<String>,
}

/// One entry of a directory search.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DirectoryHit {
    #[serde(default)]
    pub mailbox: String,
    /// `Dr MARTIN Paul`.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub profession: String,
    #[serde(default)]
    pub specialty: String,
    #[serde(default)]
    pub organisation: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub town: String,
    #[serde(default)]
    pub rpps: Option<String>,
    /// Already in the address book as this contact.
    #[serde(default)]
    pub contact_id: Option<i64>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct DirectoryHits {
    #[serde(default)]
    entries: Vec<DirectoryHit>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PostalView {
    #[serde(default)]
    pub lines: Vec<String>,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub town: String,
}

/// A correspondent of the address book.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ContactView {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub profession: String,
    #[serde(default)]
    pub town: String,
    #[serde(default)]
    pub mssante: Option<String>,
    #[serde(default)]
    pub postal: Option<PostalView>,
    #[serde(default)]
    pub folder_name: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct ContactList {
    #[serde(default)]
    contacts: Vec<ContactView>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct ContactRemoved {
    #[serde(default)]
    removed: ContactView,
}

/// The answer to `POST /v1/contacts`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ContactAdded {
    #[serde(default)]
    pub contact: ContactView,
    #[serde(default)]
    pub folder_name: String,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A contact to add, as the form gave it (checked by the caller).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NewContact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mssante: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub postal_lines: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub town: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profession: Option<String>,
}

/// One correspondent of the paper report.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PaperRow {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub correspondent: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub last_at: i64,
}

/// `GET /v1/paper/summary`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PaperSummary {
    #[serde(default)]
    pub month: String,
    #[serde(default)]
    pub configured: bool,
    #[serde(default)]
    pub correspondents: Vec<PaperRow>,
}

/// The sentence for an API error code of these endpoints.
pub(super) fn french(code: &str) -> Option<&'static str> {
    Some(match code {
        "directory_unavailable" => texts::DIRECTORY_UNAVAILABLE,
        "address_book_unavailable" => texts::CONTACTS_UNAVAILABLE,
        "no_such_contact" => texts::NO_SUCH_CONTACT,
        "not_in_directory" => texts::NOT_IN_DIRECTORY,
        "no_such_correspondent" => texts::NO_SUCH_PAPER_CORRESPONDENT,
        "paper_not_configured" => texts::PAPER_NOT_CONFIGURED,
        "bad_month" => texts::BAD_MONTH,
        "invitation_failed" => texts::INVITATION_FAILED,
        _ => return None,
    })
}

impl Daemon {
    pub async fn directory_status(&self) -> Result<DirectoryStatus, DaemonError> {
        self.get("/v1/directory/status").await
    }

    pub async fn directory_search(
        &self,
        text: &str,
        limit: usize,
    ) -> Result<Vec<DirectoryHit>, DaemonError> {
        let hits: DirectoryHits = self
            .get(&format!(
                "/v1/directory/search?q={}&limit={}",
                encode(text),
                limit.clamp(1, 100)
            ))
            .await?;
        Ok(hits.entries)
    }

    pub async fn contacts(&self) -> Result<Vec<ContactView>, DaemonError> {
        let list: ContactList = self.get("/v1/contacts").await?;
        Ok(list.contacts)
    }

    pub async fn add_contact(&self, new: &NewContact) -> Result<ContactAdded, DaemonError> {
        let mut body = serde_json::to_value(new).map_err(|_| DaemonError::Protocol)?;
        body["actor"] = serde_json::json!(AUDIT_ACTOR);
        self.post_json("/v1/contacts", &body, WRITE_TIMEOUT).await
    }

    /// Removes contact `id` (confirmed by the person on the page); returns
    /// the contact removed.
    pub async fn remove_contact(&self, id: i64) -> Result<ContactView, DaemonError> {
        let body = serde_json::json!({ "actor": AUDIT_ACTOR, "confirm": true });
        let removed: ContactRemoved = self
            .post_json(&format!("/v1/contacts/{id}/delete"), &body, WRITE_TIMEOUT)
            .await?;
        Ok(removed.removed)
    }

    /// `month` as `AAAA-MM` (checked by the caller), or this month.
    pub async fn paper_summary(&self, month: Option<&str>) -> Result<PaperSummary, DaemonError> {
        match month {
            Some(m) => {
                self.get(&format!("/v1/paper/summary?month={}", encode(m)))
                    .await
            }
            None => self.get("/v1/paper/summary").await,
        }
    }

    /// The invitation letter of correspondent `key`, as PDF bytes.
    pub async fn invitation(&self, key: &str, month: Option<&str>) -> Result<Vec<u8>, DaemonError> {
        let mut path = format!("/v1/paper/invitation?key={}", encode(key));
        if let Some(m) = month {
            path.push_str("&month=");
            path.push_str(&encode(m));
        }
        let (content_type, bytes) = tokio::time::timeout(PDF_TIMEOUT, self.client.get_file(&path))
            .await
            .map_err(|_| DaemonError::Timeout)??;
        if content_type != "application/pdf" || !bytes.starts_with(b"%PDF-") {
            return Err(DaemonError::Protocol);
        }
        Ok(bytes)
    }

    async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
        limit: Duration,
    ) -> Result<T, DaemonError> {
        let body =
            zeroize::Zeroizing::new(serde_json::to_vec(body).map_err(|_| DaemonError::Protocol)?);
        let value = tokio::time::timeout(limit, self.client.post(path, body))
            .await
            .map_err(|_| DaemonError::Timeout)??;
        serde_json::from_value(value).map_err(|_| DaemonError::Protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_contacts_send_only_what_was_typed() {
        let new = NewContact {
            from_directory: Some("a@b.mssante.fr".into()),
            ..NewContact::default()
        };
        assert_eq!(
            serde_json::to_string(&new).unwrap(),
            r#"{"from_directory":"a@b.mssante.fr"}"#
        );
    }
}
