//! The set-up wizard after the claim (steps 2 to 5), the settings, the
//! local accounts and the certificate pages.

use super::{Nav, csrf_field, esc, layout, notice};
use crate::daemon::CardView;
use crate::daemon_setup::{ConnectionTest, LocalAccess, OperatorView, SettingsView};
use crate::texts;

/// Steps are numbered 1 to 5 as in `texts::WIZARD_STEPS`.
fn progress(current: usize) -> String {
    let items: String = texts::WIZARD_STEPS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let n = i + 1;
            let (class, aria) = match n.cmp(&current) {
                std::cmp::Ordering::Less => (" class=\"done\"", ""),
                std::cmp::Ordering::Equal => (" class=\"current\"", " aria-current=\"step\""),
                std::cmp::Ordering::Greater => ("", ""),
            };
            format!("<li{class}{aria}>{}</li>", esc(name))
        })
        .collect();
    format!(
        "<ol class=\"steps\" aria-label=\"{}\">{items}</ol>",
        esc(texts::WIZARD_PROGRESS)
    )
}

fn wizard_page(csrf: &str, step: usize, body: &str) -> String {
    let title = format!(
        "{} – {}",
        texts::WIZARD_TITLE,
        texts::WIZARD_STEPS[step - 1]
    );
    layout(
        &title,
        Some(Nav {
            csrf,
            current: "/wizard",
        }),
        &format!("{}{body}", progress(step)),
    )
}

/// What the mailbox form was sent with, to show it again after a refusal
/// (never the certificate's password or file).
#[derive(Debug, Clone, Default)]
pub struct MailboxForm {
    pub operator: String,
    pub mailbox: String,
    pub kind: String,
    pub smtp_host: String,
    pub smtp_port: String,
    pub imap_host: String,
    pub imap_port: String,
}

