//! Browser login through the real binary against a real OpenID provider: `oidc-provider`
//! (npm, pinned in `tests/oidc/package-lock.json`) run by `tests/oidc/provider.mjs` on a
//! loopback port. A reqwest client that follows no redirect and keeps its own cookies
//! plays the browser, so every hop (Baton, the provider's login and consent pages, the
//! callback) is checked.
//!
//! Needs Node.js and npm; `npm ci` runs in `tests/oidc` when `node_modules` is missing.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use base64::Engine as _;
use reqwest::header::{HeaderMap, ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest as _;
use support::{temp_dir, Baton, Start};

/// What a browser's navigation sends.
const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// `npm ci` once per test run when `node_modules` is missing; fails the test with a clear
/// message without Node.js.
fn install_provider() {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "Node.js is needed for the login tests (they run the npm package oidc-provider as \
         the identity provider): install node and npm (apt-get install nodejs npm)"
    );
    let dir = oidc_dir();
    if !dir.join("node_modules/oidc-provider/package.json").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (install npm beside node)");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    }
    *done = true;
}

/// The running provider, killed (by its process id) when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    /// Starts `node provider.mjs`; it listens on a free loopback port and waits for its
    /// clients' redirect URIs, which `configure` sends once Baton runs.
    fn start() -> Self {
        install_provider();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(oidc_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").unwrap_or_else(|| {
            let _ = child.kill();
            panic!("the provider did not start: {line:?}")
        });
        let issuer = format!("http://127.0.0.1:{port}");
        // Keep reading so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        Self { child, issuer }
    }

    /// Registers `redirect_uri` for the provider's clients; the provider serves from now.
    fn configure(&mut self, redirect_uri: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", json!({"redirect_uris": [redirect_uri]})).unwrap();
        stdin.flush().unwrap();
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        for _ in 0..200 {
            let r = client.get(format!("{}/.well-known/openid-configuration", self.issuer)).send();
            if r.await.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the provider never became ready");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL to this child's own process id.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `Set-Cookie` as the browser saw it.
#[derive(Debug, Clone)]
struct SetCookie {
    name: String,
    value: String,
    /// Attribute names as written (lower case) with their values.
    attributes: BTreeMap<String, String>,
}

impl SetCookie {
    fn parse(header: &str) -> Self {
        let mut parts = header.split(';');
        let (name, value) = parts.next().unwrap().trim().split_once('=').unwrap();
        let attributes = parts
            .map(|a| {
                let (k, v) = a.trim().split_once('=').unwrap_or((a.trim(), ""));
                (k.to_ascii_lowercase(), v.to_owned())
            })
            .collect();
        Self { name: name.to_owned(), value: value.to_owned(), attributes }
    }

    fn has(&self, attribute: &str) -> bool {
        self.attributes.contains_key(attribute)
    }
}

/// The browser: a client that follows no redirect, and cookies by port (both servers are
/// on 127.0.0.1, and each keeps its own names).
struct Browser {
    client: reqwest::Client,
    jar: BTreeMap<(u16, String), String>,
}

/// An answer: status, headers, the cookies it set, and the body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    cookies: Vec<SetCookie>,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).map(|v| v.to_str().unwrap()).unwrap_or_default()
    }

    fn cookie(&self, name: &str) -> &SetCookie {
        self.cookies
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no Set-Cookie {name}: {:?}", self.cookies))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

impl Browser {
    fn new() -> Self {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { client, jar: BTreeMap::new() }
    }

    /// Sends a request with the jar's cookies for the URL's port and keeps the cookies the
    /// answer sets (a `Max-Age=0` one removes it).
    async fn send(
        &mut self,
        method: Method,
        url: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Answer {
        let port = reqwest::Url::parse(url).unwrap().port().unwrap();
        let mut req = self.client.request(method, url);
        let cookies: Vec<String> = self
            .jar
            .iter()
            .filter(|((p, _), _)| *p == port)
            .map(|((_, n), v)| format!("{n}={v}"))
            .collect();
        if !cookies.is_empty() {
            req = req.header(COOKIE, cookies.join("; "));
        }
        let resp = build(req).send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        let cookies: Vec<SetCookie> = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| SetCookie::parse(v.to_str().unwrap()))
            .collect();
        for c in &cookies {
            let key = (port, c.name.clone());
            if c.attributes.get("max-age").is_some_and(|a| a == "0") || c.value.is_empty() {
                self.jar.remove(&key);
            } else {
                self.jar.insert(key, c.value.clone());
            }
        }
        Answer { status, headers, cookies, body }
    }

    async fn get(&mut self, url: &str, accept: &str) -> Answer {
        self.send(Method::GET, url, |r| r.header(ACCEPT, accept)).await
    }

    /// Walks the provider's pages from `url` (its authorization endpoint) until it sends
    /// the browser to a URL starting with `until`: signs in as `user` with `password` on
    /// the login page and allows on the consent page. Returns that last redirect.
    async fn through_provider(
        &mut self,
        issuer: &str,
        mut url: String,
        until: &str,
        user: &str,
        password: &str,
    ) -> String {
        let form_action = regex::Regex::new(r#"<form method="post" action="([^"]+)""#).unwrap();
        let mut signed_in = false;
        for _ in 0..20 {
            let answer = self.get(&url, HTML).await;
            let next = match answer.status.as_u16() {
                302 | 303 => answer.location().to_owned(),
                200 => {
                    let action = form_action
                        .captures(&answer.body)
                        .unwrap_or_else(|| panic!("no form on {url}: {}", answer.body))[1]
                        .to_owned();
                    let post = format!("{issuer}{action}");
                    let answer = if action.ends_with("/login") {
                        // A wrong password first: the provider really checks it.
                        if !signed_in {
                            let wrong = [("login", user), ("password", "wrong")];
                            let again = self.send(Method::POST, &post, |r| r.form(&wrong)).await;
                            assert_eq!(again.status, 200);
                            assert!(again.body.contains("Wrong user name or password"));
                        }
                        signed_in = true;
                        let right = [("login", user), ("password", password)];
                        self.send(Method::POST, &post, |r| r.form(&right)).await
                    } else {
                        assert!(action.ends_with("/confirm"), "{action}");
                        self.send(Method::POST, &post, |r| r.form(&[("confirm", "yes")])).await
                    };
                    assert_eq!(answer.status, 303, "{post}: {}", answer.body);
                    answer.location().to_owned()
                }
                s => panic!("{url}: {s} {}", answer.body),
            };
            if next.starts_with(until) {
                return next;
            }
            url = if next.starts_with('/') { format!("{issuer}{next}") } else { next };
        }
        panic!("the provider never sent the browser to {until}");
    }
}

/// The security rules: a student at their own record (the owner rule), students at the
/// courses, only staff at the list of students, and bearer ID tokens from the same
/// provider for the same client.
fn security(issuer: &str, client_id: &str, extra: Value) -> Value {
    let mut oidc = json!({
        "issuer": issuer,
        "client_id": client_id,
        "client_secret_env": "TEST_OIDC_CLIENT_SECRET",
        "scopes": "openid email profile groups",
    });
    for (k, v) in extra.as_object().unwrap() {
        oidc[k] = v.clone();
    }
    json!({
        "oidc": oidc,
        "jwt": {"issuer": issuer, "audience": [client_id], "jwks_uri": format!("{issuer}/jwks")},
        "allow": [{"path": "/health", "method": "GET"}],
        "rules": [
            {"path": "/students/{id}", "methods": ["GET", "PUT"], "subjects": ["{id}"]},
            {"path": "/students", "methods": ["GET"], "groups": ["staff"]},
            {"path": "/courses/**", "groups": ["students"]}
        ]
    })
}

/// Starts `baton up` on `data` with collections `students` and `courses` and the rules
/// of [`security`], with `env` beside the client secret.
fn node(data: &Path, issuer: &str, client_id: &str, oidc: Value, env: &[(&str, &str)]) -> Baton {
    let rules = security(issuer, client_id, oidc);
    std::fs::write(data.join("security.json"), rules.to_string()).unwrap();
    let toml = format!(
        "[collections.students]\n[collections.courses]\n[security]\nrules = {:?}\n",
        data.join("security.json").display().to_string()
    );
    let config = data.join("baton.toml");
    std::fs::write(&config, toml).unwrap();
    let secret = if client_id == "baton" { "baton-secret" } else { "baton-post-secret" };
    let mut all = vec![("TEST_OIDC_CLIENT_SECRET", secret)];
    all.extend_from_slice(env);
    Baton::start_with(data, &Start { config: Some(&config), env: &all, ..Start::default() })
}

/// The provider, then Baton with browser login for `client_id`, then the provider told
/// Baton's callback.
async fn start(tag: &str, client_id: &str, oidc: Value, env: &[(&str, &str)]) -> (Provider, Baton) {
    let mut provider = Provider::start();
    let baton = node(&temp_dir(tag), &provider.issuer, client_id, oidc, env);
    provider.configure(&baton.url("/auth/callback"));
    provider.wait_ready(&baton.client).await;
    (provider, baton)
}

/// Logs the browser in from a protected page; checks every hop, and the session cookie,
/// which lasts `session_seconds`.
async fn log_in(
    browser: &mut Browser,
    provider: &Provider,
    baton: &Baton,
    client_id: &str,
    session_seconds: u64,
) -> SetCookie {
    // A browser at a protected page is sent to log in, with the page to come back to.
    let page = browser.get(&baton.url("/students/alice?tab=grades"), HTML).await;
    assert_eq!(page.status, 302);
    assert_eq!(page.location(), "/auth/login?return_to=%2Fstudents%2Falice%3Ftab%3Dgrades");

    // Baton sends it to the provider: the code flow with PKCE S256, state and nonce, and
    // the login in progress in a sealed cookie for /auth.
    let login = browser.get(&baton.url(page.location()), HTML).await;
    assert_eq!(login.status, 302, "{}", login.body);
    let to = reqwest::Url::parse(login.location()).unwrap();
    assert_eq!(format!("{}{}", provider.issuer, to.path()), format!("{}/auth", provider.issuer));
    let q: BTreeMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], client_id);
    assert_eq!(q["redirect_uri"], baton.url("/auth/callback"));
    assert_eq!(q["scope"], "openid email profile groups");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "base64url of a SHA-256");
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);
    let pending = login.cookie("baton_login");
    assert!(pending.has("httponly") && !pending.has("secure"), "{pending:?}");
    assert_eq!(pending.attributes["samesite"], "Lax");
    assert_eq!(pending.attributes["path"], "/auth");
    assert!(!pending.value.contains(&q["state"]), "the state is sealed, not readable");

    // The provider's login and consent pages, then back to Baton's callback.
    let callback = browser
        .through_provider(
            &provider.issuer,
            login.location().to_owned(),
            &baton.url("/auth/callback"),
            "alice",
            "alice-password",
        )
        .await;
    let back = reqwest::Url::parse(&callback).unwrap();
    let params: BTreeMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(params["state"], q["state"]);
    assert!(params.contains_key("code"));

    // A callback with another state is refused. (It clears the login in progress; the
    // jar is put back as it was, as if that request had come from another browser.)
    let mut forged = back.clone();
    forged
        .query_pairs_mut()
        .clear()
        .append_pair("code", &params["code"])
        .append_pair("state", "forged");
    let jar = browser.jar.clone();
    let refused = browser.get(forged.as_str(), HTML).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["code"], "LoginFailed");
    browser.jar = jar;

    let done = browser.get(&callback, HTML).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location(), "/students/alice?tab=grades");
    let cleared = done.cookie("baton_login");
    assert_eq!(cleared.attributes["max-age"], "0");
    let session = done.cookie("baton_session").clone();
    assert!(session.has("httponly"), "{session:?}");
    assert!(!session.has("secure"), "plain HTTP: not Secure");
    assert_eq!(session.attributes["samesite"], "Lax");
    assert_eq!(session.attributes["path"], "/");
    assert_eq!(session.attributes["max-age"], session_seconds.to_string());
    assert!(!session.value.contains("alice"), "the session is sealed");

    // The code was used: the same callback again is refused by the provider (and there is
    // no login in progress any more).
    let again = browser.get(&callback, HTML).await;
    assert_eq!(again.status, 400);
    session
}

