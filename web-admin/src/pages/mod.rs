//! Server-rendered pages: plain functions returning HTML, every dynamic
//! value escaped with [`esc`]. One stylesheet, no inline script or style;
//! the only script is `static/psc.js`, which follows an e-CPS approval on
//! « Pro Santé Connect » (the page works without it).

mod audit;
mod card;
mod contacts;
mod dashboard;
mod diagnostics;
mod directory;
mod login;
mod paper;
mod psc;
mod queue;
mod setup;
mod tracking;
mod update;
mod wizard;

pub use audit::{AuditPage, audit};
pub use card::card;
pub use contacts::{contacts, remove_confirmation};
pub use dashboard::{Check, Level, board_panel, checks, dashboard};
pub use diagnostics::{LogsForm, diagnostic_lights, diagnostics, logs};
pub use directory::directory;
pub use login::login;
pub use paper::paper;
pub use psc::{PscTyped, psc, psc_logout_confirmation, psc_outcome, psc_panel};
pub use queue::{actionable, delete_confirmation, queue};
pub use setup::setup;
pub use tracking::{SearchForm, timeline, tracking};
pub use update::update;
pub use wizard::{
    MailboxForm, account_removal, accounts, backup, card_step, certificate, field_name,
    mailbox_step, network, network_applied, network_confirm, restart, restarting, settings,
    test_step, unfinished_banner,
};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::texts;

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

tokio::task_local! {
    /// Whether the nav of the page being rendered offers « Pro Santé
    /// Connect »: the app's flag, set around each request by the router,
    /// so no page function needs to be told.
    static NAV_PSC: Arc<AtomicBool>;
}

/// Runs `handler` with the nav's « Pro Santé Connect » entry following
/// `psc` (read when each page is rendered).
pub async fn with_psc_nav<F: std::future::Future>(psc: Arc<AtomicBool>, handler: F) -> F::Output {
    NAV_PSC.scope(psc, handler).await
}

/// Outside a request (unit tests), the entry is left out.
fn nav_offers_psc() -> bool {
    NAV_PSC
        .try_with(|psc| psc.load(Ordering::Relaxed))
        .unwrap_or(false)
}

/// For an authenticated page: the CSRF token of the session (for the
/// logout button in the header).
pub struct Nav<'a> {
    pub csrf: &'a str,
    pub current: &'a str,
}

pub fn layout(title: &str, nav: Option<Nav<'_>>, body: &str) -> String {
    layout_with(title, nav, body, false)
}

/// As [`layout`], with room for tables.
pub fn layout_wide(title: &str, nav: Option<Nav<'_>>, body: &str) -> String {
    layout_with(title, nav, body, true)
}

fn layout_with(title: &str, nav: Option<Nav<'_>>, body: &str, wide: bool) -> String {
    let nav_html = match nav {
        Some(nav) => {
            let link = |href: &str, label: &str| {
                let current = if nav.current == href {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                format!("<li><a href=\"{href}\"{current}>{}</a></li>", esc(label))
            };
            format!(
                "<nav aria-label=\"{}\"><ul>{}{}</ul>\
                 <form method=\"post\" action=\"/logout\" class=\"logout\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button type=\"submit\">{}</button></form></nav>",
                esc(texts::NAV_LABEL),
                link("/dashboard", texts::NAV_DASHBOARD),
                [
                    link("/card", texts::NAV_CARD),
                    if nav_offers_psc() {
                        link("/psc", texts::NAV_PSC)
                    } else {
                        String::new()
                    },
                    link("/queue", texts::NAV_QUEUE),
                    link("/tracking", texts::NAV_TRACKING),
                    link("/contacts", texts::NAV_CONTACTS),
                    link("/directory", texts::NAV_DIRECTORY),
                    link("/paper", texts::NAV_PAPER),
                    link("/audit", texts::NAV_AUDIT),
                    link("/accounts", texts::NAV_ACCOUNTS),
                    link("/settings", texts::NAV_SETTINGS),
                    link("/update", texts::NAV_UPDATE),
                    link("/diagnostics", texts::NAV_DIAGNOSTICS),
                    link("/logs", texts::NAV_LOGS),
                ]
                .concat(),
                esc(nav.csrf),
                esc(texts::NAV_LOGOUT),
            )
        }
        None => String::new(),
    };
    format!(
        "<!doctype html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} – {app}</title>\
         <link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/static/facteur.css\"></head>\
         <body><a class=\"skip\" href=\"#contenu\">{skip}</a>\
         <header><p class=\"brand\">{app}</p>{nav_html}</header>\
         <main id=\"contenu\"{main_class}><h1>{title}</h1>{body}</main></body></html>\n",
        title = esc(title),
        app = esc(texts::APP_NAME),
        skip = esc(texts::SKIP_TO_CONTENT),
        main_class = if wide { " class=\"wide\"" } else { "" },
    )
}

/// A notice box: `kind` is `error` (announced at once) or `info`.
pub fn notice(kind: &str, text: &str) -> String {
    let role = if kind == "error" { "alert" } else { "status" };
    format!(
        "<p class=\"notice notice-{kind}\" role=\"{role}\">{}</p>",
        esc(text)
    )
}

/// A page that only says something (errors).
pub fn message(title: &str, text: &str) -> String {
    layout(
        title,
        None,
        &format!(
            "<p>{}</p><p><a href=\"/\">{}</a></p>",
            esc(text),
            esc(texts::BACK_HOME)
        ),
    )
}

/// A flash message kept across a redirect, if any.
pub fn flash(flash: Option<(&str, &str)>) -> String {
    flash
        .map(|(kind, text)| notice(kind, text))
        .unwrap_or_default()
}

/// `<time>` with the French local time, or a dash.
pub fn time(at: i64) -> String {
    if at <= 0 {
        return esc(texts::NONE);
    }
    format!(
        "<time datetime=\"{}\">{}</time>",
        at,
        esc(&crate::localtime::format(at))
    )
}

pub(crate) fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn no_inline_script_or_style() {
        let page = layout(
            "T",
            Some(Nav {
                csrf: "x",
                current: "/card",
            }),
            "<p>b</p>",
        );
        assert!(!page.contains("<script"));
        assert!(!page.contains("style="));
        assert!(!page.contains("<style"));
        assert!(page.contains("lang=\"fr\""));
    }
}
