//! Each check against real local peers: TCP listeners on loopback, a
//! rustls server with a test CA, a resolver that answers nothing.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::bundle::{BundleParts, REDACTED, build, redact_config};
use super::logs::{LogEvent, LogQuery, LogRing, RingLayer, component_of, is_sensitive};
use super::*;
use crate::config::TlsVersion;
use crate::queue::QueueEntry;

const LIMIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct TestCredential {
    not_after: Option<i64>,
    available: Result<(), String>,
}

impl Credential for TestCredential {
    fn identity(&self) -> String {
        "CN=test".into()
    }
    fn certified_key(&self) -> Option<Arc<CertifiedKey>> {
        None
    }
    fn not_after(&self) -> Option<i64> {
        self.not_after
    }
    fn availability(&self) -> Result<(), String> {
        self.available.clone()
    }
}

fn credential(days: i64) -> Arc<dyn Credential> {
    Arc::new(TestCredential {
        not_after: Some(crate::queue::now_unix() + days * 86_400 + 3600),
        available: Ok(()),
    })
}

/// A test CA and a server certificate for `operator.test` valid `days`.
struct Pki {
    ca_der: rustls_pki_types::CertificateDer<'static>,
    server_chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    server_key: Vec<u8>,
}

fn pki(days: i64) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test IGC-Santé CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["operator.test".to_string()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Pki {
        ca_der: ca.der().clone(),
        server_chain: vec![cert.der().clone(), ca.der().clone()],
        server_key: key.serialize_der(),
    }
}

fn client_tls(anchor: &rustls_pki_types::CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(anchor.clone()).unwrap();
    // The test certificates are ECDSA (ring cannot make RSA keys), so the
    // test allows TLS 1.3 next to the MSSanté TLS 1.2 suites.
    crate::tls::mssante::client_config(
        roots,
        &[TlsVersion::Tls12, TlsVersion::Tls13],
        credential(365),
    )
    .unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Greeting {
    /// TLS from the first byte.
    Implicit,
    /// SMTP greeting, EHLO offering STARTTLS, then TLS.
    Starttls,
    /// EHLO without STARTTLS.
    NoStarttls,
}

/// A fake operator on loopback; returns its address.
async fn operator(pki: &Pki, greeting: Greeting) -> SocketAddr {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        pki.server_chain.clone(),
        rustls_pki_types::PrivateKeyDer::Pkcs8(pki.server_key.clone().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let tcp = if greeting == Greeting::Implicit {
                    tcp
                } else {
                    let mut plain = BufReader::new(tcp);
                    let mut line = String::new();
                    plain
                        .get_mut()
                        .write_all(b"220 operator.test ESMTP\r\n")
                        .await?;
                    plain.read_line(&mut line).await?;
                    if greeting == Greeting::NoStarttls {
                        plain
                            .get_mut()
                            .write_all(b"250-operator.test\r\n250 SIZE 1000\r\n")
                            .await?;
                        return Ok::<(), std::io::Error>(());
                    }
                    plain
                        .get_mut()
                        .write_all(b"250-operator.test\r\n250 STARTTLS\r\n")
                        .await?;
                    line.clear();
                    plain.read_line(&mut line).await?;
                    plain.get_mut().write_all(b"220 go ahead\r\n").await?;
                    plain.into_inner()
                };
                let mut tls = acceptor.accept(tcp).await?;
                let mut sink = Vec::new();
                let _ = tls.read_to_end(&mut sink).await;
                Ok(())
            });
        }
    });
    addr
}

fn at(addr: SocketAddr) -> Resolved {
    Resolved {
        host: "operator.test".into(),
        port: addr.port(),
        addresses: vec![addr],
    }
}

/// A loopback port with nothing listening.
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

// -- DNS -------------------------------------------------------------------

#[tokio::test]
async fn dns_resolves_a_configured_host_and_an_ip_literal() {
    let endpoint = Endpoint::Fixed {
        host: "localhost".into(),
        port: 587,
    };
    let (check, resolved) = check_dns(&endpoint, LIMIT).await;
    assert_eq!(check.level, Level::Ok, "{check:?}");
    assert_eq!(check.code, "dns_ok");
    assert_eq!(check.unit.as_deref(), Some("ms"));
    let resolved = resolved.unwrap();
    assert!(resolved.addresses.iter().all(|a| a.ip().is_loopback()));
    assert_eq!(resolved.port, 587);

    let (check, resolved) = check_dns(
        &Endpoint::Fixed {
            host: "127.0.0.1".into(),
            port: 25,
        },
        LIMIT,
    )
    .await;
    assert_eq!(check.code, "dns_ip_literal");
    assert_eq!(
        resolved.unwrap().addresses,
        vec!["127.0.0.1:25".parse().unwrap()]
    );
}

