//! The example's functions, one binary written with the official Rust Lambda runtime; which
//! function it is comes from `AWS_LAMBDA_FUNCTION_NAME`, as Baton (and Lambda) set it:
//!
//! - `address-service`: the address microservice of the lecture. It receives a JSON body
//!   (API Gateway's HTTP API event, from the route `POST /api/addresses`), verifies the
//!   address, and saves only a verified, canonical address, whose id (and so URL path) is
//!   its delivery point: ZIP, ZIP+4 and delivery point, `10027-6902-20`. Two spellings of
//!   one place become one record. It verifies against a small built-in table, or against
//!   Smarty's US Street Address API when `SMARTY_AUTH_ID` and `SMARTY_AUTH_TOKEN` are set.
//! - `chat-bot`: posts a chat-style welcome message for a new student to the `chat`
//!   collection (the onboarding workflow calls it).
//!
//! Both call Baton's collections at `BATON_ENDPOINT`, with the service's API key from
//! `BATON_API_KEY` when it is set.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let baton = Baton::from_env()?;
    match name.as_str() {
        "address-service" => {
            lambda_runtime::run(service_fn(|e: LambdaEvent<Value>| address_service(&baton, e)))
                .await
        }
        "chat-bot" => {
            lambda_runtime::run(service_fn(|e: LambdaEvent<Value>| chat_bot(&baton, e))).await
        }
        other => Err(format!("no function {other:?} in this binary").into()),
    }
}

/// Baton's API, as the functions call it.
struct Baton {
    endpoint: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl Baton {
    fn from_env() -> Result<Self, Error> {
        let endpoint = std::env::var("BATON_ENDPOINT")
            .map_err(|_| "BATON_ENDPOINT is not set: run this under baton up")?;
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            api_key: std::env::var("BATON_API_KEY").ok().filter(|k| !k.is_empty()),
            http: reqwest::Client::new(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.endpoint));
        match &self.api_key {
            Some(k) => r.header("x-api-key", k),
            None => r,
        }
    }
}

/// An HTTP answer in API Gateway's shape.
fn answer(status: u16, headers: Value, body: &Value) -> Value {
    let mut h = json!({"content-type": "application/json"});
    if let (Some(h), Some(extra)) = (h.as_object_mut(), headers.as_object()) {
        h.extend(extra.clone());
    }
    json!({"statusCode": status, "headers": h, "body": body.to_string()})
}

fn problem(status: u16, code: &str, message: &str) -> Value {
    answer(status, json!({}), &json!({"code": code, "message": message}))
}

async fn address_service(baton: &Baton, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let body = event.payload.get("body").and_then(Value::as_str).unwrap_or_default();
    let Ok(input) = serde_json::from_str::<Value>(body) else {
        return Ok(problem(400, "invalid_json", "send the address as a JSON object"));
    };
    let Some(text) = address_text(&input) else {
        return Ok(problem(
            400,
            "invalid_address",
            "give {\"street\", \"city\", \"state\", \"zipcode\"} or {\"line\": \"...\"}",
        ));
    };
    let verified = match smarty_credentials() {
        Some((id, token)) => smarty(&baton.http, &id, &token, &input).await?,
        None => builtin(&text),
    };
    let Some(mut address) = verified else {
        return Ok(problem(
            422,
            "address_not_verified",
            &format!("{text:?} is not a deliverable address we can verify"),
        ));
    };
    let id = address["id"].as_str().unwrap_or_default().to_owned();
    // Create-only: a second spelling of a known address finds the record already there.
    let put = baton
        .request(reqwest::Method::PUT, &format!("/addresses/{id}"))
        .header("if-none-match", "*")
        .json(&address)
        .send()
        .await?;
    let status = match put.status().as_u16() {
        201 => 201,
        412 => {
            let existing = baton.request(reqwest::Method::GET, &format!("/addresses/{id}"));
            address = existing.send().await?.json().await?;
            200
        }
        s => {
            let text = put.text().await.unwrap_or_default();
            return Err(format!("saving the address failed: {s} {text}").into());
        }
    };
    Ok(answer(status, json!({"location": format!("/api/addresses/{id}")}), &address))
}

/// The address as one line of text.
fn address_text(input: &Value) -> Option<String> {
    if let Some(line) = input.get("line").and_then(Value::as_str) {
        return Some(line.to_owned());
    }
    let street = input.get("street").and_then(Value::as_str)?;
    let rest: Vec<&str> = ["city", "state", "zipcode"]
        .iter()
        .filter_map(|k| input.get(*k).and_then(Value::as_str))
        .collect();
    Some(format!("{street} {}", rest.join(" ")))
}

