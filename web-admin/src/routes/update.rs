//! `GET /update`, `POST /update/check`, `POST /update/upload`: the system
//! update page. The uploaded bundle is streamed to the daemon chunk by
//! chunk, after the session's CSRF token (the form's first field) has been
//! checked; the daemon checks the signature and installs it exactly as one
//! from the fleet server.

use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Router, handler::Handler};
use hyper::body::Frame;

use super::{
    CsrfForm, Shared, bad_form, csrf_refused, daemon_status, html, parse_form, redirect,
    require_login,
};
use crate::session::Session;
use crate::{pages, texts};

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route("/update", get(update_page))
        .route("/update/check", post(check))
        // A root filesystem image: no size limit here, the daemon has its own.
        .route(
            "/update/upload",
            post(upload.layer(DefaultBodyLimit::disable())),
        )
}

async fn render(
    app: &Shared,
    s: &Session,
    status: StatusCode,
    flash: Option<(&str, &str)>,
) -> Response {
    let view = app.daemon.update().await;
    let status = match &view {
        Err(e) if status == StatusCode::OK => daemon_status(e),
        _ => status,
    };
    html(
        status,
        pages::update(
            &s.csrf,
            view.as_ref().map(Option::as_ref).map_err(|e| e.french()),
            flash,
        ),
    )
}

async fn update_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    match require_login(&app, &headers) {
        Ok((_, s)) => render(&app, &s, StatusCode::OK, None).await,
        Err(to) => redirect(to),
    }
}

async fn check(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<CsrfForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        return csrf_refused();
    }
    match app.daemon.update_poll().await {
        Ok(()) => {
            render(
                &app,
                &s,
                StatusCode::OK,
                Some(("info", texts::UPDATE_CHECK_ASKED)),
            )
            .await
        }
        Err(e) => render(&app, &s, daemon_status(&e), Some(("error", &e.french()))).await,
    }
}

async fn upload(
    State(app): State<Shared>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Ok(mut multipart) = multipart else {
        return bad_form();
    };
    let refuse = |status, text: &str| {
        let text = text.to_string();
        let app = app.clone();
        let s = s.clone();
        async move { render(&app, &s, status, Some(("error", &text))).await }
    };
    // The token first: nothing is sent to the daemon before it is checked.
    let csrf = match multipart.next_field().await {
        Ok(Some(field)) if field.name() == Some("csrf") && field.file_name().is_none() => {
            field.text().await.unwrap_or_default()
        }
        _ => return refuse(StatusCode::BAD_REQUEST, texts::UPDATE_FILE_FIRST).await,
    };
    if !s.csrf_matches(Some(&csrf)) {
        tracing::warn!("update upload refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    let mut field = match multipart.next_field().await {
        Ok(Some(field)) if field.name() == Some("bundle") && field.file_name().is_some() => field,
        _ => return refuse(StatusCode::UNPROCESSABLE_ENTITY, texts::UPDATE_NO_FILE).await,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let uploader = app.clone();
    let sending = tokio::spawn(async move { uploader.daemon.upload_bundle(rx).await });
    let mut received = 0u64;
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                    break; // the daemon answered already (a refusal)
                }
            }
            Ok(None) => break,
            Err(e) => {
                // A cut upload: the daemon is told, and refuses it.
                let _ = tx
                    .send(Err(std::io::Error::other(format!("upload cut: {e}"))))
                    .await;
                break;
            }
        }
    }
    drop(tx);
    tracing::info!(bytes = received, "update bundle uploaded");
    match sending.await {
        Ok(Ok(version)) => {
            app.daemon.audit("update_uploaded", Some(&version)).await;
            render(
                &app,
                &s,
                StatusCode::OK,
                Some(("info", &texts::update_installed(&version))),
            )
            .await
        }
        Ok(Err(e)) => refuse(daemon_status(&e), &e.french()).await,
        Err(_) => super::internal(),
    }
}
