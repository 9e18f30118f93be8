//! Wiring: builds every part from the configuration, runs them, and stops
//! them in order on SIGINT/SIGTERM.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::board_link::{BoardLink, Sources};
use crate::card::{CardService, CardSettings};
use crate::config::{Config, CredentialConfig};
use crate::control::BoardApi;
use crate::credential::{CardCredential, Credential, SoftwareCredential};
use crate::queue::delivery::{Delivery, DeliverySettings};
use crate::queue::{Queue, RetryPolicy};
use crate::smtp::SmtpContext;
use crate::upstream::{Connector, Endpoint};
use crate::whitelist::Whitelist;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The credential, and the card service when a card is used (the Pro
/// Santé Connect session, when the credential is one, is `credential.psc()`).
pub struct LoadedCredential {
    pub credential: Arc<dyn Credential>,
    pub card: Option<CardService>,
}

/// Loads the configured credential; a card credential starts the card
/// service, which notifies `changed` whenever the card's state changes
/// (as does a Pro Santé Connect session when it opens or ends; its
/// renewals run once `PscSession::run` is spawned).
pub fn load_credential(
    config: &Config,
    changed: Vec<Arc<Notify>>,
) -> anyhow::Result<LoadedCredential> {
    load_credential_audited(config, changed, None)
}

pub fn load_credential_audited(
    config: &Config,
    changed: Vec<Arc<Notify>>,
    audit: Option<crate::audit::Audit>,
) -> anyhow::Result<LoadedCredential> {
    let mut card = None;
    let credential: Arc<dyn Credential> = match &config.credential {
        CredentialConfig::Psc(settings) => {
            let card_changed = Arc::new(Notify::new());
            let card = match settings.login {
                crate::psc::LoginMethod::Card => {
                    let chain = match &settings.intermediates {
                        Some(path) => load_pem_certificates(path)?,
                        None => Vec::new(),
                    };
                    let mut told = changed.clone();
                    told.push(card_changed.clone());
                    let service = CardService::start(
                        CardSettings {
                            reader: settings.reader.clone(),
                            identity_file: config.data_dir.join("card").join("identity.json"),
                            expiry_warning_days: settings.expiry_warning_days,
                        },
                        told,
                    )
                    .context("cannot start the card service")?;
                    Some((
                        service.clone(),
                        Arc::new(CardCredential::new(service, chain)),
                    ))
                }
                crate::psc::LoginMethod::Ecps => None,
            };
            let session = crate::psc::session(
                settings,
                card.as_ref().map(|(_, c)| c.clone()),
                changed,
                card_changed,
                audit,
            )
            .map_err(|e| anyhow::anyhow!("{}: key `credential`: {e}", config.path.display()))?;
            return Ok(LoadedCredential {
                credential: Arc::new(crate::psc::PscCredential::new(
                    session,
                    card.as_ref().map(|(_, c)| c.clone()),
                )),
                card: card.map(|(s, _)| s),
            });
        }
        CredentialConfig::Card {
            reader,
            intermediates,
            expiry_warning_days,
        } => {
            let chain = match intermediates {
                Some(path) => load_pem_certificates(path)?,
                None => Vec::new(),
            };
            let service = CardService::start(
                CardSettings {
                    reader: reader.clone(),
                    identity_file: config.data_dir.join("card").join("identity.json"),
                    expiry_warning_days: *expiry_warning_days,
                },
                changed,
            )
            .context("cannot start the card service")?;
            card = Some(service.clone());
            return Ok(LoadedCredential {
                credential: Arc::new(CardCredential::new(service, chain)),
                card,
            });
        }
        CredentialConfig::Software {
            pkcs12: Some(p12),
            pkcs12_password_file: Some(pass),
            ..
        } => Arc::new(SoftwareCredential::from_pkcs12(p12, pass)?),
        CredentialConfig::Software {
            certificate: Some(cert),
            key: Some(key),
            ..
        } => Arc::new(SoftwareCredential::from_pem(cert, key)?),
        CredentialConfig::Software { .. } => anyhow::bail!(
            "{}: key `credential`: incomplete software credential",
            config.path.display()
        ),
    };
    let remaining = credential.not_after().unwrap_or(i64::MAX) - crate::queue::now_unix();
    if remaining < 0 {
        tracing::error!(identity = %credential.identity(), "the credential's certificate has expired; the operator will refuse it");
    } else if remaining < 30 * 24 * 3600 {
        tracing::warn!(identity = %credential.identity(), days_left = remaining / 86400, "the credential's certificate expires soon");
    }
    Ok(LoadedCredential { credential, card })
}

fn load_pem_certificates(path: &std::path::Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: bad PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no certificate found", path.display());
    }
    Ok(certs)
}

