//! How long the security check takes in process, for docs/benchmarks.md ("The gateway"):
//! a bearer token that was verified before, and new tokens, whose RSA signature must be
//! verified. Ignored by default; run it with
//! `cargo test --release -p gateway --test security_timing -- --ignored --nocapture`.

use std::io::{Read, Write};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, Method};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// The test keys of the `baton` crate's middleware tests.
fn pem(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../baton/tests/data/jwt");
    std::fs::read(dir.join(name)).unwrap()
}

/// Serves `body` to every connection on a loopback port; answers its URL.
fn jwks_server(body: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = s.read(&mut request);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/jwks")
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "a measurement, not a test: run it with --ignored --nocapture"]
async fn security_check_timing() {
    let key = EncodingKey::from_rsa_pem(&pem("issuer.pem")).unwrap();
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("k1".into());
    let jwks = jwks_server(json!({"keys": [jwk]}).to_string());
    // The rules of bench/gateway.sh's secured server.
    let rules = json!({
        "jwt": {"issuer": "i", "audience": ["a"], "jwks_uri": jwks, "algorithms": ["RS256"]},
        "rules": [
            {"path": "/items/**", "groups": ["bench"]},
            {"path": "/up/**", "methods": ["GET"], "groups": ["bench"]}
        ]
    });
    let security = gateway::Security::from_json(&rules.to_string()).unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".into());
    let token = |sub: &str| {
        let claims = json!({"iss": "i", "aud": "a", "sub": sub, "email": "bench@example.com",
                            "groups": ["bench"], "iat": now, "exp": now + 3600});
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    let get = Method::GET;

    let same = bearer(&token("bench"));
    security.check(&get, "/items/item-1", &same).await.unwrap().unwrap();
    let n = 100_000u32;
    let start = Instant::now();
    for _ in 0..n {
        security.check(&get, "/items/item-1", &same).await.unwrap().unwrap();
    }
    println!("a token verified before: {:?} per check", start.elapsed() / n);

    let new: Vec<HeaderMap> = (0..300).map(|i| bearer(&token(&format!("bench-{i}")))).collect();
    let start = Instant::now();
    for headers in &new {
        security.check(&get, "/items/item-1", headers).await.unwrap().unwrap();
    }
    println!("a new token (its RSA signature verified): {:?} per check", start.elapsed() / 300);
}
