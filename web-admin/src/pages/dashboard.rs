//! The dashboard: one line per check, each with a light, a word (never
//! colour alone) and a detail.

use super::{Nav, esc, notice};
use crate::daemon::{BoardView, CardView, PscView, StatusView, TrackHit};
use crate::texts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Bad,
}

impl Level {
    fn class(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Bad => "bad",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Level::Ok => texts::LEVEL_OK,
            Level::Warn => texts::LEVEL_WARN,
            Level::Bad => texts::LEVEL_BAD,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    /// Stable name (`data-check`), for tests and scripts.
    pub id: &'static str,
    pub label: &'static str,
    pub level: Level,
    pub detail: String,
    /// A link to act on it, if any.
    pub action: Option<(&'static str, &'static str)>,
}

fn check(id: &'static str, label: &'static str, level: Level, detail: impl Into<String>) -> Check {
    Check {
        id,
        label,
        level,
        detail: detail.into(),
        action: None,
    }
}

fn card_checks(card: &CardView, out: &mut Vec<Check>) {
    let reader = match card.state.as_str() {
        "pcsc_unavailable" => check(
            "reader",
            texts::CHECK_READER,
            Level::Bad,
            texts::READER_PCSC_DOWN,
        ),
        "no_reader" => check(
            "reader",
            texts::CHECK_READER,
            Level::Bad,
            texts::READER_NONE,
        ),
        _ => check(
            "reader",
            texts::CHECK_READER,
            Level::Ok,
            card.reader.clone().unwrap_or_default(),
        ),
    };
    let reader_ok = reader.level == Level::Ok;
    out.push(reader);
    if !reader_ok {
        return;
    }
    let holder = card
        .holder
        .as_ref()
        .map(|h| h.name.clone())
        .unwrap_or_default();
    let present = match card.state.as_str() {
        "no_card" => check(
            "card-present",
            texts::CHECK_CARD_PRESENT,
            Level::Bad,
            texts::CARD_NONE,
        ),
        "not_cps" => check(
            "card-present",
            texts::CHECK_CARD_PRESENT,
            Level::Bad,
            texts::CARD_NOT_CPS,
        ),
        "card_error" => check(
            "card-present",
            texts::CHECK_CARD_PRESENT,
            Level::Bad,
            texts::CARD_UNREADABLE,
        ),
        _ => check("card-present", texts::CHECK_CARD_PRESENT, Level::Ok, holder),
    };
    let present_ok = present.level == Level::Ok;
    out.push(present);
    if !present_ok {
        return;
    }
    let tries = card.pin.map(|p| p.left).unwrap_or(0);
    let mut unlocked = match card.state.as_str() {
        "unlocked" => check(
            "card-unlocked",
            texts::CHECK_CARD_UNLOCKED,
            Level::Ok,
            texts::CARD_UNLOCKED,
        ),
        "blocked" => check(
            "card-unlocked",
            texts::CHECK_CARD_UNLOCKED,
            Level::Bad,
            texts::CARD_BLOCKED,
        ),
        _ => check(
            "card-unlocked",
            texts::CHECK_CARD_UNLOCKED,
            Level::Warn,
            texts::card_locked(tries),
        ),
    };
    if card.state == "locked" {
        unlocked.action = Some(("/card", texts::CARD_GO_UNLOCK));
    }
    if card.identity == "different" {
        unlocked.level = Level::Bad;
        unlocked.detail = texts::IDENTITY_DIFFERENT.into();
    }
    out.push(unlocked);
    if let Some(days) = card.expires_in_days {
        let level = match days {
            d if d < 0 => Level::Bad,
            d if d < 30 => Level::Warn,
            _ => Level::Ok,
        };
        out.push(check(
            "card-expiry",
            texts::CHECK_CARD_EXPIRY,
            level,
            texts::expires_in(days),
        ));
    }
}

/// The checks, in the order shown.
pub fn checks(status: &StatusView) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(card) = &status.card {
        card_checks(card, &mut out);
    }
    let credential = if status.credential.ready {
        let detail = if status.credential.kind == "software" {
            texts::SOFTWARE_CREDENTIAL
        } else {
            texts::CREDENTIAL_READY
        };
        check("credential", texts::CHECK_CREDENTIAL, Level::Ok, detail)
    } else {
        check(
            "credential",
            texts::CHECK_CREDENTIAL,
            Level::Bad,
            status
                .credential
                .reason
                .clone()
                .unwrap_or_else(|| texts::UNKNOWN.into()),
        )
    };
    // With Pro Santé Connect, the session is the credential: its line
    // says more than « ready » or not.
    match &status.psc {
        Some(psc) => out.push(psc_check(psc)),
        None => out.push(credential),
    }
    let d = &status.delivery;
    out.push(match d.state.as_str() {
        "running" => check(
            "operator",
            texts::CHECK_OPERATOR,
            Level::Ok,
            texts::OPERATOR_OK,
        ),
        "operator_unreachable" => check(
            "operator",
            texts::CHECK_OPERATOR,
            Level::Bad,
            texts::operator_unreachable(d.retry_in_secs),
        ),
        "credential_unavailable" => check(
            "operator",
            texts::CHECK_OPERATOR,
            Level::Warn,
            texts::sending_paused(d.reason.as_deref().unwrap_or(texts::UNKNOWN)),
        ),
        _ => check(
            "operator",
            texts::CHECK_OPERATOR,
            Level::Warn,
            texts::UNKNOWN,
        ),
    });
    let q = &status.queue;
    let level = if q.failed > 0 {
        Level::Bad
    } else if q.pending > 0 {
        Level::Warn
    } else {
        Level::Ok
    };
    out.push(check(
        "queue",
        texts::CHECK_QUEUE,
        level,
        texts::queue_summary(q.pending, q.failed),
    ));
    out.push(update_check(status));
    out
}

