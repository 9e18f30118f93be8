//! The one `.network` file Facteur writes for systemd-networkd, and
//! reading it back.

use std::net::{IpAddr, Ipv4Addr};

use super::LanSettings;

pub fn render(interface: &str, settings: &LanSettings) -> String {
    let mut text = format!(
        "# Written by Facteur (web admin, « Réseau »).\n[Match]\nName={interface}\n\n[Network]\n"
    );
    match settings {
        LanSettings::Dhcp => text.push_str("DHCP=yes\n"),
        LanSettings::Static {
            address,
            prefix,
            gateway,
            dns,
        } => {
            text.push_str(&format!("Address={address}/{prefix}\nGateway={gateway}\n"));
            for d in dns {
                text.push_str(&format!("DNS={d}\n"));
            }
        }
    }
    text
}

/// The settings of a file [`render`] wrote; None for anything else.
pub fn parse(text: &str) -> Option<LanSettings> {
    let mut dhcp = false;
    let mut address = None;
    let mut gateway = None;
    let mut dns = Vec::new();
    for line in text.lines().map(str::trim) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "DHCP" => dhcp = value == "yes" || value == "ipv4",
            "Address" => {
                let (ip, prefix) = value.split_once('/')?;
                address = Some((ip.parse::<Ipv4Addr>().ok()?, prefix.parse::<u8>().ok()?));
            }
            "Gateway" => gateway = Some(value.parse::<Ipv4Addr>().ok()?),
            "DNS" => dns.push(value.parse::<IpAddr>().ok()?),
            _ => {}
        }
    }
    match (dhcp, address, gateway) {
        (true, None, _) => Some(LanSettings::Dhcp),
        (false, Some((address, prefix)), Some(gateway)) => Some(LanSettings::Static {
            address,
            prefix,
            gateway,
            dns,
        }),
        _ => None,
    }
}
