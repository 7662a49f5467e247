//! Bearer tokens: JWTs checked against the issuer's JWKS, following RFC 8725's advice: an
//! algorithm allowlist (asymmetric only, so never `none` and never HMAC keyed with a public
//! key), the key's type must fit the algorithm, and `iss`, `aud`, `exp` and `nbf` are
//! checked.
//!
//! A token that verified is remembered, by its text, with the key that verified it: a client
//! sends the same token with every request, and the RSA signature check is most of the cost
//! of a request (hundreds of microseconds with the RustCrypto backend). A remembered token
//! is only taken again while the issuer's key for it is the same and its `exp` and `nbf`
//! still hold as the full check would judge them; otherwise it takes the full check, which
//! answers exactly as it would have without the memory.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::Denied;
use crate::Identity;

/// `jwt` in the security rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    /// The expected `iss`.
    pub issuer: String,
    /// Accepted `aud` values (a token needs one of them).
    pub audience: Vec<String>,
    /// Where the issuer's JWKS is (`jwks_uri` of its OpenID configuration).
    pub jwks_uri: String,
    /// The algorithms accepted; `["RS256", "ES256"]` when unset. HMAC and `none` are
    /// refused here.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (30 when unset).
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
    /// The claim with the caller's groups (`groups` when unset; a dotted path like
    /// `realm_access.roles` reaches into objects).
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// The claim with the caller's roles (`roles` when unset).
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// How long fetched keys are used before they are fetched again (600 s when unset).
    #[serde(default)]
    pub cache_seconds: Option<u64>,
}

/// The shortest time between two fetches of the JWKS for unknown `kid`s, so tokens with
/// made-up key ids cannot make Baton hammer the issuer.
const MIN_REFETCH: Duration = Duration::from_secs(5);

/// How many verified tokens are remembered; when full, the memory starts again empty.
const VERIFIED_CAPACITY: usize = 4096;

/// A token that verified: the key that verified it, who it names, and the claims whose
/// check depends on the time.
struct Verified {
    key: Jwk,
    identity: Identity,
    exp: u64,
    nbf: Option<u64>,
}

/// Checks tokens, with the issuer's keys cached.
pub struct JwtVerifier {
    spec: JwtSpec,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    ttl: Duration,
    client: reqwest::Client,
    keys: RwLock<Option<(Instant, Vec<Jwk>)>>,
    /// Serialises fetches; holds the time of the last one.
    fetching: Mutex<Option<Instant>>,
    /// Tokens that verified, by their text (see the module documentation).
    verified: std::sync::Mutex<HashMap<String, Verified>>,
}

