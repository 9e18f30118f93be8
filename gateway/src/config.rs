//! Typed settings, read from one TOML file and validated at start-up.
//!
//! Every key is documented in `docs/configuration.md`. Errors name the file,
//! the key and what is wrong, because the person reading them is an
//! installer with a terminal, not a developer with a debugger.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A configuration that could not be loaded or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: PathBuf,
        key: &'static str,
        message: String,
    },
    /// The box has not been set up yet: the settings that only the
    /// practice knows (its mailbox, its credential) are missing.
    #[error("{file}: not set up yet: missing {}", missing.join(", "))]
    Incomplete {
        file: PathBuf,
        missing: Vec<&'static str>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the queue, the state and the box's own keys live.
    pub data_dir: PathBuf,
    #[serde(default)]
    pub log: LogConfig,
    pub smtp: SmtpConfig,
    #[serde(default)]
    pub accounts: Vec<Account>,
    pub mssante: MssanteConfig,
    pub upstream: UpstreamConfig,
    pub credential: CredentialConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub control: ControlConfig,
    /// Received mail exported to a folder; absent: no export.
    #[serde(default)]
    pub inbound: Option<InboundConfig>,
    /// Local IMAP for the practice's mail clients; absent: none.
    #[serde(default)]
    pub imap: Option<ImapConfig>,
    /// Mail-client autoconfiguration over HTTP; absent: none.
    #[serde(default)]
    pub autoconfig: Option<AutoconfigConfig>,
    /// Folders of documents to send; absent: none.
    #[serde(default)]
    pub outbox: Option<crate::outbox::settings::OutboxConfig>,
    /// Paper letters for correspondents not on MSSanté; absent: none.
    #[serde(default)]
    pub paper: Option<PaperConfig>,
    /// The box's LAN settings managed from the web admin; absent: the
    /// installer's.
    #[serde(default)]
    pub network: Option<crate::network::NetworkConfig>,
    /// The list of MSSanté operators offered by the set-up wizard
    /// (`operators.md`); absent: the list built into the daemon.
    #[serde(default)]
    pub operators: Option<PathBuf>,
    /// The box's LED, button, display and watchdog (`docs/board.md`).
    #[serde(default)]
    pub board: BoardConfig,
    /// System updates (`docs/updates.md`); absent: none (a PC).
    #[serde(default)]
    pub update: Option<crate::update::UpdateSettings>,
    /// The file this configuration was read from (not a TOML key).
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: default_log_level(),
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Addresses the local submission server listens on.
    pub listen: Vec<SocketAddr>,
    /// The name the box gives in its greeting and in its certificate.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Whole-session limit, in seconds.
    #[serde(default = "default_session_timeout")]
    pub session_timeout: u64,
    /// Longest wait for the next command or data chunk, in seconds.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: u64,
    /// Certificate and key the box presents on STARTTLS; generated at first
    /// start under `data_dir/tls/` when not set.
    #[serde(default)]
    pub tls_certificate: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Networks whose clients may submit without authenticating (practice
    /// software that cannot do SMTP AUTH), e.g. `["192.168.1.10/32"]`.
    /// Empty by default: every client must authenticate.
    #[serde(default)]
    pub trusted_networks: Vec<Network>,
}

/// An IP network in CIDR form (`192.168.1.0/24`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V6(_), IpAddr::V4(ip)) => {
                self.contains(std::net::IpAddr::V6(ip.to_ipv6_mapped()))
            }
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(v4.into())),
        }
    }
}