fn psc_check(psc: &PscView) -> Check {
    let level = match psc.state.as_str() {
        "connected" => Level::Ok,
        "connecting" | "awaiting_approval" => Level::Warn,
        _ => Level::Bad,
    };
    let mut c = check(
        "psc",
        texts::CHECK_PSC,
        level,
        super::psc::capitalised(&psc.message),
    );
    c.action = Some(("/psc", texts::PSC_SEE));
    c
}

/// Above everything while mail waits for the practitioner to log in to
/// Pro Santé Connect again (or to approve the request on the phone).
fn psc_alert(status: &StatusView) -> String {
    let Some(psc) = status.psc.as_ref().filter(|p| p.needs_practitioner()) else {
        return String::new();
    };
    let (detail, go) = match &psc.approval {
        Some(a) if psc.waiting() => (
            texts::psc_alert_waiting(&a.binding_message),
            texts::PSC_ALERT_FOLLOW,
        ),
        _ => {
            let mut detail = texts::PSC_ALERT_PAUSED.to_string();
            if let Some(e) = &psc.last_error {
                detail.push(' ');
                detail.push_str(&texts::psc_cause(e));
            }
            (detail, texts::PSC_ALERT_GO)
        }
    };
    format!(
        "<div class=\"notice notice-error alert-block\" role=\"alert\" data-alert=\"psc\">\
         <p><strong>{title}</strong></p><p>{detail}</p>\
         <p><a class=\"button-link\" href=\"/psc\">{go}</a></p></div>",
        title = esc(texts::PSC_ALERT),
        detail = esc(&detail),
        go = esc(go),
    )
}

/// The running version and the remote updates' state (`update` in the
/// daemon's status, when an update client is configured).
fn update_check(status: &StatusView) -> Check {
    let version = &status.version;
    match &status.update {
        None => check(
            "update",
            texts::CHECK_UPDATE,
            Level::Ok,
            texts::update_not_managed(version),
        ),
        Some(u) => {
            let (level, detail) = match (u.state.as_str(), &u.last_result) {
                ("idle", Some(r)) if !r.ok => {
                    (Level::Bad, texts::update_failed_line(version, &r.message))
                }
                ("idle", _) => (Level::Ok, texts::update_line(version, &u.state)),
                (state, _) => (Level::Warn, texts::update_line(version, state)),
            };
            let mut c = check("update", texts::CHECK_UPDATE, level, detail);
            c.action = Some(("/update", texts::NAV_UPDATE));
            c
        }
    }
}

