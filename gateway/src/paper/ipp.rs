//! Printing over IPP/1.1 (RFC 8010, RFC 8011): one `Print-Job` request
//! carrying the PDF, sent as an HTTP POST to the printer.
//!
//! Every network printer sold these years speaks IPP and prints PDF
//! itself (IPP Everywhere, AirPrint), so the box needs no driver and no
//! CUPS. The protocol is a small binary format, encoded and decoded here
//! rather than through a crate that would bring its own HTTP stack; the
//! transport is the hyper client the daemon already has.
//!
//! Only `ipp://` (HTTP, port 631 by default) is supported. Printers on a
//! practice LAN present self-signed certificates, which only pinning could
//! make `ipps://` meaningful with; until that exists, an `ipps://` printer
//! is refused at start-up rather than used without checking its
//! certificate.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// IPP version 1.1.
const VERSION: [u8; 2] = [1, 1];
const PRINT_JOB: u16 = 0x0002;

// Delimiter tags.
const OPERATION_ATTRIBUTES: u8 = 0x01;
const JOB_ATTRIBUTES: u8 = 0x02;
const END_OF_ATTRIBUTES: u8 = 0x03;

// Value tags.
const TAG_INTEGER: u8 = 0x21;
const TAG_TEXT: u8 = 0x41;
const TAG_NAME: u8 = 0x42;
const TAG_URI: u8 = 0x45;
const TAG_CHARSET: u8 = 0x47;
const TAG_LANGUAGE: u8 = 0x48;
const TAG_MIME: u8 = 0x49;

/// Largest response read from a printer (the answer to Print-Job is a few
/// hundred bytes).
const MAX_RESPONSE: usize = 64 * 1024;

