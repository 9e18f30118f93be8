//! Announces the web admin on the practice's LAN with multicast DNS, so
//! that `https://facteur.local:<port>` works without any DNS setup: an A
//! (and AAAA) record for the host name and an `_https._tcp` service with
//! the port. Failing to announce is only a warning: the admin stays
//! reachable by its IP address.

use std::net::IpAddr;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

/// The DNS-SD service type announced.
pub const SERVICE_TYPE: &str = "_https._tcp.local.";
/// The instance name shown by service browsers.
pub const INSTANCE: &str = "Facteur";
/// The standard mDNS port.
pub const MDNS_PORT: u16 = 5353;

/// Whether `name` can be announced: `<label>.local`, the label 1 to 63 of
/// `a-z 0-9 -`, not starting or ending with `-`.
pub fn valid_hostname(name: &str) -> bool {
    let Some(label) = name.strip_suffix(".local") else {
        return false;
    };
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// The records announced: host `hostname` at `addresses` (empty: the
/// addresses of the interfaces, followed as they change), service
/// `Facteur._https._tcp.local.` on `port`.
pub fn service_info(
    hostname: &str,
    port: u16,
    addresses: &[IpAddr],
) -> Result<ServiceInfo, String> {
    if !valid_hostname(hostname) {
        return Err(format!("`{hostname}` is not a .local host name"));
    }
    let host = format!("{hostname}.");
    let info = ServiceInfo::new(
        SERVICE_TYPE,
        INSTANCE,
        &host,
        addresses,
        port,
        &[("path", "/")][..],
    )
    .map_err(|e| e.to_string())?;
    Ok(if addresses.is_empty() {
        info.enable_addr_auto()
    } else {
        info
    })
}

/// Which interfaces to announce on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interfaces {
    /// Every interface (the box).
    All,
    /// The IPv4 loopback only (tests: nothing leaves the machine).
    LoopbackOnly,
}

/// A running announcement; withdrawn when dropped.
pub struct Announcer {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Announcer {
    /// Starts announcing; `mdns_port` is 5353 but for tests.
    pub fn start(
        hostname: &str,
        port: u16,
        addresses: &[IpAddr],
        mdns_port: u16,
        interfaces: Interfaces,
    ) -> Result<Announcer, String> {
        let info = service_info(hostname, port, addresses)?;
        let daemon = ServiceDaemon::new_with_port(mdns_port).map_err(|e| e.to_string())?;
        if interfaces == Interfaces::LoopbackOnly {
            daemon
                .disable_interface(IfKind::All)
                .and_then(|_| daemon.enable_interface(IfKind::LoopbackV4))
                .map_err(|e| e.to_string())?;
        }
        let fullname = info.get_fullname().to_string();
        daemon.register(info).map_err(|e| e.to_string())?;
        Ok(Announcer { daemon, fullname })
    }

    pub fn fullname(&self) -> &str {
        &self.fullname
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}

/// What `main` calls: announce on every interface, or say why not.
pub fn announce(hostname: &str, port: u16, listen: IpAddr) -> Option<Announcer> {
    let addresses: Vec<IpAddr> = if listen.is_unspecified() {
        Vec::new()
    } else {
        vec![listen]
    };
    match Announcer::start(hostname, port, &addresses, MDNS_PORT, Interfaces::All) {
        Ok(a) => {
            tracing::info!(
                host = hostname,
                port,
                service = SERVICE_TYPE,
                "announced on the LAN (mDNS)"
            );
            Some(a)
        }
        Err(e) => {
            tracing::warn!(error = %e, host = hostname, "cannot announce on the LAN (mDNS); the web admin stays reachable by IP address");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn host_names() {
        for ok in ["facteur.local", "cabinet-2.local", "a.local"] {
            assert!(valid_hostname(ok), "{ok}");
        }
        for bad in [
            "facteur",
            "facteur.lan",
            ".local",
            "-x.local",
            "x-.local",
            "Facteur.local",
            "a.b.local",
            "fac teur.local",
        ] {
            assert!(!valid_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn record_set() {
        let ip: IpAddr = "192.168.1.50".parse().unwrap();
        let info = service_info("facteur.local", 8443, &[ip]).unwrap();
        assert_eq!(info.get_fullname(), "Facteur._https._tcp.local.");
        assert_eq!(info.get_hostname(), "facteur.local.");
        assert_eq!(info.get_port(), 8443);
        assert_eq!(info.get_type(), SERVICE_TYPE);
        assert!(info.get_addresses().contains(&ip));
        assert_eq!(info.get_property_val_str("path"), Some("/"));
        assert!(!info.is_addr_auto());
        // Listening on every address: the interfaces' addresses, followed.
        let auto = service_info("facteur.local", 8443, &[]).unwrap();
        assert!(auto.is_addr_auto());
        assert!(service_info("facteur.lan", 8443, &[ip]).is_err());
    }

    /// Announces and browses for real, in a network namespace of its own
    /// (only a loopback interface: nothing can leave the machine, not even
    /// a multicast group join), on the loopback and a port of its own.
    #[test]
    fn announced_service_and_host_are_found_on_loopback() {
        std::thread::spawn(|| {
            // SAFETY: unshare changes only this thread's network
            // namespace; the mDNS threads started below inherit it.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "this test needs its own network namespace (root): {}",
                std::io::Error::last_os_error()
            );
            let up = std::process::Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .unwrap();
            assert!(up.success());
            announce_and_browse();
        })
        .join()
        .unwrap();
    }

    fn announce_and_browse() {
        let port = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let announcer = Announcer::start(
            "facteur-test.local",
            8443,
            &[loopback],
            port,
            Interfaces::LoopbackOnly,
        )
        .unwrap();
        assert_eq!(announcer.fullname(), "Facteur._https._tcp.local.");
        let browser = ServiceDaemon::new_with_port(port).unwrap();
        browser.disable_interface(IfKind::All).unwrap();
        browser.enable_interface(IfKind::LoopbackV4).unwrap();
        let events = browser.browse(SERVICE_TYPE).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = None;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match events.recv_timeout(left) {
                Ok(mdns_sd::ServiceEvent::ServiceResolved(service)) => {
                    found = Some(service);
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let service = found.expect("the service is resolved by a browser");
        assert_eq!(service.fullname, "Facteur._https._tcp.local.");
        assert_eq!(service.host, "facteur-test.local.");
        assert_eq!(service.port, 8443);
        assert!(
            service.addresses.iter().any(|a| a.to_ip_addr() == loopback),
            "{:?}",
            service.addresses
        );
        // The A record alone.
        let hosts = browser
            .resolve_hostname("facteur-test.local.", Some(5000))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut address = None;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match hosts.recv_timeout(left) {
                Ok(mdns_sd::HostnameResolutionEvent::AddressesFound(_, found)) => {
                    address = found
                        .iter()
                        .map(|a| a.to_ip_addr())
                        .find(|a| *a == loopback);
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        assert_eq!(address, Some(loopback));
        let _ = browser.shutdown();
        drop(announcer);
    }
}