/// Builds the upstream connector (TLS policy + credential + endpoint).
pub fn connector(config: &Config, credential: Arc<dyn Credential>) -> anyhow::Result<Connector> {
    let anchors = crate::tls::mssante::load_trust_anchors(&config.upstream.trust_anchors)?;
    let tls = crate::tls::mssante::client_config(
        anchors,
        &config.upstream.tls_versions,
        credential.clone(),
    )?;
    let endpoint = match &config.upstream.host {
        Some(host) => Endpoint::Fixed {
            host: host.clone(),
            port: config.upstream.port,
        },
        None => Endpoint::Srv {
            domain: crate::address::Address::parse(&config.mssante.mailbox)
                .map(|a| a.domain().to_string())
                .unwrap_or_default(),
            resolver: config.upstream.resolver,
        },
    };
    Ok(Connector {
        endpoint,
        tls_mode: config.upstream.tls,
        server_name: config.upstream.server_name.clone(),
        tls,
        credential,
        ehlo_name: config.smtp.hostname.clone(),
        mailbox: config.mssante.mailbox.clone(),
        connect_timeout: Duration::from_secs(config.upstream.connect_timeout),
        command_timeout: Duration::from_secs(config.upstream.command_timeout),
        delivery_reports: config.upstream.delivery_reports,
    })
}

/// The operator's IMAP server as the configuration names it.
fn upstream_imap(
    config: &Config,
    client_tls: Arc<rustls::ClientConfig>,
    credential: &Arc<dyn Credential>,
) -> crate::imap::UpstreamImap {
    crate::imap::UpstreamImap {
        bearer: credential
            .psc()
            .map(|psc| (psc, config.mssante.mailbox.clone())),
        host: config.upstream.imap_host.clone().unwrap_or_default(),
        port: config.upstream.imap_port,
        tls: config.upstream.imap_tls,
        server_name: config.upstream.server_name.clone(),
        client_tls,
        timeout: Duration::from_secs(config.upstream.connect_timeout),
        permits: Arc::new(tokio::sync::Semaphore::new(1)),
    }
}

fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the data directory", dir.display()))?;
    // Queue and keys are health data and secrets: owner only.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("{}: cannot restrict permissions", dir.display()))?;
    Ok(())
}

/// The board, its button and the health loop: the same whether the box is
/// set up or not.
struct Face {
    link: Option<Arc<BoardLink>>,
    api: Arc<BoardApi>,
    watchdog: Option<Box<dyn board::watchdog::Watchdog>>,
    actions: tokio::sync::mpsc::UnboundedReceiver<board::Action>,
    reset: Arc<Notify>,
}

impl Face {
    fn start(
        config: &crate::config::BoardConfig,
        data_dir: &std::path::Path,
        audit: &crate::audit::Audit,
    ) -> anyhow::Result<Face> {
        let started = crate::board_link::start(config)?;
        let reset = Arc::new(Notify::new());
        Ok(Face {
            api: Arc::new(BoardApi {
                link: started.link.clone(),
                data_dir: data_dir.to_path_buf(),
                audit: audit.clone(),
                reset: reset.clone(),
            }),
            link: started.link,
            watchdog: started.watchdog,
            actions: started.actions,
            reset,
        })
    }

