//! HTTPS for `baton up`: the server's certificate and the accept loop that serves the
//! router over TLS.
//!
//! - [`load`] turns `[tls]` into a [`Tls`] (or `None`: plain HTTP). The certificate is the
//!   configured PEM pair, or a self-signed one for `localhost`, `127.0.0.1` and `::1` kept
//!   under `<data>/tls` and made again only when it no longer verifies for those names (or
//!   expires within a day). Every mistake in the input (one of `cert`/`key` alone, a
//!   missing file, no PEM in it, a key that does not match the certificate) is an error
//!   that names the file.
//! - [`serve`] is `axum::serve(..).with_graceful_shutdown(..)` over TLS: rustls on the
//!   `ring` provider (ALPN `http/1.1`), hyper's HTTP/1 connections, hyper-util's
//!   `GracefulShutdown`. When the signal comes it stops accepting and waits for the
//!   connections it has to finish their requests.
//!
//! **Invariant:** a connection's failure (a handshake that fails or stalls, a broken
//! stream) ends that connection only; the accept loop never stops but for the shutdown.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _, Result};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// The names the self-signed certificate is valid for.
pub(crate) const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How long a self-signed certificate is valid.
const SELF_SIGNED_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A kept self-signed certificate is made again when it expires within this long.
const RENEW_BEFORE: Duration = Duration::from_secs(24 * 3600);

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side of TLS, ready to accept connections.
pub(crate) struct Tls {
    acceptor: TlsAcceptor,
    /// The certificate file, for the banner.
    pub(crate) cert: PathBuf,
    pub(crate) origin: Origin,
}

/// Where the certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `[tls] cert` and `key`.
    Configured,
    /// `--tls-self-signed`: made at this start, or kept from an earlier one.
    SelfSigned { made: bool },
}

impl Tls {
    /// One line for the banner of `baton up`.
    pub(crate) fn describe(&self) -> String {
        let path = self.cert.display();
        match self.origin {
            Origin::Configured => format!("TLS certificate: {path}"),
            Origin::SelfSigned { made } => format!(
                "TLS certificate: {path} (self-signed for {}, {}; trust it: curl --cacert {path})",
                SELF_SIGNED_NAMES.join(", "),
                if made { "made now" } else { "kept from an earlier start" },
            ),
        }
    }
}

/// The TLS settings of `[tls]`: `None` when neither a certificate nor `self_signed` is
/// given. `data` is the data directory, where the self-signed certificate is kept.
pub(crate) fn load(config: &TlsConfig, data: &Path) -> Result<Option<Tls>> {
    let (server, cert, origin) = match (&config.cert, &config.key, config.self_signed) {
        (None, None, false) => return Ok(None),
        (Some(_), _, true) | (_, Some(_), true) => {
            bail!("[tls]: use either cert and key or self_signed (--tls-self-signed), not both")
        }
        (Some(cert), Some(key), false) => {
            (configured(cert, key)?, cert.clone(), Origin::Configured)
        }
        (Some(_), None, false) => bail!("[tls] cert is set but key is not: both are needed"),
        (None, Some(_), false) => bail!("[tls] key is set but cert is not: both are needed"),
        (None, None, true) => {
            let (server, cert, made) = self_signed(&data.join("tls"))?;
            (server, cert, Origin::SelfSigned { made })
        }
    };
    Ok(Some(Tls { acceptor: TlsAcceptor::from(Arc::new(server)), cert, origin }))
}

/// The configured certificate chain and key, checked.
fn configured(cert: &Path, key: &Path) -> Result<ServerConfig> {
    let chain = read_chain(cert)?;
    let key_der = read_key(key)?;
    server_config(chain, key_der).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => anyhow::anyhow!(
            "the TLS key {} does not match the certificate {}",
            key.display(),
            cert.display()
        ),
        e => anyhow::anyhow!(
            "cannot use the TLS key {} with the certificate {}: {e}",
            key.display(),
            cert.display()
        ),
    })
}

