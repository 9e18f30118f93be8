//! « Diagnostic » (every check, in plain French, with what to do), the
//! dashboard lights taken from the quick checks, and « Journaux
//! techniques ».

use super::{Check, Level, Nav, esc, layout_wide, notice};
use crate::daemon::{DiagnosticCheck, DiagnosticLevel, LogEvent, Report};
use crate::texts;

fn level_of(level: DiagnosticLevel) -> Level {
    match level {
        DiagnosticLevel::Ok => Level::Ok,
        DiagnosticLevel::Warning => Level::Warn,
        DiagnosticLevel::Error => Level::Bad,
    }
}

fn class(level: DiagnosticLevel) -> &'static str {
    match level {
        DiagnosticLevel::Ok => "ok",
        DiagnosticLevel::Warning => "warn",
        DiagnosticLevel::Error => "bad",
    }
}

fn word(level: DiagnosticLevel) -> &'static str {
    match level {
        DiagnosticLevel::Ok => texts::LEVEL_OK,
        DiagnosticLevel::Warning => texts::LEVEL_WARN,
        DiagnosticLevel::Error => texts::LEVEL_BAD,
    }
}

/// DNS, clock and free disk for the dashboard, from the quick checks.
pub fn diagnostic_lights(report: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    for (id, label) in [
        ("dns", texts::CHECK_DNS),
        ("clock", texts::CHECK_CLOCK),
        ("disk", texts::CHECK_DISK),
    ] {
        let Some(c) = report.checks.iter().find(|c| c.id == id) else {
            continue;
        };
        let detail = if id == "disk" && c.code != "disk_unreadable" {
            let free = c
                .facts
                .get("free_bytes")
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            texts::disk_free(c.value.unwrap_or(0), free)
        } else {
            texts::diag_advice(&c.code).0.to_string()
        };
        let level = level_of(c.level);
        out.push(Check {
            id: match id {
                "dns" => "dns",
                "clock" => "clock",
                _ => "disk",
            },
            label,
            level,
            detail,
            action: (level != Level::Ok).then_some(("/diagnostics", texts::DIAG_SEE_PAGE)),
        });
    }
    out
}

fn render(c: &DiagnosticCheck) -> String {
    let (meaning, todo) = texts::diag_advice(&c.code);
    let measured = match (c.value, c.unit.as_deref()) {
        (Some(v), Some(unit)) => format!(
            "<p class=\"diag-measure\">{} {}{}</p>",
            esc(texts::DIAG_MEASURED),
            esc(&texts::diag_value(v, unit)),
            c.target
                .as_deref()
                .map(|t| format!(" – <code>{}</code>", esc(t)))
                .unwrap_or_default()
        ),
        _ => c
            .target
            .as_deref()
            .map(|t| format!("<p class=\"diag-measure\"><code>{}</code></p>", esc(t)))
            .unwrap_or_default(),
    };
    let todo = todo
        .map(|t| {
            format!(
                "<p class=\"diag-todo\"><strong>{}</strong> {}</p>",
                esc(texts::DIAG_TODO),
                esc(t)
            )
        })
        .unwrap_or_default();
    let technical = c
        .detail
        .as_deref()
        .map(|d| {
            format!(
                "<p class=\"hint\">{} <code>{}</code></p>",
                esc(texts::DIAG_TECHNICAL),
                esc(d)
            )
        })
        .unwrap_or_default();
    format!(
        "<li class=\"diag check-{class}\" data-check=\"{id}\" data-level=\"{class}\" data-code=\"{code}\">\
         <p class=\"diag-head\"><span class=\"light\" aria-hidden=\"true\"></span> \
         <span class=\"check-label\">{label}</span> <strong class=\"check-level\">{word}</strong></p>\
         <p>{meaning}</p>{measured}{todo}{technical}</li>",
        class = class(c.level),
        id = esc(&c.id),
        code = esc(&c.code),
        label = esc(texts::diag_label(&c.id)),
        word = esc(word(c.level)),
        meaning = esc(meaning),
    )
}

/// The full diagnostics, and the support bundle's download.
pub fn diagnostics(csrf: &str, report: Result<&Report, String>) -> String {
    let content = match report {
        Err(reason) => notice("error", &reason),
        Ok(report) => {
            let summary = match report.level {
                DiagnosticLevel::Ok => notice("info", texts::DIAG_ALL_OK),
                DiagnosticLevel::Warning => format!(
                    "<p class=\"notice notice-warn\" role=\"status\">{}</p>",
                    esc(texts::DIAG_SOME_WARN)
                ),
                DiagnosticLevel::Error => notice("error", texts::DIAG_SOME_BAD),
            };
            let items: String = report.checks.iter().map(render).collect();
            format!(
                "{summary}<ul class=\"diags\" aria-label=\"{}\">{items}</ul>",
                esc(texts::DIAG_CAPTION)
            )
        }
    };
    let body = format!(
        "<p>{intro}</p>{content}\
         <p><a href=\"/diagnostics\" class=\"button-link\">{again}</a></p>\
         <section aria-labelledby=\"bundle\"><h2 id=\"bundle\">{bundle}</h2><p>{bundle_intro}</p>\
         <p><a href=\"/support-bundle\" class=\"button-link\" download>{download}</a></p></section>",
        intro = esc(texts::DIAG_INTRO),
        again = esc(texts::DIAG_RUN_AGAIN),
        bundle = esc(texts::BUNDLE_TITLE),
        bundle_intro = esc(texts::BUNDLE_INTRO),
        download = esc(texts::BUNDLE_DOWNLOAD),
    );
    layout_wide(
        texts::DIAG_TITLE,
        Some(Nav {
            csrf,
            current: "/diagnostics",
        }),
        &body,
    )
}

