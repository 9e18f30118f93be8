use super::{csrf_field, esc, layout, notice};
use crate::texts;

pub fn setup(csrf: &str, error: Option<&str>) -> String {
    let error = error.map(|e| notice("error", e)).unwrap_or_default();
    let body = format!(
        "<p>{intro}</p>{error}\
         <form method=\"post\" action=\"/setup\" class=\"form\">{csrf}\
         <div class=\"field\"><label for=\"code\">{code}</label>\
         <input id=\"code\" name=\"code\" type=\"text\" required autocomplete=\"off\" \
         autocapitalize=\"characters\" spellcheck=\"false\" maxlength=\"16\" aria-describedby=\"code-hint\">\
         <p class=\"hint\" id=\"code-hint\">{code_hint}</p></div>\
         <div class=\"field\"><label for=\"password\">{pw}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" required minlength=\"12\" maxlength=\"128\" \
         autocomplete=\"new-password\" aria-describedby=\"password-hint\">\
         <p class=\"hint\" id=\"password-hint\">{pw_hint}</p></div>\
         <div class=\"field\"><label for=\"confirm\">{confirm}</label>\
         <input id=\"confirm\" name=\"confirm\" type=\"password\" required minlength=\"12\" maxlength=\"128\" \
         autocomplete=\"new-password\"></div>\
         <button type=\"submit\">{submit}</button></form>",
        intro = esc(texts::SETUP_INTRO),
        csrf = csrf_field(csrf),
        code = esc(texts::SETUP_CODE_LABEL),
        code_hint = esc(texts::SETUP_CODE_HINT),
        pw = esc(texts::SETUP_PASSWORD_LABEL),
        pw_hint = esc(texts::SETUP_PASSWORD_HINT),
        confirm = esc(texts::SETUP_CONFIRM_LABEL),
        submit = esc(texts::SETUP_SUBMIT),
    );
    layout(texts::SETUP_TITLE, None, &body)
}