impl std::str::FromStr for Network {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an IP network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: bad prefix length"))?,
            None => max,
        };
        Ok(Network { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn default_hostname() -> String {
    "facteur.local".into()
}
fn default_max_message_size() -> usize {
    50 * 1024 * 1024
}
fn default_max_recipients() -> usize {
    100
}
fn default_max_connections() -> usize {
    32
}
fn default_session_timeout() -> u64 {
    1800
}
fn default_idle_timeout() -> u64 {
    300
}

impl SmtpConfig {
    pub fn session_timeout(&self) -> Duration {
        Duration::from_secs(self.session_timeout)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }
}

/// A local account of the practice's LAN (mail client, practice software).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub user: String,
    /// PHC string from `facteur hash-password` (argon2id).
    pub password_hash: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MssanteConfig {
    /// The box's own MSSanté mailbox: envelope sender upstream, and the
    /// identity the operator knows.
    pub mailbox: String,
    /// `X-MSS-NIL`: the product reference registered with ANS.
    pub nil: String,
    /// The MSSanté domain whitelist, in the official XML format.
    pub whitelist: PathBuf,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamTls {
    /// Plain connection, then STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (RFC 8314, port 465).
    Implicit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Operator submission host; when absent, found by DNS SRV
    /// `_submission._tcp.<mailbox domain>`.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "default_upstream_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: UpstreamTls,
    /// Name checked in the operator's certificate; defaults to `host`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// PEM file with the IGC-Santé trust anchors; nothing else is trusted.
    pub trust_anchors: PathBuf,
    #[serde(default = "default_tls_versions")]
    pub tls_versions: Vec<TlsVersion>,
    /// Most upstream sessions open at once (per-destination concurrency).
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Messages sent over one authenticated session before it is renewed.
    #[serde(default = "default_messages_per_session")]
    pub messages_per_session: usize,
    /// Seconds an idle authenticated session is kept open for reuse.
    #[serde(default = "default_session_idle")]
    pub session_idle: u64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    #[serde(default = "default_command_timeout")]
    pub command_timeout: u64,
    /// DNS server for the SRV lookup (`IP:PORT`); the system's resolver
    /// when absent.
    #[serde(default)]
    pub resolver: Option<SocketAddr>,
    /// The operator's IMAP server (for `[inbound]` and `[imap]`).
    #[serde(default)]
    pub imap_host: Option<String>,
    #[serde(default = "default_imap_port")]
    pub imap_port: u16,
    #[serde(default)]
    pub imap_tls: UpstreamTls,
    /// Ask for delivery status notifications (success, failure, delay)
    /// when the operator offers DSN; the reports come back to the mailbox
    /// and set « Remis » in tracking.
    #[serde(default = "default_true")]
    pub delivery_reports: bool,
}

fn default_upstream_port() -> u16 {
    587
}
fn default_tls_versions() -> Vec<TlsVersion> {
    vec![TlsVersion::Tls12]
}
fn default_max_sessions() -> usize {
    2
}
fn default_messages_per_session() -> usize {
    1000
}
fn default_session_idle() -> u64 {
    120
}
fn default_connect_timeout() -> u64 {
    30
}
fn default_command_timeout() -> u64 {
    300
}

/// Mail-client autoconfiguration (Thunderbird, Outlook) over HTTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoconfigConfig {
    /// Addresses of the HTTP listener (usually port 80 of the box).
    pub listen: Vec<SocketAddr>,
}

/// Local IMAP: the practice's mail clients reach the MSSanté mailbox
/// through the box.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Addresses for IMAP with STARTTLS (port 143).
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// Addresses for IMAP over implicit TLS (port 993).
    #[serde(default)]
    pub listen_tls: Vec<SocketAddr>,
    /// Most upstream sessions open at once; further clients wait.
    #[serde(default = "default_imap_upstream_sessions")]
    pub max_upstream_sessions: usize,
    /// Seconds a client waits for an upstream session before being told
    /// to come back later.
    #[serde(default = "default_imap_wait")]
    pub upstream_wait: u64,
    /// Most local clients connected at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds of silence before a client is disconnected (RFC 9051: at
    /// least 30 minutes).
    #[serde(default = "default_imap_idle")]
    pub idle_timeout: u64,
}

fn default_imap_upstream_sessions() -> usize {
    4
}
fn default_imap_wait() -> u64 {
    30
}
fn default_imap_idle() -> u64 {
    1800
}

/// The inbound bridge: the MSSanté inbox exported to a folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundConfig {
    /// Folder the practice software imports from; one directory per message.
    pub import_dir: PathBuf,
    #[serde(default = "default_inbox")]
    pub mailbox: String,
    /// IMAP keyword marking exported messages upstream.
    #[serde(default = "default_keyword")]
    pub keyword: String,
    /// Seconds between looks at the inbox (and IDLE renewal).
    #[serde(default = "default_poll_interval")]
    pub poll_interval: u64,
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Delete messages upstream once exported (default: keep them).
    #[serde(default)]
    pub delete_after_export: bool,
    /// Largest attachment exported, in bytes.
    #[serde(default = "default_max_part_size")]
    pub max_part_size: u64,
    /// Largest total unpacked size of an IHE_XDM.ZIP, in bytes.
    #[serde(default = "default_max_xdm_size")]
    pub max_xdm_size: u64,
    #[serde(default = "default_max_xdm_entries")]
    pub max_xdm_entries: usize,
    /// Answer read-receipt requests (`Disposition-Notification-To`).
    #[serde(default = "default_true")]
    pub send_receipts: bool,
    /// Hours to wait for a read receipt asked by the practice before
    /// telling it none came.
    #[serde(default = "default_receipt_timeout")]
    pub receipt_timeout_hours: u64,
}