fn render_check(c: &Check) -> String {
    let action = c
        .action
        .map(|(href, label)| format!(" <a href=\"{href}\">{}</a>", esc(label)))
        .unwrap_or_default();
    format!(
        "<li class=\"check check-{class}\" data-check=\"{id}\" data-level=\"{class}\">\
         <span class=\"light\" aria-hidden=\"true\"></span>\
         <span class=\"check-label\">{label}</span>\
         <strong class=\"check-level\">{word}</strong>\
         <span class=\"check-detail\">{detail}{action}</span></li>",
        class = c.level.class(),
        id = c.id,
        label = esc(c.label),
        word = esc(c.level.word()),
        detail = esc(&c.detail),
    )
}

/// The latest messages out, or nothing when they cannot be read (the
/// checks above already say when the daemon is down).
fn latest(latest: Option<&[TrackHit]>) -> String {
    let Some(hits) = latest else {
        return String::new();
    };
    let content = if hits.is_empty() {
        format!("<p>{}</p>", esc(texts::LATEST_NOTHING))
    } else {
        super::tracking::hits_table(texts::LATEST_TITLE, hits)
    };
    format!(
        "<section aria-labelledby=\"latest\"><h2 id=\"latest\">{}</h2>{content}\
         <p><a href=\"/tracking\">{}</a></p></section>",
        esc(texts::LATEST_TITLE),
        esc(texts::LATEST_ALL)
    )
}

/// The latest messages in: when, from whom, which import folder.
fn received(received: Option<&[crate::daemon::ReceivedView]>) -> String {
    let Some(list) = received else {
        return String::new();
    };
    let content = if list.is_empty() {
        format!("<p>{}</p>", esc(texts::RECEIVED_NOTHING))
    } else {
        let rows: String = list
            .iter()
            .map(|r| {
                let files = if r.problems > 0 {
                    texts::received_files_with_problems(r.files, r.problems)
                } else {
                    texts::received_files(r.files)
                };
                format!(
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    super::time(r.at),
                    esc(&r.from),
                    esc(&r.folder),
                    esc(&files)
                )
            })
            .collect();
        format!(
            "<table class=\"data\"><caption>{}</caption><thead><tr><th scope=\"col\">{}</th>\
             <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\
             <tbody>{rows}</tbody></table>",
            esc(texts::RECEIVED_TITLE),
            esc(texts::COL_RECEIVED_AT),
            esc(texts::COL_FROM),
            esc(texts::COL_IMPORT_FOLDER),
            esc(texts::COL_FILES),
        )
    };
    format!(
        "<section aria-labelledby=\"received\"><h2 id=\"received\">{}</h2>{content}</section>",
        esc(texts::RECEIVED_TITLE)
    )
}

/// `status`: the daemon's answer, or why there is none; `recent`: the
/// last messages out; `received` the last in; `lights`: more checks
/// (DNS, clock, disk).
/// The box's LED as the practice sees it on the desk, and the button to
/// find the box. Nothing when the daemon drives no board.
pub fn board_panel(csrf: &str, board: Option<&BoardView>, identified: bool) -> String {
    let Some(board) = board else {
        return String::new();
    };
    // The mode names come from the daemon: only known letters reach the
    // class attribute.
    let mode: String = board
        .mode
        .chars()
        .filter(|c| c.is_ascii_lowercase() || *c == '_')
        .collect();
    let done = if identified {
        notice("info", texts::BOARD_IDENTIFYING)
    } else {
        String::new()
    };
    format!(
        "<section aria-labelledby=\"board\"><h2 id=\"board\">{title}</h2>{done}\
         <p class=\"board-state\" data-board-mode=\"{mode}\">\
         <span class=\"led led-{mode}\" aria-hidden=\"true\"></span>\
         {light_word} <strong>{light}</strong> — {label}</p>\
         <form method=\"post\" action=\"/board/identify\">{csrf}\
         <button type=\"submit\">{identify}</button></form>\
         <p class=\"hint\">{hint}</p></section>",
        title = esc(texts::BOARD_TITLE),
        light_word = esc(texts::BOARD_LIGHT),
        light = esc(&board.light),
        label = esc(&board.label),
        csrf = super::csrf_field(csrf),
        identify = esc(texts::BOARD_IDENTIFY),
        hint = esc(texts::BOARD_IDENTIFY_HINT),
    )
}

