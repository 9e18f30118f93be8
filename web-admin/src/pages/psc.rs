//! « Pro Santé Connect »: how the box is connected to the national
//! identity service on the practitioner's behalf, the login (card or
//! e-CPS app) and the logout.
//!
//! While an e-CPS request waits on the phone, `static/psc.js` asks
//! `/psc/state` every 2 s and puts the new panel ([`psc_panel`]) and the
//! outcome ([`psc_outcome`]) in place; without it, the page says to reload.

use super::wizard::radio;
use super::{Nav, csrf_field, esc, layout, notice, time};
use crate::daemon::PscView;
use crate::texts;

/// The script's tag, added to the head while a request waits.
const FOLLOWER: &str = "<script src=\"/static/psc.js\" defer></script>";

/// The daemon's lines start in lower case (they also end up inside
/// sentences); alone on a line they take a capital.
pub(crate) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn fact(label: &str, value_html: &str, id: &str) -> String {
    format!(
        "<div><dt>{}</dt><dd data-field=\"{id}\">{value_html}</dd></div>",
        esc(label)
    )
}

/// `at` and the time left until then.
fn until(at: i64, now: i64) -> String {
    format!("{} ({})", time(at), esc(&texts::time_left(at - now)))
}

/// The part of the page that changes with the session: what waits on the
/// phone, the facts, the login form or the logout link. `typed_id` is the
/// identifier just sent, shown again after a refusal.
pub fn psc_panel(csrf: &str, v: &PscView, now: i64, typed_id: Option<&str>) -> String {
    let mut out = String::new();
    if v.waiting() {
        out.push_str(&approval(v, now));
    }
    let mut facts = vec![
        fact(texts::PSC_STATE, &esc(&capitalised(&v.message)), "state"),
        fact(
            texts::PSC_METHOD,
            &esc(if v.ecps() {
                texts::PSC_BY_ECPS
            } else {
                texts::PSC_BY_CARD
            }),
            "method",
        ),
        fact(
            texts::PSC_NATIONAL_ID,
            &esc(v.national_id.as_deref().unwrap_or(texts::NONE)),
            "national-id",
        ),
    ];
    if let Some(since) = v.connected_since {
        facts.push(fact(
            texts::PSC_CONNECTED_SINCE,
            &time(since),
            "connected-since",
        ));
    }
    if let Some(end) = v.session_expires_at {
        facts.push(fact(
            texts::PSC_SESSION_END,
            &until(end, now),
            "session-end",
        ));
    }
    if let Some(access) = v.access_expires_at
        && v.state == "connected"
    {
        facts.push(fact(
            texts::PSC_RENEWAL,
            // Both parts are HTML already.
            &texts::psc_renewal(&time(access), &esc(&texts::time_left(access - now))),
            "renewal",
        ));
    }
    if let Some(error) = &v.last_error {
        facts.push(fact(texts::PSC_LAST_ERROR, &esc(error), "last-error"));
    }
    out.push_str(&format!("<dl class=\"facts\">{}</dl>", facts.concat()));
    if !matches!(v.state.as_str(), "connected" | "connecting") {
        out.push_str(&login_form(csrf, v, typed_id));
    }
    // A session to end: its tokens are there since it was opened.
    if v.connected_since.is_some() {
        out.push_str(&format!(
            "<p><a class=\"button-link danger\" href=\"/psc/logout\">{}</a></p>",
            esc(texts::PSC_LOGOUT)
        ));
    }
    out
}

/// What to do on the phone, and for how long.
fn approval(v: &PscView, now: i64) -> String {
    let Some(a) = &v.approval else {
        return format!(
            "<div class=\"notice notice-info\" data-psc=\"approval\"><p>{}</p></div>",
            esc(&capitalised(&v.message))
        );
    };
    format!(
        "<div class=\"notice notice-info\" data-psc=\"approval\">\
         <p><strong>{ask}</strong></p>\
         <p>{left_label} <span data-field=\"approval-left\">{left}</span> ({at}).</p>\
         <p class=\"hint\">{following} <a href=\"/psc\">{reload}</a></p></div>",
        ask = esc(&texts::psc_approve_on_phone(&a.binding_message)),
        left_label = esc(texts::PSC_APPROVAL_LEFT),
        left = esc(&texts::time_left(a.expires_at - now)),
        at = time(a.expires_at),
        following = esc(texts::PSC_FOLLOWING),
        reload = esc(texts::PSC_RELOAD),
    )
}

