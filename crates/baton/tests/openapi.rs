//! `GET /openapi.json` from the real `baton up`: an OpenAPI 3.1 document with the declared
//! collections (their schemas as components), Baton's own APIs, and no reference that
//! points outside it.

mod support;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use support::{temp_dir, Baton};

/// Every `$ref` in `v`, with the JSON Pointer of where it is.
fn refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                if let ("$ref", Value::String(r)) = (k.as_str(), child) {
                    out.push((at.clone(), r));
                }
                refs(child, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                refs(item, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// What a `#/...` reference points to in `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// `v`, or what it refers to when it is a reference.
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(doc, r).unwrap_or_else(|| panic!("{r} does not resolve")),
        None => v,
    }
}

/// The parameters of an operation (its path's and its own), references followed, as
/// `(in, name)`.
fn parameters(doc: &Value, path: &str, method: &str) -> BTreeSet<(String, String)> {
    let item = &doc["paths"][path];
    let mut out = BTreeSet::new();
    for list in [&item["parameters"], &item[method]["parameters"]] {
        for p in list.as_array().into_iter().flatten() {
            let p = deref(doc, p);
            out.insert((p["in"].as_str().unwrap().to_owned(), p["name"].as_str().unwrap().into()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_the_collections_and_every_reference_resolves() {
    let data = temp_dir("openapi");
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://example.com/order.json",
        "type": "object",
        "required": ["sku", "qty"],
        "properties": {
            "sku": {"type": "string"},
            "qty": {"$ref": "#/$defs/quantity"},
            "status": {"enum": ["open", "closed"]},
        },
        "$defs": {"quantity": {"type": "integer", "minimum": 1}},
    });
    let file = data.join("order.schema.json");
    std::fs::write(&file, schema.to_string()).unwrap();
    let config = format!(
        "[collections.orders]\nkey = \"sku\"\nrequire_conditional_writes = true\nschema = {:?}\n\
         [collections.notes]\n",
        file.display().to_string()
    );
    let b = Baton::start_with_config(&data, &config);

    let r = b.client.get(b.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = serde_json::from_str(&r.text().await.unwrap()).expect("valid JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);

    // Every reference is internal and resolves.
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(found.len() > 50, "{} references", found.len());
    for (at, r) in &found {
        assert!(resolve(&doc, r).is_some(), "{r} at {at} does not resolve");
    }

    // The collections, their methods and their schemas.
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/orders", &["get", "post"][..]),
        ("/orders/{id}", &["get", "head", "put", "patch", "delete"][..]),
        ("/notes", &["get", "post"][..]),
        ("/notes/{id}", &["get", "head", "put", "patch", "delete"][..]),
    ] {
        for m in methods {
            assert!(paths[path].get(*m).is_some(), "{m} {path}");
        }
    }
    let orders = &doc["components"]["schemas"]["orders"];
    assert_eq!(orders["properties"]["sku"], json!({"type": "string"}));
    assert_eq!(
        deref(&doc, &orders["properties"]["qty"]),
        &json!({"type": "integer", "minimum": 1}),
        "the schema's own reference resolves in the document"
    );
    let body_ref = "#/components/schemas/orders";
    assert_eq!(
        paths["/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        body_ref
    );
    assert_eq!(
        paths["/orders/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"],
        body_ref
    );
    let page = deref(
        &doc,
        &paths["/orders"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
    );
    assert_eq!(page["properties"]["items"]["items"]["$ref"], body_ref);
    let patch = &paths["/orders/{id}"]["patch"]["requestBody"]["content"];
    assert!(patch.get("application/merge-patch+json").is_some());
    assert!(patch.get("application/json-patch+json").is_some());

    // Parameters: paging and equality filters, the conditional and condition headers.
    let list = parameters(&doc, "/orders", "get");
    for name in ["limit", "cursor", "status", "qty"] {
        assert!(list.contains(&("query".into(), name.into())), "{name} in {list:?}");
    }
    let put = parameters(&doc, "/orders/{id}", "put");
    for name in ["If-Match", "If-None-Match", "If-Unmodified-Since", "X-Condition-Expression"] {
        assert!(put.contains(&("header".into(), name.into())), "{name} in {put:?}");
    }
    assert!(put.contains(&("path".into(), "id".into())));
    let get = parameters(&doc, "/orders/{id}", "get");
    assert!(get.contains(&("header".into(), "If-Modified-Since".into())), "{get:?}");

    // Answers, with the error shape.
    let statuses = |path: &str, method: &str| -> BTreeSet<String> {
        paths[path][method]["responses"].as_object().unwrap().keys().cloned().collect()
    };
    for s in ["200", "201", "400", "412", "415", "422", "428"] {
        assert!(statuses("/orders/{id}", "put").contains(s), "PUT {s}");
    }
    assert!(!statuses("/notes/{id}", "put").contains("428"), "notes do not require If-Match");
    assert!(statuses("/orders/{id}", "get").contains("304"));
    assert!(statuses("/orders/{id}", "delete").contains("204"));
    assert!(statuses("/orders/{id}", "patch").contains("409"));
    assert!(statuses("/orders", "post").contains("201"));
    let not_found = deref(&doc, &paths["/orders/{id}"]["get"]["responses"]["404"]);
    let error = deref(&doc, &not_found["content"]["application/json"]["schema"]);
    assert_eq!(error["required"], json!(["code", "message"]));

    // Baton's own APIs.
    assert!(paths["/"]["post"]["parameters"][0]["schema"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("AWSStepFunctions.StartExecution")));
    for (path, method) in [
        ("/2015-03-31/functions/{name}/invocations", "post"),
        ("/topics", "post"),
        ("/topics/{name}/messages", "post"),
        ("/topics/{name}/subscriptions/{id}", "delete"),
        ("/health", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(paths[path].get(method).is_some(), "{method} {path}");
    }

    // Every {param} of every path is declared, and operation ids are unique.
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let declared = parameters(&doc, path, method);
            for segment in path.split('/') {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(declared.contains(&("path".into(), name.into())), "{method} {path}");
                }
            }
            if let Some(id) = op["operationId"].as_str() {
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            }
        }
    }
}
