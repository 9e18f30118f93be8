//! The audit log: its verification, a page of entries, paging, export.

use super::{Nav, esc, layout_wide, notice, time};
use crate::daemon::{AuditEntry, AuditVerify};
use crate::texts;

pub struct AuditPage<'a> {
    pub verify: Result<&'a AuditVerify, String>,
    pub entries: Result<&'a [AuditEntry], String>,
    /// The page was asked with `after_seq` (else: the newest entries).
    pub after_seq: Option<u64>,
    /// Entries per page.
    pub limit: usize,
}

fn verification(v: Result<&AuditVerify, String>) -> String {
    match v {
        Err(reason) => notice("error", &reason),
        Ok(v) => match (&v.first_bad, v.ok) {
            (Some(bad), _) => format!(
                "<p class=\"notice notice-error\" role=\"alert\" data-verify=\"broken\">{}</p>",
                esc(&texts::audit_broken(
                    &bad.file,
                    bad.line,
                    &bad.reason,
                    v.entries
                ))
            ),
            (None, _) => format!(
                "<p class=\"notice notice-info\" role=\"status\" data-verify=\"ok\">{}</p>",
                esc(&texts::audit_ok(v.entries))
            ),
        },
    }
}

pub fn audit(csrf: &str, page: AuditPage<'_>) -> String {
    let mut paging = Vec::new();
    let table = match page.entries {
        Err(reason) => notice("error", &reason),
        Ok([]) => format!("<p>{}</p>", esc(texts::AUDIT_NOTHING)),
        Ok(entries) => {
            let rows: String = entries
                .iter()
                .map(|e| {
                    format!(
                        "<tr data-seq=\"{seq}\" data-action=\"{code}\"><td>{seq}</td><td>{at}</td><td>{actor}</td>\
                         <td>{action}</td><td>{object}</td><td>{detail}</td></tr>",
                        seq = e.seq,
                        at = time(e.at),
                        actor = esc(&e.actor),
                        code = esc(&e.action),
                        action = esc(texts::audit_action(&e.action)),
                        object = esc(e.object.as_deref().unwrap_or(texts::NONE)),
                        detail = esc(e.detail.as_deref().unwrap_or(texts::NONE)),
                    )
                })
                .collect();
            let first = entries.first().map(|e| e.seq).unwrap_or(0);
            let last = entries.last().map(|e| e.seq).unwrap_or(0);
            if first > 1 {
                paging.push(format!(
                    "<a href=\"/audit?after_seq=0\">{}</a>",
                    esc(texts::AUDIT_FIRST)
                ));
                let before = first.saturating_sub(1 + page.limit as u64);
                paging.push(format!(
                    "<a href=\"/audit?after_seq={before}\" rel=\"prev\">{}</a>",
                    esc(texts::AUDIT_PREVIOUS)
                ));
            }
            if page.after_seq.is_some() && entries.len() >= page.limit {
                paging.push(format!(
                    "<a href=\"/audit?after_seq={last}\" rel=\"next\">{}</a>",
                    esc(texts::AUDIT_NEXT)
                ));
            }
            if page.after_seq.is_some() {
                paging.push(format!(
                    "<a href=\"/audit\">{}</a>",
                    esc(texts::AUDIT_LATEST)
                ));
            }
            format!(
                "<table class=\"data\"><caption>{caption}</caption><thead><tr>\
                 <th scope=\"col\">{c0}</th><th scope=\"col\">{c1}</th><th scope=\"col\">{c2}</th>\
                 <th scope=\"col\">{c3}</th><th scope=\"col\">{c4}</th><th scope=\"col\">{c5}</th>\
                 </tr></thead><tbody>{rows}</tbody></table>",
                caption = esc(texts::AUDIT_CAPTION),
                c0 = esc(texts::COL_SEQ),
                c1 = esc(texts::COL_TIME),
                c2 = esc(texts::COL_ACTOR),
                c3 = esc(texts::COL_ACTION),
                c4 = esc(texts::COL_OBJECT),
                c5 = esc(texts::COL_DETAIL),
            )
        }
    };
    let paging_html = if paging.is_empty() {
        String::new()
    } else {
        format!(
            "<nav class=\"paging\" aria-label=\"{}\"><ul><li>{}</li></ul></nav>",
            esc(texts::AUDIT_PAGING),
            paging.join("</li><li>")
        )
    };
    let body = format!(
        "<p>{intro}</p>{verify}\
         <p><a href=\"/audit/export\" class=\"button-link\" download>{export}</a></p>\
         {table}{paging_html}",
        intro = esc(texts::AUDIT_INTRO),
        verify = verification(page.verify),
        export = esc(texts::AUDIT_EXPORT),
    );
    layout_wide(
        texts::AUDIT_TITLE,
        Some(Nav {
            csrf,
            current: "/audit",
        }),
        &body,
    )
}
