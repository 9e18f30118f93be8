//! facteur-card-sim: a CPS card (CPS3 or CPS4) played behind vsmartcard's
//! virtual reader (vpcd), so that the gateway's card driver can be tested
//! through a real pcscd without a real card.
//!
//! The simulator connects to vpcd like a card being inserted, answers the
//! driver's commands with the holder's certificate and key given on the
//! command line, and takes orders (remove, insert, status, ...) on a Unix
//! control socket.

mod apdu;
mod card;
mod control;
mod crypto;
mod pkcs15;
mod slot;
mod state;
mod vpcd;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;

use card::{Card, CardConfig, Fault, Profile};
use crypto::CardKey;
use slot::Slot;
use state::TriesStore;

#[derive(Parser, Debug)]
#[command(
    name = "facteur-card-sim",
    version,
    about = "Test CPS card behind vsmartcard's vpcd"
)]
struct Args {
    /// Which card to play.
    #[arg(long, value_enum, default_value = "cps3")]
    profile: Profile,
    /// vpcd's address (pcscd's virtual reader slot).
    #[arg(long, default_value = "127.0.0.1:35963", value_name = "HOST:PORT")]
    vpcd: String,
    /// The holder's authentication certificate, DER or PEM (first
    /// certificate of the file). Required for cps3 and cps4.
    #[arg(long, value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// The matching private key, PEM (PKCS#8 or PKCS#1 RSA). Required for
    /// cps3 and cps4.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The card's PIN (4 to 8 digits).
    #[arg(long, default_value = "1234")]
    pin: String,
    /// Card serial number, 10 hex digits [default: from a hash of the
    /// certificate].
    #[arg(long, value_name = "HEX")]
    serial: Option<String>,
    /// Milliseconds to wait before answering a signature command, like a
    /// slow card.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    sign_delay_ms: u64,
    /// Unix socket for control commands (remove, insert, status, delay MS,
    /// quit).
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// File keeping the PIN try counter across restarts.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Misbehave, to test the driver's error paths.
    #[arg(long, value_enum, default_value = "none", ignore_case = true)]
    fault: Fault,
    /// Log each APDU header and status word (never the data) to stderr.
    #[arg(long, short)]
    verbose: bool,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("facteur-card-sim: {e:#}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<()> {
    if !(4..=8).contains(&args.pin.len()) || !args.pin.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--pin must be 4 to 8 digits");
    }
    let (certificate, key) = match (args.profile, &args.certificate, &args.key) {
        (Profile::Unknown, _, _) => (Vec::new(), None),
        (_, Some(cert), Some(key)) => load_holder(cert, key)?,
        _ => bail!("--certificate and --key are required for a CPS card"),
    };
    let serial = match &args.serial {
        Some(hex) => parse_serial(hex)?,
        None => crypto::serial_from_certificate(&certificate),
    };
    let store = args.state.as_deref().map(TriesStore::new);
    let tries_left = match &store {
        Some(store) => store.load().context("reading --state")?.unwrap_or(3),
        None => 3,
    };
    let config = CardConfig {
        profile: args.profile,
        fault: args.fault,
        pin: args.pin.into_bytes(),
        serial,
        certificate,
        key,
    };
    let card = Card::new(config, tries_left, store);
    let fault = match args.fault {
        Fault::None => String::new(),
        fault => format!(", fault {fault:?}"),
    };
    match args.profile {
        Profile::Unknown => eprintln!("card-sim: a card that is not a CPS{fault}"),
        profile => eprintln!(
            "card-sim: {} card, serial {}, {tries_left} PIN tries left{fault}",
            profile.name(),
            card.serial_hex(),
        ),
    }
    let slot = Arc::new(Slot::new(card, args.sign_delay_ms, args.verbose));

    let control = match &args.control {
        Some(path) => {
            let listener = control::bind(path)?;
            let (socket, slot) = (path.clone(), Arc::clone(&slot));
            std::thread::Builder::new()
                .name("control".into())
                .spawn(move || control::serve(listener, socket, slot))
                .context("starting the control thread")?;
            path.display().to_string()
        }
        None => "none".to_string(),
    };
    // Tests wait for this line: the control socket is up from here on.
    println!(
        "card-sim ready: profile={} control={} vpcd={}",
        args.profile.name(),
        control,
        args.vpcd
    );
    vpcd::run(slot, &args.vpcd)
}

/// Reads the certificate and key; warns when they do not belong together
/// (signatures would then fail to verify, which some tests may want).
fn load_holder(cert_path: &PathBuf, key_path: &PathBuf) -> Result<(Vec<u8>, Option<CardKey>)> {
    let bytes =
        std::fs::read(cert_path).with_context(|| format!("reading {}", cert_path.display()))?;
    let certificate =
        crypto::load_certificate(&bytes).with_context(|| format!("{}", cert_path.display()))?;
    let text = std::fs::read_to_string(key_path)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let key = CardKey::from_pem(&text).with_context(|| format!("{}", key_path.display()))?;
    match crypto::certificate_public_key(&certificate) {
        Some(public) if public == key.public_key() => {}
        Some(_) => eprintln!("card-sim: warning: the key does not match the certificate"),
        None => eprintln!("card-sim: warning: no RSA public key found in the certificate"),
    }
    if key.size() != 256 {
        // The driver builds 256-byte PKCS#1 blocks for CPS4 (RSA-2048).
        eprintln!(
            "card-sim: warning: {}-bit key; CPS cards hold RSA-2048",
            key.size() * 8
        );
    }
    Ok((certificate, Some(key)))
}

fn parse_serial(hex: &str) -> Result<[u8; 5]> {
    if hex.len() != 10 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--serial must be 10 hex digits");
    }
    let mut serial = [0; 5];
    for (i, byte) in serial.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(serial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers() {
        assert_eq!(
            parse_serial("992138450F").unwrap(),
            [0x99, 0x21, 0x38, 0x45, 0x0F]
        );
        assert_eq!(
            parse_serial("992138450f").unwrap(),
            [0x99, 0x21, 0x38, 0x45, 0x0F]
        );
        assert!(parse_serial("99213845").is_err());
        assert!(parse_serial("992138450G").is_err());
        assert!(parse_serial("99213845é").is_err());
    }

    #[test]
    fn command_line() {
        use clap::CommandFactory;
        Args::command().debug_assert();
        let args = Args::try_parse_from([
            "facteur-card-sim",
            "--profile",
            "cps4",
            "--fault",
            "NONE",
            "--vpcd",
            "127.0.0.1:41234",
        ])
        .unwrap();
        assert_eq!(args.profile, Profile::Cps4);
        assert_eq!(args.fault, Fault::None);
        let args = Args::try_parse_from(["facteur-card-sim", "--fault", "garbage-cert"]).unwrap();
        assert_eq!(args.fault, Fault::GarbageCert);
        let args = Args::try_parse_from(["facteur-card-sim", "--fault", "no-pkcs15"]).unwrap();
        assert_eq!(args.fault, Fault::NoPkcs15);
        assert_eq!(args.vpcd, "127.0.0.1:35963");
    }
}