fn default_receipt_timeout() -> u64 {
    72
}

fn default_imap_port() -> u16 {
    143
}
fn default_inbox() -> String {
    "INBOX".into()
}
fn default_keyword() -> String {
    "$FacteurExported".into()
}
fn default_poll_interval() -> u64 {
    300
}
fn default_true() -> bool {
    true
}
fn default_max_part_size() -> u64 {
    50 * 1024 * 1024
}
fn default_max_xdm_size() -> u64 {
    200 * 1024 * 1024
}
fn default_max_xdm_entries() -> usize {
    1000
}

/// Documents for correspondents not on MSSanté: a cover letter and the
/// document in one print-ready PDF, written to a folder and optionally sent
/// to a network printer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperConfig {
    /// Where print-ready PDFs are written; `data_dir/to-print` when not set
    /// (filled in at load, so never empty afterwards).
    #[serde(default)]
    pub to_print_dir: PathBuf,
    /// Letterhead: the practice's name, first line, in bold.
    pub practice_name: String,
    /// "Dr Jeanne DUPONT": in the letterhead and as the signature.
    pub practitioner: String,
    #[serde(default)]
    pub specialty: Option<String>,
    /// Street lines of the practice's address.
    #[serde(default)]
    pub address_lines: Vec<String>,
    pub postcode: String,
    /// Also the place in "Niort, le 23 novembre 2026".
    pub town: String,
    #[serde(default)]
    pub phone: Option<String>,
    /// The address printed for replies; `mssante.mailbox` when not set
    /// (filled in at load).
    #[serde(default)]
    pub email: String,
    /// The practitioner's RPPS number, printed when set.
    #[serde(default)]
    pub rpps: Option<String>,
    /// IPP printer, `ipp://host[:port]/ipp/print`; none: the PDFs are only
    /// written to `to_print_dir`.
    #[serde(default)]
    pub printer: Option<String>,
    /// Seconds the whole exchange with the printer may take.
    #[serde(default = "default_printer_timeout")]
    pub printer_timeout: u64,
}

fn default_printer_timeout() -> u64 {
    60
}

impl PaperConfig {
    pub fn printer_timeout(&self) -> Duration {
        Duration::from_secs(self.printer_timeout)
    }
}

/// The local control API (HTTP+JSON over a Unix socket).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Socket path; `data_dir/control.sock` when not set.
    #[serde(default)]
    pub socket: Option<PathBuf>,
}

