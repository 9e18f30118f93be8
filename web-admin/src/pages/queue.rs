//! The queue: one row per recipient still to send (pending or held), with
//! the actions that apply to it, and the confirmation before deleting.

use super::{Nav, csrf_field, esc, flash, layout, layout_wide, notice, time};
use crate::daemon::{QueueEntry, encode};
use crate::texts;

/// Whether a queue state can still be acted on.
pub fn actionable(status: &str) -> bool {
    status == "pending" || status == "held"
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        esc(value)
    )
}

fn action_form(
    csrf: &str,
    id: &str,
    action: &str,
    label: &str,
    recipient: &str,
    back: Option<&str>,
) -> String {
    format!(
        "<form method=\"post\" action=\"/queue/{id}/{action}\" class=\"inline\">{csrf}{rcpt}{back}\
         <button type=\"submit\" class=\"small\" data-action=\"{action}\" aria-label=\"{name}\">{label}</button></form>",
        id = encode(id),
        csrf = csrf_field(csrf),
        rcpt = hidden("recipient", recipient),
        back = back.map(|b| hidden("back", b)).unwrap_or_default(),
        name = esc(&texts::action_for(label, recipient)),
        label = esc(label),
    )
}

/// The buttons for one recipient in `status`; `back` is the timeline to
/// return to (its key), else the queue page.
pub(crate) fn actions(
    csrf: &str,
    id: &str,
    recipient: &str,
    status: &str,
    back: Option<&str>,
) -> String {
    let mut out = String::new();
    match status {
        "pending" => {
            out.push_str(&action_form(
                csrf,
                id,
                "hold",
                texts::ACTION_HOLD,
                recipient,
                back,
            ));
            out.push_str(&action_form(
                csrf,
                id,
                "retry",
                texts::ACTION_RETRY,
                recipient,
                back,
            ));
        }
        "held" => out.push_str(&action_form(
            csrf,
            id,
            "release",
            texts::ACTION_RELEASE,
            recipient,
            back,
        )),
        _ => return out,
    }
    let mut href = format!(
        "/queue/{}/delete?recipient={}",
        encode(id),
        encode(recipient)
    );
    if let Some(b) = back {
        href.push_str("&back=");
        href.push_str(&encode(b));
    }
    out.push_str(&format!(
        "<a href=\"{}\" class=\"button-link small danger\" data-action=\"delete\" aria-label=\"{}\">{}</a>",
        esc(&href),
        esc(&texts::action_for(texts::ACTION_DELETE, recipient)),
        esc(texts::ACTION_DELETE)
    ));
    format!("<div class=\"actions\">{out}</div>")
}

fn state_cell(status: &str) -> String {
    format!(
        "<span class=\"state state-{s}\" data-state=\"{s}\">{}</span>",
        esc(texts::state_label(status)),
        s = esc(status)
    )
}

