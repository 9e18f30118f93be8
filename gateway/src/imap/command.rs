//! Reading the client's commands before login: lines with IMAP literals
//! (`{n}` then n bytes) and the few arguments the box itself handles.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

/// Longest command accepted before login (a LOGIN with long literals).
const MAX_COMMAND: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed")]
    Closed,
    #[error("command too long")]
    TooLong,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads one command, answering `+` to synchronising literals. The bytes
/// may hold a password: they are wiped when dropped.
pub async fn read_command<R, W>(
    reader: &mut R,
    writer: &mut W,
) -> Result<Zeroizing<Vec<u8>>, ReadError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut command = Zeroizing::new(Vec::new());
    loop {
        let mut line = Zeroizing::new(Vec::new());
        let n = (&mut *reader)
            .take((MAX_COMMAND - command.len().min(MAX_COMMAND)) as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        if !line.ends_with(b"\n") {
            return Err(ReadError::TooLong);
        }
        command.extend_from_slice(&line);
        let Some((len, synchronising)) = literal_at_end(&line) else {
            return Ok(command);
        };
        if command.len() + len > MAX_COMMAND {
            return Err(ReadError::TooLong);
        }
        if synchronising {
            writer.write_all(b"+ Ready\r\n").await?;
            writer.flush().await?;
        }
        let start = command.len();
        command.resize(start + len, 0);
        reader.read_exact(&mut command[start..]).await?;
    }
}

/// `{n}` or `{n+}` ending a line: the literal's length, and whether the
/// client waits for a continuation.
fn literal_at_end(line: &[u8]) -> Option<(usize, bool)> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    let mut digits = &inner[open + 1..];
    let non_sync = digits.ends_with(b"+");
    if non_sync {
        digits = &digits[..digits.len() - 1];
    }
    if digits.is_empty() || digits.len() > 7 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, !non_sync))
}

/// A parsed command: tag, name (upper case) and arguments (atoms, quoted
/// strings and literals, unescaped).
pub struct Parsed {
    pub tag: String,
    pub name: String,
    pub args: Vec<Zeroizing<Vec<u8>>>,
}

/// Splits a command read by [`read_command`]. `None` if it has no tag.
pub fn parse(command: &[u8]) -> Option<Parsed> {
    let mut tokens: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut i = 0;
    let end = command
        .iter()
        .rposition(|b| *b != b'\r' && *b != b'\n')
        .map_or(0, |p| p + 1);
    while i < end {
        match command[i] {
            b' ' => i += 1,
            b'"' => {
                let mut token = Zeroizing::new(Vec::new());
                i += 1;
                while i < end && command[i] != b'"' {
                    if command[i] == b'\\' && i + 1 < end {
                        i += 1;
                    }
                    token.push(command[i]);
                    i += 1;
                }
                i += 1;
                tokens.push(token);
            }
            b'{' => {
                // `{n}\r\n` then n bytes.
                let close = command[i..].iter().position(|b| *b == b'}')? + i;
                let digits: Vec<u8> = command[i + 1..close]
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_digit)
                    .collect();
                let n: usize = std::str::from_utf8(&digits).ok()?.parse().ok()?;
                let start = close + 3;
                let stop = start.checked_add(n)?;
                if stop > command.len() {
                    return None;
                }
                tokens.push(Zeroizing::new(command[start..stop].to_vec()));
                i = stop;
            }
            _ => {
                let stop = command[i..end]
                    .iter()
                    .position(|b| *b == b' ')
                    .map_or(end, |p| p + i);
                tokens.push(Zeroizing::new(command[i..stop].to_vec()));
                i = stop;
            }
        }
    }
    let mut tokens = tokens.into_iter();
    let tag = String::from_utf8_lossy(&tokens.next()?).into_owned();
    let name = tokens
        .next()
        .map(|n| String::from_utf8_lossy(&n).to_ascii_uppercase())
        .unwrap_or_default();
    Some(Parsed {
        tag,
        name,
        args: tokens.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(input: &[u8]) -> (Result<Vec<u8>, String>, Vec<u8>) {
        let mut reader = tokio::io::BufReader::new(input);
        let mut out = Vec::new();
        let r = read_command(&mut reader, &mut out)
            .await
            .map(|c| c.to_vec())
            .map_err(|e| e.to_string());
        (r, out)
    }

    #[tokio::test]
    async fn reads_literals_and_answers_continuations() {
        let (cmd, out) = read(b"a1 LOGIN {11}\r\nsecretariat {4}\r\npass\r\n").await;
        assert_eq!(
            cmd.unwrap(),
            b"a1 LOGIN {11}\r\nsecretariat {4}\r\npass\r\n"
        );
        assert_eq!(out, b"+ Ready\r\n+ Ready\r\n");
        let (_, out) = read(b"a1 LOGIN {11+}\r\nsecretariat x\r\n").await;
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn refuses_endless_input() {
        let long = vec![b'a'; MAX_COMMAND + 10];
        assert!(read(&long).await.0.is_err());
        assert!(read(b"a1 LOGIN {9999999}\r\n").await.0.is_err());
        assert!(read(b"").await.0.is_err());
    }

    #[test]
    fn parses_arguments() {
        let p = parse(b"a1 login \"secr\\\"etariat\" {4}\r\np w \r\n").unwrap();
        assert_eq!(p.tag, "a1");
        assert_eq!(p.name, "LOGIN");
        assert_eq!(&p.args[0][..], b"secr\"etariat");
        assert_eq!(&p.args[1][..], b"p w ");
        let p = parse(b"x CAPABILITY\r\n").unwrap();
        assert!(p.args.is_empty());
        assert!(parse(b"\r\n").is_none());
        assert!(parse(b"a {5}\r\nab").is_none());
    }
}