/// `[board]`: which board the daemon drives (`docs/board.md`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoardConfig {
    /// A board description file, or `"simulated"`; absent: no board (a
    /// PC), only the health loop and systemd notifications.
    #[serde(default)]
    pub description: Option<String>,
    /// Seconds the operator must stay unreachable before the LED turns red.
    #[serde(default = "default_operator_alarm_after")]
    pub operator_alarm_after: u64,
    /// Seconds between two health checks (and watchdog feeds).
    #[serde(default = "default_health_interval")]
    pub health_interval: u64,
}

impl Default for BoardConfig {
    fn default() -> Self {
        BoardConfig {
            description: None,
            operator_alarm_after: default_operator_alarm_after(),
            health_interval: default_health_interval(),
        }
    }
}

fn default_operator_alarm_after() -> u64 {
    300
}

fn default_health_interval() -> u64 {
    5
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub enum CredentialConfig {
    /// The practitioner's CPS card in a PC/SC reader.
    Card {
        /// Use only readers whose name contains this text.
        #[serde(default)]
        reader: Option<String>,
        /// PEM file of the CA certificates sent after the card's own
        /// (IGC-Santé intermediate for personal certificates).
        #[serde(default)]
        intermediates: Option<PathBuf>,
        /// Warn when the card's certificate expires within this many days.
        #[serde(default = "default_expiry_warning_days")]
        expiry_warning_days: i64,
    },
    /// Software certificate: PKCS#12 file, or PEM chain + PEM key.
    Software {
        #[serde(default)]
        pkcs12: Option<PathBuf>,
        #[serde(default)]
        pkcs12_password_file: Option<PathBuf>,
        #[serde(default)]
        certificate: Option<PathBuf>,
        #[serde(default)]
        key: Option<PathBuf>,
    },
    /// Pro Santé Connect: TLS to the operator, then SASL XOAUTH2 with
    /// access tokens obtained by the card or the e-CPS app.
    Psc(crate::psc::PscSettings),
}

fn default_expiry_warning_days() -> i64 {
    30
}

impl std::fmt::Debug for CredentialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialConfig::Card {
                reader,
                intermediates,
                ..
            } => f
                .debug_struct("Card")
                .field("reader", reader)
                .field("intermediates", intermediates)
                .finish_non_exhaustive(),
            CredentialConfig::Software {
                pkcs12,
                certificate,
                ..
            } => f
                .debug_struct("Software")
                .field("pkcs12", pkcs12)
                .field("certificate", certificate)
                .finish_non_exhaustive(),
            CredentialConfig::Psc(psc) => psc.fmt(f),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Hours a message may stay undelivered before the sender is told.
    #[serde(default = "default_lifetime_hours")]
    pub lifetime_hours: u64,
    /// First retry delay, in seconds; doubles on each failure.
    #[serde(default = "default_retry_initial")]
    pub retry_initial: u64,
    /// Longest delay between two attempts, in seconds.
    #[serde(default = "default_retry_max")]
    pub retry_max: u64,
    /// Maildir where delivery reports (DSN) for the practice are written;
    /// defaults to `data_dir/reports`.
    #[serde(default)]
    pub reports_maildir: Option<PathBuf>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            lifetime_hours: default_lifetime_hours(),
            retry_initial: default_retry_initial(),
            retry_max: default_retry_max(),
            reports_maildir: None,
        }
    }
}

fn default_lifetime_hours() -> u64 {
    120
}
fn default_retry_initial() -> u64 {
    60
}
fn default_retry_max() -> u64 {
    3600
}