pub fn queue(
    csrf: &str,
    flash_msg: Option<(&str, &str)>,
    entries: Result<&[QueueEntry], String>,
) -> String {
    let content = match entries {
        Err(reason) => notice("error", &reason),
        Ok(entries) => {
            let rows: String = entries
                .iter()
                .filter(|e| actionable(&e.status))
                .map(|e| {
                    let next = if e.status == "held" {
                        esc(texts::NEVER_WHILE_HELD)
                    } else if e.next_attempt <= e.received_at {
                        esc(texts::NOW)
                    } else {
                        time(e.next_attempt)
                    };
                    format!(
                        "<tr data-queue-id=\"{id}\" data-recipient=\"{rcpt}\">\
                         <td><code>{id}</code></td><td>{rcpt}</td><td>{state}</td>\
                         <td>{attempts}</td><td>{next}</td><td>{reply}</td><td>{actions}</td></tr>",
                        id = esc(&e.id),
                        rcpt = esc(&e.recipient),
                        state = state_cell(&e.status),
                        attempts = e.attempts,
                        reply = esc(e.last_reply.as_deref().unwrap_or(texts::NONE)),
                        actions = actions(csrf, &e.id, &e.recipient, &e.status, None),
                    )
                })
                .collect();
            if rows.is_empty() {
                format!("<p data-empty=\"queue\">{}</p>", esc(texts::QUEUE_NOTHING))
            } else {
                format!(
                    "<table class=\"data\"><caption>{caption}</caption><thead><tr>\
                     <th scope=\"col\">{c1}</th><th scope=\"col\">{c2}</th><th scope=\"col\">{c3}</th>\
                     <th scope=\"col\">{c4}</th><th scope=\"col\">{c5}</th><th scope=\"col\">{c6}</th>\
                     <th scope=\"col\">{c7}</th></tr></thead><tbody>{rows}</tbody></table>",
                    caption = esc(texts::QUEUE_INTRO),
                    c1 = esc(texts::COL_QUEUE_ID),
                    c2 = esc(texts::COL_RECIPIENT),
                    c3 = esc(texts::COL_STATE),
                    c4 = esc(texts::COL_ATTEMPTS),
                    c5 = esc(texts::COL_NEXT),
                    c6 = esc(texts::COL_REPLY),
                    c7 = esc(texts::COL_ACTIONS),
                )
            }
        }
    };
    let body = format!(
        "{}{content}<p><a href=\"/queue\" class=\"button-link\">{}</a></p>",
        flash(flash_msg),
        esc(texts::REFRESH)
    );
    layout_wide(
        texts::QUEUE_TITLE,
        Some(Nav {
            csrf,
            current: "/queue",
        }),
        &body,
    )
}

/// What will be deleted, and the form that confirms it. `entries` are the
/// rows of this message that can still be deleted (the chosen recipient,
/// or all of them).
pub fn delete_confirmation(
    csrf: &str,
    id: &str,
    recipient: Option<&str>,
    back: Option<&str>,
    entries: &[QueueEntry],
) -> String {
    let first = entries.first();
    let fact =
        |label: &str, value: String| format!("<div><dt>{}</dt><dd>{value}</dd></div>", esc(label));
    let recipients = match recipient {
        Some(r) => esc(r),
        None => {
            let all: Vec<String> = entries.iter().map(|e| esc(&e.recipient)).collect();
            format!("{} ({})", esc(texts::DELETE_ALL_RECIPIENTS), all.join(", "))
        }
    };
    let mut facts = fact(texts::COL_QUEUE_ID, format!("<code>{}</code>", esc(id)));
    facts.push_str(&fact(texts::COL_RECIPIENT, recipients));
    if let Some(e) = first {
        facts.push_str(&fact(texts::FROM, esc(&e.sender)));
        facts.push_str(&fact(texts::RECEIVED, time(e.received_at)));
        if recipient.is_some() {
            facts.push_str(&fact(texts::COL_STATE, state_cell(&e.status)));
            facts.push_str(&fact(texts::COL_ATTEMPTS, e.attempts.to_string()));
        }
    }
    let cancel = match back {
        Some(b) => format!("/tracking/{}", encode(b)),
        None => "/queue".to_string(),
    };
    let body = format!(
        "<dl class=\"facts\">{facts}</dl>{warning}\
         <form method=\"post\" action=\"/queue/{eid}/delete\" class=\"form\">{csrf}{rcpt}{back}\
         <div class=\"field checkbox\"><input id=\"confirm\" name=\"confirm\" type=\"checkbox\" value=\"1\" required>\
         <label for=\"confirm\">{confirm}</label></div>\
         <button type=\"submit\" class=\"danger\">{submit}</button> \
         <a href=\"{cancel}\">{cancel_label}</a></form>",
        warning = notice("warn", texts::DELETE_WARNING),
        eid = encode(id),
        csrf = csrf_field(csrf),
        rcpt = recipient
            .map(|r| hidden("recipient", r))
            .unwrap_or_default(),
        back = back.map(|b| hidden("back", b)).unwrap_or_default(),
        confirm = esc(texts::DELETE_CONFIRM_LABEL),
        submit = esc(texts::DELETE_SUBMIT),
        cancel = esc(&cancel),
        cancel_label = esc(texts::DELETE_CANCEL),
    );
    layout(
        texts::DELETE_TITLE,
        Some(Nav {
            csrf,
            current: "/queue",
        }),
        &body,
    )
}
