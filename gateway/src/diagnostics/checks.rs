//! The individual checks. Each returns a [`Check`]; none panics or waits
//! longer than the limit it is given.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{Check, Level};
use crate::config::UpstreamTls;
use crate::credential::Credential;
use crate::queue::QueueEntry;
use crate::upstream::{Endpoint, Reply};

/// A connection slower than this is worth a warning.
const SLOW_CONNECT_MS: u64 = 1000;
/// The operator's certificate is said to expire soon within this many days.
const SERVER_CERT_WARNING_DAYS: i64 = 30;
/// A clock before this (2026-01-01) was reset: certificates look invalid.
const PLAUSIBLE_SINCE: i64 = 1_767_225_600;
const MB: u64 = 1_000_000;

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// Where the operator's submission service was found.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Name for TLS (the SRV target or the configured host).
    pub host: String,
    pub port: u16,
    pub addresses: Vec<SocketAddr>,
}

impl Resolved {
    /// Resolves a configured host with the system resolver (as the
    /// connection itself does); the error is a `dns` check.
    pub async fn fixed(host: &str, port: u16, limit: Duration) -> Result<Resolved, Check> {
        let target = format!("{host}:{port}");
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Resolved {
                host: host.into(),
                port,
                addresses: vec![SocketAddr::new(ip, port)],
            });
        }
        match tokio::time::timeout(limit, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(found)) => {
                let addresses: Vec<SocketAddr> = found.collect();
                if addresses.is_empty() {
                    Err(Check::new("dns", Level::Error, "dns_failed")
                        .target(target)
                        .detail("no address"))
                } else {
                    Ok(Resolved {
                        host: host.into(),
                        port,
                        addresses,
                    })
                }
            }
            Ok(Err(e)) => Err(Check::new("dns", Level::Error, "dns_failed")
                .target(target)
                .detail(e.to_string())),
            Err(_) => Err(Check::new("dns", Level::Error, "dns_timeout")
                .target(target)
                .detail(format!("no answer within {} s", limit.as_secs()))),
        }
    }
}

/// DNS: the configured host, or the SRV records of the mailbox's domain
/// (as `upstream/` chooses the endpoint).
pub async fn check_dns(endpoint: &Endpoint, limit: Duration) -> (Check, Option<Resolved>) {
    let started = Instant::now();
    let (mut check, resolved) = match endpoint {
        Endpoint::Fixed { host, port } => {
            let literal = host.parse::<IpAddr>().is_ok();
            match Resolved::fixed(host, *port, limit).await {
                Ok(r) => {
                    let code = if literal { "dns_ip_literal" } else { "dns_ok" };
                    let check = Check::new("dns", Level::Ok, code)
                        .value(ms(started) as i64, "ms")
                        .target(format!("{host}:{port}"))
                        .fact("addresses", addresses(&r.addresses));
                    (check, Some(r))
                }
                Err(check) => (check, None),
            }
        }
        Endpoint::Srv { domain, resolver } => {
            match tokio::time::timeout(limit, lookup_srv(domain, *resolver, limit)).await {
                Ok(Ok(r)) => {
                    let check = Check::new("dns", Level::Ok, "dns_srv_ok")
                        .value(ms(started) as i64, "ms")
                        .target(format!("_submission._tcp.{domain}"))
                        .fact("server", format!("{}:{}", r.host, r.port))
                        .fact("addresses", addresses(&r.addresses));
                    (check, Some(r))
                }
                Ok(Err((code, detail))) => (
                    Check::new("dns", Level::Error, code)
                        .target(format!("_submission._tcp.{domain}"))
                        .detail(detail),
                    None,
                ),
                Err(_) => (
                    Check::new("dns", Level::Error, "dns_timeout")
                        .target(format!("_submission._tcp.{domain}"))
                        .detail(format!("no answer within {} s", limit.as_secs())),
                    None,
                ),
            }
        }
    };
    check.duration_ms = ms(started);
    (check, resolved)
}

fn addresses(list: &[SocketAddr]) -> Vec<String> {
    list.iter().map(|a| a.ip().to_string()).collect()
}