impl JwtVerifier {
    /// Checks the settings.
    pub fn new(spec: JwtSpec) -> Result<Self, String> {
        let names = if spec.algorithms.is_empty() {
            vec!["RS256".to_owned(), "ES256".to_owned()]
        } else {
            spec.algorithms.clone()
        };
        let mut algorithms = Vec::new();
        for name in &names {
            let alg = Algorithm::from_str(name)
                .map_err(|_| format!("jwt.algorithms: {name:?} is not an algorithm"))?;
            if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                return Err(format!("jwt.algorithms: {name} is refused (HMAC: RFC 8725 3.1)"));
            }
            algorithms.push(alg);
        }
        if spec.audience.is_empty() {
            return Err("jwt.audience: at least one audience".into());
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Self {
            leeway: spec.leeway_seconds.unwrap_or(30),
            ttl: Duration::from_secs(spec.cache_seconds.unwrap_or(600)),
            spec,
            algorithms,
            client,
            keys: RwLock::new(None),
            fetching: Mutex::new(None),
            verified: std::sync::Mutex::default(),
        })
    }

    /// Verifies a token and says who it names.
    pub(crate) async fn verify(&self, token: &str) -> Result<Identity, Denied> {
        let (alg, jwk) = self.header_key(token).await?;
        if let Some(identity) = self.remembered(token, &jwk) {
            return Ok(identity);
        }
        let claims = self.decode(token, alg, &jwk)?;
        let identity = self.identity("jwt", &claims);
        self.remember(token, jwk, &identity, &claims);
        Ok(identity)
    }

    /// Verifies an OpenID Connect ID token (OpenID Connect Core 1.0, section 3.1.3.7): the
    /// checks of a bearer token (signature by the issuer's key, `iss`, `aud` holding the
    /// client id, `exp`), then its `nonce`, which must be the one the login sent, and its
    /// `azp`, which when present must be the client id. Never remembered: each ID token is
    /// seen once.
    pub(crate) async fn verify_id_token(
        &self,
        token: &str,
        nonce: &str,
        client_id: &str,
    ) -> Result<Identity, Denied> {
        let (alg, jwk) = self.header_key(token).await?;
        let claims = self.decode(token, alg, &jwk)?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(Denied::Invalid("the ID token's nonce is not this login's".into()));
        }
        if claims.get("azp").is_some_and(|azp| azp.as_str() != Some(client_id)) {
            return Err(Denied::Invalid("the ID token was issued to another client".into()));
        }
        Ok(self.identity("session", &claims))
    }

    /// The token's algorithm, checked against the allowlist, and the issuer's key for it.
    async fn header_key(&self, token: &str) -> Result<(Algorithm, Jwk), Denied> {
        // An unknown `alg` (such as `none`) does not parse.
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            Denied::Invalid("the token is malformed or its algorithm is not supported".into())
        })?;
        let alg = header.alg;
        if !self.algorithms.contains(&alg) {
            return Err(Denied::Invalid("the token's algorithm is not allowed".into()));
        }
        let jwk = self.key(header.kid.as_deref(), alg).await?;
        Ok((alg, jwk))
    }

    /// The token's claims once its signature, `iss`, `aud`, `exp` and `nbf` check out.
    fn decode(&self, token: &str, alg: Algorithm, jwk: &Jwk) -> Result<Value, Denied> {
        let invalid = |m: &str| Denied::Invalid(m.to_owned());
        let key =
            DecodingKey::from_jwk(jwk).map_err(|_| invalid("the issuer's key is unusable"))?;
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.spec.issuer]);
        v.set_audience(&self.spec.audience);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.required_spec_claims =
            ["exp", "iss", "aud", "sub"].into_iter().map(str::to_owned).collect::<HashSet<_>>();
        let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            let why = match e.kind() {
                K::ExpiredSignature => "the token is expired",
                K::ImmatureSignature => "the token is not valid yet",
                K::InvalidAudience => "the token is for another audience",
                K::InvalidIssuer => "the token is from another issuer",
                K::InvalidSignature => "the token's signature does not verify",
                K::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is invalid",
            };
            invalid(why)
        })?;
        Ok(data.claims)
    }

    /// Who verified claims name: `sub`, `email`, and the groups and roles claims.
    fn identity(&self, kind: &'static str, claims: &Value) -> Identity {
        let strings = |path: &str| -> Vec<String> {
            let mut v = claims;
            for part in path.split('.') {
                match v.get(part) {
                    Some(x) => v = x,
                    None => return Vec::new(),
                }
            }
            match v {
                Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
                Value::String(s) => {
                    s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
                }
                _ => Vec::new(),
            }
        };
        Identity {
            kind,
            subject: claims["sub"].as_str().unwrap_or_default().to_owned(),
            email: claims["email"].as_str().map(str::to_owned),
            groups: strings(self.spec.groups_claim.as_deref().unwrap_or("groups")),
            roles: strings(self.spec.roles_claim.as_deref().unwrap_or("roles")),
            issuer: claims["iss"].as_str().map(str::to_owned),
        }
    }

    /// Who a token that verified before names, if `key` is still the one that verified it
    /// and its `exp` and `nbf` hold now by the conditions of `jsonwebtoken`'s validation
    /// (with `reject_tokens_expiring_in_less_than` at 0): expired when `exp < now - leeway`,
    /// not yet valid when `nbf > now + leeway`.
    fn remembered(&self, token: &str, key: &Jwk) -> Option<Identity> {
        let verified = self.verified.lock().ok()?;
        let v = verified.get(token)?;
        let now = jsonwebtoken::get_current_timestamp();
        let earliest = now.checked_sub(self.leeway)?;
        let latest = now.checked_add(self.leeway)?;
        let in_time = v.exp >= earliest && v.nbf.is_none_or(|nbf| nbf <= latest);
        (in_time && v.key == *key).then(|| v.identity.clone())
    }

    /// Remembers a token that has just verified with `key`. Its `exp` is a `u64` (the
    /// validation required and parsed it); an `nbf` that is present but not a `u64` (which
    /// the validation refuses) is not remembered, nor anything else that does not fit.
    fn remember(&self, token: &str, key: Jwk, identity: &Identity, claims: &Value) {
        let Some(exp) = claims.get("exp").and_then(Value::as_u64) else { return };
        let nbf = match claims.get("nbf") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None => return,
            },
        };
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
            verified
                .insert(token.to_owned(), Verified { key, identity: identity.clone(), exp, nbf });
        }
    }

    /// The key for `kid` that fits `alg`, from the cache, or fetched when the cache is
    /// stale or does not know the `kid`.
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Jwk, Denied> {
        if let Some((at, keys)) = &*self.keys.read().await {
            if at.elapsed() < self.ttl {
                if let Some(k) = pick(keys, kid, alg) {
                    return Ok(k);
                }
            }
        }
        let mut last = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some((at, keys)) = &*self.keys.read().await {
            let fresh = at.elapsed() < self.ttl;
            if fresh {
                if let Some(k) = pick(keys, kid, alg) {
                    return Ok(k);
                }
            }
            if fresh && last.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
                return Err(Denied::Invalid("the token's key is not the issuer's".into()));
            }
        }
        *last = Some(Instant::now());
        let keys = match self.fetch().await {
            Ok(keys) => keys,
            Err(e) => return Err(Denied::Unavailable(e)),
        };
        let found = pick(&keys, kid, alg);
        *self.keys.write().await = Some((Instant::now(), keys));
        found.ok_or_else(|| Denied::Invalid("the token's key is not the issuer's".into()))
    }

    async fn fetch(&self) -> Result<Vec<Jwk>, String> {
        let uri = &self.spec.jwks_uri;
        let resp = self.client.get(uri).send().await.map_err(|e| format!("{uri}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{uri}: HTTP {}", resp.status()));
        }
        let set: Value = resp.json().await.map_err(|e| format!("{uri}: {e}"))?;
        let keys = set["keys"].as_array().ok_or_else(|| format!("{uri}: no \"keys\""))?;
        // Keys of kinds this build cannot read are skipped, not fatal.
        let keys: Vec<Jwk> =
            keys.iter().filter_map(|k| serde_json::from_value(k.clone()).ok()).collect();
        tracing::debug!(%uri, keys = keys.len(), "fetched the issuer's keys");
        Ok(keys)
    }
}

