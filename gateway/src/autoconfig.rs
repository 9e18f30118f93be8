//! Mail-client autoconfiguration, so adding the box's account is one step:
//! Thunderbird's autoconfig XML and Outlook's autodiscover (POX), both
//! pointing at the box's local IMAP and SMTP submission.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

/// What the clients are told.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The box's name on the LAN.
    pub hostname: String,
    pub smtp_port: Option<u16>,
    pub imap_port: Option<u16>,
    pub imaps_port: Option<u16>,
    /// The practice's MSSanté address (display only).
    pub mailbox: String,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Thunderbird autoconfig (config-v1.1). The user name is the local part
/// of the address typed in the client: local accounts named like that log
/// in directly.
pub fn thunderbird_xml(s: &MailSettings) -> String {
    let host = escape(&s.hostname);
    let mut servers = String::new();
    if let Some(port) = s.imaps_port {
        servers.push_str(&format!(
            "    <incomingServer type=\"imap\">\n      <hostname>{host}</hostname>\n      <port>{port}</port>\n      <socketType>SSL</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>%EMAILLOCALPART%</username>\n    </incomingServer>\n"
        ));
    }
    if let Some(port) = s.imap_port {
        servers.push_str(&format!(
            "    <incomingServer type=\"imap\">\n      <hostname>{host}</hostname>\n      <port>{port}</port>\n      <socketType>STARTTLS</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>%EMAILLOCALPART%</username>\n    </incomingServer>\n"
        ));
    }
    if let Some(port) = s.smtp_port {
        servers.push_str(&format!(
            "    <outgoingServer type=\"smtp\">\n      <hostname>{host}</hostname>\n      <port>{port}</port>\n      <socketType>STARTTLS</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>%EMAILLOCALPART%</username>\n    </outgoingServer>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n  <emailProvider id=\"{host}\">\n    <domain>{host}</domain>\n    <displayName>Messagerie MSSanté ({})</displayName>\n    <displayShortName>MSSanté</displayShortName>\n{servers}  </emailProvider>\n</clientConfig>\n",
        escape(&s.mailbox)
    )
}

/// Outlook autodiscover, "POX" response schema.
pub fn outlook_xml(s: &MailSettings, email: &str) -> String {
    let host = escape(&s.hostname);
    let login = escape(email.split('@').next().unwrap_or(""));
    let mut protocols = String::new();
    let (imap_port, imap_ssl) = match (s.imaps_port, s.imap_port) {
        (Some(p), _) => (Some(p), "on"),
        (None, Some(p)) => (Some(p), "off"),
        _ => (None, "off"),
    };
    if let Some(port) = imap_port {
        protocols.push_str(&format!(
            "      <Protocol>\n        <Type>IMAP</Type>\n        <Server>{host}</Server>\n        <Port>{port}</Port>\n        <LoginName>{login}</LoginName>\n        <SPA>off</SPA>\n        <SSL>{imap_ssl}</SSL>\n        <Encryption>{}</Encryption>\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
            if imap_ssl == "on" { "SSL" } else { "TLS" }
        ));
    }
    if let Some(port) = s.smtp_port {
        protocols.push_str(&format!(
            "      <Protocol>\n        <Type>SMTP</Type>\n        <Server>{host}</Server>\n        <Port>{port}</Port>\n        <LoginName>{login}</LoginName>\n        <SPA>off</SPA>\n        <Encryption>TLS</Encryption>\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n{protocols}    </Account>\n  </Response>\n</Autodiscover>\n"
    )
}

#[derive(serde::Deserialize)]
struct EmailQuery {
    #[serde(default, alias = "emailaddress")]
    email: Option<String>,
}

fn xml(body: String) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
}

/// The routes, also mounted by the web admin later.
pub fn router(settings: Arc<MailSettings>) -> Router {
    let thunderbird =
        get(|State(s): State<Arc<MailSettings>>| async move { xml(thunderbird_xml(&s)) });
    let outlook = |State(s): State<Arc<MailSettings>>,
                   Query(q): Query<EmailQuery>,
                   body: String| async move {
        // Outlook POSTs <EMailAddress>...</EMailAddress>.
        let from_body = body
            .split_once("<EMailAddress>")
            .and_then(|(_, rest)| rest.split_once("</EMailAddress>"))
            .map(|(email, _)| email.trim().to_string());
        let email = from_body.or(q.email).unwrap_or_default();
        xml(outlook_xml(&s, &email))
    };
    Router::new()
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            thunderbird.clone(),
        )
        .route("/mail/config-v1.1.xml", thunderbird)
        .route("/autodiscover/autodiscover.xml", get(outlook).post(outlook))
        .route("/Autodiscover/Autodiscover.xml", get(outlook).post(outlook))
        .with_state(settings)
}

/// Serves the autoconfiguration on `addr` until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    settings: Arc<MailSettings>,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(address = %addr, "mail client autoconfiguration listening");
    let app = router(settings);
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MailSettings {
        MailSettings {
            hostname: "facteur.local".into(),
            smtp_port: Some(587),
            imap_port: Some(143),
            imaps_port: Some(993),
            mailbox: "cabinet.dupont@test.mssante.fr".into(),
        }
    }

    #[test]
    fn thunderbird_lists_every_service() {
        let x = thunderbird_xml(&settings());
        assert!(x.contains("<port>993</port>\n      <socketType>SSL</socketType>"));
        assert!(x.contains("<port>143</port>\n      <socketType>STARTTLS</socketType>"));
        assert!(x.contains("<outgoingServer type=\"smtp\">"));
        assert!(x.contains("<port>587</port>"));
    }

    #[test]
    fn outlook_names_the_login() {
        let x = outlook_xml(&settings(), "secretariat@facteur.local");
        assert!(x.contains("<LoginName>secretariat</LoginName>"));
        assert!(x.contains("<Type>IMAP</Type>"));
        assert!(x.contains("<Port>993</Port>"));
        let x = outlook_xml(&settings(), "<script>@x");
        assert!(x.contains("&lt;script&gt;"));
    }
}
