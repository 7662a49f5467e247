//! The middleware through the real binary: request ids, the security interceptor with
//! bearer tokens checked against a JWKS served by a small identity provider in the test,
//! and the notification interceptor's events in the store.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::Digest as _;
use support::{temp_dir, Baton};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "baton-api";

fn key(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jwt").join(name)).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The identity provider: serves its JWKS on a loopback port and counts the fetches.
struct Provider {
    url: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    /// Publishes another key (a rotation).
    fn publish(&self, jwk: Jwk) {
        self.keys.lock().unwrap().push(jwk);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// The public key of `pem` as a JWK named `kid`.
fn jwk(pem: &str, alg: Algorithm, kid: &str) -> Jwk {
    let signing = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&key(pem)).unwrap(),
        _ => EncodingKey::from_rsa_pem(&key(pem)).unwrap(),
    };
    let mut jwk = Jwk::from_encoding_key(&signing, alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    jwk
}

/// An identity provider whose JWKS holds the RSA key `k1` of `issuer.pem`.
async fn identity_provider() -> Provider {
    let keys = Arc::new(Mutex::new(vec![jwk("issuer.pem", Algorithm::RS256, "k1")]));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || async move {
            f.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({"keys": *k.lock().unwrap()}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Provider { url: format!("http://{addr}/jwks"), keys, fetches }
}

/// A token signed by `pem` with `claims` over the defaults (a valid one for `alice`).
fn token(pem: &str, claims: Value) -> String {
    token_with(pem, Algorithm::RS256, "k1", claims)
}

fn token_with(pem: &str, alg: Algorithm, kid: &str, claims: Value) -> String {
    let mut all = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "email": "alice@example.com",
        "groups": ["sales"], "exp": now() + 600, "iat": now(),
    });
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let signing = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&key(pem)).unwrap(),
        _ => EncodingKey::from_rsa_pem(&key(pem)).unwrap(),
    };
    jsonwebtoken::encode(&header, &all, &signing).unwrap()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

const API_KEY: &str = "svc-billing-3f1c0d";

/// `baton up` with collections `orders` and `profiles`, security rules and notification
/// rules, and its identity provider.
async fn start(tag: &str) -> (Baton, Provider) {
    let provider = identity_provider().await;
    let jwks = provider.url.clone();
    let data = temp_dir(tag);
    let key_hash: String =
        sha2::Sha256::digest(API_KEY).iter().map(|b| format!("{b:02x}")).collect();
    let security = json!({
        "jwt": {"issuer": ISSUER, "audience": [AUDIENCE], "jwks_uri": jwks,
                "algorithms": ["RS256", "ES256"], "leeway_seconds": 5},
        "login_url": "https://login.example.com/authorize",
        "api_keys": [{"name": "billing", "sha256": key_hash, "groups": ["services"]}],
        "allow": [{"path": "/health", "method": "GET"}],
        "rules": [
            {"path": "/orders/**", "methods": ["GET", "POST", "PUT"], "groups": ["sales"]},
            {"path": "/orders/{id}", "methods": ["DELETE"], "roles": ["admin"]},
            {"path": "/orders", "methods": ["GET"], "api_keys": ["billing"], "groups": ["sales"]},
            {"path": "/profiles/{id}", "methods": ["GET", "PUT"], "subjects": ["{id}"],
             "roles": ["admin"]}
        ]
    });
    let notifications = json!({"rules": [
        {"path": "/orders/{id}", "methods": ["PUT"], "topic": "order-audit",
         "phases": ["before", "after"], "request_body": true},
        {"path": "/orders", "methods": ["POST"], "topic": "order-created",
         "response_body": true}
    ]});
    std::fs::write(data.join("security.json"), security.to_string()).unwrap();
    std::fs::write(data.join("notifications.json"), notifications.to_string()).unwrap();
    let toml = format!(
        "[collections.orders]\nkey = \"sku\"\n\n[collections.profiles]\n\n[security]\nrules = {:?}\n\n[notifications]\nrules = {:?}\n",
        data.join("security.json").display().to_string(),
        data.join("notifications.json").display().to_string(),
    );
    (Baton::start_with_config(&data, &toml), provider)
}

async fn send(b: &Baton, method: &str, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build();
    let mut req =
        client.unwrap().request(method.parse().unwrap(), format!("http://{}{path}", b.addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if method == "POST" || method == "PUT" {
        req = req.header("content-type", "application/json").body(r#"{"sku":"s1","qty":2}"#);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id_and_a_sane_one_is_kept() {
    let data = temp_dir("mw-ids");
    let b = Baton::start_with_config(&data, "");
    let kept = send(&b, "GET", "/health", &[("x-request-id", "trace-42.a")]).await;
    assert_eq!(kept.headers()["x-request-id"], "trace-42.a");
    let made = send(&b, "GET", "/health", &[]).await;
    let id = made.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{id}");
    let unsafe_id = send(&b, "GET", "/nothing-here/x", &[("x-request-id", "a b\"c")]).await;
    assert_eq!(unsafe_id.status(), 404, "no security rules: the request goes through");
    let replaced = unsafe_id.headers()["x-request-id"].to_str().unwrap();
    assert!(replaced.len() == 32 && replaced != id, "{replaced}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_checked_against_the_issuers_jwks() {
    let (b, _provider) = start("mw-security").await;

    // No token: 401 with a challenge (no error code: RFC 6750 section 3).
    let none = send(&b, "GET", "/orders", &[]).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"baton\"");
    assert!(none.headers().contains_key("x-request-id"));
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["code"], "Unauthenticated");
    // A browser is sent to the login page.
    let browser = send(&b, "GET", "/orders", &[("accept", "text/html,*/*")]).await;
    assert_eq!(browser.status(), 302);
    assert_eq!(browser.headers()["location"], "https://login.example.com/authorize");
    // The allowlist needs no token.
    assert_eq!(send(&b, "GET", "/health", &[]).await.status(), 200);

    // Forged tokens.
    let public_pem = key("issuer.pub.pem");
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "groups": ["sales"],
                        "exp": now() + 600});
    let hmac_with_public_key =
        jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(&public_pem)).unwrap();
    let alg_none =
        format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})), b64(&claims));
    let mut forged: BTreeMap<&str, String> = BTreeMap::new();
    forged.insert("signed by another key", token("forger.pem", json!({})));
    forged.insert("alg none", alg_none);
    forged.insert("HS256 keyed with the public key", hmac_with_public_key);
    forged.insert("expired", token("issuer.pem", json!({"exp": now() - 120})));
    forged.insert("not yet valid", token("issuer.pem", json!({"nbf": now() + 120})));
    forged.insert("wrong audience", token("issuer.pem", json!({"aud": "someone-else"})));
    forged.insert("wrong issuer", token("issuer.pem", json!({"iss": "https://evil.test"})));
    forged.insert("garbage", "not.a.token".into());
    for (what, t) in &forged {
        let auth = format!("Bearer {t}");
        let r = send(&b, "GET", "/orders", &[("authorization", &auth)]).await;
        assert_eq!(r.status(), 401, "{what}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.starts_with("Bearer realm=\"baton\", error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "InvalidToken", "{what}");
    }

    // A valid token: allowed where a rule admits its groups, 403 elsewhere.
    let auth = format!("Bearer {}", token("issuer.pem", json!({})));
    let auth = [("authorization", auth.as_str())];
    assert_eq!(send(&b, "GET", "/orders", &auth).await.status(), 200);
    assert_eq!(send(&b, "PUT", "/orders/s1", &auth).await.status(), 201);
    let forbidden = send(&b, "DELETE", "/orders/s1", &auth).await;
    assert_eq!(forbidden.status(), 403);
    let body: Value = forbidden.json().await.unwrap();
    assert_eq!(body["code"], "Forbidden");
    let admin = format!("Bearer {}", token("issuer.pem", json!({"roles": ["admin"]})));
    assert_eq!(send(&b, "DELETE", "/orders/s1", &[("authorization", &admin)]).await.status(), 204);
    // No rule at all for the path: 403, never a 500.
    assert_eq!(send(&b, "GET", "/topics", &auth).await.status(), 403);

    // Services with an API key.
    let svc = [("x-api-key", API_KEY)];
    assert_eq!(send(&b, "GET", "/orders", &svc).await.status(), 200);
    assert_eq!(send(&b, "POST", "/orders", &svc).await.status(), 403);
    assert_eq!(send(&b, "GET", "/orders", &[("x-api-key", "guess")]).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_reach_their_own_records_and_rotated_keys_are_fetched() {
    let (b, provider) = start("mw-owners").await;
    let bearer = |t: String| format!("Bearer {t}");

    // `subjects: ["{id}"]`: alice may read /profiles/alice (absent: 404), not bob's.
    let alice = bearer(token("issuer.pem", json!({})));
    let own = send(&b, "GET", "/profiles/alice", &[("authorization", &alice)]).await;
    assert_eq!(own.status(), 404, "past security, no such document");
    let other = send(&b, "GET", "/profiles/bob", &[("authorization", &alice)]).await;
    assert_eq!(other.status(), 403);
    assert_eq!(
        other.headers()["www-authenticate"],
        "Bearer realm=\"baton\", error=\"insufficient_scope\""
    );
    // Percent-encoded ids are compared decoded, as the collection decodes them.
    let mail = bearer(token("issuer.pem", json!({"sub": "a b"})));
    let encoded = send(&b, "GET", "/profiles/a%20b", &[("authorization", &mail)]).await;
    assert_eq!(encoded.status(), 404);
    // The same rule names admins.
    let admin = bearer(token("issuer.pem", json!({"sub": "root", "roles": ["admin"]})));
    assert_eq!(send(&b, "GET", "/profiles/bob", &[("authorization", &admin)]).await.status(), 404);
    // An API key is never an owner, whatever its name.
    let svc = [("x-api-key", API_KEY)];
    assert_eq!(send(&b, "GET", "/profiles/billing", &svc).await.status(), 403);
    assert_eq!(provider.fetches(), 1, "one fetch served every RS256 token");

    // The issuer rotates in an ES256 key `k2`. A token under it before it is published is
    // refused; made-up key ids do not make Baton hammer the issuer.
    let es = bearer(token_with("issuer-ec.pem", Algorithm::ES256, "k2", json!({})));
    let early = send(&b, "GET", "/profiles/alice", &[("authorization", &es)]).await;
    assert_eq!(early.status(), 401);
    provider.publish(jwk("issuer-ec.pem", Algorithm::ES256, "k2"));
    for i in 0..20 {
        let made_up =
            bearer(token_with("issuer-ec.pem", Algorithm::ES256, &format!("x{i}"), json!({})));
        let r = send(&b, "GET", "/profiles/alice", &[("authorization", &made_up)]).await;
        assert_eq!(r.status(), 401);
    }
    let before = provider.fetches();
    assert!(before <= 3, "unknown kids refetch at most once per 5 s: {before} fetches");
    // Once the refetch pause has passed, the unknown kid makes Baton fetch the keys again,
    // and the ES256 token is accepted.
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    let r = send(&b, "GET", "/profiles/alice", &[("authorization", &es)]).await;
    assert_eq!(r.status(), 404, "accepted after the refetch");
    assert_eq!(provider.fetches(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_events_are_recorded_for_exactly_the_configured_operations() {
    let (b, _provider) = start("mw-notify").await;
    let auth = format!("Bearer {}", token("issuer.pem", json!({})));
    let auth = [("authorization", auth.as_str())];
    assert_eq!(send(&b, "POST", "/orders", &auth).await.status(), 201);
    assert_eq!(send(&b, "GET", "/orders/s1", &auth).await.status(), 200);
    let put = send(&b, "PUT", "/orders/s1", &[auth[0], ("x-request-id", "put-1")]).await;
    assert_eq!(put.status(), 200);
    // Refused by security: no event.
    assert_eq!(send(&b, "PUT", "/orders/s2", &[]).await.status(), 401);

    // The events are in the outbox, or already fanned out into the topics' messages.
    let url = format!("sqlite://{}", b.data.join("baton.db").display());
    let store = store::Store::open(&url).await.unwrap();
    let mut events: Vec<(i64, String, Value)> = Vec::new();
    for e in store.outbox(0, 1000).await.unwrap() {
        events.push((e.seq, e.topic, serde_json::from_str(&e.body).unwrap()));
    }
    for topic in ["order-audit", "order-created"] {
        for m in store.topic_messages(topic, 0, 1000).await.unwrap() {
            if !events.iter().any(|(seq, ..)| *seq == m.seq) {
                events.push((m.seq, m.topic, serde_json::from_str(&m.body).unwrap()));
            }
        }
    }
    events.sort_by_key(|(seq, ..)| *seq);
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|(_, t, e)| {
            (t.clone(), e["phase"].as_str().unwrap().into(), e["method"].as_str().unwrap().into())
        })
        .collect();
    let expected = [
        ("order-created", "after", "POST"),
        ("order-audit", "before", "PUT"),
        ("order-audit", "after", "PUT"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into())).collect();
    assert_eq!(summary, expected);

    let created = &events[0].2;
    assert_eq!(created["status"], 201);
    assert_eq!(created["response_body"]["sku"], "s1");
    assert_eq!(created["identity"]["subject"], "alice");
    let before = &events[1].2;
    assert!(before.get("status").is_none(), "{before}");
    assert_eq!(before["params"], json!({"id": "s1"}));
    assert_eq!(before["request_body"], json!({"sku": "s1", "qty": 2}));
    assert_eq!(before["request_id"], "put-1");
    let after = &events[2].2;
    assert_eq!(after["status"], 200);
    assert_eq!(after["path"], "/orders/s1");
    assert_eq!(after["identity"]["email"], "alice@example.com");
    assert!(after["id"].as_str().unwrap().starts_with("msg_"));
    assert!(after["time"].as_str().unwrap().ends_with('Z'));
}
