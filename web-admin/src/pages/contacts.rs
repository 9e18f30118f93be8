//! « Carnet d'adresses »: the practice's correspondents with their drop
//! folders, a form to add one by hand, and the confirmation before one is
//! removed.

use super::{Nav, csrf_field, esc, flash, layout, layout_wide, notice};
use crate::daemon::ContactView;
use crate::texts;

fn field(id: &str, label: &str, input: &str) -> String {
    format!(
        "<div class=\"field\"><label for=\"{id}\">{}</label>{input}</div>",
        esc(label)
    )
}

fn text_input(id: &str, max: usize, extra: &str) -> String {
    format!("<input id=\"{id}\" name=\"{id}\" type=\"text\" maxlength=\"{max}\"{extra}>")
}

fn add_form(csrf: &str) -> String {
    format!(
        "<h2 id=\"add-title\">{title}</h2>\
         <form method=\"post\" action=\"/contacts\" class=\"form\" aria-labelledby=\"add-title\">{csrf}\
         <p class=\"hint\">{hint}</p>{name}{mssante}{profession}\
         <div class=\"field-row\">{street}{postcode}{town}</div>\
         <button type=\"submit\">{submit}</button></form>",
        title = esc(texts::CONTACT_ADD_TITLE),
        csrf = csrf_field(csrf),
        hint = esc(texts::CONTACT_ADD_HINT),
        name = field(
            "name",
            texts::CONTACT_NAME_LABEL,
            &text_input("name", 200, " required autocomplete=\"off\"")
        ),
        mssante = field(
            "mssante",
            texts::CONTACT_MSSANTE_LABEL,
            &text_input("mssante", 320, " inputmode=\"email\" autocomplete=\"off\"")
        ),
        profession = field(
            "profession",
            texts::CONTACT_PROFESSION_LABEL,
            &text_input("profession", 200, "")
        ),
        street = field(
            "street",
            texts::CONTACT_STREET_LABEL,
            &text_input("street", 200, "")
        ),
        postcode = field(
            "postcode",
            texts::CONTACT_POSTCODE_LABEL,
            &text_input("postcode", 10, " inputmode=\"numeric\"")
        ),
        town = field(
            "town",
            texts::CONTACT_TOWN_LABEL,
            &text_input("town", 100, "")
        ),
        submit = esc(texts::CONTACT_ADD_SUBMIT),
    )
}

fn reach(c: &ContactView) -> String {
    match &c.mssante {
        Some(addr) => esc(addr),
        None => {
            let postal = c
                .postal
                .as_ref()
                .map(|p| format!(" ({}, {} {})", p.lines.join(", "), p.postcode, p.town))
                .unwrap_or_default();
            format!("<em>{}</em>{}", esc(texts::ON_PAPER), esc(&postal))
        }
    }
}