fn field(
    id: &str,
    label: &str,
    kind: &str,
    value: &str,
    extra: &str,
    hint: Option<&str>,
) -> String {
    let (hint_html, described) = match hint {
        Some(h) => (
            format!("<p class=\"hint\" id=\"{id}-hint\">{}</p>", esc(h)),
            format!(" aria-describedby=\"{id}-hint\""),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "<div class=\"field\"><label for=\"{id}\">{}</label>\
         <input id=\"{id}\" name=\"{id}\" type=\"{kind}\" value=\"{}\"{extra}{described}>{hint_html}</div>",
        esc(label),
        esc(value)
    )
}

pub(super) fn radio(
    name: &str,
    value: &str,
    label: &str,
    checked: bool,
    hint: Option<&str>,
) -> String {
    let id = format!("{name}-{value}");
    let hint_html = hint
        .map(|h| format!("<p class=\"hint\" id=\"{id}-hint\">{}</p>", esc(h)))
        .unwrap_or_default();
    let described = if hint.is_some() {
        format!(" aria-describedby=\"{id}-hint\"")
    } else {
        String::new()
    };
    format!(
        "<div class=\"field checkbox\"><input id=\"{id}\" name=\"{name}\" type=\"radio\" value=\"{}\"{}{described} required>\
         <div><label for=\"{id}\">{}</label>{hint_html}</div></div>",
        esc(value),
        if checked { " checked" } else { "" },
        esc(label)
    )
}

/// Step 2: operator, mailbox address, mailbox type (and certificate).
pub fn mailbox_step(
    csrf: &str,
    operators: &[OperatorView],
    form: &MailboxForm,
    error: Option<&str>,
) -> String {
    let single = operators.len() == 1;
    let operator_radios: String = operators
        .iter()
        .map(|op| {
            let hint = (!op.domains.is_empty()).then(|| op.domains.join(", "));
            radio(
                "operator",
                &op.id,
                &op.name,
                form.operator == op.id || single,
                hint.as_deref(),
            )
        })
        .collect();
    let body = format!(
        "{error}<form method=\"post\" action=\"/wizard/mailbox\" enctype=\"multipart/form-data\" class=\"form\">{csrf}\
         <fieldset><legend>{op_legend}</legend><p class=\"hint\">{op_hint}</p>{operator_radios}</fieldset>\
         <fieldset><legend>{manual_legend}</legend><p class=\"hint\">{manual_needed}</p>{smtp_host}{smtp_port}{imap_host}{imap_port}</fieldset>\
         {mailbox}\
         <fieldset><legend>{type_legend}</legend>{card}{software}</fieldset>\
         <fieldset><legend>{p12_legend}</legend>{p12_file}{p12_password}</fieldset>\
         <button type=\"submit\">{save}</button></form><p><a href=\"/settings/backup\">{restore}</a></p>",
        error = error.map(|e| notice("error", e)).unwrap_or_default(),
        restore = esc(texts::WIZARD_RESTORE),
        csrf = csrf_field(csrf),
        op_legend = esc(texts::OPERATOR_LEGEND),
        op_hint = esc(texts::OPERATOR_HINT),
        manual_legend = esc(texts::MANUAL_LEGEND),
        manual_needed = esc(texts::MANUAL_NEEDED),
        smtp_host = field(
            "smtp_host",
            texts::MANUAL_SMTP_HOST,
            "text",
            &form.smtp_host,
            " autocomplete=\"off\"",
            None
        ),
        smtp_port = field(
            "smtp_port",
            texts::MANUAL_SMTP_PORT,
            "number",
            &form.smtp_port,
            " min=\"1\" max=\"65535\"",
            None
        ),
        imap_host = field(
            "imap_host",
            texts::MANUAL_IMAP_HOST,
            "text",
            &form.imap_host,
            " autocomplete=\"off\"",
            None
        ),
        imap_port = field(
            "imap_port",
            texts::MANUAL_IMAP_PORT,
            "number",
            &form.imap_port,
            " min=\"1\" max=\"65535\"",
            None
        ),
        mailbox = field(
            "mailbox",
            texts::MAILBOX_LABEL,
            "email",
            &form.mailbox,
            " required autocomplete=\"email\"",
            Some(texts::MAILBOX_HINT)
        ),
        type_legend = esc(texts::MAILBOX_TYPE_LEGEND),
        card = radio(
            "kind",
            "card",
            texts::MAILBOX_TYPE_CARD,
            form.kind == "card",
            Some(texts::MAILBOX_TYPE_CARD_HINT)
        ),
        software = radio(
            "kind",
            "software",
            texts::MAILBOX_TYPE_SOFTWARE,
            form.kind == "software",
            Some(texts::MAILBOX_TYPE_SOFTWARE_HINT)
        ),
        p12_legend = esc(texts::MAILBOX_TYPE_SOFTWARE),
        p12_file = field(
            "p12",
            texts::P12_FILE_LABEL,
            "file",
            "",
            " accept=\".p12,.pfx,application/x-pkcs12\"",
            None
        ),
        p12_password = field(
            "p12_password",
            texts::P12_PASSWORD_LABEL,
            "password",
            "",
            " autocomplete=\"off\"",
            None
        ),
        save = esc(texts::WIZARD_SAVE),
    );
    wizard_page(csrf, 2, &body)
}

/// While the daemon restarts: the page reloads itself (no script).
pub fn restarting(next: &str) -> String {
    let page = layout(
        texts::RESTARTING_TITLE,
        None,
        &format!(
            "{}<p><a href=\"{next}\">{}</a></p>",
            notice("info", texts::RESTARTING),
            esc(texts::RESTARTING_LINK),
            next = esc(next),
        ),
    );
    page.replacen(
        "<meta charset=\"utf-8\">",
        "<meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">",
        1,
    )
}

/// Step 3: the card, or a note that a certificate needs none.
pub fn card_step(
    csrf: &str,
    software: bool,
    card: Result<&CardView, String>,
    error: Option<&str>,
) -> String {
    let body = if software {
        format!(
            "{}<p><a class=\"button-link\" href=\"/wizard/test\">{}</a></p>",
            notice("info", texts::CARD_STEP_SKIPPED),
            esc(texts::WIZARD_CONTINUE)
        )
    } else {
        let unlocked = matches!(&card, Ok(c) if c.state == "unlocked");
        let waiting = matches!(&card, Ok(c) if c.state != "unlocked" && c.state != "locked");
        let next = if unlocked {
            format!(
                "<p><a class=\"button-link\" href=\"/wizard/test\">{}</a></p>",
                esc(texts::WIZARD_CONTINUE)
            )
        } else if waiting {
            format!(
                "<p>{}</p><p><a href=\"/wizard/card\">{}</a></p>",
                esc(texts::CARD_STEP_WAITING),
                esc(texts::RESTARTING_LINK)
            )
        } else {
            String::new()
        };
        format!(
            "<p>{}</p>{}{next}",
            esc(texts::CARD_STEP_INTRO),
            super::card::card_body(csrf, card, error, true)
        )
    };
    wizard_page(csrf, 3, &body)
}

/// Step 4: the connection test, and its result once run.
pub fn test_step(csrf: &str, result: Option<Result<&ConnectionTest, String>>) -> String {
    let outcome = match result {
        None => String::new(),
        Some(Err(reason)) => notice("error", &reason),
        Some(Ok(test)) => {
            let rows: String = test
                .steps
                .iter()
                .map(|s| {
                    let name = match s.step.as_str() {
                        "credential" => texts::TEST_STEP_CREDENTIAL,
                        "smtp" => texts::TEST_STEP_SMTP,
                        _ => texts::TEST_STEP_IMAP,
                    };
                    let (state, class, advice) = if s.ok {
                        (texts::TEST_STEP_OK, "ok", String::new())
                    } else {
                        (
                            texts::TEST_STEP_FAILED,
                            "error",
                            format!(
                                "<p>{}</p>",
                                esc(texts::connection_advice(s.code.as_deref().unwrap_or("")))
                            ),
                        )
                    };
                    format!(
                        "<li class=\"test-step test-{class}\" data-step=\"{}\"><strong>{}</strong> : {}{advice}</li>",
                        esc(&s.step),
                        esc(name),
                        esc(state)
                    )
                })
                .collect();
            let summary = if test.ok {
                notice("info", texts::TEST_OK)
            } else {
                notice("error", texts::TEST_FAILED)
            };
            let next = if test.ok {
                format!(
                    "<p><a class=\"button-link\" href=\"/wizard/accounts\">{}</a></p>",
                    esc(texts::WIZARD_CONTINUE)
                )
            } else {
                String::new()
            };
            format!("{summary}<ul class=\"test-steps\">{rows}</ul>{next}")
        }
    };
    let again = if outcome.is_empty() {
        texts::TEST_SUBMIT
    } else {
        texts::TEST_AGAIN
    };
    let body = format!(
        "<p>{}</p>{outcome}<form method=\"post\" action=\"/wizard/test\" class=\"form\">{}\
         <button type=\"submit\">{}</button></form>",
        esc(texts::TEST_INTRO),
        csrf_field(csrf),
        esc(again)
    );
    wizard_page(csrf, 4, &body)
}

/// Step 5 and the daily accounts page: accounts, the form to add one, and
/// the settings the practice's machines need.
pub fn accounts(
    csrf: &str,
    wizard: bool,
    accounts: Result<&[String], String>,
    local: Option<&LocalAccess>,
    host: &str,
    flash: Option<(&str, &str)>,
) -> String {
    let action = if wizard {
        "/wizard/accounts"
    } else {
        "/accounts"
    };
    let list = match accounts {
        Err(reason) => notice("error", &reason),
        Ok([]) => format!("<p>{}</p>", esc(texts::ACCOUNTS_NONE)),
        Ok(users) => {
            let rows: String = users
                .iter()
                .map(|u| {
                    format!(
                        "<li><span data-account=\"{u}\">{u}</span> \
                         <a href=\"/accounts/{path}/delete\">{remove}<span class=\"visually-hidden\"> {u}</span></a></li>",
                        u = esc(u),
                        path = esc(&crate::daemon::encode(u)),
                        remove = esc(texts::ACCOUNT_REMOVE),
                    )
                })
                .collect();
            format!(
                "<h2>{}</h2><ul class=\"accounts\">{rows}</ul>",
                esc(texts::ACCOUNTS_LIST)
            )
        }
    };
    let form = format!(
        "<form method=\"post\" action=\"{action}\" class=\"form\">{}{}{}{}\
         <button type=\"submit\">{}</button><p class=\"hint\">{}</p></form>",
        csrf_field(csrf),
        field(
            "user",
            texts::ACCOUNT_USER_LABEL,
            "text",
            "",
            " required maxlength=\"64\" pattern=\"[a-z0-9._\\-]+\" autocomplete=\"off\"",
            Some(texts::ACCOUNT_USER_HINT)
        ),
        field(
            "password",
            texts::ACCOUNT_PASSWORD_LABEL,
            "password",
            "",
            " required minlength=\"12\" maxlength=\"128\" autocomplete=\"new-password\"",
            Some(texts::ACCOUNT_PASSWORD_HINT)
        ),
        field(
            "confirm",
            texts::ACCOUNT_CONFIRM_LABEL,
            "password",
            "",
            " required minlength=\"12\" maxlength=\"128\" autocomplete=\"new-password\"",
            None
        ),
        esc(texts::ACCOUNT_CREATE),
        esc(texts::ACCOUNT_CHANGE),
    );
    let settings = local.map(|l| client_settings(l, host)).unwrap_or_default();
    let finish = if wizard {
        format!(
            "<p><a class=\"button-link\" href=\"/dashboard\">{}</a></p>",
            esc(texts::WIZARD_FINISH)
        )
    } else {
        String::new()
    };
    let body = format!(
        "{}<p>{}</p>{list}{form}{settings}{finish}",
        super::flash(flash),
        esc(texts::ACCOUNTS_INTRO)
    );
    if wizard {
        wizard_page(csrf, 5, &body)
    } else {
        layout(
            texts::NAV_ACCOUNTS,
            Some(Nav {
                csrf,
                current: "/accounts",
            }),
            &body,
        )
    }
}

/// The exact settings for Thunderbird, Outlook or practice software.
fn client_settings(local: &LocalAccess, host: &str) -> String {
    let ports = |p: &[u16]| p.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    let mut rows = format!(
        "<div><dt>{}</dt><dd data-field=\"server\">{}</dd></div>\
         <div><dt>{}</dt><dd data-field=\"smtp\">{} – {}</dd></div>",
        esc(texts::CLIENT_SERVER),
        esc(host),
        esc(texts::CLIENT_SMTP),
        esc(&ports(&local.smtp_ports)),
        esc(texts::CLIENT_SECURITY),
    );
    if !local.imap_ports.is_empty() {
        rows.push_str(&format!(
            "<div><dt>{}</dt><dd data-field=\"imap\">{} – {}</dd></div>",
            esc(texts::CLIENT_IMAP),
            esc(&ports(&local.imap_ports)),
            esc(texts::CLIENT_SECURITY),
        ));
    }
    if let Some(port) = local.autoconfig_ports.first() {
        let url = format!(
            "http://{host}:{port}/mail/config-v1.1.xml?emailaddress={}",
            crate::daemon::encode(&local.mailbox)
        );
        rows.push_str(&format!(
            "<div><dt>{}</dt><dd data-field=\"autoconfig\"><a href=\"{u}\">{u}</a></dd></div>",
            esc(texts::CLIENT_AUTOCONFIG),
            u = esc(&url),
        ));
    }
    let folders = if local.outbox_folders.is_empty() {
        format!("<p>{}</p>", esc(texts::CLIENT_NO_OUTBOX))
    } else {
        let items: String = local
            .outbox_folders
            .iter()
            .map(|f| format!("<li><code data-field=\"outbox\">{}</code></li>", esc(f)))
            .collect();
        format!("<h3>{}</h3><ul>{items}</ul>", esc(texts::CLIENT_OUTBOX))
    };
    format!(
        "<h2>{}</h2><p>{}</p><dl class=\"facts\">{rows}</dl><p>{}</p>{folders}",
        esc(texts::CLIENT_SETTINGS_TITLE),
        esc(texts::CLIENT_SETTINGS_INTRO),
        esc(texts::CLIENT_LOGIN),
    )
}

/// Confirmation before removing a local account.
pub fn account_removal(csrf: &str, user: &str) -> String {
    let body = format!(
        "<form method=\"post\" action=\"/accounts/{path}/delete\" class=\"form\">{csrf}\
         <p><strong>{user}</strong></p>\
         <div class=\"field checkbox\"><input id=\"confirm\" name=\"confirm\" type=\"checkbox\" value=\"1\" required>\
         <label for=\"confirm\">{confirm}</label></div>\
         <button type=\"submit\" class=\"danger\">{remove}</button></form>",
        path = esc(&crate::daemon::encode(user)),
        csrf = csrf_field(csrf),
        user = esc(user),
        confirm = esc(texts::ACCOUNT_REMOVE_CONFIRM),
        remove = esc(texts::ACCOUNT_REMOVE),
    );
    layout(
        texts::ACCOUNT_REMOVE_TITLE,
        Some(Nav {
            csrf,
            current: "/accounts",
        }),
        &body,
    )
}

/// Settings groups, in the order shown.
const GROUPS: &[(&str, &[&str])] = &[
    (texts::SETTINGS_GROUP_MAILBOX, &["mssante.mailbox"]),
    (
        texts::SETTINGS_GROUP_OPERATOR,
        &[
            "upstream.host",
            "upstream.port",
            "upstream.tls",
            "upstream.server_name",
            "upstream.imap_host",
            "upstream.imap_port",
            "upstream.imap_tls",
        ],
    ),
    (
        texts::SETTINGS_GROUP_INBOUND,
        &[
            "inbound.poll_interval",
            "inbound.delete_after_export",
            "inbound.send_receipts",
            "inbound.receipt_timeout_hours",
            "queue.lifetime_hours",
        ],
    ),
    (
        texts::SETTINGS_GROUP_PAPER,
        &[
            "paper.practice_name",
            "paper.practitioner",
            "paper.specialty",
            "paper.address_lines",
            "paper.postcode",
            "paper.town",
            "paper.phone",
            "paper.email",
            "paper.rpps",
            "paper.printer",
        ],
    ),
    (texts::SETTINGS_GROUP_LAN, &["smtp.trusted_networks"]),
    (texts::SETTINGS_GROUP_SUPPORT, &["log.level"]),
];

/// The form field name of a setting (dots are fine in names, but ids are
/// simpler without them).
pub fn field_name(key: &str) -> String {
    key.replace('.', "__")
}

/// The settings page: every setting the practice may change.
pub fn settings(csrf: &str, view: &SettingsView, error: Option<(&str, &str)>) -> String {
    let kind_of = |key: &str| {
        view.editable
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.kind.as_str())
            .unwrap_or("text")
    };
    let groups: String = GROUPS
        .iter()
        .map(|(legend, keys)| {
            let fields: String = keys
                .iter()
                .filter(|k| view.editable.iter().any(|e| e.key == **k))
                .map(|key| {
                    let name = field_name(key);
                    let label = texts::setting_label(key);
                    let value = view.text(key);
                    let invalid = match error {
                        Some((k, _)) if k == *key => " aria-invalid=\"true\"",
                        _ => "",
                    };
                    match kind_of(key) {
                        "boolean" => format!(
                            "<div class=\"field checkbox\"><input type=\"hidden\" name=\"{name}\" value=\"false\">\
                             <input id=\"{name}\" name=\"{name}\" type=\"checkbox\" value=\"true\"{}{invalid}>\
                             <label for=\"{name}\">{}</label></div>",
                            if value == "true" { " checked" } else { "" },
                            esc(label)
                        ),
                        "list" => format!(
                            "<div class=\"field\"><label for=\"{name}\">{}</label>\
                             <textarea id=\"{name}\" name=\"{name}\" rows=\"3\" aria-describedby=\"{name}-hint\"{invalid}>{}</textarea>\
                             <p class=\"hint\" id=\"{name}-hint\">{}</p></div>",
                            esc(label),
                            esc(&value),
                            esc(texts::SETTINGS_LIST_HINT)
                        ),
                        "integer" => field(&name, label, "number", &value, &format!(" min=\"0\"{invalid}"), None),
                        _ => field(&name, label, "text", &value, invalid, None),
                    }
                })
                .collect();
            if fields.is_empty() {
                String::new()
            } else {
                format!("<fieldset><legend>{}</legend>{fields}</fieldset>", esc(legend))
            }
        })
        .collect();
    let error_html = error
        .map(|(key, reason)| {
            if key.is_empty() {
                notice("error", reason)
            } else {
                notice(
                    "error",
                    &format!("{} : {reason}", texts::setting_label(key)),
                )
            }
        })
        .unwrap_or_default();
    let body = format!(
        "{error_html}<p>{}</p><form method=\"post\" action=\"/settings\" class=\"form\">{}{groups}\
         <button type=\"submit\">{}</button></form>\
         <p><a href=\"/settings/certificate\">{}</a> · <a href=\"/settings/network\">{}</a> · <a href=\"/settings/backup\">{}</a> · <a href=\"/restart\">{}</a></p>",
        esc(texts::SETTINGS_INTRO),
        csrf_field(csrf),
        esc(texts::SETTINGS_SAVE),
        esc(texts::CERTIFICATE_TITLE),
        esc(texts::NETWORK_TITLE),
        esc(texts::BACKUP_TITLE),
        esc(texts::RESTART_TITLE),
    );
    layout(
        texts::NAV_SETTINGS,
        Some(Nav {
            csrf,
            current: "/settings",
        }),
        &body,
    )
}