/// SRV `_submission._tcp.<domain>` then the first target's addresses,
/// asked of `server` or of the system's resolver.
async fn lookup_srv(
    domain: &str,
    server: Option<SocketAddr>,
    limit: Duration,
) -> Result<Resolved, (&'static str, String)> {
    use hickory_resolver::TokioResolver;
    use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
    use hickory_resolver::name_server::TokioConnectionProvider;
    let mut builder = match server {
        Some(addr) => {
            let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| ("dns_failed", e.to_string()))?,
    };
    let options = builder.options_mut();
    options.timeout = limit.min(Duration::from_secs(3));
    options.attempts = 2;
    let resolver = builder.build();
    let name = format!("_submission._tcp.{domain}.");
    let answer = resolver
        .srv_lookup(name.as_str())
        .await
        .map_err(|e| ("dns_failed", format!("{name}: {e}")))?;
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
    let Some((_, _, host, port)) = records.into_iter().next() else {
        return Err(("dns_no_srv", format!("{name}: no usable SRV record")));
    };
    let ips = resolver
        .lookup_ip(host.as_str())
        .await
        .map_err(|e| ("dns_failed", format!("{host}: {e}")))?;
    let addresses: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(ip, port)).collect();
    Ok(Resolved {
        host: host.trim_end_matches('.').to_string(),
        port,
        addresses,
    })
}

/// Connects to the first address that answers.
async fn connect(resolved: &Resolved) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::other("no address");
    for addr in &resolved.addresses {
        match TcpStream::connect(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// TCP connect time to the operator (`id`: `smtp_connect` or `imap_connect`).
pub async fn check_tcp(id: &str, resolved: Option<&Resolved>, limit: Duration) -> Check {
    let Some(resolved) = resolved else {
        return Check::new(id, Level::Error, "dns_unavailable");
    };
    let target = format!("{}:{}", resolved.host, resolved.port);
    let started = Instant::now();
    let mut check = match tokio::time::timeout(limit, connect(resolved)).await {
        Ok(Ok(_tcp)) => {
            let took = ms(started);
            let (level, code) = if took > SLOW_CONNECT_MS {
                (Level::Warning, "tcp_slow")
            } else {
                (Level::Ok, "tcp_ok")
            };
            Check::new(id, level, code).value(took as i64, "ms")
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Check::new(id, Level::Error, "tcp_refused").detail(e.to_string())
        }
        Ok(Err(e)) => Check::new(id, Level::Error, "tcp_failed").detail(e.to_string()),
        Err(_) => Check::new(id, Level::Error, "tcp_timeout")
            .detail(format!("no answer within {} s", limit.as_secs())),
    };
    check.target = Some(target);
    check.duration_ms = ms(started);
    check
}

/// TLS with the operator under the MSSanté policy (STARTTLS or implicit,
/// as configured): the handshake, and the server certificate's days left.
/// Nothing is sent after the handshake but QUIT.
pub async fn check_tls(
    resolved: Option<&Resolved>,
    mode: UpstreamTls,
    server_name: Option<&str>,
    ehlo_name: &str,
    tls: Arc<ClientConfig>,
    limit: Duration,
) -> Check {
    let Some(resolved) = resolved else {
        return Check::new("tls", Level::Error, "dns_unavailable");
    };
    let started = Instant::now();
    let name = server_name.unwrap_or(&resolved.host).to_string();
    let mut check =
        match tokio::time::timeout(limit, handshake(resolved, mode, &name, ehlo_name, tls)).await {
            Ok(check) => check,
            Err(_) => Check::new("tls", Level::Error, "tls_timeout")
                .detail(format!("no answer within {} s", limit.as_secs())),
        };
    check.target = Some(format!("{}:{}", resolved.host, resolved.port));
    check.facts.insert("server_name".into(), name.into());
    check.duration_ms = ms(started);
    check
}

async fn handshake(
    resolved: &Resolved,
    mode: UpstreamTls,
    name: &str,
    ehlo_name: &str,
    tls: Arc<ClientConfig>,
) -> Check {
    let fail = |code: &str, detail: String| Check::new("tls", Level::Error, code).detail(detail);
    let Ok(server_name) = ServerName::try_from(name.to_string()) else {
        return fail("tls_bad_name", format!("invalid server name `{name}`"));
    };
    let tcp = match connect(resolved).await {
        Ok(tcp) => tcp,
        Err(e) => return fail("tls_connect_failed", e.to_string()),
    };
    let tcp = match mode {
        UpstreamTls::Implicit => tcp,
        UpstreamTls::Starttls => match starttls(tcp, ehlo_name).await {
            Ok(tcp) => tcp,
            Err((code, detail)) => return fail(code, detail),
        },
    };
    let started = Instant::now();
    let mut stream = match TlsConnector::from(tls).connect(server_name, tcp).await {
        Ok(stream) => stream,
        Err(e) => {
            let code = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::InvalidCertificate(_)) => "tls_certificate_invalid",
                Some(rustls::Error::AlertReceived(_)) => "tls_refused_by_operator",
                _ => "tls_handshake_failed",
            };
            return fail(code, e.to_string());
        }
    };
    let handshake_ms = ms(started);
    let (_, conn) = stream.get_ref();
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let described = conn
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|der| crate::credential::describe_certificate(der));
    // Polite end; nothing else is said to the operator.
    let _ = stream.write_all(b"QUIT\r\n").await;
    let _ = stream.shutdown().await;
    let check = match described {
        Some(Ok((subject, not_after))) => {
            let days = (not_after - crate::queue::now_unix()).div_euclid(86_400);
            let (level, code) = if days < SERVER_CERT_WARNING_DAYS {
                (Level::Warning, "tls_certificate_expiring")
            } else {
                (Level::Ok, "tls_ok")
            };
            Check::new("tls", level, code)
                .value(days, "days")
                .fact("not_after", not_after)
                .fact("certificate_subject", subject)
        }
        Some(Err(e)) => fail("tls_certificate_invalid", e),
        None => fail("tls_certificate_invalid", "no server certificate".into()),
    };
    check
        .fact("tls_version", version)
        .fact("cipher", suite)
        .fact("handshake_ms", handshake_ms)
}