fn login_form(csrf: &str, v: &PscView, typed_id: Option<&str>) -> String {
    let submit = if v.waiting() {
        texts::PSC_LOGIN_AGAIN
    } else {
        texts::PSC_LOGIN
    };
    let fields = if v.ecps() {
        let value = typed_id
            .or(v.approval.as_ref().map(|a| a.national_id.as_str()))
            .or(v.national_id.as_deref())
            .unwrap_or("");
        format!(
            "<div class=\"field\"><label for=\"national_id\">{label}</label>\
             <input id=\"national_id\" name=\"national_id\" type=\"text\" inputmode=\"numeric\" \
             autocomplete=\"off\" pattern=\"[0-9]{{9,12}}\" minlength=\"9\" maxlength=\"12\" required \
             value=\"{value}\" aria-describedby=\"national_id-hint\">\
             <p class=\"hint\" id=\"national_id-hint\">{hint}</p></div>",
            label = esc(texts::PSC_NATIONAL_ID),
            value = esc(value),
            hint = esc(texts::PSC_ID_HINT),
        )
    } else {
        format!("<p class=\"hint\">{}</p>", esc(texts::PSC_CARD_HINT))
    };
    format!(
        "<form method=\"post\" action=\"/psc/login\" class=\"form\">{csrf}{fields}\
         <button type=\"submit\">{submit}</button></form>",
        csrf = csrf_field(csrf),
        submit = esc(submit),
    )
}

/// Once a request stopped waiting: whether it succeeded, and the sentence
/// that says so.
pub fn psc_outcome(v: &PscView) -> (bool, String) {
    match (v.state.as_str(), &v.last_error) {
        ("connected", None) => (true, texts::PSC_CONNECTED.into()),
        ("connected", Some(e)) => (false, texts::psc_new_login_failed(e)),
        (_, Some(e)) => (false, texts::psc_login_failed(e)),
        (_, None) => (false, capitalised(&v.message)),
    }
}

/// What was just sent and refused, shown again in its form.
#[derive(Debug, Clone, Copy, Default)]
pub struct PscTyped<'a> {
    /// The identifier of a login.
    pub national_id: Option<&'a str>,
    /// The mode of connection chosen (`card`, `ecps` or anything sent)
    /// and the identifier to keep.
    pub mode: Option<(&'a str, &'a str)>,
}

/// « Mode de connexion »: the card or the e-CPS app, and the identifier
/// the e-CPS requests go to. The identifier's field only matters for
/// e-CPS: the stylesheet hides it while the card is chosen (`:has`), and
/// without that it stays visible with its label saying what it is for.
fn mode_form(csrf: &str, v: &PscView, typed: Option<(&str, &str)>) -> String {
    let (login, national_id) = match typed {
        Some((login, id)) => (login, id),
        None => (v.login.as_str(), v.national_id.as_deref().unwrap_or("")),
    };
    format!(
        "<section aria-labelledby=\"psc-mode-title\"><h2 id=\"psc-mode-title\">{title}</h2>\
         <form method=\"post\" action=\"/psc/mode\" class=\"form psc-mode\">{csrf}\
         <fieldset><legend>{legend}</legend>{card}{ecps}</fieldset>\
         <div class=\"field ecps-only\"><label for=\"mode-national-id\">{id_label}</label>\
         <input id=\"mode-national-id\" name=\"national_id\" type=\"text\" inputmode=\"numeric\" \
         autocomplete=\"off\" value=\"{id}\" aria-describedby=\"mode-national-id-hint\">\
         <p class=\"hint\" id=\"mode-national-id-hint\">{id_hint}</p></div>\
         <p class=\"hint\">{restart}</p>\
         <button type=\"submit\">{save}</button></form></section>",
        title = esc(texts::PSC_MODE_TITLE),
        csrf = csrf_field(csrf),
        legend = esc(texts::PSC_MODE_LEGEND),
        card = radio(
            "login",
            "card",
            texts::PSC_MODE_CARD,
            login == "card",
            Some(texts::PSC_MODE_CARD_HINT),
        ),
        ecps = radio(
            "login",
            "ecps",
            texts::PSC_MODE_ECPS,
            login == "ecps",
            Some(texts::PSC_MODE_ECPS_HINT),
        ),
        id_label = esc(texts::PSC_MODE_NATIONAL_ID),
        id = esc(national_id),
        id_hint = esc(texts::PSC_MODE_ID_HINT),
        restart = esc(texts::PSC_MODE_RESTART),
        save = esc(texts::PSC_MODE_SAVE),
    )
}

