//! The control API's health directory, address book and paper report:
//! `/v1/directory/…`, `/v1/contacts…`, `/v1/paper/…` (documented in
//! `docs/control-api.md`). SQLite and PDF work runs off the async threads.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::server::{api_actor, error, read_blocking};
use crate::audit::Audit;
use crate::config::{Config, PaperConfig};
use crate::directory::{
    AddContactError, AddressBook, AddressBookError, Contact, Directory, DirectoryEntry, NewContact,
    add_contact,
};
use crate::paper::invitation::{Invitation, invitation_pdf};
use crate::paper::{Letterhead, summary};
use crate::queue::tracking::Tracking;
use crate::whitelist::Whitelist;

/// Longest search text accepted.
const MAX_QUERY_CHARS: usize = 200;

/// What these endpoints read and change.
pub struct DirectoryApi {
    /// `None` when the directory's files could not be opened.
    pub directory: Option<Arc<Directory>>,
    /// `None` when the address book could not be opened.
    pub address_book: Option<Arc<AddressBook>>,
    pub whitelist: Arc<Whitelist>,
    /// The document folders, where correspondents' drop folders are made.
    pub drop_roots: Vec<PathBuf>,
    pub paper: Option<PaperConfig>,
    pub tracking: Arc<Tracking>,
    pub audit: Audit,
}

impl DirectoryApi {
    /// Opens the directory and the address book under `config.data_dir`
    /// (each is left out, with a warning, when it cannot be opened).
    pub fn open(
        config: &Config,
        whitelist: Arc<Whitelist>,
        tracking: Arc<Tracking>,
        audit: Audit,
    ) -> DirectoryApi {
        let directory = Directory::open(&config.data_dir)
            .inspect_err(
                |e| tracing::warn!(error = %e, "control API: health directory unavailable"),
            )
            .ok()
            .map(Arc::new);
        let address_book = AddressBook::open(&config.data_dir)
            .inspect_err(|e| tracing::warn!(error = %e, "control API: address book unavailable"))
            .ok()
            .map(Arc::new);
        DirectoryApi {
            directory,
            address_book,
            whitelist,
            drop_roots: config
                .outbox
                .iter()
                .flat_map(|o| o.folders.iter().cloned())
                .collect(),
            paper: config.paper.clone(),
            tracking,
            audit,
        }
    }
}

type Shared = Arc<DirectoryApi>;

pub(crate) fn router<S>(api: Shared) -> Router<S> {
    Router::new()
        .route("/v1/directory/status", get(status))
        .route("/v1/directory/search", get(search))
        .route("/v1/contacts", get(contacts).post(add))
        .route("/v1/contacts/{id}/delete", post(remove))
        .route("/v1/paper/summary", get(paper_summary))
        .route("/v1/paper/invitation", get(invitation))
        .with_state(api)
}

fn bad_query(e: QueryRejection) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_query", e.body_text())
}

fn directory_unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "directory_unavailable",
        "the health directory cannot be opened",
    )
}

fn book_unavailable(why: impl Into<String>) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "address_book_unavailable",
        why,
    )
}

async fn status(State(s): State<Shared>) -> Response {
    let Some(directory) = s.directory.clone() else {
        return axum::Json(json!({
            "available": false, "entries": 0, "imported_at": null, "source": null,
        }))
        .into_response();
    };
    read_blocking("directory_unavailable", move || {
        directory.status().map(|st| {
            json!({
                "available": true, "entries": st.entries,
                "imported_at": st.imported_at, "source": st.source,
            })
        })
    })
    .await
}

#[derive(Debug, Default, serde::Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    limit: Option<usize>,
}

/// A search result, with the contact already made from it, if any.
#[derive(serde::Serialize)]
struct Found {
    #[serde(flatten)]
    entry: DirectoryEntry,
    /// `Dr MARTIN Paul`, as the contact would be named.
    name: String,
    contact_id: Option<i64>,
}

