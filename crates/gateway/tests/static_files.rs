//! The static-file server through a real HTTP server: an axum router whose fallback hands
//! what `/static/**` captured to `StaticFiles::serve`, bound on a loopback port, called
//! with reqwest (which decompresses nothing: its gzip feature is off) and, for paths a URL
//! library would normalise, with raw HTTP/1.1 over TCP.

use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use gateway::static_files::StaticError;
use gateway::{PathPattern, StaticFiles};
use reqwest::header::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LONG: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=60";
const BR: &[u8] = b"BROTLI-BYTES-OF-APP-JS";
const GZ: &[u8] = b"GZIP-BYTES-OF-APP-JS-LONGER";
const OUTSIDE: &str = "OUTSIDE-SECRET";

/// 1000 bytes, `abc...zabc...`.
fn app_js() -> Vec<u8> {
    (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect()
}

/// 300,000 bytes, several read chunks.
fn big() -> Vec<u8> {
    (0..300_000u32).map(|i| (i % 251) as u8).collect()
}

struct Fixture {
    base: PathBuf,
    root: PathBuf,
    url: String,
    addr: String,
    client: reqwest::Client,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A site in a fresh temporary directory, with a file and a directory beside its root.
fn site() -> (PathBuf, PathBuf) {
    let base = std::env::temp_dir().join(format!("baton-static-{}", uuid::Uuid::new_v4()));
    let root = base.join("site");
    write(&root.join("index.html"), b"<h1>home</h1>");
    write(&root.join("docs/index.html"), b"<h1>docs</h1>");
    std::fs::create_dir_all(root.join("empty")).unwrap();
    write(&root.join("assets/app.js"), &app_js());
    write(&root.join("assets/app.js.br"), BR);
    write(&root.join("assets/app.js.gz"), GZ);
    write(&root.join("assets/style.css"), b"body{}");
    write(&root.join("assets/style.css.gz"), b"GZ-CSS");
    write(&root.join("assets/logo.png"), b"\x89PNG....");
    write(&root.join("data.bin"), &big());
    write(&root.join("empty.txt"), b"");
    write(&root.join("my file.txt"), b"spaced");
    write(&root.join(".env"), OUTSIDE.as_bytes());
    write(&root.join(".hidden/x.txt"), OUTSIDE.as_bytes());
    write(&base.join("outside.txt"), OUTSIDE.as_bytes());
    write(&base.join("outside_dir/secret.txt"), OUTSIDE.as_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(base.join("outside.txt"), root.join("link-out")).unwrap();
        symlink("../outside_dir", root.join("linkdir-out")).unwrap();
        symlink("assets/app.js", root.join("alias.js")).unwrap();
        symlink(".env", root.join("public-env")).unwrap();
    }
    (base, root)
}

async fn start() -> Fixture {
    let (base, root) = site();
    // The more specific pattern comes second: specificity decides, not the order.
    let rules = vec![
        (PathPattern::parse("/**").unwrap(), SHORT.to_owned()),
        (PathPattern::parse("/assets/**").unwrap(), LONG.to_owned()),
    ];
    let files = StaticFiles::new(&root, rules).unwrap();
    let pattern = PathPattern::parse("/static/**").unwrap();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
        let (files, pattern) = (files.clone(), pattern.clone());
        async move {
            match pattern.captures(uri.path()) {
                Some((_, rest)) => files.serve(&rest, &method, &headers).await,
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    Fixture { base, root, url: format!("http://{addr}/static"), addr, client }
}

impl Fixture {
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        self.send(Method::GET, path, headers).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// The status and whole response of a GET sent as written, for paths reqwest would
    /// normalise and to see exactly which header lines are sent.
    async fn raw(&self, target: &str) -> (u16, String) {
        self.raw_with(target, "").await
    }

    /// As [`Fixture::raw`], with extra header lines (each ending in CRLF).
    async fn raw_with(&self, target: &str, lines: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(&self.addr).await.unwrap();
        let req =
            format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{lines}\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text.split(' ').nth(1).unwrap().parse().unwrap();
        (status, text)
    }
}

fn h<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn body(resp: reqwest::Response) -> Vec<u8> {
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn files_come_with_validators_types_and_the_most_specific_cache_control() {
    let f = start().await;
    let resp = f.get("/assets/app.js", &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(h(&resp, "content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(h(&resp, "cache-control"), Some(LONG));
    assert_eq!(h(&resp, "accept-ranges"), Some("bytes"));
    assert_eq!(h(&resp, "content-length"), Some("1000"));
    assert_eq!(h(&resp, "content-encoding"), None);
    let etag = h(&resp, "etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 24, "{etag}");
    let modified = std::fs::metadata(f.root.join("assets/app.js")).unwrap().modified().unwrap();
    let secs = modified.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_eq!(h(&resp, "last-modified").unwrap(), resources::precondition::format_http_date(secs));
    assert_eq!(body(resp).await, app_js());
    // The same content, the same tag (from the cache now).
    let again = f.get("/assets/app.js", &[]).await;
    assert_eq!(h(&again, "etag"), Some(etag.as_str()));

    let resp = f.get("/assets/logo.png", &[]).await;
    assert_eq!(h(&resp, "content-type"), Some("image/png"));
    assert_eq!(h(&resp, "cache-control"), Some(LONG));
    // No precompressed variant: no Vary.
    assert_eq!(h(&resp, "vary"), None);
    let resp = f.get("/data.bin", &[]).await;
    assert_eq!(h(&resp, "content-type"), Some("application/octet-stream"));
    assert_eq!(h(&resp, "cache-control"), Some(SHORT));
    assert_eq!(body(resp).await, big());
    let resp = f.get("/my%20file.txt", &[]).await;
    assert_eq!(h(&resp, "content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(body(resp).await, b"spaced");
    let resp = f.get("/empty.txt", &[]).await;
    assert_eq!((resp.status().as_u16(), h(&resp, "content-length")), (200, Some("0")));
}

#[tokio::test]
async fn without_a_matching_pattern_there_is_no_cache_control() {
    let (base, root) = site();
    let files =
        StaticFiles::new(&root, vec![(PathPattern::parse("/docs/**").unwrap(), "x".into())])
            .unwrap();
    let resp = files.serve("assets/app.js", &Method::GET, &HeaderMap::new()).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("cache-control").is_none());
    let resp = files.serve("docs", &Method::GET, &HeaderMap::new()).await;
    assert_eq!(resp.headers().get("cache-control").unwrap(), "x");
    let _ = std::fs::remove_dir_all(base);
}

#[tokio::test]
async fn construction_checks_the_root_and_the_values() {
    let (base, root) = site();
    assert!(matches!(
        StaticFiles::new(root.join("missing"), vec![]),
        Err(StaticError::Root { .. })
    ));
    assert!(matches!(
        StaticFiles::new(root.join("index.html"), vec![]),
        Err(StaticError::NotADirectory(_))
    ));
    let bad = vec![(PathPattern::parse("/**").unwrap(), "a\nb".to_owned())];
    assert!(matches!(StaticFiles::new(&root, bad), Err(StaticError::CacheControl { .. })));
    let _ = std::fs::remove_dir_all(base);
}

#[tokio::test]
async fn a_changed_file_gets_a_new_tag() {
    let f = start().await;
    let first = f.get("/assets/logo.png", &[]).await;
    let old = h(&first, "etag").unwrap().to_owned();
    std::fs::write(f.root.join("assets/logo.png"), b"\x89PNG-a-new-logo").unwrap();
    let resp = f.get("/assets/logo.png", &[("if-none-match", &old)]).await;
    assert_eq!(resp.status(), 200);
    assert_ne!(h(&resp, "etag"), Some(old.as_str()));
    assert_eq!(body(resp).await, b"\x89PNG-a-new-logo");
}

#[tokio::test]
async fn conditional_requests() {
    let f = start().await;
    let resp = f.get("/assets/logo.png", &[]).await;
    let etag = h(&resp, "etag").unwrap().to_owned();
    let last_modified = h(&resp, "last-modified").unwrap().to_owned();

    for headers in [
        vec![("if-none-match", etag.as_str())],
        vec![("if-none-match", "\"other\", W/\"x\"")],
        vec![("if-none-match", "*")],
        vec![("if-modified-since", last_modified.as_str())],
    ] {
        let resp = f.get("/assets/logo.png", &headers).await;
        let expected = if headers[0].1.contains("other") { 200 } else { 304 };
        assert_eq!(resp.status(), expected, "{headers:?}");
        if expected == 304 {
            assert_eq!(h(&resp, "etag"), Some(etag.as_str()));
            assert_eq!(h(&resp, "last-modified"), Some(last_modified.as_str()));
            assert_eq!(h(&resp, "cache-control"), Some(LONG));
            assert!(body(resp).await.is_empty());
        }
    }
    // A weak tag matches for If-None-Match (weak comparison).
    let weak = format!("W/{etag}");
    assert_eq!(f.get("/assets/logo.png", &[("if-none-match", &weak)]).await.status(), 304);
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_eq!(f.get("/assets/logo.png", &[("if-modified-since", old)]).await.status(), 200);
    // If-None-Match wins over If-Modified-Since.
    let both = [("if-none-match", "\"x\""), ("if-modified-since", last_modified.as_str())];
    assert_eq!(f.get("/assets/logo.png", &both).await.status(), 200);

    let resp = f.get("/assets/logo.png", &[("if-match", "\"nope\"")]).await;
    assert_eq!(resp.status(), 412);
    assert_eq!(h(&resp, "cache-control"), None);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["code"], "precondition_failed");
    assert_eq!(f.get("/assets/logo.png", &[("if-match", &etag)]).await.status(), 200);
    assert_eq!(f.get("/assets/logo.png", &[("if-match", &weak)]).await.status(), 412);
    assert_eq!(f.get("/assets/logo.png", &[("if-unmodified-since", old)]).await.status(), 412);
    let resp = f.get("/assets/logo.png", &[("if-unmodified-since", &last_modified)]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(f.get("/assets/logo.png", &[("if-match", "nope")]).await.status(), 400);
}

#[tokio::test]
async fn head_has_the_headers_of_get_and_no_body() {
    let f = start().await;
    let get = f.get("/assets/app.js", &[]).await;
    let head = f.send(Method::HEAD, "/assets/app.js", &[]).await;
    assert_eq!(head.status(), 200);
    for name in [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "cache-control",
        "accept-ranges",
        "vary",
    ] {
        assert_eq!(h(&head, name), h(&get, name), "{name}");
    }
    assert_eq!(h(&head, "content-length"), Some("1000"));
    assert!(body(head).await.is_empty());
    let etag = h(&get, "etag").unwrap().to_owned();
    let head = f.send(Method::HEAD, "/assets/app.js", &[("if-none-match", &etag)]).await;
    assert_eq!(head.status(), 304);
    let (status, text) =
        f.raw_with("/static/assets/app.js", &format!("If-None-Match: {etag}\r\n")).await;
    // A 304 has the validators and no body, nor a Content-Length of its own.
    assert_eq!(status, 304);
    assert!(text.contains(&format!("etag: {etag}\r\n")), "{text}");
    assert!(!text.contains("content-length") && text.ends_with("\r\n\r\n"), "{text}");
    // A streamed body is sent with its length, not chunked.
    let (status, text) = f.raw("/static/data.bin").await;
    assert_eq!(status, 200);
    assert!(text.contains("content-length: 300000\r\n"), "{}", &text[..200]);
    assert!(!text.contains("transfer-encoding"), "{}", &text[..200]);
}

#[tokio::test]
async fn single_ranges_are_partial_content() {
    let f = start().await;
    let all = app_js();
    for (range, start, end) in [
        ("bytes=0-9", 0, 9),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=10-5000", 10, 999),
    ] {
        let resp = f.get("/assets/app.js", &[("range", range)]).await;
        assert_eq!(resp.status(), 206, "{range}");
        assert_eq!(h(&resp, "content-range").unwrap(), format!("bytes {start}-{end}/1000"));
        assert_eq!(h(&resp, "content-length").unwrap(), (end - start + 1).to_string());
        assert_eq!(h(&resp, "content-type"), Some("text/javascript; charset=utf-8"));
        assert!(h(&resp, "etag").is_some());
        assert_eq!(body(resp).await, &all[start..=end], "{range}");
    }
    // Across several read chunks of a larger file.
    let resp = f.get("/data.bin", &[("range", "bytes=100000-250000")]).await;
    assert_eq!(resp.status(), 206);
    assert_eq!(body(resp).await, &big()[100_000..=250_000]);
    // HEAD ignores Range: ranges are defined for GET only.
    let resp = f.send(Method::HEAD, "/assets/app.js", &[("range", "bytes=0-9")]).await;
    assert_eq!((resp.status().as_u16(), h(&resp, "content-length")), (200, Some("1000")));
}

#[tokio::test]
async fn other_ranges() {
    let f = start().await;
    for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=2000-, 3000-"] {
        let resp = f.get("/assets/app.js", &[("range", range)]).await;
        assert_eq!(resp.status(), 416, "{range}");
        assert_eq!(h(&resp, "content-range"), Some("bytes */1000"));
    }
    // Several ranges: the whole file (allowed by RFC 9110 section 14.2).
    let resp = f.get("/assets/app.js", &[("range", "bytes=0-1, 5-6")]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body(resp).await, app_js());
    // A malformed Range or another unit is ignored.
    for range in ["bytes=5-2", "bytes=x", "lines=1-2", "bytes"] {
        let resp = f.get("/assets/app.js", &[("range", range)]).await;
        assert_eq!(resp.status(), 200, "{range}");
        assert_eq!(h(&resp, "content-range"), None);
    }
}

#[tokio::test]
async fn if_range_decides_between_the_range_and_the_whole_file() {
    let f = start().await;
    let resp = f.get("/assets/app.js", &[]).await;
    let etag = h(&resp, "etag").unwrap().to_owned();
    let last_modified = h(&resp, "last-modified").unwrap().to_owned();
    let range = ("range", "bytes=0-3");
    let weak = format!("W/{etag}");
    let cases = [
        (etag.as_str(), 206),
        (last_modified.as_str(), 206),
        ("\"stale\"", 200),
        (weak.as_str(), 200),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 200),
        ("not a date", 200),
    ];
    for (if_range, status) in cases {
        let resp = f.get("/assets/app.js", &[range, ("if-range", if_range)]).await;
        assert_eq!(resp.status(), status, "{if_range}");
        let expected = if status == 206 { app_js()[..4].to_vec() } else { app_js() };
        assert_eq!(body(resp).await, expected, "{if_range}");
    }
}

#[tokio::test]
async fn precompressed_variants_follow_accept_encoding() {
    let f = start().await;
    let identity = f.get("/assets/app.js", &[]).await;
    let identity_tag = h(&identity, "etag").unwrap().to_owned();
    assert_eq!(h(&identity, "vary"), Some("Accept-Encoding"));
    assert_eq!(body(identity).await, app_js());

    let cases: [(&str, Option<&str>, &[u8]); 7] = [
        ("gzip, deflate, br", Some("br"), BR),
        ("br;q=0, gzip", Some("gzip"), GZ),
        ("br;q=0.5, gzip;q=0.8", Some("gzip"), GZ),
        ("gzip;q=0.8, br;q=0.9", Some("br"), BR),
        ("identity", None, b""),
        ("*;q=0", None, b""),
        ("zstd", None, b""),
    ];
    let mut tags = vec![identity_tag.clone()];
    for (accept, coding, bytes) in cases {
        let resp = f.get("/assets/app.js", &[("accept-encoding", accept)]).await;
        assert_eq!(resp.status(), 200, "{accept}");
        assert_eq!(h(&resp, "content-encoding"), coding, "{accept}");
        assert_eq!(h(&resp, "vary"), Some("Accept-Encoding"), "{accept}");
        assert_eq!(h(&resp, "content-type"), Some("text/javascript; charset=utf-8"));
        assert_eq!(h(&resp, "cache-control"), Some(LONG));
        let tag = h(&resp, "etag").unwrap().to_owned();
        let got = body(resp).await;
        if coding.is_some() {
            assert_eq!(got, bytes, "{accept}");
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        } else {
            assert_eq!(got, app_js(), "{accept}");
            assert_eq!(tag, identity_tag);
        }
    }
    // Three representations, three tags.
    assert_eq!(tags.len(), 3);

    // Only a .gz beside style.css: br alone gets the identity, with Vary still.
    let resp = f.get("/assets/style.css", &[("accept-encoding", "br")]).await;
    assert_eq!((h(&resp, "content-encoding"), h(&resp, "vary")), (None, Some("Accept-Encoding")));
    assert_eq!(body(resp).await, b"body{}");
    let resp = f.get("/assets/style.css", &[("accept-encoding", "br, gzip")]).await;
    assert_eq!(h(&resp, "content-encoding"), Some("gzip"));
    assert_eq!(h(&resp, "content-type"), Some("text/css; charset=utf-8"));

    // Ranges and preconditions apply to the selected representation.
    let br = [("accept-encoding", "br")];
    let resp = f.get("/assets/app.js", &[br[0], ("range", "bytes=0-6")]).await;
    assert_eq!(resp.status(), 206);
    assert_eq!(h(&resp, "content-range").unwrap(), format!("bytes 0-6/{}", BR.len()));
    assert_eq!(h(&resp, "content-encoding"), Some("br"));
    assert_eq!(body(resp).await, &BR[..7]);
    let br_tag = h(&f.get("/assets/app.js", &br).await, "etag").unwrap().to_owned();
    let resp = f.get("/assets/app.js", &[br[0], ("if-none-match", &br_tag)]).await;
    assert_eq!((resp.status().as_u16(), h(&resp, "vary")), (304, Some("Accept-Encoding")));
    let resp = f.get("/assets/app.js", &[("if-none-match", &br_tag)]).await;
    assert_eq!(resp.status(), 200);
    let resp = f.get("/assets/app.js", &[br[0], ("range", "bytes=500-")]).await;
    assert_eq!((resp.status().as_u16(), h(&resp, "vary")), (416, Some("Accept-Encoding")));

    // A variant asked for by its own name is a file like any other.
    let resp = f.get("/assets/app.js.gz", &[("accept-encoding", "gzip")]).await;
    assert_eq!(h(&resp, "content-type"), Some("application/gzip"));
    assert_eq!((h(&resp, "content-encoding"), h(&resp, "vary")), (None, None));
    assert_eq!(body(resp).await, GZ);
}

#[tokio::test]
async fn directories_serve_their_index() {
    let f = start().await;
    for (path, bytes) in [
        ("", &b"<h1>home</h1>"[..]),
        ("/", b"<h1>home</h1>"),
        ("/docs", b"<h1>docs</h1>"),
        ("/docs/", b"<h1>docs</h1>"),
    ] {
        let resp = f.get(path, &[]).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(h(&resp, "content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(h(&resp, "cache-control"), Some(SHORT));
        assert_eq!(body(resp).await, bytes, "{path}");
    }
    for path in ["/empty", "/missing.txt", "/assets/app.js/x", "/assets/nope/x"] {
        let resp = f.get(path, &[]).await;
        assert_eq!(resp.status(), 404, "{path}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["code"], "not_found");
    }
    #[cfg(unix)]
    {
        // A symlink that stays inside the root is served.
        let resp = f.get("/alias.js", &[]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(body(resp).await, app_js());
    }
}

#[tokio::test]
async fn nothing_outside_the_root_or_hidden_is_served() {
    let f = start().await;
    let mut targets = vec![
        "/static/../outside.txt",
        "/static/..%2Foutside.txt",
        "/static/..%2f..%2fsite%2findex.html",
        "/static/%2e%2e/outside.txt",
        "/static/%2E%2E/outside.txt",
        "/static/assets/%2e%2e/%2e%2e/outside.txt",
        "/static/assets/../../outside.txt",
        "/static/./index.html",
        "/static/%2e/index.html",
        "/static/..%5Coutside.txt",
        "/static/assets%2Fapp.js",
        "/static/index.html%00",
        "/static/index%00.html",
        "/static/%00",
        "/static/.env",
        "/static/%2eenv",
        "/static/.hidden/x.txt",
        "/static/%2ehidden/x.txt",
        "/static/assets//app.js",
        "/static/%zz",
    ];
    if cfg!(unix) {
        targets.extend([
            "/static/link-out",
            "/static/linkdir-out/secret.txt",
            "/static/linkdir-out",
            "/static/public-env",
        ]);
    }
    for target in targets {
        let (status, text) = f.raw(target).await;
        assert_eq!(status, 404, "{target}: {text}");
        // Refused by the server of static files, not by the router.
        assert!(text.contains("\"not_found\""), "{target}: {text}");
        assert!(!text.contains(OUTSIDE), "{target}");
    }
    // The raw client does reach files.
    assert_eq!(f.raw("/static/assets/app.js").await.0, 200);
}

#[tokio::test]
async fn only_get_and_head() {
    let f = start().await;
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS] {
        let resp = f.send(method.clone(), "/assets/app.js", &[]).await;
        assert_eq!(resp.status(), 405, "{method}");
        assert_eq!(resp.headers().get("allow"), Some(&HeaderValue::from_static("GET, HEAD")));
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["code"], "method_not_allowed");
    }
}