#[tokio::test]
async fn dns_fails_when_the_resolver_answers_nothing() {
    // A UDP socket that reads queries and never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let endpoint = Endpoint::Srv {
        domain: "medecin.test.mssante.fr".into(),
        resolver: Some(silent.local_addr().unwrap()),
    };
    let started = std::time::Instant::now();
    let (check, resolved) = check_dns(&endpoint, Duration::from_secs(3)).await;
    assert!(resolved.is_none());
    assert_eq!(check.level, Level::Error, "{check:?}");
    assert!(
        ["dns_failed", "dns_timeout"].contains(&check.code.as_str()),
        "{check:?}"
    );
    assert_eq!(
        check.target.as_deref(),
        Some("_submission._tcp.medecin.test.mssante.fr")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the limit"
    );
    // Nothing listens at all: refused, also an error.
    let endpoint = Endpoint::Srv {
        domain: "medecin.test.mssante.fr".into(),
        resolver: Some(closed_port()),
    };
    let (check, _) = check_dns(&endpoint, Duration::from_secs(3)).await;
    assert_eq!(check.level, Level::Error, "{check:?}");
}

// -- TCP -------------------------------------------------------------------

#[tokio::test]
async fn tcp_connect_is_timed_and_refusal_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let check = check_tcp("smtp_connect", Some(&at(addr)), LIMIT).await;
    assert_eq!(check.level, Level::Ok, "{check:?}");
    assert_eq!(check.code, "tcp_ok");
    assert_eq!(check.unit.as_deref(), Some("ms"));
    assert!(check.value.unwrap() < 1000);
    assert_eq!(check.target, Some(format!("operator.test:{}", addr.port())));

    let check = check_tcp("imap_connect", Some(&at(closed_port())), LIMIT).await;
    assert_eq!(check.id, "imap_connect");
    assert_eq!(check.level, Level::Error);
    assert_eq!(check.code, "tcp_refused", "{check:?}");

    let check = check_tcp("smtp_connect", None, LIMIT).await;
    assert_eq!(check.code, "dns_unavailable");
}

// -- TLS -------------------------------------------------------------------

#[tokio::test]
async fn tls_handshake_reports_the_server_certificate_days_left() {
    let pki = pki(400);
    let tls = client_tls(&pki.ca_der);
    let implicit = operator(&pki, Greeting::Implicit).await;
    let check = check_tls(
        Some(&at(implicit)),
        UpstreamTls::Implicit,
        None,
        "facteur.test",
        tls.clone(),
        LIMIT,
    )
    .await;
    assert_eq!(check.level, Level::Ok, "{check:?}");
    assert_eq!(check.code, "tls_ok");
    assert_eq!(check.unit.as_deref(), Some("days"));
    assert!((398..=400).contains(&check.value.unwrap()), "{check:?}");
    assert!(check.facts["tls_version"].as_str().unwrap().contains("TLS"));
    assert_eq!(check.facts["server_name"], "operator.test");

    let starttls = operator(&pki, Greeting::Starttls).await;
    let check = check_tls(
        Some(&at(starttls)),
        UpstreamTls::Starttls,
        None,
        "facteur.test",
        tls.clone(),
        LIMIT,
    )
    .await;
    assert_eq!(check.code, "tls_ok", "{check:?}");

    let plain = operator(&pki, Greeting::NoStarttls).await;
    let check = check_tls(
        Some(&at(plain)),
        UpstreamTls::Starttls,
        None,
        "facteur.test",
        tls,
        LIMIT,
    )
    .await;
    assert_eq!(check.level, Level::Error);
    assert_eq!(check.code, "tls_no_starttls", "{check:?}");
}