/// The page: `view` is the daemon's answer (`None`: the box does not use
/// Pro Santé Connect) or why there is none; `error` a refusal of the last
/// action, `flash` the outcome of the one before the redirect.
pub fn psc(
    csrf: &str,
    view: Result<Option<&PscView>, String>,
    flash: Option<(&str, &str)>,
    error: Option<&str>,
    now: i64,
    typed: PscTyped<'_>,
) -> String {
    let mut body = flash.map(|(k, t)| notice(k, t)).unwrap_or_default();
    if let Some(e) = error {
        body.push_str(&notice("error", e));
    }
    let waiting = matches!(&view, Ok(Some(v)) if v.waiting());
    match view {
        Err(e) => body.push_str(&notice("error", &e)),
        Ok(None) => body.push_str(&format!("<p>{}</p>", esc(texts::PSC_NOT_USED))),
        Ok(Some(v)) => body.push_str(&format!(
            "<p>{intro}</p><div id=\"psc-outcome\" role=\"status\"></div>\
             <div id=\"psc-panel\">{panel}</div>{mode}",
            intro = esc(texts::PSC_INTRO),
            panel = psc_panel(csrf, v, now, typed.national_id),
            mode = mode_form(csrf, v, typed.mode),
        )),
    }
    let page = layout(
        texts::PSC_TITLE,
        Some(Nav {
            csrf,
            current: "/psc",
        }),
        &body,
    );
    if waiting {
        page.replacen("</head>", &format!("{FOLLOWER}</head>"), 1)
    } else {
        page
    }
}

