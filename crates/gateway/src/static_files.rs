//! Static files: a directory served as a CDN edge serves it.
//!
//! [`StaticFiles::serve`] answers `GET` and `HEAD` for the part of a URL path under its
//! route:
//!
//! - **Paths.** The path is percent-decoded segment by segment. A segment that is empty,
//!   `.` or `..`, hidden (starts with `.`), or holds a NUL, a `/` or a `\` is refused with
//!   404, and so is a path whose canonical form (symlinks resolved) leaves the root or
//!   passes through a hidden name. A directory serves its `index.html`.
//! - **Validators.** A strong `ETag` from the content (the first 16 bytes of its SHA-256,
//!   base64url, as `resources::etag` tags documents), hashed once per (path, length,
//!   modification time) and kept in memory; `Last-Modified` from the modification time.
//!   Files should be replaced by renaming a new file over the old one: a file rewritten in
//!   place while it is served can be sent with the tag of its other content.
//! - **Preconditions** (RFC 9110 section 13) through [`resources::precondition::evaluate`]:
//!   412 for `If-Match` / `If-Unmodified-Since`, 304 for `If-None-Match` /
//!   `If-Modified-Since`. A malformed entity-tag list is a 400, as in the resources API.
//! - **Ranges** (RFC 9110 section 14), for `GET` only (the RFC defines no other): one range
//!   of the forms `a-b`, `a-` or `-n` is a 206; a request for several ranges is answered
//!   with the whole representation, 200, which the RFC allows (no `multipart/byteranges`);
//!   none satisfiable is a 416 with `Content-Range: bytes */len`; a malformed `Range` is
//!   ignored. `If-Range` holds for an equal strong entity tag or a date equal to
//!   `Last-Modified`; otherwise the range is ignored and the whole file is sent.
//! - **Precompressed variants.** `file.br` and `file.gz` beside `file` are served, with
//!   `Content-Encoding`, to a client whose `Accept-Encoding` takes them: the highest q-value
//!   wins, `br` on a tie, and `identity` only wins when the client names it (or `*`) with a
//!   higher q-value. A variant has its own `ETag` and byte ranges. Every response for a
//!   file with variants carries `Vary: Accept-Encoding`. A request without
//!   `Accept-Encoding` gets the identity representation.
//! - `Cache-Control` is the value of the most specific configured pattern matching the
//!   file's path under the root (`/assets/app.js`); it is sent on 200, 206 and 304, never
//!   on an error, which a shared cache must not keep for everyone.
//!
//! Bodies are streamed from the file in chunks. An I/O error other than "not found" is a
//! 500, logged with its detail, which the client never sees.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use resources::etag::EntityTag;
use resources::precondition::{self, Conditions, Current, Outcome};
use sha2::{Digest, Sha256};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::error;
use crate::pattern::PathPattern;

/// The size of the chunks a body is read and hashed in.
const CHUNK: usize = 64 * 1024;

/// How many entity tags are kept; the cache starts over when it is full.
const MAX_CACHED_TAGS: usize = 65_536;

/// The longest name served, in bytes: the limit of common file systems, so a longer name
/// is a 404 rather than an error of the file system.
const MAX_NAME: usize = 255;

/// The longest decoded path served, in bytes, well below the platforms' path limits.
const MAX_PATH: usize = 1024;

/// A static-file server that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum StaticError {
    #[error("static root {path:?}: {source}")]
    Root { path: PathBuf, source: io::Error },
    #[error("static root {0:?} is not a directory")]
    NotADirectory(PathBuf),
    #[error("Cache-Control value {value:?} for {pattern} is not a valid header value")]
    CacheControl { pattern: String, value: String },
}

/// Serves the files under one directory; cheap to clone.
#[derive(Clone)]
pub struct StaticFiles {
    inner: Arc<Inner>,
}