async fn search(
    State(s): State<Shared>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    let text = query.q.trim().to_string();
    if text.is_empty()
        || text.chars().count() > MAX_QUERY_CHARS
        || text.chars().any(char::is_control)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("q: 1 to {MAX_QUERY_CHARS} characters, no control character"),
        );
    }
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let Some(directory) = s.directory.clone() else {
        return directory_unavailable();
    };
    let book = s.address_book.clone();
    read_blocking("directory_unavailable", move || {
        let found = directory.search(&text, limit)?;
        let contacts = book.and_then(|b| b.list().ok()).unwrap_or_default();
        let entries: Vec<Found> = found
            .into_iter()
            .map(|entry| Found {
                contact_id: contacts
                    .iter()
                    .find(|c| c.mssante.as_deref() == Some(entry.mailbox.as_str()))
                    .map(|c| c.id),
                name: Contact::from_directory(&entry).display_name,
                entry,
            })
            .collect();
        Ok::<_, crate::directory::DirectoryError>(json!({ "entries": entries }))
    })
    .await
}

/// A contact as the API shows it: with its drop-folder name.
fn contact_json(c: &Contact) -> serde_json::Value {
    let mut value = json!(c);
    value["folder_name"] = json!(c.folder_name());
    value
}

async fn contacts(State(s): State<Shared>) -> Response {
    let Some(book) = s.address_book.clone() else {
        return book_unavailable("the address book cannot be opened");
    };
    read_blocking("address_book_unavailable", move || {
        book.list()
            .map(|all| json!({ "contacts": all.iter().map(contact_json).collect::<Vec<_>>() }))
    })
    .await
}

/// `POST /v1/contacts`: [`NewContact`]'s fields and `actor`.
async fn add(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let bad = || {
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected {\"from_directory\": \"…\"} or {\"name\": \"…\", \"mssante\": \"…\", …}, and \"actor\"",
        )
    };
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(&body) else {
        return bad();
    };
    let actor = match fields.remove("actor") {
        None | Some(serde_json::Value::Null) => api_actor(None),
        Some(serde_json::Value::String(a)) => api_actor(Some(&a)),
        Some(_) => return bad(),
    };
    let Ok(new) = serde_json::from_value::<NewContact>(serde_json::Value::Object(fields)) else {
        return bad();
    };
    let Some(book) = s.address_book.clone() else {
        return book_unavailable("the address book cannot be opened");
    };
    let api = s.clone();
    let added = tokio::task::spawn_blocking(move || {
        add_contact(
            &book,
            api.directory.as_deref(),
            &api.whitelist,
            &api.drop_roots,
            &new,
        )
    })
    .await;
    match added {
        Ok(Ok(added)) => {
            let reach = added.contact.mssante.as_deref().unwrap_or("paper");
            s.audit.note(
                &actor,
                "contact_added",
                Some(&format!("contact {}", added.contact.id)),
                Some(reach),
            );
            for e in &added.folder_errors {
                tracing::warn!(error = %e, "a correspondent's drop folder could not be made");
            }
            let mut body = json!(added);
            body["contact"] = contact_json(&added.contact);
            axum::Json(body).into_response()
        }
        Ok(Err(AddContactError::NotInDirectory(addr))) => error(
            StatusCode::NOT_FOUND,
            "not_in_directory",
            format!("« {addr} » n'est pas dans l'annuaire santé."),
        ),
        Ok(Err(AddContactError::Directory(_))) => directory_unavailable(),
        Ok(Err(
            e @ (AddContactError::Refused(_) | AddContactError::Book(AddressBookError::Invalid(_))),
        )) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "contact_refused",
            e.to_string(),
        ),
        Ok(Err(e)) => book_unavailable(e.to_string()),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request's task failed",
        ),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct RemoveBody {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    confirm: bool,
}

/// `POST /v1/contacts/{id}/delete` with `{"confirm": true}`. The drop
/// folder stays: documents may still be in it.
async fn remove(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(id) = id
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && id.bytes().all(|b| b.is_ascii_digit()))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_contact_id",
            "a contact id is a positive number",
        );
    };
    let request: RemoveBody = if body.iter().all(u8::is_ascii_whitespace) {
        RemoveBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "expected {\"actor\": \"web:admin\", \"confirm\": true}",
                );
            }
        }
    };
    if !request.confirm {
        return error(
            StatusCode::BAD_REQUEST,
            "confirm_required",
            "removing a contact needs {\"confirm\": true}",
        );
    }
    let actor = api_actor(request.actor.as_deref());
    let Some(book) = s.address_book.clone() else {
        return book_unavailable("the address book cannot be opened");
    };
    let removed = tokio::task::spawn_blocking(move || {
        let contact = book.get(id)?.ok_or(AddressBookError::NotFound(id))?;
        book.remove(id)?;
        Ok::<_, AddressBookError>(contact)
    })
    .await;
    match removed {
        Ok(Ok(contact)) => {
            s.audit.note(
                &actor,
                "contact_removed",
                Some(&format!("contact {id}")),
                Some(contact.mssante.as_deref().unwrap_or("paper")),
            );
            axum::Json(json!({ "removed": contact_json(&contact) })).into_response()
        }
        Ok(Err(AddressBookError::NotFound(_))) => error(
            StatusCode::NOT_FOUND,
            "no_such_contact",
            format!("no contact with id {id}"),
        ),
        Ok(Err(e)) => book_unavailable(e.to_string()),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request's task failed",
        ),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct MonthQuery {
    month: Option<String>,
}