/// Lower-case words with the usual abbreviations spelled out and ordinals bare, so that
/// "520 w 120th st NYC" and "520 West 120 St New York, NY" read alike.
fn words(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { ' ' })
        .collect();
    let mut out = Vec::new();
    for w in cleaned.split_whitespace() {
        let w = match w {
            "w" => "west",
            "e" => "east",
            "n" => "north",
            "s" => "south",
            "st" | "str" => "street",
            "ave" | "av" => "avenue",
            "blvd" => "boulevard",
            "rd" => "road",
            "nw" => "northwest",
            "nyc" => {
                out.extend(["new".to_owned(), "york".to_owned()]);
                continue;
            }
            other => other,
        };
        let bare = ["st", "nd", "rd", "th"]
            .iter()
            .find_map(|s| {
                w.strip_suffix(s).filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .unwrap_or(w);
        out.push(bare.to_owned());
    }
    out
}

/// A few real places, for working offline. The ZIP+4 and delivery point codes are
/// illustrative; configure Smarty for the real ones.
const TABLE: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    // street words, city words, delivery line, city, state, zip, plus4 + delivery point
    ("520 west 120 street", "new york", "520 W 120th St", "New York", "NY", "10027", "6902-20"),
    ("2960 broadway", "new york", "2960 Broadway", "New York", "NY", "10027", "6902-60"),
    ("350 5 avenue", "new york", "350 5th Ave", "New York", "NY", "10118", "0110-50"),
    (
        "1600 pennsylvania avenue northwest",
        "washington",
        "1600 Pennsylvania Ave NW",
        "Washington",
        "DC",
        "20500",
        "0005-00",
    ),
];

fn builtin(text: &str) -> Option<Value> {
    let given = words(text).join(" ");
    let (_, _, line, city, state, zip, code) =
        TABLE.iter().find(|(street, city, _, _, _, zip, _)| {
            given.starts_with(street)
                && (given[street.len()..].contains(city) || given.contains(zip))
        })?;
    let (plus4, dp) = code.split_once('-')?;
    Some(json!({
        "id": format!("{zip}-{plus4}-{dp}"),
        "delivery_line_1": line,
        "last_line": format!("{city} {state} {zip}-{plus4}"),
        "city": city,
        "state": state,
        "zipcode": zip,
        "plus4_code": plus4,
        "delivery_point": dp,
        "verified_by": "built-in table",
    }))
}

fn smarty_credentials() -> Option<(String, String)> {
    let id = std::env::var("SMARTY_AUTH_ID").ok().filter(|v| !v.is_empty())?;
    let token = std::env::var("SMARTY_AUTH_TOKEN").ok().filter(|v| !v.is_empty())?;
    Some((id, token))
}

/// Smarty's US Street Address API: the first candidate, if any.
async fn smarty(
    http: &reqwest::Client,
    id: &str,
    token: &str,
    input: &Value,
) -> Result<Option<Value>, Error> {
    let field = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let street =
        input.get("line").and_then(Value::as_str).map_or_else(|| field("street"), str::to_owned);
    let candidates: Value = http
        .get("https://us-street.api.smarty.com/street-address")
        .query(&[
            ("auth-id", id.to_owned()),
            ("auth-token", token.to_owned()),
            ("street", street),
            ("city", field("city")),
            ("state", field("state")),
            ("zipcode", field("zipcode")),
            ("candidates", "1".to_owned()),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let Some(c) = candidates.get(0) else { return Ok(None) };
    let comp = &c["components"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let (zip, plus4, dp) =
        (s(&comp["zipcode"]), s(&comp["plus4_code"]), s(&comp["delivery_point"]));
    Ok(Some(json!({
        "id": format!("{zip}-{plus4}-{dp}"),
        "delivery_line_1": s(&c["delivery_line_1"]),
        "last_line": s(&c["last_line"]),
        "city": s(&comp["city_name"]),
        "state": s(&comp["state_abbreviation"]),
        "zipcode": zip,
        "plus4_code": plus4,
        "delivery_point": dp,
        "verified_by": "smarty",
    })))
}

/// `{"student": {...}}` → a welcome message in the `chat` collection.
async fn chat_bot(baton: &Baton, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let student = &event.payload["student"];
    let name = format!(
        "{} {}",
        student["first_name"].as_str().unwrap_or("someone"),
        student["last_name"].as_str().unwrap_or("new")
    );
    let message = json!({
        "channel": "#new-students",
        "text": format!("👋 Welcome {name}! Say hello at {}.", student["email"].as_str().unwrap_or("-")),
        "student_id": student["id"],
    });
    let posted = baton.request(reqwest::Method::POST, "/chat").json(&message).send().await?;
    let status = posted.status();
    let body: Value = posted.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("posting to #new-students failed: {status} {body}").into());
    }
    Ok(json!({"posted": body["id"]}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_spellings_of_one_place_are_one_address() {
        let a = builtin("520 w 120th st NYC").unwrap();
        let b = builtin("520 West 120 St New York, NY").unwrap();
        assert_eq!(a, b);
        assert_eq!(a["id"], "10027-6902-20");
        assert!(builtin("521 West 120 St New York").is_none());
        assert!(builtin("520 West 120 St Boston MA").is_none());
    }
}
