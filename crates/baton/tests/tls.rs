//! HTTPS through the real `baton up`: the self-signed certificate of `--tls-self-signed`
//! (trusted by a client that adds it as a root, kept across restarts), a configured
//! certificate chain and key, graceful shutdown over TLS, failed handshakes that leave the
//! server serving, and the errors of a bad `[tls]`.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{temp_dir, Baton, Start};

async fn health(b: &Baton) -> u16 {
    b.client.get(b.url("/health")).send().await.expect("https answers").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_serves_https_and_is_kept_across_starts() {
    let data = temp_dir("tls-self");
    let cert = data.join("tls").join("self-signed.crt");
    let start =
        Start { args: &["--tls-self-signed"], root_certificate: Some(&cert), ..Start::default() };
    let mut b = Baton::start_with(&data, &start);
    assert!(b.base.starts_with("https://127.0.0.1:"), "{}", b.base);
    assert_eq!(health(&b).await, 200);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = data.join("tls").join("self-signed.key");
        assert_eq!(std::fs::metadata(key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // The certificate names localhost too.
    let port = b.addr.rsplit_once(':').unwrap().1;
    let by_name = b.client.get(format!("https://localhost:{port}/health")).send().await.unwrap();
    assert_eq!(by_name.status(), 200);

    // Handshakes that fail end their connection only.
    let untrusting = reqwest::Client::new().get(b.url("/health")).send().await;
    assert!(untrusting.is_err(), "a client that does not trust the certificate fails");
    let plain = reqwest::get(format!("http://{}/health", b.addr)).await;
    assert!(plain.map_or(true, |r| r.status() != 200), "plain HTTP is not served");
    assert_eq!(health(&b).await, 200, "the server still serves");

    let pem = std::fs::read(&cert).unwrap();
    assert!(b.terminate().success(), "a graceful exit over TLS");

    let b = Baton::start_with(&data, &start);
    assert_eq!(health(&b).await, 200);
    assert_eq!(std::fs::read(&cert).unwrap(), pem, "the second start kept the certificate");
}

/// A certificate authority and a server certificate it signed for localhost and
/// 127.0.0.1: `(CA PEM, chain PEM (server then CA), server key PEM)`.
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Baton test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), format!("{}{}", cert.pem(), ca_cert.pem()), key.serialize_pem())
}

fn tls_config(cert: &Path, key: &Path) -> String {
    format!(
        "[tls]\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_certificate_and_key_serve_https() {
    let dir = temp_dir("tls-configured");
    let (ca, chain, key) = certificates();
    std::fs::write(dir.join("ca.pem"), ca).unwrap();
    std::fs::write(dir.join("server.crt"), chain).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    let file = dir.join("baton.toml");
    let config = tls_config(&dir.join("server.crt"), &dir.join("server.key"));
    std::fs::write(&file, format!("{config}\n[collections.notes]\n")).unwrap();
    let ca = dir.join("ca.pem");
    let data = dir.join("data");
    let b = Baton::start_with(
        &data,
        &Start { config: Some(&file), root_certificate: Some(&ca), ..Start::default() },
    );
    assert!(b.base.starts_with("https://"), "{}", b.base);
    assert_eq!(health(&b).await, 200);
    let created = b
        .client
        .put(b.url("/notes/n1"))
        .header("content-type", "application/json")
        .body(r#"{"text":"over TLS"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let read = b.client.get(b.url("/notes/n1")).send().await.unwrap();
    let doc: serde_json::Value = read.json().await.unwrap();
    assert_eq!(doc, serde_json::json!({"text": "over TLS", "id": "n1"}));
    assert!(!data.join("tls").exists(), "no self-signed certificate is made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_finishes_when_baton_is_stopped() {
    let dir = temp_dir("tls-graceful");
    let config = dir.join("baton.toml");
    std::fs::write(
        &config,
        "[functions.slow]\nmode = \"exec\"\ncommand = \"sleep 2; echo '{\\\"slept\\\": true}'\"\n\
         timeout_seconds = 20\n",
    )
    .unwrap();
    let cert = dir.join("data").join("tls").join("self-signed.crt");
    let mut b = Baton::start_with(
        &dir.join("data"),
        &Start {
            config: Some(&config),
            args: &["--tls-self-signed"],
            root_certificate: Some(&cert),
            ..Start::default()
        },
    );
    let invoke = b.client.post(b.url("/2015-03-31/functions/slow/invocations")).body("{}").send();
    let in_flight = tokio::spawn(invoke);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _ = std::process::Command::new("kill").args(["-TERM", &b.pid().to_string()]).status();
    let answer = in_flight.await.unwrap().expect("the request in flight is answered");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"slept": true}));
    assert!(b.terminate().success());
}

#[test]
fn a_bad_tls_configuration_stops_baton_up_with_a_message_naming_the_file() {
    let dir = temp_dir("tls-bad");
    let (_, chain, key) = certificates();
    let (_, _, other_key) = certificates();
    let cert = dir.join("server.crt");
    std::fs::write(&cert, chain).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    std::fs::write(dir.join("other.key"), other_key).unwrap();
    std::fs::write(dir.join("notes.txt"), "not PEM\n").unwrap();
    let missing = dir.join("missing.key");
    let cases = [
        (tls_config(&cert, &missing), vec!["missing.key", "cannot read the TLS key"]),
        (tls_config(&cert, &dir.join("other.key")), vec!["other.key", "does not match"]),
        (tls_config(&dir.join("notes.txt"), &dir.join("server.key")), vec!["notes.txt", "PEM"]),
        (
            format!("[tls]\ncert = {:?}\n", cert.display().to_string()),
            vec!["[tls] cert is set but key is not"],
        ),
    ];
    for (i, (config, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("baton-{i}.toml"));
        std::fs::write(&file, config).unwrap();
        let stderr = Baton::fail_to_start(
            &dir.join("data"),
            &Start { config: Some(&file), ..Start::default() },
        );
        for part in expected {
            assert!(stderr.contains(part), "{config}: {part:?} not in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