#[tokio::test]
async fn a_browser_logs_in_with_the_provider_and_the_rules_apply_to_its_session() {
    let (provider, baton) = start("login", "baton", json!({}), &[]).await;
    let mut browser = Browser::new();
    let session = log_in(&mut browser, &provider, &baton, "baton", 8 * 3600).await;

    // The session is alice: her own record (the owner rule), the courses (her group), but
    // not the list of students (staff only).
    let json = "application/json";
    let body = json!({"name": "Alice"}).to_string();
    let put = browser
        .send(Method::PUT, &baton.url("/students/alice"), |r| {
            r.header("content-type", json).body(body)
        })
        .await;
    assert_eq!(put.status, 201, "{}", put.body);
    let body = json!({"name": "Bob"}).to_string();
    let put = browser
        .send(Method::PUT, &baton.url("/students/bob"), |r| {
            r.header("content-type", json).body(body)
        })
        .await;
    assert_eq!(put.status, 403, "{}", put.body);
    let mine = browser.get(&baton.url("/students/alice"), json).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.json()["name"], "Alice");
    let theirs = browser.get(&baton.url("/students/bob"), json).await;
    assert_eq!(theirs.status, 403, "{}", theirs.body);
    assert_eq!(browser.get(&baton.url("/students"), json).await.status, 403);
    assert_eq!(browser.get(&baton.url("/courses"), json).await.status, 200);

    // /auth/me: the identity from the provider's ID token.
    let me = browser.get(&baton.url("/auth/me"), json).await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["kind"], "session");
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["groups"], json!(["students"]));
    assert_eq!(me["issuer"], provider.issuer);
    assert!(me["expires_at"].as_u64().is_some());

    // A changed session cookie is no login: 401 for an API client, 302 for a browser.
    let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&session.value).unwrap();
    let middle = raw.len() / 2;
    raw[middle] ^= 0x20;
    let tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let with = |c: &str| format!("baton_session={c}");
    for (cookie, accept, want) in [
        (with(&tampered), json, 401),
        (with(&tampered), HTML, 302),
        (with(&session.value), json, 200),
    ] {
        let r = browser
            .client
            .get(baton.url("/students/alice"))
            .header(COOKIE, cookie)
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "{accept}");
    }
    let r = browser.client.get(baton.url("/auth/me")).header(COOKIE, with(&tampered)).send();
    assert_eq!(r.await.unwrap().status(), 401);

    // An open redirect is refused before anything else happens.
    for bad in ["//evil.example/", "https://evil.example/", "/\\evil.example"] {
        let url = reqwest::Url::parse_with_params(&baton.url("/auth/login"), [("return_to", bad)]);
        let r = browser.get(url.unwrap().as_str(), HTML).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["code"], "InvalidReturnTo");
        assert!(r.headers.get(LOCATION).is_none());
    }

    // Behind a TLS proxy (X-Forwarded-Proto: https) the cookies are Secure and the default
    // redirect URI is https.
    let proxied = browser
        .send(Method::GET, &baton.url("/auth/login"), |r| {
            r.header(ACCEPT, HTML).header("x-forwarded-proto", "https")
        })
        .await;
    assert_eq!(proxied.status, 302);
    assert!(proxied.cookie("baton_login").has("secure"));
    let to = reqwest::Url::parse(proxied.location()).unwrap();
    let redirect_uri = to.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1;
    assert_eq!(redirect_uri, format!("https://{}/auth/callback", baton.addr));

    // Logout clears the cookie; the protected page is 401 (API) and 302 (browser) again.
    let out = browser.send(Method::POST, &baton.url("/auth/logout"), |r| r).await;
    assert_eq!(out.status, 204);
    let cleared = out.cookie("baton_session");
    assert_eq!((cleared.value.as_str(), cleared.attributes["max-age"].as_str()), ("", "0"));
    assert!(browser.jar.keys().all(|(_, n)| n != "baton_session"));
    let api = browser.get(&baton.url("/students/alice"), json).await;
    assert_eq!(api.status, 401);
    assert!(api.headers.contains_key("www-authenticate"));
    let page = browser.get(&baton.url("/students/alice"), HTML).await;
    assert_eq!(page.status, 302);
    assert_eq!(page.location(), "/auth/login?return_to=%2Fstudents%2Falice");
    assert_eq!(browser.get(&baton.url("/auth/me"), json).await.status, 401);
}