#[tokio::test]
async fn tls_warns_before_expiry_and_refuses_untrusted_or_misnamed_servers() {
    let soon = pki(10);
    let addr = operator(&soon, Greeting::Implicit).await;
    let check = check_tls(
        Some(&at(addr)),
        UpstreamTls::Implicit,
        None,
        "facteur.test",
        client_tls(&soon.ca_der),
        LIMIT,
    )
    .await;
    assert_eq!(check.level, Level::Warning, "{check:?}");
    assert_eq!(check.code, "tls_certificate_expiring");

    // Trusting another CA: the operator's certificate is refused.
    let other = pki(400);
    let check = check_tls(
        Some(&at(addr)),
        UpstreamTls::Implicit,
        None,
        "facteur.test",
        client_tls(&other.ca_der),
        LIMIT,
    )
    .await;
    assert_eq!(check.level, Level::Error);
    assert_eq!(check.code, "tls_certificate_invalid", "{check:?}");

    // The name checked is not the certificate's.
    let check = check_tls(
        Some(&at(addr)),
        UpstreamTls::Implicit,
        Some("autre-operateur.test"),
        "facteur.test",
        client_tls(&soon.ca_der),
        LIMIT,
    )
    .await;
    assert_eq!(check.code, "tls_certificate_invalid", "{check:?}");

    // Nobody there.
    let check = check_tls(
        Some(&at(closed_port())),
        UpstreamTls::Implicit,
        None,
        "facteur.test",
        client_tls(&soon.ca_der),
        LIMIT,
    )
    .await;
    assert_eq!(check.code, "tls_connect_failed", "{check:?}");
}

