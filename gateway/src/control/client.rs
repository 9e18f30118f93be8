//! The command line's side of the control API.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use super::ErrorBody;

/// A refusal or failure from the API, with its stable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "{}: cannot reach the daemon ({source}); is `facteur run` running with this configuration?",
        socket.display()
    )]
    Unreachable {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", body.message)]
    Refused { status: u16, body: ErrorBody },
    #[error("control API: {0}")]
    Protocol(String),
}

/// Talks to the daemon over its control socket.
pub struct ControlClient {
    socket: PathBuf,
}

impl ControlClient {
    pub fn new(socket: &Path) -> ControlClient {
        ControlClient {
            socket: socket.to_path_buf(),
        }
    }

    pub async fn get(&self, path: &str) -> Result<serde_json::Value, ApiError> {
        self.call("GET", path, Bytes::new()).await
    }

    /// POSTs `body` (JSON); the buffer is wiped after sending, as it may
    /// hold a PIN.
    pub async fn post(
        &self,
        path: &str,
        body: zeroize::Zeroizing<Vec<u8>>,
    ) -> Result<serde_json::Value, ApiError> {
        let bytes = Bytes::copy_from_slice(&body);
        drop(body);
        self.call("POST", path, bytes).await
    }

    /// PUTs `body` (JSON).
    pub async fn put(&self, path: &str, body: Vec<u8>) -> Result<serde_json::Value, ApiError> {
        self.call("PUT", path, Bytes::from(body)).await
    }

    /// GETs a file the API serves as is (a PDF): its content type and
    /// bytes. Refusals are JSON errors as elsewhere.
    pub async fn get_file(&self, path: &str) -> Result<(String, Vec<u8>), ApiError> {
        let (content_type, bytes) = self.exchange("GET", path, Bytes::new()).await?;
        Ok((content_type, bytes.to_vec()))
    }

    /// GETs a body that is not JSON (the support bundle); errors as JSON.
    pub async fn get_bytes(&self, path: &str) -> Result<Bytes, ApiError> {
        let (_, bytes) = self.exchange("GET", path, Bytes::new()).await?;
        Ok(bytes)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Bytes,
    ) -> Result<serde_json::Value, ApiError> {
        let (_, bytes) = self.exchange(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Protocol(format!("bad JSON: {e}")))
    }

    /// POSTs a body streamed as it comes (a system update bundle, which
    /// is never held in memory whole); the answer is JSON.
    pub async fn post_stream<B>(&self, path: &str, body: B) -> Result<serde_json::Value, ApiError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (_, bytes) = self
            .send("POST", path, "application/octet-stream", body)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Protocol(format!("bad JSON: {e}")))
    }

    /// One request; the content type and body of a 2xx answer, the API's
    /// error otherwise.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Bytes,
    ) -> Result<(String, Bytes), ApiError> {
        self.send(method, path, "application/json", Full::new(body))
            .await
    }

    async fn send<B>(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: B,
    ) -> Result<(String, Bytes), ApiError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ApiError::Unreachable {
                socket: self.socket.clone(),
                source,
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ApiError::Protocol(e.to_string()))?;
        let driver = tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "facteur")
            .header("content-type", content_type)
            .body(body)
            .map_err(|e| ApiError::Protocol(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ApiError::Protocol(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ApiError::Protocol(e.to_string()))?
            .to_bytes();
        driver.abort();
        if status >= 400 {
            let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
                error: "http".into(),
                message: format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
                tries_left: None,
                key: None,
            });
            return Err(ApiError::Refused { status, body });
        }
        Ok((content_type, bytes))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a
/// path segment or a query value.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod encode_tests {
    use super::encode_component;

    #[test]
    fn only_unreserved_characters_stay_as_they_are() {
        assert_eq!(encode_component("a.b-c_d~9"), "a.b-c_d~9");
        assert_eq!(
            encode_component("<x/y?z=1&w@h.fr>"),
            "%3Cx%2Fy%3Fz%3D1%26w%40h.fr%3E"
        );
        assert_eq!(encode_component("é"), "%C3%A9");
    }
}
