//! « Annuaire santé »: the state of the directory on the box, the search
//! form, and results that can be added to the address book.

use super::{Nav, csrf_field, esc, layout_wide, notice};
use crate::daemon::{DirectoryHit, DirectoryStatus};
use crate::texts;

fn status_line(status: Result<&DirectoryStatus, String>) -> String {
    match status {
        Err(reason) => notice("error", &reason),
        Ok(s) if !s.available => notice("error", texts::DIRECTORY_UNAVAILABLE),
        Ok(DirectoryStatus {
            imported_at: Some(at),
            entries,
            ..
        }) if *entries > 0 => format!(
            "<p data-directory-entries=\"{entries}\">{}</p>",
            esc(&texts::directory_status(
                *entries,
                &crate::localtime::format(*at)
            ))
        ),
        Ok(_) => format!(
            "<div data-directory=\"not-imported\">{}</div>",
            notice("warn", texts::DIRECTORY_NOT_IMPORTED)
        ),
    }
}

fn add_button(csrf: &str, hit: &DirectoryHit) -> String {
    if hit.contact_id.is_some() {
        return format!("<a href=\"/contacts\">{}</a>", esc(texts::ALREADY_IN_BOOK));
    }
    format!(
        "<form method=\"post\" action=\"/contacts\" class=\"inline\">{csrf}\
         <input type=\"hidden\" name=\"from_directory\" value=\"{addr}\">\
         <button type=\"submit\" class=\"small\" aria-label=\"{label}\">{text}</button></form>",
        csrf = csrf_field(csrf),
        addr = esc(&hit.mailbox),
        label = esc(&texts::add_to_book_for(&hit.name)),
        text = esc(texts::CONTACT_ADD_SUBMIT),
    )
}

/// `q` as typed; `error` a refused search (400); `results` the hits or
/// why there are none (absent before any search).
pub fn directory(
    csrf: &str,
    q: &str,
    error: Option<&str>,
    status: Result<&DirectoryStatus, String>,
    results: Option<Result<&[DirectoryHit], String>>,
    limit: usize,
) -> String {
    let form = format!(
        "<form method=\"get\" action=\"/directory\" class=\"form search\" role=\"search\">\
         <div class=\"field\"><label for=\"q\">{ql}</label>\
         <input id=\"q\" name=\"q\" type=\"text\" maxlength=\"200\" value=\"{q}\" aria-describedby=\"q-hint\">\
         <p class=\"hint\" id=\"q-hint\">{qh}</p></div>\
         <button type=\"submit\">{submit}</button></form>",
        ql = esc(texts::DIRECTORY_SEARCH_LABEL),
        q = esc(q),
        qh = esc(texts::DIRECTORY_SEARCH_HINT),
        submit = esc(texts::SEARCH_SUBMIT),
    );
    let results_html = match results {
        None => String::new(),
        Some(Err(reason)) => notice("error", &reason),
        Some(Ok([])) => format!(
            "<p role=\"status\" data-empty=\"directory\">{}</p>",
            esc(texts::DIRECTORY_NOTHING)
        ),
        Some(Ok(hits)) => {
            let rows: String = hits
                .iter()
                .map(|h| {
                    let town = [h.postcode.as_str(), h.town.as_str()]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    format!(
                        "<tr data-mailbox=\"{addr}\"><td>{name}</td><td>{profession}</td>\
                         <td>{specialty}</td><td>{town}</td><td>{addr}</td><td>{add}</td></tr>",
                        addr = esc(&h.mailbox),
                        name = esc(&h.name),
                        profession = esc(&h.profession),
                        specialty = esc(&h.specialty),
                        town = esc(&town),
                        add = add_button(csrf, h),
                    )
                })
                .collect();
            format!(
                "<p role=\"status\">{count}</p><table class=\"data\"><caption>{caption}</caption><thead><tr>\
                 <th scope=\"col\">{c1}</th><th scope=\"col\">{c2}</th><th scope=\"col\">{c3}</th>\
                 <th scope=\"col\">{c4}</th><th scope=\"col\">{c5}</th><th scope=\"col\">{c6}</th>\
                 </tr></thead><tbody>{rows}</tbody></table>",
                count = esc(&texts::directory_count(hits.len(), limit)),
                caption = esc(texts::DIRECTORY_CAPTION),
                c1 = esc(texts::COL_NAME),
                c2 = esc(texts::COL_PROFESSION),
                c3 = esc(texts::COL_SPECIALTY),
                c4 = esc(texts::COL_TOWN),
                c5 = esc(texts::COL_MSSANTE),
                c6 = esc(texts::COL_ADD),
            )
        }
    };
    let error_html = error.map(|e| notice("error", e)).unwrap_or_default();
    layout_wide(
        texts::DIRECTORY_TITLE,
        Some(Nav {
            csrf,
            current: "/directory",
        }),
        &format!("{}{error_html}{form}{results_html}", status_line(status)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_when_the_directory_was_never_imported() {
        let never = DirectoryStatus {
            available: true,
            ..DirectoryStatus::default()
        };
        let page = directory("t", "", None, Ok(&never), None, 50);
        assert!(page.contains("data-directory=\"not-imported\""));
        assert!(page.contains("facteur directory import"));
        let page = directory(
            "t",
            "",
            None,
            Ok(&DirectoryStatus {
                available: true,
                entries: 97991,
                imported_at: Some(1_767_261_600),
                source: None,
            }),
            None,
            50,
        );
        assert!(page.contains("data-directory-entries=\"97991\""));
        assert!(!page.contains("not-imported"));
        // Files that cannot be opened: not the same as never imported.
        let page = directory("t", "", None, Ok(&DirectoryStatus::default()), None, 50);
        assert!(page.contains("illisible"));
    }
}