pub fn dashboard(
    csrf: &str,
    status: Result<&StatusView, String>,
    recent: Option<&[TrackHit]>,
    received_list: Option<&[crate::daemon::ReceivedView]>,
    lights: &[Check],
    board: &str,
) -> String {
    let content = match status {
        Ok(status) => {
            let items: String = checks(status)
                .iter()
                .chain(lights)
                .map(render_check)
                .collect();
            format!("{}<ul class=\"checks\">{items}</ul>", psc_alert(status))
        }
        Err(reason) => notice("error", &reason),
    };
    let body = format!(
        "{content}<p><a href=\"/dashboard\" class=\"button-link\">{}</a></p>{board}{}{}",
        esc(texts::REFRESH),
        latest(recent),
        received(received_list)
    );
    super::layout_wide(
        texts::DASHBOARD_TITLE,
        Some(Nav {
            csrf,
            current: "/dashboard",
        }),
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::{UpdateResultView, UpdateView};

    #[test]
    fn the_board_panel_mirrors_the_led_and_offers_identify() {
        assert_eq!(board_panel("t", None, false), "");
        let board = BoardView {
            board: "simulated".into(),
            simulated: true,
            mode: "card_needed".into(),
            label: "Carte à insérer".into(),
            light: "orange clignotant lent".into(),
        };
        let html = board_panel("tok", Some(&board), true);
        assert!(html.contains("led led-card_needed\""), "{html}");
        let hostile = BoardView {
            mode: "x\"><script>".into(),
            ..board.clone()
        };
        let html_hostile = board_panel("tok", Some(&hostile), false);
        assert!(html_hostile.contains("led led-xscript\""), "{html_hostile}");
        assert!(!html_hostile.contains("<script>"));
        assert!(html.contains("orange clignotant lent"));
        assert!(html.contains("action=\"/board/identify\""));
        assert!(html.contains("value=\"tok\""));
        assert!(html.contains(texts::BOARD_IDENTIFYING));
    }

    #[test]
    fn pro_sante_connect_has_its_line_and_an_alert_when_the_practitioner_is_needed() {
        let mut status = StatusView {
            psc: Some(PscView {
                login: "ecps".into(),
                state: "reconnect_needed".into(),
                message: "reconnexion Pro Santé Connect nécessaire".into(),
                last_error: Some("la session Pro Santé Connect a pris fin".into()),
                ..PscView::default()
            }),
            ..StatusView::default()
        };
        let all = checks(&status);
        assert!(all.iter().all(|c| c.id != "credential"));
        let line = all.iter().find(|c| c.id == "psc").unwrap();
        assert_eq!(line.level, Level::Bad);
        assert_eq!(line.detail, "Reconnexion Pro Santé Connect nécessaire");
        assert_eq!(line.action.map(|a| a.0), Some("/psc"));
        let alert = psc_alert(&status);
        assert!(alert.contains("role=\"alert\"") && alert.contains(texts::PSC_ALERT));
        assert!(alert.contains("Cause : la session Pro Santé Connect a pris fin."));
        assert!(alert.contains("href=\"/psc\""));
        if let Some(p) = status.psc.as_mut() {
            p.state = "connected".into();
            p.message = "connecté à Pro Santé Connect".into();
        }
        assert_eq!(psc_alert(&status), "");
        assert_eq!(
            checks(&status)
                .iter()
                .find(|c| c.id == "psc")
                .unwrap()
                .level,
            Level::Ok
        );
        status.psc = None;
        assert!(checks(&status).iter().any(|c| c.id == "credential"));
    }

    #[test]
    fn the_update_light_follows_the_update_client() {
        let mut status = StatusView {
            version: "1.2.0".into(),
            ..StatusView::default()
        };
        let c = update_check(&status);
        assert_eq!(c.level, Level::Ok);
        assert!(c.detail.contains("1.2.0"));
        status.update = Some(UpdateView {
            state: "idle".into(),
            last_result: Some(UpdateResultView {
                ok: false,
                message: "signature refusée".into(),
                at: 1,
            }),
            ..UpdateView::default()
        });
        let c = update_check(&status);
        assert_eq!(c.level, Level::Bad);
        assert!(c.detail.contains("signature refusée"));
        assert_eq!(c.action.map(|a| a.0), Some("/update"));
        status.update = Some(UpdateView {
            state: "downloading".into(),
            ..UpdateView::default()
        });
        assert_eq!(update_check(&status).level, Level::Warn);
    }
}
