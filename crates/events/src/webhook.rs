//! Standard Webhooks: secrets, message ids, signatures and their verification.
//!
//! A delivery carries three headers: `webhook-id` (the message id, the same on every retry:
//! the receiver's idempotency key), `webhook-timestamp` (seconds since the epoch, fresh on
//! every attempt) and `webhook-signature`: `v1,` and the base64 HMAC-SHA256, under the
//! endpoint's secret, of `{id}.{timestamp}.{payload}`. During a secret rotation the header
//! carries one signature per secret, separated by spaces, and a receiver accepts the
//! delivery if any of them verifies. This is the scheme the official `standardwebhooks`
//! libraries verify; the specification's test vector is among the tests.
//!
//! Secrets are `whsec_` and the base64 of 24 to 64 random bytes (the specification's range);
//! their `Debug` never shows the bytes, and there is no `Display`: the text is had only
//! through [`Secret::expose`], so it does not end up in a log by accident.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use sha2::Sha256;

use crate::error::{Error, Result};

/// The header with the message id.
pub const HEADER_ID: &str = "webhook-id";
/// The header with the attempt's timestamp.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header with the signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// The tolerance the official libraries use when verifying a timestamp: five minutes.
pub const DEFAULT_TOLERANCE_SECS: u64 = 5 * 60;

const SECRET_PREFIX: &str = "whsec_";
const SECRET_MIN_BYTES: usize = 24;
const SECRET_MAX_BYTES: usize = 64;
/// How many bytes a generated secret has.
const SECRET_GENERATED_BYTES: usize = 32;
const ID_PREFIX: &str = "msg_";
const ID_MAX_SUFFIX: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// An endpoint's signing secret.
#[derive(Clone)]
pub struct Secret {
    bytes: Vec<u8>,
}

impl Secret {
    /// A new secret of 32 bytes from the operating system's generator.
    pub fn generate() -> Result<Self> {
        Secret::generate_with(&mut OsRng)
    }

    /// A new secret of 32 bytes from `rng` (tests pass a seeded generator).
    pub fn generate_with<R: RngCore + CryptoRng>(rng: &mut R) -> Result<Self> {
        let mut bytes = vec![0u8; SECRET_GENERATED_BYTES];
        rng.try_fill_bytes(&mut bytes)
            .map_err(|e| Error::Secret(format!("the random generator failed: {e}")))?;
        Ok(Secret { bytes })
    }

    /// A secret from its bytes (24 to 64 of them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if !(SECRET_MIN_BYTES..=SECRET_MAX_BYTES).contains(&bytes.len()) {
            return Err(Error::Secret(format!(
                "a secret must have {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes, not {}",
                bytes.len()
            )));
        }
        Ok(Secret { bytes: bytes.to_vec() })
    }

    /// Parses `whsec_<base64>`. The error never repeats the text, which may be a real secret.
    pub fn parse(text: &str) -> Result<Self> {
        let Some(encoded) = text.trim().strip_prefix(SECRET_PREFIX) else {
            return Err(Error::Secret("a secret must start with whsec_".into()));
        };
        let bytes = STANDARD
            .decode(encoded)
            .or_else(|_| STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| Error::Secret("the text after whsec_ must be base64".into()))?;
        Secret::from_bytes(&bytes)
    }

    /// The secret as `whsec_<base64>`, to show its owner once or to persist it.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.bytes))
    }

    /// The `v1,<base64>` signature of one attempt.
    pub fn sign(&self, msg_id: &str, timestamp_secs: i64, payload: &[u8]) -> String {
        format!(
            "v1,{}",
            STANDARD.encode(self.mac(msg_id, timestamp_secs, payload).finalize().into_bytes())
        )
    }

    fn mac(&self, msg_id: &str, timestamp_secs: i64, payload: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail; the fallback keeps it total.
        let mut mac = HmacSha256::new_from_slice(&self.bytes)
            .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_secs.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        mac
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_<redacted>)")
    }
}

