//! A software certificate uploaded through the web admin: checked before
//! anything is kept, then stored owner-only in `data_dir/credential/`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::credential::{Credential, Pkcs12Error, SoftwareCredential};

/// Largest PKCS#12 file accepted (real ones are a few KiB).
pub const MAX_PKCS12: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than {MAX_PKCS12} bytes")]
    TooLarge,
    #[error(transparent)]
    Pkcs12(#[from] Pkcs12Error),
    #[error("the certificate expired on {0}")]
    Expired(String),
    #[error("cannot store the certificate: {0}")]
    Store(#[from] crate::durable::DurableError),
    #[error("cannot create the credential folder: {0}")]
    Folder(std::io::Error),
}

impl UploadError {
    /// A stable code for the web admin's French messages.
    pub fn code(&self) -> &'static str {
        match self {
            UploadError::TooLarge => "pkcs12_too_large",
            UploadError::Pkcs12(Pkcs12Error::WrongPassword) => "pkcs12_wrong_password",
            UploadError::Pkcs12(Pkcs12Error::Damaged(_)) => "pkcs12_damaged",
            UploadError::Pkcs12(Pkcs12Error::NoKey) => "pkcs12_no_key",
            UploadError::Pkcs12(Pkcs12Error::Unusable(_)) => "pkcs12_unusable",
            UploadError::Expired(_) => "certificate_expired",
            UploadError::Store(_) | UploadError::Folder(_) => "store_failed",
        }
    }
}

/// Where an accepted certificate was kept, and whose it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredCredential {
    #[serde(skip)]
    pub pkcs12: PathBuf,
    #[serde(skip)]
    pub password_file: PathBuf,
    pub identity: String,
    pub not_after: Option<i64>,
}

/// Opens the file with its password; keeps both only if the certificate
/// is usable now.
pub fn store_pkcs12(
    data_dir: &Path,
    data: &[u8],
    password: &str,
) -> Result<StoredCredential, UploadError> {
    if data.len() > MAX_PKCS12 {
        return Err(UploadError::TooLarge);
    }
    let credential = SoftwareCredential::from_pkcs12_bytes(data, password)?;
    let not_after = credential.not_after();
    if let Some(end) = not_after
        && end < crate::queue::now_unix()
    {
        let date = time::OffsetDateTime::from_unix_timestamp(end)
            .ok()
            .and_then(|t| {
                t.format(time::macros::format_description!("[year]-[month]-[day]"))
                    .ok()
            })
            .unwrap_or_else(|| end.to_string());
        return Err(UploadError::Expired(date));
    }
    let dir = data_dir.join("credential");
    std::fs::create_dir_all(&dir).map_err(UploadError::Folder)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(UploadError::Folder)?;
    // New names each time: the settings file, written after, is what
    // switches to them, so a crash leaves the old pair in use, never a
    // file without its password.
    let stem = format!(
        "mailbox-{}-{:08x}",
        crate::queue::now_unix(),
        rand::random::<u32>()
    );
    let pkcs12 = dir.join(format!("{stem}.p12"));
    let password_file = dir.join(format!("{stem}.pass"));
    let line = Zeroizing::new(format!("{password}\n"));
    crate::durable::write_atomically(&password_file, line.as_bytes(), 0o600)?;
    crate::durable::write_atomically(&pkcs12, data, 0o600)?;
    Ok(StoredCredential {
        pkcs12,
        password_file,
        identity: credential.identity(),
        not_after,
    })
}

/// Removes stored certificates other than `keep` (after the settings
/// switched to it).
pub(super) fn remove_others(data_dir: &Path, keep: &[&Path]) {
    let Ok(entries) = std::fs::read_dir(data_dir.join("credential")) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("mailbox-"));
        if ours && !keep.contains(&path.as_path()) {
            let _ = std::fs::remove_file(&path);
        }
    }
}