#[tokio::test]
async fn tls_gives_up_at_the_limit_on_a_silent_server() {
    // Accepts and never says a word: the STARTTLS greeting never comes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let pki = pki(400);
    let started = std::time::Instant::now();
    let check = check_tls(
        Some(&at(addr)),
        UpstreamTls::Starttls,
        None,
        "facteur.test",
        client_tls(&pki.ca_der),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(check.code, "tls_timeout", "{check:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

// -- clock, disk, queue, credential ---------------------------------------------

#[test]
fn clock_levels() {
    let now = 1_780_000_000;
    assert_eq!(
        clock_level(now, Some((0, 0))),
        (Level::Ok, "clock_synchronised")
    );
    assert_eq!(
        clock_level(now, Some((checks::TIME_ERROR, 0))).1,
        "clock_unsynchronised"
    );
    assert_eq!(
        clock_level(now, Some((0, checks::STA_UNSYNC))).1,
        "clock_unsynchronised"
    );
    assert_eq!(clock_level(now, None).1, "clock_unknown");
    // A clock reset to 1970 is wrong even if the kernel says synchronised.
    assert_eq!(
        clock_level(1000, Some((0, 0))),
        (Level::Error, "clock_implausible")
    );
    // The real clock is read without privileges.
    let check = check_clock();
    assert_eq!(check.id, "clock");
    assert_ne!(check.code, "clock_unknown", "{check:?}");
    assert!(check.facts.contains_key("kernel_state"), "{check:?}");
}

#[test]
fn disk_thresholds() {
    const GB: u64 = 1_000_000_000;
    const MB: u64 = 1_000_000;
    assert_eq!(disk_level(50 * GB, 100 * GB), (Level::Ok, "disk_ok"));
    assert_eq!(disk_level(9 * GB, 100 * GB), (Level::Warning, "disk_low"));
    assert_eq!(disk_level(GB, 100 * GB), (Level::Error, "disk_critical"));
    // Small disks: the absolute floors.
    assert_eq!(disk_level(450 * MB, 2 * GB), (Level::Warning, "disk_low"));
    assert_eq!(
        disk_level(90 * MB, 200 * MB),
        (Level::Error, "disk_critical")
    );
    assert_eq!(disk_level(600 * MB, 2 * GB), (Level::Ok, "disk_ok"));
    assert_eq!(disk_level(0, 0).0, Level::Error);

    let dir = tempfile::tempdir().unwrap();
    let check = check_disk(dir.path());
    assert_eq!(check.unit.as_deref(), Some("percent"));
    assert!(check.facts["total_bytes"].as_u64().unwrap() > 0);
    assert!(
        check.facts["free_bytes"].as_u64().unwrap() <= check.facts["total_bytes"].as_u64().unwrap()
    );
    let check = check_disk(&dir.path().join("missing"));
    assert_eq!(
        (check.level, check.code.as_str()),
        (Level::Error, "disk_unreadable")
    );
}

fn entry(id: &str, status: &str, received_at: i64) -> QueueEntry {
    QueueEntry {
        id: id.into(),
        sender: "a@x".into(),
        recipient: "b@y".into(),
        status: status.into(),
        attempts: 1,
        received_at,
        next_attempt: received_at,
        last_reply: None,
    }
}

#[test]
fn queue_depth_and_oldest_message() {
    let now = 1_780_000_000;
    let check = queue_level(&[entry("A", "delivered", now - 99_999)], now);
    assert_eq!(
        (check.level, check.code.as_str()),
        (Level::Ok, "queue_empty")
    );
    let check = queue_level(
        &[
            entry("A", "pending", now - 600),
            entry("A", "pending", now - 600),
            entry("B", "pending", now - 60),
            entry("C", "held", now - 99_999),
        ],
        now,
    );
    assert_eq!((check.level, check.code.as_str()), (Level::Ok, "queue_ok"));
    assert_eq!(check.value, Some(600));
    assert_eq!(check.facts["pending_recipients"], 3);
    assert_eq!(check.facts["pending_messages"], 2);
    assert_eq!(check.facts["held_recipients"], 1);
    let check = queue_level(&[entry("A", "pending", now - 7200)], now);
    assert_eq!(
        (check.level, check.code.as_str()),
        (Level::Warning, "queue_slow")
    );
    let check = queue_level(&[entry("A", "pending", now - 200_000)], now);
    assert_eq!(
        (check.level, check.code.as_str()),
        (Level::Error, "queue_stuck")
    );
    let check = check_queue(std::path::Path::new("/nonexistent/queue"));
    assert_eq!(check.code, "queue_unreadable");
}

#[test]
fn credential_expiry_and_availability() {
    let check = check_credential(credential(200).as_ref(), 30);
    assert_eq!(
        (check.level, check.code.as_str()),
        (Level::Ok, "credential_ok")
    );
    assert_eq!(check.value, Some(200));
    let check = check_credential(credential(10).as_ref(), 30);
    assert_eq!(
        (check.level, check.code.as_str()),
        (Level::Warning, "credential_expiring")
    );
    let check = check_credential(credential(-3).as_ref(), 30);
    assert_eq!(
        (check.level, check.code.as_str()),
        (Level::Error, "credential_expired")
    );
    let locked = TestCredential {
        not_after: None,
        available: Err("carte verrouillée".into()),
    };
    let check = check_credential(&locked, 30);
    assert_eq!(check.code, "credential_unavailable");
    assert_eq!(check.detail.as_deref(), Some("carte verrouillée"));
}

// -- the whole run ---------------------------------------------------------------

fn settings(endpoint: Endpoint, dir: &std::path::Path, imap: Option<(String, u16)>) -> Settings {
    Settings {
        endpoint,
        smtp_tls: UpstreamTls::Implicit,
        server_name: Some("operator.test".into()),
        imap,
        ehlo_name: "facteur.test".into(),
        data_dir: dir.to_path_buf(),
        queue_dir: dir.join("queue"),
        expiry_warning_days: 30,
        check_timeout: LIMIT,
    }
}

#[tokio::test]
async fn full_run_against_a_reachable_then_an_unreachable_operator() {
    let dir = tempfile::tempdir().unwrap();
    let _queue = crate::queue::Queue::open(
        &dir.path().join("queue"),
        crate::queue::RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(2),
            lifetime: Duration::from_secs(3600),
        },
    )
    .unwrap();
    let pki = pki(400);
    let addr = operator(&pki, Greeting::Implicit).await;
    let imap = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls = client_tls(&pki.ca_der);
    let d = Diagnostics::new(
        settings(
            Endpoint::Fixed {
                host: "127.0.0.1".into(),
                port: addr.port(),
            },
            dir.path(),
            Some(("127.0.0.1".into(), imap.local_addr().unwrap().port())),
        ),
        &tls,
        credential(365),
    );
    let report = d.run(Scope::Full).await;
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "dns",
            "smtp_connect",
            "tls",
            "imap_connect",
            "clock",
            "disk",
            "queue",
            "credential"
        ]
    );
    let code = |id: &str| {
        report
            .checks
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.code.clone())
            .unwrap()
    };
    assert_eq!(code("smtp_connect"), "tcp_ok");
    assert_eq!(code("imap_connect"), "tcp_ok");
    assert_eq!(code("tls"), "tls_ok");
    assert_eq!(code("queue"), "queue_empty");
    assert_eq!(code("credential"), "credential_ok");
    // The quick set opens no connection: no TCP or TLS check.
    let quick = d.run(Scope::Quick).await;
    assert_eq!(quick.scope, "quick");
    assert!(
        quick
            .checks
            .iter()
            .all(|c| c.id != "tls" && !c.id.ends_with("_connect"))
    );
    assert!(quick.checks.iter().any(|c| c.id == "dns"));

    let closed = closed_port();
    let d = Diagnostics::new(
        settings(
            Endpoint::Fixed {
                host: "127.0.0.1".into(),
                port: closed.port(),
            },
            dir.path(),
            None,
        ),
        &tls,
        credential(365),
    );
    let report = d.run(Scope::Full).await;
    assert_eq!(report.level, Level::Error);
    let smtp = report
        .checks
        .iter()
        .find(|c| c.id == "smtp_connect")
        .unwrap();
    assert_eq!(smtp.code, "tcp_refused");
    let tls_check = report.checks.iter().find(|c| c.id == "tls").unwrap();
    assert_eq!(tls_check.code, "tls_connect_failed");
    assert!(report.checks.iter().all(|c| c.id != "imap_connect"));
}

