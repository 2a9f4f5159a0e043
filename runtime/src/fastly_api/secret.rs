//! [`Secret`]: a token that never prints.

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// A token (the automation token, the bootstrap token). `Debug` and
/// `Display` print `***`, so a token cannot leak through a log line or an
/// error message by accident; [`Secret::expose`] is the one way to read it,
/// and each call of it is a place to review.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why a token file could not be used. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file is absent or unreadable.
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        /// The token file.
        path: PathBuf,
        /// Why (in the message, not a separate cause, so that a
        /// `{:#}` print shows it once).
        error: std::io::Error,
    },
    /// The file holds nothing but whitespace.
    #[error("{} is empty", path.display())]
    Empty {
        /// The token file.
        path: PathBuf,
    },
    /// The token cannot be sent as an HTTP header (a control character, a
    /// line break inside it, non-ASCII bytes).
    #[error("{} holds characters a token cannot have (line breaks, control or non-ASCII characters)", path.display())]
    Malformed {
        /// The token file.
        path: PathBuf,
    },
}

impl Secret {
    /// Wraps a token. Surrounding whitespace (the newline `echo` and most
    /// editors add to a Secret's file) is trimmed.
    pub fn new(token: impl Into<String>) -> Secret {
        let token: String = token.into();
        Secret(token.trim().to_owned())
    }

    /// Reads a token from a file (a Secret mounted as a volume).
    pub fn read_file(path: &Path) -> Result<Secret, SecretFileError> {
        let text = std::fs::read_to_string(path).map_err(|error| SecretFileError::Unreadable {
            path: path.to_owned(),
            error,
        })?;
        let secret = Secret::new(text);
        if secret.0.is_empty() {
            return Err(SecretFileError::Empty {
                path: path.to_owned(),
            });
        }
        // Tokens are printable ASCII; anything else would make the header
        // invalid, and reqwest's error for it could echo the value.
        if !secret.0.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecretFileError::Malformed {
                path: path.to_owned(),
            });
        }
        Ok(secret)
    }

    /// The token itself: for the `Fastly-Key` header and the credentials
    /// file, nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hex SHA-256 of the token: an identity derived from it that reveals
    /// nothing of it.
    pub fn sha256_hex(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_token() {
        let s = Secret::new("  tok-123\n");
        assert_eq!(s.expose(), "tok-123");
        assert_eq!(format!("{s} {s:?} {:?}", Some(&s)), "*** *** Some(***)");
    }

    #[test]
    fn reads_trims_and_refuses_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "abc\n").unwrap();
        assert_eq!(Secret::read_file(&good).unwrap().expose(), "abc");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        let e = Secret::read_file(&empty).unwrap_err().to_string();
        assert!(e.ends_with("empty is empty"), "{e}");
        let missing = Secret::read_file(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
        let split = dir.path().join("split");
        std::fs::write(&split, "ab\ncd").unwrap();
        assert!(matches!(
            Secret::read_file(&split),
            Err(SecretFileError::Malformed { .. })
        ));
    }

    #[test]
    fn sha256_is_hex_of_the_trimmed_token() {
        // sha256("abc")
        assert_eq!(
            Secret::new("abc\n").sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
