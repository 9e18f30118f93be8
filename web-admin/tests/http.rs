//! HTTP-level tests of every route against a fake daemon (an axum server
//! on a temporary Unix socket answering like the control API).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
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

fn start_fake_daemon(socket: &std::path::Path, tries: u8) -> FakeState {
    let state = Arc::new(Mutex::new(Card {
        tries,
        unlocked: false,
    }));
    let app = Router::new()
        .route("/v1/status", get(fake_status))
        .route("/v1/card", get(fake_card))
        .route("/v1/card/unlock", post(fake_unlock))
        .with_state(state.clone());
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    state
}

// -- the web admin under test ----------------------------------------------------

struct Harness {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    app: Arc<App>,
    router: Router,
    card: Option<FakeState>,
}

fn harness_with(daemon: Option<u8>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let card = daemon.map(|tries| start_fake_daemon(&socket, tries));
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
    for path in ["/", "/login", "/dashboard", "/card"] {
        let r = t.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/setup", "{path}");
        assert_security_headers(&r);
    }
    for path in ["/logout", "/card/unlock"] {
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