/// The certificate page: the one in use, and the renewal upload.
pub fn certificate(
    csrf: &str,
    software: bool,
    identity: &str,
    not_after: Option<i64>,
    error: Option<&str>,
) -> String {
    let current = format!(
        "<dl class=\"facts\"><div><dt>{}</dt><dd data-field=\"identity\">{}</dd></div>\
         <div><dt>{}</dt><dd>{}</dd></div></dl>",
        esc(texts::CERTIFICATE_CURRENT),
        esc(identity),
        esc(texts::CERTIFICATE_END),
        not_after
            .map(super::time)
            .unwrap_or_else(|| esc(texts::NONE)),
    );
    let body = if software {
        format!(
            "{}{current}<p>{}</p><form method=\"post\" action=\"/settings/certificate\" enctype=\"multipart/form-data\" class=\"form\">{}{}{}\
             <button type=\"submit\">{}</button></form>",
            error.map(|e| notice("error", e)).unwrap_or_default(),
            esc(texts::CERTIFICATE_INTRO),
            csrf_field(csrf),
            field(
                "p12",
                texts::P12_FILE_LABEL,
                "file",
                "",
                " required accept=\".p12,.pfx,application/x-pkcs12\"",
                None
            ),
            field(
                "p12_password",
                texts::P12_PASSWORD_LABEL,
                "password",
                "",
                " required autocomplete=\"off\"",
                None
            ),
            esc(texts::CERTIFICATE_RENEW),
        )
    } else {
        format!("{current}<p>{}</p>", esc(texts::CERTIFICATE_CARD))
    };
    layout(
        texts::CERTIFICATE_TITLE,
        Some(Nav {
            csrf,
            current: "/settings",
        }),
        &body,
    )
}

