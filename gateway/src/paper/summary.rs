//! The monthly summary of correspondents still reached on paper, the most
//! frequent first, so the practice knows whom to invite to MSSanté first.
//!
//! It is read from table `paper_sent` of the queue database
//! ([`Tracking::paper_summary`]) and written as a CSV file that French
//! Excel and LibreOffice open directly: UTF-8 with a byte-order mark (else
//! Excel reads it as Windows-1252 and mangles the accents), `;` between
//! fields (`,` is the decimal separator in French), a header in French.
//! By default it goes next to the to-print folder, as
//! `paper-summary-YYYY-MM.csv` (see [`summary_path`]).

use std::path::{Path, PathBuf};

use super::{PaperError, spool};
use crate::config::PaperConfig;
use crate::queue::tracking::{PaperSummaryRow, Tracking};

const HEADER: [&str; 4] = [
    "Correspondant",
    "Adresse postale",
    "Nombre d'envois papier",
    "Dernier envoi",
];

/// The summary as CSV bytes (see the module documentation).
pub fn summary_csv(rows: &[PaperSummaryRow]) -> Vec<u8> {
    let mut out = String::from("\u{FEFF}");
    push_record(&mut out, HEADER.iter().map(|h| h.to_string()));
    for row in rows {
        let last = time::OffsetDateTime::from_unix_timestamp(row.last_at)
            .map(|t| {
                let d = t.date();
                format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
            })
            .unwrap_or_default();
        push_record(
            &mut out,
            [
                row.correspondent.clone(),
                row.address.clone(),
                row.count.to_string(),
                last,
            ]
            .into_iter(),
        );
    }
    out.into_bytes()
}

fn push_record(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(&escape(&field));
    }
    out.push_str("\r\n");
}

/// Quotes a field holding `;`, a quote or a line break (quotes doubled,
/// RFC 4180). A field starting like a formula (`=`, `+`, `-`, `@`) gets a
/// leading apostrophe so the spreadsheet shows it instead of running it:
/// names and addresses come from directories we do not control.
fn escape(field: &str) -> String {
    let defused;
    let field = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{field}");
        defused.as_str()
    } else {
        field
    };
    if field.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Writes the summary to `path` (replacing an older one, atomically).
pub fn write_summary_csv(rows: &[PaperSummaryRow], path: &Path) -> Result<(), PaperError> {
    spool::write_replacing(path, &summary_csv(rows))
}

/// `paper-summary-YYYY-MM.csv` in the folder holding `to_print_dir` (so it
/// is not taken for something to print), or in `to_print_dir` itself when
/// it has no parent.
pub fn summary_path(config: &PaperConfig, year: i32, month: u8) -> PathBuf {
    let name = format!("paper-summary-{year:04}-{month:02}.csv");
    match config.to_print_dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join(name),
        _ => config.to_print_dir.join(name),
    }
}

/// The month before the one `today` is in: what a monthly run, on the
/// first of the month, summarises.
pub fn previous_month(today: time::Date) -> (i32, u8) {
    match today.month() {
        time::Month::January => (today.year() - 1, 12),
        m => (today.year(), u8::from(m) - 1),
    }
}

/// "2026-11" → (2026, 11).
pub fn parse_month(text: &str) -> Option<(i32, u8)> {
    let (year, month) = text.split_once('-')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let month: u8 = month.parse().ok()?;
    (1..=12).contains(&month).then_some((year, month))
}

/// Writes the summary of one month to [`summary_path`]; what the daemon
/// calls once a month, for the month just ended. Returns the file and the
/// number of correspondents in it.
pub fn write_monthly_summary(
    tracking: &Tracking,
    config: &PaperConfig,
    year: i32,
    month: u8,
) -> Result<(PathBuf, usize), PaperError> {
    let rows = tracking.paper_summary(year, month)?;
    let path = summary_path(config, year, month);
    write_summary_csv(&rows, &path)?;
    tracing::info!(
        month = format!("{year:04}-{month:02}"),
        correspondents = rows.len(),
        path = %path.display(),
        "paper summary written"
    );
    Ok((path, rows.len()))
}

/// Writes last month's summary when it is missing, now and then every
/// hour, until `shutdown`: a box switched off on the first of the month
/// still writes it when it comes back.
pub async fn run_monthly(
    tracking: std::sync::Arc<Tracking>,
    config: PaperConfig,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let (year, month) = previous_month(time::OffsetDateTime::now_utc().date());
        if !summary_path(&config, year, month).exists() {
            let tracking = tracking.clone();
            let config = config.clone();
            let written = tokio::task::spawn_blocking(move || {
                write_monthly_summary(&tracking, &config, year, month)
            })
            .await;
            if let Ok(Err(e)) = written {
                tracing::warn!(error = %e, "paper summary not written; will try again");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, address: &str, count: u64) -> PaperSummaryRow {
        PaperSummaryRow {
            key: name.to_lowercase(),
            correspondent: name.into(),
            address: address.into(),
            count,
            // 2026-11-23 10:00 UTC
            last_at: 1_795_428_000,
        }
    }

    #[test]
    fn paper_summary_csv_for_french_excel() {
        let csv = summary_csv(&[
            row("Dr Hélène MARTIN", "1 rue A; bât. B, 79000 NIORT", 3),
            row("Dr \"Jo\" DURAND", "2 rue B", 1),
            row("=HYPERLINK(\"x\")", "-3 rue C", 1),
        ]);
        assert!(csv.starts_with(b"\xEF\xBB\xBF"), "UTF-8 byte-order mark");
        let text = String::from_utf8(csv[3..].to_vec()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "Correspondant;Adresse postale;Nombre d'envois papier;Dernier envoi"
        );
        assert_eq!(
            lines[1],
            "Dr Hélène MARTIN;\"1 rue A; bât. B, 79000 NIORT\";3;23/11/2026"
        );
        assert_eq!(lines[2], "\"Dr \"\"Jo\"\" DURAND\";2 rue B;1;23/11/2026");
        assert_eq!(
            lines[3],
            "\"'=HYPERLINK(\"\"x\"\")\";'-3 rue C;1;23/11/2026"
        );
        assert_eq!(lines[4], "");
    }

    #[test]
    fn paper_months() {
        use time::macros::date;
        assert_eq!(previous_month(date!(2027 - 01 - 01)), (2026, 12));
        assert_eq!(previous_month(date!(2026 - 12 - 01)), (2026, 11));
        assert_eq!(parse_month("2026-11"), Some((2026, 11)));
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "x"] {
            assert_eq!(parse_month(bad), None, "{bad}");
        }
    }
}