fn protocol<E: std::fmt::Display>(r: Result<Reply, E>) -> Result<Reply, (&'static str, String)> {
    r.map_err(|e| ("tls_protocol", e.to_string()))
}

/// The plain part of STARTTLS: greeting, EHLO, STARTTLS.
async fn starttls(tcp: TcpStream, ehlo_name: &str) -> Result<TcpStream, (&'static str, String)> {
    let io = |e: std::io::Error| ("tls_protocol", e.to_string());
    let mut plain = BufReader::new(tcp);
    let greeting = protocol(Reply::read(&mut plain).await)?;
    if greeting.code != 220 {
        return Err(("tls_refused", greeting.summary()));
    }
    plain
        .get_mut()
        .write_all(format!("EHLO {ehlo_name}\r\n").as_bytes())
        .await
        .map_err(io)?;
    let ehlo = protocol(Reply::read(&mut plain).await)?;
    if ehlo.code != 250 {
        return Err(("tls_refused", ehlo.summary()));
    }
    let offered = ehlo
        .lines
        .iter()
        .skip(1)
        .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"));
    if !offered {
        return Err(("tls_no_starttls", "STARTTLS not offered".into()));
    }
    plain
        .get_mut()
        .write_all(b"STARTTLS\r\n")
        .await
        .map_err(io)?;
    let go = protocol(Reply::read(&mut plain).await)?;
    if go.code != 220 {
        return Err(("tls_refused", go.summary()));
    }
    if !plain.buffer().is_empty() {
        return Err((
            "tls_protocol",
            "operator sent data before the TLS handshake".into(),
        ));
    }
    Ok(plain.into_inner())
}

/// Whether the system clock is kept synchronised (NTP), read with
/// `adjtimex` without changing anything, and whether it is plausible.
pub fn check_clock() -> Check {
    let started = Instant::now();
    let now = crate::queue::now_unix();
    let kernel = read_kernel_clock();
    let (level, code) = clock_level(now, kernel.as_ref().ok().map(|k| (k.state, k.status)));
    let mut check = Check::new("clock", level, code).fact("now", now);
    match kernel {
        Ok(k) => {
            if level == Level::Ok {
                check = check.value(k.estimated_error_ms, "ms");
            }
            check = check
                .fact("max_error_ms", k.max_error_ms)
                .fact("estimated_error_ms", k.estimated_error_ms)
                .fact("kernel_state", k.state);
        }
        Err(e) => check = check.detail(e.to_string()),
    }
    check.duration_ms = ms(started);
    check
}

/// `adjtimex` states and flags (linux/timex.h).
pub const TIME_ERROR: i32 = 5;
pub const STA_UNSYNC: i32 = 0x0040;

/// The verdict from the time and the kernel's (state, status), if read:
/// a time before 2026 is wrong whatever NTP says; `TIME_ERROR` or
/// `STA_UNSYNC` mean no synchronisation.
pub fn clock_level(now: i64, kernel: Option<(i32, i32)>) -> (Level, &'static str) {
    if now < PLAUSIBLE_SINCE {
        return (Level::Error, "clock_implausible");
    }
    match kernel {
        None => (Level::Warning, "clock_unknown"),
        Some((state, status)) if state == TIME_ERROR || status & STA_UNSYNC != 0 => {
            (Level::Warning, "clock_unsynchronised")
        }
        Some(_) => (Level::Ok, "clock_synchronised"),
    }
}

