//! Random inputs through every parser of the crate: nothing panics, and the properties that
//! must hold for every input hold (a failed JSON Patch leaves the document unchanged, a
//! parsed tag list prints back to itself, a random cursor never opens, a link is a valid
//! field value). The generator is seeded, so a failure reproduces.

use resources::condition::Condition;
use resources::cursor::{Cursor, CursorKey, Fingerprint, Order};
use resources::etag::TagList;
use resources::{apply_json_patch, apply_merge_patch, link, parse_json_patch_text, precondition};
use serde_json::{json, Map, Value};

/// SplitMix64: small, seeded, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn string(&mut self, alphabet: &[&str], max_len: usize) -> String {
        let len = self.below(max_len + 1);
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }
}

fn documents() -> Vec<Value> {
    vec![
        json!({"a": 1, "b": {"c": "x"}, "x": [1, "two", {"y": null}], "s": "hello"}),
        json!({"a": "1", "x": [], "s": ""}),
        json!([1, 2]),
        json!(null),
    ]
}

#[test]
fn condition_expressions() {
    let vocabulary = [
        "a",
        "b.c",
        "x[0]",
        "x[2].y",
        "s",
        "#n",
        "#m",
        ":v",
        ":s",
        ":l",
        "(",
        ")",
        "AND",
        "or",
        "NOT",
        "BETWEEN",
        "IN",
        ",",
        "=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "size(",
        "size(s)",
        "attribute_exists(",
        "attribute_not_exists(a)",
        "begins_with(",
        "contains(",
        "attribute_type(",
        ":t",
        "[",
        "]",
        ".",
        "[1]",
        "foo(",
        "é",
        "!",
    ];
    let names = [("#n", json!("a")), ("#m", json!("b"))];
    let values = [(":v", json!(1)), (":s", json!("x")), (":l", json!([1])), (":t", json!("N"))];
    let docs = documents();
    let mut rng = Rng(1);
    let mut parsed = 0;
    for _ in 0..30_000 {
        let len = 1 + rng.below(12);
        let expr: Vec<&str> = (0..len).map(|_| *rng.pick(&vocabulary)).collect();
        let expr = expr.join(if rng.below(2) == 0 { " " } else { "" });
        let names: Map<String, Value> = names
            .iter()
            .filter(|(k, _)| expr.contains(k))
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let values: Map<String, Value> = values
            .iter()
            .filter(|(k, _)| expr.contains(k))
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        if let Ok(c) = Condition::parse(&expr, &names, &values) {
            parsed += 1;
            for doc in &docs {
                let holds = c.evaluate(Some(doc));
                assert_eq!(holds, c.check(Some(doc)).is_ok(), "{expr}");
            }
            let _ = c.evaluate(None);
        }
    }
    // The vocabulary makes valid expressions often enough to exercise evaluation.
    assert!(parsed > 100, "{parsed}");
}

#[test]
fn json_patches_are_atomic() {
    let paths = [
        "", "/a", "/b", "/b/c", "/x", "/x/0", "/x/-", "/x/2/y", "/x/01", "/~0", "/~1", "/s/0", "q",
    ];
    let ops = ["add", "remove", "replace", "move", "copy", "test", "nope"];
    let values = [json!(1), json!("two"), json!({"y": null}), json!([]), json!(null)];
    let mut rng = Rng(2);
    for _ in 0..8_000 {
        let n = 1 + rng.below(4);
        let patch: Vec<Value> = (0..n)
            .map(|_| {
                let mut op = Map::new();
                op.insert("op".into(), json!(rng.pick(&ops)));
                if rng.below(8) != 0 {
                    op.insert("path".into(), json!(rng.pick(&paths)));
                }
                if rng.below(2) == 0 {
                    op.insert("from".into(), json!(rng.pick(&paths)));
                }
                if rng.below(3) != 0 {
                    op.insert("value".into(), rng.pick(&values).clone());
                }
                Value::Object(op)
            })
            .collect();
        let patch = Value::Array(patch);
        for original in documents() {
            let mut doc = original.clone();
            if apply_json_patch(&mut doc, &patch).is_err() {
                assert_eq!(doc, original, "{patch}");
            }
            let text = patch.to_string();
            let from_text = parse_json_patch_text(&text).map(|_| ());
            let from_value = resources::patch::parse_json_patch(&patch).map(|_| ());
            assert_eq!(from_text, from_value, "{text}");
            let mut merged = original.clone();
            apply_merge_patch(&mut merged, &patch[0]);
        }
    }
}

#[test]
fn entity_tag_lists() {
    let alphabet = [" ", "\t", ",", "\"", "W/", "W", "/", "*", "a", "b", "é", "\u{7f}", "x"];
    let mut rng = Rng(3);
    let mut valid = 0;
    for _ in 0..50_000 {
        let s = rng.string(&alphabet, 12);
        if let Ok(list) = TagList::parse(&s) {
            valid += 1;
            assert_eq!(TagList::parse(&list.to_string()), Ok(list), "{s:?}");
        }
    }
    assert!(valid > 100, "{valid}");
}

#[test]
fn http_dates() {
    let valid = "Sun, 06 Nov 1994 08:49:37 GMT";
    let alphabet = [" ", ",", ":", "0", "1", "9", "3", "Sun", "Nov", "GMT", "Feb", "é", "-"];
    let mut rng = Rng(4);
    for _ in 0..50_000 {
        let mut s: Vec<char> = valid.chars().collect();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(s.len());
            let piece: Vec<char> = rng.pick(&alphabet).chars().collect();
            s.splice(i..=i, piece);
        }
        let s: String = s.into_iter().collect();
        if let Some(t) = precondition::parse_http_date(&s) {
            let back = precondition::parse_http_date(&precondition::format_http_date(t));
            assert_eq!(back, Some(t), "{s}");
        }
        let _ = precondition::parse_http_date(&rng.string(&alphabet, 12));
    }
}

