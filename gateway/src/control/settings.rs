//! Settings endpoints: what the set-up wizard and the settings pages of
//! the web admin change (`settings/`). Every change is audited with the
//! keys changed, never the values (they may be addresses of patients'
//! correspondents or secrets).

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;
use tokio::sync::Notify;
use zeroize::Zeroizing;

use super::server::{api_actor, error};
use crate::audit::Audit;
use crate::settings::{AccountError, EDITABLE, Operators, SettingsError, SettingsStore};

/// What the settings endpoints share.
pub struct SettingsState {
    pub store: Arc<SettingsStore>,
    /// The operators file (`operators`), read at each request so the
    /// installer can replace it without a restart; None: built-in list.
    pub operators: Option<PathBuf>,
    pub audit: Audit,
    /// Notified to restart the daemon (orderly stop, then start again).
    pub restart: Arc<Notify>,
}

type Shared = Arc<SettingsState>;

pub fn settings_router(state: SettingsState) -> Router {
    Router::new()
        .route("/v1/settings", get(view).put(change))
        .route("/v1/settings/operator", post(choose_operator))
        .route("/v1/operators", get(operators))
        .route("/v1/credential/card", post(use_card))
        .route("/v1/credential/pkcs12", post(use_pkcs12))
        .route("/v1/credential/psc", post(use_psc))
        .route("/v1/accounts", get(accounts).post(set_account))
        .route("/v1/accounts/{user}/delete", post(remove_account))
        .route("/v1/restart", post(restart))
        .route("/v1/backup", get(backup))
        .route("/v1/restore", post(restore))
        .with_state(Arc::new(state))
}

/// Runs a settings operation off the async threads (file reads, fsync,
/// argon2).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SettingsError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(refusal(&e)),
        Err(_) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "settings_unavailable",
            "the settings task failed",
        )),
    }
}

fn refusal(e: &SettingsError) -> Response {
    let (status, code) = match e {
        SettingsError::NotEditable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_editable"),
        SettingsError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_setting"),
        SettingsError::Config(crate::config::ConfigError::Invalid { .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_setting")
        }
        SettingsError::Account(AccountError::BadUser) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "bad_user")
        }
        SettingsError::Account(AccountError::WeakPassword) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
        }
        SettingsError::Account(AccountError::TooMany) => {
            (StatusCode::CONFLICT, "too_many_accounts")
        }
        SettingsError::Account(AccountError::Unknown(_)) => {
            (StatusCode::NOT_FOUND, "no_such_account")
        }
        SettingsError::Upload(u) => (StatusCode::UNPROCESSABLE_ENTITY, u.code()),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "settings_unavailable"),
    };
    let mut body = json!({"error": code, "message": e.to_string()});
    if let Some(key) = e.key() {
        body["key"] = json!(key);
    }
    (status, Json(body)).into_response()
}

fn bad_request(expected: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        format!("expected {expected}"),
    )
}