/// A printing failure.
#[derive(Debug, thiserror::Error)]
pub enum IppError {
    #[error("printer URI `{0}`: {1}")]
    Uri(String, &'static str),
    #[error("cannot reach the printer at {address}: {message}")]
    Unreachable { address: String, message: String },
    #[error("the printer did not answer within {0} s")]
    Timeout(u64),
    #[error("HTTP error from the printer: {0}")]
    Http(String),
    #[error("the printer refused the job: {name} (0x{code:04x}){}", detail(.message))]
    Refused {
        code: u16,
        name: &'static str,
        message: Option<String>,
    },
    #[error("unreadable IPP answer: {0}")]
    Malformed(&'static str),
}

fn detail(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

/// A printer address, `ipp://host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterUri {
    /// As configured; sent as `printer-uri`.
    pub uri: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl PrinterUri {
    pub fn parse(text: &str) -> Result<PrinterUri, IppError> {
        let bad = |why| IppError::Uri(text.to_string(), why);
        let uri: hyper::Uri = text.parse().map_err(|_| bad("not a URI"))?;
        match uri.scheme_str() {
            Some("ipp") => {}
            Some("ipps") => {
                return Err(bad(
                    "ipps:// is not supported (printer certificates cannot be checked yet); use ipp://",
                ));
            }
            _ => return Err(bad("must start with ipp://")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user names in the URI are not supported"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = match uri.path() {
            "" => "/".to_string(),
            p => p.to_string(),
        };
        if uri.query().is_some() {
            return Err(bad("a printer URI has no query"));
        }
        Ok(PrinterUri {
            uri: text.to_string(),
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(631),
            path,
        })
    }

    /// `host:port` as a socket address string (IPv6 in brackets).
    fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Appends one attribute (tag, name, value) to `out`.
fn attribute(out: &mut Vec<u8>, tag: u8, name: &str, value: &[u8]) {
    out.push(tag);
    push_with_length(out, name.as_bytes());
    push_with_length(out, value);
}

/// Lengths are 16 bits: longer values are cut (names and job names are
/// ours and short; this only keeps the encoding valid).
fn push_with_length(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A Print-Job request: the operation attributes, then the PDF.
pub fn encode_print_job(
    request_id: u32,
    printer_uri: &str,
    job_name: &str,
    document: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(document.len() + 256);
    out.extend_from_slice(&VERSION);
    out.extend_from_slice(&PRINT_JOB.to_be_bytes());
    out.extend_from_slice(&request_id.to_be_bytes());
    out.push(OPERATION_ATTRIBUTES);
    // The first two, in this order, are required by RFC 8011 4.1.4.
    attribute(&mut out, TAG_CHARSET, "attributes-charset", b"utf-8");
    attribute(&mut out, TAG_LANGUAGE, "attributes-natural-language", b"fr");
    attribute(&mut out, TAG_URI, "printer-uri", printer_uri.as_bytes());
    attribute(&mut out, TAG_NAME, "requesting-user-name", b"facteur");
    // A job name is visible on the printer's panel and web page: the
    // caller gives a file name, never patient data.
    let job_name: String = job_name
        .chars()
        .filter(|c| !c.is_control())
        .take(255)
        .collect();
    attribute(&mut out, TAG_NAME, "job-name", job_name.as_bytes());
    attribute(&mut out, TAG_MIME, "document-format", b"application/pdf");
    out.push(END_OF_ATTRIBUTES);
    out.extend_from_slice(document);
    out
}

/// What the printer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IppResponse {
    pub status: u16,
    pub request_id: u32,
    pub job_id: Option<i32>,
    pub status_message: Option<String>,
}

impl IppResponse {
    /// 0x0000..=0x00FF are the "successful" codes.
    pub fn is_success(&self) -> bool {
        self.status < 0x0100
    }
}

/// Decodes a response's header and attributes (the job id and status
/// message; other attributes are skipped).
pub fn decode_response(bytes: &[u8]) -> Result<IppResponse, IppError> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.take(2)?;
    if version[0] == 0 {
        return Err(IppError::Malformed("bad version"));
    }
    let status = r.u16()?;
    let request_id = u32::from_be_bytes(
        r.take(4)?
            .try_into()
            .map_err(|_| IppError::Malformed("short header"))?,
    );
    let mut response = IppResponse {
        status,
        request_id,
        job_id: None,
        status_message: None,
    };
    let mut group = 0u8;
    let mut name: Vec<u8> = Vec::new();
    loop {
        let tag = r.u8()?;
        if tag == END_OF_ATTRIBUTES {
            break;
        }
        if tag < 0x10 {
            group = tag;
            continue;
        }
        let name_len = usize::from(r.u16()?);
        if name_len > 0 {
            name = r.take(name_len)?.to_vec();
        }
        let value_len = usize::from(r.u16()?);
        let value = r.take(value_len)?;
        // An additional value (empty name) belongs to the attribute before.
        if name_len == 0 {
            continue;
        }
        match (group, name.as_slice(), tag) {
            (JOB_ATTRIBUTES, b"job-id", TAG_INTEGER) => {
                let bytes: [u8; 4] = value
                    .try_into()
                    .map_err(|_| IppError::Malformed("job-id is not 4 bytes"))?;
                response.job_id = Some(i32::from_be_bytes(bytes));
            }
            (OPERATION_ATTRIBUTES, b"status-message", TAG_TEXT) => {
                let text = String::from_utf8_lossy(value);
                response.status_message =
                    Some(text.chars().filter(|c| !c.is_control()).take(200).collect());
            }
            _ => {}
        }
    }
    Ok(response)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IppError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(IppError::Malformed("truncated"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, IppError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, IppError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

/// The name of an IPP status code (RFC 8011 B.1, PWG 5100.x).
pub fn status_name(code: u16) -> &'static str {
    match code {
        0x0000 => "successful-ok",
        0x0001 => "successful-ok-ignored-or-substituted-attributes",
        0x0002 => "successful-ok-conflicting-attributes",
        0x0400 => "client-error-bad-request",
        0x0401 => "client-error-forbidden",
        0x0402 => "client-error-not-authenticated",
        0x0403 => "client-error-not-authorized",
        0x0404 => "client-error-not-possible",
        0x0405 => "client-error-timeout",
        0x0406 => "client-error-not-found",
        0x0407 => "client-error-gone",
        0x0408 => "client-error-request-entity-too-large",
        0x0409 => "client-error-request-value-too-long",
        0x040A => "client-error-document-format-not-supported",
        0x040B => "client-error-attributes-or-values-not-supported",
        0x040C => "client-error-uri-scheme-not-supported",
        0x040D => "client-error-charset-not-supported",
        0x040E => "client-error-conflicting-attributes",
        0x040F => "client-error-compression-not-supported",
        0x0410 => "client-error-compression-error",
        0x0411 => "client-error-document-format-error",
        0x0412 => "client-error-document-access-error",
        0x0500 => "server-error-internal-error",
        0x0501 => "server-error-operation-not-supported",
        0x0502 => "server-error-service-unavailable",
        0x0503 => "server-error-version-not-supported",
        0x0504 => "server-error-device-error",
        0x0505 => "server-error-temporary-error",
        0x0506 => "server-error-not-accepting-jobs",
        0x0507 => "server-error-busy",
        0x0508 => "server-error-job-canceled",
        0x0509 => "server-error-multiple-document-jobs-not-supported",
        _ => match code >> 8 {
            0x00 => "successful",
            0x04 => "client-error",
            0x05 => "server-error",
            _ => "unknown-status",
        },
    }
}

/// Pause before asking a busy printer again.
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// Sends `pdf` to `printer` as one job named `job_name`; returns the job
/// id the printer gave (0 when it gave none). A printer answering that it
/// is busy (many accept one job at a time) is asked again every 2 seconds;
/// the whole, retries included, is bounded by `timeout`.
pub async fn print(
    printer: &PrinterUri,
    job_name: &str,
    pdf: &[u8],
    timeout: Duration,
) -> Result<i32, IppError> {
    let attempts = async {
        loop {
            match exchange(printer, job_name, pdf).await {
                Err(IppError::Refused { code, .. }) if is_busy(code) => {
                    tokio::time::sleep(BUSY_RETRY).await;
                }
                other => return other,
            }
        }
    };
    match tokio::time::timeout(timeout, attempts).await {
        Ok(result) => result,
        Err(_) => Err(IppError::Timeout(timeout.as_secs())),
    }
}

/// Statuses meaning "not now" rather than "never": service-unavailable,
/// temporary-error, busy.
fn is_busy(code: u16) -> bool {
    matches!(code, 0x0502 | 0x0505 | 0x0507)
}

async fn exchange(printer: &PrinterUri, job_name: &str, pdf: &[u8]) -> Result<i32, IppError> {
    let address = printer.address();
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|e| IppError::Unreachable {
            address: address.clone(),
            message: e.to_string(),
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| IppError::Http(e.to_string()))?;
    let driver = tokio::spawn(connection);
    let request_id = rand::random::<u32>() & 0x7fff_ffff | 1;
    let body = encode_print_job(request_id, &printer.uri, job_name, pdf);
    let request = Request::builder()
        .method("POST")
        .uri(&printer.path)
        .header("host", &address)
        .header("content-type", "application/ipp")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| IppError::Http(e.to_string()))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| IppError::Http(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(IppError::Http(format!("HTTP {status}")));
        }
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| IppError::Http(e.to_string()))?
            .to_bytes();
        decode_response(&bytes)
    }
    .await;
    driver.abort();
    let answer = result?;
    if answer.request_id != request_id {
        return Err(IppError::Malformed("request-id does not match"));
    }
    if !answer.is_success() {
        return Err(IppError::Refused {
            code: answer.status,
            name: status_name(answer.status),
            message: answer.status_message,
        });
    }
    Ok(answer.job_id.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_ipp_uri() {
        let p = PrinterUri::parse("ipp://192.168.1.20/ipp/print").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.path.as_str()),
            ("192.168.1.20", 631, "/ipp/print")
        );
        let p = PrinterUri::parse("ipp://[::1]:8631/ipp/print").unwrap();
        assert_eq!(p.address(), "[::1]:8631");
        assert_eq!(PrinterUri::parse("ipp://imprimante").unwrap().path, "/");
        for bad in [
            "http://x/ipp",
            "ipps://x/ipp/print",
            "x",
            "ipp://u:p@x/",
            "ipp:///p",
        ] {
            assert!(PrinterUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paper_ipp_print_job_encoding() {
        let bytes = encode_print_job(7, "ipp://p/ipp/print", "cr.pdf", b"%PDF-1.7");
        let mut expected = vec![1, 1, 0, 2, 0, 0, 0, 7, 0x01];
        for (tag, name, value) in [
            (0x47, "attributes-charset", "utf-8"),
            (0x48, "attributes-natural-language", "fr"),
            (0x45, "printer-uri", "ipp://p/ipp/print"),
            (0x42, "requesting-user-name", "facteur"),
            (0x42, "job-name", "cr.pdf"),
            (0x49, "document-format", "application/pdf"),
        ] {
            expected.push(tag);
            expected.extend((name.len() as u16).to_be_bytes());
            expected.extend(name.as_bytes());
            expected.extend((value.len() as u16).to_be_bytes());
            expected.extend(value.as_bytes());
        }
        expected.push(0x03);
        expected.extend(b"%PDF-1.7");
        assert_eq!(bytes, expected);
    }

    fn response(status: u16, attributes: &[(u8, u8, &str, &[u8])]) -> Vec<u8> {
        let mut out = vec![1, 1];
        out.extend(status.to_be_bytes());
        out.extend(9u32.to_be_bytes());
        let mut group = 0;
        for (g, tag, name, value) in attributes {
            if *g != group {
                out.push(*g);
                group = *g;
            }
            attribute(&mut out, *tag, name, value);
        }
        out.push(0x03);
        out
    }

    #[test]
    fn paper_ipp_response_decoding() {
        let ok = response(
            0,
            &[
                (1, TAG_CHARSET, "attributes-charset", b"utf-8"),
                (1, TAG_TEXT, "status-message", b"successful-ok"),
                (2, TAG_URI, "job-uri", b"ipp://p/ipp/print/12"),
                (2, TAG_INTEGER, "job-id", &12i32.to_be_bytes()),
                (2, 0x23, "job-state", &3i32.to_be_bytes()),
            ],
        );
        let r = decode_response(&ok).unwrap();
        assert!(r.is_success());
        assert_eq!((r.request_id, r.job_id), (9, Some(12)));
        assert_eq!(r.status_message.as_deref(), Some("successful-ok"));

        let refused = decode_response(&response(0x040A, &[])).unwrap();
        assert!(!refused.is_success());
        assert_eq!(
            status_name(refused.status),
            "client-error-document-format-not-supported"
        );
        // Truncated or hostile answers are errors, never panics.
        for cut in 0..ok.len() {
            let _ = decode_response(&ok[..cut]);
        }
        assert!(decode_response(&ok[..ok.len() - 1]).is_err());
        assert!(decode_response(&[1, 1, 0, 0, 0, 0, 0, 1, 0x02, 0x21, 0xff, 0xff]).is_err());
    }

    #[test]
    fn paper_ipp_refusal_names_the_status() {
        let e = IppError::Refused {
            code: 0x0506,
            name: status_name(0x0506),
            message: Some("Printer is stopped".into()),
        };
        assert_eq!(
            e.to_string(),
            "the printer refused the job: server-error-not-accepting-jobs (0x0506): Printer is stopped"
        );
    }
}