#[tokio::test]
async fn quick_run_reuses_the_dns_result_for_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(400);
    let d = Diagnostics::new(
        settings(
            Endpoint::Fixed {
                host: "localhost".into(),
                port: 1,
            },
            dir.path(),
            None,
        ),
        &client_tls(&pki.ca_der),
        credential(365),
    );
    let first = d.run(Scope::Quick).await;
    let second = d.run(Scope::Quick).await;
    let dns = |r: &Report| r.checks.iter().find(|c| c.id == "dns").cloned().unwrap();
    // The same check, not a new measurement.
    assert_eq!(dns(&first), dns(&second));
}

// -- logs ------------------------------------------------------------------------

fn event(level: &str, target: &str, message: &str) -> LogEvent {
    LogEvent {
        seq: 0,
        at_ms: 0,
        level: level.into(),
        component: component_of(target),
        target: target.into(),
        message: message.into(),
        fields: Default::default(),
    }
}

#[test]
fn ring_is_bounded_and_filtered_newest_first() {
    let ring = LogRing::new(3);
    for (i, level) in ["info", "warn", "error", "debug", "warn"]
        .iter()
        .enumerate()
    {
        let target = if i % 2 == 0 {
            "facteur::queue::delivery"
        } else {
            "facteur::smtp::session"
        };
        ring.push(event(level, target, &format!("event {i}")));
    }
    assert_eq!(ring.len(), 3);
    let all = ring.query(&LogQuery {
        limit: 10,
        ..LogQuery::default()
    });
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [5, 4, 3], "newest first, oldest dropped");
    let warn = ring.query(&LogQuery {
        level: Some("warn".into()),
        limit: 10,
        ..LogQuery::default()
    });
    assert_eq!(
        warn.iter().map(|e| e.level.as_str()).collect::<Vec<_>>(),
        ["warn", "error"]
    );
    let queue = ring.query(&LogQuery {
        component: Some("queue".into()),
        limit: 10,
        ..LogQuery::default()
    });
    assert_eq!(
        queue.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
        ["event 4", "event 2"]
    );
    let text = ring.query(&LogQuery {
        q: Some("EVENT 3".into()),
        limit: 10,
        ..LogQuery::default()
    });
    assert_eq!(text.len(), 1);
    let one = ring.query(&LogQuery {
        limit: 1,
        ..LogQuery::default()
    });
    assert_eq!(one[0].seq, 5);
    assert_eq!(component_of("rustls::client::hs"), "rustls");
    assert_eq!(component_of("facteur"), "facteur");
}

#[test]
fn secret_looking_field_names() {
    for name in [
        "pin",
        "new_pin",
        "password",
        "password_hash",
        "pkcs12_password_file",
        "key",
        "api_key",
        "patient",
        "patient_name",
        "ins",
        "subject",
        "secret",
        "token",
        "hash",
    ] {
        assert!(is_sensitive(name), "{name}");
    }
    for name in [
        "queue_id",
        "recipient",
        "keyword",
        "instance",
        "session",
        "peer",
        "error",
        "spinning",
    ] {
        assert!(!is_sensitive(name), "{name}");
    }
}

const KNOWN_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0c2FsdA$S3J7Q0FDHZqzMpwP1AhgKw";
const KNOWN_PIN: &str = "4711";

/// Log through a real subscriber with the ring layer, fields and spans.
fn log_into(ring: &'static LogRing) {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(RingLayer::new(ring));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(
            "message",
            queue_id = "0194F3A2B1C0D9E8",
            patient = "DUPONT Jean"
        );
        let _entered = span.enter();
        tracing::warn!(
            pin = KNOWN_PIN,
            password_hash = KNOWN_HASH,
            ins = "1234567890123",
            subject = "Compte rendu de M. DUPONT",
            recipient = "dr.martin@medecin.test.mssante.fr",
            attempts = 2,
            "delivery deferred"
        );
        tracing::info!(target: "facteur::smtp::session", "client connected");
    });
}