/// The key named `kid` (or, without a `kid`, the only key) whose type fits `alg` and
/// whose own `alg`, if it has one, is `alg`.
fn pick(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
    let fits = |k: &&Jwk| {
        let family = match (&k.algorithm, alg) {
            (
                AlgorithmParameters::RSA(_),
                Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512,
            )
            | (
                AlgorithmParameters::RSA(_),
                Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512,
            ) => true,
            (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => {
                p.curve == EllipticCurve::P256
            }
            (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => {
                p.curve == EllipticCurve::P384
            }
            (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA) => true,
            _ => false,
        };
        let own = k.common.key_algorithm.is_none_or(|ka| ka.to_string() == format!("{alg:?}"));
        family && own
    };
    match kid {
        Some(kid) => {
            keys.iter().filter(fits).find(|k| k.common.key_id.as_deref() == Some(kid)).cloned()
        }
        None => {
            let mut it = keys.iter().filter(fits);
            match (it.next(), it.next()) {
                (Some(k), None) => Some(k.clone()),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use jsonwebtoken::{get_current_timestamp, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    /// The test keys of the `baton` crate's middleware tests.
    fn pem(name: &str) -> Vec<u8> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../baton/tests/data/jwt");
        std::fs::read(dir.join(name)).unwrap()
    }

    fn jwk(name: &str) -> Jwk {
        let key = EncodingKey::from_rsa_pem(&pem(name)).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some("k1".into());
        jwk
    }

    fn token(exp: u64) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k1".into());
        let claims = json!({"iss": "i", "aud": "a", "sub": "alice", "groups": ["g"], "exp": exp});
        let key = EncodingKey::from_rsa_pem(&pem("issuer.pem")).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    /// A verifier with no leeway whose keys are `keys`, as if just fetched.
    async fn verifier(keys: Vec<Jwk>) -> JwtVerifier {
        let v = JwtVerifier::new(JwtSpec {
            issuer: "i".into(),
            audience: vec!["a".into()],
            jwks_uri: "http://127.0.0.1:9/not-fetched".into(),
            algorithms: vec![],
            leeway_seconds: Some(0),
            groups_claim: None,
            roles_claim: None,
            cache_seconds: None,
        })
        .unwrap();
        set_keys(&v, keys).await;
        v
    }

    async fn set_keys(v: &JwtVerifier, keys: Vec<Jwk>) {
        *v.keys.write().await = Some((Instant::now(), keys));
    }

    fn refused(r: Result<Identity, Denied>) -> String {
        match r {
            Err(Denied::Invalid(why)) => why,
            other => panic!("not refused as invalid: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_remembered_token_is_checked_in_full_again_when_its_key_changes_or_it_expires() {
        let start = get_current_timestamp();
        let t = token(start + 1);
        let v = verifier(vec![jwk("issuer.pem")]).await;
        let first = v.verify(&t).await.unwrap();
        assert_eq!(first.subject, "alice");
        assert_eq!(v.verify(&t).await.unwrap(), first);
        assert_eq!(v.verified.lock().unwrap().len(), 1, "remembered once");

        // Another key under the same kid: the signature is checked again, and fails.
        set_keys(&v, vec![jwk("forger.pem")]).await;
        assert_eq!(refused(v.verify(&t).await), "the token's signature does not verify");
        set_keys(&v, vec![jwk("issuer.pem")]).await;
        assert_eq!(v.verify(&t).await.unwrap(), first);

        // Past its exp, the token is refused for that reason.
        while get_current_timestamp() <= start + 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(refused(v.verify(&t).await), "the token is expired");
    }
}