/// Backup download and restore upload.
pub fn backup(csrf: &str, error: Option<&str>) -> String {
    let body = format!(
        "{error}<p>{intro}</p>\
         <form method=\"post\" action=\"/settings/backup\" class=\"form\">{csrf}\
         <fieldset><legend>{download_legend}</legend>{password}</fieldset>\
         <button type=\"submit\">{download}</button></form>\
         <form method=\"post\" action=\"/settings/restore\" enctype=\"multipart/form-data\" class=\"form\">{csrf}\
         <fieldset><legend>{restore_legend}</legend><p>{restore_intro}</p>{file}{restore_password}</fieldset>\
         <button type=\"submit\" class=\"danger\">{restore}</button></form>",
        error = error.map(|e| notice("error", e)).unwrap_or_default(),
        intro = esc(texts::BACKUP_INTRO),
        csrf = csrf_field(csrf),
        download_legend = esc(texts::BACKUP_DOWNLOAD_LEGEND),
        password = field(
            "password",
            texts::BACKUP_PASSWORD_LABEL,
            "password",
            "",
            " required autocomplete=\"current-password\"",
            None
        ),
        download = esc(texts::BACKUP_DOWNLOAD),
        restore_legend = esc(texts::RESTORE_LEGEND),
        restore_intro = esc(texts::RESTORE_INTRO),
        file = field(
            "backup",
            texts::RESTORE_FILE_LABEL,
            "file",
            "",
            " required accept=\".fcb\"",
            None
        ),
        restore_password = field(
            "restore_password",
            texts::RESTORE_PASSWORD_LABEL,
            "password",
            "",
            " required autocomplete=\"off\"",
            Some(texts::RESTORE_PASSWORD_HINT)
        ),
        restore = esc(texts::RESTORE_SUBMIT),
    );
    layout(
        texts::BACKUP_TITLE,
        Some(Nav {
            csrf,
            current: "/settings",
        }),
        &body,
    )
}

