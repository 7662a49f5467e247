//! Stateless pagination cursors: the position of a listing (the last key seen, the sort
//! order and a fingerprint of the filter) sealed into an opaque, URL-safe string
//! authenticated with HMAC-SHA256 under a server secret.
//!
//! The server keeps no state per listing: the next request brings the cursor back, and the
//! HMAC guarantees the server wrote it. A tampered, truncated or extended cursor, one sealed
//! under another secret, or one from a listing with another filter, does not decode (the
//! HTTP layer answers 400).
//!
//! Format, version 1 (a persisted format: cursors outlive a server restart and cross
//! nodes, so they are versioned):
//!
//! ```text
//! version (1) | order (1: 0 ascending, 1 descending) | filter fingerprint (16)
//!   | key length (2, big-endian) | key (UTF-8) | HMAC-SHA256 of all of the above (32)
//! ```
//!
//! encoded as base64url without padding. The contents are authenticated, not encrypted: a
//! client that decodes the base64 can read the last key, which it has already seen.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// The version byte of the format this module writes.
pub const VERSION: u8 = 1;
/// The longest last key a cursor holds, in bytes.
pub const MAX_KEY_BYTES: usize = 4096;

const FINGERPRINT_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 1 + FINGERPRINT_LEN + 2;
const TAG_LEN: usize = 32;
/// The base64 length of the longest valid cursor.
const MAX_ENCODED_LEN: usize = (HEADER_LEN + MAX_KEY_BYTES + TAG_LEN).div_ceil(3) * 4;

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the cursor is malformed")]
    Malformed,
    #[error("the cursor has an unsupported version {0}")]
    UnsupportedVersion(u8),
    #[error("the cursor was not issued by this server or was altered")]
    BadSignature,
    #[error("the cursor belongs to a listing with other parameters")]
    FilterMismatch,
    #[error("the last key is longer than {MAX_KEY_BYTES} bytes")]
    KeyTooLong,
}

/// The key that seals cursors. Its `Debug` hides it.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    /// Derives the cursor key from the server secret (of any length) as
    /// HMAC-SHA256(SHA-256(secret), "baton/resources/cursor"), so that the same secret can
    /// serve other purposes without a cursor's MAC meaning anything there.
    pub fn derive(server_secret: &[u8]) -> CursorKey {
        let mut mac = keyed(&Sha256::digest(server_secret).into());
        mac.update(b"baton/resources/cursor");
        CursorKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self) -> HmacSha256 {
        keyed(&self.0)
    }
}

/// HMAC-SHA256 under a 32-byte key. HMAC pads a key shorter than the hash's 64-byte block
/// with zeros, so this is HMAC under that key, built without a fallible call.
fn keyed(key: &[u8; 32]) -> HmacSha256 {
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    block[..32].copy_from_slice(key);
    <HmacSha256 as hmac::digest::KeyInit>::new(&block)
}

impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// A fingerprint of what a listing's pages must agree on (the collection, the filter, the
/// page's projection...): a cursor only decodes for a request with the same fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; FINGERPRINT_LEN]);

impl Fingerprint {
    /// The fingerprint of a list of parts: the first 16 bytes of the SHA-256 of the parts,
    /// each prefixed by its length so that `["ab", "c"]` and `["a", "bc"]` differ.
    pub fn of(parts: &[&str]) -> Fingerprint {
        let mut h = Sha256::new();
        for part in parts {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let mut out = [0; FINGERPRINT_LEN];
        out.copy_from_slice(&digest[..FINGERPRINT_LEN]);
        Fingerprint(out)
    }
}

/// The sort order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// A position in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The key of the last document of the page; the next page starts after it.
    pub last_key: String,
    pub filter: Fingerprint,
    pub order: Order,
}