impl PartialEq for Secret {
    /// Compares in time independent of where the secrets differ.
    fn eq(&self, other: &Self) -> bool {
        self.bytes.len() == other.bytes.len()
            && self.bytes.iter().zip(&other.bytes).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl Eq for Secret {}

/// The `webhook-signature` header: one signature per secret, separated by spaces (the
/// current secret first, then the ones being rotated out).
pub fn signature_header(
    secrets: &[Secret],
    msg_id: &str,
    timestamp_secs: i64,
    payload: &[u8],
) -> String {
    let signatures: Vec<String> =
        secrets.iter().map(|s| s.sign(msg_id, timestamp_secs, payload)).collect();
    signatures.join(" ")
}

/// The three Standard Webhooks headers of one attempt.
pub fn headers(
    secrets: &[Secret],
    msg_id: &MessageId,
    timestamp_secs: i64,
    payload: &[u8],
) -> [(&'static str, String); 3] {
    [
        (HEADER_ID, msg_id.to_string()),
        (HEADER_TIMESTAMP, timestamp_secs.to_string()),
        (HEADER_SIGNATURE, signature_header(secrets, msg_id.as_str(), timestamp_secs, payload)),
    ]
}

/// Verifies a delivery as a receiver does: the timestamp within `tolerance_secs` of
/// `now_secs`, and some `v1` signature in the header made by some secret in `secrets`.
/// Signatures of other versions and undecodable ones are skipped; the comparison is in
/// constant time.
pub fn verify(
    secrets: &[Secret],
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    payload: &[u8],
    now_secs: i64,
    tolerance_secs: u64,
) -> Result<()> {
    let timestamp: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| Error::Verification("invalid signature headers"))?;
    let tolerance = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    if now_secs.saturating_sub(timestamp) > tolerance {
        return Err(Error::Verification("message timestamp too old"));
    }
    if timestamp.saturating_sub(now_secs) > tolerance {
        return Err(Error::Verification("message timestamp too new"));
    }
    let candidates: Vec<Vec<u8>> = signature_header
        .split(' ')
        .filter_map(|item| item.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
        .collect();
    for secret in secrets {
        let mac = secret.mac(msg_id, timestamp, payload);
        if candidates.iter().any(|c| mac.clone().verify_slice(c).is_ok()) {
            return Ok(());
        }
    }
    Err(Error::Verification("no matching signature found"))
}

/// A message's `webhook-id`: `msg_` and a suffix of letters, digits, `_` and `-` (never a
/// `.`, which would make the signed content ambiguous).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// A new id: the milliseconds since the Unix epoch in the first 48 of its 128 bits
    /// and 80 bits of the operating system's generator in the rest (as a UUIDv7), so ids
    /// sort by the time they were made. The store keys messages and deliveries by id, and
    /// ids that arrive in order land in the last pages of those keys: random ids scatter
    /// every publish over the whole key (about 30% fewer deliveries per second measured).
    pub fn generate() -> Result<Self> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Self::generate_at(millis)
    }

    /// [`MessageId::generate`] at a given time in milliseconds since the Unix epoch.
    pub fn generate_at(millis: u128) -> Result<Self> {
        let mut bytes = [0u8; 16];
        OsRng
            .try_fill_bytes(&mut bytes[6..])
            .map_err(|e| Error::MessageId(format!("the random generator failed: {e}")))?;
        let time = millis & ((1 << 48) - 1);
        Ok(MessageId::from_u128((time << 80) | u128::from_be_bytes(bytes)))
    }

    /// The id for 128 given bits: `msg_` and 22 base62 digits.
    pub fn from_u128(mut n: u128) -> Self {
        const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut suffix = [b'0'; 22];
        for slot in suffix.iter_mut().rev() {
            *slot = DIGITS[(n % 62) as usize];
            n /= 62;
        }
        MessageId(format!("{ID_PREFIX}{}", String::from_utf8_lossy(&suffix)))
    }

    /// The id a caller's key always gives (the first 128 bits of its SHA-256): a publish
    /// repeated with the same key is the same message.
    pub fn from_key(key: &str) -> Self {
        use sha2::Digest as _;
        let digest = Sha256::digest(key.as_bytes());
        let mut bits = [0u8; 16];
        bits.copy_from_slice(&digest[..16]);
        Self::from_u128(u128::from_be_bytes(bits))
    }

    /// Checks an id given by a user or read back from the store.
    pub fn parse(text: &str) -> Result<Self> {
        let Some(suffix) = text.strip_prefix(ID_PREFIX) else {
            return Err(Error::MessageId("an id must start with msg_".into()));
        };
        if suffix.is_empty() || suffix.len() > ID_MAX_SUFFIX {
            return Err(Error::MessageId(format!(
                "the part after msg_ must have 1 to {ID_MAX_SUFFIX} characters"
            )));
        }
        if !suffix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(Error::MessageId(
                "the part after msg_ may hold only letters, digits, '_' and '-'".into(),
            ));
        }
        Ok(MessageId(text.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for MessageId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        MessageId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TIMESTAMP: i64 = 1_614_265_330;
    const VECTOR_PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn vector_secret() -> Secret {
        Secret::parse(VECTOR_SECRET).unwrap()
    }

    #[test]
    fn reproduces_the_specification_test_vector() {
        let secret = vector_secret();
        assert_eq!(secret.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD), VECTOR_SIGNATURE);
        verify(
            &[secret],
            VECTOR_ID,
            "1614265330",
            VECTOR_SIGNATURE,
            VECTOR_PAYLOAD,
            VECTOR_TIMESTAMP,
            DEFAULT_TOLERANCE_SECS,
        )
        .unwrap();
    }

    #[test]
    fn secrets_round_trip_and_hide_their_bytes() {
        let secret = vector_secret();
        assert_eq!(secret.expose(), VECTOR_SECRET);
        assert_eq!(format!("{secret:?}"), "Secret(whsec_<redacted>)");
        let generated = Secret::generate().unwrap();
        assert!(generated.expose().starts_with("whsec_"));
        assert_eq!(Secret::parse(&generated.expose()).unwrap(), generated);
        assert_ne!(generated, Secret::generate().unwrap());
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = Secret::generate_with(&mut rng).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        assert_eq!(a, Secret::generate_with(&mut rng).unwrap());
        // Unpadded base64 is accepted too.
        let unpadded = format!("whsec_{}", STANDARD_NO_PAD.encode([7u8; 32]));
        assert_eq!(Secret::parse(&unpadded).unwrap(), Secret::from_bytes(&[7u8; 32]).unwrap());
    }

    #[test]
    fn bad_secrets_are_refused_without_echoing_them() {
        for text in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_",
            "whsec_!!!notbase64!!!",
            "whsec_AAAA",
            &format!("whsec_{}", STANDARD.encode([0u8; 65])),
        ] {
            let err = Secret::parse(text).unwrap_err().to_string();
            assert!(err.starts_with("invalid webhook secret"), "{err}");
            if text.len() > 10 {
                assert!(!err.contains(&text[6..]), "{err} repeats the secret");
            }
        }
        assert!(Secret::from_bytes(&[0u8; 23]).is_err());
        assert!(Secret::from_bytes(&[0u8; 24]).is_ok());
        assert!(Secret::from_bytes(&[0u8; 64]).is_ok());
    }

    #[test]
    fn rotation_sends_one_signature_per_secret() {
        let old = vector_secret();
        let new = Secret::from_bytes(&[42u8; 32]).unwrap();
        let header = signature_header(
            &[new.clone(), old.clone()],
            VECTOR_ID,
            VECTOR_TIMESTAMP,
            VECTOR_PAYLOAD,
        );
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], VECTOR_SIGNATURE);
        for receiver in [&[old.clone()][..], &[new.clone()][..]] {
            verify(
                receiver,
                VECTOR_ID,
                "1614265330",
                &header,
                VECTOR_PAYLOAD,
                VECTOR_TIMESTAMP,
                300,
            )
            .unwrap();
        }
        let stranger = Secret::from_bytes(&[1u8; 32]).unwrap();
        let err = verify(
            &[stranger],
            VECTOR_ID,
            "1614265330",
            &header,
            VECTOR_PAYLOAD,
            VECTOR_TIMESTAMP,
            300,
        );
        assert_eq!(err, Err(Error::Verification("no matching signature found")));
        assert_eq!(signature_header(&[], VECTOR_ID, 1, b""), "");
    }

    #[test]
    fn verification_refuses_tampering_and_stale_timestamps() {
        let s = [vector_secret()];
        let ok = |id: &str, ts: &str, sig: &str, payload: &[u8], now: i64| {
            verify(&s, id, ts, sig, payload, now, 300)
        };
        let now = VECTOR_TIMESTAMP;
        assert!(
            ok(VECTOR_ID, "1614265330", VECTOR_SIGNATURE, b"{\"test\": 2432232315}", now).is_err()
        );
        assert!(ok("msg_other", "1614265330", VECTOR_SIGNATURE, VECTOR_PAYLOAD, now).is_err());
        assert_eq!(
            ok(VECTOR_ID, "1614265330", VECTOR_SIGNATURE, VECTOR_PAYLOAD, now + 301),
            Err(Error::Verification("message timestamp too old"))
        );
        assert!(ok(VECTOR_ID, "1614265330", VECTOR_SIGNATURE, VECTOR_PAYLOAD, now + 300).is_ok());
        assert_eq!(
            ok(VECTOR_ID, "1614265330", VECTOR_SIGNATURE, VECTOR_PAYLOAD, now - 301),
            Err(Error::Verification("message timestamp too new"))
        );
        assert!(ok(VECTOR_ID, "soon", VECTOR_SIGNATURE, VECTOR_PAYLOAD, now).is_err());
        // Other versions, garbage and truncated signatures are skipped, not errors.
        let mixed = format!("v1a,AAAA garbage v1,!!! v1,g0hM9SsE {VECTOR_SIGNATURE}");
        assert!(ok(VECTOR_ID, "1614265330", &mixed, VECTOR_PAYLOAD, now).is_ok());
        assert!(ok(
            VECTOR_ID,
            "1614265330",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            VECTOR_PAYLOAD,
            now
        )
        .is_err());
        assert!(ok(VECTOR_ID, "1614265330", "", VECTOR_PAYLOAD, now).is_err());
        // Extreme timestamps do not overflow.
        assert!(ok(VECTOR_ID, &i64::MIN.to_string(), VECTOR_SIGNATURE, VECTOR_PAYLOAD, i64::MAX)
            .is_err());
        assert!(verify(&s, VECTOR_ID, &i64::MAX.to_string(), "", b"", i64::MIN, u64::MAX).is_err());
    }

    #[test]
    fn message_ids() {
        let id = MessageId::generate().unwrap();
        assert!(id.as_str().starts_with("msg_"));
        assert_eq!(id.as_str().len(), 4 + 22);
        assert_eq!(MessageId::parse(id.as_str()).unwrap(), id);
        assert_ne!(id, MessageId::generate().unwrap());
        assert_eq!(MessageId::from_u128(0).as_str(), "msg_0000000000000000000000");
        assert_eq!(MessageId::from_u128(u128::MAX).as_str(), "msg_7n42DGM5Tflk9n8mt7Fhc7");
        assert_eq!(MessageId::from_u128(61).as_str(), "msg_000000000000000000000z");
        // Generated ids sort by the millisecond they were made in, then at random.
        let at = |ms: u128| MessageId::generate_at(ms).unwrap();
        let ids = [at(1_764_000_000_000), at(1_764_000_000_001), at(1_764_000_060_000)];
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_ne!(at(5), at(5));
        assert_eq!(VECTOR_ID.parse::<MessageId>().unwrap().to_string(), VECTOR_ID);
        for bad in ["", "msg_", "evt_abc", "msg_a.b", "msg_a b", &format!("msg_{}", "a".repeat(65))]
        {
            assert!(MessageId::parse(bad).is_err(), "{bad}");
        }
        let [(h1, v1), (h2, v2), (h3, v3)] = headers(
            &[vector_secret()],
            &VECTOR_ID.parse().unwrap(),
            VECTOR_TIMESTAMP,
            VECTOR_PAYLOAD,
        );
        assert_eq!((h1, v1.as_str()), ("webhook-id", VECTOR_ID));
        assert_eq!((h2, v2.as_str()), ("webhook-timestamp", "1614265330"));
        assert_eq!((h3, v3.as_str()), ("webhook-signature", VECTOR_SIGNATURE));
    }
}
