//! System updates through the daemon (`/v1/update`): its state, a bundle
//! uploaded by hand (streamed, never held whole in memory), and "look at
//! the fleet server now".

use http_body_util::StreamBody;
use hyper::body::{Bytes, Frame};

use super::{Daemon, DaemonError, READ_TIMEOUT};

/// `GET /v1/update`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct UpdateView {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub running_version: String,
    #[serde(default)]
    pub fleet_server: bool,
    #[serde(default)]
    pub target_version: Option<String>,
    #[serde(default)]
    pub progress: Option<u32>,
    #[serde(default)]
    pub server_error: Option<String>,
    #[serde(default)]
    pub last_result: Option<UpdateResultView>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct UpdateResultView {
    pub ok: bool,
    pub message: String,
    pub at: i64,
}

/// A chunk of the uploaded file on its way to the daemon, or why the
/// upload stopped.
pub type UploadChunk = Result<Frame<Bytes>, std::io::Error>;

impl Daemon {
    /// The updater's state; `None` when updates are not enabled.
    pub async fn update(&self) -> Result<Option<UpdateView>, DaemonError> {
        match self.get("/v1/update").await {
            Ok(view) => Ok(Some(view)),
            Err(DaemonError::Refused { code, .. }) if code == "no_updates" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends the bundle whose chunks arrive on `chunks`; returns the
    /// installed version. No time limit: checking and installing a bundle
    /// takes minutes on a small board.
    pub async fn upload_bundle(
        &self,
        chunks: tokio::sync::mpsc::Receiver<UploadChunk>,
    ) -> Result<String, DaemonError> {
        let stream = futures_util::stream::unfold(chunks, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let answer = self
            .client()
            .post_stream("/v1/update/bundle", StreamBody::new(stream))
            .await?;
        Ok(answer
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string())
    }

    pub async fn update_poll(&self) -> Result<(), DaemonError> {
        tokio::time::timeout(
            READ_TIMEOUT,
            self.client()
                .post("/v1/update/poll", zeroize::Zeroizing::new(b"{}".to_vec())),
        )
        .await
        .map_err(|_| DaemonError::Timeout)??;
        Ok(())
    }
}