/// The filters as typed, for the form.
#[derive(Debug, Clone, Default)]
pub struct LogsForm {
    pub level: String,
    pub component: String,
    pub q: String,
}

fn log_time(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000);
    format!(
        "<time datetime=\"{secs}\">{}</time>",
        esc(&crate::localtime::format(secs))
    )
}

/// « Journaux techniques »: the filter form, then the events (`None`:
/// not asked, the form was refused).
pub fn logs(
    csrf: &str,
    form: &LogsForm,
    error: Option<&str>,
    events: Option<Result<&[LogEvent], String>>,
) -> String {
    let options: String = std::iter::once(("", texts::LOGS_LEVEL_ALL))
        .chain(texts::LOG_LEVELS)
        .map(|(value, name)| {
            let selected = if form.level == value { " selected" } else { "" };
            format!("<option value=\"{value}\"{selected}>{}</option>", esc(name))
        })
        .collect();
    let form_html = format!(
        "<form method=\"get\" action=\"/logs\" class=\"form\" role=\"search\">\
         <div class=\"field-row\">\
         <div class=\"field\"><label for=\"level\">{level}</label>\
         <select id=\"level\" name=\"level\">{options}</select></div>\
         <div class=\"field\"><label for=\"component\">{component}</label>\
         <input type=\"text\" id=\"component\" name=\"component\" value=\"{component_value}\" maxlength=\"32\" aria-describedby=\"component-hint\">\
         <p class=\"hint\" id=\"component-hint\">{component_hint}</p></div>\
         <div class=\"field\"><label for=\"q\">{text}</label>\
         <input type=\"text\" id=\"q\" name=\"q\" value=\"{q}\" maxlength=\"200\"></div>\
         </div><button type=\"submit\">{filter}</button></form>",
        level = esc(texts::LOGS_LEVEL),
        component = esc(texts::LOGS_COMPONENT),
        component_value = esc(&form.component),
        component_hint = esc(texts::LOGS_COMPONENT_HINT),
        text = esc(texts::LOGS_TEXT),
        q = esc(&form.q),
        filter = esc(texts::LOGS_FILTER),
    );
    let error_html = error.map(|e| notice("error", e)).unwrap_or_default();
    let table = match events {
        None => String::new(),
        Some(Err(reason)) => notice("error", &reason),
        Some(Ok([])) => format!("<p>{}</p>", esc(texts::LOGS_NOTHING)),
        Some(Ok(events)) => {
            let rows: String = events
                .iter()
                .map(|e| {
                    let fields: Vec<String> = e
                        .fields
                        .iter()
                        .map(|(k, v)| format!("{}={}", esc(k), esc(v)))
                        .collect();
                    format!(
                        "<tr data-seq=\"{seq}\" data-level=\"{lvl}\"><td>{at}</td>\
                         <td class=\"log-{lvl}\">{level}</td><td>{component}</td>\
                         <td>{message}</td><td><code>{fields}</code></td></tr>",
                        seq = e.seq,
                        lvl = esc(&e.level),
                        at = log_time(e.at_ms),
                        level = esc(texts::log_level(&e.level)),
                        component = esc(&e.component),
                        message = esc(&e.message),
                        fields = fields.join(" "),
                    )
                })
                .collect();
            format!(
                "<table class=\"data\"><caption>{caption}</caption><thead><tr>\
                 <th scope=\"col\">{c0}</th><th scope=\"col\">{c1}</th><th scope=\"col\">{c2}</th>\
                 <th scope=\"col\">{c3}</th><th scope=\"col\">{c4}</th></tr></thead>\
                 <tbody>{rows}</tbody></table>",
                caption = esc(texts::LOGS_CAPTION),
                c0 = esc(texts::COL_TIME),
                c1 = esc(texts::COL_LEVEL),
                c2 = esc(texts::COL_COMPONENT),
                c3 = esc(texts::COL_MESSAGE),
                c4 = esc(texts::COL_FIELDS),
            )
        }
    };
    let body = format!(
        "<p>{}</p>{form_html}{error_html}{table}",
        esc(texts::LOGS_INTRO)
    );
    layout_wide(
        texts::LOGS_TITLE,
        Some(Nav {
            csrf,
            current: "/logs",
        }),
        &body,
    )
}