#[test]
fn random_cursors_never_open() {
    let alphabet: Vec<String> =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/"
            .chars()
            .map(String::from)
            .collect();
    let alphabet: Vec<&str> = alphabet.iter().map(String::as_str).collect();
    let key = CursorKey::derive(b"secret");
    let filter = Fingerprint::of(&["c"]);
    let real =
        Cursor { last_key: "k".into(), filter, order: Order::Ascending }.encode(&key).unwrap();
    let mut rng = Rng(5);
    for _ in 0..8_000 {
        let s = rng.string(&alphabet, 120);
        assert!(Cursor::decode(&s, &key, &filter).is_err(), "{s}");
        // The real cursor with a random splice.
        let i = rng.below(real.len());
        let spliced = format!("{}{}{}", &real[..i], rng.string(&alphabet, 3), &real[i + 1..]);
        if spliced != real {
            assert!(Cursor::decode(&spliced, &key, &filter).is_err(), "{spliced}");
        }
    }
}

#[test]
fn links_are_valid_field_values() {
    let alphabet =
        ["a", "/", " ", "%", "2", "F", "<", ">", "\"", "?", "#", "&", "=", "é", "\n", ";"];
    let mut rng = Rng(6);
    for _ in 0..20_000 {
        let path = rng.string(&alphabet, 10);
        let name = rng.string(&alphabet, 4);
        let value = rng.string(&alphabet, 6);
        let cursor = rng.string(&alphabet, 6);
        let l = link::next(&path, &[(&name, &value)], &cursor, rng.below(1000));
        let target = l.strip_prefix('<').and_then(|l| l.strip_suffix(">; rel=\"next\"")).unwrap();
        assert!(
            target.bytes().all(|b| b.is_ascii_graphic() && !b"<>\"#\\^`{|} ".contains(&b)),
            "{l:?}"
        );
        assert_eq!(target.matches('?').count(), 1, "{l:?}");
    }
}
