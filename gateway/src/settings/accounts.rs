//! Local accounts (the practice's mail clients and software) as the
//! practice manages them: names checked, passwords hashed by the daemon.

use crate::config::Account;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountError {
    #[error("user names are 1 to 64 lowercase letters, digits, `.`, `_` or `-`")]
    BadUser,
    #[error("the password must have 12 to 128 characters")]
    WeakPassword,
    #[error("no local account `{0}`")]
    Unknown(String),
    #[error("at most 32 local accounts")]
    TooMany,
}

/// Whether `user` is an acceptable local account name (what mail clients
/// and practice software type without surprise).
pub fn valid_user(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

pub(super) fn check_password(password: &str) -> Result<(), AccountError> {
    if (12..=128).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(AccountError::WeakPassword)
    }
}

/// `accounts` with `user` added or its hash replaced.
pub(super) fn with_account(
    mut accounts: Vec<Account>,
    user: &str,
    password_hash: String,
) -> Result<Vec<Account>, AccountError> {
    let count = accounts.len();
    match accounts.iter_mut().find(|a| a.user == user) {
        Some(account) => account.password_hash = password_hash,
        None if count >= 32 => return Err(AccountError::TooMany),
        None => accounts.push(Account {
            user: user.to_string(),
            password_hash,
        }),
    }
    Ok(accounts)
}

pub(super) fn without_account(
    mut accounts: Vec<Account>,
    user: &str,
) -> Result<Vec<Account>, AccountError> {
    let before = accounts.len();
    accounts.retain(|a| a.user != user);
    if accounts.len() == before {
        return Err(AccountError::Unknown(user.to_string()));
    }
    Ok(accounts)
}

pub(super) fn to_toml(accounts: &[Account]) -> toml::Value {
    toml::Value::Array(
        accounts
            .iter()
            .map(|a| {
                let mut t = toml::Table::new();
                t.insert("user".into(), a.user.clone().into());
                t.insert("password_hash".into(), a.password_hash.clone().into());
                toml::Value::Table(t)
            })
            .collect(),
    )
}

pub(super) fn from_toml(value: Option<&toml::Value>) -> Vec<Account> {
    value
        .and_then(toml::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let t = item.as_table()?;
                    Some(Account {
                        user: t.get("user")?.as_str()?.to_string(),
                        password_hash: t.get("password_hash")?.as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}
