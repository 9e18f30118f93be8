//! HTTP-level tests of every route against a fake daemon (an axum server
//! on a temporary Unix socket answering like the control API).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use facteur_web::App;
use facteur_web::app::ClientAddr;
use facteur_web::clock::ManualClock;
use facteur_web::config::Config;

const PASSWORD: &str = "Cabinet du Parc, 2026 !";

// -- the fake daemon ----------------------------------------------------------

struct Card {
    tries: u8,
    unlocked: bool,
}

type FakeState = Arc<Mutex<Card>>;

fn card_json(c: &Card) -> Value {
    let state = if c.unlocked {
        "unlocked"
    } else if c.tries == 0 {
        "blocked"
    } else {
        "locked"
    };
    json!({
        "state": state,
        "message": format!("Carte de JEAN DUPONT ({state})"),
        "readers": ["Facteur Test Reader 00 00"],
        "reader": "Facteur Test Reader 00 00",
        "profile": "cps3",
        "holder": {"name": "JEAN DUPONT", "profession": "Medecin", "national_id": "899700000001"},
        "pin": {"left": c.tries, "max": 3},
        "pinpad": false,
        "identity": if c.unlocked { "accepted" } else { "unknown" },
        "expires_in_days": 3650,
        "warnings": [],
        "error": null
    })
}

async fn fake_card(State(s): State<FakeState>) -> Json<Value> {
    Json(card_json(&s.lock().unwrap()))
}

async fn fake_status(State(s): State<FakeState>) -> Json<Value> {
    let c = s.lock().unwrap();
    Json(json!({
        "api": 1, "version": "0.1.0", "uptime_secs": 5,
        "credential": {"kind": "card", "ready": c.unlocked,
                       "reason": if c.unlocked { Value::Null } else { json!("carte verrouillée") }},
        "delivery": if c.unlocked { json!({"state": "running"}) }
                    else { json!({"state": "credential_unavailable", "reason": "carte verrouillée"}) },
        "queue": {"pending": 1, "delivered": 0, "failed": 0},
        "card": card_json(&c),
    }))
}

fn refuse(status: StatusCode, code: &str, tries: Option<u8>) -> Response {
    (
        status,
        Json(json!({"error": code, "message": code, "tries_left": tries})),
    )
        .into_response()
}

async fn fake_unlock(State(s): State<FakeState>, Json(body): Json<Value>) -> Response {
    let pin = body["pin"].as_str().unwrap_or("").to_string();
    let confirm = body["confirm_last_try"].as_bool().unwrap_or(false);
    let mut c = s.lock().unwrap();
    if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return refuse(StatusCode::BAD_REQUEST, "pin_format", None);
    }
    if c.unlocked {
        return Json(card_json(&c)).into_response();
    }
    if c.tries == 0 {
        return refuse(StatusCode::LOCKED, "blocked", Some(0));
    }
    if c.tries == 1 && !confirm {
        return refuse(StatusCode::CONFLICT, "confirm_last_try", Some(1));
    }
    if pin == "1234" {
        c.unlocked = true;
        c.tries = 3;
        return Json(card_json(&c)).into_response();
    }
    c.tries -= 1;
    refuse(StatusCode::FORBIDDEN, "wrong_pin", Some(c.tries))
}

// The queue, tracking and audit side of the fake daemon.

const QID: &str = "0194F3A2B1C0D9E8";
const MARTIN: &str = "dr.martin@medecin.test.mssante.fr";
/// A `+` and an `@` that must arrive percent-encoded.
const DURAND: &str = "dr.durand+cardio@hopital.test.mssante.fr";
const DONE_QID: &str = "0194F3A2B1C0D9E7";
const DONE_MID: &str = "<abc.1+x@facteur.test>";

#[derive(Default)]
struct Mail {
    /// (recipient, status) of message QID.
    recipients: Vec<(String, String)>,
    /// Every call received: "POST /v1/queue/…?… {body}" or "GET /v1/…?…".
    calls: Vec<String>,
    audit_broken: bool,
    /// Address book, directory and paper side (`directory_routes`).
    dir: FakeDirectory,
    /// Local accounts (`setup_routes`).
    accounts: Vec<String>,
}

type FakeMail = Arc<Mutex<Mail>>;

fn queue_rows(m: &Mail) -> Vec<Value> {
    let mut rows: Vec<Value> = m
        .recipients
        .iter()
        .map(|(r, st)| {
            json!({"id": QID, "sender": "cabinet.dupont@test.mssante.fr", "recipient": r,
                   "status": st, "attempts": 2, "received_at": 1_767_261_600i64,
                   "next_attempt": 1_767_262_200i64, "last_reply": "421 4.3.0 <busy> & retry"})
        })
        .collect();
    rows.push(
        json!({"id": DONE_QID, "sender": "cabinet.dupont@test.mssante.fr", "recipient": MARTIN,
                     "status": "delivered", "attempts": 1, "received_at": 1_767_200_000i64,
                     "next_attempt": 1_767_200_000i64, "last_reply": "250 2.0.0 Ok"}),
    );
    rows
}