struct KernelClock {
    state: i32,
    status: i32,
    max_error_ms: i64,
    estimated_error_ms: i64,
}

fn read_kernel_clock() -> std::io::Result<KernelClock> {
    // SAFETY: timex is plain data; all-zero is valid, and modes = 0 asks
    // the kernel to only fill it in.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, exclusively borrowed timex for the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(KernelClock {
        state,
        status: tx.status,
        max_error_ms: (tx.maxerror / 1000) as i64,
        estimated_error_ms: (tx.esterror / 1000) as i64,
    })
}

/// Levels for free space: error under 2 % or 100 MB, warning under 10 %
/// or 500 MB.
pub fn disk_level(free: u64, total: u64) -> (Level, &'static str) {
    let percent = if total == 0 {
        0.0
    } else {
        free as f64 * 100.0 / total as f64
    };
    if percent < 2.0 || free < 100 * MB {
        (Level::Error, "disk_critical")
    } else if percent < 10.0 || free < 500 * MB {
        (Level::Warning, "disk_low")
    } else {
        (Level::Ok, "disk_ok")
    }
}

/// Free space of the file system holding `dir` (statvfs, as an ordinary
/// user sees it).
pub fn check_disk(dir: &Path) -> Check {
    let started = Instant::now();
    let target = dir.display().to_string();
    let mut check = match statvfs(dir) {
        Ok((free, total)) => {
            let (level, code) = disk_level(free, total);
            let percent = free.saturating_mul(100).checked_div(total).unwrap_or(0);
            Check::new("disk", level, code)
                .value(percent as i64, "percent")
                .fact("free_bytes", free)
                .fact("total_bytes", total)
        }
        Err(e) => Check::new("disk", Level::Error, "disk_unreadable").detail(e.to_string()),
    };
    check.target = Some(target);
    check.duration_ms = ms(started);
    check
}

fn statvfs(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("path holds a NUL byte"))?;
    // SAFETY: statvfs is plain data; the kernel fills it in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` exclusively borrowed.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let unit = st.f_frsize as u64;
    Ok((st.f_bavail as u64 * unit, st.f_blocks as u64 * unit))
}

/// The queue's depth and its oldest pending message.
pub fn check_queue(queue_dir: &Path) -> Check {
    match crate::queue::list(queue_dir) {
        Ok(entries) => queue_level(&entries, crate::queue::now_unix()),
        Err(e) => Check::new("queue", Level::Error, "queue_unreadable").detail(e.to_string()),
    }
}

/// Ok while the oldest pending message is under an hour old, a warning
/// under a day, an error beyond.
pub fn queue_level(entries: &[QueueEntry], now: i64) -> Check {
    let pending: Vec<&QueueEntry> = entries.iter().filter(|e| e.status == "pending").collect();
    let held = entries.iter().filter(|e| e.status == "held").count();
    let mut messages: Vec<&str> = pending.iter().map(|e| e.id.as_str()).collect();
    messages.sort_unstable();
    messages.dedup();
    let check = match pending.iter().map(|e| e.received_at).min() {
        None => Check::new("queue", Level::Ok, "queue_empty").value(0, "seconds"),
        Some(oldest) => {
            let age = (now - oldest).max(0);
            let (level, code) = match age {
                a if a < 3600 => (Level::Ok, "queue_ok"),
                a if a < 86_400 => (Level::Warning, "queue_slow"),
                _ => (Level::Error, "queue_stuck"),
            };
            Check::new("queue", level, code).value(age, "seconds")
        }
    };
    check
        .fact("pending_recipients", pending.len())
        .fact("pending_messages", messages.len())
        .fact("held_recipients", held)
}

/// The credential's end of validity and whether it can sign now.
pub fn check_credential(credential: &dyn Credential, warning_days: i64) -> Check {
    let now = crate::queue::now_unix();
    let days = credential
        .not_after()
        .map(|not_after| (not_after - now).div_euclid(86_400));
    let available = credential.availability();
    let mut check = match (days, &available) {
        (Some(d), _) if d < 0 => Check::new("credential", Level::Error, "credential_expired"),
        (_, Err(reason)) => Check::new("credential", Level::Warning, "credential_unavailable")
            .detail(reason.clone()),
        (Some(d), Ok(())) if d < warning_days => {
            Check::new("credential", Level::Warning, "credential_expiring")
        }
        _ => Check::new("credential", Level::Ok, "credential_ok"),
    };
    if let Some(d) = days {
        check = check.value(d, "days");
    }
    check.fact("ready", available.is_ok())
}
