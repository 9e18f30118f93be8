//! What the updater sees of the running daemon: the attributes reported
//! to the fleet server, whether the box is busy, and the health checks a
//! freshly updated system must pass.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::card::CardService;
use crate::health::{ControlProbe, Probe, QueueProbe};
use crate::queue::Queue;
use crate::queue::delivery::Delivery;
use crate::update::BoxState;
use crate::update::policy::Activity;

pub struct DaemonState {
    pub queue: Queue,
    pub queue_dir: PathBuf,
    pub delivery: Arc<Delivery>,
    pub card: Option<CardService>,
    /// The board description's name, `None` on a PC.
    pub board: Option<String>,
    pub control_socket: PathBuf,
    pub version: String,
}

impl DaemonState {
    /// Recipients still to deliver.
    async fn queued(&self) -> Result<usize, String> {
        let dir = self.queue_dir.clone();
        tokio::task::spawn_blocking(move || crate::queue::pending_count(&dir))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// SQLite's own check of the queue database.
    async fn database_sane(&self) -> Result<(), String> {
        let db = self.queue_dir.join("queue.db");
        tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open_with_flags(
                &db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .map_err(|e| e.to_string())?;
            let verdict: String = conn
                .query_row("PRAGMA quick_check", [], |row| row.get(0))
                .map_err(|e| e.to_string())?;
            if verdict == "ok" {
                Ok(())
            } else {
                Err(format!("queue database damaged: {verdict}"))
            }
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

impl BoxState for DaemonState {
    fn attributes(&self) -> BoxFuture<'_, BTreeMap<String, String>> {
        Box::pin(async move {
            let mut attributes = BTreeMap::from([
                ("version".to_string(), self.version.clone()),
                (
                    "board".to_string(),
                    self.board.clone().unwrap_or_else(|| "none".into()),
                ),
            ]);
            match &self.card {
                Some(card) => {
                    let status = card.status();
                    let state = serde_json::to_value(status.state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    attributes.insert("card".into(), state);
                    if let Some(holder) = &status.holder {
                        attributes.insert(
                            "card_expires".into(),
                            crate::localtime::iso_date(holder.not_after),
                        );
                    }
                }
                None => {
                    attributes.insert("card".into(), "none".into());
                }
            }
            if let Ok(n) = self.queued().await {
                attributes.insert("queue_depth".into(), n.to_string());
            }
            attributes
        })
    }

    fn activity(&self) -> BoxFuture<'_, Activity> {
        Box::pin(async move {
            Activity {
                // An unreadable queue is not a quiet one.
                queued: self.queued().await.unwrap_or(usize::MAX),
                delivering: self.delivery.in_flight(),
                in_window: false,
            }
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            QueueProbe(self.queue.clone())
                .check()
                .await
                .map_err(|e| format!("queue: {e}"))?;
            self.database_sane().await?;
            ControlProbe(self.control_socket.clone())
                .check()
                .await
                .map_err(|e| format!("control API: {e}"))?;
            Ok(())
        })
    }
}
