//! Log output: human-readable on a terminal, JSON lines for collectors.
//!
//! What may be logged: queue ids, addresses, sizes, replies, errors. Never
//! a password, a key, a PIN or a message body; spans carry the SMTP session
//! number and the queue id so one message can be followed end to end.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides `level`.
pub fn init(format: LogFormat, level: &str) {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // The IMAP library traces every line it sends, a SASL response (with
    // a Pro Santé Connect token) included: never below info, whatever the
    // level asked.
    if let Ok(quiet) = "async_imap=info".parse() {
        filter = filter.add_directive(quiet);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // The last events also go to memory, for the web admin and the
    // support bundle (`diagnostics::logs`).
    let ring =
        crate::diagnostics::logs::RingLayer::new(crate::diagnostics::logs::LogRing::global());
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .finish()
            .with(ring)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .finish()
            .with(ring)
            .try_init(),
    };
}