impl Config {
    /// Reads and validates the configuration file, with the settings the
    /// practice changed through the web admin laid over it
    /// (`data_dir/settings.toml`, see `settings/`).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        crate::settings::Layers::read(path)?.config()
    }

    /// Builds the configuration from an already merged TOML table.
    pub fn from_table(path: &Path, table: toml::Table) -> Result<Config, ConfigError> {
        let mut config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    file: path.to_path_buf(),
                    message: e.to_string().trim_end().replace('\n', " "),
                })?;
        config.path = path.to_path_buf();
        config.resolve_relative_paths();
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates configuration text; `path` is used in errors and
    /// to resolve relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        config.path = path.to_path_buf();
        config.resolve_relative_paths();
        config.validate()?;
        Ok(config)
    }

    /// Relative paths in the file are relative to the file's own directory,
    /// so a configuration can be moved together with its keys.
    fn resolve_relative_paths(&mut self) {
        let base = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.mssante.whitelist);
        if let Some(p) = self.operators.as_mut() {
            fix(p);
        }
        if let Some(d) = self.board.description.as_mut()
            && d != "simulated"
            && Path::new(d.as_str()).is_relative()
        {
            *d = base.join(d.as_str()).to_string_lossy().into_owned();
        }
        if let Some(n) = self.network.as_mut() {
            fix(&mut n.networkd_dir);
        }
        if let Some(u) = self.update.as_mut() {
            u.resolve_relative_paths(&base);
        }
        fix(&mut self.upstream.trust_anchors);
        if let Some(p) = self.smtp.tls_certificate.as_mut() {
            fix(p);
        }
        if let Some(p) = self.smtp.tls_key.as_mut() {
            fix(p);
        }
        if let Some(p) = self.queue.reports_maildir.as_mut() {
            fix(p);
        }
        if let Some(p) = self.control.socket.as_mut() {
            fix(p);
        }
        if let Some(inbound) = self.inbound.as_mut() {
            fix(&mut inbound.import_dir);
        }
        if let Some(outbox) = self.outbox.as_mut() {
            outbox.folders.iter_mut().for_each(fix);
        }
        if let Some(paper) = self.paper.as_mut() {
            if paper.to_print_dir.as_os_str().is_empty() {
                paper.to_print_dir = self.data_dir.join("to-print");
            } else {
                fix(&mut paper.to_print_dir);
            }
            if paper.email.is_empty() {
                paper.email = self.mssante.mailbox.clone();
            }
        }
        match &mut self.credential {
            CredentialConfig::Card { intermediates, .. } => {
                if let Some(p) = intermediates.as_mut() {
                    fix(p);
                }
            }
            CredentialConfig::Software {
                pkcs12,
                pkcs12_password_file,
                certificate,
                key,
            } => {
                for p in [pkcs12, pkcs12_password_file, certificate, key]
                    .into_iter()
                    .flatten()
                {
                    fix(p);
                }
            }
            CredentialConfig::Psc(psc) => psc.resolve_relative_paths(&base),
        }
    }

    fn invalid(&self, key: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.path.clone(),
            key,
            message: message.into(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(update) = &self.update {
            update
                .validate()
                .map_err(|(key, message)| self.invalid(key, message))?;
        }
        if self.smtp.listen.is_empty() {
            return Err(self.invalid("smtp.listen", "at least one address is needed"));
        }
        if self.smtp.max_message_size < 1024 {
            return Err(self.invalid("smtp.max_message_size", "must be at least 1024 bytes"));
        }
        for (key, value) in [
            ("smtp.max_recipients", self.smtp.max_recipients as u64),
            ("smtp.max_connections", self.smtp.max_connections as u64),
            ("smtp.session_timeout", self.smtp.session_timeout),
            ("smtp.idle_timeout", self.smtp.idle_timeout),
            ("upstream.max_sessions", self.upstream.max_sessions as u64),
            (
                "upstream.messages_per_session",
                self.upstream.messages_per_session as u64,
            ),
            ("upstream.connect_timeout", self.upstream.connect_timeout),
            ("upstream.command_timeout", self.upstream.command_timeout),
            ("queue.lifetime_hours", self.queue.lifetime_hours),
            ("queue.retry_initial", self.queue.retry_initial),
        ] {
            if value == 0 {
                return Err(self.invalid(key, "must be greater than 0"));
            }
        }
        if self.queue.retry_max < self.queue.retry_initial {
            return Err(self.invalid(
                "queue.retry_max",
                "must not be smaller than queue.retry_initial",
            ));
        }
        if self.smtp.tls_certificate.is_some() != self.smtp.tls_key.is_some() {
            return Err(self.invalid(
                "smtp.tls_certificate",
                "smtp.tls_certificate and smtp.tls_key go together",
            ));
        }
        let mut users = std::collections::HashSet::new();
        for account in &self.accounts {
            if account.user.is_empty() || account.user.contains(char::is_whitespace) {
                return Err(self.invalid("accounts.user", "must be non-empty, without spaces"));
            }
            if !users.insert(account.user.as_str()) {
                return Err(self.invalid(
                    "accounts.user",
                    format!("`{}` is defined twice", account.user),
                ));
            }
            if argon2::PasswordHash::new(&account.password_hash).is_err() {
                return Err(self.invalid(
                    "accounts.password_hash",
                    format!(
                        "account `{}`: not a password hash; create one with `facteur hash-password`",
                        account.user
                    ),
                ));
            }
        }
        if crate::address::Address::parse(&self.mssante.mailbox).is_none() {
            return Err(self.invalid("mssante.mailbox", "not an e-mail address"));
        }
        if self.mssante.nil.trim().is_empty() || self.mssante.nil.contains(['\r', '\n']) {
            return Err(self.invalid("mssante.nil", "must be a non-empty single line"));
        }
        if let Some(outbox) = &self.outbox {
            outbox
                .validate()
                .map_err(|(key, message)| self.invalid(key, message))?;
        }
        if self.upstream.tls_versions.is_empty() {
            return Err(self.invalid("upstream.tls_versions", "at least one version is needed"));
        }
        if let Some(host) = &self.upstream.host
            && (host.is_empty() || host.contains(char::is_whitespace))
        {
            return Err(self.invalid("upstream.host", "not a host name"));
        }
        if let Some(imap) = &self.imap {
            if imap.listen.is_empty() && imap.listen_tls.is_empty() {
                return Err(self.invalid("imap.listen", "give `listen` and/or `listen_tls`"));
            }
            if imap.max_upstream_sessions == 0 {
                return Err(self.invalid("imap.max_upstream_sessions", "must be at least 1"));
            }
        }
        if let Some(inbound) = &self.inbound {
            let atom = |c: char| c.is_ascii_graphic() && !"(){%*\"\\]".contains(c);
            if inbound.keyword.is_empty() || !inbound.keyword.chars().all(atom) {
                return Err(self.invalid(
                    "inbound.keyword",
                    "an IMAP keyword: letters, digits, `$`, no spaces or brackets",
                ));
            }
            if inbound.poll_interval == 0 {
                return Err(self.invalid("inbound.poll_interval", "must be at least 1 second"));
            }
        }
        if (self.inbound.is_some() || self.imap.is_some())
            && self
                .upstream
                .imap_host
                .as_deref()
                .is_none_or(|h| h.is_empty() || h.contains(char::is_whitespace))
        {
            return Err(self.invalid(
                "upstream.imap_host",
                "the operator's IMAP server is needed by [inbound] and [imap]",
            ));
        }
        if let Some(paper) = &self.paper {
            self.validate_paper(paper)?;
        }
        match &self.credential {
            CredentialConfig::Card {
                expiry_warning_days,
                ..
            } => {
                if *expiry_warning_days < 0 {
                    return Err(self.invalid("credential.expiry_warning_days", "must be 0 or more"));
                }
            }
            CredentialConfig::Software {
                pkcs12,
                pkcs12_password_file,
                certificate,
                key,
            } => match (pkcs12, certificate, key) {
                (Some(_), None, None) => {
                    if pkcs12_password_file.is_none() {
                        return Err(self.invalid(
                            "credential.pkcs12_password_file",
                            "needed with credential.pkcs12",
                        ));
                    }
                }
                (None, Some(_), Some(_)) => {}
                _ => {
                    return Err(self.invalid(
                        "credential",
                        "a software credential needs either `pkcs12` (with `pkcs12_password_file`) or both `certificate` and `key`",
                    ));
                }
            },
            CredentialConfig::Psc(psc) => psc
                .validate()
                .map_err(|(key, message)| self.invalid(key, message))?,
        }
        Ok(())
    }

    fn validate_paper(&self, paper: &PaperConfig) -> Result<(), ConfigError> {
        let single_line = |text: &str| !text.contains(|c: char| c.is_control());
        for (key, value) in [
            ("paper.practice_name", paper.practice_name.as_str()),
            ("paper.practitioner", paper.practitioner.as_str()),
            ("paper.postcode", paper.postcode.as_str()),
            ("paper.town", paper.town.as_str()),
        ] {
            if value.trim().is_empty() || !single_line(value) {
                return Err(self.invalid(key, "must be a non-empty single line"));
            }
        }
        for (key, value) in [
            ("paper.specialty", paper.specialty.as_deref()),
            ("paper.phone", paper.phone.as_deref()),
            ("paper.rpps", paper.rpps.as_deref()),
        ] {
            if value.is_some_and(|v| !single_line(v)) {
                return Err(self.invalid(key, "must be a single line"));
            }
        }
        if paper.address_lines.iter().any(|l| !single_line(l)) {
            return Err(self.invalid("paper.address_lines", "each line must be a single line"));
        }
        if paper.address_lines.len() > 4 {
            return Err(self.invalid("paper.address_lines", "at most 4 lines"));
        }
        if crate::address::Address::parse(&paper.email).is_none() {
            return Err(self.invalid("paper.email", "not an e-mail address"));
        }
        if let Some(rpps) = &paper.rpps
            && !(rpps.len() == 11 && rpps.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(self.invalid("paper.rpps", "an RPPS number has 11 digits"));
        }
        if let Some(printer) = &paper.printer
            && let Err(e) = crate::paper::ipp::PrinterUri::parse(printer)
        {
            return Err(self.invalid("paper.printer", e.to_string()));
        }
        if paper.printer_timeout == 0 {
            return Err(self.invalid("paper.printer_timeout", "must be greater than 0"));
        }
        Ok(())
    }

    pub fn reports_maildir(&self) -> PathBuf {
        self.queue
            .reports_maildir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("reports"))
    }

    pub fn control_socket(&self) -> PathBuf {
        self.control
            .socket
            .clone()
            .unwrap_or_else(|| self.data_dir.join("control.sock"))
    }

    pub fn queue_dir(&self) -> PathBuf {
        self.data_dir.join("queue")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vx7vDu8Nm3zxpzK6m/YbDKa0rHzwKuAUpzTq8xqIC3E";

    fn sample() -> String {
        format!(
            r#"
data_dir = "data"
[smtp]
listen = ["127.0.0.1:2525"]
[[accounts]]
user = "secretariat"
password_hash = "{HASH}"
[mssante]
mailbox = "cabinet@test.mssante.fr"
nil = "FACTEUR"
whitelist = "whitelist.xml"
[upstream]
host = "localhost"
trust_anchors = "/etc/facteur/igc.pem"
[credential]
kind = "software"
certificate = "chain.pem"
key = "key.pem"
"#
        )
    }

    #[test]
    fn parses_and_resolves_relative_paths() {
        let config = Config::parse(Path::new("/etc/facteur/facteur.toml"), &sample()).unwrap();
        assert_eq!(config.data_dir, Path::new("/etc/facteur/data"));
        assert_eq!(
            config.upstream.trust_anchors,
            Path::new("/etc/facteur/igc.pem")
        );
        assert_eq!(config.upstream.port, 587);
        assert_eq!(config.upstream.tls_versions, vec![TlsVersion::Tls12]);
        assert_eq!(config.queue.lifetime_hours, 120);
        assert_eq!(
            config.reports_maildir(),
            Path::new("/etc/facteur/data/reports")
        );
    }

    #[test]
    fn unknown_key_names_the_key_and_file() {
        let text = sample().replace("[smtp]", "[smtp]\nlisten_port = 3");
        let err = Config::parse(Path::new("/x/f.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/x/f.toml:"), "{err}");
        assert!(err.contains("listen_port"), "{err}");
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let text = sample().replace("[smtp]", "[smtp]\nmax_recipients = 0");
        let err = Config::parse(Path::new("/x/f.toml"), &text)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/x/f.toml: key `smtp.max_recipients`: must be greater than 0"
        );

        let text = sample().replace(HASH, "plaintext");
        let err = Config::parse(Path::new("/x/f.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("accounts.password_hash"), "{err}");

        let text = sample().replace("key = \"key.pem\"", "");
        let err = Config::parse(Path::new("/x/f.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `credential`"), "{err}");

        let text = sample().replace("cabinet@test.mssante.fr", "not an address");
        let err = Config::parse(Path::new("/x/f.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mssante.mailbox"), "{err}");
    }

    #[test]
    fn paper_section_defaults_and_errors() {
        let paper = "[paper]\npractice_name = \"Cabinet\"\npractitioner = \"Dr Jeanne DUPONT\"\npostcode = \"79000\"\ntown = \"Niort\"\n";
        let config = Config::parse(
            Path::new("/etc/facteur/f.toml"),
            &format!("{}{paper}", sample()),
        )
        .unwrap();
        let p = config.paper.unwrap();
        assert_eq!(p.to_print_dir, Path::new("/etc/facteur/data/to-print"));
        assert_eq!(p.email, "cabinet@test.mssante.fr");
        assert_eq!(p.printer_timeout, 60);

        for (extra, key) in [
            ("printer = \"http://x/ipp\"", "paper.printer"),
            ("printer = \"ipps://x/ipp/print\"", "paper.printer"),
            ("rpps = \"123\"", "paper.rpps"),
            ("printer_timeout = 0", "paper.printer_timeout"),
            ("email = \"nope\"", "paper.email"),
        ] {
            let text = format!("{}{paper}{extra}\n", sample());
            let err = Config::parse(Path::new("/x/f.toml"), &text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("key `{key}`")), "{err}");
        }
        let text = format!(
            "{}{}",
            sample(),
            paper.replace("town = \"Niort\"", "town = \" \"")
        );
        let err = Config::parse(Path::new("/x/f.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `paper.town`"), "{err}");
        let text = format!(
            "{}{paper}to_print_dir = \"papier\"\nprinter = \"ipp://192.168.1.20/ipp/print\"\n",
            sample()
        );
        let p = Config::parse(Path::new("/etc/facteur/f.toml"), &text)
            .unwrap()
            .paper
            .unwrap();
        assert_eq!(p.to_print_dir, Path::new("/etc/facteur/papier"));
    }

    #[test]
    fn networks() {
        let n: Network = "192.168.1.0/24".parse().unwrap();
        assert!(n.contains("192.168.1.77".parse().unwrap()));
        assert!(!n.contains("192.168.2.1".parse().unwrap()));
        assert!(n.contains("::ffff:192.168.1.5".parse().unwrap()));
        let one: Network = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("bad".parse::<Network>().is_err());
        let text = sample().replace("[smtp]", "[smtp]\ntrusted_networks = [\"nonsense\"]");
        let err = Config::parse(Path::new("/x/f.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nonsense"), "{err}");
    }

    #[test]
    fn missing_file_is_reported_with_its_path() {
        let err = Config::load(Path::new("/nonexistent/facteur.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/nonexistent/facteur.toml: cannot read"),
            "{err}"
        );
    }
}