impl Cursor {
    /// Seals the position into its opaque string.
    pub fn encode(&self, key: &CursorKey) -> Result<String, Error> {
        let k = self.last_key.as_bytes();
        let len = u16::try_from(k.len()).ok().filter(|n| usize::from(*n) <= MAX_KEY_BYTES);
        let len = len.ok_or(Error::KeyTooLong)?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + k.len() + TAG_LEN);
        bytes.push(VERSION);
        bytes.push(match self.order {
            Order::Ascending => 0,
            Order::Descending => 1,
        });
        bytes.extend_from_slice(&self.filter.0);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(k);
        let mut mac = key.mac();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a cursor, checking its version, its MAC and that it belongs to a listing with
    /// the expected fingerprint.
    pub fn decode(cursor: &str, key: &CursorKey, expected: &Fingerprint) -> Result<Cursor, Error> {
        if cursor.len() > MAX_ENCODED_LEN {
            return Err(Error::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| Error::Malformed)?;
        let Some(&version) = bytes.first() else { return Err(Error::Malformed) };
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(Error::Malformed);
        }
        let (body, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let mut mac = key.mac();
        mac.update(body);
        mac.verify_slice(tag).map_err(|_| Error::BadSignature)?;
        // Authentic from here on: only this module wrote it, but check anyway.
        let order = match body[1] {
            0 => Order::Ascending,
            1 => Order::Descending,
            _ => return Err(Error::Malformed),
        };
        let mut filter = [0; FINGERPRINT_LEN];
        filter.copy_from_slice(&body[2..2 + FINGERPRINT_LEN]);
        let len = usize::from(u16::from_be_bytes([body[HEADER_LEN - 2], body[HEADER_LEN - 1]]));
        let k = &body[HEADER_LEN..];
        if k.len() != len {
            return Err(Error::Malformed);
        }
        let last_key = String::from_utf8(k.to_vec()).map_err(|_| Error::Malformed)?;
        if Fingerprint(filter) != *expected {
            return Err(Error::FilterMismatch);
        }
        Ok(Cursor { last_key, filter: Fingerprint(filter), order })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKey {
        CursorKey::derive(b"server secret")
    }

    fn cursor(last_key: &str) -> Cursor {
        Cursor {
            last_key: last_key.to_owned(),
            filter: Fingerprint::of(&["orders", "status = :s", "{\":s\":\"OPEN\"}"]),
            order: Order::Ascending,
        }
    }

    #[test]
    fn round_trips() {
        for (k, order) in [
            ("order-42", Order::Ascending),
            ("", Order::Descending),
            ("ключ/with spaces & ?=#", Order::Ascending),
            (&"x".repeat(MAX_KEY_BYTES), Order::Descending),
        ] {
            let c = Cursor { order, ..cursor(k) };
            let s = c.encode(&key()).unwrap();
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{s}");
            assert_eq!(Cursor::decode(&s, &key(), &c.filter), Ok(c));
        }
        // Deterministic: the same position gives the same cursor.
        assert_eq!(cursor("a").encode(&key()), cursor("a").encode(&key()));
    }

    #[test]
    fn long_keys_are_refused() {
        assert_eq!(cursor(&"x".repeat(MAX_KEY_BYTES + 1)).encode(&key()), Err(Error::KeyTooLong));
        assert_eq!(cursor(&"x".repeat(70_000)).encode(&key()), Err(Error::KeyTooLong));
    }

    #[test]
    fn any_altered_byte_is_refused() {
        let c = cursor("order-42");
        let mut bytes = URL_SAFE_NO_PAD.decode(c.encode(&key()).unwrap()).unwrap();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                bytes[i] ^= 1 << bit;
                let s = URL_SAFE_NO_PAD.encode(&bytes);
                let err = Cursor::decode(&s, &key(), &c.filter).unwrap_err();
                if i == 0 {
                    assert!(matches!(err, Error::UnsupportedVersion(_)));
                } else {
                    assert_eq!(err, Error::BadSignature, "byte {i} bit {bit}");
                }
                bytes[i] ^= 1 << bit;
            }
        }
    }

    #[test]
    fn altered_text_is_refused() {
        let c = cursor("order-42");
        let s = c.encode(&key()).unwrap();
        for i in 0..s.len() {
            for replacement in ['A', '-', '~', '=', '.'] {
                let mut t = s.clone();
                t.replace_range(i..=i, &replacement.to_string());
                if t != s {
                    assert!(Cursor::decode(&t, &key(), &c.filter).is_err(), "{t}");
                }
            }
        }
    }

    #[test]
    fn truncated_and_extended_cursors_are_refused() {
        let c = cursor("order-42");
        let s = c.encode(&key()).unwrap();
        for n in 0..s.len() {
            assert!(Cursor::decode(&s[..n], &key(), &c.filter).is_err(), "{n}");
        }
        for extra in ["A", "AA", "AAAA", "=", "=="] {
            assert!(Cursor::decode(&format!("{s}{extra}"), &key(), &c.filter).is_err(), "{extra}");
        }
        assert_eq!(Cursor::decode("", &key(), &c.filter), Err(Error::Malformed));
        assert_eq!(Cursor::decode("not base64!", &key(), &c.filter), Err(Error::Malformed));
        assert_eq!(Cursor::decode(&"A".repeat(100_000), &key(), &c.filter), Err(Error::Malformed));
        // Standard base64 with padding is not this format.
        let std =
            base64::engine::general_purpose::STANDARD.encode(URL_SAFE_NO_PAD.decode(&s).unwrap());
        if std.contains(['+', '/', '=']) {
            assert!(Cursor::decode(&std, &key(), &c.filter).is_err());
        }
    }

    #[test]
    fn foreign_secrets_versions_and_filters_are_refused() {
        let c = cursor("order-42");
        let s = c.encode(&key()).unwrap();
        assert_eq!(
            Cursor::decode(&s, &CursorKey::derive(b"another secret"), &c.filter),
            Err(Error::BadSignature)
        );
        assert_eq!(
            Cursor::decode(
                &s,
                &key(),
                &Fingerprint::of(&["orders", "status = :s", "{\":s\":\"CLOSED\"}"])
            ),
            Err(Error::FilterMismatch)
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&s).unwrap();
        bytes[0] = 2;
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode(&bytes), &key(), &c.filter),
            Err(Error::UnsupportedVersion(2))
        );
        // A cursor re-sealed by someone with the key but a bad length is still refused.
        let mut body = URL_SAFE_NO_PAD.decode(&s).unwrap();
        body.truncate(body.len() - TAG_LEN);
        body[HEADER_LEN - 1] += 1;
        let mut mac = key().mac();
        mac.update(&body);
        body.extend_from_slice(&mac.finalize().into_bytes());
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode(&body), &key(), &c.filter),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn keyed_is_hmac_under_the_key() {
        let k = [7u8; 32];
        let mut a = keyed(&k);
        let mut b = HmacSha256::new_from_slice(&k).unwrap();
        a.update(b"message");
        b.update(b"message");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
    }

    #[test]
    fn fingerprints_separate_their_parts() {
        assert_ne!(Fingerprint::of(&["ab", "c"]), Fingerprint::of(&["a", "bc"]));
        assert_ne!(Fingerprint::of(&["a"]), Fingerprint::of(&["a", ""]));
        assert_eq!(Fingerprint::of(&["a", "b"]), Fingerprint::of(&["a", "b"]));
        assert_eq!(format!("{:?}", key()), "CursorKey(..)");
        assert_ne!(CursorKey::derive(b"").0, CursorKey::derive(b"x").0);
    }
}