    /// Acts on the button until `shutdown`: a long press retries the
    /// operator now (`retry`), the confirmed ten-second press resets.
    fn obey_button(
        &mut self,
        retry: Option<(Arc<Delivery>, Option<Arc<crate::inbound::fetcher::Fetcher>>)>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let (_, empty) = tokio::sync::mpsc::unbounded_channel();
        let mut actions = std::mem::replace(&mut self.actions, empty);
        let api = self.api.clone();
        tokio::spawn(async move {
            loop {
                let action = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    a = actions.recv() => match a { Some(a) => a, None => return },
                };
                match action {
                    board::Action::Identify => {
                        api.audit.note("button", "board_identify", None, None);
                    }
                    board::Action::RetryNow => {
                        api.audit.note("button", "board_retry_now", None, None);
                        if let Some((delivery, fetcher)) = &retry {
                            delivery.retry_now();
                            if let Some(f) = fetcher {
                                f.retry_now();
                            }
                        }
                    }
                    board::Action::FactoryReset => {
                        crate::control::request_reset(&api, "button").await;
                    }
                }
            }
        })
    }

    /// Tells systemd the daemon is up and starts feeding the watchdogs.
    fn start_health(
        &mut self,
        probes: Vec<Box<dyn crate::health::Probe>>,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        crate::health::notify_ready();
        let systemd = crate::health::systemd_watchdog();
        // systemd wants a ping at least every half period.
        let interval = match systemd {
            Some(period) => interval.min(period / 2),
            None => interval,
        };
        tokio::spawn(crate::health::run(
            probes,
            crate::health::Feeders {
                watchdog: self.watchdog.take(),
                systemd: systemd.is_some(),
            },
            crate::health::HealthSettings::every(interval),
            shutdown,
        ))
    }

    fn show(&self, facts: board::Facts) {
        if let Some(link) = &self.link {
            link.set_facts(facts);
        }
    }

    /// LED off, « Arrêté » on the display.
    fn stop(&self) {
        if let Some(link) = &self.link {
            link.stop();
        }
    }
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<Outcome> {
    prepare_data_dir(&config)?;
    let installation = crate::factory_reset::installation_id(&config.data_dir)?;
    let whitelist = Arc::new(Whitelist::load(&config.mssante.whitelist)?);
    tracing::info!(
        domains = whitelist.len(),
        generated = whitelist.generated().unwrap_or("?"),
        "MSSanté whitelist loaded"
    );
    let wake = Arc::new(Notify::new());
    let fetcher_wake = Arc::new(Notify::new());
    let audit = crate::audit::Audit::open(
        &config.data_dir.join("audit"),
        crate::audit::AuditSettings::default(),
    )
    .context("cannot open the audit log")?;
    audit.note(
        "daemon",
        "daemon_started",
        None,
        Some(&format!("version {}", env!("CARGO_PKG_VERSION"))),
    );
    let loaded = load_credential_audited(
        &config,
        vec![wake.clone(), fetcher_wake.clone()],
        Some(audit.clone()),
    )?;
    tracing::info!(identity = %loaded.credential.identity(), "credential loaded");
    let connector = connector(&config, loaded.credential.clone())?;
    let connector_tls = connector.tls.clone();
    let test_connector = connector.clone();

    let (cert, key) = match (&config.smtp.tls_certificate, &config.smtp.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => crate::tls::local::ensure_box_certificate(
            &config.data_dir.join("tls"),
            &config.smtp.hostname,
        )?,
    };
    let server_tls = crate::tls::local::server_config(&cert, &key)?;

    let retry = RetryPolicy {
        initial: Duration::from_secs(config.queue.retry_initial),
        max: Duration::from_secs(config.queue.retry_max),
        lifetime: Duration::from_secs(config.queue.lifetime_hours * 3600),
    };
    let mut face = Face::start(&config.board, &config.data_dir, &audit)?;
    let queue = Queue::open_audited(&config.queue_dir(), retry, Some(audit.clone()))?;
    let tracking = Arc::new(crate::queue::tracking::Tracking::open(&config.queue_dir())?);
    let shutdown = CancellationToken::new();

    let delivery = Delivery::new(
        queue.clone(),
        connector,
        DeliverySettings {
            max_sessions: config.upstream.max_sessions,
            messages_per_session: config.upstream.messages_per_session,
            session_idle: Duration::from_secs(config.upstream.session_idle),
            mailbox: config.mssante.mailbox.clone(),
            hostname: config.smtp.hostname.clone(),
            reports_maildir: config.reports_maildir(),
        },
        wake.clone(),
        Some(tracking.clone()),
    );
    let delivery_task = tokio::spawn(delivery.clone().run(shutdown.clone()));
    let psc_task = loaded
        .credential
        .psc()
        .map(|psc| tokio::spawn(psc.run(shutdown.clone())));

    let fetcher = config.inbound.as_ref().map(|inbound| {
        crate::inbound::fetcher::Fetcher::new(
            crate::inbound::fetcher::FetcherSettings {
                host: config.upstream.imap_host.clone().unwrap_or_default(),
                port: config.upstream.imap_port,
                tls: config.upstream.imap_tls,
                server_name: config.upstream.server_name.clone(),
                mailbox: inbound.mailbox.clone(),
                import_dir: inbound.import_dir.clone(),
                keyword: inbound.keyword.clone(),
                poll_interval: Duration::from_secs(inbound.poll_interval),
                use_idle: inbound.idle,
                delete_after_export: inbound.delete_after_export,
                connect_timeout: Duration::from_secs(config.upstream.connect_timeout),
                limits: crate::inbound::export::ExportLimits {
                    max_part_bytes: inbound.max_part_size,
                    max_xdm_total_bytes: inbound.max_xdm_size,
                    max_xdm_entries: inbound.max_xdm_entries,
                },
                send_receipts: inbound.send_receipts,
                receipt_timeout: Duration::from_secs(inbound.receipt_timeout_hours * 3600),
                address: config.mssante.mailbox.clone(),
                hostname: config.smtp.hostname.clone(),
                reports_maildir: config.reports_maildir(),
            },
            crate::inbound::fetcher::FetcherLinks {
                tracking: tracking.clone(),
                queue: queue.clone(),
                whitelist: whitelist.clone(),
                delivery_wake: wake.clone(),
                audit: Some(audit.clone()),
            },
            connector_tls.clone(),
            loaded.credential.clone(),
            fetcher_wake.clone(),
        )
    });
    if let Some(inbound) = &config.inbound {
        std::fs::create_dir_all(&inbound.import_dir).with_context(|| {
            format!(
                "{}: cannot create (inbound.import_dir)",
                inbound.import_dir.display()
            )
        })?;
    }
    let fetcher_task = fetcher
        .clone()
        .map(|f| tokio::spawn(f.run(shutdown.clone())));
    let updater = match &config.update {
        Some(settings) => Some(
            crate::update::Updater::new(
                settings.clone(),
                &config.data_dir,
                Arc::new(crate::update_link::DaemonState {
                    queue: queue.clone(),
                    queue_dir: config.queue_dir(),
                    delivery: delivery.clone(),
                    card: loaded.card.clone(),
                    board: face.link.as_ref().map(|l| l.name.clone()),
                    control_socket: config.control_socket(),
                    version: settings.running_version(),
                }),
                Some(audit.clone()),
            )
            .map_err(|e| anyhow::anyhow!("update: {e}"))?,
        ),
        None => None,
    };
    let board_task = face.link.clone().map(|link| {
        tokio::spawn(crate::board_link::follow(
            link,
            Sources {
                card: loaded.card.clone(),
                credential: loaded.credential.clone(),
                delivery: delivery.clone(),
                fetcher: fetcher.clone(),
                updater: updater.clone(),
            },
            shutdown.clone(),
        ))
    });
    let button_task = face.obey_button(Some((delivery.clone(), fetcher.clone())), shutdown.clone());

    // The health directory, shared by everything that checks a recipient;
    // it follows re-imports by itself.
    let directory = match crate::directory::Directory::open(&config.data_dir) {
        Ok(directory) => Some(Arc::new(directory)),
        Err(e) => {
            tracing::warn!(error = %e, "health directory unavailable: recipients are checked against the whitelist only");
            None
        }
    };

    let outbox_task = config.outbox.as_ref().map(|outbox| {
        let intake = Arc::new(crate::outbox::intake::Intake {
            settings: outbox.clone(),
            queue: queue.clone(),
            whitelist: whitelist.clone(),
            mailbox: config.mssante.mailbox.clone(),
            nil: config.mssante.nil.clone(),
            card: loaded.card.clone(),
            delivery_wake: wake.clone(),
            address_book: match crate::directory::AddressBook::open(&config.data_dir) {
                Ok(book) => Some(Arc::new(book)),
                Err(e) => {
                    tracing::warn!(error = %e, "address book unavailable: correspondent folders will not route");
                    None
                }
            },
            directory: directory.clone(),
            paper: config.paper.clone(),
            tracking: tracking.clone(),
        });
        tokio::spawn(crate::outbox::watcher::run(intake, shutdown.clone()))
    });

    let paper_summary_task = config.paper.clone().map(|paper| {
        tokio::spawn(crate::paper::summary::run_monthly(
            tracking.clone(),
            paper,
            shutdown.clone(),
        ))
    });

    let mut context =
        SmtpContext::from_config(&config, whitelist.clone(), server_tls, queue.clone(), wake);
    context.directory = directory;
    let context = Arc::new(context);
    let restart = Arc::new(Notify::new());
    let settings = crate::control::settings_router(crate::control::SettingsState {
        store: Arc::new(crate::settings::SettingsStore::new(
            &config.path,
            &config.data_dir,
            Some(context.accounts.clone()),
        )),
        operators: config.operators.clone(),
        audit: audit.clone(),
        restart: restart.clone(),
    })
    .merge(crate::control::board_router(face.api.clone()))
    .merge(crate::control::network_router(config.network.clone().map(
        |n| crate::network::Network::open(n, &config.data_dir, Some(audit.clone())),
    )))
    .merge(crate::control::connection_test_router(
        crate::control::ConnectionTest {
            connector: test_connector,
            imap: config
                .inbound
                .as_ref()
                .map(|_| upstream_imap(&config, connector_tls.clone(), &loaded.credential)),
            credential: loaded.credential.clone(),
            card: loaded.card.clone(),
        },
    ));
    let settings = settings
        .merge(crate::control::update_router(updater.clone()))
        .merge(crate::control::psc_router(loaded.credential.psc()));
    let control = crate::control::serve(
        &config.control_socket(),
        crate::control::router(
            Arc::new(crate::control::ControlState {
                card: loaded.card.clone(),
                credential: loaded.credential.clone(),
                delivery: delivery.clone(),
                fetcher: fetcher.clone(),
                queue: queue.clone(),
                tracking: tracking.clone(),
                audit: audit.clone(),
                started: std::time::Instant::now(),
                installation: installation.clone(),
                directory: Arc::new(crate::control::DirectoryApi::open(
                    &config,
                    whitelist.clone(),
                    tracking.clone(),
                    audit.clone(),
                )),
                diagnostics: {
                    let mut d = crate::diagnostics::Diagnostics::new(
                        crate::diagnostics::Settings::from_config(&config),
                        &connector_tls,
                        loaded.credential.clone(),
                    );
                    d.config_path = Some(config.path.clone());
                    Arc::new(d)
                },
                updater: updater.clone(),
                psc: loaded.credential.psc(),
            }),
            settings,
        ),
        shutdown.clone(),
    )
    .await?;

    if context.accounts.is_empty() && config.smtp.trusted_networks.is_empty() {
        tracing::warn!("no local account and no trusted network: nobody can submit mail");
    }
    let mut servers = Vec::new();
    for addr in &config.smtp.listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (smtp.listen)"))?;
        tracing::info!(address = %addr, "local SMTP submission listening");
        servers.push(tokio::spawn(crate::smtp::serve(
            listener,
            context.clone(),
            config.smtp.max_connections,
            shutdown.clone(),
        )));
    }
    if let Some(imap) = &config.imap {
        let imap_context = Arc::new(crate::imap::ImapContext {
            hostname: config.smtp.hostname.clone(),
            accounts: context.accounts.clone(),
            tls: context.tls.clone(),
            upstream: crate::imap::UpstreamImap {
                permits: Arc::new(tokio::sync::Semaphore::new(imap.max_upstream_sessions)),
                ..upstream_imap(&config, connector_tls.clone(), &loaded.credential)
            },
            credential: loaded.credential.clone(),
            upstream_wait: Duration::from_secs(imap.upstream_wait),
            idle_timeout: Duration::from_secs(imap.idle_timeout),
            login_timeout: Duration::from_secs(60),
        });
        for (addrs, implicit, key) in [
            (&imap.listen, false, "imap.listen"),
            (&imap.listen_tls, true, "imap.listen_tls"),
        ] {
            for addr in addrs {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} ({key})"))?;
                tracing::info!(address = %addr, implicit_tls = implicit, "local IMAP listening");
                servers.push(tokio::spawn(crate::imap::serve(
                    listener,
                    imap_context.clone(),
                    implicit,
                    imap.max_connections,
                    shutdown.clone(),
                )));
            }
        }
    }
    if let Some(autoconfig) = &config.autoconfig {
        let port_of = |addrs: &[std::net::SocketAddr]| addrs.first().map(|a| a.port());
        let settings = Arc::new(crate::autoconfig::MailSettings {
            hostname: config.smtp.hostname.clone(),
            smtp_port: port_of(&config.smtp.listen),
            imap_port: config.imap.as_ref().and_then(|i| port_of(&i.listen)),
            imaps_port: config.imap.as_ref().and_then(|i| port_of(&i.listen_tls)),
            mailbox: config.mssante.mailbox.clone(),
        });
        for addr in &autoconfig.listen {
            servers.push(
                crate::autoconfig::serve(*addr, settings.clone(), shutdown.clone())
                    .await
                    .with_context(|| format!("cannot listen on {addr} (autoconfig.listen)"))?,
            );
        }
    }

    let mut probes: Vec<Box<dyn crate::health::Probe>> = vec![
        Box::new(crate::health::QueueProbe(queue.clone())),
        Box::new(crate::health::ControlProbe(config.control_socket())),
    ];
    if let Some(card) = &loaded.card {
        probes.push(Box::new(crate::health::CardProbe {
            card: card.clone(),
            timeout: Duration::from_secs(2),
        }));
    }
    let health_task = face.start_health(
        probes,
        Duration::from_secs(config.board.health_interval),
        shutdown.clone(),
    );

    // After the control API listens: the post-update check asks it.
    let update_task = updater.map(|u| tokio::spawn(u.run(shutdown.clone())));

    let outcome = wait_for_stop(&restart, &face.reset).await?;
    tracing::info!(outcome = ?outcome, "stopping");
    shutdown.cancel();
    if let Some(task) = board_task {
        let _ = task.await;
    }
    if outcome == Outcome::FactoryReset {
        face.show(crate::board_link::phase_only(board::Phase::Resetting));
    }
    let _ = button_task.await;
    let _ = health_task.await;
    if let Some(task) = update_task {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    for server in servers {
        let _ = server.await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), delivery_task).await;
    if let Some(task) = paper_summary_task {
        let _ = task.await;
    }
    if let Some(task) = outbox_task {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    if let Some(task) = fetcher_task {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    if let Some(task) = psc_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let _ = control.await;
    let _ = std::fs::remove_file(config.control_socket());
    audit.note("daemon", "daemon_stopped", None, None);
    audit.flush().await;
    tracing::info!(
        sessions_opened = delivery
            .stats
            .sessions_opened
            .load(std::sync::atomic::Ordering::Relaxed),
        messages_sent = delivery
            .stats
            .messages_sent
            .load(std::sync::atomic::Ordering::Relaxed),
        card_signatures = loaded.credential.signatures(),
        "stopped"
    );
    face.stop();
    Ok(outcome)
}

/// How the daemon ended: stopped by a signal, or asked to start again
/// (settings changed through the control API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stopped,
    Restart,
    /// A factory reset was asked for: the next start does it.
    FactoryReset,
}

