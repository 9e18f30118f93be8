//! « Mise à jour »: the running version, what the updater is doing, the
//! last result, and the manual upload.

use super::{Nav, csrf_field, esc, layout, notice, time};
use crate::daemon::UpdateView;
use crate::texts;

pub fn update(
    csrf: &str,
    view: Result<Option<&UpdateView>, String>,
    flash: Option<(&str, &str)>,
) -> String {
    let flash = flash.map(|(k, t)| notice(k, t)).unwrap_or_default();
    let body = match view {
        Err(e) => notice("error", &e),
        Ok(None) => format!("<p>{}</p>", esc(texts::UPDATES_DISABLED)),
        Ok(Some(v)) => {
            let mut state = texts::update_state(&v.state).to_string();
            if let Some(target) = &v.target_version {
                state.push_str(&format!(" (version {target})"));
            }
            if let Some(p) = v.progress {
                state.push_str(&format!(" – {p} %"));
            }
            let mut rows = vec![
                (texts::UPDATE_RUNNING_VERSION, esc(&v.running_version)),
                (texts::UPDATE_STATE, esc(&state)),
                (
                    texts::UPDATE_FLEET,
                    esc(if v.fleet_server {
                        texts::UPDATE_FLEET_ON
                    } else {
                        texts::UPDATE_FLEET_OFF
                    }),
                ),
            ];
            if let Some(e) = &v.server_error {
                rows.push((texts::UPDATE_FLEET_ERROR, esc(e)));
            }
            if let Some(r) = &v.last_result {
                rows.push((
                    texts::UPDATE_LAST,
                    format!("{} ({})", esc(&r.message), time(r.at)),
                ));
            }
            let table: String = rows
                .iter()
                .map(|(k, v)| format!("<div><dt>{}</dt><dd>{v}</dd></div>", esc(k)))
                .collect();
            let check = if v.fleet_server {
                format!(
                    "<form method=\"post\" action=\"/update/check\" class=\"inline\">{csrf}\
                     <button type=\"submit\">{}</button></form>",
                    esc(texts::UPDATE_CHECK),
                    csrf = csrf_field(csrf),
                )
            } else {
                String::new()
            };
            format!(
                "<dl class=\"facts\">{table}</dl>{check}\
                 <form method=\"post\" action=\"/update/upload\" enctype=\"multipart/form-data\" class=\"form\">{csrf}\
                 <fieldset><legend>{legend}</legend><p>{intro}</p>\
                 <label for=\"bundle\">{label}</label>\
                 <input id=\"bundle\" name=\"bundle\" type=\"file\" accept=\".raucb\" required>\
                 </fieldset><button type=\"submit\">{submit}</button></form>",
                csrf = csrf_field(csrf),
                legend = esc(texts::UPDATE_MANUAL_LEGEND),
                intro = esc(texts::UPDATE_MANUAL_INTRO),
                label = esc(texts::UPDATE_FILE_LABEL),
                submit = esc(texts::UPDATE_SUBMIT),
            )
        }
    };
    layout(
        texts::UPDATE_TITLE,
        Some(Nav {
            csrf,
            current: "/update",
        }),
        &format!("{flash}{body}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::UpdateResultView;

    #[test]
    fn the_page_shows_version_state_and_the_last_result_escaped() {
        let view = UpdateView {
            state: "waiting_restart".into(),
            running_version: "0.1.0".into(),
            fleet_server: true,
            target_version: Some("0.2.0".into()),
            last_result: Some(UpdateResultView {
                ok: false,
                message: "refusé <script>".into(),
                at: 1_768_440_600,
            }),
            ..UpdateView::default()
        };
        let html = update("tok", Ok(Some(&view)), None);
        assert!(html.contains("0.1.0") && html.contains("(version 0.2.0)"));
        assert!(html.contains("redémarrera"));
        assert!(html.contains("refusé &lt;script&gt;"));
        assert!(html.contains("action=\"/update/check\""));
        assert!(html.contains("enctype=\"multipart/form-data\""));
        // The token comes before the file, so it is read first.
        assert!(html.rfind("name=\"csrf\"").unwrap() < html.find("name=\"bundle\"").unwrap());
        let off = update("tok", Ok(None), None);
        assert!(off.contains(texts::UPDATES_DISABLED) && !off.contains("multipart"));
    }
}
