//! The card page: who the card belongs to, tries left, the PIN form.

use super::{Nav, csrf_field, esc, layout, notice};
use crate::daemon::CardView;
use crate::texts;

fn row(label: &str, value: &str, id: &str) -> String {
    format!(
        "<div><dt>{}</dt><dd data-field=\"{id}\">{}</dd></div>",
        esc(label),
        esc(value)
    )
}

pub fn card(csrf: &str, card: Result<&CardView, String>, error: Option<&str>) -> String {
    layout(
        texts::CARD_TITLE,
        Some(Nav {
            csrf,
            current: "/card",
        }),
        &card_body(csrf, card, error, false),
    )
}

/// The card's facts and PIN form; in the set-up wizard the form says so,
/// and success leads to the next step.
pub fn card_body(
    csrf: &str,
    card: Result<&CardView, String>,
    error: Option<&str>,
    wizard: bool,
) -> String {
    let error_html = error.map(|e| notice("error", e)).unwrap_or_default();
    let content = match card {
        Err(reason) => notice("error", &reason),
        Ok(card) => {
            let mut rows = String::new();
            if let Some(holder) = &card.holder {
                rows.push_str(&row(texts::CARD_HOLDER, &holder.name, "holder"));
                rows.push_str(&row(
                    texts::CARD_PROFESSION,
                    &holder.profession,
                    "profession",
                ));
            }
            rows.push_str(&row(texts::CARD_STATE, &card.message, "state"));
            if let Some(pin) = card.pin {
                rows.push_str(&row(
                    texts::CARD_TRIES,
                    &texts::tries_left(pin.left),
                    "tries",
                ));
            }
            if let Some(reader) = &card.reader {
                rows.push_str(&row(texts::CARD_READER, reader, "reader"));
            }
            let form = match card.state.as_str() {
                "locked" => pin_form(csrf, card.pin.map(|p| p.left).unwrap_or(0), wizard),
                "unlocked" => notice("info", texts::CARD_ALREADY_UNLOCKED),
                _ => String::new(),
            };
            format!("<dl class=\"facts\">{rows}</dl>{form}")
        }
    };
    format!("{error_html}{content}")
}

fn pin_form(csrf: &str, tries: u8, wizard: bool) -> String {
    let last_try = if tries == 1 {
        format!(
            "<p class=\"notice notice-warn\">{}</p>\
             <div class=\"field checkbox\"><input id=\"confirm_last_try\" name=\"confirm_last_try\" \
             type=\"checkbox\" value=\"1\" required>\
             <label for=\"confirm_last_try\">{}</label></div>",
            esc(texts::LAST_TRY_WARNING),
            esc(texts::LAST_TRY_CONFIRM)
        )
    } else {
        String::new()
    };
    format!(
        "<form method=\"post\" action=\"/card/unlock\" class=\"form\">{csrf}{wizard}\
         <div class=\"field\"><label for=\"pin\">{label}</label>\
         <input id=\"pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" autocomplete=\"off\" \
         pattern=\"[0-9]{{4,8}}\" minlength=\"4\" maxlength=\"8\" required aria-describedby=\"pin-hint\">\
         <p class=\"hint\" id=\"pin-hint\">{hint}</p></div>{last_try}\
         <button type=\"submit\">{submit}</button></form>",
        csrf = csrf_field(csrf),
        wizard = if wizard {
            "<input type=\"hidden\" name=\"wizard\" value=\"1\">"
        } else {
            ""
        },
        label = esc(texts::PIN_LABEL),
        hint = esc(texts::PIN_HINT),
        submit = esc(texts::PIN_SUBMIT),
    )
}
