//! Sealed cookies for browser login: the session (who logged in, until when) and the login
//! in progress (PKCE verifier, `state`, `nonce`, where to go back to).
//!
//! A cookie's value is `base64url(nonce ‖ AES-256-GCM(JSON) ‖ tag)` with the cookie's name
//! as additional data, so a value cannot be moved from one cookie to the other, and any
//! change to it fails to open. The key is shared by every node (`BATON_COOKIE_KEY`, or one
//! generated and kept in the store), so no node keeps session state. Nonces are random
//! 96-bit values: NIST SP 800-38D bounds that to 2^32 seals per key, far more logins than
//! a key should see before it is rotated.

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Identity;

/// The name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "baton_session";
/// The name of the cookie of a login in progress.
pub(crate) const LOGIN_COOKIE: &str = "baton_login";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The key that seals cookies: 32 bytes for AES-256-GCM.
#[derive(Clone)]
pub struct CookieKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(<hidden>)")
    }
}

impl CookieKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        fill(&mut bytes);
        Self { bytes }
    }

    /// A key written in base64 (standard or URL-safe alphabet, padded or not); it must
    /// decode to exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let decoded = [
            base64::engine::general_purpose::STANDARD.decode(text),
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(text),
            base64::engine::general_purpose::URL_SAFE.decode(text),
            B64.decode(text),
        ]
        .into_iter()
        .find_map(Result::ok)
        .ok_or("the cookie key is not base64")?;
        let bytes: [u8; 32] = decoded.try_into().map_err(|d: Vec<u8>| {
            format!("the cookie key is {} bytes; it must be 32 (openssl rand -base64 32)", d.len())
        })?;
        Ok(Self { bytes })
    }

    /// The key in standard base64, as [`CookieKey::from_base64`] reads it.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }

    fn aead(&self) -> LessSafeKey {
        // 32 bytes is AES-256-GCM's key length, so this cannot fail.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.bytes).expect("a 32-byte key"))
    }

    /// Seals `value` for the cookie `name`.
    pub(crate) fn seal<T: Serialize>(&self, name: &str, value: &T) -> String {
        let mut data = serde_json::to_vec(value).expect("plain data serializes");
        let mut nonce = [0u8; NONCE_LEN];
        fill(&mut nonce);
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut data,
            )
            .expect("sealing fits in memory");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        B64.encode(out)
    }

    /// Opens a value sealed for the cookie `name`; `None` if it was not sealed with this
    /// key for this name, was changed, or does not hold a `T`.
    pub(crate) fn open<T: DeserializeOwned>(&self, name: &str, sealed: &str) -> Option<T> {
        let mut data = B64.decode(sealed.trim()).ok()?;
        if data.len() < NONCE_LEN {
            return None;
        }
        let mut rest = data.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&data).ok()?;
        let plain = self.aead().open_in_place(nonce, Aad::from(name.as_bytes()), &mut rest).ok()?;
        serde_json::from_slice(plain).ok()
    }
}

/// Random bytes from the operating system.
pub(crate) fn fill(buf: &mut [u8]) {
    SystemRandom::new().fill(buf).expect("the operating system's random generator works");
}

/// `n` random bytes in base64url: `state`, `nonce` and PKCE verifiers.
pub(crate) fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    fill(&mut buf);
    B64.encode(buf)
}

/// The session cookie's content: the identity the rules read, and its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The format's version.
    pub(crate) v: u8,
    pub(crate) sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) iss: Option<String>,
    /// Seconds since the epoch after which the session is over.
    pub(crate) exp: u64,
}

impl Session {
    pub(crate) fn new(identity: &Identity, exp: u64) -> Self {
        Self {
            v: 1,
            sub: identity.subject.clone(),
            email: identity.email.clone(),
            groups: identity.groups.clone(),
            roles: identity.roles.clone(),
            iss: identity.issuer.clone(),
            exp,
        }
    }

    /// Who the session names, if it is of a known version and not over at `now`.
    pub(crate) fn identity(&self, now: u64) -> Option<Identity> {
        (self.v == 1 && now < self.exp).then(|| Identity {
            kind: "session",
            subject: self.sub.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
            roles: self.roles.clone(),
            issuer: self.iss.clone(),
        })
    }
}

