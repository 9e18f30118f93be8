//! The last log events, kept in memory for the web admin's « Journaux
//! techniques » and the support bundle: a `tracing_subscriber` layer
//! writing into a bounded ring.
//!
//! The code base logs no patient data, PIN, password or key; as a second
//! line, a field whose name suggests one (pin, password, key, secret,
//! token, hash, patient, ins, subject…) is dropped here whatever it holds.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Events kept by the daemon's ring.
pub const CAPACITY: usize = 2000;
/// Longest message or field value kept (characters).
const MAX_TEXT: usize = 1000;

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogEvent {
    /// Increasing number, from the daemon's start.
    pub seq: u64,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// `error`, `warn`, `info`, `debug`, `trace`.
    pub level: String,
    /// The part of the daemon: `queue`, `smtp`, `upstream`… (from the target).
    pub component: String,
    pub target: String,
    pub message: String,
    /// The event's fields and those of its spans, minus secret-looking ones.
    pub fields: BTreeMap<String, String>,
}

/// Whether a field's name suggests a secret or patient data: then its
/// value is never kept.
pub fn is_sensitive(name: &str) -> bool {
    const WORDS: [&str; 16] = [
        "pin",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "key",
        "token",
        "hash",
        "patient",
        "ins",
        "nir",
        "subject",
        "cookie",
        "csrf",
        "credentials",
    ];
    const PARTS: [&str; 5] = ["password", "passwd", "secret", "patient", "token"];
    let lower = name.to_ascii_lowercase();
    if PARTS.iter().any(|p| lower.contains(p)) {
        return true;
    }
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| WORDS.contains(&word))
}

/// Severity rank: 0 error … 4 trace.
pub fn level_rank(level: &str) -> Option<u8> {
    match level {
        "error" => Some(0),
        "warn" => Some(1),
        "info" => Some(2),
        "debug" => Some(3),
        "trace" => Some(4),
        _ => None,
    }
}

/// The component of a target: `facteur::queue::delivery` → `queue`,
/// `rustls::client` → `rustls`.
pub fn component_of(target: &str) -> String {
    let mut parts = target.split("::");
    let first = parts.next().unwrap_or_default();
    let component = if first == "facteur" {
        parts.next().unwrap_or(first)
    } else {
        first
    };
    component.to_string()
}

/// What to return.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Least severe level included (`warn`: warnings and errors).
    pub level: Option<String>,
    pub component: Option<String>,
    /// Text in the message or a field value (case-insensitive).
    pub q: Option<String>,
    pub limit: usize,
}

/// A bounded ring of events.
pub struct LogRing {
    capacity: usize,
    inner: Mutex<(u64, VecDeque<LogEvent>)>,
}

impl LogRing {
    pub fn new(capacity: usize) -> LogRing {
        LogRing {
            capacity: capacity.max(1),
            inner: Mutex::new((0, VecDeque::with_capacity(capacity.min(4096)))),
        }
    }

    /// The daemon's ring (installed by `logging::init`).
    pub fn global() -> &'static LogRing {
        static RING: OnceLock<LogRing> = OnceLock::new();
        RING.get_or_init(|| LogRing::new(CAPACITY))
    }

    pub fn push(&self, mut event: LogEvent) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0 += 1;
        event.seq = inner.0;
        if inner.1.len() >= self.capacity {
            inner.1.pop_front();
        }
        inner.1.push_back(event);
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Matching events, newest first.
    pub fn query(&self, query: &LogQuery) -> Vec<LogEvent> {
        let max_rank = query
            .level
            .as_deref()
            .and_then(level_rank)
            .unwrap_or(u8::MAX);
        let needle = query.q.as_deref().map(str::to_lowercase);
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .1
            .iter()
            .rev()
            .filter(|e| level_rank(&e.level).unwrap_or(u8::MAX) <= max_rank)
            .filter(|e| query.component.as_deref().is_none_or(|c| e.component == c))
            .filter(|e| {
                needle.as_deref().is_none_or(|n| {
                    e.message.to_lowercase().contains(n)
                        || e.fields.values().any(|v| v.to_lowercase().contains(n))
                })
            })
            .take(query.limit.max(1))
            .cloned()
            .collect()
    }
}

/// The layer feeding a ring.
pub struct RingLayer {
    ring: &'static LogRing,
}

impl RingLayer {
    pub fn new(ring: &'static LogRing) -> RingLayer {
        RingLayer { ring }
    }
}

/// Fields recorded on a span when it was created (already filtered).
struct SpanFields(Vec<(String, String)>);

#[derive(Default)]
struct Collect {
    message: String,
    fields: Vec<(String, String)>,
}

fn cut(mut text: String) -> String {
    if let Some((at, _)) = text.char_indices().nth(MAX_TEXT) {
        text.truncate(at);
        text.push('…');
    }
    text
}

impl Collect {
    fn keep(&mut self, field: &Field, value: String) {
        let name = field.name();
        if name == "message" {
            self.message = cut(value);
        } else if !is_sensitive(name) {
            self.fields.push((name.to_string(), cut(value)));
        }
    }
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.keep(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.keep(field, format!("{value:?}"));
    }
}

impl<S> Layer<S> for RingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut collect = Collect::default();
        attrs.record(&mut collect);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(collect.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(list)) = span.extensions().get::<SpanFields>() {
                    for (k, v) in list {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let mut collect = Collect::default();
        event.record(&mut collect);
        fields.extend(collect.fields);
        let meta = event.metadata();
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.ring.push(LogEvent {
            seq: 0,
            at_ms,
            level: meta.level().as_str().to_ascii_lowercase(),
            component: component_of(meta.target()),
            target: meta.target().to_string(),
            message: collect.message,
            fields,
        });
    }
}