/// The LAN settings page.
pub fn network(
    csrf: &str,
    state: &crate::daemon_setup::NetworkState,
    error: Option<&str>,
) -> String {
    use facteur::network::LanSettings;
    let body = match (state.managed, &state.network) {
        (true, Some(view)) => {
            let current = match &view.settings {
                None => texts::NETWORK_DEFAULT.to_string(),
                Some(LanSettings::Dhcp) => texts::NETWORK_DHCP.to_string(),
                Some(LanSettings::Static {
                    address, prefix, ..
                }) => format!("{} {address}/{prefix}", texts::NETWORK_STATIC),
            };
            let (address, prefix, gateway, dns, is_static) = match &view.settings {
                Some(LanSettings::Static {
                    address,
                    prefix,
                    gateway,
                    dns,
                }) => (
                    address.to_string(),
                    prefix.to_string(),
                    gateway.to_string(),
                    dns.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    true,
                ),
                _ => (
                    String::new(),
                    "24".into(),
                    String::new(),
                    String::new(),
                    false,
                ),
            };
            let pending = view
                .pending_seconds
                .map(|s| {
                    format!(
                        "{}{}",
                        notice("info", &texts::network_wait(s)),
                        confirm_form(csrf)
                    )
                })
                .unwrap_or_default();
            format!(
                "{pending}<dl class=\"facts\"><div><dt>{current_label}</dt><dd data-field=\"network\">{current}</dd></div></dl>\
                 <p>{intro}</p><form method=\"post\" action=\"/settings/network\" class=\"form\">{csrf}\
                 <fieldset><legend>{legend}</legend>{dhcp}{fixed}</fieldset>\
                 {address}{prefix}{gateway}\
                 <div class=\"field\"><label for=\"dns\">{dns_label}</label><textarea id=\"dns\" name=\"dns\" rows=\"3\">{dns}</textarea></div>\
                 <button type=\"submit\">{submit}</button></form>",
                current_label = esc(texts::NETWORK_CURRENT),
                current = esc(&current),
                intro = esc(texts::NETWORK_INTRO),
                csrf = csrf_field(csrf),
                legend = esc(texts::NETWORK_MODE_LEGEND),
                dhcp = radio("mode", "dhcp", texts::NETWORK_DHCP, !is_static, None),
                fixed = radio("mode", "static", texts::NETWORK_STATIC, is_static, None),
                address = field(
                    "address",
                    texts::NETWORK_ADDRESS,
                    "text",
                    &address,
                    " inputmode=\"decimal\" autocomplete=\"off\"",
                    None
                ),
                prefix = field(
                    "prefix",
                    texts::NETWORK_PREFIX,
                    "number",
                    &prefix,
                    " min=\"8\" max=\"30\"",
                    None
                ),
                gateway = field(
                    "gateway",
                    texts::NETWORK_GATEWAY,
                    "text",
                    &gateway,
                    " inputmode=\"decimal\" autocomplete=\"off\"",
                    None
                ),
                dns_label = esc(texts::NETWORK_DNS),
                dns = esc(&dns),
                submit = esc(texts::NETWORK_SUBMIT),
            )
        }
        _ => format!("<p>{}</p>", esc(texts::NETWORK_NOT_MANAGED)),
    };
    layout(
        texts::NETWORK_TITLE,
        Some(Nav {
            csrf,
            current: "/settings",
        }),
        &format!(
            "{}{body}",
            error.map(|e| notice("error", e)).unwrap_or_default()
        ),
    )
}

