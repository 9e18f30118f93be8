use super::{csrf_field, esc, layout, notice};
use crate::texts;

/// `info`: a neutral notice (logged out, session expired, box claimed).
pub fn login(csrf: &str, error: Option<&str>, info: Option<&str>) -> String {
    let mut notices = info.map(|i| notice("info", i)).unwrap_or_default();
    if let Some(e) = error {
        notices.push_str(&notice("error", e));
    }
    let body = format!(
        "{notices}<form method=\"post\" action=\"/login\" class=\"form\">{csrf}\
         <div class=\"field\"><label for=\"password\">{pw}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" required maxlength=\"128\" \
         autocomplete=\"current-password\" autofocus></div>\
         <button type=\"submit\">{submit}</button></form>",
        csrf = csrf_field(csrf),
        pw = esc(texts::LOGIN_PASSWORD_LABEL),
        submit = esc(texts::LOGIN_SUBMIT),
    );
    layout(texts::LOGIN_TITLE, None, &body)
}