async fn view(State(s): State<Shared>) -> Response {
    let store = s.store.clone();
    match blocking(move || store.view()).await {
        Ok(view) => {
            let mut body = json!(view);
            body["editable"] = json!(EDITABLE);
            Json(body).into_response()
        }
        Err(response) => response,
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeRequest {
    changes: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    actor: Option<String>,
}

async fn change(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<ChangeRequest>(&body) else {
        return bad_request("{\"changes\": {\"key\": value}, \"actor\": \"web:admin\"}");
    };
    if request.changes.is_empty() {
        return bad_request("at least one change");
    }
    let store = s.store.clone();
    let changes = request.changes;
    match blocking(move || store.change(&changes)).await {
        Ok(keys) => {
            s.audit.note(
                &api_actor(request.actor.as_deref()),
                "settings_changed",
                None,
                Some(&keys.join(",")),
            );
            Json(json!({"changed": keys, "restart_needed": true})).into_response()
        }
        Err(response) => response,
    }
}

async fn operators(State(s): State<Shared>) -> Response {
    let path = s.operators.clone();
    match tokio::task::spawn_blocking(move || Operators::load(path.as_deref())).await {
        Ok(Ok(list)) => Json(list).into_response(),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "operators_unreadable",
            e.to_string(),
        ),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "operators_unreadable",
            "task failed",
        ),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorRequest {
    id: String,
    #[serde(default)]
    actor: Option<String>,
}

async fn choose_operator(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<OperatorRequest>(&body) else {
        return bad_request("{\"id\": \"operator id\", \"actor\": \"web:admin\"}");
    };
    let path = s.operators.clone();
    let store = s.store.clone();
    let id = request.id.clone();
    let result = blocking(move || {
        let list = Operators::load(path.as_deref()).map_err(|e| SettingsError::Invalid {
            key: "operators".into(),
            message: e.to_string(),
        })?;
        let Some(operator) = list.get(&id) else {
            return Ok(None);
        };
        if operator.manual {
            return Ok(Some(operator.clone()));
        }
        let changes = operator
            .settings()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        store.change(&changes)?;
        Ok(Some(operator.clone()))
    })
    .await;
    match result {
        Ok(Some(operator)) => {
            if !operator.manual {
                s.audit.note(
                    &api_actor(request.actor.as_deref()),
                    "operator_chosen",
                    Some(&operator.id),
                    None,
                );
            }
            Json(json!({"operator": operator, "restart_needed": !operator.manual})).into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "no_such_operator",
            format!("no operator `{}` in the list", request.id),
        ),
        Err(response) => response,
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActorOnly {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    confirm: bool,
}

fn actor_only(body: &[u8]) -> Option<ActorOnly> {
    if body.is_empty() {
        return Some(ActorOnly::default());
    }
    serde_json::from_slice(body).ok()
}

async fn use_card(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(request) = actor_only(&body) else {
        return bad_request("{\"actor\": \"web:admin\"}");
    };
    let store = s.store.clone();
    match blocking(move || store.use_card()).await {
        Ok(()) => {
            s.audit.note(
                &api_actor(request.actor.as_deref()),
                "credential_changed",
                None,
                Some("card"),
            );
            Json(json!({"credential": "card", "restart_needed": true})).into_response()
        }
        Err(response) => response,
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PscRequest {
    /// `card` or `ecps`.
    login: String,
    #[serde(default)]
    national_id: Option<String>,
    #[serde(default)]
    actor: Option<String>,
}

async fn use_psc(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<PscRequest>(&body) else {
        return bad_request(
            "{\"login\": \"card\" or \"ecps\", \"national_id\": \"899700000001\", \"actor\": \"web:admin\"}",
        );
    };
    let store = s.store.clone();
    let (login, national_id) = (request.login.clone(), request.national_id.clone());
    match blocking(move || store.use_psc(&login, national_id.as_deref())).await {
        Ok(()) => {
            s.audit.note(
                &api_actor(request.actor.as_deref()),
                "credential_changed",
                None,
                Some(&format!("psc {}", request.login)),
            );
            Json(json!({"credential": "psc", "login": request.login, "restart_needed": true}))
                .into_response()
        }
        Err(response) => response,
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Pkcs12Request {
    /// The file, base64.
    pkcs12: String,
    password: Zeroizing<String>,
    #[serde(default)]
    actor: Option<String>,
}

async fn use_pkcs12(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let body = Zeroizing::new(body.to_vec());
    let Ok(request) = serde_json::from_slice::<Pkcs12Request>(&body) else {
        return bad_request(
            "{\"pkcs12\": \"base64\", \"password\": \"...\", \"actor\": \"web:admin\"}",
        );
    };
    let Ok(data) = base64::engine::general_purpose::STANDARD.decode(request.pkcs12.trim()) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "pkcs12_damaged",
            "the file is not valid base64",
        );
    };
    let data = Zeroizing::new(data);
    let store = s.store.clone();
    let password = request.password.clone();
    match blocking(move || store.use_pkcs12(&data, &password)).await {
        Ok(stored) => {
            s.audit.note(
                &api_actor(request.actor.as_deref()),
                "credential_changed",
                None,
                Some("software"),
            );
            Json(json!({
                "credential": "software",
                "identity": stored.identity,
                "not_after": stored.not_after,
                "restart_needed": true,
            }))
            .into_response()
        }
        Err(response) => response,
    }
}

async fn accounts(State(s): State<Shared>) -> Response {
    let store = s.store.clone();
    match blocking(move || store.accounts()).await {
        Ok(users) => Json(json!({"accounts": users})).into_response(),
        Err(response) => response,
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountRequest {
    user: String,
    password: Zeroizing<String>,
    #[serde(default)]
    actor: Option<String>,
}

async fn set_account(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let body = Zeroizing::new(body.to_vec());
    let Ok(request) = serde_json::from_slice::<AccountRequest>(&body) else {
        return bad_request(
            "{\"user\": \"secretariat\", \"password\": \"...\", \"actor\": \"web:admin\"}",
        );
    };
    let store = s.store.clone();
    let (user, password) = (request.user.clone(), request.password.clone());
    let existed = {
        let store = s.store.clone();
        let user = user.clone();
        blocking(move || store.accounts().map(|list| list.contains(&user)))
            .await
            .unwrap_or(false)
    };
    match blocking(move || store.set_account(&user, &password)).await {
        Ok(()) => {
            s.audit.note(
                &api_actor(request.actor.as_deref()),
                if existed {
                    "account_password_changed"
                } else {
                    "account_created"
                },
                Some(&request.user),
                None,
            );
            Json(json!({"user": request.user, "created": !existed})).into_response()
        }
        Err(response) => response,
    }
}

async fn remove_account(
    State(s): State<Shared>,
    UrlPath(user): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(request) = actor_only(&body) else {
        return bad_request("{\"confirm\": true, \"actor\": \"web:admin\"}");
    };
    if !request.confirm {
        return error(
            StatusCode::BAD_REQUEST,
            "confirm_required",
            "removing an account needs {\"confirm\": true}",
        );
    }
    let store = s.store.clone();
    let name = user.clone();
    match blocking(move || store.remove_account(&name)).await {
        Ok(()) => {
            s.audit.note(
                &api_actor(request.actor.as_deref()),
                "account_removed",
                Some(&user),
                None,
            );
            Json(json!({"removed": user})).into_response()
        }
        Err(response) => response,
    }
}

fn address_book(store: &SettingsStore) -> Option<crate::directory::AddressBook> {
    match crate::directory::AddressBook::open(store.data_dir_path()) {
        Ok(book) => Some(book),
        Err(e) => {
            tracing::warn!(error = %e, "address book unavailable: left out of the backup");
            None
        }
    }
}

/// `GET /v1/backup`: the practice's configuration (with the certificate's
/// secrets: the socket is the daemon user's only, and the web admin
/// encrypts it before it leaves the box).
async fn backup(State(s): State<Shared>) -> Response {
    let store = s.store.clone();
    match blocking(move || {
        let book = address_book(&store);
        store.backup(book.as_ref())
    })
    .await
    {
        Ok(backup) => {
            s.audit.note(
                "api",
                "backup_created",
                None,
                Some(&format!("{} contact(s)", backup.contacts.len())),
            );
            Json(backup).into_response()
        }
        Err(response) => response,
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreRequest {
    backup: crate::settings::Backup,
    #[serde(default)]
    actor: Option<String>,
}

/// `POST /v1/restore`: a backup put in place (then `/v1/restart`).
async fn restore(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let body = Zeroizing::new(body.to_vec());
    let request = match serde_json::from_slice::<RestoreRequest>(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "backup_unreadable",
                format!("not a Facteur backup: {e}"),
            );
        }
    };
    let store = s.store.clone();
    let backup = request.backup;
    match blocking(move || {
        let book = address_book(&store);
        store.restore(&backup, book.as_ref())
    })
    .await
    {
        Ok(restored) => {
            s.audit.note(
                &api_actor(request.actor.as_deref()),
                "configuration_restored",
                None,
                Some(&format!(
                    "{} account(s), {} contact(s)",
                    restored.accounts, restored.contacts
                )),
            );
            Json(json!({"restored": restored, "restart_needed": true})).into_response()
        }
        Err(response) => response,
    }
}

async fn restart(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(request) = actor_only(&body) else {
        return bad_request("{\"actor\": \"web:admin\"}");
    };
    s.audit.note(
        &api_actor(request.actor.as_deref()),
        "restart_requested",
        None,
        None,
    );
    s.audit.flush().await;
    // The answer leaves before the stop begins.
    let restart = s.restart.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        restart.notify_one();
    });
    (StatusCode::ACCEPTED, Json(json!({"restarting": true}))).into_response()
}