#[test]
fn the_layer_keeps_events_without_secret_fields() {
    let ring: &'static LogRing = Box::leak(Box::new(LogRing::new(10)));
    log_into(ring);
    let events = ring.query(&LogQuery {
        limit: 10,
        ..LogQuery::default()
    });
    assert_eq!(events.len(), 2);
    let warn = &events[1];
    assert_eq!(warn.level, "warn");
    assert_eq!(warn.message, "delivery deferred");
    assert_eq!(warn.fields["queue_id"], "0194F3A2B1C0D9E8");
    assert_eq!(
        warn.fields["recipient"],
        "dr.martin@medecin.test.mssante.fr"
    );
    assert_eq!(warn.fields["attempts"], "2");
    for name in ["pin", "password_hash", "ins", "subject", "patient"] {
        assert!(!warn.fields.contains_key(name), "{name}");
    }
    let json = serde_json::to_string(&events).unwrap();
    for secret in ["\"4711\"", KNOWN_HASH, "1234567890123", "DUPONT"] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
    assert_eq!(events[0].component, "smtp");
}

// -- support bundle ----------------------------------------------------------------

#[test]
fn config_redaction_by_key() {
    let text = format!(
        "data_dir = \"/var/lib/facteur\"\n[smtp]\nlisten = [\"0.0.0.0:587\"]\ntls_key = \"/etc/facteur/key.pem\"\n\
         [[accounts]]\nuser = \"secretariat\"\npassword_hash = \"{KNOWN_HASH}\"\n\
         [credential]\nkind = \"software\"\npkcs12 = \"/etc/facteur/box.p12\"\npkcs12_password_file = \"/etc/facteur/p12.pass\"\n\
         [inbound]\nkeyword = \"$FacteurExported\"\n"
    );
    let redacted = redact_config(&text);
    assert!(!redacted.contains(KNOWN_HASH), "{redacted}");
    assert!(!redacted.contains("p12.pass"), "{redacted}");
    assert!(!redacted.contains("key.pem"), "{redacted}");
    assert!(redacted.contains("secretariat"), "{redacted}");
    assert!(redacted.contains("$FacteurExported"), "{redacted}");
    assert!(redacted.contains(REDACTED));
    let back: toml::Table = redacted.parse().unwrap();
    assert_eq!(
        back["accounts"][0]["password_hash"].as_str(),
        Some(REDACTED)
    );
    // Not TOML: nothing of it is copied.
    let broken = format!("password_hash = {KNOWN_HASH}\n[[[");
    assert!(!redact_config(&broken).contains(KNOWN_HASH));
}

#[test]
fn support_bundle_holds_its_parts_and_no_secret() {
    let ring: &'static LogRing = Box::leak(Box::new(LogRing::new(10)));
    log_into(ring);
    let config = format!(
        "data_dir = \"/d\"\n[[accounts]]\nuser = \"secretariat\"\npassword_hash = \"{KNOWN_HASH}\"\n"
    );
    let parts = BundleParts {
        info: serde_json::json!({"version": "0.1.0", "uptime_secs": 42}),
        status: serde_json::json!({"queue": {"pending": 0}}),
        diagnostics: Report {
            scope: "full".into(),
            generated_at: 1,
            duration_ms: 1,
            level: Level::Ok,
            checks: vec![Check::new("disk", Level::Ok, "disk_ok")],
        },
        logs: ring.query(&LogQuery {
            limit: 100,
            ..LogQuery::default()
        }),
        config: Some(config),
        audit_verify: serde_json::json!({"ok": true, "entries": 3}),
    };
    let zip = build(&parts).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut names = Vec::new();
    let mut everything = String::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        names.push(file.name().unwrap().to_string());
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        everything.push_str(&text);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "README.txt",
            "audit-verify.json",
            "config.toml",
            "diagnostics.json",
            "info.json",
            "logs.jsonl",
            "status.json"
        ]
    );
    assert!(everything.contains("delivery deferred"));
    assert!(everything.contains("disk_ok"));
    assert!(everything.contains("secretariat"));
    for secret in [KNOWN_HASH, "\"4711\"", "1234567890123", "DUPONT"] {
        assert!(!everything.contains(secret), "{secret}");
    }
}
