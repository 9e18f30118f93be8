//! The rules an update must pass before it touches a slot, and the rule
//! for when the box may restart: pure functions, so every case is tested.

use std::cmp::Ordering;

/// Why a bundle is refused before installation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "ce fichier est destiné à un autre appareil (« {bundle} » ; ce boîtier : « {system} »)"
    )]
    Incompatible { bundle: String, system: String },
    #[error(
        "la version {bundle} est plus ancienne que la version en service {running} : retour en arrière non autorisé"
    )]
    Downgrade { bundle: String, running: String },
    #[error("la version {0} est déjà en service")]
    SameVersion(String),
    #[error("numéro de version « {0} » illisible")]
    BadVersion(String),
}

/// Compares dotted versions numerically (`1.10.0` > `1.9.2`); a suffix
/// after `-` or `+` is a pre-release or build tag: `1.2.0-rc1` < `1.2.0`.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    fn split(v: &str) -> Option<(Vec<u64>, Option<&str>)> {
        let v = v.trim().trim_start_matches('v');
        let (core, tag) = match v.find(['-', '+']) {
            Some(i) => (&v[..i], Some(&v[i + 1..])),
            None => (v, None),
        };
        let numbers = core
            .split('.')
            .map(|p| p.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()?;
        (!numbers.is_empty()).then_some((numbers, tag))
    }
    let (mut a_numbers, a_tag) = split(a)?;
    let (mut b_numbers, b_tag) = split(b)?;
    let len = a_numbers.len().max(b_numbers.len());
    a_numbers.resize(len, 0);
    b_numbers.resize(len, 0);
    Some(a_numbers.cmp(&b_numbers).then(match (a_tag, b_tag) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y),
    }))
}

/// Checks a bundle (as RAUC read it) against the running system.
pub fn check_bundle(
    bundle_compatible: &str,
    bundle_version: &str,
    system_compatible: &str,
    running_version: &str,
    allow_downgrade: bool,
) -> Result<(), Refusal> {
    if bundle_compatible != system_compatible {
        return Err(Refusal::Incompatible {
            bundle: bundle_compatible.into(),
            system: system_compatible.into(),
        });
    }
    match compare_versions(bundle_version, running_version) {
        None => Err(Refusal::BadVersion(bundle_version.into())),
        Some(Ordering::Greater) => Ok(()),
        Some(_) if allow_downgrade => Ok(()),
        Some(Ordering::Equal) => Err(Refusal::SameVersion(bundle_version.into())),
        Some(Ordering::Less) => Err(Refusal::Downgrade {
            bundle: bundle_version.into(),
            running: running_version.into(),
        }),
    }
}

/// A daily window in Paris time, `HH:MM-HH:MM`; it may span midnight
/// (`22:00-05:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: u32,
    end: u32,
}

impl Window {
    pub fn parse(text: &str) -> Option<Window> {
        let minutes = |t: &str| {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
            (h < 24 && m < 60 && m.to_string().len() <= 2).then_some(h * 60 + m)
        };
        let (start, end) = text.split_once('-')?;
        let window = Window {
            start: minutes(start)?,
            end: minutes(end)?,
        };
        (window.start != window.end).then_some(window)
    }

    /// Whether the unix time `at` falls in the window, Paris time.
    pub fn contains(&self, at: i64) -> bool {
        let local = at + crate::localtime::paris_offset(at);
        let minute = (local.rem_euclid(86_400) / 60) as u32;
        if self.start < self.end {
            self.start <= minute && minute < self.end
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

/// What the box is doing when a restart is considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Messages still to deliver.
    pub queued: usize,
    /// Upstream sessions carrying a message right now.
    pub delivering: usize,
    /// Inside the practice's restart window.
    pub in_window: bool,
}

/// Restart only when nothing would be cut: never during a delivery, and
/// either with an empty queue (nobody waits for anything) or inside the
/// window the practice chose (a queue stuck on an unreachable operator
/// must not delay updates for ever).
pub fn quiet_moment(activity: Activity) -> bool {
    activity.delivering == 0 && (activity.queued == 0 || activity.in_window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically_with_pre_releases_first() {
        use Ordering::*;
        assert_eq!(compare_versions("1.10.0", "1.9.2"), Some(Greater));
        assert_eq!(compare_versions("1.2", "1.2.0"), Some(Equal));
        assert_eq!(compare_versions("v2.0.0", "2.0.0"), Some(Equal));
        assert_eq!(compare_versions("1.2.0-rc1", "1.2.0"), Some(Less));
        assert_eq!(compare_versions("0.0.9", "0.1.0"), Some(Less));
        assert_eq!(compare_versions("banana", "1.0"), None);
        assert_eq!(compare_versions("", "1.0"), None);
    }

    #[test]
    fn bundles_are_checked_for_compatible_and_downgrade() {
        assert_eq!(
            check_bundle("facteur-box", "0.2.0", "facteur-box", "0.1.0", false),
            Ok(())
        );
        assert!(matches!(
            check_bundle("other-box", "0.2.0", "facteur-box", "0.1.0", false),
            Err(Refusal::Incompatible { .. })
        ));
        assert!(matches!(
            check_bundle("facteur-box", "0.0.9", "facteur-box", "0.1.0", false),
            Err(Refusal::Downgrade { .. })
        ));
        assert_eq!(
            check_bundle("facteur-box", "0.0.9", "facteur-box", "0.1.0", true),
            Ok(())
        );
        assert!(matches!(
            check_bundle("facteur-box", "0.1.0", "facteur-box", "0.1.0", false),
            Err(Refusal::SameVersion(_))
        ));
        assert!(matches!(
            check_bundle("facteur-box", "latest", "facteur-box", "0.1.0", true),
            Err(Refusal::BadVersion(_))
        ));
        let text = check_bundle("facteur-box", "0.0.9", "facteur-box", "0.1.0", false)
            .unwrap_err()
            .to_string();
        assert!(text.contains("0.0.9") && text.contains("0.1.0"), "{text}");
    }

    #[test]
    fn windows_are_read_in_paris_time_and_may_span_midnight() {
        let night = Window::parse("02:00-05:00").unwrap();
        // 2026-01-15 01:30 UTC = 02:30 in Paris (winter, UTC+1).
        let winter = 1_768_440_600;
        assert!(night.contains(winter));
        assert!(!night.contains(winter - 3600));
        // 2026-07-15 01:30 UTC = 03:30 in Paris (summer, UTC+2).
        let summer = 1_784_079_000;
        assert!(night.contains(summer));
        assert!(!night.contains(summer + 2 * 3600));
        let late = Window::parse("22:00-05:00").unwrap();
        assert!(late.contains(winter));
        assert!(!late.contains(winter + 10 * 3600));
        for bad in [
            "",
            "2-5",
            "25:00-05:00",
            "02:00",
            "02:00-02:00",
            "02:60-03:00",
        ] {
            assert_eq!(Window::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_restart_waits_for_deliveries_and_for_an_empty_queue_or_the_window() {
        let a = |queued, delivering, in_window| Activity {
            queued,
            delivering,
            in_window,
        };
        assert!(quiet_moment(a(0, 0, false)));
        assert!(quiet_moment(a(5, 0, true)));
        assert!(!quiet_moment(a(5, 0, false)));
        assert!(!quiet_moment(a(0, 1, true)));
        assert!(!quiet_moment(a(0, 1, false)));
    }
}