/// The login in progress, between `/auth/login` and `/auth/callback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingLogin {
    pub(crate) v: u8,
    pub(crate) state: String,
    pub(crate) nonce: String,
    /// The PKCE code verifier.
    pub(crate) verifier: String,
    /// A same-site path (see [`safe_return_to`]).
    pub(crate) return_to: String,
    /// The redirect URI sent to the provider, which the token request must repeat.
    pub(crate) redirect_uri: String,
    pub(crate) exp: u64,
}

/// The value of the cookie `name` among the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, and `Secure` when the request came
/// over HTTPS. `max_age` 0 removes the cookie.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    secure: bool,
) -> String {
    let mut c = format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// `return_to` if it is a path on this site: it starts with one `/`, and holds no
/// backslash (browsers read `/\host` as `//host`), no control character and no space.
/// Anything else could send the browser to another site after login (an open redirect).
pub(crate) fn safe_return_to(return_to: &str) -> Option<&str> {
    let ok = return_to.starts_with('/')
        && !return_to.starts_with("//")
        && !return_to.bytes().any(|b| b == b'\\' || b.is_ascii_control() || b == b' ')
        && return_to.is_ascii();
    ok.then_some(return_to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            kind: "session",
            subject: "alice".into(),
            email: Some("alice@example.com".into()),
            groups: vec!["students".into()],
            roles: vec![],
            issuer: Some("https://idp.example".into()),
        }
    }

    #[test]
    fn a_sealed_session_opens_with_its_key_and_name_only() {
        let key = CookieKey::generate();
        let sealed = key.seal(SESSION_COOKIE, &Session::new(&alice(), 2_000));
        let opened: Session = key.open(SESSION_COOKIE, &sealed).unwrap();
        assert_eq!(opened.identity(1_999), Some(alice()));
        // Expired at its exp.
        assert_eq!(opened.identity(2_000), None);
        // Another cookie's name, another key: nothing.
        assert!(key.open::<Session>(LOGIN_COOKIE, &sealed).is_none());
        assert!(CookieKey::generate().open::<Session>(SESSION_COOKIE, &sealed).is_none());
        // Two seals of the same value differ (fresh nonces).
        assert_ne!(sealed, key.seal(SESSION_COOKIE, &Session::new(&alice(), 2_000)));
    }

    #[test]
    fn any_change_to_a_sealed_value_fails_to_open() {
        let key = CookieKey::generate();
        let sealed = key.seal(SESSION_COOKIE, &Session::new(&alice(), 2_000));
        let raw = B64.decode(&sealed).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert!(key.open::<Session>(SESSION_COOKIE, &B64.encode(&bad)).is_none(), "byte {i}");
        }
        assert!(key.open::<Session>(SESSION_COOKIE, &sealed[..sealed.len() - 1]).is_none());
        for junk in ["", "x", "%%%", "AAAA"] {
            assert!(key.open::<Session>(SESSION_COOKIE, junk).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn cookie_keys_are_32_bytes_of_base64() {
        let key = CookieKey::generate();
        let again = CookieKey::from_base64(&key.to_base64()).unwrap();
        let sealed = key.seal("c", &1u32);
        assert_eq!(again.open::<u32>("c", &sealed), Some(1));
        let url_safe = B64.encode(key.bytes);
        assert!(CookieKey::from_base64(&url_safe).is_ok());
        let short = base64::engine::general_purpose::STANDARD.encode([0u8; 16]);
        assert!(CookieKey::from_base64(&short).unwrap_err().contains("16 bytes"));
        assert!(CookieKey::from_base64("not base64!").is_err());
        assert_eq!(format!("{key:?}"), "CookieKey(<hidden>)");
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut h = axum::http::HeaderMap::new();
        h.append("cookie", "a=1; baton_session=xyz".parse().unwrap());
        h.append("cookie", "baton_login=\"q\"".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("q"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(
            set_cookie("n", "v", "/", 60, true),
            "n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn only_same_site_paths_are_places_to_return_to() {
        for good in ["/", "/students/alice", "/a?b=c&d=%2F", "/a#frag"] {
            assert_eq!(safe_return_to(good), Some(good));
        }
        for bad in [
            "",
            "students",
            "//evil.example",
            "/\\evil.example",
            "/a\\b",
            "https://evil.example/",
            "/a\r\nSet-Cookie: x=y",
            "/a b",
            "/é",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
    }
}