async fn fake_queue(State(s): State<FakeMail>) -> Json<Value> {
    let m = s.lock().unwrap();
    Json(json!({ "recipients": queue_rows(&m) }))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn fake_action(
    State(s): State<FakeMail>,
    Path((id, action)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let mut m = s.lock().unwrap();
    m.calls.push(format!(
        "POST /v1/queue/{id}/{action}?{} {body}",
        query.clone().unwrap_or_default()
    ));
    if id.len() != 16 {
        return refuse(StatusCode::BAD_REQUEST, "bad_queue_id", None);
    }
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if action == "delete" && request["confirm"] != json!(true) {
        return refuse(StatusCode::BAD_REQUEST, "confirm_required", None);
    }
    if id != QID {
        return refuse(StatusCode::NOT_FOUND, "no_such_message", None);
    }
    let recipient = query
        .as_deref()
        .and_then(|q| q.strip_prefix("recipient="))
        .map(percent_decode);
    let (from, to): (&[&str], &str) = match action.as_str() {
        "hold" => (&["pending"], "held"),
        "release" => (&["held"], "pending"),
        "retry" => (&["pending"], "pending"),
        "delete" => (&["pending", "held"], "deleted"),
        _ => return refuse(StatusCode::NOT_FOUND, "not_found", None),
    };
    if let Some(r) = &recipient
        && !m.recipients.iter().any(|(a, _)| a == r)
    {
        return refuse(StatusCode::NOT_FOUND, "no_such_message", None);
    }
    let mut changed = Vec::new();
    for (r, st) in m.recipients.iter_mut() {
        if recipient.as_ref().is_none_or(|x| x == r) && from.contains(&st.as_str()) {
            *st = to.to_string();
            changed.push(r.clone());
        }
    }
    if changed.is_empty() {
        return refuse(StatusCode::CONFLICT, "not_applicable", None);
    }
    Json(
        json!({"id": QID, "action": action, "changed": changed, "finished": false,
                "recipients": queue_rows(&m)}),
    )
    .into_response()
}

async fn fake_tracking(State(s): State<FakeMail>, RawQuery(query): RawQuery) -> Json<Value> {
    let mut m = s.lock().unwrap();
    m.calls.push(format!(
        "GET /v1/tracking?{}",
        query.clone().unwrap_or_default()
    ));
    let mut hits: Vec<Value> = m
        .recipients
        .iter()
        .map(|(r, st)| {
            json!({"queue_id": QID, "message_id": "<q1@facteur.test>", "recipient": r, "state": st,
                   "receipt_requested": false, "detail": null,
                   "sent_at": 1_767_261_600i64, "updated_at": 1_767_262_000i64})
        })
        .collect();
    hits.push(
        json!({"queue_id": DONE_QID, "message_id": DONE_MID, "recipient": MARTIN,
                     "state": "delivered", "receipt_requested": true, "detail": null,
                     "sent_at": 1_767_200_000i64, "updated_at": 1_767_200_100i64,
                     "patient": PATIENT, "patient_ins": PATIENT_INS}),
    );
    hits.push(
        json!({"queue_id": null, "message_id": null, "recipient": "Dr Papier, Lyon",
                     "state": "paper", "receipt_requested": false, "detail": null,
                     "sent_at": 1_767_100_000i64, "updated_at": 1_767_100_000i64}),
    );
    let q = query.unwrap_or_default();
    if q.contains("q=personne") {
        hits.clear();
    }
    let limit = q
        .split('&')
        .find_map(|kv| kv.strip_prefix("limit="))
        .and_then(|l| l.parse().ok())
        .unwrap_or(100);
    hits.truncate(limit);
    Json(json!({ "recipients": hits }))
}

async fn fake_timeline(
    State(s): State<FakeMail>,
    Path(key): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let mut m = s.lock().unwrap();
    // As sent, before decoding.
    m.calls.push(format!("GET {}", uri.path()));
    let key = key
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    if key == DONE_MID.trim_start_matches('<').trim_end_matches('>') || key == DONE_QID {
        return Json(json!({
            "message_id": DONE_MID, "queue_ids": [DONE_QID], "submitted_by": "secretariat",
            "received_at": 1_767_200_000i64, "patient": PATIENT, "patient_ins": PATIENT_INS,
            "document": "CR échographie \"2026\".pdf",
            "recipients": [{"recipient": MARTIN, "queue_id": DONE_QID, "state": "delivered", "detail": null,
                "timeline": [{"at": 1_767_200_000i64, "event": "accepted", "detail": null},
                             {"at": 1_767_200_002i64, "event": "sent", "detail": "250 2.0.0 Ok"},
                             {"at": 1_767_200_100i64, "event": "delivered", "detail": null}]}]
        }))
        .into_response();
    }
    if key == "q1@facteur.test" || key == QID {
        let recipients: Vec<Value> = m
            .recipients
            .iter()
            .map(|(r, st)| json!({"recipient": r, "queue_id": QID, "state": st, "detail": null,
                "timeline": [{"at": 1_767_261_600i64, "event": "accepted", "detail": null},
                             {"at": 1_767_261_700i64, "event": "deferred", "detail": "421 4.3.0 busy"}]}))
            .collect();
        return Json(
            json!({"message_id": "<q1@facteur.test>", "queue_ids": [QID],
                           "submitted_by": "secretariat", "received_at": 1_767_261_600i64,
                           "recipients": recipients}),
        )
        .into_response();
    }
    refuse(StatusCode::NOT_FOUND, "no_such_message", None)
}

fn audit_entries() -> Vec<facteur::audit::AuditEntry> {
    let mut prev = "0".repeat(64);
    (1..=120u64)
        .map(|seq| {
            let mut e = facteur::audit::AuditEntry {
                seq,
                at: 1_767_200_000 + seq as i64,
                actor: if seq % 2 == 0 {
                    "daemon".into()
                } else {
                    "web:admin".into()
                },
                action: if seq % 2 == 0 {
                    "message_sent".into()
                } else {
                    "signin".into()
                },
                object: (seq % 2 == 0).then(|| QID.to_string()),
                detail: Some(format!("to {MARTIN} <{seq}>")),
                prev: prev.clone(),
                hash: String::new(),
            };
            e.hash = e.compute_hash();
            prev = e.hash.clone();
            e
        })
        .collect()
}

async fn fake_audit(State(s): State<FakeMail>, RawQuery(query): RawQuery) -> Json<Value> {
    s.lock().unwrap().calls.push(format!(
        "GET /v1/audit?{}",
        query.clone().unwrap_or_default()
    ));
    let q = query.unwrap_or_default();
    let get = |name: &str| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let limit = get("limit=").unwrap_or(100) as usize;
    let all = audit_entries();
    let entries: Vec<_> = match get("after_seq=") {
        Some(after) => all
            .into_iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .collect(),
        None => {
            let skip = all.len().saturating_sub(limit);
            all.into_iter().skip(skip).collect()
        }
    };
    Json(json!({ "entries": entries }))
}

async fn fake_audit_verify(State(s): State<FakeMail>) -> Json<Value> {
    if s.lock().unwrap().audit_broken {
        Json(
            json!({"ok": false, "entries": 41, "files": 1, "last_seq": 41, "last_hash": "ab",
                    "first_bad": {"file": "audit.log", "line": 42,
                                  "reason": "hash does not match the entry's content: the line was edited"}}),
        )
    } else {
        Json(
            json!({"ok": true, "entries": 120, "files": 1, "last_seq": 120, "last_hash": "ab",
                    "first_bad": null}),
        )
    }
}

async fn fake_audit_append(State(s): State<FakeMail>, body: String) -> Json<Value> {
    s.lock()
        .unwrap()
        .calls
        .push(format!("POST /v1/audit {body}"));
    Json(json!({"seq": 121}))
}

fn mail_routes(mail: FakeMail) -> Router {
    Router::new()
        .route("/v1/queue", get(fake_queue))
        .route("/v1/queue/{id}/{action}", post(fake_action))
        .route("/v1/tracking", get(fake_tracking))
        .route("/v1/tracking/{key}", get(fake_timeline))
        .route("/v1/tracking/{key}/document", get(fake_sent_document))
        .route("/v1/received", get(fake_received))
        .route("/v1/audit", get(fake_audit).post(fake_audit_append))
        .route("/v1/audit/verify", get(fake_audit_verify))
        .with_state(mail.clone())
        .merge(directory_routes(mail.clone()))
        .merge(setup_routes(mail))
}

fn start_fake_daemon(socket: &std::path::Path, tries: u8) -> (FakeState, FakeMail) {
    let state = Arc::new(Mutex::new(Card {
        tries,
        unlocked: false,
    }));
    let mail = Arc::new(Mutex::new(Mail {
        recipients: vec![
            (MARTIN.to_string(), "pending".to_string()),
            (DURAND.to_string(), "pending".to_string()),
        ],
        ..Mail::default()
    }));
    let app = Router::new()
        .route("/v1/status", get(fake_status))
        .route("/v1/card", get(fake_card))
        .route("/v1/card/unlock", post(fake_unlock))
        .route("/v1/psc", get(fake_no_psc))
        .with_state(state.clone())
        .merge(mail_routes(mail.clone()))
        .merge(diagnostics_routes(mail.clone()));
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (state, mail)
}

// -- the web admin under test ----------------------------------------------------

struct Harness {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    app: Arc<App>,
    router: Router,
    card: Option<FakeState>,
    mail: Option<FakeMail>,
}

fn harness_with(daemon: Option<u8>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let (card, mail) = match daemon.map(|tries| start_fake_daemon(&socket, tries)) {
        Some((c, m)) => (Some(c), Some(m)),
        None => (None, None),
    };
    harness_in(dir, &socket, card, mail)
}

/// The web admin on `socket` (in `dir`), its fake daemon already there.
fn harness_in(
    dir: tempfile::TempDir,
    socket: &std::path::Path,
    card: Option<FakeState>,
    mail: Option<FakeMail>,
) -> Harness {
    let config = Config::parse(&format!(
        "listen = \"127.0.0.1:0\"\ncontrol_socket = \"{}\"\nstate_dir = \"{}\"\n",
        socket.display(),
        dir.path().join("state").display()
    ))
    .unwrap();
    let clock = Arc::new(ManualClock::default());
    let app = Arc::new(App::open(config, clock.clone()).unwrap());
    let router = facteur_web::router(app.clone());
    Harness {
        dir,
        clock,
        app,
        router,
        card,
        mail,
    }
}

fn harness() -> Harness {
    harness_with(Some(3))
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn cookie(&self) -> Option<String> {
        let set = self.headers.get(header::SET_COOKIE)?.to_str().ok()?;
        let value = set.split(';').next()?.split_once('=')?.1;
        (!value.is_empty()).then(|| value.to_string())
    }
    fn set_cookie(&self) -> &str {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("csrf field") + marker.len();
        self.body[start..start + 64].to_string()
    }
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> Reply {
        let mut request = request;
        request
            .extensions_mut()
            .insert(ClientAddr("192.168.1.20:50000".parse().unwrap()));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut b = Request::get(path);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, format!("__Host-facteur={c}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.post_raw(path, cookie, body).await
    }

    async fn post_raw(&self, path: &str, cookie: Option<&str>, body: String) -> Reply {
        let mut b =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, format!("__Host-facteur={c}"));
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    fn code(&self) -> String {
        self.app.setup_code_display().unwrap()
    }

    /// Claims the box; returns nothing (claiming ends every session).
    async fn claim(&self) {
        let page = self.get("/setup", None).await;
        let cookie = page.cookie().unwrap();
        let r = self
            .post(
                "/setup",
                Some(&cookie),
                &[
                    ("csrf", &page.csrf()),
                    ("code", &self.code()),
                    ("password", PASSWORD),
                    ("confirm", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), "/login?info=claimed");
    }

    /// Logs in; returns (cookie, csrf).
    async fn login(&self) -> (String, String) {
        let page = self.get("/login", None).await;
        assert_eq!(page.status, StatusCode::OK);
        let anon = page.cookie().unwrap();
        let r = self
            .post(
                "/login",
                Some(&anon),
                &[("csrf", &page.csrf()), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), "/dashboard");
        let cookie = r.cookie().unwrap();
        assert_ne!(cookie, anon, "the session id changes at login");
        let dash = self.get("/dashboard", Some(&cookie)).await;
        assert_eq!(dash.status, StatusCode::OK);
        (cookie, dash.csrf())
    }
}

fn assert_security_headers(r: &Reply) {
    let h = |name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(h("content-security-policy"), facteur_web::headers::CSP);
    assert!(h("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("referrer-policy"), "no-referrer");
    assert!(h("strict-transport-security").starts_with("max-age="));
    assert!(!h("cache-control").is_empty());
}

// -- tests ------------------------------------------------------------------------

#[tokio::test]
async fn unclaimed_box_only_offers_setup() {
    let t = harness();
    for path in [
        "/",
        "/login",
        "/dashboard",
        "/card",
        "/queue",
        "/tracking",
        "/tracking/abc@x",
        "/audit",
        "/audit/export",
    ] {
        let r = t.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/setup", "{path}");
        assert_security_headers(&r);
    }
    for path in [
        "/logout",
        "/card/unlock",
        "/queue/0194F3A2B1C0D9E8/hold",
        "/queue/0194F3A2B1C0D9E8/delete",
    ] {
        let r = t.post(path, None, &[("csrf", "x")]).await;
        assert_eq!(r.location(), "/setup", "{path}");
    }
    let r = t.get("/setup", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_security_headers(&r);
    assert_eq!(r.headers["cache-control"], "no-store");
    let set = r.set_cookie();
    for attr in [
        "__Host-facteur=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(r.body.contains("Code de mise en service"));
    assert!(
        !r.body.contains(&t.code()),
        "the setup code is never shown on the page"
    );
    let r = t.get("/nope", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_security_headers(&r);
    let r = t.get("/static/facteur.css", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_security_headers(&r);
}

#[tokio::test]
async fn setup_checks_code_password_and_csrf_then_disappears() {
    let t = harness();
    let page = t.get("/setup", None).await;
    let cookie = page.cookie().unwrap();
    let csrf = page.csrf();
    let code = t.code();
    let post = |form: Vec<(&'static str, String)>| {
        let cookie = cookie.clone();
        let t = &t;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            t.post("/setup", Some(&cookie), &form).await
        }
    };
    // No session, no token, wrong token.
    let r = t
        .post(
            "/setup",
            None,
            &[
                ("csrf", &csrf),
                ("code", &code),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(vec![
        ("code", code.clone()),
        ("password", PASSWORD.into()),
        ("confirm", PASSWORD.into()),
    ])
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(vec![
        ("csrf", "0".repeat(64)),
        ("code", code.clone()),
        ("password", PASSWORD.into()),
        ("confirm", PASSWORD.into()),
    ])
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_security_headers(&r);

    // Weak passwords, each with its reason.
    for (weak, reason) in [
        ("court", "au moins 12 caractères"),
        ("motdepasse123", "plus courants"),
        ("MonFacteur-2026", "« facteur »"),
        (&*format!("cabinet {code}"), "code de mise en service"),
    ] {
        let r = post(vec![
            ("csrf", csrf.clone()),
            ("code", code.clone()),
            ("password", weak.into()),
            ("confirm", weak.into()),
        ])
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        assert!(r.body.contains(&pages_esc(reason)), "{weak}: {}", r.body);
        if weak.len() > 5 {
            assert!(!r.body.contains(weak), "the password is not echoed back");
        }
    }
    let r = post(vec![
        ("csrf", csrf.clone()),
        ("code", code.clone()),
        ("password", PASSWORD.into()),
        ("confirm", "autre chose 123".into()),
    ])
    .await;
    assert!(r.body.contains("pas identiques"));

    // Wrong codes: refused, then rate-limited.
    for _ in 0..3 {
        let r = post(vec![
            ("csrf", csrf.clone()),
            ("code", "AAAA-AAAA".into()),
            ("password", PASSWORD.into()),
            ("confirm", PASSWORD.into()),
        ])
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("Code de mise en service incorrect"));
    }
    let r = post(vec![
        ("csrf", csrf.clone()),
        ("code", code.clone()),
        ("password", PASSWORD.into()),
        ("confirm", PASSWORD.into()),
    ])
    .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right code waits"
    );
    assert!(r.headers.contains_key("retry-after"));
    assert!(r.body.contains("Trop de tentatives"));
    t.clock.advance(Duration::from_secs(3));

    // The right code (any case, with spaces) and a strong password.
    let typed = code.to_lowercase().replace('-', " ");
    let r = post(vec![
        ("csrf", csrf.clone()),
        ("code", typed),
        ("password", PASSWORD.into()),
        ("confirm", PASSWORD.into()),
    ])
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/login?info=claimed");
    let state = t.dir.path().join("state");
    let admin = std::fs::read_to_string(state.join("admin.json")).unwrap();
    assert!(admin.contains("$argon2id$"));
    assert!(!admin.contains(PASSWORD));
    let mode = std::fs::metadata(state.join("admin.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!state.join("setup-code").exists());
    assert!(t.app.setup_code_display().is_none());

    // Setup is gone for good.
    assert_eq!(t.get("/setup", None).await.status, StatusCode::NOT_FOUND);
    let r = post(vec![
        ("csrf", csrf.clone()),
        ("code", code.clone()),
        ("password", PASSWORD.into()),
        ("confirm", PASSWORD.into()),
    ])
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get("/", None).await.location(), "/login");
    let login = t.get("/login?info=claimed", None).await;
    assert!(login.body.contains("Boîtier mis en service"));

    // A restart keeps the claim and makes no new code.
    let again = App::open(t.app.config.clone(), t.clock.clone()).unwrap();
    assert!(again.is_claimed());
    assert!(again.setup_code_display().is_none());
}

fn pages_esc(s: &str) -> String {
    facteur_web::pages::esc(s)
}

#[tokio::test]
async fn login_needs_csrf_and_backs_off() {
    let t = harness();
    t.claim().await;
    let page = t.get("/login", None).await;
    let anon = page.cookie().unwrap();
    let csrf = page.csrf();
    // Without the anonymous session, or without its token.
    assert_eq!(
        t.post("/login", None, &[("csrf", &csrf), ("password", PASSWORD)])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.post("/login", Some(&anon), &[("password", PASSWORD)])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // An anonymous session opens nothing.
    assert_eq!(t.get("/dashboard", Some(&anon)).await.location(), "/login");

    for _ in 0..3 {
        let r = t
            .post(
                "/login",
                Some(&anon),
                &[("csrf", &csrf), ("password", "pas le bon mot de passe")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("Mot de passe incorrect"));
    }
    let r = t
        .post(
            "/login",
            Some(&anon),
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "2");
    t.clock.advance(Duration::from_secs(2));
    let r = t
        .post(
            "/login",
            Some(&anon),
            &[("csrf", &csrf), ("password", "encore faux encore")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = t
        .post(
            "/login",
            Some(&anon),
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "4", "the wait doubles");
    t.clock.advance(Duration::from_secs(4));
    let (cookie, _) = t.login().await;
    // The anonymous id was not promoted: it opens nothing.
    assert_ne!(cookie, anon);
    assert_eq!(
        t.get("/dashboard", Some(&anon)).await.status,
        StatusCode::SEE_OTHER
    );
    // Logged in: login and / lead to the dashboard.
    assert_eq!(
        t.get("/login", Some(&cookie)).await.location(),
        "/dashboard"
    );
    assert_eq!(t.get("/", Some(&cookie)).await.location(), "/dashboard");
}

#[tokio::test]
async fn dashboard_card_and_unlock() {
    let t = harness();
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert_security_headers(&dash);
    assert!(
        dash.body
            .contains("data-check=\"card-unlocked\" data-level=\"warn\""),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("3 essais restants"));
    assert!(dash.body.contains("1 en attente"));
    assert!(!dash.body.contains("<script"));

    let card = t.get("/card", Some(&cookie)).await;
    assert!(card.body.contains("JEAN DUPONT"));
    assert!(card.body.contains("Medecin"));
    assert!(card.body.contains("inputmode=\"numeric\""));
    assert!(card.body.contains("autocomplete=\"off\""));
    assert!(
        !card.body.contains("confirm_last_try"),
        "no confirmation with 3 tries"
    );

    // CSRF missing or wrong: refused, the card is not asked.
    assert_eq!(
        t.post("/card/unlock", Some(&cookie), &[("pin", "1234")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let other = "f".repeat(64);
    assert_eq!(
        t.post(
            "/card/unlock",
            Some(&cookie),
            &[("csrf", &other), ("pin", "1234")]
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // Without a session: to the login page.
    assert_eq!(
        t.post("/card/unlock", None, &[("csrf", &csrf), ("pin", "1234")])
            .await
            .location(),
        "/login"
    );
    // Malformed PIN: refused here, not presented.
    for bad in ["12", "123456789", "12a4", ""] {
        let r = t
            .post(
                "/card/unlock",
                Some(&cookie),
                &[("csrf", &csrf), ("pin", bad)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(r.body.contains("4 à 8 chiffres"));
    }
    assert_eq!(t.card.as_ref().unwrap().lock().unwrap().tries, 3);

    let r = t
        .post(
            "/card/unlock",
            Some(&cookie),
            &[("csrf", &csrf), ("pin", "9999")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("Code faux : 2 essais restants."),
        "{}",
        r.body
    );
    assert!(!r.body.contains("9999"), "the PIN is not echoed back");

    let r = t
        .post(
            "/card/unlock",
            Some(&cookie),
            &[("csrf", &csrf), ("pin", "1234")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/dashboard");
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert!(
        dash.body
            .contains("data-check=\"card-unlocked\" data-level=\"ok\"")
    );
    assert!(
        dash.body
            .contains("data-check=\"credential\" data-level=\"ok\"")
    );
}

#[tokio::test]
async fn last_try_needs_the_confirmation() {
    let t = harness_with(Some(1));
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let card = t.get("/card", Some(&cookie)).await;
    assert!(card.body.contains("name=\"confirm_last_try\""));
    assert!(card.body.contains("required"));
    assert!(card.body.contains("1 essai restant"));
    let r = t
        .post(
            "/card/unlock",
            Some(&cookie),
            &[("csrf", &csrf), ("pin", "1111")],
        )
        .await;
    assert!(r.body.contains("cochez la confirmation"), "{}", r.body);
    assert_eq!(
        t.card.as_ref().unwrap().lock().unwrap().tries,
        1,
        "the card was not asked"
    );
    let r = t
        .post(
            "/card/unlock",
            Some(&cookie),
            &[("csrf", &csrf), ("pin", "1234"), ("confirm_last_try", "1")],
        )
        .await;
    assert_eq!(r.location(), "/dashboard");
}

#[tokio::test]
async fn sessions_expire_idle_and_absolute() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    t.clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(
        t.get("/dashboard", Some(&cookie)).await.status,
        StatusCode::OK
    );
    t.clock.advance(Duration::from_secs(15 * 60));
    let r = t.get("/dashboard", Some(&cookie)).await;
    assert_eq!(r.location(), "/login?info=expired", "idle timeout");
    assert!(
        t.get("/login?info=expired", None)
            .await
            .body
            .contains("expiré")
    );

    let (cookie, _) = t.login().await;
    for _ in 0..(8 * 60 / 10 - 1) {
        t.clock.advance(Duration::from_secs(10 * 60));
        assert_eq!(t.get("/card", Some(&cookie)).await.status, StatusCode::OK);
    }
    t.clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(
        t.get("/card", Some(&cookie)).await.location(),
        "/login?info=expired",
        "absolute timeout"
    );
}

#[tokio::test]
async fn logout_needs_csrf_and_ends_the_session() {
    let t = harness();
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    assert_eq!(
        t.post("/logout", Some(&cookie), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.get("/dashboard", Some(&cookie)).await.status,
        StatusCode::OK
    );
    let r = t.post("/logout", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(r.location(), "/login?info=logout");
    assert!(r.set_cookie().contains("Max-Age=0"));
    assert_eq!(
        t.get("/dashboard", Some(&cookie)).await.location(),
        "/login?info=expired"
    );
    // GET does not log out.
    assert_eq!(
        t.get("/logout", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn oversized_and_unreadable_forms() {
    let t = harness();
    let page = t.get("/setup", None).await;
    let cookie = page.cookie().unwrap();
    let big = format!("csrf={}&code={}", page.csrf(), "A".repeat(64 * 1024));
    let r = t.post_raw("/setup", Some(&cookie), big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_security_headers(&r);
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let r = t
        .post_raw(
            "/card/unlock",
            Some(&cookie),
            format!("csrf={csrf}&pin=1234&x={}", "9".repeat(10_000)),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = t
        .post_raw("/card/unlock", Some(&cookie), "csrf=%ZZ&&pin=%FF".into())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(t.card.as_ref().unwrap().lock().unwrap().tries, 3);
}

#[tokio::test]
async fn daemon_down_is_said_in_french() {
    let t = harness_with(None);
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert!(
        dash.body.contains("Le service Facteur ne répond pas"),
        "{}",
        dash.body
    );
    let r = t
        .post(
            "/card/unlock",
            Some(&cookie),
            &[("csrf", &csrf), ("pin", "1234")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body.contains("ne répond pas"));
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn pin_and_passwords_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let t = harness();
    let code = t.code();
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let page = t.get("/login", None).await;
    t.post(
        "/login",
        page.cookie().as_deref(),
        &[("csrf", &page.csrf()), ("password", "Mauvais mot 4242")],
    )
    .await;
    t.post(
        "/card/unlock",
        Some(&cookie),
        &[("csrf", &csrf), ("pin", "86420")],
    )
    .await;
    t.post(
        "/card/unlock",
        Some(&cookie),
        &[("csrf", &csrf), ("pin", "1234")],
    )
    .await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("card unlock refused"), "{log}");
    assert!(log.contains("card unlocked"), "{log}");
    assert!(log.contains("login: wrong password"), "{log}");
    for secret in ["86420", "1234", PASSWORD, "Mauvais mot 4242", &code] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

// -- queue, tracking, audit ----------------------------------------------------------

impl Harness {
    fn mail(&self) -> std::sync::MutexGuard<'_, Mail> {
        self.mail.as_ref().unwrap().lock().unwrap()
    }
    fn status_of(&self, recipient: &str) -> String {
        self.mail()
            .recipients
            .iter()
            .find(|(r, _)| r == recipient)
            .map(|(_, s)| s.clone())
            .unwrap()
    }
    fn last_call(&self) -> String {
        self.mail().calls.last().cloned().unwrap_or_default()
    }
}

#[tokio::test]
async fn queue_page_and_actions_need_login_and_csrf() {
    let t = harness();
    t.claim().await;
    // Claimed, not logged in: to the login page.
    for path in [
        "/queue",
        "/tracking",
        "/audit",
        "/audit/export",
        "/tracking/x@y",
    ] {
        let r = t.get(path, None).await;
        assert_eq!(r.location(), "/login", "{path}");
    }
    let hold = format!("/queue/{QID}/hold");
    let r = t
        .post(&hold, None, &[("csrf", "x"), ("recipient", MARTIN)])
        .await;
    assert_eq!(r.location(), "/login");
    let (cookie, csrf) = t.login().await;

    let page = t.get("/queue", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_security_headers(&page);
    for text in [
        "<th scope=\"col\">Destinataire</th>",
        "<th scope=\"col\">Prochain essai</th>",
        MARTIN,
        "En attente d’envoi",
        "421 4.3.0 &lt;busy&gt; &amp; retry",
        "Suspendre",
        "Réessayer maintenant",
        "Supprimer",
        "01/01/2026 11:10:00",
        "aria-current=\"page\">File d’attente",
        "href=\"/tracking\">Suivi des messages",
        "href=\"/audit\">Journal",
    ] {
        assert!(page.body.contains(text), "{text}\n{}", page.body);
    }
    // Delivered messages are in tracking, not in the queue.
    assert!(!page.body.contains(DONE_QID));
    assert!(!page.body.contains("<script"));
    assert!(!page.body.contains("style="));

    // CSRF missing or wrong: refused, nothing asked of the daemon.
    let before = t.mail().calls.len();
    let r = t.post(&hold, Some(&cookie), &[("recipient", MARTIN)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let other = "f".repeat(64);
    let r = t
        .post(
            &hold,
            Some(&cookie),
            &[("csrf", &other), ("recipient", MARTIN)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(t.mail().calls.len(), before);
    assert_eq!(t.status_of(MARTIN), "pending");

    // Hold one recipient: Post/Redirect/Get, the outcome shown once.
    let r = t
        .post(
            &hold,
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", DURAND)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/queue");
    assert_eq!(t.status_of(DURAND), "held");
    assert_eq!(t.status_of(MARTIN), "pending");
    let call = t.last_call();
    assert!(
        call.starts_with(&format!(
            "POST /v1/queue/{QID}/hold?recipient=dr.durand%2Bcardio%40hopital.test.mssante.fr "
        )),
        "{call}"
    );
    assert!(call.contains("\"actor\":\"web:admin\""), "{call}");
    let page = t.get("/queue", Some(&cookie)).await;
    assert!(
        page.body.contains(&format!("Suspendu : {DURAND}.")),
        "{}",
        page.body
    );
    assert!(page.body.contains("Aucun tant que suspendu"));
    assert!(page.body.contains("Reprendre"));
    let again = t.get("/queue", Some(&cookie)).await;
    assert!(
        !again.body.contains(&format!("Suspendu : {DURAND}.")),
        "flash shown once"
    );

    // An action that does not apply: said in French, nothing changed.
    let r = t
        .post(
            &format!("/queue/{QID}/release"),
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", MARTIN)],
        )
        .await;
    assert_eq!(r.location(), "/queue");
    let page = t.get("/queue", Some(&cookie)).await;
    assert!(
        page.body.contains("ne s’applique pas à l’état actuel"),
        "{}",
        page.body
    );
    // Release and retry.
    for (action, who, expect) in [("release", DURAND, "pending"), ("retry", MARTIN, "pending")] {
        let r = t
            .post(
                &format!("/queue/{QID}/{action}"),
                Some(&cookie),
                &[("csrf", &csrf), ("recipient", who)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}");
        assert_eq!(t.status_of(who), expect);
        assert!(
            t.last_call().contains(&format!("/{action}?")),
            "{}",
            t.last_call()
        );
    }

    // Bad input: 400 with a French reason, the daemon not asked.
    let before = t.mail().calls.len();
    for (path, recipient, reason) in [
        (
            "/queue/0194F3A2B1C0D9E/hold",
            MARTIN,
            "16 chiffres hexadécimaux",
        ),
        (
            "/queue/0194F3A2B1C0D9EZ/hold",
            MARTIN,
            "16 chiffres hexadécimaux",
        ),
        (
            "/queue/..%2F..%2Fv1%2Faudit/hold",
            MARTIN,
            "16 chiffres hexadécimaux",
        ),
        (
            &hold,
            "pas une adresse",
            "Adresse du destinataire incorrecte",
        ),
        (&hold, "a b@c.fr", "Adresse du destinataire incorrecte"),
        (
            &hold,
            "x@y.fr\r\nBcc: z",
            "Adresse du destinataire incorrecte",
        ),
    ] {
        let r = t
            .post(
                path,
                Some(&cookie),
                &[("csrf", &csrf), ("recipient", recipient)],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {recipient}");
        assert!(r.body.contains(reason), "{path}: {}", r.body);
    }
    let long = format!("{}@x.fr", "a".repeat(400));
    let r = t
        .post(
            &hold,
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", &long)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .post(
            &hold,
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", MARTIN), ("back", "a b")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(t.mail().calls.len(), before);
    // Unknown action: 404; unknown message or recipient: 404 page.
    let r = t
        .post(
            &format!("/queue/{QID}/send"),
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t
        .post(
            "/queue/00000000000000AA/hold",
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("Message introuvable"), "{}", r.body);
    let r = t
        .post(
            &hold,
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", "nobody@x.mssante.fr")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_asks_for_confirmation() {
    let t = harness();
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let delete = format!("/queue/{QID}/delete");
    // The confirmation page says what goes.
    let confirm_url = format!("{delete}?recipient={}", facteur_web::daemon::encode(DURAND));
    assert_eq!(t.get(&confirm_url, None).await.location(), "/login");
    let page = t.get(&confirm_url, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for text in [
        DURAND,
        QID,
        "cabinet.dupont@test.mssante.fr",
        "définitive",
        "name=\"confirm\"",
        "Supprimer définitivement",
        "Annuler",
    ] {
        assert!(page.body.contains(text), "{text}\n{}", page.body);
    }
    assert!(!page.body.contains(MARTIN), "only the chosen recipient");
    // Without a recipient: every one still waiting.
    let all = t.get(&delete, Some(&cookie)).await;
    assert!(all.body.contains(MARTIN) && all.body.contains(DURAND));
    // Unknown message or recipient: 404; bad id or address: 400.
    assert_eq!(
        t.get("/queue/00000000000000AA/delete", Some(&cookie))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&format!("{delete}?recipient=nobody%40x.fr"), Some(&cookie))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/queue/XYZ/delete", Some(&cookie)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        t.get(&format!("{delete}?recipient=%0Ax"), Some(&cookie))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // POST without the confirmation: refused here, never sent.
    let before = t.mail().calls.len();
    let r = t
        .post(
            &delete,
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", DURAND)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("n’a pas été confirmée"), "{}", r.body);
    let r = t
        .post(
            &delete,
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", DURAND), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Nor without the token.
    let r = t
        .post(
            &delete,
            Some(&cookie),
            &[("recipient", DURAND), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(t.mail().calls.len(), before);
    assert_eq!(t.status_of(DURAND), "pending");

    // Confirmed: deleted, the daemon told `confirm: true`.
    let r = t
        .post(
            &delete,
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", DURAND), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/queue");
    assert_eq!(t.status_of(DURAND), "deleted");
    assert_eq!(t.status_of(MARTIN), "pending");
    assert!(
        t.last_call().contains("\"confirm\":true"),
        "{}",
        t.last_call()
    );
    let page = t.get("/queue", Some(&cookie)).await;
    assert!(page.body.contains(&format!("Supprimé : {DURAND}.")));
    assert!(!page.body.contains(&format!("data-recipient=\"{DURAND}\"")));
    // Nothing left to delete for that recipient.
    let again = t.get(&confirm_url, Some(&cookie)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("Rien à supprimer"));
}

#[tokio::test]
async fn tracking_search_and_timeline() {
    let t = harness();
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let page = t.get("/tracking", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_security_headers(&page);
    for text in [
        "<label for=\"q\">Correspondant, patient ou identifiant</label>",
        "<label for=\"state\">État</label>",
        "type=\"date\"",
        "<option value=\"delivered\">Remis</option>",
        "<th scope=\"col\">Destinataire</th>",
        "Remis",
        "accusé de lecture demandé",
        "Envoyé sur papier",
        "href=\"/tracking/%3Cabc.1%2Bx%40facteur.test%3E\"",
    ] {
        assert!(page.body.contains(text), "{text}\n{}", page.body);
    }
    assert!(
        t.last_call().starts_with("GET /v1/tracking?limit="),
        "{}",
        t.last_call()
    );

    // The search goes to the daemon encoded, dates as Paris midnights.
    let r = t
        .get(
            "/tracking?q=dr+martin%26x&state=held&from=2026-01-01&to=2026-07-14",
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let call = t.last_call();
    assert!(call.contains("q=dr%20martin%26x"), "{call}");
    assert!(call.contains("&state=held"), "{call}");
    assert!(
        call.contains(&format!("&from={}", 1_767_225_600 - 3_600)),
        "{call}"
    );
    assert!(
        call.contains(&format!("&to={}", 1_784_023_200 - 12 * 3600 + 86_400)),
        "{call}"
    );
    assert!(
        r.body.contains("value=\"dr martin&amp;x\""),
        "the form keeps what was typed"
    );
    assert!(r.body.contains("<option value=\"held\" selected>"));
    let none = t.get("/tracking?q=personne", Some(&cookie)).await;
    assert!(
        none.body.contains("Aucun message ne correspond"),
        "{}",
        none.body
    );

    // Bad input: 400 with the reason, the daemon not asked.
    let before = t.mail().calls.len();
    for (query, reason) in [
        ("state=lost", "État inconnu"),
        ("from=2026-02-30", "Date incorrecte"),
        ("to=31/01/2026", "Date incorrecte"),
        ("from=2026-03-02&to=2026-03-01", "après la date de fin"),
        ("q=%01x", "Texte recherché incorrect"),
    ] {
        let r = t.get(&format!("/tracking?{query}"), Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(r.body.contains(reason), "{query}: {}", r.body);
        assert!(r.body.contains("<form"), "the form stays");
    }
    let long = format!("/tracking?q={}", "a".repeat(201));
    assert_eq!(
        t.get(&long, Some(&cookie)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(t.mail().calls.len(), before);

    // The timeline of a delivered message, in French, with times.
    let r = t
        .get("/tracking/%3Cabc.1%2Bx%40facteur.test%3E", Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        t.last_call(),
        "GET /v1/tracking/%3Cabc.1%2Bx%40facteur.test%3E"
    );
    for text in [
        "Parcours du message",
        "Pour dr.martin@medecin.test.mssante.fr",
        "<th scope=\"col\">Date et heure</th>",
        ">Accepté<",
        ">Envoyé<",
        ">Remis<",
        "31/12/2025 17:53:20",
        "secretariat",
    ] {
        assert!(r.body.contains(text), "{text}\n{}", r.body);
    }
    assert!(!r.body.contains("data-action="), "no action once delivered");
    // A message still queued: the same actions, back to its timeline.
    let r = t.get(&format!("/tracking/{QID}"), Some(&cookie)).await;
    assert!(
        r.body.contains("Nouvel essai prévu : 421 4.3.0 busy"),
        "{}",
        r.body
    );
    assert!(r.body.contains("data-action=\"hold\""));
    assert!(r.body.contains(&format!("name=\"back\" value=\"{QID}\"")));
    let r = t
        .post(
            &format!("/queue/{QID}/hold"),
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", MARTIN), ("back", QID)],
        )
        .await;
    assert_eq!(r.location(), format!("/tracking/{QID}"));
    let r = t.get(&format!("/tracking/{QID}"), Some(&cookie)).await;
    assert!(
        r.body.contains(&format!("Suspendu : {MARTIN}.")),
        "{}",
        r.body
    );
    assert!(r.body.contains("data-action=\"release\""));
    // Unknown: 404; malformed: 400.
    let r = t.get("/tracking/nobody@nowhere", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("Message introuvable"));
    let r = t.get("/tracking/a%20b", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .get(&format!("/tracking/{}", "a".repeat(300)), Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The dashboard shows the last five messages out.
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert!(dash.body.contains("Derniers messages"), "{}", dash.body);
    assert!(
        t.mail()
            .calls
            .iter()
            .any(|c| c == "GET /v1/tracking?limit=5")
    );
    assert!(dash.body.contains(DONE_QID));
}

#[tokio::test]
async fn audit_page_paging_verification_and_export() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let page = t.get("/audit", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_security_headers(&page);
    for text in [
        "Journal intègre : 120 entrées.",
        "<th scope=\"col\">Auteur</th>",
        "Message envoyé",
        "Connexion à l’administration",
        "to dr.martin@medecin.test.mssante.fr &lt;120&gt;",
        "href=\"/audit/export\"",
        "data-seq=\"71\"",
        "href=\"/audit?after_seq=20\"",
        "href=\"/audit?after_seq=0\"",
    ] {
        assert!(page.body.contains(text), "{text}\n{}", page.body);
    }
    assert!(!page.body.contains("data-seq=\"70\""), "newest 50 only");
    assert!(t.mail().calls.iter().any(|c| c == "GET /v1/audit?limit=50"));
    let first = t.get("/audit?after_seq=0", Some(&cookie)).await;
    assert!(first.body.contains("data-seq=\"1\"") && first.body.contains("data-seq=\"50\""));
    assert!(
        first.body.contains("href=\"/audit?after_seq=50\""),
        "{}",
        first.body
    );
    for bad in ["abc", "-1", "99999999999999999999999", "1%200"] {
        let r = t
            .get(&format!("/audit?after_seq={bad}"), Some(&cookie))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.body.contains("Position dans le journal incorrecte"));
    }
    // Export: every line as the daemon wrote it, as a download.
    let r = t.get("/audit/export", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    let disposition = r.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"facteur-journal-"),
        "{disposition}"
    );
    assert!(disposition.ends_with(".jsonl\""), "{disposition}");
    let expected: String = audit_entries()
        .iter()
        .map(|e| format!("{}\n", e.to_line()))
        .collect();
    assert_eq!(r.body, expected);
    // A broken chain is said, with where.
    t.mail().audit_broken = true;
    let page = t.get("/audit", Some(&cookie)).await;
    assert!(
        page.body
            .contains("Journal altéré : la chaîne est rompue dans audit.log, ligne 42"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn new_pages_say_the_daemon_is_down_in_french() {
    let t = harness_with(None);
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    for path in [
        "/queue",
        "/tracking",
        "/audit",
        "/tracking/abc@x",
        "/audit/export",
    ] {
        let r = t.get(path, Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(
            r.body.contains("Le service Facteur ne répond pas"),
            "{path}: {}",
            r.body
        );
    }
    let r = t.get(&format!("/queue/{QID}/delete"), Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let r = t
        .post(
            &format!("/queue/{QID}/hold"),
            Some(&cookie),
            &[("csrf", &csrf), ("recipient", MARTIN)],
        )
        .await;
    assert_eq!(r.location(), "/queue");
    let page = t.get("/queue", Some(&cookie)).await;
    assert!(
        page.body
            .contains("role=\"alert\">Le service Facteur ne répond pas"),
        "{}",
        page.body
    );
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert!(!dash.body.contains("Derniers messages"));
}

// -- address book, health directory, paper report ------------------------------------

const PATIENT: &str = "LÉGER <Hélène> 25/03/1979";
const PATIENT_INS: &str = "279035121518989";
const PAUL: &str = "paul.martin@medecin.mssante.fr";
const PAUL_FOLDER: &str = "Dr MARTIN Paul (Cardiologie, Niort)";
const PAPER_KEY: &str = "dr papier|69000";

#[derive(Default)]
struct FakeDirectory {
    contacts: Vec<Value>,
    next_id: i64,
    not_imported: bool,
    paper_unset: bool,
}

fn query_value(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .map(percent_decode)
}

async fn fake_directory_status(State(s): State<FakeMail>) -> Json<Value> {
    let m = s.lock().unwrap();
    if m.dir.not_imported {
        Json(json!({"available": true, "entries": 0, "imported_at": null, "source": null}))
    } else {
        Json(
            json!({"available": true, "entries": 2, "imported_at": 1_767_261_600i64,
                    "source": "Extraction_Correspondance_MSSante.zip"}),
        )
    }
}

async fn fake_directory_search(
    State(s): State<FakeMail>,
    RawQuery(query): RawQuery,
) -> Json<Value> {
    let mut m = s.lock().unwrap();
    let q = query.unwrap_or_default();
    m.calls.push(format!("GET /v1/directory/search?{q}"));
    let text = query_value(&q, "q").unwrap_or_default().to_lowercase();
    let in_book = m
        .dir
        .contacts
        .iter()
        .find(|c| c["mssante"] == PAUL)
        .map(|c| c["id"].clone())
        .unwrap_or(Value::Null);
    let entries = if text.contains("martin") && !m.dir.not_imported {
        vec![
            json!({"mailbox": PAUL, "name": "Dr MARTIN Paul", "profession": "Médecin",
                    "specialty": "Cardiologie", "organisation": "", "postcode": "79000",
                    "town": "NIORT", "rpps": "10001234567", "contact_id": in_book}),
        ]
    } else {
        vec![]
    };
    Json(json!({ "entries": entries }))
}

async fn fake_contacts(State(s): State<FakeMail>) -> Json<Value> {
    Json(json!({ "contacts": s.lock().unwrap().dir.contacts }))
}

async fn fake_contact_add(State(s): State<FakeMail>, body: String) -> Response {
    let mut m = s.lock().unwrap();
    m.calls.push(format!("POST /v1/contacts {body}"));
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let (name, mssante, folder) = match request["from_directory"].as_str() {
        Some(PAUL) => (
            "Dr MARTIN Paul".to_string(),
            Some(PAUL.to_string()),
            PAUL_FOLDER.to_string(),
        ),
        Some(_) => return refuse(StatusCode::NOT_FOUND, "not_in_directory", None),
        None => {
            let name = request["name"].as_str().unwrap_or("").to_string();
            let mssante = request["mssante"].as_str().map(str::to_string);
            if mssante
                .as_deref()
                .is_some_and(|a| a.ends_with("@gmail.com"))
            {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({"error": "contact_refused",
                                "message": "Le domaine « gmail.com » ne fait pas partie de la messagerie sécurisée de santé (MSSanté) : aucun envoi n'est possible vers cette adresse."})),
                )
                    .into_response();
            }
            let folder = format!("{name} (Niort)");
            (name, mssante, folder)
        }
    };
    if m.dir
        .contacts
        .iter()
        .any(|c| c["folder_name"] == folder.as_str())
    {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "contact_refused", "message": "« x » est déjà dans le carnet (n° 1)."})),
        )
            .into_response();
    }
    m.dir.next_id += 1;
    let contact = json!({"id": m.dir.next_id, "display_name": name, "profession": "Cardiologie",
                         "town": "Niort", "mssante": mssante, "postal": null, "folder_name": folder});
    m.dir.contacts.push(contact.clone());
    let warnings: Vec<&str> = if request["from_directory"].is_null() {
        vec!["Adresse absente de l'annuaire santé : vérifiez-la."]
    } else {
        vec![]
    };
    Json(
        json!({"contact": contact, "folder_name": folder, "warnings": warnings,
                "folders": [format!("/srv/outbox/{folder}")], "folder_errors": []}),
    )
    .into_response()
}

async fn fake_contact_remove(
    State(s): State<FakeMail>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let mut m = s.lock().unwrap();
    m.calls
        .push(format!("POST /v1/contacts/{id}/delete {body}"));
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if request["confirm"] != json!(true) {
        return refuse(StatusCode::BAD_REQUEST, "confirm_required", None);
    }
    let Some(at) = m
        .dir
        .contacts
        .iter()
        .position(|c| c["id"] == json!(id.parse::<i64>().unwrap_or(-1)))
    else {
        return refuse(StatusCode::NOT_FOUND, "no_such_contact", None);
    };
    let removed = m.dir.contacts.remove(at);
    Json(json!({ "removed": removed })).into_response()
}

async fn fake_paper_summary(State(s): State<FakeMail>, RawQuery(query): RawQuery) -> Response {
    let mut m = s.lock().unwrap();
    let q = query.unwrap_or_default();
    m.calls.push(format!("GET /v1/paper/summary?{q}"));
    let month = query_value(&q, "month").unwrap_or_else(|| "2026-11".into());
    let rows = if month == "2026-11" {
        vec![
            json!({"key": PAPER_KEY, "correspondent": "Dr PAPIER <Jean>",
                    "address": "Dr PAPIER, 1 rue A, 69000 LYON", "count": 3, "last_at": 1_767_100_000i64}),
        ]
    } else {
        vec![]
    };
    Json(json!({"month": month, "configured": !m.dir.paper_unset, "correspondents": rows}))
        .into_response()
}

async fn fake_invitation(State(s): State<FakeMail>, RawQuery(query): RawQuery) -> Response {
    let mut m = s.lock().unwrap();
    let q = query.unwrap_or_default();
    m.calls.push(format!("GET /v1/paper/invitation?{q}"));
    if m.dir.paper_unset {
        return refuse(StatusCode::CONFLICT, "paper_not_configured", None);
    }
    if query_value(&q, "key").as_deref() != Some(PAPER_KEY) {
        return refuse(StatusCode::NOT_FOUND, "no_such_correspondent", None);
    }
    (
        [(header::CONTENT_TYPE, "application/pdf")],
        b"%PDF-1.7\n% invitation\n%%EOF\n".to_vec(),
    )
        .into_response()
}

fn directory_routes(mail: FakeMail) -> Router {
    Router::new()
        .route("/v1/directory/status", get(fake_directory_status))
        .route("/v1/directory/search", get(fake_directory_search))
        .route("/v1/contacts", get(fake_contacts).post(fake_contact_add))
        .route("/v1/contacts/{id}/delete", post(fake_contact_remove))
        .route("/v1/paper/summary", get(fake_paper_summary))
        .route("/v1/paper/invitation", get(fake_invitation))
        .with_state(mail)
}

const DIRECTORY_PAGES: [&str; 6] = [
    "/contacts",
    "/contacts/1/delete",
    "/directory",
    "/directory?q=martin",
    "/paper?month=2026-11",
    "/paper/invitation?key=dr%20papier%7C69000",
];

#[tokio::test]
async fn directory_pages_need_login_and_csrf() {
    let t = harness();
    for path in DIRECTORY_PAGES {
        let r = t.get(path, None).await;
        assert_eq!(r.location(), "/setup", "{path}");
    }
    t.claim().await;
    for path in DIRECTORY_PAGES {
        let r = t.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/login", "{path}");
        assert_security_headers(&r);
    }
    for path in ["/contacts", "/contacts/1/delete"] {
        let r = t
            .post(path, None, &[("csrf", "x"), ("from_directory", PAUL)])
            .await;
        assert_eq!(r.location(), "/login", "{path}");
    }
    let (cookie, csrf) = t.login().await;
    // Every page is reachable from the navigation.
    let dash = t.get("/dashboard", Some(&cookie)).await;
    for link in [
        "href=\"/contacts\"",
        "href=\"/directory\"",
        "href=\"/paper\"",
    ] {
        assert!(dash.body.contains(link), "{link}");
    }
    // POSTs without the session's token: 403, nothing asked of the daemon.
    let before = t.mail().calls.len();
    for (path, form) in [
        ("/contacts", vec![("from_directory", PAUL)]),
        (
            "/contacts",
            vec![("csrf", "0".repeat(64).leak() as &str), ("name", "Dr X")],
        ),
        ("/contacts/1/delete", vec![("confirm", "1")]),
    ] {
        let r = t.post(path, Some(&cookie), &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(t.mail().calls.len(), before);
    assert!(t.mail().dir.contacts.is_empty());
    // The right token works.
    let r = t
        .post(
            "/contacts",
            Some(&cookie),
            &[("csrf", &csrf), ("from_directory", PAUL)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(t.mail().dir.contacts.len(), 1);
}

#[tokio::test]
async fn contacts_are_added_from_the_directory_or_by_hand_and_removed_after_confirmation() {
    let t = harness();
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let empty = t.get("/contacts", Some(&cookie)).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("data-empty=\"contacts\""));

    // From a directory result.
    let r = t
        .post(
            "/contacts",
            Some(&cookie),
            &[("csrf", &csrf), ("from_directory", PAUL)],
        )
        .await;
    assert_eq!(r.location(), "/contacts");
    let sent: Value =
        serde_json::from_str(t.last_call().strip_prefix("POST /v1/contacts ").unwrap()).unwrap();
    assert_eq!(sent, json!({"from_directory": PAUL, "actor": "web:admin"}));
    let page = t.get("/contacts", Some(&cookie)).await;
    assert!(
        page.body.contains("role=\"status\""),
        "flash: {}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("dossier de dépôt : « {PAUL_FOLDER} »")),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!(
        "<td class=\"folder\" data-folder>{PAUL_FOLDER}</td>"
    )));
    // The flash is shown once.
    let again = t.get("/contacts", Some(&cookie)).await;
    assert!(!again.body.contains("a été ajouté"));

    // By hand: the address outside MSSanté is refused by the daemon, in French.
    let r = t
        .post(
            "/contacts",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("name", "Dr X"),
                ("mssante", "dr.x@gmail.com"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/contacts");
    let page = t.get("/contacts", Some(&cookie)).await;
    assert!(
        page.body.contains("« gmail.com » ne fait pas partie"),
        "{}",
        page.body
    );
    assert!(page.body.contains("role=\"alert\""));
    // Accepted with the directory's warning; optional fields not sent when empty.
    let r = t
        .post(
            "/contacts",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("name", " Dr NEUF Jean "),
                ("mssante", "jean.neuf@medecin.mssante.fr"),
                ("profession", ""),
                ("street", "3 rue du Marché"),
                ("postcode", "79000"),
                ("town", "Niort"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/contacts");
    let sent: Value =
        serde_json::from_str(t.last_call().strip_prefix("POST /v1/contacts ").unwrap()).unwrap();
    assert_eq!(
        sent,
        json!({"name": "Dr NEUF Jean", "mssante": "jean.neuf@medecin.mssante.fr",
               "postal_lines": ["3 rue du Marché"], "postcode": "79000", "town": "Niort",
               "actor": "web:admin"})
    );
    let page = t.get("/contacts", Some(&cookie)).await;
    assert!(
        page.body
            .contains("Adresse absente de l&#39;annuaire santé")
    );

    // Malformed input: 400, the daemon is not asked.
    let before = t.mail().calls.len();
    for form in [
        vec![("name", "")],
        vec![("name", "Dr X"), ("mssante", "pas une adresse")],
        vec![("name", "Dr\u{1}X")],
        vec![("from_directory", "a b@c")],
        vec![("name", "Dr X"), ("postcode", "123456789012")],
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let r = t.post("/contacts", Some(&cookie), &form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{form:?}");
        assert!(r.body.contains("Formulaire incorrect"));
    }
    assert_eq!(
        t.post_raw("/contacts", Some(&cookie), "name=a&name=b".into())
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(t.mail().calls.len(), before);
    // Not in the directory (any more): 404.
    let r = t
        .post(
            "/contacts",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("from_directory", "nobody@medecin.mssante.fr"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Removal: the confirmation page, then the POST with its box ticked.
    let page = t.get("/contacts/1/delete", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        PAUL,
        PAUL_FOLDER,
        "name=\"confirm\"",
        "required",
        "Annuler",
        "reste en place",
    ] {
        assert!(page.body.contains(text), "{text}");
    }
    assert_eq!(
        t.get("/contacts/99/delete", Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    for bad in [
        "/contacts/abc/delete",
        "/contacts/0/delete",
        "/contacts/-1/delete",
    ] {
        assert_eq!(
            t.get(bad, Some(&cookie)).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let before = t.mail().calls.len();
    let r = t
        .post("/contacts/1/delete", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .post(
            "/contacts/abc/delete",
            Some(&cookie),
            &[("csrf", &csrf), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(t.mail().calls.len(), before, "refused before the daemon");
    let r = t
        .post(
            "/contacts/1/delete",
            Some(&cookie),
            &[("csrf", &csrf), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.location(), "/contacts");
    assert_eq!(
        t.last_call(),
        "POST /v1/contacts/1/delete {\"actor\":\"web:admin\",\"confirm\":true}"
    );
    let page = t.get("/contacts", Some(&cookie)).await;
    assert!(page.body.contains("Dr MARTIN Paul a été retiré du carnet."));
    assert!(!page.body.contains(PAUL_FOLDER));
    let r = t
        .post(
            "/contacts/1/delete",
            Some(&cookie),
            &[("csrf", &csrf), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "already removed");
}

#[tokio::test]
async fn directory_search_offers_to_add_to_the_book() {
    let t = harness();
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let page = t.get("/directory", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-directory-entries=\"2\""));
    assert!(!page.body.contains("<table"), "no search yet");

    let page = t.get("/directory?q=martin+niort", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        t.last_call(),
        "GET /v1/directory/search?q=martin%20niort&limit=50"
    );
    for text in [
        "Dr MARTIN Paul",
        "Cardiologie",
        "79000 NIORT",
        &format!("name=\"from_directory\" value=\"{PAUL}\""),
        &format!("name=\"csrf\" value=\"{csrf}\""),
        "Ajouter au carnet : Dr MARTIN Paul",
    ] {
        assert!(page.body.contains(text), "{text}\n{}", page.body);
    }
    t.post(
        "/contacts",
        Some(&cookie),
        &[("csrf", &csrf), ("from_directory", PAUL)],
    )
    .await;
    let page = t.get("/directory?q=martin", Some(&cookie)).await;
    assert!(page.body.contains("Déjà dans le carnet"));
    assert!(!page.body.contains("name=\"from_directory\""));
    let none = t.get("/directory?q=personne", Some(&cookie)).await;
    assert!(none.body.contains("data-empty=\"directory\""));

    // Refused before the daemon: too long, control characters.
    let before = t.mail().calls.len();
    let long = format!("/directory?q={}", "a".repeat(201));
    assert_eq!(
        t.get(&long, Some(&cookie)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        t.get("/directory?q=a%00b", Some(&cookie)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(t.mail().calls.len(), before);

    // Never imported: said plainly, with how the installer does it.
    t.mail().dir.not_imported = true;
    let page = t.get("/directory", Some(&cookie)).await;
    assert!(page.body.contains("data-directory=\"not-imported\""));
    assert!(page.body.contains("n’a pas encore été importé"));
    assert!(page.body.contains("facteur directory import"));
}

#[tokio::test]
async fn paper_report_and_invitation_download() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let page = t.get("/paper", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(t.last_call(), "GET /v1/paper/summary?");
    for text in [
        "Dr PAPIER &lt;Jean&gt;",
        "novembre 2026",
        "type=\"month\"",
        "href=\"/paper?month=2026-10\"",
        "href=\"/paper?month=2026-12\"",
        "href=\"/paper/invitation?key=dr%20papier%7C69000&amp;month=2026-11\"",
    ] {
        assert!(page.body.contains(text), "{text}\n{}", page.body);
    }
    let october = t.get("/paper?month=2026-10", Some(&cookie)).await;
    assert_eq!(t.last_call(), "GET /v1/paper/summary?month=2026-10");
    assert!(october.body.contains("data-empty=\"paper\""));
    assert!(october.body.contains("octobre 2026"));
    let before = t.mail().calls.len();
    for bad in [
        "/paper?month=2026-13",
        "/paper?month=novembre",
        "/paper?month=2026-1",
    ] {
        assert_eq!(
            t.get(bad, Some(&cookie)).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    for bad in [
        "/paper/invitation",
        "/paper/invitation?key=",
        "/paper/invitation?key=a%0Ab",
        "/paper/invitation?key=x&month=13",
    ] {
        assert_eq!(
            t.get(bad, Some(&cookie)).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    assert_eq!(t.mail().calls.len(), before);

    let pdf = t
        .get(
            "/paper/invitation?key=dr%20papier%7C69000&month=2026-11",
            Some(&cookie),
        )
        .await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.headers[header::CONTENT_TYPE], "application/pdf");
    assert_eq!(
        pdf.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"invitation-mssante.pdf\""
    );
    assert!(pdf.body.starts_with("%PDF-"));
    assert_security_headers(&pdf);
    assert_eq!(
        t.last_call(),
        "GET /v1/paper/invitation?key=dr%20papier%7C69000&month=2026-11"
    );
    let unknown = t.get("/paper/invitation?key=nobody", Some(&cookie)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.contains("Aucun courrier papier"));

    // Paper not set up: the page says so, and no letter is offered.
    t.mail().dir.paper_unset = true;
    let page = t.get("/paper", Some(&cookie)).await;
    assert!(page.body.contains("data-paper=\"not-configured\""));
    assert!(page.body.contains("n’est pas configuré"));
    assert!(!page.body.contains("/paper/invitation"));
    let refused = t
        .get("/paper/invitation?key=dr%20papier%7C69000", Some(&cookie))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn tracking_shows_and_searches_the_patient() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let page = t
        .get("/tracking?q=L%C3%A9ger+H%C3%A9l%C3%A8ne", Some(&cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        t.last_call(),
        "GET /v1/tracking?limit=200&q=L%C3%A9ger%20H%C3%A9l%C3%A8ne"
    );
    assert!(page.body.contains("<th scope=\"col\">Patient</th>"));
    assert!(
        page.body.contains(
            "<td data-patient>LÉGER &lt;Hélène&gt; 25/03/1979 (INS 279035121518989)</td>"
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("patient (nom, date de naissance"));
    let line = t
        .get("/tracking/abc.1%2Bx%40facteur.test", Some(&cookie))
        .await;
    assert_eq!(line.status, StatusCode::OK);
    assert!(line.body.contains(
        "<span data-patient>LÉGER &lt;Hélène&gt; 25/03/1979 (INS 279035121518989)</span>"
    ));
    // The dashboard's latest messages show it as well; without any patient
    // in the results, no column.
    let none = t.get("/tracking?q=personne", Some(&cookie)).await;
    assert!(!none.body.contains("<th scope=\"col\">Patient</th>"));
}

// -- diagnostics, technical logs, support bundle ------------------------------------

/// The zip the fake daemon hands out (any bytes: the web admin passes them on).
const BUNDLE: &[u8] = b"PK\x03\x04 fake support bundle \x00\xff";

fn diag_check(id: &str, level: &str, code: &str, value: Option<i64>, unit: Option<&str>) -> Value {
    json!({"id": id, "level": level, "code": code, "value": value, "unit": unit,
           "target": "operator.test:587", "detail": if level == "error" { json!("connection refused") } else { Value::Null },
           "facts": {"free_bytes": 3_400_000_000u64}, "duration_ms": 3})
}

async fn fake_diagnostics(State(s): State<FakeMail>, RawQuery(query): RawQuery) -> Json<Value> {
    let query = query.unwrap_or_default();
    s.lock()
        .unwrap()
        .calls
        .push(format!("GET /v1/diagnostics?{query}"));
    let mut checks = vec![diag_check("dns", "ok", "dns_ok", Some(12), Some("ms"))];
    if query.contains("scope=full") {
        checks.push(diag_check(
            "smtp_connect",
            "error",
            "tcp_refused",
            None,
            None,
        ));
        checks.push(diag_check("tls", "ok", "tls_ok", Some(400), Some("days")));
    }
    checks.push(diag_check(
        "clock",
        "warning",
        "clock_unsynchronised",
        None,
        None,
    ));
    checks.push(diag_check(
        "disk",
        "ok",
        "disk_ok",
        Some(42),
        Some("percent"),
    ));
    checks.push(diag_check(
        "queue",
        "ok",
        "queue_empty",
        Some(0),
        Some("seconds"),
    ));
    Json(
        json!({"scope": if query.contains("full") { "full" } else { "quick" },
                "generated_at": 1_767_261_600i64, "duration_ms": 20,
                "level": "error", "checks": checks}),
    )
}

async fn fake_logs(State(s): State<FakeMail>, RawQuery(query): RawQuery) -> Json<Value> {
    s.lock()
        .unwrap()
        .calls
        .push(format!("GET /v1/logs?{}", query.unwrap_or_default()));
    Json(json!({"capacity": 2000, "kept": 2, "events": [
        {"seq": 2, "at_ms": 1_767_261_601_000i64, "level": "warn", "component": "queue",
         "target": "facteur::queue::delivery", "message": "delivery <deferred>",
         "fields": {"queue_id": QID, "recipient": MARTIN}},
        {"seq": 1, "at_ms": 1_767_261_600_000i64, "level": "info", "component": "smtp",
         "target": "facteur::smtp::session", "message": "client connected", "fields": {}}
    ]}))
}

async fn fake_bundle(State(s): State<FakeMail>) -> Response {
    s.lock()
        .unwrap()
        .calls
        .push("GET /v1/support-bundle".into());
    (
        [
            (header::CONTENT_TYPE, "application/zip"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"x.zip\"",
            ),
        ],
        BUNDLE,
    )
        .into_response()
}

fn diagnostics_routes(mail: FakeMail) -> Router {
    Router::new()
        .route("/v1/diagnostics", get(fake_diagnostics))
        .route("/v1/logs", get(fake_logs))
        .route("/v1/support-bundle", get(fake_bundle))
        .with_state(mail)
}

impl Harness {
    async fn get_bytes(
        &self,
        path: &str,
        cookie: &str,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut request = Request::get(path)
            .header(header::COOKIE, format!("__Host-facteur={cookie}"))
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ClientAddr("192.168.1.20:50000".parse().unwrap()));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes.to_vec())
    }
}

#[tokio::test]
async fn diagnostics_logs_and_bundle_need_login() {
    let t = harness();
    for path in [
        "/diagnostics",
        "/logs",
        "/logs?level=warn",
        "/support-bundle",
    ] {
        let r = t.get(path, None).await;
        assert_eq!(r.location(), "/setup", "{path}");
    }
    t.claim().await;
    for path in ["/diagnostics", "/logs", "/support-bundle"] {
        let r = t.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/login", "{path}");
        assert_security_headers(&r);
    }
    assert!(
        !t.mail().calls.iter().any(|c| c.contains("diagnostics")
            || c.contains("/v1/logs")
            || c.contains("support-bundle")),
        "nothing asked of the daemon without a session"
    );
}

#[tokio::test]
async fn diagnostics_page_says_each_result_and_what_to_do() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let page = t.get("/diagnostics", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_security_headers(&page);
    for text in [
        "<h1>Diagnostic</h1>",
        "data-check=\"smtp_connect\" data-level=\"bad\" data-code=\"tcp_refused\"",
        "Connexion à l’opérateur (envoi)",
        "Le serveur de l’opérateur ne répond pas.",
        "Que faire :",
        "<code>connection refused</code>",
        "data-check=\"tls\" data-level=\"ok\"",
        "Mesure : 400 jours",
        "Mesure : 12 ms",
        "L’horloge du boîtier n’est pas synchronisée",
        "Au moins une vérification a échoué",
        "href=\"/support-bundle\"",
        "aria-current=\"page\"",
    ] {
        assert!(page.body.contains(text), "{text}\n{}", page.body);
    }
    assert!(!page.body.contains("<script"));
    assert!(
        t.mail()
            .calls
            .iter()
            .any(|c| c == "GET /v1/diagnostics?scope=full")
    );
}

#[tokio::test]
async fn dashboard_shows_dns_clock_and_disk_from_the_quick_checks() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert_eq!(dash.status, StatusCode::OK);
    for text in [
        "data-check=\"dns\" data-level=\"ok\"",
        "Opérateur trouvé (DNS)",
        "data-check=\"clock\" data-level=\"warn\"",
        "Horloge synchronisée",
        "data-check=\"disk\" data-level=\"ok\"",
        "42 % libre (3,4 Go)",
        "<a href=\"/diagnostics\">Voir le diagnostic</a>",
    ] {
        assert!(dash.body.contains(text), "{text}\n{}", dash.body);
    }
    let calls = t.mail().calls.clone();
    assert!(calls.iter().any(|c| c == "GET /v1/diagnostics?scope=quick"));
    assert!(
        !calls.iter().any(|c| c == "GET /v1/diagnostics?scope=full"),
        "the dashboard never opens connections to the operator"
    );
}

#[tokio::test]
async fn logs_page_filters_are_checked_and_forwarded() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let page = t.get("/logs", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_security_headers(&page);
    for text in [
        "<h1>Journaux techniques</h1>",
        "Avertissement",
        "delivery &lt;deferred&gt;",
        "queue_id=0194F3A2B1C0D9E8",
        "<option value=\"warn\">",
    ] {
        assert!(page.body.contains(text), "{text}\n{}", page.body);
    }
    // Newest first, as the daemon sent them.
    let second = page.body.find("data-seq=\"2\"").unwrap();
    let first = page.body.find("data-seq=\"1\"").unwrap();
    assert!(second < first);
    let r = t
        .get(
            "/logs?level=warn&component=queue&q=d%C3%A9faut+%26+co",
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("<option value=\"warn\" selected>"));
    assert_eq!(
        t.last_call(),
        "GET /v1/logs?limit=300&level=warn&component=queue&q=d%C3%A9faut%20%26%20co"
    );
    let before = t.mail().calls.len();
    for (bad, why) in [
        ("/logs?level=loud", "Gravité inconnue"),
        ("/logs?component=Queue", "Composant incorrect"),
        ("/logs?component=a%2Fb", "Composant incorrect"),
        ("/logs?q=a%07b", "Texte de recherche incorrect"),
    ] {
        let r = t.get(bad, Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.body.contains(why), "{bad}: {}", r.body);
    }
    let long = format!("/logs?q={}", "x".repeat(201));
    assert_eq!(
        t.get(&long, Some(&cookie)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        t.mail().calls.len(),
        before,
        "refused filters never reach the daemon"
    );
}

#[tokio::test]
async fn support_bundle_is_a_download_and_is_audited() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let (status, headers, body) = t.get_bytes("/support-bundle", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/zip");
    let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    let name = disposition
        .strip_prefix("attachment; filename=\"facteur-support-")
        .and_then(|n| n.strip_suffix(".zip\""))
        .unwrap_or_else(|| panic!("{disposition}"));
    assert_eq!(name.len(), 15, "{name}");
    assert!(
        name[..8].bytes().all(|b| b.is_ascii_digit())
            && &name[8..9] == "-"
            && name[9..].bytes().all(|b| b.is_ascii_digit()),
        "{name}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body, BUNDLE);
    let calls = t.mail().calls.clone();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("POST /v1/audit") && c.contains("\"support_bundle_downloaded\"")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn diagnostics_pages_say_the_daemon_is_down_in_french() {
    let t = harness_with(None);
    t.claim().await;
    let (cookie, _) = t.login().await;
    for path in ["/diagnostics", "/logs", "/support-bundle"] {
        let r = t.get(path, Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(
            r.body.contains("Le service Facteur ne répond pas"),
            "{path}: {}",
            r.body
        );
    }
    // The dashboard still answers, without the extra lights.
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(!dash.body.contains("data-check=\"dns\""));
}

// -- set-up wizard, settings, local accounts ------------------------------------------

const P12_PASSWORD: &str = "bon mot de passe";

fn record(s: &FakeMail, call: String) {
    s.lock().unwrap().calls.push(call);
}

async fn fake_settings(State(s): State<FakeMail>) -> Json<Value> {
    let accounts = s.lock().unwrap().accounts.clone();
    Json(json!({
        "configured": true,
        "values": {
            "mssante.mailbox": "cabinet@test.mssante.fr",
            "upstream.port": 587,
            "inbound.send_receipts": true,
            "paper.address_lines": ["1 rue du Parc"],
        },
        "credential": "software",
        "accounts": accounts,
        "local": {"hostname": "facteur.local", "smtp_ports": [587], "imap_ports": [143],
                  "imaps_ports": [], "autoconfig_ports": [8080],
                  "outbox_folders": ["/srv/documents"], "mailbox": "cabinet@test.mssante.fr"},
        "editable": [
            {"key": "mssante.mailbox", "kind": "text", "restart": true},
            {"key": "upstream.port", "kind": "integer", "restart": true},
            {"key": "inbound.send_receipts", "kind": "boolean", "restart": true},
            {"key": "paper.address_lines", "kind": "list", "restart": true},
        ],
    }))
}

async fn fake_settings_change(State(s): State<FakeMail>, body: String) -> Response {
    record(&s, format!("PUT /v1/settings {body}"));
    let request: Value = serde_json::from_str(&body).unwrap();
    if let Some(mailbox) = request["changes"]["mssante.mailbox"].as_str()
        && !mailbox.contains('@')
    {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "invalid_setting", "key": "mssante.mailbox",
                        "message": "key `mssante.mailbox`: not an address"})),
        )
            .into_response();
    }
    Json(json!({"changed": [], "restart_needed": true})).into_response()
}

async fn fake_operators() -> Json<Value> {
    Json(json!({"operators": [
        {"id": "test", "name": "Opérateur de test", "manual": false, "domains": ["test.mssante.fr"]},
        {"id": "manual", "name": "Autre opérateur", "manual": true},
    ]}))
}

async fn fake_recorded(State(s): State<FakeMail>, uri: axum::http::Uri, body: String) -> Response {
    record(&s, format!("POST {} {body}", uri.path()));
    (StatusCode::OK, Json(json!({}))).into_response()
}

async fn fake_pkcs12(State(s): State<FakeMail>, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap();
    record(&s, "POST /v1/credential/pkcs12".into());
    use base64::Engine;
    let file = base64::engine::general_purpose::STANDARD
        .decode(request["pkcs12"].as_str().unwrap_or_default())
        .unwrap_or_default();
    if file.first() != Some(&0x30) {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "pkcs12_damaged", None);
    }
    if request["password"] != P12_PASSWORD {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "pkcs12_wrong_password",
            None,
        );
    }
    Json(json!({"credential": "software", "identity": "CN=Cabinet du Parc", "not_after": 1_900_000_000i64}))
        .into_response()
}

async fn fake_account(State(s): State<FakeMail>, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap();
    let user = request["user"].as_str().unwrap_or_default().to_string();
    record(&s, format!("POST /v1/accounts {user}"));
    if request["password"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .count()
        < 12
    {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", None);
    }
    let mut m = s.lock().unwrap();
    if !m.accounts.contains(&user) {
        m.accounts.push(user.clone());
    }
    Json(json!({"user": user, "created": true})).into_response()
}

async fn fake_account_remove(
    State(s): State<FakeMail>,
    Path(user): Path<String>,
    body: String,
) -> Response {
    record(&s, format!("POST /v1/accounts/{user}/delete {body}"));
    let mut m = s.lock().unwrap();
    if !m.accounts.contains(&user) {
        return refuse(StatusCode::NOT_FOUND, "no_such_account", None);
    }
    m.accounts.retain(|a| *a != user);
    Json(json!({"removed": user})).into_response()
}

async fn fake_connection_test(State(s): State<FakeMail>) -> Json<Value> {
    record(&s, "POST /v1/connection-test".into());
    Json(json!({"ok": false, "steps": [
        {"step": "credential", "ok": true, "code": null, "detail": "CN=x"},
        {"step": "smtp", "ok": false, "code": "certificate_refused", "detail": "421 4.7.1"},
    ]}))
}

fn setup_routes(mail: FakeMail) -> Router {
    Router::new()
        .route("/v1/settings", get(fake_settings).put(fake_settings_change))
        .route("/v1/operators", get(fake_operators))
        .route("/v1/settings/operator", post(fake_recorded))
        .route("/v1/credential/card", post(fake_recorded))
        .route("/v1/restart", post(fake_recorded))
        .route("/v1/credential/pkcs12", post(fake_pkcs12))
        .route("/v1/accounts", post(fake_account))
        .route("/v1/accounts/{user}/delete", post(fake_account_remove))
        .route("/v1/connection-test", post(fake_connection_test))
        .route("/v1/backup", get(fake_backup))
        .route("/v1/network", get(fake_network).post(fake_network_apply))
        .route("/v1/network/confirm", post(fake_network_confirm))
        .route("/v1/restore", post(fake_restore))
        .with_state(mail)
}

/// A multipart/form-data body with text fields and an optional file `p12`.
fn multipart(fields: &[(&str, &str)], file: Option<&[u8]>) -> (String, Vec<u8>) {
    let boundary = "----facteur-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some(file) = file {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"p12\"; filename=\"cabinet.p12\"\r\nContent-Type: application/x-pkcs12\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Harness {
    async fn post_multipart(
        &self,
        path: &str,
        cookie: &str,
        content_type: String,
        body: Vec<u8>,
    ) -> Reply {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::COOKIE, format!("__Host-facteur={cookie}"))
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    fn calls_since(&self, before: usize) -> Vec<String> {
        self.mail().calls[before..]
            .iter()
            .filter(|c| !c.starts_with("POST /v1/audit"))
            .cloned()
            .collect()
    }
}

const SETUP_PAGES: [&str; 9] = [
    "/wizard",
    "/wizard/mailbox",
    "/wizard/card",
    "/wizard/test",
    "/wizard/accounts",
    "/accounts",
    "/settings",
    "/settings/certificate",
    "/restart",
];

#[tokio::test]
async fn wizard_and_settings_pages_need_login_and_csrf() {
    let t = harness();
    t.claim().await;
    for path in SETUP_PAGES {
        let r = t.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/login", "{path}");
        assert_security_headers(&r);
    }
    let (cookie, _) = t.login().await;
    for path in SETUP_PAGES {
        let r = t.get(path, Some(&cookie)).await;
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::SEE_OTHER,
            "{path}: {}",
            r.status
        );
    }
    let before = t.mail().calls.len();
    for path in [
        "/wizard/test",
        "/wizard/accounts",
        "/accounts",
        "/settings",
        "/restart",
        "/accounts/secretariat/delete",
    ] {
        let r = t
            .post(
                path,
                Some(&cookie),
                &[("csrf", &"0".repeat(64)), ("confirm", "1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    for path in ["/wizard/mailbox", "/settings/certificate"] {
        let (ct, body) = multipart(&[("csrf", "nope"), ("operator", "test")], Some(b"0\x82"));
        let r = t.post_multipart(path, &cookie, ct, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        // Not multipart at all: unreadable.
        let r = t.post(path, Some(&cookie), &[("csrf", "x")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
    }
    assert!(
        t.calls_since(before).is_empty(),
        "{:?}",
        t.calls_since(before)
    );
}

#[tokio::test]
async fn mailbox_step_checks_the_certificate_before_changing_anything() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let page = t.get("/wizard/mailbox", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Opérateur de test"));
    assert!(page.body.contains("value=\"cabinet@test.mssante.fr\""));
    let csrf = page.csrf();
    let form = |password: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("operator", "test".to_string()),
            ("mailbox", "cabinet@test.mssante.fr".to_string()),
            ("kind", "software".to_string()),
            ("p12_password", password.to_string()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>, file: Option<Vec<u8>>| {
        let fields: Vec<(&str, String)> = fields;
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        multipart(&borrowed, file.as_deref())
    };
    let before = t.mail().calls.len();

    // Wrong password, damaged file, missing file: said in French, 422,
    // nothing but the check asked of the daemon.
    let (ct, body) = send(form("mauvais"), Some(vec![0x30, 0x82, 0x01]));
    let r = t.post_multipart("/wizard/mailbox", &cookie, ct, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("Mot de passe du certificat incorrect"),
        "{}",
        r.body
    );
    let (ct, body) = send(form(P12_PASSWORD), Some(b"not a certificate".to_vec()));
    let r = t.post_multipart("/wizard/mailbox", &cookie, ct, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("pas un certificat .p12 lisible"),
        "{}",
        r.body
    );
    let (ct, body) = send(form(P12_PASSWORD), None);
    let r = t.post_multipart("/wizard/mailbox", &cookie, ct, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Choisissez le fichier du certificat"));
    assert_eq!(
        t.calls_since(before),
        ["POST /v1/credential/pkcs12", "POST /v1/credential/pkcs12"]
    );
    // An oversized upload is refused before the daemon hears of it.
    let (ct, body) = send(form(P12_PASSWORD), Some(vec![0x30; 200 * 1024]));
    let r = t.post_multipart("/wizard/mailbox", &cookie, ct, body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(t.calls_since(before).len(), 2);
    // No operator chosen, a manual operator without servers.
    let mut no_operator = form(P12_PASSWORD);
    no_operator.retain(|(k, _)| *k != "operator");
    let (ct, body) = send(no_operator, Some(vec![0x30, 0x82]));
    let r = t.post_multipart("/wizard/mailbox", &cookie, ct, body).await;
    assert!(r.body.contains("Choisissez votre opérateur"));
    let mut manual = form(P12_PASSWORD);
    manual[1].1 = "manual".into();
    let (ct, body) = send(manual, Some(vec![0x30, 0x82]));
    let r = t.post_multipart("/wizard/mailbox", &cookie, ct, body).await;
    assert!(r.body.contains("saisissez ses serveurs"));
    assert_eq!(t.calls_since(before).len(), 2);

    // A refused address names the field.
    let mut bad_address = form(P12_PASSWORD);
    bad_address[2].1 = "cabinet".into();
    let (ct, body) = send(bad_address, Some(vec![0x30, 0x82]));
    let r = t.post_multipart("/wizard/mailbox", &cookie, ct, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("Adresse de votre messagerie MSSanté"),
        "{}",
        r.body
    );

    // All good: certificate, operator, mailbox, restart, in that order.
    let from = t.mail().calls.len();
    let (ct, body) = send(form(P12_PASSWORD), Some(vec![0x30, 0x82]));
    let r = t.post_multipart("/wizard/mailbox", &cookie, ct, body).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/wizard/restarting?next=%2Fwizard");
    let calls = t.calls_since(from);
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[0], "POST /v1/credential/pkcs12");
    assert!(
        calls[1]
            .starts_with("POST /v1/settings/operator {\"actor\":\"web:admin\",\"id\":\"test\"}"),
        "{}",
        calls[1]
    );
    assert!(
        calls[2].starts_with("PUT /v1/settings") && calls[2].contains("cabinet@test.mssante.fr")
    );
    assert!(calls[3].starts_with("POST /v1/restart"));
    // The certificate's password went to the daemon only.
    assert!(!calls.iter().any(|c| c.contains(P12_PASSWORD)));
    // The waiting page reloads itself until the daemon is back.
    let wait = t
        .get("/wizard/restarting?next=%2Fwizard", Some(&cookie))
        .await;
    assert_eq!(wait.status, StatusCode::OK);
    assert!(wait.body.contains("http-equiv=\"refresh\""));
    let wait = t
        .get(
            "/wizard/restarting?next=https%3A%2F%2Fevil.example",
            Some(&cookie),
        )
        .await;
    assert!(!wait.body.contains("evil.example"));
}

#[tokio::test]
async fn connection_test_says_what_to_do() {
    let t = harness();
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let r = t
        .post("/wizard/test", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("La connexion n’a pas abouti."));
    assert!(
        r.body
            .contains("L’opérateur a refusé votre carte ou votre certificat")
    );
    assert!(
        !r.body.contains("href=\"/wizard/accounts\""),
        "no way on after a failure"
    );
}

#[tokio::test]
async fn local_accounts_are_created_and_removed_after_confirmation() {
    let t = harness();
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let page = t.get("/wizard/accounts", Some(&cookie)).await;
    assert!(page.body.contains("Aucun compte local"));
    // What the practice's machines are told.
    assert!(page.body.contains("/srv/documents"));
    assert!(
        page.body
            .contains("config-v1.1.xml?emailaddress=cabinet%40test.mssante.fr")
    );
    let r = t
        .post(
            "/wizard/accounts",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("user", "secretariat"),
                ("password", "Un long mot de passe"),
                ("confirm", "Un autre mot de passe"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/wizard/accounts");
    let page = t.get("/wizard/accounts", Some(&cookie)).await;
    assert!(page.body.contains("ne sont pas identiques"));
    let r = t
        .post(
            "/wizard/accounts",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("user", "secretariat"),
                ("password", "court"),
                ("confirm", "court"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/wizard/accounts");
    let page = t.get("/wizard/accounts", Some(&cookie)).await;
    assert!(page.body.contains("au moins 12 caractères"));
    let r = t
        .post(
            "/accounts",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("user", "secretariat"),
                ("password", "Un long mot de passe"),
                ("confirm", "Un long mot de passe"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/accounts");
    let page = t.get("/accounts", Some(&cookie)).await;
    assert!(page.body.contains("Compte créé."));
    assert!(page.body.contains("data-account=\"secretariat\""));
    // Removal: a confirmation page, then the box must be ticked.
    let confirm = t.get("/accounts/secretariat/delete", Some(&cookie)).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("required"));
    assert_eq!(
        t.get("/accounts/nobody/delete", Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/accounts/Bad%20Name/delete", Some(&cookie))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = t
        .post(
            "/accounts/secretariat/delete",
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(t.mail().accounts, ["secretariat"]);
    let r = t
        .post(
            "/accounts/secretariat/delete",
            Some(&cookie),
            &[("csrf", &csrf), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.location(), "/accounts");
    assert!(t.mail().accounts.is_empty());
}

#[tokio::test]
async fn settings_send_only_what_changed_and_name_refused_fields() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let page = t.get("/settings", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    assert!(page.body.contains("name=\"upstream__port\""));
    let unchanged = [
        ("csrf", csrf.as_str()),
        ("mssante__mailbox", "cabinet@test.mssante.fr"),
        ("upstream__port", "587"),
        ("inbound__send_receipts", "false"),
        ("inbound__send_receipts", "true"),
        ("paper__address_lines", "1 rue du Parc\r\n"),
    ];
    let before = t.mail().calls.len();
    let r = t.post("/settings", Some(&cookie), &unchanged).await;
    assert_eq!(r.location(), "/settings");
    assert!(t.calls_since(before).is_empty());
    // A number that is not one: 400, the field named.
    let mut bad = unchanged.to_vec();
    bad[2].1 = "cinq";
    let r = t.post("/settings", Some(&cookie), &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Port d’envoi"));
    // The daemon refuses the address: 422, the field named.
    let mut refused = unchanged.to_vec();
    refused[1].1 = "cabinet";
    let r = t.post("/settings", Some(&cookie), &refused).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Adresse de votre messagerie MSSanté"));
    // Changes: only those are sent, then the service restarts.
    let from = t.mail().calls.len();
    let changed = [
        ("csrf", csrf.as_str()),
        ("mssante__mailbox", "cabinet@test.mssante.fr"),
        ("upstream__port", "465"),
        ("inbound__send_receipts", "false"),
        ("paper__address_lines", "1 rue du Parc\r\nBâtiment B"),
    ];
    let r = t.post("/settings", Some(&cookie), &changed).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let calls = t.calls_since(from);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let sent: Value =
        serde_json::from_str(calls[0].trim_start_matches("PUT /v1/settings ")).unwrap();
    assert_eq!(
        sent["changes"],
        json!({"upstream.port": 465, "inbound.send_receipts": false, "paper.address_lines": ["1 rue du Parc", "Bâtiment B"]})
    );
    assert!(calls[1].starts_with("POST /v1/restart"));
}

async fn fake_sent_document(State(s): State<FakeMail>, Path(key): Path<String>) -> Response {
    s.lock()
        .unwrap()
        .calls
        .push(format!("GET /v1/tracking/{key}/document"));
    match key.as_str() {
        DONE_QID => (
            [(header::CONTENT_TYPE, "application/pdf")],
            b"%PDF-1.4\nsent document".to_vec(),
        )
            .into_response(),
        QID => refuse(StatusCode::GONE, "document_gone", None),
        _ => refuse(StatusCode::NOT_FOUND, "no_such_message", None),
    }
}

#[tokio::test]
async fn the_sent_document_is_downloaded_from_its_timeline() {
    let t = harness();
    t.claim().await;
    let path = format!("/tracking/{DONE_QID}/document");
    assert_eq!(t.get(&path, None).await.location(), "/login");
    let (cookie, _) = t.login().await;
    let line = t.get(&format!("/tracking/{DONE_QID}"), Some(&cookie)).await;
    assert!(
        line.body
            .contains(&format!("href=\"/tracking/{DONE_QID}/document\"")),
        "{}",
        line.body
    );
    let r = t.get(&path, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/pdf");
    let disposition = r.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"CR _chographie _2026_.pdf\""),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''CR%20%C3%A9chographie%20%222026%22.pdf"),
        "{disposition}"
    );
    assert!(r.body.starts_with("%PDF-"));
    // Moved away since: 410 said in French; unknown: 404; malformed: 400.
    let gone = t
        .get(&format!("/tracking/{QID}/document"), Some(&cookie))
        .await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert!(gone.body.contains("n’est plus dans le dossier"));
    assert_eq!(
        t.get("/tracking/nothing@here/document", Some(&cookie))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/tracking/%01/document", Some(&cookie)).await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn fake_received(RawQuery(query): RawQuery) -> Json<Value> {
    assert_eq!(query.as_deref(), Some("limit=5"));
    Json(json!({"received": [
        {"at": 1_767_261_600i64, "from": "dr.durand@hopital.test.mssante.fr", "folder": "2026-01-01_1000_CR <b>", "files": 3, "problems": 1},
        {"at": 1_767_200_000i64, "from": MARTIN, "folder": "2025-12-31_0800_CR", "files": 1, "problems": 0},
    ]}))
}

#[tokio::test]
async fn the_dashboard_lists_the_last_messages_received() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert!(dash.body.contains("Derniers messages reçus"));
    let section = &dash.body[dash.body.find("Derniers messages reçus").unwrap()..];
    assert!(section.contains("dr.durand@hopital.test.mssante.fr"));
    assert!(section.contains("3 fichiers, 1 problème (voir le dossier)"));
    assert!(section.contains("2026-01-01_1000_CR &lt;b&gt;"), "escaped");
    assert!(
        section.find("dr.durand").unwrap() < section.find("dr.martin").unwrap(),
        "newest first"
    );
}

async fn fake_backup(State(s): State<FakeMail>) -> Json<Value> {
    record(&s, "GET /v1/backup".into());
    Json(
        json!({"format": 1, "created_at": 1_767_261_600i64, "version": "0.1.0",
                "mailbox": "cabinet@test.mssante.fr", "settings": "[mssante]\nmailbox = \"cabinet@test.mssante.fr\"\n",
                "certificate": null, "contacts": []}),
    )
}

async fn fake_restore(State(s): State<FakeMail>, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap();
    record(
        &s,
        format!("POST /v1/restore {}", request["backup"]["mailbox"]),
    );
    if request["backup"]["format"] != 1 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "invalid_setting", "key": "backup", "message": "backup format 9 (this box reads format 1)"})),
        )
            .into_response();
    }
    Json(json!({"restart_needed": true})).into_response()
}

#[tokio::test]
async fn backup_is_downloaded_encrypted_after_the_password_is_typed_again() {
    let t = harness();
    t.claim().await;
    assert_eq!(t.get("/settings/backup", None).await.location(), "/login");
    let (cookie, _) = t.login().await;
    let page = t.get("/settings/backup", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let before = t.mail().calls.len();
    let r = t
        .post("/settings/backup", Some(&cookie), &[("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .post(
            "/settings/backup",
            Some(&cookie),
            &[("csrf", &csrf), ("password", "pas le bon")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        t.calls_since(before).is_empty(),
        "nothing asked of the daemon"
    );
    let r = t
        .post(
            "/settings/backup",
            Some(&cookie),
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("facteur-sauvegarde-")
    );
    // The body went through as text in Reply: read the bytes again.
    let request = Request::post("/settings/backup")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("__Host-facteur={cookie}"))
        .body(Body::from(
            serde_urlencoded::to_string([("csrf", csrf.as_str()), ("password", PASSWORD)]).unwrap(),
        ))
        .unwrap();
    let response = t.router.clone().oneshot(request).await.unwrap();
    let file = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    assert!(file.starts_with(facteur_web::backup_file::MAGIC));
    assert!(
        !String::from_utf8_lossy(&file).contains("cabinet@test.mssante.fr"),
        "encrypted"
    );
    let plain = facteur_web::backup_file::open(PASSWORD, &file).unwrap();
    let document: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(document["mailbox"], "cabinet@test.mssante.fr");
}

#[tokio::test]
async fn restore_refuses_what_it_cannot_open_and_restarts_after_a_good_one() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    let csrf = t.get("/settings/backup", Some(&cookie)).await.csrf();
    let good_plain = serde_json::to_vec(
        &json!({"format": 1, "mailbox": "cabinet@test.mssante.fr", "settings": ""}),
    )
    .unwrap();
    let good =
        facteur_web::backup_file::seal("mot de passe de la sauvegarde", &good_plain).unwrap();
    let upload = |file: Vec<u8>, password: &str| {
        let fields = [("csrf", csrf.as_str()), ("restore_password", password)];
        let boundary = "----facteur-test-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"backup\"; filename=\"s.fcb\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(&file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    };
    let before = t.mail().calls.len();
    let (ct, body) = upload(good.clone(), "mauvais mot de passe");
    let r = t
        .post_multipart("/settings/restore", &cookie, ct, body)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Mot de passe incorrect, ou fichier abîmé"));
    let mut tampered = good.clone();
    let last = tampered.len() - 5;
    tampered[last] ^= 0x20;
    let (ct, body) = upload(tampered, "mot de passe de la sauvegarde");
    let r = t
        .post_multipart("/settings/restore", &cookie, ct, body)
        .await;
    assert!(r.body.contains("Mot de passe incorrect, ou fichier abîmé"));
    let (ct, body) = upload(b"PK\x03\x04 not a backup".to_vec(), "x");
    let r = t
        .post_multipart("/settings/restore", &cookie, ct, body)
        .await;
    assert!(r.body.contains("n’est pas une sauvegarde Facteur"));
    let (ct, body) = upload(vec![0u8; 5 * 1024 * 1024], "x");
    let r = t
        .post_multipart("/settings/restore", &cookie, ct, body)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = t
        .post("/settings/restore", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        t.calls_since(before).is_empty(),
        "{:?}",
        t.calls_since(before)
    );
    // The daemon's refusal is said; nothing restarts.
    let newer =
        facteur_web::backup_file::seal("p", &serde_json::to_vec(&json!({"format": 9})).unwrap())
            .unwrap();
    let (ct, body) = upload(newer, "p");
    let r = t
        .post_multipart("/settings/restore", &cookie, ct, body)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("rien n’a été changé"));
    assert!(
        !t.calls_since(before)
            .iter()
            .any(|c| c.starts_with("POST /v1/restart"))
    );
    // A good one: restored, then the service restarts.
    let from = t.mail().calls.len();
    let (ct, body) = upload(good, "mot de passe de la sauvegarde");
    let r = t
        .post_multipart("/settings/restore", &cookie, ct, body)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/wizard/restarting?next=%2Fsettings");
    let calls = t.calls_since(from);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("POST /v1/restore \"cabinet@test.mssante.fr\""));
    assert!(calls[1].starts_with("POST /v1/restart"));
}

const NETWORK_TOKEN: &str = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";

async fn fake_network(State(s): State<FakeMail>) -> Json<Value> {
    let pending = s
        .lock()
        .unwrap()
        .calls
        .iter()
        .any(|c| c.starts_with("POST /v1/network {"))
        && !s
            .lock()
            .unwrap()
            .calls
            .iter()
            .any(|c| c.starts_with("POST /v1/network/confirm"));
    Json(
        json!({"managed": true, "network": {"interface": "eth0", "settings": {"mode": "dhcp"},
        "pending_seconds": if pending { json!(42) } else { Value::Null }, "confirm_timeout": 60}}),
    )
}

async fn fake_network_apply(State(s): State<FakeMail>, body: String) -> Json<Value> {
    record(&s, format!("POST /v1/network {body}"));
    Json(json!({"token": NETWORK_TOKEN}))
}

async fn fake_network_confirm(State(s): State<FakeMail>, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap();
    record(&s, format!("POST /v1/network/confirm {}", request["token"]));
    if request["token"] == NETWORK_TOKEN {
        Json(json!({"confirmed": true})).into_response()
    } else {
        refuse(StatusCode::NOT_FOUND, "no_pending_change", None)
    }
}

#[tokio::test]
async fn network_changes_wait_for_their_confirmation() {
    let t = harness();
    t.claim().await;
    assert_eq!(t.get("/settings/network", None).await.location(), "/login");
    let (cookie, _) = t.login().await;
    let page = t.get("/settings/network", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Automatique (DHCP"));
    let csrf = page.csrf();
    let before = t.mail().calls.len();
    let fixed = |address: &'static str, gateway: &'static str| {
        vec![
            ("mode", "static"),
            ("address", address),
            ("prefix", "24"),
            ("gateway", gateway),
            ("dns", "192.168.1.1\r\n9.9.9.9"),
        ]
    };
    let mut no_csrf = fixed("192.168.1.20", "192.168.1.1");
    let r = t.post("/settings/network", Some(&cookie), &no_csrf).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    no_csrf.push(("csrf", &csrf));
    let mut garbled = no_csrf.clone();
    garbled[1].1 = "192.168.1.x";
    let r = t.post("/settings/network", Some(&cookie), &garbled).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Réglage réseau incomplet"));
    let mut outside = no_csrf.clone();
    outside[3].1 = "10.0.0.1";
    let r = t.post("/settings/network", Some(&cookie), &outside).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Réglage refusé"));
    assert!(t.calls_since(before).is_empty());
    // Applied: the new address to open, the time to confirm.
    let r = t.post("/settings/network", Some(&cookie), &no_csrf).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("https://192.168.1.20:"), "{}", r.body);
    assert!(r.body.contains("dans les 60 secondes"));
    let sent = &t.calls_since(before)[0];
    assert!(
        sent.contains("\"mode\":\"static\"") && sent.contains("\"address\":\"192.168.1.20\""),
        "{sent}"
    );
    // The dashboard sends the administrator to the confirmation first.
    assert_eq!(
        t.get("/dashboard", Some(&cookie)).await.location(),
        "/settings/network"
    );
    let r = t
        .post("/settings/network/confirm", Some(&cookie), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .post(
            "/settings/network/confirm",
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Réglage réseau confirmé"));
    assert!(
        t.calls_since(before)
            .last()
            .unwrap()
            .contains(NETWORK_TOKEN)
    );
    let r = t
        .post(
            "/settings/network/confirm",
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.get("/dashboard", Some(&cookie)).await.status,
        StatusCode::OK
    );
}

// -- Pro Santé Connect ------------------------------------------------------------------

const BINDING: &str = "FACTEUR-7K3F";
const NATIONAL_ID: &str = "899700000001";

/// The daemon's Pro Santé Connect session, as the fake plays it.
struct Psc {
    login: &'static str,
    state: &'static str,
    national_id: Option<String>,
    binding: Option<&'static str>,
    last_error: Option<String>,
    connected_since: Option<i64>,
    session_end: Option<i64>,
    /// The next login's refusal: (status, code).
    refuse: Option<(StatusCode, &'static str)>,
    /// The next change of mode's refusal (422): (code, key).
    refuse_mode: Option<(&'static str, Option<&'static str>)>,
    /// The mode saved, applied at the next restart: (login, national_id).
    saved_mode: Option<(&'static str, Option<String>)>,
    /// "POST /v1/psc/login {body}", "POST /v1/psc/logout", "POST /v1/audit {body}",
    /// "POST /v1/credential/psc {body}", "POST /v1/restart {body}".
    calls: Vec<String>,
}

type FakePsc = Arc<Mutex<Psc>>;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A box that does not use Pro Santé Connect, as the daemon says it.
async fn fake_no_psc() -> Response {
    refuse(StatusCode::NOT_FOUND, "no_psc", None)
}

fn psc_json(p: &Psc) -> Value {
    let now = unix_now();
    let message = match (p.state, p.binding) {
        ("connected", _) => "connecté à Pro Santé Connect".to_string(),
        ("awaiting_approval", Some(b)) => {
            format!("validez la demande « {b} » dans l'application e-CPS")
        }
        _ => "reconnexion Pro Santé Connect nécessaire".to_string(),
    };
    json!({
        "login": p.login, "state": p.state, "message": message,
        "national_id": p.national_id, "connected_since": p.connected_since,
        "access_expires_at": p.connected_since.map(|_| now + 300),
        "session_expires_at": p.session_end,
        "approval": p.binding.map(|b| json!({
            "national_id": p.national_id, "binding_message": b, "expires_at": now + 105,
        })),
        "last_error": p.last_error, "logins": 0, "renewals": 0, "refused_tokens": 0,
    })
}

async fn fake_psc(State(s): State<FakePsc>) -> Json<Value> {
    Json(psc_json(&s.lock().unwrap()))
}

async fn fake_psc_status(State(s): State<FakePsc>) -> Json<Value> {
    let p = s.lock().unwrap();
    let ready = p.state == "connected";
    Json(json!({
        "api": 1, "version": "0.1.0", "uptime_secs": 5, "configured": true,
        "credential": {"kind": "psc", "ready": ready,
                       "reason": if ready { Value::Null } else { json!("reconnexion Pro Santé Connect nécessaire") }},
        "delivery": if ready { json!({"state": "running"}) }
                    else { json!({"state": "credential_unavailable", "reason": "reconnexion Pro Santé Connect nécessaire"}) },
        "queue": {"pending": 0, "delivered": 0, "failed": 0},
        "card": null,
        "psc": psc_json(&p),
    }))
}

async fn fake_psc_login(State(s): State<FakePsc>, body: String) -> Response {
    let mut p = s.lock().unwrap();
    p.calls.push(format!("POST /v1/psc/login {body}"));
    if let Some((status, code)) = p.refuse.take() {
        if code == "psc_login_refused" {
            p.last_error =
                Some("Pro Santé Connect ne connaît pas l'identifiant 899700000009".into());
        }
        return refuse(status, code, None);
    }
    if p.login == "card" {
        p.state = "connected";
        p.connected_since = Some(unix_now());
        p.last_error = None;
        return Json(psc_json(&p)).into_response();
    }
    let request: Value = serde_json::from_str(&body).unwrap();
    if let Some(id) = request["national_id"].as_str() {
        p.national_id = Some(id.to_string());
    }
    p.state = "awaiting_approval";
    p.binding = Some(BINDING);
    p.last_error = None;
    let status = psc_json(&p);
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "approval": status["approval"],
            "message": format!("Ouvrez l'application e-CPS sur votre téléphone et validez la demande « {BINDING} »."),
            "status": status,
        })),
    )
        .into_response()
}

async fn fake_psc_logout(State(s): State<FakePsc>) -> Json<Value> {
    let mut p = s.lock().unwrap();
    p.calls.push("POST /v1/psc/logout".into());
    p.state = "reconnect_needed";
    p.connected_since = None;
    p.session_end = None;
    p.last_error = Some("déconnecté à la demande".into());
    Json(psc_json(&p))
}

async fn fake_psc_audit(State(s): State<FakePsc>, body: String) -> Json<Value> {
    s.lock()
        .unwrap()
        .calls
        .push(format!("POST /v1/audit {body}"));
    Json(json!({"seq": 1}))
}

/// `POST /v1/credential/psc` as the daemon's settings answer it: kept
/// for the next start.
async fn fake_psc_mode(State(s): State<FakePsc>, body: String) -> Response {
    let mut p = s.lock().unwrap();
    p.calls.push(format!("POST /v1/credential/psc {body}"));
    if let Some((code, key)) = p.refuse_mode.take() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": code, "key": key, "message": "refused"})),
        )
            .into_response();
    }
    let request: Value = serde_json::from_str(&body).unwrap();
    let login = match request["login"].as_str() {
        Some("card") => "card",
        Some("ecps") => "ecps",
        _ => panic!("the web admin sent {body}"),
    };
    let national_id = request["national_id"].as_str().map(str::to_string);
    p.saved_mode = Some((login, national_id));
    Json(json!({"credential": "psc", "login": login, "restart_needed": true})).into_response()
}

/// The restart: the mode saved applies, the session's tokens are gone.
async fn fake_psc_restart(State(s): State<FakePsc>, body: String) -> Response {
    let mut p = s.lock().unwrap();
    p.calls.push(format!("POST /v1/restart {body}"));
    if let Some((login, national_id)) = p.saved_mode.take() {
        p.login = login;
        p.national_id = national_id;
    }
    p.state = if p.login == "card" {
        "disconnected"
    } else {
        "reconnect_needed"
    };
    p.connected_since = None;
    p.session_end = None;
    p.binding = None;
    (StatusCode::ACCEPTED, Json(json!({"restarting": true}))).into_response()
}

/// A box logging in with Pro Santé Connect (`login`: "ecps" or "card"),
/// not connected yet.
fn psc_harness(login: &'static str) -> (Harness, FakePsc) {
    let psc = Arc::new(Mutex::new(Psc {
        login,
        state: if login == "card" {
            "disconnected"
        } else {
            "reconnect_needed"
        },
        national_id: (login == "ecps").then(|| NATIONAL_ID.to_string()),
        binding: None,
        last_error: None,
        connected_since: None,
        session_end: None,
        refuse: None,
        refuse_mode: None,
        saved_mode: None,
        calls: Vec::new(),
    }));
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let fake = Router::new()
        .route("/v1/status", get(fake_psc_status))
        .route("/v1/psc", get(fake_psc))
        .route("/v1/psc/login", post(fake_psc_login))
        .route("/v1/psc/logout", post(fake_psc_logout))
        .route("/v1/audit", post(fake_psc_audit))
        .route("/v1/credential/psc", post(fake_psc_mode))
        .route("/v1/restart", post(fake_psc_restart))
        .with_state(psc.clone());
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move {
        axum::serve(listener, fake).await.unwrap();
    });
    (harness_in(dir, &socket, None, None), psc)
}

fn psc_logins(psc: &FakePsc) -> Vec<String> {
    psc.lock()
        .unwrap()
        .calls
        .iter()
        .filter(|c| c.starts_with("POST /v1/psc/"))
        .cloned()
        .collect()
}

/// What was asked of the daemon's settings: the mode and the restart.
fn psc_changes(psc: &FakePsc) -> Vec<String> {
    psc.lock()
        .unwrap()
        .calls
        .iter()
        .filter(|c| c.starts_with("POST /v1/credential/") || c.starts_with("POST /v1/restart"))
        .cloned()
        .collect()
}

/// The nav's entry, not the dashboard's links.
const NAV_PSC_LINK: &str = "<li><a href=\"/psc\"";

#[tokio::test]
async fn psc_pages_need_login_and_their_posts_need_csrf() {
    let (t, psc) = psc_harness("ecps");
    // Unclaimed: only the setup step.
    for path in ["/psc", "/psc/state", "/psc/logout"] {
        assert_eq!(t.get(path, None).await.location(), "/setup", "{path}");
    }
    t.claim().await;
    for path in ["/psc", "/psc/state", "/psc/logout"] {
        assert_eq!(t.get(path, None).await.location(), "/login", "{path}");
    }
    for path in ["/psc/login", "/psc/logout", "/psc/mode"] {
        let r = t
            .post(
                path,
                None,
                &[("csrf", "x"), ("confirm", "1"), ("login", "card")],
            )
            .await;
        assert_eq!(r.location(), "/login", "{path}");
    }
    let (cookie, csrf) = t.login().await;
    let other = "f".repeat(64);
    for path in ["/psc/login", "/psc/logout", "/psc/mode"] {
        for form in [
            vec![
                ("confirm", "1"),
                ("national_id", NATIONAL_ID),
                ("login", "card"),
            ],
            vec![
                ("csrf", other.as_str()),
                ("confirm", "1"),
                ("national_id", NATIONAL_ID),
                ("login", "card"),
            ],
        ] {
            let r = t.post(path, Some(&cookie), &form).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
            assert_security_headers(&r);
        }
    }
    // The logout needs its confirmation box.
    let r = t
        .post("/psc/logout", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("Cochez la case de confirmation"),
        "{}",
        r.body
    );
    assert!(psc_logins(&psc).is_empty(), "{:?}", psc_logins(&psc));
    assert!(psc_changes(&psc).is_empty(), "{:?}", psc_changes(&psc));
    let script = t.get("/static/psc.js", None).await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert!(script.body.contains("/psc/state"));
}

#[tokio::test]
async fn the_nav_offers_pro_sante_connect_only_when_the_daemon_uses_it() {
    let t = harness();
    t.claim().await;
    let (cookie, _) = t.login().await;
    for path in ["/dashboard", "/card", "/queue"] {
        let page = t.get(path, Some(&cookie)).await;
        assert!(!page.body.contains(NAV_PSC_LINK), "{path}");
    }
    let page = t.get("/psc", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("Ce boîtier ne se connecte pas avec Pro Santé Connect"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("action=\"/psc/login\""));

    let (t, _) = psc_harness("ecps");
    t.claim().await;
    let (cookie, _) = t.login().await;
    for path in ["/dashboard", "/queue", "/psc"] {
        let page = t.get(path, Some(&cookie)).await;
        assert!(page.body.contains(NAV_PSC_LINK), "{path}: {}", page.body);
    }
    let page = t.get("/psc", Some(&cookie)).await;
    assert!(
        page.body
            .contains("<li><a href=\"/psc\" aria-current=\"page\">Pro Santé Connect</a>")
    );
}

#[tokio::test]
async fn an_e_cps_login_shows_the_request_to_approve_and_its_outcome() {
    let (t, psc) = psc_harness("ecps");
    t.claim().await;
    let (cookie, csrf) = t.login().await;

    // The dashboard says it first, and leads to the page.
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert!(
        dash.body.contains("role=\"alert\" data-alert=\"psc\"")
            && dash
                .body
                .contains("<strong>Reconnexion Pro Santé Connect nécessaire</strong>"),
        "{}",
        dash.body
    );
    assert!(
        dash.body
            .contains("href=\"/psc\">Se reconnecter à Pro Santé Connect</a>")
    );
    assert!(
        dash.body.contains("data-check=\"psc\" data-level=\"bad\""),
        "{}",
        dash.body
    );
    assert!(!dash.body.contains("data-check=\"credential\""));

    let page = t.get("/psc", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("avec l’application e-CPS"));
    assert!(
        page.body
            .contains("Reconnexion Pro Santé Connect nécessaire")
    );
    assert!(page.body.contains("name=\"national_id\""));
    assert!(page.body.contains("value=\"899700000001\""));
    assert!(page.body.contains("inputmode=\"numeric\""));
    assert!(!page.body.contains("<script"), "nothing to follow yet");

    let r = t
        .post(
            "/psc/login",
            Some(&cookie),
            &[("csrf", &csrf), ("national_id", " 899700000002 ")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/psc");
    assert_eq!(
        psc_logins(&psc),
        ["POST /v1/psc/login {\"national_id\":\"899700000002\"}"]
    );
    let audit = psc.lock().unwrap().calls.clone();
    assert!(
        audit
            .iter()
            .any(|c| c.contains("\"psc_login_requested\"") && c.contains("web:admin")),
        "{audit:?}"
    );

    let page = t.get("/psc", Some(&cookie)).await;
    assert!(
        page.body.contains(
            "Ouvrez l’application e-CPS sur votre téléphone et validez la demande « FACTEUR-7K3F »."
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("encore 1 min 4"), "{}", page.body);
    assert!(
        page.body
            .contains("<script src=\"/static/psc.js\" defer></script>")
    );
    assert!(page.body.contains("Envoyer une nouvelle demande"));
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert!(
        dash.body.contains("« FACTEUR-7K3F »") && dash.body.contains("Suivre la demande en cours")
    );

    // What the page's script reads while it waits.
    let state = t.get("/psc/state", Some(&cookie)).await;
    assert_eq!(state.status, StatusCode::OK);
    assert_eq!(state.headers[header::CONTENT_TYPE], "application/json");
    let answer: Value = serde_json::from_str(&state.body).unwrap();
    assert_eq!(answer["waiting"], json!(true));
    assert!(
        answer["time_left"]
            .as_str()
            .unwrap()
            .starts_with("encore 1 min")
    );

    // Approved on the phone.
    {
        let mut p = psc.lock().unwrap();
        p.state = "connected";
        p.binding = None;
        p.connected_since = Some(unix_now());
        p.session_end = Some(unix_now() + 2 * 3600 + 10 * 60 + 30);
    }
    let answer: Value =
        serde_json::from_str(&t.get("/psc/state", Some(&cookie)).await.body).unwrap();
    assert_eq!(answer["waiting"], json!(false));
    assert_eq!(answer["ok"], json!(true));
    assert_eq!(
        answer["outcome"],
        "Connexion réussie : le boîtier est connecté à Pro Santé Connect."
    );
    let panel = answer["panel"].as_str().unwrap();
    assert!(panel.contains("Connecté à Pro Santé Connect"));
    assert!(panel.contains("encore 2 h 10 min"), "{panel}");
    assert!(panel.contains("href=\"/psc/logout\""));
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert!(!dash.body.contains("data-alert=\"psc\""));
    assert!(dash.body.contains("data-check=\"psc\" data-level=\"ok\""));

    // Logged out after the confirmation page, then a request refused on
    // the phone.
    let confirm = t.get("/psc/logout", Some(&cookie)).await;
    assert!(confirm.body.contains("name=\"confirm\"") && confirm.body.contains("required"));
    let r = t
        .post(
            "/psc/logout",
            Some(&cookie),
            &[("csrf", &csrf), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.location(), "/psc");
    let page = t.get("/psc", Some(&cookie)).await;
    assert!(
        page.body
            .contains("role=\"status\">Déconnecté de Pro Santé Connect")
    );
    assert!(page.body.contains("déconnecté à la demande"));
    t.post(
        "/psc/login",
        Some(&cookie),
        &[("csrf", &csrf), ("national_id", NATIONAL_ID)],
    )
    .await;
    {
        let mut p = psc.lock().unwrap();
        p.state = "reconnect_needed";
        p.binding = None;
        p.last_error = Some("demande refusée dans l'application e-CPS".into());
    }
    let answer: Value =
        serde_json::from_str(&t.get("/psc/state", Some(&cookie)).await.body).unwrap();
    assert_eq!(answer["ok"], json!(false));
    assert_eq!(
        answer["outcome"],
        "La connexion n’a pas abouti : demande refusée dans l'application e-CPS."
    );
    let dash = t.get("/dashboard", Some(&cookie)).await;
    assert!(
        dash.body
            .contains("Cause : demande refusée dans l&#39;application e-CPS.")
    );
}

#[tokio::test]
async fn psc_errors_are_said_in_french() {
    let (t, psc) = psc_harness("ecps");
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    // A malformed identifier: refused here, shown again, nothing sent.
    for bad in ["12ab", "8997", "8997000000011", "899 700 000 001"] {
        let r = t
            .post(
                "/psc/login",
                Some(&cookie),
                &[("csrf", &csrf), ("national_id", bad)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(
            r.body
                .contains("role=\"alert\">Identifiant national incorrect"),
            "{}",
            r.body
        );
        assert!(r.body.contains(&format!("value=\"{bad}\"")));
    }
    assert!(psc_logins(&psc).is_empty());

    for (status, code, expected, page_status) in [
        (
            StatusCode::BAD_GATEWAY,
            "psc_unreachable",
            "Pro Santé Connect ne répond pas.",
            StatusCode::BAD_GATEWAY,
        ),
        (
            StatusCode::FORBIDDEN,
            "psc_login_refused",
            "Pro Santé Connect a refusé la connexion.",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Identifiant national incorrect",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            StatusCode::CONFLICT,
            "card_not_ready",
            "La carte CPS n’est pas prête",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        psc.lock().unwrap().refuse = Some((status, code));
        let r = t
            .post(
                "/psc/login",
                Some(&cookie),
                &[("csrf", &csrf), ("national_id", "899700000009")],
            )
            .await;
        assert_eq!(r.status, page_status, "{code}");
        assert!(
            r.body.contains(&format!("role=\"alert\">{expected}")),
            "{code}: {}",
            r.body
        );
        assert!(r.body.contains("value=\"899700000009\""), "{code}");
    }
    // The daemon's own reason is on the page.
    let page = t.get("/psc", Some(&cookie)).await;
    assert!(
        page.body
            .contains("Pro Santé Connect ne connaît pas l&#39;identifiant 899700000009")
    );

    // The daemon down.
    drop(t);
    let t = harness_with(None);
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let page = t.get("/psc", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("Le service Facteur ne répond pas"));
    let r = t
        .post("/psc/login", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body.contains("Le service Facteur ne répond pas"));
    let state = t.get("/psc/state", Some(&cookie)).await;
    assert_eq!(state.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(state.body.starts_with("{\"error\":"));
}

#[tokio::test]
async fn a_card_login_needs_no_identifier() {
    let (t, psc) = psc_harness("card");
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let page = t.get("/psc", Some(&cookie)).await;
    assert!(page.body.contains("avec la carte CPS du lecteur"));
    // The login form asks for no identifier (the mode's form keeps one).
    assert!(!page.body.contains("id=\"national_id\""));
    assert!(page.body.contains(">Se connecter</button>"));
    let r = t
        .post("/psc/login", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.location(), "/psc");
    assert_eq!(psc_logins(&psc), ["POST /v1/psc/login {}"]);
    let page = t.get("/psc", Some(&cookie)).await;
    assert!(page.body.contains(
        "role=\"status\">Connexion réussie : le boîtier est connecté à Pro Santé Connect."
    ));
    assert!(page.body.contains("href=\"/psc/logout\""));
    assert!(!page.body.contains("<script"));
}

/// The checked radio of the mode's form, from the page.
fn checked_mode(page: &str) -> Option<&'static str> {
    ["card", "ecps"].into_iter().find(|login| {
        page.contains(&format!(
            "id=\"login-{login}\" name=\"login\" type=\"radio\" value=\"{login}\" checked"
        ))
    })
}

#[tokio::test]
async fn the_mode_of_connection_is_saved_then_the_daemon_restarts() {
    let (t, psc) = psc_harness("ecps");
    t.claim().await;
    let (cookie, csrf) = t.login().await;

    let page = t.get("/psc", Some(&cookie)).await;
    assert!(
        page.body
            .contains("<h2 id=\"psc-mode-title\">Mode de connexion</h2>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("action=\"/psc/mode\""));
    assert!(
        page.body
            .contains("Avec la carte CPS du lecteur (le boîtier se connecte seul)")
    );
    assert!(
        page.body
            .contains("Avec l’application e-CPS sur le téléphone (à valider à chaque connexion)")
    );
    assert_eq!(checked_mode(&page.body), Some("ecps"));
    assert!(
        page.body
            .contains("id=\"mode-national-id\" name=\"national_id\"")
    );
    assert!(
        page.body
            .contains("value=\"899700000001\" aria-describedby=\"mode-national-id-hint\"")
    );
    assert!(page.body.contains("le service de messagerie redémarre"));
    assert!(page.body.contains(">Enregistrer</button>"));

    // To the card: the identifier is kept for a later return to e-CPS,
    // then the daemon restarts and the browser waits for it.
    let r = t
        .post(
            "/psc/mode",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("login", "card"),
                ("national_id", NATIONAL_ID),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/wizard/restarting?next=%2Fpsc");
    assert_eq!(
        psc_changes(&psc),
        [
            "POST /v1/credential/psc {\"actor\":\"web:admin\",\"login\":\"card\",\"national_id\":\"899700000001\"}",
            "POST /v1/restart {\"actor\":\"web:admin\"}",
        ]
    );
    // The waiting page leads back to « Pro Santé Connect ».
    let wait = t.get("/wizard/restarting?next=%2Fpsc", Some(&cookie)).await;
    assert_eq!(wait.status, StatusCode::OK);
    assert!(wait.body.contains("http-equiv=\"refresh\""));
    assert!(
        wait.body
            .contains("href=\"/wizard/restarting?next=%2Fpsc\""),
        "{}",
        wait.body
    );
    let page = t.get("/psc", Some(&cookie)).await;
    assert!(
        page.body.contains(
            "role=\"status\">Mode de connexion enregistré : avec la carte CPS du lecteur."
        ),
        "{}",
        page.body
    );
    assert_eq!(checked_mode(&page.body), Some("card"));
    assert!(
        page.body
            .contains("<dd data-field=\"method\">avec la carte CPS du lecteur</dd>")
    );

    // The same again: nothing saved, no restart.
    let r = t
        .post(
            "/psc/mode",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("login", "card"),
                ("national_id", NATIONAL_ID),
            ],
        )
        .await;
    assert_eq!(r.location(), "/psc");
    assert_eq!(psc_changes(&psc).len(), 2);
    let page = t.get("/psc", Some(&cookie)).await;
    assert!(
        page.body
            .contains("role=\"status\">Le mode de connexion n’a pas changé.")
    );

    // With the card, an identifier that could not be used is not kept
    // (its field is hidden then).
    t.post(
        "/psc/mode",
        Some(&cookie),
        &[("csrf", &csrf), ("login", "card"), ("national_id", "12ab")],
    )
    .await;
    assert_eq!(
        psc_changes(&psc)[2],
        "POST /v1/credential/psc {\"actor\":\"web:admin\",\"login\":\"card\"}"
    );

    // Back to e-CPS, with another practitioner's identifier.
    let r = t
        .post(
            "/psc/mode",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("login", "ecps"),
                ("national_id", " 899700000002 "),
            ],
        )
        .await;
    assert_eq!(r.location(), "/wizard/restarting?next=%2Fpsc");
    assert_eq!(
        psc_changes(&psc)[4],
        "POST /v1/credential/psc {\"actor\":\"web:admin\",\"login\":\"ecps\",\"national_id\":\"899700000002\"}"
    );
    let page = t.get("/psc", Some(&cookie)).await;
    assert!(
        page.body
            .contains("role=\"status\">Mode de connexion enregistré : avec l’application e-CPS.")
    );
    assert_eq!(checked_mode(&page.body), Some("ecps"));
    assert!(page.body.contains("avec l’application e-CPS"));
    // Both forms offer the new identifier.
    assert_eq!(page.body.matches("value=\"899700000002\"").count(), 2);
}

#[tokio::test]
async fn psc_mode_refusals_are_said_in_french() {
    let (t, psc) = psc_harness("ecps");
    t.claim().await;
    let (cookie, csrf) = t.login().await;

    // Refused here, what was typed shown again, nothing sent.
    for (login, id, expected) in [
        ("ecps", "12ab", "Identifiant national incorrect"),
        ("ecps", "8997000000011", "Identifiant national incorrect"),
        ("", NATIONAL_ID, "Choisissez comment le boîtier se connecte"),
        (
            "sms",
            NATIONAL_ID,
            "Choisissez comment le boîtier se connecte",
        ),
    ] {
        let r = t
            .post(
                "/psc/mode",
                Some(&cookie),
                &[("csrf", &csrf), ("login", login), ("national_id", id)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{login} {id}");
        assert!(
            r.body.contains(&format!("role=\"alert\">{expected}")),
            "{login} {id}: {}",
            r.body
        );
        assert!(
            r.body.contains(&format!(
                "id=\"mode-national-id\" name=\"national_id\" type=\"text\" inputmode=\"numeric\" autocomplete=\"off\" value=\"{id}\""
            )),
            "{}",
            r.body
        );
    }
    assert!(psc_changes(&psc).is_empty(), "{:?}", psc_changes(&psc));

    // The daemon's refusals; nothing restarts.
    for (code, key, expected, login) in [
        (
            "invalid_setting",
            Some("credential.national_id"),
            "Identifiant national incorrect",
            "ecps",
        ),
        (
            "invalid_setting",
            Some("credential.login"),
            "Choisissez comment le boîtier se connecte",
            "card",
        ),
        (
            "not_editable",
            Some("credential.login"),
            "Le mode de connexion ne peut pas être changé sur ce boîtier",
            "card",
        ),
    ] {
        psc.lock().unwrap().refuse_mode = Some((code, key));
        let r = t
            .post(
                "/psc/mode",
                Some(&cookie),
                &[
                    ("csrf", &csrf),
                    ("login", login),
                    ("national_id", "899700000009"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        assert!(
            r.body.contains(&format!("role=\"alert\">{expected}")),
            "{code}: {}",
            r.body
        );
        // The choice sent is the one checked again.
        assert_eq!(checked_mode(&r.body), Some(login), "{code}");
        assert!(r.body.contains("value=\"899700000009\""), "{code}");
    }
    let changes = psc_changes(&psc);
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(!changes.iter().any(|c| c.starts_with("POST /v1/restart")));

    // The daemon down.
    drop(t);
    let t = harness_with(None);
    t.claim().await;
    let (cookie, csrf) = t.login().await;
    let r = t
        .post(
            "/psc/mode",
            Some(&cookie),
            &[("csrf", &csrf), ("login", "card")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body.contains("Le service Facteur ne répond pas"));
}
