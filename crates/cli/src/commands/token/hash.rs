//! `agentry token hash [--generate] [--output text|json]`: the SHA-256 of a bearer token, as
//! the hub's auth file holds it (`sha256 = "<64 hex digits>"`: tokens are hashed at rest), or
//! a new random token with its hash.
//!
//! A token is what clients send as `authorization: Bearer <token>`: visible ASCII without
//! spaces. Generated ones are 32 random bytes (ring's `SystemRandom`, the OS's CSPRNG) in
//! unpadded base64url (RFC 4648 §5), 43 characters.

use anyhow::Context;
use clap::Args;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;

use crate::commands::text_or_stdin;
use crate::output::{ResultFormat, print_line};

/// Random bytes of a generated token.
const TOKEN_BYTES: usize = 32;

/// Options of `agentry token hash`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// Make a new random token (32 bytes, base64url) instead of reading one from stdin, and
    /// print it with its hash. It is shown once: only the hash goes into the auth file.
    #[arg(long)]
    generate: bool,
    /// Output format: `text` (the hash; with --generate, `token:` and `sha256:` lines) or
    /// `json` (`{"token": ..., "sha256": ...}`).
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// A token and its hash, as `--output json` prints them.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Hashed {
    /// Absent when the token was read from stdin (the caller has it).
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    sha256: String,
}

/// Prints the hash of the token on stdin, or a new token and its hash.
pub async fn run(args: &HashArgs) -> anyhow::Result<()> {
    let hashed = if args.generate {
        let token = generate_token()?;
        Hashed { sha256: sha256_hex(&token), token: Some(token) }
    } else {
        let input = text_or_stdin("-".to_owned()).await?;
        let token = checked_token(&input)?;
        Hashed { sha256: sha256_hex(token), token: None }
    };
    if args.generate && args.output == ResultFormat::Text {
        eprintln!(
            "put `sha256 = \"{}\"` in a `[[token]]` entry of the auth file (with its name, role and tenant); the token is not shown again",
            hashed.sha256
        );
    }
    print_line(&render(&hashed, args.output)?).context("writing to stdout")
}

/// Returns the token of `input` (surrounding whitespace, e.g. the newline of `echo`, removed).
///
/// Errors: nothing but whitespace, or characters a token cannot have (the client refuses to
/// send them).
fn checked_token(input: &str) -> anyhow::Result<&str> {
    let token = input.trim();
    if token.is_empty() {
        anyhow::bail!("no token on stdin: pipe one in (`agentry token hash < token.txt`) or pass --generate");
    }
    if let Some(position) = token.chars().position(|character| !character.is_ascii_graphic()) {
        anyhow::bail!(
            "character {} of the token on stdin is not visible ASCII: tokens cannot contain spaces, control or \
             non-ASCII characters (clients send them in a header)",
            position + 1
        );
    }
    Ok(token)
}

/// Returns a new token: [`TOKEN_BYTES`] random bytes, unpadded base64url.
fn generate_token() -> anyhow::Result<String> {
    let mut bytes = [0_u8; TOKEN_BYTES];
    SystemRandom::new().fill(&mut bytes).map_err(|_| anyhow::anyhow!("the system's random number generator failed"))?;
    Ok(base64url(&bytes))
}

/// Returns the SHA-256 of `token`'s bytes in lowercase hex: what the auth file's `sha256` holds.
fn sha256_hex(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Returns `bytes` in base64url without padding (RFC 4648 §5).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group =
            chunk.iter().enumerate().fold(0_u32, |group, (index, byte)| group | u32::from(*byte) << (16 - 8 * index));
        // A chunk of n bytes carries n + 1 six-bit digits.
        for digit in 0..=chunk.len() {
            let index = (group >> (18 - 6 * digit)) & 0x3f;
            text.push(char::from(ALPHABET[index as usize]));
        }
    }
    text
}

/// Returns `hashed` as `format` says.
fn render(hashed: &Hashed, format: ResultFormat) -> anyhow::Result<String> {
    Ok(match (format, &hashed.token) {
        (ResultFormat::Json, _) => serde_json::to_string(hashed).context("encoding as JSON")?,
        (ResultFormat::Text, Some(token)) => format!("token:  {token}\nsha256: {}", hashed.sha256),
        (ResultFormat::Text, None) => hashed.sha256.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_sha256_hex_of_the_trimmed_token() {
        // `printf abc | sha256sum`
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_hex(checked_token("abc\n").expect("a token")), expected);
        let hashed = Hashed { token: None, sha256: expected.to_owned() };
        assert_eq!(render(&hashed, ResultFormat::Text).expect("text"), expected);
        assert_eq!(render(&hashed, ResultFormat::Json).expect("json"), format!("{{\"sha256\":\"{expected}\"}}"));
    }

    #[test]
    fn blank_or_unsendable_tokens_are_refused() {
        assert!(checked_token(" \n").expect_err("blank").to_string().contains("no token on stdin"));
        assert!(checked_token("two words").expect_err("space").to_string().contains("character 4"));
    }

    #[test]
    fn base64url_follows_rfc_4648() {
        // RFC 4648 §10 test vectors, without padding, in the URL-safe alphabet.
        let vectors = [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE")];
        for (input, encoded) in vectors {
            assert_eq!(base64url(input.as_bytes()), encoded, "{input}");
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8", "the URL-safe digits");
    }

    #[test]
    fn generated_tokens_are_43_url_safe_characters_and_differ() {
        let first = generate_token().expect("random");
        let second = generate_token().expect("random");
        assert_eq!(first.len(), 43);
        assert!(first.chars().all(|character| character.is_ascii_alphanumeric() || "-_".contains(character)));
        assert_ne!(first, second);
        let hashed = Hashed { sha256: sha256_hex(&first), token: Some(first.clone()) };
        let text = render(&hashed, ResultFormat::Text).expect("text");
        assert_eq!(text, format!("token:  {first}\nsha256: {}", sha256_hex(&first)));
        let json: serde_json::Value =
            serde_json::from_str(&render(&hashed, ResultFormat::Json).expect("json")).expect("JSON");
        assert_eq!(json["token"], first.as_str());
        assert_eq!(json["sha256"].as_str().map(str::len), Some(64));
    }
}