async fn wait_for_stop(restart: &Notify, reset: &Notify) -> anyhow::Result<Outcome> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    Ok(tokio::select! {
        _ = term.recv() => Outcome::Stopped,
        _ = int.recv() => Outcome::Stopped,
        _ = restart.notified() => Outcome::Restart,
        _ = reset.notified() => Outcome::FactoryReset,
    })
}

/// Runs a box that is not set up yet: only the control API, so the web
/// admin's wizard can choose the mailbox and the credential; a restart
/// asked through it starts the daemon proper.
pub async fn run_setup(
    layers: crate::settings::Layers,
    essentials: crate::settings::Essentials,
) -> anyhow::Result<Outcome> {
    let data_dir = essentials.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("{}: cannot create the data directory", data_dir.display()))?;
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("{}: cannot restrict permissions", data_dir.display()))?;
    let audit = crate::audit::Audit::open(
        &data_dir.join("audit"),
        crate::audit::AuditSettings::default(),
    )
    .context("cannot open the audit log")?;
    let installation = crate::factory_reset::installation_id(&data_dir)?;
    let mut face = Face::start(&essentials.board, &data_dir, &audit)?;
    face.show(crate::board_link::phase_only(board::Phase::SetupNeeded));
    let missing = layers.missing();
    tracing::warn!(missing = %missing.join(", "), "the box is not set up: waiting for the set-up wizard (web admin)");
    audit.note("daemon", "daemon_started", None, Some("not set up"));
    let restart = Arc::new(Notify::new());
    let shutdown = CancellationToken::new();
    let settings = crate::control::settings_router(crate::control::SettingsState {
        store: Arc::new(crate::settings::SettingsStore::new(
            &layers.path,
            &data_dir,
            None,
        )),
        operators: essentials.operators.clone(),
        audit: audit.clone(),
        restart: restart.clone(),
    });
    let control = crate::control::serve(
        &essentials.control_socket,
        crate::control::setup_router(
            audit.clone(),
            settings.merge(crate::control::board_router(face.api.clone())),
            missing,
            installation,
        ),
        shutdown.clone(),
    )
    .await?;
    let button_task = face.obey_button(None, shutdown.clone());
    let health_task = face.start_health(
        vec![Box::new(crate::health::ControlProbe(
            essentials.control_socket.clone(),
        ))],
        Duration::from_secs(essentials.board.health_interval),
        shutdown.clone(),
    );
    let outcome = wait_for_stop(&restart, &face.reset).await?;
    shutdown.cancel();
    if outcome == Outcome::FactoryReset {
        face.show(crate::board_link::phase_only(board::Phase::Resetting));
    }
    let _ = button_task.await;
    let _ = health_task.await;
    let _ = control.await;
    let _ = std::fs::remove_file(&essentials.control_socket);
    audit.note("daemon", "daemon_stopped", None, None);
    audit.flush().await;
    face.stop();
    Ok(outcome)
}