/// The certificates of a PEM file, in order.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the TLS certificate {}", path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the TLS certificate {} is not valid PEM", path.display()))?;
    if chain.is_empty() {
        bail!(
            "the TLS certificate {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(chain)
}

/// The private key of a PEM file.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the TLS key {}", path.display()))?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => bail!(
            "the TLS key {} holds no PEM private key (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY \
             or BEGIN EC PRIVATE KEY)",
            path.display()
        ),
        Err(e) => {
            Err(e).with_context(|| format!("the TLS key {} is not valid PEM", path.display()))
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration for this chain and key (which must match), speaking HTTP/1.1.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The self-signed certificate in `dir`: the kept one if it is still good, else a new one.
/// Returns the configuration, the certificate's path, and whether it was made now.
fn self_signed(dir: &Path) -> Result<(ServerConfig, PathBuf, bool)> {
    let cert_path = dir.join("self-signed.crt");
    let key_path = dir.join("self-signed.key");
    if cert_path.exists() || key_path.exists() {
        match kept(&cert_path, &key_path) {
            Ok(config) => {
                restrict(&key_path)?;
                return Ok((config, cert_path, false));
            }
            Err(why) => {
                tracing::info!(cert = %cert_path.display(), reason = %format!("{why:#}"),
                    "making a new self-signed certificate");
            }
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let (cert_pem, key_pem) = generate(SystemTime::now())?;
    // The key first: a certificate on disk never names a key that is not there yet. A
    // crash between the two leaves a pair that does not match, which the next start
    // replaces.
    write_file(&key_path, key_pem.as_bytes(), true)?;
    write_file(&cert_path, cert_pem.as_bytes(), false)?;
    let chain = read_chain(&cert_path)?;
    let key = read_key(&key_path)?;
    let config = server_config(chain, key).context("the new self-signed certificate")?;
    Ok((config, cert_path, true))
}

/// The kept self-signed pair, if it verifies for every name now and a day from now and its
/// key matches.
fn kept(cert_path: &Path, key_path: &Path) -> Result<ServerConfig> {
    let chain = read_chain(cert_path)?;
    let key = read_key(key_path)?;
    let mut roots = RootCertStore::empty();
    roots.add(chain[0].clone()).context("not usable as its own root")?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .context("cannot build a verifier")?;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    for at in [now, now + RENEW_BEFORE] {
        for name in SELF_SIGNED_NAMES {
            let server_name = ServerName::try_from(name).context("a self-signed name")?;
            verifier
                .verify_server_cert(
                    &chain[0],
                    &chain[1..],
                    &server_name,
                    &[],
                    UnixTime::since_unix_epoch(at),
                )
                .with_context(|| format!("not valid for {name} until a day from now"))?;
        }
    }
    Ok(server_config(chain, key)?)
}

/// A new self-signed certificate and its key, both PEM, valid from a day before `now`
/// (clocks differ) for [`SELF_SIGNED_VALIDITY`].
fn generate(now: SystemTime) -> Result<(String, String)> {
    let since_epoch = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let mut params = rcgen::CertificateParams::new(SELF_SIGNED_NAMES.map(String::from).to_vec())
        .context("cannot describe the self-signed certificate")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "Baton (self-signed, localhost)");
    params.not_before = epoch + since_epoch.saturating_sub(RENEW_BEFORE);
    params.not_after = epoch + since_epoch + SELF_SIGNED_VALIDITY;
    let key = rcgen::KeyPair::generate().context("cannot generate a key")?;
    let cert = params.self_signed(&key).context("cannot sign the self-signed certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `bytes` to `path` through a temporary file renamed over it; `private` files are
/// readable by their owner only (mode 0600 on unix) from the start.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file =
        options.open(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Makes a kept key readable by its owner only again, if someone widened its mode.
fn restrict(key: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(key)
            .with_context(|| format!("cannot read {}", key.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(key = %key.display(), "the key was readable by others: now 0600");
            std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", key.display()))?;
        }
    }
    #[cfg(not(unix))]
    let _ = key;
    Ok(())
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then stops accepting
/// and waits for the open connections to finish what they are doing.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Tls,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // As over plain HTTP: streamed bodies must not wait for a delayed ACK.
        let _ = tcp.set_nodelay(true);
        let acceptor = tls.acceptor.clone();
        // Handlers see the client's address as they do over plain HTTP.
        let app = app.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        let service = TowerToHyperService::new(app);
        // Taken before the handshake, so the shutdown waits for this connection too.
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// After a failed accept: a client that gave up is nothing; anything else (out of file
/// descriptors, say) is logged and waited out for a second, as `axum::serve` does.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("baton-tls-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn config(cert: Option<&Path>, key: Option<&Path>, self_signed: bool) -> TlsConfig {
        TlsConfig { cert: cert.map(Path::to_owned), key: key.map(Path::to_owned), self_signed }
    }

    fn message(r: Result<Option<Tls>>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn nothing_configured_is_plain_http() {
        assert!(load(&TlsConfig::default(), Path::new("/nonexistent")).unwrap().is_none());
    }

    #[test]
    fn the_self_signed_certificate_is_kept_while_valid() {
        let data = dir("self");
        let first = load(&config(None, None, true), &data).unwrap().unwrap();
        assert_eq!(first.origin, Origin::SelfSigned { made: true });
        let pem = std::fs::read(&first.cert).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let key = data.join("tls/self-signed.key");
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let second = load(&config(None, None, true), &data).unwrap().unwrap();
        assert_eq!(second.origin, Origin::SelfSigned { made: false });
        assert_eq!(std::fs::read(&second.cert).unwrap(), pem);
        assert!(second.describe().contains("curl --cacert"));

        // A certificate that expires within a day is replaced.
        let old = SystemTime::now() - SELF_SIGNED_VALIDITY + Duration::from_secs(3600);
        let (cert, key) = generate(old).unwrap();
        std::fs::write(data.join("tls/self-signed.crt"), &cert).unwrap();
        std::fs::write(data.join("tls/self-signed.key"), &key).unwrap();
        let third = load(&config(None, None, true), &data).unwrap().unwrap();
        assert_eq!(third.origin, Origin::SelfSigned { made: true });
        assert_ne!(std::fs::read_to_string(&third.cert).unwrap(), cert);

        // So is a pair whose key does not match.
        let (_, other_key) = generate(SystemTime::now()).unwrap();
        std::fs::write(data.join("tls/self-signed.key"), &other_key).unwrap();
        let fourth = load(&config(None, None, true), &data).unwrap().unwrap();
        assert_eq!(fourth.origin, Origin::SelfSigned { made: true });
    }

    #[test]
    fn bad_input_is_an_error_naming_the_file() {
        let d = dir("bad");
        let (cert_pem, key_pem) = generate(SystemTime::now()).unwrap();
        let (_, other_key_pem) = generate(SystemTime::now()).unwrap();
        let cert = d.join("c.pem");
        let key = d.join("k.pem");
        let other = d.join("other.pem");
        let text = d.join("text.pem");
        std::fs::write(&cert, &cert_pem).unwrap();
        std::fs::write(&key, &key_pem).unwrap();
        std::fs::write(&other, &other_key_pem).unwrap();
        std::fs::write(&text, "not PEM at all\n").unwrap();
        let missing = d.join("missing.pem");

        assert!(load(&config(Some(&cert), Some(&key), false), &d).unwrap().is_some());
        let e = message(load(&config(Some(&cert), None, false), &d));
        assert!(e.contains("key is not"), "{e}");
        let e = message(load(&config(None, Some(&key), false), &d));
        assert!(e.contains("cert is not"), "{e}");
        let e = message(load(&config(Some(&cert), Some(&missing), false), &d));
        assert!(e.contains("missing.pem") && e.contains("cannot read"), "{e}");
        let e = message(load(&config(Some(&text), Some(&key), false), &d));
        assert!(e.contains("text.pem") && e.contains("no PEM certificate"), "{e}");
        let e = message(load(&config(Some(&cert), Some(&text), false), &d));
        assert!(e.contains("text.pem") && e.contains("no PEM private key"), "{e}");
        let e = message(load(&config(Some(&cert), Some(&cert), false), &d));
        assert!(e.contains("no PEM private key"), "a certificate is not a key: {e}");
        let e = message(load(&config(Some(&cert), Some(&other), false), &d));
        assert!(e.contains("does not match") && e.contains("other.pem"), "{e}");
        let e = message(load(&config(Some(&cert), Some(&key), true), &d));
        assert!(e.contains("not both"), "{e}");
    }
}