/// The logout's confirmation, like other actions that stop something.
pub fn psc_logout_confirmation(csrf: &str) -> String {
    let body = format!(
        "{warning}<form method=\"post\" action=\"/psc/logout\" class=\"form\">{csrf}\
         <div class=\"field checkbox\"><input id=\"confirm\" name=\"confirm\" type=\"checkbox\" value=\"1\" required>\
         <label for=\"confirm\">{confirm}</label></div>\
         <button type=\"submit\" class=\"danger\">{submit}</button> \
         <a href=\"/psc\">{cancel}</a></form>",
        warning = notice("warn", texts::PSC_LOGOUT_WARNING),
        csrf = csrf_field(csrf),
        confirm = esc(texts::PSC_LOGOUT_CONFIRM),
        submit = esc(texts::PSC_LOGOUT),
        cancel = esc(texts::CANCEL),
    );
    layout(
        texts::PSC_LOGOUT_TITLE,
        Some(Nav {
            csrf,
            current: "/psc",
        }),
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::ApprovalView;

    const NOW: i64 = 1_768_440_600;

    fn waiting() -> PscView {
        PscView {
            login: "ecps".into(),
            state: "awaiting_approval".into(),
            message: "validez la demande « FACTEUR-7K3F » dans l'application e-CPS".into(),
            national_id: Some("899700000001".into()),
            approval: Some(ApprovalView {
                national_id: "899700000001".into(),
                binding_message: "FACTEUR-7K3F".into(),
                expires_at: NOW + 105,
            }),
            ..PscView::default()
        }
    }

    #[test]
    fn a_waiting_request_says_what_to_do_on_the_phone_and_loads_the_follower() {
        let html = psc(
            "tok",
            Ok(Some(&waiting())),
            None,
            None,
            NOW,
            PscTyped::default(),
        );
        assert!(
            html.contains(
                "Ouvrez l’application e-CPS sur votre téléphone et validez la demande « FACTEUR-7K3F »."
            ),
            "{html}"
        );
        assert!(html.contains("encore 1 min 45 s"));
        assert!(html.contains("<script src=\"/static/psc.js\" defer></script></head>"));
        assert!(html.contains("id=\"psc-outcome\" role=\"status\""));
        assert!(html.contains(texts::PSC_LOGIN_AGAIN));
        assert!(!html.contains("<script>") && !html.contains("style="));
        // Nothing waits: no script.
        let idle = PscView {
            state: "reconnect_needed".into(),
            message: "reconnexion Pro Santé Connect nécessaire".into(),
            approval: None,
            ..waiting()
        };
        let html = psc("tok", Ok(Some(&idle)), None, None, NOW, PscTyped::default());
        assert!(!html.contains("<script"));
        assert!(html.contains("Reconnexion Pro Santé Connect nécessaire"));
        assert!(html.contains("value=\"899700000001\""));
        assert!(html.contains(">Se connecter</button>"));
        assert!(!html.contains("/psc/logout"));
    }

    #[test]
    fn a_connected_session_shows_its_times_and_offers_the_logout() {
        let v = PscView {
            login: "card".into(),
            state: "connected".into(),
            message: "connecté à Pro Santé Connect".into(),
            national_id: Some("899700000001".into()),
            connected_since: Some(NOW - 600),
            access_expires_at: Some(NOW + 25 * 60),
            session_expires_at: Some(NOW + 2 * 3600 + 10 * 60 + 30),
            last_error: Some("jeton <refusé>".into()),
            ..PscView::default()
        };
        let panel = psc_panel("tok", &v, NOW, None);
        assert!(panel.contains("Connecté à Pro Santé Connect"));
        assert!(panel.contains(texts::PSC_BY_CARD));
        assert!(panel.contains("encore 2 h 10 min"), "{panel}");
        assert!(panel.contains("automatique, avant <time"));
        assert!(panel.contains("encore 25 min"));
        assert!(panel.contains("jeton &lt;refusé&gt;"));
        assert!(panel.contains("href=\"/psc/logout\""));
        assert!(!panel.contains("action=\"/psc/login\""));
    }

    #[test]
    fn outcomes() {
        let mut v = waiting();
        v.state = "connected".into();
        assert_eq!(psc_outcome(&v), (true, texts::PSC_CONNECTED.to_string()));
        v.last_error = Some("demande refusée dans l'application e-CPS".into());
        assert!(!psc_outcome(&v).0 && psc_outcome(&v).1.contains("continue"));
        v.state = "reconnect_needed".into();
        assert_eq!(
            psc_outcome(&v).1,
            "La connexion n’a pas abouti : demande refusée dans l'application e-CPS."
        );
    }

    #[test]
    fn the_mode_shows_the_current_choice_or_the_one_sent_escaped() {
        let html = psc(
            "tok",
            Ok(Some(&waiting())),
            None,
            None,
            NOW,
            PscTyped::default(),
        );
        assert!(html.contains("value=\"ecps\" checked"), "{html}");
        assert!(!html.contains("value=\"card\" checked"));
        assert!(html.contains("class=\"field ecps-only\""));
        let html = psc(
            "tok",
            Ok(Some(&waiting())),
            None,
            Some(texts::PSC_BAD_NATIONAL_ID),
            NOW,
            PscTyped {
                national_id: None,
                mode: Some(("card", "\"><b>")),
            },
        );
        assert!(html.contains("value=\"card\" checked"));
        assert!(!html.contains("value=\"ecps\" checked"));
        assert!(
            html.contains(
                "value=\"&quot;&gt;&lt;b&gt;\" aria-describedby=\"mode-national-id-hint\""
            )
        );
        // No Pro Santé Connect: nothing to choose.
        let html = psc("tok", Ok(None), None, None, NOW, PscTyped::default());
        assert!(!html.contains("/psc/mode"));
    }

    #[test]
    fn a_typed_identifier_is_shown_again_escaped() {
        let v = PscView {
            state: "reconnect_needed".into(),
            ..waiting()
        };
        let panel = psc_panel("tok", &v, NOW, Some("\"><b>"));
        assert!(panel.contains("value=\"&quot;&gt;&lt;b&gt;\""));
    }
}