/// The list, or why it cannot be read; `flash` is the outcome of the last
/// addition or removal.
pub fn contacts(
    csrf: &str,
    flash_msg: Option<(&str, &str)>,
    list: Result<&[ContactView], String>,
) -> String {
    let content = match list {
        Err(reason) => notice("error", &reason),
        Ok([]) => format!(
            "<p role=\"status\" data-empty=\"contacts\">{}</p>",
            esc(texts::CONTACTS_NOTHING)
        ),
        Ok(all) => {
            let rows: String = all
                .iter()
                .map(|c| {
                    format!(
                        "<tr data-contact-id=\"{id}\" data-mssante=\"{addr}\">\
                         <td>{name}</td><td>{profession}</td><td>{town}</td><td>{reach}</td>\
                         <td class=\"folder\" data-folder>{folder}</td>\
                         <td><a class=\"button-link small danger\" href=\"/contacts/{id}/delete\" aria-label=\"{label} {name}\">{label}</a></td></tr>",
                        id = c.id,
                        addr = esc(c.mssante.as_deref().unwrap_or("")),
                        name = esc(&c.display_name),
                        profession = esc(&c.profession),
                        town = esc(&c.town),
                        reach = reach(c),
                        folder = esc(&c.folder_name),
                        label = esc(texts::CONTACT_REMOVE),
                    )
                })
                .collect();
            format!(
                "<table class=\"data\"><caption>{caption}</caption><thead><tr>\
                 <th scope=\"col\">{c1}</th><th scope=\"col\">{c2}</th><th scope=\"col\">{c3}</th>\
                 <th scope=\"col\">{c4}</th><th scope=\"col\">{c5}</th><th scope=\"col\">{c6}</th>\
                 </tr></thead><tbody>{rows}</tbody></table>",
                caption = esc(texts::CONTACTS_CAPTION),
                c1 = esc(texts::COL_NAME),
                c2 = esc(texts::COL_PROFESSION),
                c3 = esc(texts::COL_TOWN),
                c4 = esc(texts::COL_MSSANTE),
                c5 = esc(texts::COL_FOLDER),
                c6 = esc(texts::COL_ACTIONS),
            )
        }
    };
    let body = format!(
        "{}<p>{}</p>{content}<p><a href=\"/directory\">{}</a></p>{}",
        flash(flash_msg),
        esc(texts::CONTACTS_INTRO),
        esc(texts::NAV_DIRECTORY),
        add_form(csrf),
    );
    layout_wide(
        texts::CONTACTS_TITLE,
        Some(Nav {
            csrf,
            current: "/contacts",
        }),
        &body,
    )
}

/// What will be removed, and the form that confirms it.
pub fn remove_confirmation(csrf: &str, c: &ContactView) -> String {
    let fact =
        |label: &str, value: String| format!("<div><dt>{}</dt><dd>{value}</dd></div>", esc(label));
    let facts = [
        fact(texts::COL_NAME, esc(&c.display_name)),
        fact(texts::COL_PROFESSION, esc(&c.profession)),
        fact(texts::COL_TOWN, esc(&c.town)),
        fact(texts::COL_MSSANTE, reach(c)),
        fact(
            texts::COL_FOLDER,
            format!("<span class=\"folder\">{}</span>", esc(&c.folder_name)),
        ),
    ]
    .concat();
    let body = format!(
        "<dl class=\"facts\">{facts}</dl>{warning}\
         <form method=\"post\" action=\"/contacts/{id}/delete\" class=\"form\">{csrf}\
         <div class=\"field checkbox\"><input id=\"confirm\" name=\"confirm\" type=\"checkbox\" value=\"1\" required>\
         <label for=\"confirm\">{confirm}</label></div>\
         <button type=\"submit\" class=\"danger\">{submit}</button> \
         <a href=\"/contacts\">{cancel}</a></form>",
        warning = notice("warn", texts::REMOVE_WARNING),
        id = c.id,
        csrf = csrf_field(csrf),
        confirm = esc(texts::REMOVE_CONFIRM_LABEL),
        submit = esc(texts::REMOVE_SUBMIT),
        cancel = esc(texts::CANCEL),
    );
    layout(
        texts::REMOVE_TITLE,
        Some(Nav {
            csrf,
            current: "/contacts",
        }),
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_and_names_are_escaped() {
        let c = ContactView {
            id: 7,
            display_name: "Dr <b>X</b>".into(),
            folder_name: "Dr _b_X (Niort)".into(),
            ..ContactView::default()
        };
        let page = contacts("t", None, Ok(std::slice::from_ref(&c)));
        assert!(page.contains("Dr &lt;b&gt;X&lt;/b&gt;"));
        assert!(!page.contains("<b>X"));
        assert!(page.contains("href=\"/contacts/7/delete\""));
        assert!(page.contains(texts::ON_PAPER.split(' ').next().unwrap()));
        let confirm = remove_confirmation("t", &c);
        assert!(confirm.contains("action=\"/contacts/7/delete\""));
        assert!(confirm.contains("required"));
    }
}