/// The root and the rules; not the cache of tags.
impl fmt::Debug for StaticFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticFiles")
            .field("root", &self.inner.root)
            .field("cache_control", &self.inner.cache_control)
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// The canonical root: every file served resolves to a path under it.
    root: PathBuf,
    /// The `Cache-Control` rules, the most specific first (the configured order on a tie).
    cache_control: Vec<(PathPattern, HeaderValue)>,
    /// Entity tags by canonical path, valid while the length and modification time are
    /// those they were computed for; saves rehashing a file per request.
    tags: Mutex<HashMap<PathBuf, CachedTag>>,
}

struct CachedTag {
    len: u64,
    modified: SystemTime,
    tag: EntityTag,
}

/// A content coding a precompressed variant is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Br,
    Gzip,
}

impl Coding {
    /// In order of preference on equal q-values.
    const ALL: [Coding; 2] = [Coding::Br, Coding::Gzip];

    fn name(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The suffix of the variant's file name.
    fn suffix(self) -> &'static str {
        match self {
            Coding::Br => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// A path under the root, resolved.
struct Resolved {
    canonical: PathBuf,
    metadata: std::fs::Metadata,
}

/// The representation chosen for a request: the file or one of its variants.
struct Representation {
    path: PathBuf,
    coding: Option<Coding>,
}

impl StaticFiles {
    /// Serves `root`, which must exist and be a directory. `cache_control` gives
    /// `Cache-Control` values by path pattern; the most specific pattern (see
    /// [`PathPattern::specificity_cmp`]) matching the file's path under the root, with a
    /// leading `/` (`/assets/app.js`), decides, the earlier one between patterns of the same
    /// shape. A file no pattern matches has no `Cache-Control`.
    pub fn new(
        root: impl Into<PathBuf>,
        cache_control: Vec<(PathPattern, String)>,
    ) -> Result<Self, StaticError> {
        let root = root.into();
        let canonical = std::fs::canonicalize(&root)
            .map_err(|source| StaticError::Root { path: root.clone(), source })?;
        if !canonical.is_dir() {
            return Err(StaticError::NotADirectory(root));
        }
        let mut rules = Vec::with_capacity(cache_control.len());
        for (pattern, value) in cache_control {
            let Ok(v) = HeaderValue::from_str(&value) else {
                return Err(StaticError::CacheControl { pattern: pattern.as_str().into(), value });
            };
            rules.push((pattern, v));
        }
        // A stable sort keeps the configured order between patterns of the same shape.
        rules.sort_by(|a, b| a.0.specificity_cmp(&b.0));
        Ok(Self {
            inner: Arc::new(Inner {
                root: canonical,
                cache_control: rules,
                tags: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The directory served (resolved).
    pub fn root(&self) -> &std::path::Path {
        &self.inner.root
    }

    /// Answers a request for `rest`, the part of the URL path under the route as
    /// [`PathPattern::captures`] gives it: no leading `/`, still percent-encoded, maybe `""`.
    pub async fn serve(&self, rest: &str, method: &Method, headers: &HeaderMap) -> Response {
        let method = if *method == Method::GET {
            precondition::Method::Get
        } else if *method == Method::HEAD {
            precondition::Method::Head
        } else {
            let mut resp = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "static files answer GET and HEAD only",
            );
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        };
        match self.respond(rest, method, headers).await {
            Ok(Some(resp)) => resp,
            Ok(None) => not_found(),
            Err(e) => {
                tracing::error!(path = rest, error = %e, "static file");
                error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }

    /// The response, `None` for a 404.
    async fn respond(
        &self,
        rest: &str,
        method: precondition::Method,
        headers: &HeaderMap,
    ) -> io::Result<Option<Response>> {
        let Some(mut segments) = sanitize(rest) else {
            return Ok(None);
        };
        let Some(mut found) = self.resolve(&segments).await? else {
            return Ok(None);
        };
        if found.metadata.is_dir() {
            segments.push("index.html".to_owned());
            match self.resolve(&segments).await? {
                Some(index) => found = index,
                None => return Ok(None),
            }
        }
        // Not a directory's index that is itself a directory, nor a FIFO or a device.
        if !found.metadata.is_file() {
            return Ok(None);
        }
        let Some(name) = segments.last().cloned() else {
            return Ok(None);
        };

        let mut available = Vec::new();
        for coding in Coding::ALL {
            if name.len() + coding.suffix().len() > MAX_NAME {
                continue;
            }
            let mut variant = segments.clone();
            variant.pop();
            variant.push(format!("{name}{}", coding.suffix()));
            if let Some(v) = self.resolve(&variant).await? {
                if v.metadata.is_file() {
                    available.push((coding, v.canonical));
                }
            }
        }
        let has_variants = !available.is_empty();
        let accept = AcceptEncoding::parse(header_values(headers, &header::ACCEPT_ENCODING));
        let chosen = accept.choose(available.iter().map(|(c, _)| *c));
        let representation = match available.into_iter().find(|(c, _)| Some(*c) == chosen) {
            Some((coding, path)) => Representation { path, coding: Some(coding) },
            None => Representation { path: found.canonical, coding: None },
        };

        let file_path = format!("/{}", segments.join("/"));
        let cache_control = self
            .inner
            .cache_control
            .iter()
            .find(|(p, _)| p.captures(&file_path).is_some())
            .map(|(_, v)| v.clone());
        let content_type = HeaderValue::from_static(content_type(&name));

        self.send(Answer {
            representation,
            method,
            headers,
            content_type,
            cache_control,
            vary: has_variants,
        })
        .await
    }

    /// Opens the chosen representation, decides preconditions and ranges, and answers.
    async fn send(&self, s: Answer<'_>) -> io::Result<Option<Response>> {
        let mut file = match File::open(&s.representation.path).await {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let metadata = file.metadata().await?;
        if !metadata.is_file() {
            return Ok(None);
        }
        let len = metadata.len();
        let modified = metadata.modified()?;
        let last_modified = unix_seconds(modified);
        let tag = self.entity_tag(&s.representation.path, &mut file, len, modified).await?;

        let mut common = HeaderMap::new();
        if s.vary {
            common.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        let mut validators = common.clone();
        insert(&mut validators, header::ETAG, &tag.to_string());
        insert(
            &mut validators,
            header::LAST_MODIFIED,
            &precondition::format_http_date(last_modified),
        );
        if let Some(cc) = s.cache_control {
            validators.insert(header::CACHE_CONTROL, cc);
        }

        let conditions = match Conditions::from_headers(
            joined(s.headers, &header::IF_MATCH).as_deref(),
            joined(s.headers, &header::IF_NONE_MATCH).as_deref(),
            single(s.headers, &header::IF_MODIFIED_SINCE),
            single(s.headers, &header::IF_UNMODIFIED_SINCE),
        ) {
            Ok(c) => c,
            Err(e) => {
                let resp = error(StatusCode::BAD_REQUEST, "invalid_precondition", e.to_string());
                return Ok(Some(with_headers(resp, common)));
            }
        };
        let current = Current { etag: &tag, last_modified };
        match precondition::evaluate(s.method, &conditions, Some(current)) {
            Outcome::Proceed => {}
            Outcome::NotModified => {
                let resp = StatusCode::NOT_MODIFIED.into_response();
                return Ok(Some(with_headers(resp, validators)));
            }
            Outcome::PreconditionFailed => {
                let resp = error(
                    StatusCode::PRECONDITION_FAILED,
                    "precondition_failed",
                    "a precondition of the request does not hold",
                );
                return Ok(Some(with_headers(resp, common)));
            }
        }

        let mut range = RangeOutcome::Full;
        if s.method == precondition::Method::Get {
            let if_range_holds = match single(s.headers, &header::IF_RANGE) {
                Some(v) => if_range_holds(v, &tag, last_modified),
                // An If-Range that is not text cannot match.
                None => !s.headers.contains_key(header::IF_RANGE),
            };
            if let (Some(value), true) = (single(s.headers, &header::RANGE), if_range_holds) {
                if let Some(ranges) = parse_range(value) {
                    range = select_range(&ranges, len);
                }
            }
        }

        let mut headers = validators;
        headers.insert(header::CONTENT_TYPE, s.content_type);
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(coding) = s.representation.coding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
        }
        let (status, start, count) = match range {
            RangeOutcome::Full => (StatusCode::OK, 0, len),
            RangeOutcome::Partial { start, end } => {
                insert(&mut headers, header::CONTENT_RANGE, &format!("bytes {start}-{end}/{len}"));
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            RangeOutcome::Unsatisfiable => {
                let resp = error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    "no requested range overlaps the file",
                );
                let mut h = common;
                h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                insert(&mut h, header::CONTENT_RANGE, &format!("bytes */{len}"));
                return Ok(Some(with_headers(resp, h)));
            }
        };
        insert(&mut headers, header::CONTENT_LENGTH, &count.to_string());
        let body = if s.method == precondition::Method::Head || count == 0 {
            Body::empty()
        } else {
            file.seek(io::SeekFrom::Start(start)).await?;
            stream(file, count)
        };
        let mut resp = (status, body).into_response();
        *resp.headers_mut() = headers;
        Ok(Some(resp))
    }

    /// The canonical path and metadata of `segments` under the root; `None` when it does
    /// not exist, leaves the root or passes through a hidden name.
    async fn resolve(&self, segments: &[String]) -> io::Result<Option<Resolved>> {
        let root = &self.inner.root;
        let path: PathBuf = segments.iter().fold(root.clone(), |p, s| p.join(s));
        let canonical = match tokio::fs::canonicalize(&path).await {
            Ok(c) => c,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Ok(relative) = canonical.strip_prefix(root) else {
            return Ok(None);
        };
        let inside = relative.components().all(|c| match c {
            Component::Normal(name) => !name.as_encoded_bytes().starts_with(b"."),
            _ => false,
        });
        if !inside {
            return Ok(None);
        }
        let metadata = match tokio::fs::metadata(&canonical).await {
            Ok(m) => m,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(Resolved { canonical, metadata }))
    }

    /// The strong tag of the open file's content, from the cache or hashed. Leaves the
    /// file's position anywhere.
    async fn entity_tag(
        &self,
        path: &Path,
        file: &mut File,
        len: u64,
        modified: SystemTime,
    ) -> io::Result<EntityTag> {
        {
            let tags = self.inner.tags.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = tags.get(path).filter(|c| c.len == len && c.modified == modified) {
                return Ok(c.tag.clone());
            }
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0; CHUNK];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let digest = hasher.finalize();
        let tag = EntityTag::strong(&URL_SAFE_NO_PAD.encode(&digest[..16]))
            .ok_or_else(|| io::Error::other("a base64url entity tag was refused"))?;
        // A file that changed while it was hashed is not cached under the old metadata.
        let after = file.metadata().await?;
        if after.len() == len && after.modified()? == modified {
            let mut tags = self.inner.tags.lock().unwrap_or_else(PoisonError::into_inner);
            if tags.len() >= MAX_CACHED_TAGS {
                tags.clear();
            }
            tags.insert(path.to_owned(), CachedTag { len, modified, tag: tag.clone() });
        }
        Ok(tag)
    }
}

/// What [`StaticFiles::send`] needs to answer.
struct Answer<'a> {
    representation: Representation,
    method: precondition::Method,
    headers: &'a HeaderMap,
    content_type: HeaderValue,
    cache_control: Option<HeaderValue>,
    vary: bool,
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such file")
}

/// Errors that mean the path names nothing: not found, or a file used as a directory.
fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    // Every value put here is a formatted number, date or entity tag: visible ASCII.
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

fn with_headers(mut resp: Response, headers: HeaderMap) -> Response {
    resp.headers_mut().extend(headers);
    resp
}

/// The body: `count` bytes from the file's position, in chunks. A file that turns out
/// shorter ends the stream with an error, so the client sees a cut response.
fn stream(file: File, count: u64) -> Body {
    let state = (file, count);
    let chunks = futures::stream::try_unfold(state, |(mut file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let mut buf = vec![0; want];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file got shorter"));
        }
        buf.truncate(n);
        Ok::<_, io::Error>(Some((Bytes::from(buf), (file, remaining - n as u64))))
    });
    Body::from_stream(chunks)
}

/// Seconds since the Unix epoch, negative before it.
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            // 1.5 s before the epoch is in the second that starts 2 s before it.
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -whole - i64::from(d.subsec_nanos() > 0)
        }
    }
}

/// The values of a field that arrived on several lines, joined with commas; `None` when
/// absent. A value that is not visible ASCII is kept as an empty element, which the parser
/// of the field sees and refuses.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    Some(values.map(|v| v.to_str().unwrap_or("\u{0}")).collect::<Vec<_>>().join(", "))
}

/// The value of a field that must appear once; `None` when absent, repeated or not text.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

/// The text values of a field, for list fields such as `Accept-Encoding`.
fn header_values<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<Vec<&'a str>> {
    let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty() || headers.contains_key(name)).then_some(values)
}

/// The decoded segments of `rest`, or `None` when it must not be served: an empty
/// segment, `.` and `..`, hidden names, NUL, `/` or `\` (also percent-encoded), invalid
/// percent-encoding or UTF-8, anything the platform reads as more than a plain name, or
/// names and paths longer than [`MAX_NAME`] and [`MAX_PATH`].
fn sanitize(rest: &str) -> Option<Vec<String>> {
    if rest.is_empty() {
        return Some(Vec::new());
    }
    if rest.len() > 3 * MAX_PATH {
        return None;
    }
    let segments: Vec<String> = rest
        .split('/')
        .map(|raw| {
            let segment = percent_decode(raw)?;
            let plain = !segment.is_empty()
                && segment.len() <= MAX_NAME
                && !segment.starts_with('.')
                && !segment.contains(['\0', '/', '\\'])
                && matches!(
                    Path::new(&segment).components().collect::<Vec<_>>().as_slice(),
                    [Component::Normal(n)] if n.len() == segment.len()
                );
            plain.then_some(segment)
        })
        .collect::<Option<_>>()?;
    let len = segments.iter().map(|s| s.len() + 1).sum::<usize>();
    (len <= MAX_PATH).then_some(segments)
}

/// Decodes `%XX` escapes; `None` for a `%` not followed by two hex digits or a result that
/// is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The media type of a file name, by extension.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "json" | "map" => "application/json",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "pdf" => "application/pdf",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

/// A parsed `Accept-Encoding` (RFC 9110 section 12.5.3), as far as the codings served
/// here go. q-values are in thousandths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct AcceptEncoding {
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl AcceptEncoding {
    /// Parses the field's lines; `None` (no field) accepts no coding. An element with an
    /// invalid q-value is skipped; for a coding named twice the first counts.
    fn parse(lines: Option<Vec<&str>>) -> AcceptEncoding {
        let mut accept = AcceptEncoding::default();
        for element in lines.into_iter().flatten().flat_map(|l| l.split(',')) {
            let mut parts = element.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if coding.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for param in parts {
                let Some((name, value)) = param.split_once('=') else {
                    q = None;
                    break;
                };
                if name.trim().eq_ignore_ascii_case("q") {
                    q = parse_qvalue(value.trim());
                }
            }
            let Some(q) = q else {
                continue;
            };
            let slot = match coding.as_str() {
                "br" => &mut accept.br,
                "gzip" | "x-gzip" => &mut accept.gzip,
                "identity" => &mut accept.identity,
                "*" => &mut accept.any,
                _ => continue,
            };
            slot.get_or_insert(q);
        }
        accept
    }

    /// The q-value of a coding: its own, else that of `*`, else 0.
    fn q(&self, coding: Coding) -> u16 {
        let own = match coding {
            Coding::Br => self.br,
            Coding::Gzip => self.gzip,
        };
        own.or(self.any).unwrap_or(0)
    }

    /// The coding to serve among those `available`; `None` for the identity. A coding with
    /// q=0 is refused; the identity, acceptable unless refused, wins over the best coding
    /// only when the client gives it (by name or by `*`) a higher q-value.
    fn choose(&self, available: impl IntoIterator<Item = Coding>) -> Option<Coding> {
        let available: Vec<Coding> = available.into_iter().collect();
        let mut best: Option<(Coding, u16)> = None;
        for coding in Coding::ALL.into_iter().filter(|c| available.contains(c)) {
            let q = self.q(coding);
            if q > 0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((coding, q));
            }
        }
        let (coding, q) = best?;
        match self.identity.or(self.any) {
            Some(identity) if identity > q => None,
            _ => Some(coding),
        }
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = frac.bytes().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'))
        * 10u16.pow(3 - frac.len() as u32);
    match whole {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

/// One `range-spec` of a `bytes` range set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteRange {
    /// `first-last`.
    FromTo(u64, u64),
    /// `first-`.
    From(u64),
    /// `-length`: the last `length` bytes.
    Suffix(u64),
}

/// What a range request asks of a representation of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeOutcome {
    /// 200 with the whole representation.
    Full,
    /// 206 with the bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 416.
    Unsatisfiable,
}

/// Parses a `Range` field value (RFC 9110 section 14.2); `None` for another unit or a
/// malformed value (including a `last` below its `first`), which the server ignores.
/// Numbers too large for a u64 saturate.
fn parse_range(value: &str) -> Option<Vec<ByteRange>> {
    let (unit, set) = value.trim_matches([' ', '\t']).split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut ranges = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        let (first, last) = element.split_once('-')?;
        let range = match (number(first), number(last)) {
            (None, Some(n)) if first.is_empty() => ByteRange::Suffix(n),
            (Some(a), None) if last.is_empty() => ByteRange::From(a),
            (Some(a), Some(b)) if a <= b => ByteRange::FromTo(a, b),
            _ => return None,
        };
        ranges.push(range);
    }
    (!ranges.is_empty()).then_some(ranges)
}

/// `1*DIGIT`, saturating.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}

/// Decides a parsed range set against a representation of `len` bytes. One range is
/// served as asked (clamped to the end); several are answered with the whole
/// representation when any is satisfiable. An empty representation has no byte to
/// range over: a suffix range (the only satisfiable form, RFC 9110 section 14.1.1) gets
/// the whole, empty, representation.
fn select_range(ranges: &[ByteRange], len: u64) -> RangeOutcome {
    let satisfiable = |r: &ByteRange| match *r {
        ByteRange::FromTo(a, _) | ByteRange::From(a) => a < len,
        ByteRange::Suffix(n) => n > 0,
    };
    match ranges {
        [one] if !satisfiable(one) => RangeOutcome::Unsatisfiable,
        [_] if len == 0 => RangeOutcome::Full,
        [ByteRange::FromTo(a, b)] => RangeOutcome::Partial { start: *a, end: (*b).min(len - 1) },
        [ByteRange::From(a)] => RangeOutcome::Partial { start: *a, end: len - 1 },
        [ByteRange::Suffix(n)] => {
            RangeOutcome::Partial { start: len - (*n).min(len), end: len - 1 }
        }
        many if many.iter().any(satisfiable) => RangeOutcome::Full,
        _ => RangeOutcome::Unsatisfiable,
    }
}

/// Whether an `If-Range` value lets the range be served: an entity tag equal to the
/// current one by the strong comparison, or an HTTP-date equal to `Last-Modified`.
fn if_range_holds(value: &str, current: &EntityTag, last_modified: i64) -> bool {
    let v = value.trim_matches([' ', '\t']);
    if v.starts_with('"') || v.starts_with("W/") {
        EntityTag::parse(v).is_ok_and(|t| t.strong_eq(current))
    } else {
        precondition::parse_http_date(v) == Some(last_modified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(rest: &str) -> Option<Vec<String>> {
        sanitize(rest)
    }

    #[test]
    fn paths_are_decoded_and_refused_when_unsafe() {
        assert_eq!(segs(""), Some(vec![]));
        assert_eq!(segs("assets/app.js").unwrap(), ["assets", "app.js"]);
        assert_eq!(segs("my%20file.txt").unwrap(), ["my file.txt"]);
        assert_eq!(segs("caf%C3%A9").unwrap(), ["café"]);
        assert_eq!(segs("a+b").unwrap(), ["a+b"]);
        assert_eq!(segs(&"a".repeat(255)).unwrap(), ["a".repeat(255)]);
        for bad in [
            "..",
            ".",
            "a/../b",
            "a/./b",
            "%2e%2e",
            "%2E%2E/secret",
            "..%2Fsecret",
            "a%2F..%2F..%2Fetc",
            "a%2fb",
            &"a".repeat(256),
            &["abc"; 300].join("/"),
            "..%5C..%5Cwin.ini",
            "a\\b",
            "a%00.txt",
            "a\0b",
            ".env",
            "%2eenv",
            "dir/.git/config",
            "a//b",
            "a/",
            "%",
            "%4",
            "%zz",
            "%ff",
        ] {
            assert_eq!(segs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%41%62c").as_deref(), Some("aAbc"));
        assert_eq!(percent_decode("%e2%82%AC").as_deref(), Some("€"));
        assert_eq!(percent_decode("100%"), None);
        assert_eq!(percent_decode("%c3"), None);
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("APP.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("m.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("a.woff2"), "font/woff2");
        assert_eq!(content_type("app.js.map"), "application/json");
        assert_eq!(content_type("README"), "application/octet-stream");
        assert_eq!(content_type("x.unknown"), "application/octet-stream");
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.25"), Some(250));
        assert_eq!(parse_qvalue("0.001"), Some(1));
        assert_eq!(parse_qvalue("0."), Some(0));
        for bad in ["", "1.5", "1.001", "2", "0.0001", "-1", "0.a", ".5", "q"] {
            assert_eq!(parse_qvalue(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn accept_encoding_picks_the_preferred_variant() {
        let both = [Coding::Br, Coding::Gzip];
        let choose = |v: Option<&str>, avail: &[Coding]| {
            AcceptEncoding::parse(v.map(|v| vec![v])).choose(avail.iter().copied())
        };
        assert_eq!(choose(None, &both), None);
        assert_eq!(choose(Some(""), &both), None);
        assert_eq!(choose(Some("gzip, deflate, br, zstd"), &both), Some(Coding::Br));
        assert_eq!(choose(Some("gzip"), &both), Some(Coding::Gzip));
        assert_eq!(choose(Some("GZIP"), &both), Some(Coding::Gzip));
        assert_eq!(choose(Some("x-gzip"), &both), Some(Coding::Gzip));
        assert_eq!(choose(Some("br"), &[Coding::Gzip]), None);
        assert_eq!(choose(Some("br;q=0, gzip"), &both), Some(Coding::Gzip));
        assert_eq!(choose(Some("br ; q=0.5, gzip;q=0.9"), &both), Some(Coding::Gzip));
        assert_eq!(choose(Some("br;q=0.9, gzip;q=0.9"), &both), Some(Coding::Br));
        assert_eq!(choose(Some("gzip;q=0"), &[Coding::Gzip]), None);
        assert_eq!(choose(Some("*"), &both), Some(Coding::Br));
        assert_eq!(choose(Some("*;q=0"), &both), None);
        assert_eq!(choose(Some("*;q=0, gzip"), &both), Some(Coding::Gzip));
        assert_eq!(choose(Some("identity"), &both), None);
        assert_eq!(choose(Some("gzip;q=0.5, identity"), &both), None);
        assert_eq!(choose(Some("gzip;q=0.5, identity;q=0.5"), &both), Some(Coding::Gzip));
        assert_eq!(choose(Some("gzip;q=0.5"), &both), Some(Coding::Gzip));
        // An invalid q-value drops its element; the first mention of a coding counts.
        assert_eq!(choose(Some("br;q=2, gzip"), &both), Some(Coding::Gzip));
        assert_eq!(choose(Some("br;q=0, br"), &both), None);
        // Several lines are one list.
        let two = AcceptEncoding::parse(Some(vec!["br;q=0", "gzip"]));
        assert_eq!(two.choose(both), Some(Coding::Gzip));
    }

    #[test]
    fn range_headers_parse() {
        use ByteRange::*;
        assert_eq!(parse_range("bytes=0-499"), Some(vec![FromTo(0, 499)]));
        assert_eq!(parse_range("bytes=500-"), Some(vec![From(500)]));
        assert_eq!(parse_range("bytes=-500"), Some(vec![Suffix(500)]));
        assert_eq!(parse_range("Bytes=1-1"), Some(vec![FromTo(1, 1)]));
        assert_eq!(parse_range("bytes=0-0, -1"), Some(vec![FromTo(0, 0), Suffix(1)]));
        assert_eq!(parse_range("bytes= ,0-1,"), Some(vec![FromTo(0, 1)]));
        assert_eq!(parse_range("bytes=99999999999999999999999-"), Some(vec![From(u64::MAX)]));
        for bad in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=5-4",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=1 -2",
            "items=0-1",
            "bytes 0-1",
            "bytes=0-1, x",
        ] {
            assert_eq!(parse_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ranges_are_decided_against_the_length() {
        use ByteRange::*;
        use RangeOutcome::*;
        assert_eq!(select_range(&[FromTo(0, 9)], 100), Partial { start: 0, end: 9 });
        assert_eq!(select_range(&[FromTo(90, 200)], 100), Partial { start: 90, end: 99 });
        assert_eq!(select_range(&[From(95)], 100), Partial { start: 95, end: 99 });
        assert_eq!(select_range(&[Suffix(10)], 100), Partial { start: 90, end: 99 });
        assert_eq!(select_range(&[Suffix(1000)], 100), Partial { start: 0, end: 99 });
        assert_eq!(select_range(&[From(100)], 100), Unsatisfiable);
        assert_eq!(select_range(&[FromTo(100, 101)], 100), Unsatisfiable);
        assert_eq!(select_range(&[Suffix(0)], 100), Unsatisfiable);
        assert_eq!(select_range(&[From(0)], 0), Unsatisfiable);
        assert_eq!(select_range(&[Suffix(5)], 0), Full);
        assert_eq!(select_range(&[FromTo(0, 0), FromTo(5, 6)], 100), Full);
        assert_eq!(select_range(&[From(200), Suffix(1)], 100), Full);
        assert_eq!(select_range(&[From(200), From(300)], 100), Unsatisfiable);
    }

    #[test]
    fn if_range_compares_strongly_or_by_exact_date() {
        let tag = EntityTag::strong("abc").unwrap();
        let t = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert!(if_range_holds("\"abc\"", &tag, t));
        assert!(!if_range_holds("W/\"abc\"", &tag, t));
        assert!(!if_range_holds("\"abd\"", &tag, t));
        assert!(if_range_holds("Sun, 06 Nov 1994 08:49:37 GMT", &tag, t));
        assert!(!if_range_holds("Sun, 06 Nov 1994 08:49:38 GMT", &tag, t));
        assert!(!if_range_holds("Sun, 06 Nov 1994 08:49:36 GMT", &tag, t));
        assert!(!if_range_holds("yesterday", &tag, t));
        assert!(!if_range_holds("\"abc", &tag, t));
    }

    #[test]
    fn times_before_the_epoch_round_down() {
        use std::time::Duration;
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1_500)), 1);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(1_500)), -2);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(1)), -1);
    }
}