/// base64url of the SHA-256 of the verifier (RFC 7636, S256).
fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

#[tokio::test]
async fn an_id_token_from_the_same_provider_as_a_bearer_meets_the_same_rules() {
    let (provider, baton) = start("login-bearer", "baton", json!({}), &[]).await;
    let mut browser = Browser::new();
    // The test is the client here: its own code flow for `baton`, stopped at the redirect
    // to Baton's callback, and its own token request.
    let discovery: Value = browser
        .client
        .get(format!("{}/.well-known/openid-configuration", provider.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["jwks_uri"], format!("{}/jwks", provider.issuer));
    let verifier = "a-test-verifier-that-is-long-enough-for-rfc-7636-0123456789";
    let authorize = reqwest::Url::parse_with_params(
        discovery["authorization_endpoint"].as_str().unwrap(),
        [
            ("response_type", "code"),
            ("client_id", "baton"),
            ("redirect_uri", &baton.url("/auth/callback")),
            ("scope", "openid email profile groups"),
            ("state", "test-state"),
            ("nonce", "test-nonce"),
            ("code_challenge", &challenge(verifier)),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let callback = browser
        .through_provider(
            &provider.issuer,
            authorize.to_string(),
            &baton.url("/auth/callback"),
            "alice",
            "alice-password",
        )
        .await;
    let code = reqwest::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let tokens: Value = browser
        .client
        .post(discovery["token_endpoint"].as_str().unwrap())
        .basic_auth("baton", Some("baton-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &baton.url("/auth/callback")),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap_or_else(|| panic!("{tokens}"));

    let bearer = format!("Bearer {id_token}");
    let call = |path: &str| {
        browser.client.get(baton.url(path)).header("authorization", bearer.clone()).send()
    };
    let me: Value = call("/auth/me").await.unwrap().json().await.unwrap();
    assert_eq!(me["kind"], "jwt");
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["groups"], json!(["students"]));
    assert_eq!(me["issuer"], provider.issuer);
    assert_eq!(call("/students/alice").await.unwrap().status(), 404, "allowed; no document yet");
    let theirs = call("/students/bob").await.unwrap();
    assert_eq!(theirs.status(), 403);
    assert!(theirs.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    assert_eq!(call("/students").await.unwrap().status(), 403);
    assert_eq!(call("/courses").await.unwrap().status(), 200);

    // The same person through the browser: the same identity and the same answers.
    let session = log_in(&mut browser, &provider, &baton, "baton", 8 * 3600).await;
    let by_cookie = |path: &str| {
        browser
            .client
            .get(baton.url(path))
            .header(COOKIE, format!("baton_session={}", session.value))
            .send()
    };
    let me_session: Value = by_cookie("/auth/me").await.unwrap().json().await.unwrap();
    for field in ["subject", "email", "groups", "issuer"] {
        assert_eq!(me_session[field], me[field], "{field}");
    }
    for (path, want) in
        [("/students/alice", 404), ("/students/bob", 403), ("/students", 403), ("/courses", 200)]
    {
        assert_eq!(by_cookie(path).await.unwrap().status().as_u16(), want, "{path}");
    }
}

#[tokio::test]
async fn client_secret_post_and_a_denied_consent() {
    let (provider, baton) = start(
        "login-post",
        "baton-post",
        json!({"token_endpoint_auth_method": "client_secret_post", "session_seconds": 60}),
        &[],
    )
    .await;
    let mut browser = Browser::new();
    // The user cancels on the provider's login page: the callback says access_denied.
    let login = browser.get(&baton.url("/auth/login?return_to=%2Fcourses"), HTML).await;
    assert_eq!(login.status, 302);
    let mut url = login.location().to_owned();
    let abort = regex::Regex::new(r#"href="(/interaction/[^"]+/abort)""#).unwrap();
    let callback = loop {
        let a = browser.get(&url, HTML).await;
        if a.status == 200 {
            url = format!("{}{}", provider.issuer, &abort.captures(&a.body).unwrap()[1]);
            continue;
        }
        let next = a.location().to_owned();
        if next.starts_with(&baton.url("/auth/callback")) {
            break next;
        }
        url = if next.starts_with('/') { format!("{}{next}", provider.issuer) } else { next };
    };
    let denied = browser.get(&callback, HTML).await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(denied.json()["message"].as_str().unwrap().contains("access_denied"));
    assert!(denied.cookies.iter().all(|c| c.name != "baton_session"));

    // Then a login that goes through, with the secret in the form.
    log_in(&mut browser, &provider, &baton, "baton-post", 60).await;
    let me = browser.get(&baton.url("/auth/me"), "application/json").await;
    assert_eq!(me.status, 200);
    let exp = me.json()["expires_at"].as_u64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(exp > now && exp <= now + 60, "{exp} vs {now}");
}

/// `GET /auth/me` with the session cookie `value`: the status and the subject.
async fn me_by_cookie(baton: &Baton, value: &str) -> (u16, Value) {
    let r = baton
        .client
        .get(baton.url("/auth/me"))
        .header(COOKIE, format!("baton_session={value}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.unwrap()["subject"].clone())
}

#[tokio::test]
async fn sessions_outlive_a_restart_and_every_node_with_the_key_accepts_them() {
    // The key generated at the first start is kept in the store.
    let (provider, mut baton) = start("login-restart", "baton", json!({}), &[]).await;
    let mut browser = Browser::new();
    let session = log_in(&mut browser, &provider, &baton, "baton", 8 * 3600).await;
    assert_eq!(me_by_cookie(&baton, &session.value).await, (200, json!("alice")));
    let data = baton.data.clone();
    assert!(baton.terminate().success());
    let again = node(&data, &provider.issuer, "baton", json!({}), &[]);
    assert_eq!(me_by_cookie(&again, &session.value).await, (200, json!("alice")));
    drop(again);

    // BATON_COOKIE_KEY: a node that has never seen the login accepts its cookie when it
    // has the same key, and one with another key does not.
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let (provider, first) =
        start("login-key-a", "baton", json!({}), &[("BATON_COOKIE_KEY", &key)]).await;
    let mut browser = Browser::new();
    let session = log_in(&mut browser, &provider, &first, "baton", 8 * 3600).await;
    let second = node(
        &temp_dir("login-key-b"),
        &provider.issuer,
        "baton",
        json!({}),
        &[("BATON_COOKIE_KEY", &key)],
    );
    assert_eq!(me_by_cookie(&second, &session.value).await, (200, json!("alice")));
    let other = base64::engine::general_purpose::STANDARD.encode([8u8; 32]);
    let third = node(
        &temp_dir("login-key-c"),
        &provider.issuer,
        "baton",
        json!({}),
        &[("BATON_COOKIE_KEY", &other)],
    );
    assert_eq!(me_by_cookie(&third, &session.value).await.0, 401);
    let own = node(&temp_dir("login-key-d"), &provider.issuer, "baton", json!({}), &[]);
    assert_eq!(me_by_cookie(&own, &session.value).await.0, 401);

    // A key that is not 32 bytes of base64 stops Baton with a clear message.
    let data = temp_dir("login-key-bad");
    let rules = security(&provider.issuer, "baton", json!({"client_secret": "s"}));
    let rules = {
        let mut r = rules;
        r["oidc"].as_object_mut().unwrap().remove("client_secret_env");
        r.to_string()
    };
    let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
    let stderr = Baton::fail_to_start(
        &data,
        &Start {
            env: &[("BATON_SECURITY_RULES", &rules), ("BATON_COOKIE_KEY", &short)],
            ..Start::default()
        },
    );
    assert!(
        stderr.contains("cookie_key (BATON_COOKIE_KEY)") && stderr.contains("16 bytes"),
        "{stderr}"
    );
}

/// The example application (`examples/student-full-info`) with its own security rules and
/// the provider in place of the one its README starts: a student who logs in reaches her
/// own record (the owner rule `"subjects": ["{id}"]`) and no one else's, and the
/// registrar's group reaches every record.
#[tokio::test]
async fn the_example_applications_students_log_in_to_their_own_records() {
    let mut provider = Provider::start();
    let rules = support::example_config().with_file_name("security.json");
    let mut rules: Value = serde_json::from_str(&std::fs::read_to_string(rules).unwrap()).unwrap();
    assert_eq!(rules["oidc"]["issuer"], "http://127.0.0.1:9090", "the README's provider");
    rules["oidc"]["issuer"] = json!(provider.issuer);
    let rules = rules.to_string();
    let functions = support::example_functions().display().to_string();
    let env = [
        ("BATON_SECURITY_RULES", rules.as_str()),
        ("BATON_FUNCTIONS__ADDRESS-SERVICE__COMMAND", functions.as_str()),
        ("BATON_FUNCTIONS__CHAT-BOT__COMMAND", functions.as_str()),
    ];
    let baton =
        Baton::spawn(&temp_dir("example-login"), None, &env, Some(&support::example_config()));
    provider.configure(&baton.url("/auth/callback"));
    provider.wait_ready(&baton.client).await;

    for (id, first) in [("ab1234", "Ada"), ("cd5678", "Charles")] {
        let created = baton
            .client
            .post(baton.url("/api/students"))
            .header("x-api-key", "admin-demo-key")
            .json(&json!({"id": id, "first_name": first, "last_name": "L",
                          "email": format!("{id}@example.edu")}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    }

    // Ada opens her record in the browser: sent to log in, and back once she has.
    let log_in = |user: &'static str, password: &'static str, page: &'static str| {
        let (provider, baton) = (&provider, &baton);
        async move {
            let mut browser = Browser::new();
            let first = browser.get(&baton.url(page), HTML).await;
            assert_eq!(first.status, 302, "{}", first.body);
            let login = browser.get(&baton.url(first.location()), HTML).await;
            assert_eq!(login.status, 302, "{}", login.body);
            let callback = browser
                .through_provider(
                    &provider.issuer,
                    login.location().to_owned(),
                    &baton.url("/auth/callback"),
                    user,
                    password,
                )
                .await;
            let back = browser.get(&callback, HTML).await;
            assert_eq!(back.status, 302, "{}", back.body);
            assert_eq!(back.location(), page);
            browser
        }
    };
    let json = "application/json";
    let mut ada = log_in("ab1234", "ada-password", "/api/students/ab1234").await;
    let own = ada.get(&baton.url("/api/students/ab1234"), json).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.json()["first_name"], "Ada");
    let patched = ada
        .send(Method::PATCH, &baton.url("/api/students/ab1234"), |r| {
            r.header("content-type", "application/merge-patch+json")
                .body(r#"{"last_name":"Lovelace"}"#)
        })
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.json()["last_name"], "Lovelace");
    for (method, path) in [
        (Method::GET, "/api/students/cd5678"),
        (Method::GET, "/api/students"),
        (Method::DELETE, "/api/students/ab1234"),
        (Method::GET, "/console/api/overview"),
    ] {
        let refused = ada.send(method.clone(), &baton.url(path), |r| r.header(ACCEPT, json)).await;
        assert_eq!(refused.status, 403, "{method} {path}: {}", refused.body);
    }
    let public = ada.get(&baton.url("/api/courses"), json).await;
    assert_eq!(public.status, 200);
    let me = ada.get(&baton.url("/auth/me"), json).await.json();
    assert_eq!((me["kind"].as_str(), me["subject"].as_str()), (Some("session"), Some("ab1234")));

    // The registrar (group admins) reaches every student.
    let mut admin = log_in("admin", "admin-password", "/api/students/cd5678").await;
    let other = admin.get(&baton.url("/api/students/cd5678"), json).await;
    assert_eq!(other.status, 200, "{}", other.body);
    let all = admin.get(&baton.url("/api/students"), json).await;
    assert_eq!(all.json()["items"].as_array().map(Vec::len), Some(2));
}