/// `month` as `AAAA-MM`, else this month (UTC, as the monthly summary);
/// `None` when it is not a month.
fn month_of(text: Option<&str>) -> Option<(i32, u8)> {
    match text.filter(|m| !m.is_empty()) {
        None => {
            let today = time::OffsetDateTime::now_utc().date();
            Some((today.year(), u8::from(today.month())))
        }
        Some(m) => summary::parse_month(m),
    }
}

fn bad_month() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "bad_month",
        "month: AAAA-MM, e.g. 2026-11",
    )
}

async fn paper_summary(
    State(s): State<Shared>,
    query: Result<Query<MonthQuery>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    let Some((year, month)) = month_of(query.month.as_deref()) else {
        return bad_month();
    };
    let tracking = s.tracking.clone();
    let configured = s.paper.is_some();
    read_blocking("tracking_unreadable", move || {
        tracking.paper_summary(year, month).map(|rows| {
            json!({
                "month": format!("{year:04}-{month:02}"),
                "configured": configured,
                "correspondents": rows,
            })
        })
    })
    .await
}

#[derive(Debug, Default, serde::Deserialize)]
struct InvitationQuery {
    #[serde(default)]
    key: String,
    month: Option<String>,
}

/// The invitation to join MSSanté for correspondent `key` of the paper
/// log, as a PDF; the number of letters is that of `month` when given.
async fn invitation(
    State(s): State<Shared>,
    query: Result<Query<InvitationQuery>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    if query.key.is_empty() || query.key.len() > 512 || query.key.chars().any(char::is_control) {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "key: the correspondent's key from /v1/paper/summary",
        );
    }
    let month = match query.month.as_deref() {
        Some(m) if !m.is_empty() => match month_of(Some(m)) {
            Some(m) => Some(m),
            None => return bad_month(),
        },
        _ => None,
    };
    let Some(paper) = s.paper.clone() else {
        return error(
            StatusCode::CONFLICT,
            "paper_not_configured",
            "paper letters are not set up on this box ([paper])",
        );
    };
    let tracking = s.tracking.clone();
    let key = query.key;
    let made = tokio::task::spawn_blocking(move || {
        let Some(who) = tracking.paper_correspondent(&key)? else {
            return Ok(None);
        };
        let letters = match month {
            Some((y, m)) => tracking
                .paper_summary(y, m)?
                .into_iter()
                .find(|r| r.key == who.key)
                .map_or(who.letters, |r| r.count),
            None => who.letters,
        };
        let letterhead = Letterhead::from_config(&paper);
        let pdf = invitation_pdf(&Invitation {
            letterhead: &letterhead,
            correspondent: &who.correspondent,
            address: who.postal.as_ref(),
            letters,
            date: time::OffsetDateTime::now_utc().date(),
        })
        .map_err(|e| crate::queue::QueueError::Corrupt(e.to_string()))?;
        Ok::<_, crate::queue::QueueError>(Some(pdf))
    })
    .await;
    match made {
        Ok(Ok(Some(pdf))) => (
            [
                (header::CONTENT_TYPE, "application/pdf"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"invitation-mssante.pdf\"",
                ),
            ],
            pdf,
        )
            .into_response(),
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            "no_such_correspondent",
            "no letter was sent on paper to this correspondent",
        ),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "invitation_failed",
            e.to_string(),
        ),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request's task failed",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ApiError, ControlClient};
    use crate::directory::extraction::tests::{HEADER, line};
    use crate::queue::tracking::PaperSent;

    const WHITELIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?><ListeBlancheMSSante>
        <ListeDomaines><Domaine><Nom>medecin.mssante.fr</Nom></Domaine></ListeDomaines></ListeBlancheMSSante>"#;

    struct Fixture {
        dir: tempfile::TempDir,
        client: ControlClient,
        audit: Audit,
        tracking: Arc<Tracking>,
    }

    fn paper_config(dir: &std::path::Path) -> PaperConfig {
        toml::from_str(&format!(
            "to_print_dir = \"{}\"\npractice_name = \"Cabinet du Parc\"\n\
             practitioner = \"Dr Jeanne DUPONT\"\npostcode = \"79000\"\ntown = \"Niort\"\n\
             email = \"cabinet.dupont@medecin.mssante.fr\"\naddress_lines = [\"3 avenue de Paris\"]\n",
            dir.join("to-print").display()
        ))
        .unwrap()
    }

    /// The endpoints on a Unix socket, with a directory of two entries
    /// (`imported`), a document folder and paper set up (`paper`).
    async fn fixture(imported: bool, paper: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let directory = Directory::open(dir.path()).unwrap();
        if imported {
            let file = dir.path().join("extraction.txt");
            std::fs::write(
                &file,
                format!(
                    "{HEADER}\n{}\n{}\n",
                    line(
                        "paul.martin@medecin.mssante.fr",
                        "MARTIN",
                        "Paul",
                        "Cardiologie",
                        "79000 NIORT"
                    ),
                    line(
                        "anne.durand@medecin.mssante.fr",
                        "DURAND",
                        "Anne",
                        "Pédiatrie",
                        "79200 PARTHENAY"
                    )
                ),
            )
            .unwrap();
            directory.import(&file).unwrap();
        }
        let audit = Audit::open(&dir.path().join("audit"), Default::default()).unwrap();
        let tracking = Arc::new(Tracking::open(dir.path()).unwrap());
        let api = Arc::new(DirectoryApi {
            directory: Some(Arc::new(directory)),
            address_book: Some(Arc::new(AddressBook::open(dir.path()).unwrap())),
            whitelist: Arc::new(Whitelist::parse(WHITELIST.as_bytes()).unwrap()),
            drop_roots: vec![dir.path().join("outbox")],
            paper: paper.then(|| paper_config(dir.path())),
            tracking: tracking.clone(),
            audit: audit.clone(),
        });
        let socket = dir.path().join("control.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        tokio::spawn(async move {
            axum::serve(listener, router::<()>(api)).await.unwrap();
        });
        Fixture {
            client: ControlClient::new(&socket),
            dir,
            audit,
            tracking,
        }
    }

    fn refused(result: Result<serde_json::Value, ApiError>) -> (u16, String, String) {
        match result {
            Err(ApiError::Refused { status, body }) => (status, body.error, body.message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn body(value: serde_json::Value) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(serde_json::to_vec(&value).unwrap())
    }

    async fn audit_actions(f: &Fixture) -> Vec<(String, String, Option<String>)> {
        f.audit.flush().await;
        crate::audit::list(f.audit.dir(), None, 100)
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action, e.object))
            .collect()
    }

    #[tokio::test]
    async fn directory_status_and_search() {
        let f = fixture(true, false).await;
        let status = f.client.get("/v1/directory/status").await.unwrap();
        assert_eq!(status["available"], true);
        assert_eq!(status["entries"], 2);
        assert_eq!(status["source"], "extraction.txt");
        assert!(status["imported_at"].as_i64().unwrap() > 0);

        let found = f
            .client
            .get("/v1/directory/search?q=martin%20niort&limit=5")
            .await
            .unwrap();
        let entries = found["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["mailbox"], "paul.martin@medecin.mssante.fr");
        assert_eq!(entries[0]["name"], "Dr MARTIN Paul");
        assert_eq!(entries[0]["specialty"], "Cardiologie");
        assert_eq!(entries[0]["contact_id"], serde_json::Value::Null);
        // By RPPS (from the test line's national id).
        let by_rpps = f
            .client
            .get("/v1/directory/search?q=10001234567")
            .await
            .unwrap();
        assert_eq!(by_rpps["entries"].as_array().unwrap().len(), 2);

        for bad in [
            "/v1/directory/search",
            "/v1/directory/search?q=%20",
            "/v1/directory/search?q=a%01b",
            "/v1/directory/search?q=x&limit=abc",
        ] {
            let (status, code, _) = refused(f.client.get(bad).await);
            assert_eq!((status, code.as_str()), (400, "bad_query"), "{bad}");
        }
        let long = format!("/v1/directory/search?q={}", "a".repeat(201));
        assert_eq!(refused(f.client.get(&long).await).0, 400);

        // Never imported: said so, and searches find nothing.
        let empty = fixture(false, false).await;
        let status = empty.client.get("/v1/directory/status").await.unwrap();
        assert_eq!(status["entries"], 0);
        assert_eq!(status["imported_at"], serde_json::Value::Null);
        let found = empty
            .client
            .get("/v1/directory/search?q=martin")
            .await
            .unwrap();
        assert!(found["entries"].as_array().unwrap().is_empty());
    }

    #[tokio::test]
    async fn contacts_are_added_listed_and_removed_with_an_audit_trail() {
        let f = fixture(true, false).await;
        let added = f
            .client
            .post(
                "/v1/contacts",
                body(json!({"from_directory": "paul.martin@medecin.mssante.fr", "actor": "web:admin"})),
            )
            .await
            .unwrap();
        let folder = "Dr MARTIN Paul (Cardiologie, Niort)";
        assert_eq!(added["folder_name"], folder);
        assert_eq!(added["contact"]["folder_name"], folder);
        assert!(f.dir.path().join("outbox").join(folder).is_dir());
        let id = added["contact"]["id"].as_i64().unwrap();

        // The search now says it is in the book.
        let found = f.client.get("/v1/directory/search?q=martin").await.unwrap();
        assert_eq!(found["entries"][0]["contact_id"], id);

        // By hand: on the whitelist, not in the directory (a warning).
        let typed = f
            .client
            .post(
                "/v1/contacts",
                body(
                    json!({"name": "Dr NEUF Jean", "mssante": "jean.neuf@medecin.mssante.fr",
                            "profession": "pédiatre", "town": "Niort"}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(typed["warnings"].as_array().unwrap().len(), 1);
        let list = f.client.get("/v1/contacts").await.unwrap();
        let contacts = list["contacts"].as_array().unwrap();
        assert_eq!(contacts.len(), 2);
        assert_eq!(contacts[0]["display_name"], "Dr MARTIN Paul");
        assert_eq!(contacts[0]["folder_name"], folder);

        // Refusals.
        let (status, code, message) = refused(
            f.client
                .post(
                    "/v1/contacts",
                    body(json!({"name": "Dr X", "mssante": "x@gmail.com"})),
                )
                .await,
        );
        assert_eq!((status, code.as_str()), (422, "contact_refused"));
        assert!(message.contains("gmail.com"), "{message}");
        let (status, code, _) = refused(
            f.client
                .post(
                    "/v1/contacts",
                    body(json!({"from_directory": "paul.martin@medecin.mssante.fr"})),
                )
                .await,
        );
        assert_eq!((status, code.as_str()), (422, "contact_refused"), "twice");
        let (status, code, _) = refused(
            f.client
                .post(
                    "/v1/contacts",
                    body(json!({"from_directory": "nobody@medecin.mssante.fr"})),
                )
                .await,
        );
        assert_eq!((status, code.as_str()), (404, "not_in_directory"));
        for bad in [
            json!({"nom": "x"}),
            json!(["x"]),
            json!({"name": 3}),
            json!({"actor": 1}),
        ] {
            let (status, code, _) = refused(f.client.post("/v1/contacts", body(bad)).await);
            assert_eq!((status, code.as_str()), (400, "bad_request"));
        }

        // Removal needs its confirmation; unknown ids are 404.
        let path = format!("/v1/contacts/{id}/delete");
        let (status, code, _) = refused(
            f.client
                .post(&path, body(json!({"actor": "web:admin"})))
                .await,
        );
        assert_eq!((status, code.as_str()), (400, "confirm_required"));
        let (status, code, _) = refused(
            f.client
                .post("/v1/contacts/abc/delete", body(json!({"confirm": true})))
                .await,
        );
        assert_eq!((status, code.as_str()), (400, "bad_contact_id"));
        let removed = f
            .client
            .post(&path, body(json!({"confirm": true, "actor": "web:admin"})))
            .await
            .unwrap();
        assert_eq!(removed["removed"]["id"], id);
        let (status, code, _) = refused(f.client.post(&path, body(json!({"confirm": true}))).await);
        assert_eq!((status, code.as_str()), (404, "no_such_contact"));
        assert_eq!(
            f.client.get("/v1/contacts").await.unwrap()["contacts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // The drop folder stays (documents may be in it).
        assert!(f.dir.path().join("outbox").join(folder).is_dir());

        let object = Some(format!("contact {id}"));
        let actions = audit_actions(&f).await;
        assert!(actions.contains(&("web:admin".into(), "contact_added".into(), object.clone())));
        assert!(actions.contains(&("web:admin".into(), "contact_removed".into(), object)));
        assert!(
            actions
                .iter()
                .any(|(actor, action, _)| actor == "api" && action == "contact_added")
        );
        assert_eq!(actions.len(), 3, "refusals are not recorded: {actions:?}");
    }

    fn record_letter(t: &Tracking, message: &str, at: i64, postal: bool) {
        let address = crate::paper::PostalAddress {
            name_line: "Dr Paul MARTIN".into(),
            lines: vec!["12 rue des Lilas".into()],
            postcode: "79000".into(),
            town: "Niort".into(),
            country: None,
        };
        t.record_paper(&PaperSent {
            message_key: message,
            correspondent_key: "dr paul martin|79000",
            correspondent_label: "Dr Paul MARTIN",
            postal: &address.one_line(),
            postal_address: postal.then_some(&address),
            title: "Compte rendu",
            at,
        })
        .unwrap();
    }

    #[tokio::test]
    async fn paper_summary_and_invitation_letter() {
        let f = fixture(false, true).await;
        let (nov, _) = crate::queue::tracking::month_bounds(2026, 11).unwrap();
        record_letter(&f.tracking, "d1", nov + 10, false);
        record_letter(&f.tracking, "d2", nov + 20, true);
        let summary = f
            .client
            .get("/v1/paper/summary?month=2026-11")
            .await
            .unwrap();
        assert_eq!(summary["month"], "2026-11");
        assert_eq!(summary["configured"], true);
        let rows = summary["correspondents"].as_array().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["count"], 2);
        let key = rows[0]["key"].as_str().unwrap();
        let empty = f
            .client
            .get("/v1/paper/summary?month=2026-10")
            .await
            .unwrap();
        assert!(empty["correspondents"].as_array().unwrap().is_empty());
        // This month by default.
        let now = f.client.get("/v1/paper/summary").await.unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        assert_eq!(
            now["month"],
            format!("{:04}-{:02}", today.year(), u8::from(today.month()))
        );
        for bad in ["2026-13", "2026-1", "novembre", "2026-11-01"] {
            let (status, code, _) = refused(
                f.client
                    .get(&format!("/v1/paper/summary?month={bad}"))
                    .await,
            );
            assert_eq!((status, code.as_str()), (400, "bad_month"), "{bad}");
        }

        let path = format!(
            "/v1/paper/invitation?key={}&month=2026-11",
            crate::control::encode_component(key)
        );
        let (content_type, pdf) = f.client.get_file(&path).await.unwrap();
        assert_eq!(content_type, "application/pdf");
        assert!(pdf.starts_with(b"%PDF-"));
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        assert_eq!(doc.get_pages().len(), 1);
        let content = doc.get_page_content(*doc.get_pages().values().next().unwrap());
        let text = String::from_utf8_lossy(&content);
        assert!(
            text.contains("12 rue des Lilas"),
            "the address of the latest letter"
        );
        assert!(text.contains("2 courriers"));

        let refused_file = |r: Result<(String, Vec<u8>), ApiError>| match r {
            Err(ApiError::Refused { status, body }) => (status, body.error),
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            refused_file(f.client.get_file("/v1/paper/invitation?key=nobody").await),
            (404, "no_such_correspondent".into())
        );
        assert_eq!(
            refused_file(f.client.get_file("/v1/paper/invitation").await),
            (400, "bad_query".into())
        );
        assert_eq!(
            refused_file(
                f.client
                    .get_file("/v1/paper/invitation?key=x&month=13")
                    .await
            ),
            (400, "bad_month".into())
        );

        // Without [paper]: the summary says so, no letter is made.
        let unset = fixture(false, false).await;
        record_letter(&unset.tracking, "d1", nov + 10, true);
        let summary = unset
            .client
            .get("/v1/paper/summary?month=2026-11")
            .await
            .unwrap();
        assert_eq!(summary["configured"], false);
        assert_eq!(
            refused_file(unset.client.get_file(&path).await),
            (409, "paper_not_configured".into())
        );
    }
}
