//! Opening an authenticated session with the operator: find the host,
//! connect, TLS (STARTTLS or implicit) with the MSSanté policy and the
//! credential, EHLO, and SASL EXTERNAL when the operator offers it.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::reply::{Capabilities, Reply, ReplyError};
use super::session::UpstreamSession;
use crate::config::UpstreamTls;

/// Why no session could be opened. Always transient for the queue: the
/// messages wait, and the text tells the practice what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("operator not found: {0}")]
    Resolve(String),
    #[error("cannot reach the operator at {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("TLS with the operator failed: {0}")]
    Tls(String),
    #[error("operator refused the session: {0}")]
    Refused(String),
    #[error("operator does not offer STARTTLS; refusing to send in clear")]
    NoStartTls,
    #[error("operator did not answer in time ({0})")]
    Timeout(&'static str),
    #[error("{0}")]
    Protocol(#[from] ReplyError),
    /// No access token could be had (Pro Santé Connect).
    #[error("{0}")]
    Login(#[from] crate::psc::PscError),
    /// The operator refused the access token.
    #[error("operator refused the Pro Santé Connect token: {0}")]
    TokenRefused(String),
}

/// Where the operator's submission service is.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// Configured host and port.
    Fixed { host: String, port: u16 },
    /// DNS SRV `_submission._tcp.<domain>` (RFC 6186), asked of `resolver`
    /// or of the system's resolver.
    Srv {
        domain: String,
        resolver: Option<std::net::SocketAddr>,
    },
}

/// Everything needed to open sessions; shared by all delivery tasks.
#[derive(Clone)]
pub struct Connector {
    pub endpoint: Endpoint,
    pub tls_mode: UpstreamTls,
    /// Name checked in the operator's certificate (None: the host's name).
    pub server_name: Option<String>,
    pub tls: Arc<ClientConfig>,
    /// What the TLS configuration presents (also asked whether it can sign now).
    pub credential: Arc<dyn crate::credential::Credential>,
    /// Name sent in EHLO.
    pub ehlo_name: String,
    /// The box's mailbox: the user named in XOAUTH2/OAUTHBEARER.
    pub mailbox: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// Ask the operator for delivery reports (`upstream.delivery_reports`).
    pub delivery_reports: bool,
}

async fn timed<T, E>(
    limit: Duration,
    what: &'static str,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, ConnectError>
where
    ConnectError: From<E>,
{
    match tokio::time::timeout(limit, f).await {
        Ok(result) => result.map_err(ConnectError::from),
        Err(_) => Err(ConnectError::Timeout(what)),
    }
}

impl From<std::io::Error> for ConnectError {
    fn from(e: std::io::Error) -> Self {
        ConnectError::Protocol(ReplyError::Io(e))
    }
}

impl Connector {
    /// Candidates in the order to try them: host name (for TLS), port, and
    /// addresses when the lookup already resolved them.
    async fn targets(&self) -> Result<Vec<Target>, ConnectError> {
        match &self.endpoint {
            Endpoint::Fixed { host, port } => Ok(vec![Target {
                host: host.clone(),
                port: *port,
                addresses: Vec::new(),
            }]),
            Endpoint::Srv { domain, resolver } => lookup_srv(domain, *resolver).await,
        }
    }

    /// Opens a new authenticated session.
    pub async fn connect(&self) -> Result<UpstreamSession, ConnectError> {
        let targets = self.targets().await?;
        let mut last_error = ConnectError::Resolve("no target".into());
        for target in targets {
            match self.connect_to(&target).await {
                Ok(session) => return Ok(session),
                Err(e @ ConnectError::Connect { .. }) | Err(e @ ConnectError::Timeout(_)) => {
                    tracing::warn!(host = %target.host, port = target.port, error = %e, "operator endpoint unreachable");
                    last_error = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error)
    }

    async fn connect_to(&self, to: &Target) -> Result<UpstreamSession, ConnectError> {
        let (host, port) = (to.host.as_str(), to.port);
        let target = format!("{host}:{port}");
        let connecting = async {
            if to.addresses.is_empty() {
                TcpStream::connect((host, port)).await
            } else {
                let addresses: Vec<std::net::SocketAddr> = to
                    .addresses
                    .iter()
                    .map(|ip| std::net::SocketAddr::new(*ip, port))
                    .collect();
                TcpStream::connect(&addresses[..]).await
            }
        };
        let tcp = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Err(ConnectError::Connect {
                    target,
                    reason: e.to_string(),
                });
            }
            Err(_) => return Err(ConnectError::Timeout("connect")),
        };
        let _ = tcp.set_nodelay(true);
        let name = self.server_name.as_deref().unwrap_or(host).to_string();
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| ConnectError::Tls(format!("invalid server name `{name}`")))?;
        let connector = TlsConnector::from(self.tls.clone());
        let t = self.command_timeout;

        let tls = match self.tls_mode {
            UpstreamTls::Implicit => {
                timed(t, "TLS handshake", async {
                    connector
                        .connect(server_name, tcp)
                        .await
                        .map_err(|e| ConnectError::Tls(e.to_string()))
                })
                .await?
            }
            UpstreamTls::Starttls => {
                let mut plain = BufReader::new(tcp);
                let greeting = timed(t, "greeting", Reply::read(&mut plain)).await?;
                if greeting.code != 220 {
                    return Err(ConnectError::Refused(greeting.summary()));
                }
                plain
                    .get_mut()
                    .write_all(format!("EHLO {}\r\n", self.ehlo_name).as_bytes())
                    .await?;
                let ehlo = timed(t, "EHLO", Reply::read(&mut plain)).await?;
                if ehlo.code != 250 {
                    return Err(ConnectError::Refused(ehlo.summary()));
                }
                if !Capabilities::from_ehlo(&ehlo).starttls {
                    return Err(ConnectError::NoStartTls);
                }
                plain.get_mut().write_all(b"STARTTLS\r\n").await?;
                let go = timed(t, "STARTTLS", Reply::read(&mut plain)).await?;
                if go.code != 220 {
                    return Err(ConnectError::Refused(go.summary()));
                }
                // Bytes the server sent after its 220 would be read as if
                // protected by TLS (STARTTLS command injection): refuse.
                if !plain.buffer().is_empty() {
                    return Err(ConnectError::Tls(
                        "operator sent data before the TLS handshake".into(),
                    ));
                }
                let tcp = plain.into_inner();
                timed(t, "TLS handshake", async {
                    connector
                        .connect(server_name, tcp)
                        .await
                        .map_err(|e| ConnectError::Tls(e.to_string()))
                })
                .await?
            }
        };
        let (_, conn) = tls.get_ref();
        let version = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let suite = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        let mut session = UpstreamSession::new(tls, t);
        if self.tls_mode == UpstreamTls::Implicit {
            let greeting = session
                .read_reply("greeting")
                .await
                .map_err(|e| ConnectError::Refused(e.to_string()))?;
            if greeting.code != 220 {
                return Err(ConnectError::Refused(greeting.summary()));
            }
        }
        let ehlo = session
            .command(&format!("EHLO {}\r\n", self.ehlo_name), "EHLO")
            .await
            .map_err(|e| ConnectError::Refused(e.to_string()))?;
        if ehlo.code != 250 {
            return Err(ConnectError::Refused(ehlo.summary()));
        }
        let caps = Capabilities::from_ehlo(&ehlo);
        let psc = self.credential.psc();
        if let Some(psc) = &psc {
            self.bearer_login(&mut session, &caps, psc).await?;
        } else if caps.auth_external {
            // The identity is the certificate: an empty authorization
            // identity ("=") asks the server to derive it from there.
            let auth = session
                .command("AUTH EXTERNAL =\r\n", "AUTH")
                .await
                .map_err(|e| ConnectError::Refused(e.to_string()))?;
            if auth.code != 235 {
                return Err(ConnectError::Refused(auth.summary()));
            }
        }
        tracing::info!(target = %target, tls_version = %version, cipher = %suite, external = caps.auth_external && psc.is_none(), bearer = psc.is_some(), "operator session opened");
        session.set_capabilities(caps);
        session.request_reports(self.delivery_reports);
        Ok(session)
    }
}

impl Connector {
    /// "TLS then XOAUTH2": logs in with the session's access token.
    async fn bearer_login(
        &self,
        session: &mut UpstreamSession,
        caps: &Capabilities,
        psc: &Arc<crate::psc::PscSession>,
    ) -> Result<(), ConnectError> {
        use crate::psc::sasl::{Mechanism, describe_challenge};
        let mechanism =
            Mechanism::choose(caps.auth.iter().map(String::as_str)).ok_or_else(|| {
                ConnectError::Refused(
                    "the operator offers neither XOAUTH2 nor OAUTHBEARER after TLS".into(),
                )
            })?;
        let token = psc.access_token().await?;
        let line = zeroize::Zeroizing::new(format!(
            "AUTH {} {}\r\n",
            mechanism.name(),
            mechanism
                .initial_response_base64(&self.mailbox, &token)
                .as_str()
        ));
        let refused = |e: super::SessionError| ConnectError::Refused(e.to_string());
        let reply = session.command(&line, "AUTH").await.map_err(refused)?;
        match reply.code {
            235 => Ok(()),
            334 => {
                // The error challenge: answered so the server ends the
                // exchange with its own failure reply.
                let said = reply.lines.first().and_then(|c| describe_challenge(c));
                let abort = format!("{}\r\n", base64_of(mechanism.abort_response()));
                let end = session.command(&abort, "AUTH").await.map_err(refused)?;
                match said {
                    Some(status) => {
                        let detail = format!("{status}; {}", end.summary());
                        psc.token_refused(&detail);
                        Err(ConnectError::TokenRefused(detail))
                    }
                    // Not the error challenge of the specifications: a
                    // server that says nothing readable says nothing of
                    // the token either.
                    None => Err(ConnectError::Refused(end.summary())),
                }
            }
            535 => {
                psc.token_refused(&reply.summary());
                Err(ConnectError::TokenRefused(reply.summary()))
            }
            _ => Err(ConnectError::Refused(reply.summary())),
        }
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A host to try.
struct Target {
    host: String,
    port: u16,
    /// Resolved by the same resolver as the SRV record; empty: resolve at
    /// connect time.
    addresses: Vec<std::net::IpAddr>,
}

/// Looks up the operator's submission service. The certificate is then
/// checked against the SRV target's name (the operator's server), unless
/// `upstream.server_name` says otherwise.
async fn lookup_srv(
    domain: &str,
    server: Option<std::net::SocketAddr>,
) -> Result<Vec<Target>, ConnectError> {
    use hickory_resolver::TokioResolver;
    use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
    use hickory_resolver::name_server::TokioConnectionProvider;
    let resolver = match server {
        Some(addr) => {
            let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
            .build()
        }
        None => TokioResolver::builder_tokio()
            .map_err(|e| ConnectError::Resolve(e.to_string()))?
            .build(),
    };
    let name = format!("_submission._tcp.{domain}.");
    let answer = resolver
        .srv_lookup(name.as_str())
        .await
        .map_err(|e| ConnectError::Resolve(format!("{name}: {e}")))?;
    let mut records: Vec<_> = answer
        .iter()
        .filter(|r| r.port() != 0 && !r.target().is_root())
        .map(|r| {
            (
                r.priority(),
                std::cmp::Reverse(r.weight()),
                r.target().to_utf8(),
                r.port(),
            )
        })
        .collect();
    records.sort();
    if records.is_empty() {
        return Err(ConnectError::Resolve(format!(
            "{name}: no usable SRV record"
        )));
    }
    let mut targets = Vec::new();
    for (_, _, host, port) in records {
        let addresses = match resolver.lookup_ip(host.as_str()).await {
            Ok(ips) => ips.iter().collect(),
            Err(e) => {
                tracing::warn!(host = %host, error = %e, "SRV target does not resolve");
                continue;
            }
        };
        targets.push(Target {
            host: host.trim_end_matches('.').to_string(),
            port,
            addresses,
        });
    }
    if targets.is_empty() {
        return Err(ConnectError::Resolve(format!(
            "{name}: no SRV target resolves"
        )));
    }
    Ok(targets)
}
