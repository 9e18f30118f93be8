//! « Courrier papier »: correspondents reached on paper in a month, the
//! most frequent first, each with its invitation to join MSSanté.

use super::{Nav, esc, layout_wide, notice, time};
use crate::daemon::{PaperSummary, encode};
use crate::texts;

/// The month before and after `month` (`AAAA-MM`).
fn neighbours(month: &str) -> Option<(String, String)> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    let prev = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Some((
        format!("{:04}-{:02}", prev.0, prev.1),
        format!("{:04}-{:02}", next.0, next.1),
    ))
}

/// `summary`: the month's report, or why it cannot be read.
pub fn paper(csrf: &str, summary: Result<&PaperSummary, String>) -> String {
    let body = match summary {
        Err(reason) => notice("error", &reason),
        Ok(s) => {
            let label = texts::month_label(&s.month);
            let form = format!(
                "<form method=\"get\" action=\"/paper\" class=\"form search\">\
                 <div class=\"field\"><label for=\"month\">{ml}</label>\
                 <input id=\"month\" name=\"month\" type=\"month\" value=\"{month}\" min=\"2000-01\" max=\"2999-12\" pattern=\"[0-9]{{4}}-[0-9]{{2}}\"></div>\
                 <button type=\"submit\">{submit}</button></form>",
                ml = esc(texts::PAPER_MONTH_LABEL),
                month = esc(&s.month),
                submit = esc(texts::PAPER_MONTH_SUBMIT),
            );
            let paging = neighbours(&s.month)
                .map(|(prev, next)| {
                    format!(
                        "<nav class=\"paging\" aria-label=\"{l}\"><ul>\
                         <li><a href=\"/paper?month={prev}\">{p}</a></li>\
                         <li><a href=\"/paper?month={next}\">{n}</a></li></ul></nav>",
                        l = esc(texts::PAPER_MONTH_LABEL),
                        p = esc(texts::PAPER_PREVIOUS),
                        n = esc(texts::PAPER_NEXT),
                    )
                })
                .unwrap_or_default();
            let not_configured = if s.configured {
                String::new()
            } else {
                format!(
                    "<div data-paper=\"not-configured\">{}</div>",
                    notice("warn", texts::PAPER_NOT_CONFIGURED)
                )
            };
            let table = if s.correspondents.is_empty() {
                format!(
                    "<p role=\"status\" data-empty=\"paper\">{}</p>",
                    esc(&texts::paper_nothing(&label))
                )
            } else {
                let rows: String = s
                    .correspondents
                    .iter()
                    .map(|r| {
                        let link = if s.configured {
                            format!(
                                "<a href=\"/paper/invitation?key={key}&amp;month={month}\" download aria-label=\"{aria}\">{text}</a>",
                                key = esc(&encode(&r.key)),
                                month = esc(&encode(&s.month)),
                                aria = esc(&texts::invitation_for(&r.correspondent)),
                                text = esc(texts::INVITATION_LINK),
                            )
                        } else {
                            esc(texts::NONE)
                        };
                        format!(
                            "<tr data-key=\"{key}\"><td>{name}</td><td>{address}</td><td>{count}</td><td>{last}</td><td>{link}</td></tr>",
                            key = esc(&r.key),
                            name = esc(&r.correspondent),
                            address = esc(&r.address),
                            count = r.count,
                            last = time(r.last_at),
                        )
                    })
                    .collect();
                format!(
                    "<table class=\"data\"><caption>{caption} – {label}</caption><thead><tr>\
                     <th scope=\"col\">{c1}</th><th scope=\"col\">{c2}</th><th scope=\"col\">{c3}</th>\
                     <th scope=\"col\">{c4}</th><th scope=\"col\">{c5}</th></tr></thead><tbody>{rows}</tbody></table>",
                    caption = esc(texts::PAPER_CAPTION),
                    label = esc(&label),
                    c1 = esc(texts::COL_NAME),
                    c2 = esc(texts::COL_ADDRESS),
                    c3 = esc(texts::COL_LETTERS),
                    c4 = esc(texts::COL_LAST_LETTER),
                    c5 = esc(texts::COL_INVITATION),
                )
            };
            format!("{not_configured}{form}{paging}{table}")
        }
    };
    layout_wide(
        texts::PAPER_TITLE,
        Some(Nav {
            csrf,
            current: "/paper",
        }),
        &format!("<p>{}</p>{body}", esc(texts::PAPER_INTRO)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::PaperRow;

    #[test]
    fn months_around_and_links_encoded() {
        assert_eq!(
            neighbours("2026-01"),
            Some(("2025-12".into(), "2026-02".into()))
        );
        assert_eq!(
            neighbours("2026-12"),
            Some(("2026-11".into(), "2027-01".into()))
        );
        let s = PaperSummary {
            month: "2026-11".into(),
            configured: true,
            correspondents: vec![PaperRow {
                key: "dr a|79000".into(),
                correspondent: "Dr A".into(),
                address: "1 rue A".into(),
                count: 2,
                last_at: 1_767_000_000,
            }],
        };
        let page = paper("t", Ok(&s));
        assert!(page.contains("/paper/invitation?key=dr%20a%7C79000&amp;month=2026-11"));
        assert!(page.contains("novembre 2026"));
        let unset = PaperSummary {
            configured: false,
            ..s
        };
        let page = paper("t", Ok(&unset));
        assert!(page.contains("data-paper=\"not-configured\""));
        assert!(!page.contains("/paper/invitation"));
    }
}
