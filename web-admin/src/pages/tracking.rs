//! Message tracking: the search form and its results, and the timeline
//! of one message, recipient by recipient.

use super::queue::actions;
use super::{Nav, esc, flash, layout_wide, notice, time};
use crate::daemon::{MessageTimeline, TrackHit, encode};
use crate::texts;

/// The search form as typed (already checked), to fill it again.
#[derive(Debug, Clone, Default)]
pub struct SearchForm {
    pub q: String,
    pub state: String,
    pub from: String,
    pub to: String,
}

fn search_form(form: &SearchForm) -> String {
    let mut options = format!(
        "<option value=\"\">{}</option>",
        esc(texts::SEARCH_ANY_STATE)
    );
    for state in texts::SEARCH_STATES {
        let selected = if form.state == state { " selected" } else { "" };
        options.push_str(&format!(
            "<option value=\"{state}\"{selected}>{}</option>",
            esc(texts::tracking_state_label(state))
        ));
    }
    format!(
        "<form method=\"get\" action=\"/tracking\" class=\"form search\" role=\"search\">\
         <div class=\"field\"><label for=\"q\">{ql}</label>\
         <input id=\"q\" name=\"q\" type=\"text\" maxlength=\"200\" value=\"{q}\" aria-describedby=\"q-hint\">\
         <p class=\"hint\" id=\"q-hint\">{qh}</p></div>\
         <div class=\"field-row\">\
         <div class=\"field\"><label for=\"state\">{sl}</label><select id=\"state\" name=\"state\">{options}</select></div>\
         <div class=\"field\"><label for=\"from\">{fl}</label>\
         <input id=\"from\" name=\"from\" type=\"date\" min=\"2000-01-01\" max=\"2999-12-31\" value=\"{from}\"></div>\
         <div class=\"field\"><label for=\"to\">{tl}</label>\
         <input id=\"to\" name=\"to\" type=\"date\" min=\"2000-01-01\" max=\"2999-12-31\" value=\"{to}\"></div>\
         </div><button type=\"submit\">{submit}</button></form>",
        ql = esc(texts::SEARCH_TEXT_LABEL),
        q = esc(&form.q),
        qh = esc(texts::SEARCH_TEXT_HINT),
        sl = esc(texts::SEARCH_STATE_LABEL),
        fl = esc(texts::SEARCH_FROM_LABEL),
        from = esc(&form.from),
        tl = esc(texts::SEARCH_TO_LABEL),
        to = esc(&form.to),
        submit = esc(texts::SEARCH_SUBMIT),
    )
}

fn tracking_state(state: &str, detail: Option<&str>) -> String {
    let label = match (state, detail) {
        ("failed", Some(d)) if !d.is_empty() => format!("{} : {d}", texts::state_label("failed")),
        _ => texts::tracking_state_label(state).to_string(),
    };
    format!(
        "<span class=\"state state-{s}\" data-state=\"{s}\">{}</span>",
        esc(&label),
        s = esc(state)
    )
}

/// The key a hit's timeline is found by.
fn timeline_key(hit: &TrackHit) -> Option<&str> {
    hit.message_id.as_deref().or(hit.queue_id.as_deref())
}

/// A results table (also the dashboard's latest messages).
pub(crate) fn hits_table(caption: &str, hits: &[TrackHit]) -> String {
    // The patient column only when a hit has one (documents with a sidecar).
    let with_patient = hits.iter().any(|h| h.patient.is_some());
    let patient_cell = |h: &TrackHit| match (&h.patient, with_patient) {
        (_, false) => String::new(),
        (Some(p), true) => format!(
            "<td data-patient>{}</td>",
            esc(&texts::patient_with_ins(p, h.patient_ins.as_deref()))
        ),
        (None, true) => format!("<td>{}</td>", esc(texts::NONE)),
    };
    let rows: String = hits
        .iter()
        .map(|h| {
            let link = match timeline_key(h) {
                Some(key) => format!(
                    "<a href=\"/tracking/{}\" aria-label=\"{} ({})\">{}</a>",
                    esc(&encode(key)),
                    esc(texts::TIMELINE_LINK),
                    esc(&h.recipient),
                    esc(texts::TIMELINE_LINK)
                ),
                None => esc(texts::NONE),
            };
            let receipt = if h.receipt_requested {
                format!(" <span class=\"hint\">({})</span>", esc(texts::RECEIPT_ASKED))
            } else {
                String::new()
            };
            format!(
                "<tr data-message-id=\"{mid}\" data-queue-id=\"{qid}\" data-recipient=\"{rcpt}\">\
                 <td>{sent}</td><td>{rcpt}</td>{patient}<td>{state}{receipt}</td><td>{updated}</td><td>{link}</td></tr>",
                patient = patient_cell(h),
                mid = esc(h.message_id.as_deref().unwrap_or("")),
                qid = esc(h.queue_id.as_deref().unwrap_or("")),
                rcpt = esc(&h.recipient),
                sent = time(h.sent_at),
                state = tracking_state(&h.state, h.detail.as_deref()),
                updated = time(h.updated_at),
            )
        })
        .collect();
    format!(
        "<table class=\"data\"><caption>{caption}</caption><thead><tr>\
         <th scope=\"col\">{c1}</th><th scope=\"col\">{c2}</th>{cp}<th scope=\"col\">{c3}</th>\
         <th scope=\"col\">{c4}</th><th scope=\"col\">{c5}</th></tr></thead><tbody>{rows}</tbody></table>",
        cp = if with_patient {
            format!("<th scope=\"col\">{}</th>", esc(texts::COL_PATIENT))
        } else {
            String::new()
        },
        caption = esc(caption),
        c1 = esc(texts::COL_SENT_AT),
        c2 = esc(texts::COL_RECIPIENT),
        c3 = esc(texts::COL_STATE),
        c4 = esc(texts::COL_UPDATED),
        c5 = esc(texts::COL_MESSAGE),
    )
}

