//! The RAUC service, over D-Bus (`de.pengutronix.rauc.Installer`): it
//! checks a bundle's signature, writes it into the slot that is not
//! running, switches the bootloader to it, and marks the booted slot good
//! once the box has proven itself. The box never writes slots itself.
//!
//! The methods used are those of RAUC 1.8 and later (`Info`,
//! `InstallBundle`, `Mark`, `GetSlotStatus`, the `Completed` signal).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use zbus::zvariant::{OwnedValue, Value};

#[zbus::proxy(
    interface = "de.pengutronix.rauc.Installer",
    default_service = "de.pengutronix.rauc",
    default_path = "/"
)]
trait Installer {
    fn install_bundle(&self, source: &str, args: HashMap<&str, Value<'_>>) -> zbus::Result<()>;
    fn info(&self, bundle: &str) -> zbus::Result<(String, String)>;
    fn mark(&self, state: &str, slot_identifier: &str) -> zbus::Result<(String, String)>;
    fn get_slot_status(&self) -> zbus::Result<Vec<(String, HashMap<String, OwnedValue>)>>;
    #[zbus(property)]
    fn operation(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn last_error(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn progress(&self) -> zbus::Result<(i32, String, i32)>;
    #[zbus(property)]
    fn compatible(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn boot_slot(&self) -> zbus::Result<String>;
    #[zbus(signal)]
    fn completed(&self, result: i32) -> zbus::Result<()>;
}

#[derive(Debug, thiserror::Error)]
pub enum RaucError {
    #[error("cannot reach the RAUC service: {0}")]
    Unreachable(String),
    /// RAUC refused the bundle (bad signature, unknown key, corrupt…).
    #[error("RAUC refused the bundle: {0}")]
    Refused(String),
    #[error("installation failed: {0}")]
    InstallFailed(String),
    #[error("RAUC: {0}")]
    Other(String),
}

/// Which bus the RAUC service is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bus {
    /// The system bus, on the appliance.
    System,
    /// A D-Bus address (`unix:path=…`): a private bus in the tests.
    Address(String),
}

impl Bus {
    pub fn parse(text: &str) -> Bus {
        if text == "system" {
            Bus::System
        } else {
            Bus::Address(text.to_string())
        }
    }
}

/// What a bundle says of itself (once RAUC has checked its signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    pub compatible: String,
    pub version: String,
}

/// One slot as RAUC reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub bootname: Option<String>,
    /// "booted", "active", "inactive".
    pub state: Option<String>,
    /// "good" or "bad", from the bootloader.
    pub boot_status: Option<String>,
    pub bundle_version: Option<String>,
}

#[derive(Clone)]
pub struct Rauc {
    proxy: InstallerProxy<'static>,
}

impl Rauc {
    pub async fn connect(bus: &Bus) -> Result<Rauc, RaucError> {
        let unreachable = |e: zbus::Error| RaucError::Unreachable(e.to_string());
        let connection = match bus {
            Bus::System => zbus::Connection::system().await.map_err(unreachable)?,
            Bus::Address(address) => zbus::connection::Builder::address(address.as_str())
                .map_err(unreachable)?
                .build()
                .await
                .map_err(unreachable)?,
        };
        let proxy = InstallerProxy::new(&connection)
            .await
            .map_err(unreachable)?;
        Ok(Rauc { proxy })
    }

    /// The system's compatible string (`[system] compatible`).
    pub async fn compatible(&self) -> Result<String, RaucError> {
        self.proxy.compatible().await.map_err(other)
    }

    /// The slot the system runs from (its `bootname`).
    pub async fn boot_slot(&self) -> Result<String, RaucError> {
        self.proxy.boot_slot().await.map_err(other)
    }

    /// Checks the bundle's signature against the keyring and reads its
    /// manifest.
    pub async fn info(&self, bundle: &str) -> Result<BundleInfo, RaucError> {
        match self.proxy.info(bundle).await {
            Ok((compatible, version)) => Ok(BundleInfo {
                compatible,
                version,
            }),
            Err(zbus::Error::MethodError(_, detail, _)) => Err(RaucError::Refused(
                detail.unwrap_or_else(|| "no reason given".into()),
            )),
            Err(e) => Err(other(e)),
        }
    }

    /// Installs into the inactive slot and waits for RAUC to finish,
    /// reporting progress (percent) on the way.
    pub async fn install(
        &self,
        bundle: &str,
        mut on_progress: impl FnMut(i32, &str),
    ) -> Result<(), RaucError> {
        // Subscribe before starting, so a fast install's signal is not missed.
        let mut completed = self.proxy.receive_completed().await.map_err(other)?;
        self.proxy
            .install_bundle(bundle, HashMap::new())
            .await
            .map_err(|e| match e {
                zbus::Error::MethodError(_, detail, _) => {
                    RaucError::InstallFailed(detail.unwrap_or_else(|| "refused".into()))
                }
                e => other(e),
            })?;
        let mut last = -1;
        let result = loop {
            tokio::select! {
                signal = completed.next() => {
                    let Some(signal) = signal else {
                        return Err(RaucError::Other("the RAUC service went away during the installation".into()));
                    };
                    break signal.args().map_err(other)?.result;
                }
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if let Ok((percent, message, _)) = self.proxy.progress().await
                        && percent != last
                    {
                        last = percent;
                        on_progress(percent, &message);
                    }
                }
            }
        };
        if result == 0 {
            on_progress(100, "installed");
            Ok(())
        } else {
            let reason = self.proxy.last_error().await.unwrap_or_default();
            Err(RaucError::InstallFailed(if reason.is_empty() {
                format!("RAUC ended with code {result}")
            } else {
                reason
            }))
        }
    }

    /// Marks the booted slot good: the bootloader stops counting tries
    /// and will not fall back.
    pub async fn mark_booted_good(&self) -> Result<String, RaucError> {
        let (slot, _message) = self.proxy.mark("good", "booted").await.map_err(other)?;
        Ok(slot)
    }

    /// Marks the booted slot bad: the bootloader goes back to the other
    /// one at the next start.
    pub async fn mark_bad_booted(&self) -> Result<String, RaucError> {
        let (slot, _message) = self.proxy.mark("bad", "booted").await.map_err(other)?;
        Ok(slot)
    }

    pub async fn slots(&self) -> Result<Vec<Slot>, RaucError> {
        let status = self.proxy.get_slot_status().await.map_err(other)?;
        Ok(status
            .into_iter()
            .map(|(name, fields)| {
                let text = |key: &str| {
                    fields
                        .get(key)
                        .and_then(|v| String::try_from(v.clone()).ok())
                };
                Slot {
                    bootname: text("bootname"),
                    state: text("state"),
                    boot_status: text("boot-status"),
                    bundle_version: text("bundle.version"),
                    name,
                }
            })
            .collect())
    }
}

fn other(e: zbus::Error) -> RaucError {
    RaucError::Other(e.to_string())
}