/// After applying: where to confirm, and the time left.
pub fn network_applied(csrf: &str, seconds: u64, new_address: Option<&str>) -> String {
    let link = match new_address {
        Some(url) => format!(
            "<p>{} <a href=\"{u}\">{u}</a></p>",
            esc(texts::NETWORK_OPEN_NEW),
            u = esc(url)
        ),
        None => format!("<p>{}</p>", esc(texts::NETWORK_DHCP_NOTE)),
    };
    let body = format!(
        "{}{link}{}",
        notice("info", &texts::network_wait(seconds as i64)),
        confirm_form(csrf)
    );
    layout(
        texts::NETWORK_CONFIRM_TITLE,
        Some(Nav {
            csrf,
            current: "/settings",
        }),
        &body,
    )
}

fn confirm_form(csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/settings/network/confirm\" class=\"form\">{}\
         <button type=\"submit\">{}</button></form>",
        csrf_field(csrf),
        esc(texts::NETWORK_CONFIRM_SUBMIT)
    )
}

/// The outcome of a confirmation.
pub fn network_confirm(csrf: &str, message: Option<(&str, &str)>) -> String {
    let body = match message {
        Some((kind, text)) => notice(kind, text),
        None => confirm_form(csrf),
    };
    layout(
        texts::NETWORK_CONFIRM_TITLE,
        Some(Nav {
            csrf,
            current: "/settings",
        }),
        &body,
    )
}

/// Confirmation before restarting the service.
pub fn restart(csrf: &str) -> String {
    let body = format!(
        "<p>{}</p><form method=\"post\" action=\"/restart\" class=\"form\">{}\
         <button type=\"submit\">{}</button></form>",
        esc(texts::RESTART_INTRO),
        csrf_field(csrf),
        esc(texts::RESTART_SUBMIT),
    );
    layout(
        texts::RESTART_TITLE,
        Some(Nav {
            csrf,
            current: "/settings",
        }),
        &body,
    )
}

/// The banner on the dashboard while the wizard is not finished.
pub fn unfinished_banner() -> String {
    format!(
        "<p class=\"notice notice-warn\" role=\"status\">{} <a href=\"/wizard\">{}</a></p>",
        esc(texts::WIZARD_BANNER),
        esc(texts::WIZARD_RESUME)
    )
}