/// `error`: a refused input (400); `results`: the hits or why there are none.
pub fn tracking(
    csrf: &str,
    form: &SearchForm,
    error: Option<&str>,
    results: Option<Result<&[TrackHit], String>>,
    limit: usize,
) -> String {
    let error_html = error.map(|e| notice("error", e)).unwrap_or_default();
    let results_html = match results {
        None => String::new(),
        Some(Err(reason)) => notice("error", &reason),
        Some(Ok([])) => format!(
            "<p role=\"status\" data-empty=\"tracking\">{}</p>",
            esc(texts::SEARCH_NOTHING)
        ),
        Some(Ok(hits)) => format!(
            "<p role=\"status\">{}</p>{}",
            esc(&texts::search_count(hits.len(), limit)),
            hits_table(texts::SEARCH_CAPTION, hits)
        ),
    };
    layout_wide(
        texts::TRACKING_TITLE,
        Some(Nav {
            csrf,
            current: "/tracking",
        }),
        &format!("{error_html}{}{results_html}", search_form(form)),
    )
}

/// The timeline page of a message found by `key`.
pub fn timeline(
    csrf: &str,
    flash_msg: Option<(&str, &str)>,
    key: &str,
    t: &MessageTimeline,
) -> String {
    let fact =
        |label: &str, value: String| format!("<div><dt>{}</dt><dd>{value}</dd></div>", esc(label));
    let mut facts = String::new();
    if let Some(mid) = &t.message_id {
        facts.push_str(&fact(
            texts::MESSAGE_ID,
            format!("<code>{}</code>", esc(mid)),
        ));
    }
    if !t.queue_ids.is_empty() {
        let ids: Vec<String> = t
            .queue_ids
            .iter()
            .map(|i| format!("<code>{}</code>", esc(i)))
            .collect();
        facts.push_str(&fact(texts::QUEUE_IDS, ids.join(", ")));
    }
    if let Some(patient) = &t.patient {
        facts.push_str(&fact(
            texts::PATIENT,
            format!(
                "<span data-patient>{}</span>",
                esc(&texts::patient_with_ins(patient, t.patient_ins.as_deref()))
            ),
        ));
    }
    if let Some(by) = &t.submitted_by {
        facts.push_str(&fact(texts::SUBMITTED_BY, esc(by)));
    }
    if let Some(at) = t.received_at {
        facts.push_str(&fact(texts::RECEIVED, time(at)));
    }
    if let Some(name) = &t.document {
        facts.push_str(&fact(
            texts::SENT_DOCUMENT,
            format!(
                "<a href=\"/tracking/{}/document\" download>{}<span class=\"visually-hidden\"> {}</span></a>",
                esc(&crate::daemon::encode(key)),
                esc(texts::DOWNLOAD_DOCUMENT),
                esc(name)
            ),
        ));
    }
    let mut sections = String::new();
    for (n, r) in t.recipients.iter().enumerate() {
        let steps: String = r
            .timeline
            .iter()
            .map(|s| {
                format!(
                    "<tr data-event=\"{ev}\"><td>{at}</td><td>{label}</td></tr>",
                    ev = esc(&s.event),
                    at = time(s.at),
                    label = esc(&texts::step_label(&s.event, s.detail.as_deref())),
                )
            })
            .collect();
        let table = if steps.is_empty() {
            format!("<p>{}</p>", esc(texts::NO_STEPS))
        } else {
            format!(
                "<table class=\"data timeline\" aria-labelledby=\"rcpt-{n}\"><thead><tr>\
                 <th scope=\"col\">{c1}</th><th scope=\"col\">{c2}</th></tr></thead><tbody>{steps}</tbody></table>",
                c1 = esc(texts::STEP_TIME),
                c2 = esc(texts::STEP_EVENT),
            )
        };
        let acts = match &r.queue_id {
            Some(qid) => actions(csrf, qid, &r.recipient, &r.state, Some(key)),
            None => String::new(),
        };
        sections.push_str(&format!(
            "<section class=\"recipient\" data-recipient=\"{rcpt}\" data-state=\"{st}\">\
             <h2 id=\"rcpt-{n}\">{title}</h2>\
             <p>{cs} : <strong>{state}</strong></p>{table}{acts}</section>",
            rcpt = esc(&r.recipient),
            st = esc(&r.state),
            title = esc(&texts::timeline_for(&r.recipient)),
            cs = esc(texts::CURRENT_STATE),
            state = tracking_state(&r.state, r.detail.as_deref()),
        ));
    }
    let body = format!(
        "{}<dl class=\"facts\">{facts}</dl>{sections}\
         <p><a href=\"/tracking\">{}</a></p>",
        flash(flash_msg),
        esc(texts::BACK_TO_TRACKING)
    );
    layout_wide(
        texts::TIMELINE_TITLE,
        Some(Nav {
            csrf,
            current: "/tracking",
        }),
        &body,
    )
}
