//! Resources over HTTP, against the real `baton up`: CRUD, entity tags and the RFC 9110
//! preconditions, 428, patches, condition expressions, cursor pagination under concurrent
//! writes, lost-update freedom under concurrent `If-Match` writers, and the outbox.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use support::{temp_dir, Baton};

const CONFIG: &str = r#"
[collections.notes]

[collections.orders]
key = "sku"
require_conditional_writes = true
events = true

[collections.counters]
"#;

/// An answer: status, headers, body parsed as JSON (or `Null` when empty).
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn etag(&self) -> String {
        self.header("etag").expect("an ETag").to_owned()
    }
}

async fn send(
    b: &Baton,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = b.client.request(method, format!("http://{}{path}", b.addr));
    let mut typed = false;
    for (k, v) in headers {
        typed |= k.eq_ignore_ascii_case("content-type");
        r = r.header(*k, *v);
    }
    if let Some(body) = body {
        if !typed {
            r = r.header("content-type", "application/json");
        }
        r = r.body(body.to_owned());
    }
    let r = r.send().await.expect("the server answers");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    Answer { status, headers, body, text }
}

/// A request that must fail: method, path, what it shows, headers, body, status, code.
type Mistake<'a> =
    (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], Option<&'a str>, u16, &'a str);

fn start(tag: &str) -> Baton {
    Baton::start_with_config(&temp_dir(tag), CONFIG)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_round_trip() {
    let b = start("res-crud");
    let created = send(&b, "POST", "/notes", &[], Some(r#"{"text":"hello"}"#)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("notes_") && id.len() == "notes_".len() + 32, "a typed id: {id}");
    assert_eq!(created.header("location"), Some(format!("/notes/{id}").as_str()));
    assert_eq!(created.body, json!({"text": "hello", "id": id}));
    let tag = created.etag();
    assert!(tag.starts_with('"') && !tag.starts_with("W/"), "a strong tag: {tag}");

    let got = send(&b, "GET", &format!("/notes/{id}"), &[], None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.etag(), tag);
    assert_eq!(got.body, created.body);
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert!(got.header("last-modified").unwrap().ends_with(" GMT"));
    let head = send(&b, "HEAD", &format!("/notes/{id}"), &[], None).await;
    assert_eq!((head.status, head.text.as_str()), (200, ""));
    assert_eq!(head.etag(), tag);

    let put = send(&b, "PUT", &format!("/notes/{id}"), &[], Some(r#"{"text":"bye"}"#)).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body, json!({"text": "bye", "id": id}), "the key member is kept");
    assert_ne!(put.etag(), tag);
    let listed = send(&b, "GET", "/notes", &[], None).await;
    assert_eq!(listed.body, json!({"items": [{"text": "bye", "id": id}], "next_cursor": null}));

    let deleted = send(&b, "DELETE", &format!("/notes/{id}"), &[], None).await;
    assert_eq!(deleted.status, 204);
    let gone = send(&b, "GET", &format!("/notes/{id}"), &[], None).await;
    assert_eq!((gone.status, gone.body["code"].as_str()), (404, Some("not_found")));
    let again = send(&b, "DELETE", &format!("/notes/{id}"), &[], None).await;
    assert_eq!(again.status, 404);

    // Client-chosen ids, creation by PUT, and the client's mistakes.
    let mine = send(&b, "POST", "/notes", &[], Some(r#"{"id":"a b","n":1}"#)).await;
    assert_eq!(mine.status, 201);
    assert_eq!(mine.header("location"), Some("/notes/a%20b"));
    let dup = send(&b, "POST", "/notes", &[], Some(r#"{"id":"a b"}"#)).await;
    assert_eq!((dup.status, dup.body["code"].as_str()), (409, Some("already_exists")));
    assert_eq!(send(&b, "GET", "/notes/a%20b", &[], None).await.body["n"], 1);
    let made = send(&b, "PUT", "/notes/p1", &[], Some(r#"{"n":2}"#)).await;
    assert_eq!(made.status, 201);
    assert_eq!(made.header("location"), Some("/notes/p1"));
    assert_eq!(made.body, json!({"n": 2, "id": "p1"}));
    let cases: [Mistake<'_>; 8] = [
        ("PUT", "/notes/p1", "mismatch", &[], Some(r#"{"id":"p2"}"#), 422, "key_mismatch"),
        ("POST", "/notes", "array", &[], Some("[1]"), 422, "invalid_document"),
        ("POST", "/notes", "not json", &[], Some("{"), 400, "invalid_json"),
        ("POST", "/notes", "number id", &[], Some(r#"{"id":5}"#), 422, "invalid_key"),
        (
            "POST",
            "/notes",
            "text",
            &[("content-type", "text/plain")],
            Some("{}"),
            415,
            "unsupported_media_type",
        ),
        ("GET", "/nope", "unknown", &[], None, 404, "collection_not_found"),
        ("GET", "/nope/x", "unknown", &[], None, 404, "collection_not_found"),
        ("PUT", "/health/x", "reserved", &[], Some("{}"), 404, "collection_not_found"),
    ];
    for (method, path, what, headers, body, status, code) in cases {
        let a = send(&b, method, path, headers, body).await;
        assert_eq!((a.status, a.body["code"].as_str()), (status, Some(code)), "{what}: {}", a.text);
        assert!(a.body["message"].is_string(), "{what}");
    }
    assert_eq!(send(&b, "GET", "/health", &[], None).await.status, 200, "own paths still win");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_tags_and_preconditions() {
    let b = start("res-pre");
    let v1 = send(&b, "PUT", "/notes/n", &[], Some(r#"{"v":1}"#)).await;
    let tag1 = v1.etag();
    let modified = v1.header("last-modified").unwrap().to_owned();

    // If-Match: a stale or unknown tag is 412, the current one proceeds.
    let stale = send(&b, "PUT", "/notes/n", &[("if-match", "\"nope\"")], Some(r#"{"v":2}"#)).await;
    assert_eq!((stale.status, stale.body["code"].as_str()), (412, Some("precondition_failed")));
    let ok = send(&b, "PUT", "/notes/n", &[("if-match", &tag1)], Some(r#"{"v":2}"#)).await;
    assert_eq!(ok.status, 200);
    let tag2 = ok.etag();
    let again = send(&b, "PUT", "/notes/n", &[("if-match", &tag1)], Some(r#"{"v":3}"#)).await;
    assert_eq!(again.status, 412, "the tag changed with the write");
    let list = format!("\"x\", {tag2}");
    assert_eq!(
        send(
            &b,
            "PATCH",
            "/notes/n",
            &[("if-match", &list), ("content-type", "application/merge-patch+json")],
            Some("{}")
        )
        .await
        .status,
        200
    );
    let weak = format!("W/{tag2}");
    assert_eq!(
        send(&b, "DELETE", "/notes/n", &[("if-match", &weak)], None).await.status,
        412,
        "If-Match compares strongly"
    );
    let missing = send(&b, "PUT", "/notes/m", &[("if-match", "*")], Some("{}")).await;
    assert_eq!(missing.status, 412, "If-Match: * needs a current document");
    assert_eq!(send(&b, "GET", "/notes/m", &[], None).await.status, 404);

    // If-None-Match: 304 on GET/HEAD (weak comparison), 412 for a PUT with `*`.
    let not_modified = send(&b, "GET", "/notes/n", &[("if-none-match", &weak)], None).await;
    assert_eq!((not_modified.status, not_modified.text.as_str()), (304, ""));
    assert_eq!(not_modified.etag(), tag2);
    assert!(not_modified.header("last-modified").is_some());
    let head = send(&b, "HEAD", "/notes/n", &[("if-none-match", "*")], None).await;
    assert_eq!(head.status, 304);
    let other = send(&b, "GET", "/notes/n", &[("if-none-match", "\"x\"")], None).await;
    assert_eq!(other.status, 200);
    let exists = send(&b, "PUT", "/notes/n", &[("if-none-match", "*")], Some("{}")).await;
    assert_eq!((exists.status, exists.body["code"].as_str()), (412, Some("precondition_failed")));
    let fresh = send(&b, "PUT", "/notes/fresh", &[("if-none-match", "*")], Some("{}")).await;
    assert_eq!(fresh.status, 201);
    let stale_delete = send(&b, "DELETE", "/notes/n", &[("if-none-match", &tag2)], None).await;
    assert_eq!(stale_delete.status, 412);

    // If-Modified-Since and If-Unmodified-Since, at a second's resolution.
    let since = send(&b, "GET", "/notes/fresh", &[("if-modified-since", &modified)], None).await;
    let fresh_modified = fresh.header("last-modified").unwrap();
    let expected = if fresh_modified == modified { 304 } else { 200 };
    assert_eq!(since.status, expected);
    let same =
        send(&b, "GET", "/notes/fresh", &[("if-modified-since", fresh_modified)], None).await;
    assert_eq!(same.status, 304);
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_eq!(
        send(&b, "GET", "/notes/fresh", &[("if-modified-since", old)], None).await.status,
        200
    );
    let ignored =
        send(&b, "GET", "/notes/fresh", &[("if-modified-since", "yesterday")], None).await;
    assert_eq!(ignored.status, 200, "an invalid date is ignored");
    let unmodified =
        send(&b, "DELETE", "/notes/fresh", &[("if-unmodified-since", old)], None).await;
    assert_eq!(unmodified.status, 412);
    let later = "Fri, 31 Dec 9999 23:59:59 GMT";
    assert_eq!(
        send(&b, "DELETE", "/notes/fresh", &[("if-unmodified-since", later)], None).await.status,
        204
    );

    let malformed = send(&b, "PUT", "/notes/n", &[("if-match", "no-quotes")], Some("{}")).await;
    assert_eq!(
        (malformed.status, malformed.body["code"].as_str()),
        (400, Some("invalid_precondition"))
    );
    let missing_get = send(&b, "GET", "/notes/none", &[("if-match", "\"x\"")], None).await;
    assert_eq!(missing_get.status, 404, "preconditions are ignored when the request would fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_have_validators_and_nothing_is_cached_without_revalidation() {
    let b = start("res-list-tags");
    let put = send(&b, "PUT", "/counters/a", &[], Some(r#"{"n":1}"#)).await;
    // Caches must ask again before reusing a document (no heuristic freshness).
    assert_eq!(put.header("cache-control"), Some("no-cache"));
    let doc = send(&b, "GET", "/counters/a", &[], None).await;
    assert_eq!(doc.header("cache-control"), Some("no-cache"));

    let page = send(&b, "GET", "/counters?limit=10", &[], None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let tag = page.etag();
    let same = send(&b, "GET", "/counters?limit=10", &[("if-none-match", &tag)], None).await;
    assert_eq!((same.status, same.text.as_str()), (304, ""));
    assert_eq!(same.etag(), tag);
    let head = send(&b, "HEAD", "/counters?limit=10", &[("if-none-match", &tag)], None).await;
    assert_eq!(head.status, 304);
    // Dates do not apply to a listing, which has no modification date.
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    let dated = send(&b, "GET", "/counters", &[("if-unmodified-since", old)], None).await;
    assert_eq!(dated.status, 200);
    let wrong = send(&b, "GET", "/counters?limit=10", &[("if-match", "\"x\"")], None).await;
    assert_eq!(wrong.status, 412);

    // A change on the page changes its tag.
    send(&b, "PUT", "/counters/b", &[], Some(r#"{"n":2}"#)).await;
    let changed = send(&b, "GET", "/counters?limit=10", &[("if-none-match", &tag)], None).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.etag(), tag);
    assert_eq!(changed.body["items"].as_array().unwrap().len(), 2);

    let health = send(&b, "GET", "/health", &[], None).await;
    assert_eq!(health.header("cache-control"), Some("no-store"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_are_required_where_configured() {
    let b = start("res-428");
    let created = send(&b, "POST", "/orders", &[], Some(r#"{"sku":"o1","qty":1}"#)).await;
    assert_eq!(created.status, 201, "a POST is never refused: {}", created.text);
    assert_eq!(created.header("location"), Some("/orders/o1"));
    for (method, body, ctype) in [
        ("PUT", Some(r#"{"qty":2}"#), "application/json"),
        ("PATCH", Some(r#"{"qty":2}"#), "application/merge-patch+json"),
        ("DELETE", None, "application/json"),
    ] {
        let a = send(&b, method, "/orders/o1", &[("content-type", ctype)], body).await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (428, Some("precondition_required")),
            "{method}"
        );
    }
    let create_only = send(&b, "PUT", "/orders/o2", &[("if-none-match", "*")], Some("{}")).await;
    assert_eq!(create_only.status, 201);
    let tag = created.etag();
    let ok = send(&b, "PUT", "/orders/o1", &[("if-match", &tag)], Some(r#"{"qty":2}"#)).await;
    assert_eq!((ok.status, &ok.body), (200, &json!({"qty": 2, "sku": "o1"})));
    assert_eq!(send(&b, "GET", "/orders/o1", &[], None).await.status, 200, "reads need nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_patch_and_json_patch() {
    let b = start("res-patch");
    send(&b, "PUT", "/notes/p", &[], Some(r#"{"a":1,"b":{"c":2,"d":3},"tags":["x"]}"#)).await;
    let merge = [("content-type", "application/merge-patch+json")];
    let merged =
        send(&b, "PATCH", "/notes/p", &merge, Some(r#"{"a":null,"b":{"c":20},"e":true}"#)).await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(merged.body, json!({"b": {"c": 20, "d": 3}, "tags": ["x"], "id": "p", "e": true}));
    assert_eq!(send(&b, "GET", "/notes/p", &[], None).await.etag(), merged.etag());

    let jp = [("content-type", "application/json-patch+json")];
    let ops = r#"[{"op":"add","path":"/tags/-","value":"y"},{"op":"replace","path":"/b/d","value":4},
                 {"op":"test","path":"/e","value":true},{"op":"remove","path":"/e"}]"#;
    let patched = send(&b, "PATCH", "/notes/p", &jp, Some(ops)).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body, json!({"b": {"c": 20, "d": 4}, "tags": ["x", "y"], "id": "p"}));

    let failed_test = r#"[{"op":"remove","path":"/b"},{"op":"test","path":"/id","value":"q"}]"#;
    let a = send(&b, "PATCH", "/notes/p", &jp, Some(failed_test)).await;
    assert_eq!(
        (a.status, a.body["code"].as_str(), &a.body["operation"]),
        (409, Some("patch_test_failed"), &json!(1))
    );
    let a = send(&b, "PATCH", "/notes/p", &jp, Some(r#"[{"op":"remove","path":"/zz"}]"#)).await;
    assert_eq!((a.status, a.body["code"].as_str()), (422, Some("invalid_patch")));
    let a = send(&b, "PATCH", "/notes/p", &jp, Some(r#"{"op":"add"}"#)).await;
    assert_eq!((a.status, a.body["code"].as_str()), (400, Some("invalid_patch")));
    let a = send(&b, "PATCH", "/notes/p", &jp, Some(r#"[{"op":"replace","path":"","value":[]}]"#))
        .await;
    assert_eq!((a.status, a.body["code"].as_str()), (422, Some("invalid_document")));
    let a = send(&b, "PATCH", "/notes/p", &merge, Some(r#"{"id":"other"}"#)).await;
    assert_eq!((a.status, a.body["code"].as_str()), (422, Some("key_mismatch")));
    assert_eq!(
        send(&b, "GET", "/notes/p", &[], None).await.body,
        patched.body,
        "failures change nothing"
    );

    let a = send(&b, "PATCH", "/notes/p", &[], Some("{}")).await;
    assert_eq!((a.status, a.body["code"].as_str()), (415, Some("unsupported_media_type")));
    assert!(a.header("accept-patch").unwrap().contains("application/merge-patch+json"));
    let a = send(&b, "PATCH", "/notes/nothing", &merge, Some("{}")).await;
    assert_eq!(a.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condition_expressions() {
    let b = start("res-cond");
    let names = r##"{"#s":"status"}"##;
    let cond = |expr: &'static str, values: &'static str| {
        vec![
            ("x-condition-expression", expr),
            ("x-condition-names", names),
            ("x-condition-values", values),
        ]
    };
    // Create only if absent, expressed as a condition.
    let create = cond("attribute_not_exists(#s) OR #s = :open", r#"{":open":"open"}"#);
    let a = send(&b, "PUT", "/notes/c", &create, Some(r#"{"status":"open","n":5}"#)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let close =
        cond("#s = :open AND n BETWEEN :lo AND :hi", r#"{":open":"open",":lo":1,":hi":10}"#);
    let a = send(&b, "PUT", "/notes/c", &close, Some(r#"{"status":"closed","n":5}"#)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = send(&b, "PUT", "/notes/c", &close, Some(r#"{"status":"closed","n":6}"#)).await;
    assert_eq!(a.status, 412);
    assert_eq!(a.body["code"], "condition_failed");
    assert_eq!(a.body["failed"], "#s = :open", "the failing conjunct is named: {}", a.text);
    assert_eq!(a.body["condition"], "#s = :open AND n BETWEEN :lo AND :hi");
    assert_eq!(a.body["span"], json!([0, 10]));
    let size = vec![
        ("x-condition-expression", "size(#s) > :n AND begins_with(#s, :c)"),
        ("x-condition-names", names),
        ("x-condition-values", r#"{":n":3,":c":"cl"}"#),
    ];
    let a = send(&b, "DELETE", "/notes/c", &size, None).await;
    assert_eq!(a.status, 204, "{}", a.text);

    let bad = [("x-condition-expression", "n = :missing")];
    let a = send(&b, "PUT", "/notes/c", &bad, Some("{}")).await;
    assert_eq!((a.status, a.body["code"].as_str()), (400, Some("invalid_condition")));
    assert!(a.body["message"].as_str().unwrap().contains(":missing"), "{}", a.text);
    let unused =
        [("x-condition-expression", "attribute_exists(n)"), ("x-condition-values", r#"{":x":1}"#)];
    assert_eq!(send(&b, "PUT", "/notes/c", &unused, Some("{}")).await.status, 400);
    let not_json = [("x-condition-expression", "attribute_exists(n)"), ("x-condition-names", "[")];
    assert_eq!(send(&b, "PUT", "/notes/c", &not_json, Some("{}")).await.status, 400);
    assert_eq!(send(&b, "GET", "/notes/c", &[], None).await.status, 404, "nothing was written");
}

/// Lists every page of `path` (which has no query yet or ends with one), checking the Link
/// header against `next_cursor`; returns the ids in the order seen.
async fn walk(b: &Baton, path: &str, limit: usize) -> Vec<String> {
    walk_while(b, path, limit, None).await
}

/// [`walk`], waiting before each page until `writes` (counted by another task) has grown
/// by at least 2, so the pages are read while that task writes.
async fn walk_while(
    b: &Baton,
    path: &str,
    limit: usize,
    writes: Option<&AtomicU64>,
) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{sep}limit={limit}");
    let mut ids = Vec::new();
    loop {
        if let Some(w) = writes {
            let start = w.load(Ordering::SeqCst);
            while w.load(Ordering::SeqCst) < start + 2 {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        }
        let page = send(b, "GET", &url, &[], None).await;
        assert_eq!(page.status, 200, "{url}: {}", page.text);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        ids.extend(items.iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            None => {
                assert!(page.header("link").is_none());
                return ids;
            }
            Some(cursor) => {
                let link = page.header("link").expect("a Link to the next page");
                let target =
                    link.strip_prefix('<').unwrap().split_once(">; rel=\"next\"").unwrap().0;
                assert!(target.contains(&format!("cursor={cursor}")), "{link}");
                url = target.to_owned();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_through_pages_sees_every_lasting_document_once_despite_churn() {
    let b = Arc::new(start("res-walk"));
    let mut lasting = BTreeSet::new();
    for i in 0..120 {
        let id = format!("{:08x}", (i * 2_654_435_761_u64) % 0xffff_ffff);
        let a = send(&b, "PUT", &format!("/notes/{id}"), &[], Some(r#"{"kind":"lasting"}"#)).await;
        assert_eq!(a.status, 201);
        lasting.insert(id);
    }
    // Meanwhile another client inserts and deletes documents whose ids fall everywhere.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let churn = {
        let (b, stop, writes) = (b.clone(), stop.clone(), writes.clone());
        tokio::spawn(async move {
            let mut n = 0_u64;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("{:08x}x", (n * 40_503 + 17) % 0xffff_ffff);
                let a = send(&b, "PUT", &format!("/notes/{id}"), &[], Some(r#"{"kind":"churn"}"#))
                    .await;
                assert_eq!(a.status, 201);
                if n % 2 == 1 {
                    let prev = format!("{:08x}x", ((n - 1) * 40_503 + 17) % 0xffff_ffff);
                    assert_eq!(
                        send(&b, "DELETE", &format!("/notes/{prev}"), &[], None).await.status,
                        204
                    );
                }
                n += 1;
                writes.fetch_add(1, Ordering::SeqCst);
            }
            n
        })
    };
    let seen = walk_while(&b, "/notes", 7, Some(&writes)).await;
    stop.store(true, Ordering::SeqCst);
    let churned = churn.await.unwrap();
    assert!(churned > 30, "the churn ran during the walk ({churned} writes)");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &seen {
        *counts.entry(id).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 1), "no document twice");
    for id in &lasting {
        assert_eq!(counts.get(id.as_str()), Some(&1), "{id} is seen once");
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages come in id order");

    // Filters on top-level members, across pages.
    let lasting_only = walk(&b, "/notes?kind=lasting", 9).await;
    assert_eq!(lasting_only.into_iter().collect::<BTreeSet<_>>(), lasting);
    assert!(walk(&b, "/notes?kind=nothing", 5).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_are_sealed_and_outlive_a_restart() {
    let data = temp_dir("res-cursor");
    let mut b = Baton::start_with_config(&data, CONFIG);
    for i in 0..5 {
        let body = format!(r#"{{"n":{i},"even":{}}}"#, i % 2 == 0);
        send(&b, "PUT", &format!("/notes/d{i}"), &[], Some(&body)).await;
    }
    let first = send(&b, "GET", "/notes?limit=2&even=true", &[], None).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let link = first.header("link").unwrap();
    assert_eq!(link, format!("</notes?even=true&cursor={cursor}&limit=2>; rel=\"next\""));

    let mut tampered = cursor.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for url in [
        format!("/notes?even=true&cursor={tampered}"),
        format!("/notes?even=false&cursor={cursor}"),
        format!("/notes?cursor={cursor}"),
        "/notes?cursor=%%%".to_owned(),
        "/notes?cursor=".to_owned(),
    ] {
        let a = send(&b, "GET", &url, &[], None).await;
        assert_eq!((a.status, a.body["code"].as_str()), (400, Some("invalid_cursor")), "{url}");
    }
    for limit in ["0", "1001", "x", "-1"] {
        let a = send(&b, "GET", &format!("/notes?limit={limit}"), &[], None).await;
        assert_eq!((a.status, a.body["code"].as_str()), (400, Some("invalid_limit")), "{limit}");
    }
    assert_eq!(send(&b, "GET", "/notes?limit=1000", &[], None).await.status, 200);

    // The secret lives in the store: a restarted node (or another one) takes the cursor.
    b.terminate();
    let b = Baton::start_with_config(&data, CONFIG);
    let next =
        send(&b, "GET", &format!("/notes?even=true&limit=2&cursor={cursor}"), &[], None).await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert_eq!(
        next.body,
        json!({"items": [{"n": 4, "even": true, "id": "d4"}], "next_cursor": null})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_with_if_match_never_lose_an_update() {
    let b = Arc::new(start("res-race"));
    assert_eq!(send(&b, "PUT", "/counters/c", &[], Some(r#"{"n":0}"#)).await.status, 201);
    const WRITERS: u64 = 8;
    const INCREMENTS: u64 = 12;
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..INCREMENTS {
                loop {
                    let got = send(&b, "GET", "/counters/c", &[], None).await;
                    let n = got.body["n"].as_u64().unwrap();
                    let body = json!({"n": n + 1}).to_string();
                    let put =
                        send(&b, "PUT", "/counters/c", &[("if-match", &got.etag())], Some(&body))
                            .await;
                    match put.status {
                        200 => break,
                        412 => conflicts += 1,
                        s => panic!("unexpected {s}: {}", put.text),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let end = send(&b, "GET", "/counters/c", &[], None).await;
    assert_eq!(end.body["n"], json!(WRITERS * INCREMENTS), "after {conflicts} conflicts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_of_an_evented_collection_leaves_an_event_in_the_outbox_for_its_topic() {
    let data = temp_dir("res-events");
    let b = Baton::start_with_config(&data, CONFIG);
    let created = send(&b, "POST", "/orders", &[], Some(r#"{"sku":"e1","qty":1}"#)).await;
    let put =
        send(&b, "PUT", "/orders/e1", &[("if-match", &created.etag())], Some(r#"{"qty":2}"#)).await;
    let merge = [("if-match", put.etag()), ("content-type", "application/merge-patch+json".into())];
    let merge: Vec<(&str, &str)> = merge.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let patched = send(&b, "PATCH", "/orders/e1", &merge, Some(r#"{"qty":3}"#)).await;
    assert_eq!(patched.status, 200);
    let stale = send(&b, "DELETE", "/orders/e1", &[("if-match", &put.etag())], None).await;
    assert_eq!(stale.status, 412, "a refused write leaves no event");
    let deleted = send(&b, "DELETE", "/orders/e1", &[("if-match", &patched.etag())], None).await;
    assert_eq!(deleted.status, 204);
    send(&b, "POST", "/notes", &[], Some("{}")).await;

    let store =
        store::Store::open(&format!("sqlite://{}", data.join("baton.db").display())).await.unwrap();
    // Topics take events out of the outbox into their messages as they fan them out: read
    // the outbox first, then the messages, so each event is seen (once, by its id).
    let mut events = store.outbox(0, 1000).await.unwrap();
    for topic in ["orders", "notes"] {
        for m in store.topic_messages(topic, 0, 1000).await.unwrap() {
            if !events.iter().any(|e| e.message_id == m.message_id) {
                events.push(store::OutboxRecord {
                    seq: m.seq,
                    message_id: m.message_id,
                    topic: m.topic,
                    body: m.body,
                    attributes: m.attributes,
                    subject: m.subject,
                    ordering_key: m.ordering_key,
                    created_ms: m.created_ms,
                });
            }
        }
    }
    events.sort_by_key(|e| e.seq);
    assert!(events.iter().all(|e| e.topic == "orders"), "notes have no events");
    let bodies: Vec<Value> =
        events.iter().map(|e| serde_json::from_str(&e.body).unwrap()).collect();
    let kinds: Vec<&str> = bodies.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "updated", "updated", "deleted"]);
    assert!(bodies.iter().all(|v| v["id"] == "e1" && v["collection"] == "orders"));
    assert_eq!(bodies[0]["document"], json!({"sku": "e1", "qty": 1}));
    assert_eq!(bodies[2]["document"], json!({"qty": 3, "sku": "e1"}));
    assert_eq!(bodies[2]["etag"], json!(patched.etag()));
    assert!(events
        .iter()
        .all(|e| e.message_id.starts_with("msg_") && e.ordering_key.as_deref() == Some("e1")));
    let ids: BTreeSet<&str> = events.iter().map(|e| e.message_id.as_str()).collect();
    assert_eq!(ids.len(), 4);
}

#[test]
fn collection_names_that_clash_are_refused_at_start() {
    for (name, why) in
        [("health", "taken"), ("functions", "taken"), ("Bad", "invalid"), ("a.b", "invalid")]
    {
        let data = temp_dir("res-names");
        let file = data.join("baton.toml");
        std::fs::write(&file, format!("[collections.\"{name}\"]\n")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["up", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{name}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_must_satisfy_the_collection_schema() {
    let data = temp_dir("res-schema");
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["id", "qty"],
        "properties": {
            "id": {"type": "string"},
            "qty": {"type": "integer", "minimum": 1},
            "note": {"type": "string", "maxLength": 5}
        },
        "additionalProperties": false
    });
    let file = data.join("item.schema.json");
    std::fs::write(&file, schema.to_string()).unwrap();
    let config = format!("[collections.items]\nschema = {:?}\n", file.display().to_string());
    let b = Baton::start_with_config(&data, &config);

    let ok = send(&b, "POST", "/items", &[], Some(r#"{"qty":2}"#)).await;
    assert_eq!(ok.status, 201, "the generated id is in the document before the check: {}", ok.text);
    let bad = send(&b, "POST", "/items", &[], Some(r#"{"qty":0,"note":"too long","x":1}"#)).await;
    assert_eq!(
        (bad.status, bad.body["code"].as_str()),
        (422, Some("schema_violation")),
        "{}",
        bad.text
    );
    let violations = bad.body["violations"].as_array().unwrap();
    let paths: BTreeSet<&str> = violations.iter().map(|v| v["path"].as_str().unwrap()).collect();
    assert!(paths.contains("/qty") && paths.contains("/note"), "{}", bad.text);
    assert!(violations.len() >= 3, "every violation is listed: {}", bad.text);
    assert!(violations.iter().all(|v| v["message"].is_string() && v["schema_path"].is_string()));

    let put = send(&b, "PUT", "/items/i1", &[], Some(r#"{"qty":"many"}"#)).await;
    assert_eq!(put.status, 422);
    assert_eq!(send(&b, "GET", "/items/i1", &[], None).await.status, 404, "nothing written");
    let id = ok.body["id"].as_str().unwrap();
    let merge = [("content-type", "application/merge-patch+json")];
    let patch = send(&b, "PATCH", &format!("/items/{id}"), &merge, Some(r#"{"qty":null}"#)).await;
    assert_eq!((patch.status, patch.body["code"].as_str()), (422, Some("schema_violation")));
    let patch = send(&b, "PATCH", &format!("/items/{id}"), &merge, Some(r#"{"qty":7}"#)).await;
    assert_eq!(patch.status, 200);
}

#[test]
fn a_schema_that_does_not_compile_stops_baton_up() {
    for (schema, why) in [
        (Some(r#"{"type": 5}"#), "not a valid JSON Schema"),
        (Some("{"), "not JSON"),
        (None, "cannot be read"),
    ] {
        let data = temp_dir("res-badschema");
        let path = data.join("s.json");
        if let Some(text) = schema {
            std::fs::write(&path, text).unwrap();
        }
        let file = data.join("baton.toml");
        std::fs::write(
            &file,
            format!("[collections.items]\nschema = {:?}\n", path.display().to_string()),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["up", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{why}: {err}");
    }
}

/// Two nodes on one PostgreSQL: each accepts the other's cursors (the secret is in the
/// store), and writers spread over both with `If-Match` lose no update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_cursors_and_lose_no_update() {
    let Ok(admin) = std::env::var("BATON_TEST_POSTGRES_URL") else {
        eprintln!("BATON_TEST_POSTGRES_URL is not set: skipping the two-node resources test");
        return;
    };
    let url = store::testing::fresh_postgres(&admin).await.unwrap();
    let a = Arc::new(Baton::start_configured(&temp_dir("res-node-a"), Some(&url), CONFIG));
    let b = Arc::new(Baton::start_configured(&temp_dir("res-node-b"), Some(&url), CONFIG));
    for i in 0..5 {
        assert_eq!(send(&a, "PUT", &format!("/notes/n{i}"), &[], Some("{}")).await.status, 201);
    }
    let first = send(&a, "GET", "/notes?limit=3", &[], None).await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = send(&b, "GET", &format!("/notes?limit=3&cursor={cursor}"), &[], None).await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    assert_eq!(rest.body["items"], json!([{"id": "n3"}, {"id": "n4"}]));

    assert_eq!(send(&a, "PUT", "/counters/c", &[], Some(r#"{"n":0}"#)).await.status, 201);
    let mut tasks = Vec::new();
    for w in 0..6 {
        let node = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for _ in 0..8 {
                loop {
                    let got = send(&node, "GET", "/counters/c", &[], None).await;
                    let body = json!({"n": got.body["n"].as_u64().unwrap() + 1}).to_string();
                    let tag = got.etag();
                    let put =
                        send(&node, "PUT", "/counters/c", &[("if-match", &tag)], Some(&body)).await;
                    match put.status {
                        200 => break,
                        412 => {}
                        s => panic!("unexpected {s}: {}", put.text),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(send(&b, "GET", "/counters/c", &[], None).await.body["n"], json!(48));
    drop((a, b));
    store::testing::drop_database(&admin, &url).await;
}
