//! JSON Pointer (RFC 6901): `/a/b/0`, with `~1` for `/` and `~0` for `~` in a token, and
//! `-` naming the position after an array's last element (only JSON Patch's `add` uses it).

use serde_json::Value;
use std::fmt;

/// A malformed JSON Pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("JSON pointer {0:?} must be empty or start with '/'")]
    NoLeadingSlash(String),
    #[error("JSON pointer {0:?} has a '~' not followed by '0' or '1'")]
    BadEscape(String),
}

/// A parsed JSON Pointer: its reference tokens, unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pointer {
    tokens: Vec<String>,
}

impl Pointer {
    /// The pointer to the whole document, `""`.
    pub fn root() -> Pointer {
        Pointer::default()
    }

    /// Parses a pointer in its string form (not the URI fragment form).
    pub fn parse(s: &str) -> Result<Pointer, Error> {
        if s.is_empty() {
            return Ok(Pointer::root());
        }
        let Some(rest) = s.strip_prefix('/') else {
            return Err(Error::NoLeadingSlash(s.to_owned()));
        };
        let tokens =
            rest.split('/').map(|t| unescape(t).ok_or_else(|| Error::BadEscape(s.to_owned())));
        Ok(Pointer { tokens: tokens.collect::<Result<_, _>>()? })
    }

    /// The unescaped reference tokens.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Whether this points at the whole document.
    pub fn is_root(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The parent pointer and the last token; `None` for the root.
    pub fn split_last(&self) -> Option<(Pointer, &str)> {
        let (last, parent) = self.tokens.split_last()?;
        Some((Pointer { tokens: parent.to_vec() }, last))
    }

    /// Whether `self` names a strict ancestor of what `other` names.
    pub fn is_proper_prefix_of(&self, other: &Pointer) -> bool {
        self.tokens.len() < other.tokens.len() && other.tokens.starts_with(&self.tokens)
    }

    /// The value the pointer names in a document, if there is one. `-` names nothing.
    pub fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.tokens.iter().try_fold(doc, |v, t| match v {
            Value::Object(m) => m.get(t),
            Value::Array(a) => a.get(array_index(t)?),
            _ => None,
        })
    }

    /// The value the pointer names, mutably.
    pub fn get_mut<'a>(&self, doc: &'a mut Value) -> Option<&'a mut Value> {
        self.tokens.iter().try_fold(doc, |v, t| match v {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => a.get_mut(array_index(t)?),
            _ => None,
        })
    }
}

/// The string form, tokens escaped.
impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tokens {
            write!(f, "/{}", t.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

/// An array index token: `0` or digits without a leading zero (RFC 6901 section 4).
/// `None` for anything else, `-` included.
pub fn array_index(token: &str) -> Option<usize> {
    let b = token.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    token.parse().ok()
}

/// `~1` becomes `/`, then `~0` becomes `~`; any other `~` is an error.
fn unescape(token: &str) -> Option<String> {
    if !token.contains('~') {
        return Some(token.to_owned());
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc_6901_examples() {
        let doc = json!({
            "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3,
            "g|h": 4, "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8
        });
        let cases = [
            ("", doc.clone()),
            ("/foo", json!(["bar", "baz"])),
            ("/foo/0", json!("bar")),
            ("/", json!(0)),
            ("/a~1b", json!(1)),
            ("/c%d", json!(2)),
            ("/e^f", json!(3)),
            ("/g|h", json!(4)),
            ("/i\\j", json!(5)),
            ("/k\"l", json!(6)),
            ("/ ", json!(7)),
            ("/m~0n", json!(8)),
        ];
        for (p, want) in cases {
            let ptr = Pointer::parse(p).unwrap();
            assert_eq!(ptr.get(&doc), Some(&want), "{p}");
            assert_eq!(ptr.to_string(), p);
        }
    }

    #[test]
    fn escapes_apply_in_order() {
        // `~01` is `~1` unescaped, not `/`.
        assert_eq!(Pointer::parse("/~01").unwrap().tokens(), ["~1"]);
        assert_eq!(Pointer::parse("/~10").unwrap().tokens(), ["/0"]);
        assert_eq!(Pointer::parse("/~01").unwrap().to_string(), "/~01");
        for bad in ["/~", "/~2", "/a~", "/~a"] {
            assert_eq!(Pointer::parse(bad), Err(Error::BadEscape(bad.to_owned())));
        }
        assert_eq!(Pointer::parse("a"), Err(Error::NoLeadingSlash("a".to_owned())));
        assert_eq!(
            Pointer::parse("#/a").unwrap_err().to_string(),
            "JSON pointer \"#/a\" must be empty or start with '/'"
        );
    }

    #[test]
    fn array_indices() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("10"), Some(10));
        for bad in ["", "-", "01", "00", "+1", "-1", "1.0", "1e2", " 1", "99999999999999999999999"]
        {
            assert_eq!(array_index(bad), None, "{bad:?}");
        }
        let doc = json!({"a": [1, [2, 3]], "b": "s"});
        assert_eq!(Pointer::parse("/a/1/0").unwrap().get(&doc), Some(&json!(2)));
        assert_eq!(Pointer::parse("/a/2").unwrap().get(&doc), None);
        assert_eq!(Pointer::parse("/a/-").unwrap().get(&doc), None);
        assert_eq!(Pointer::parse("/a/01").unwrap().get(&doc), None);
        assert_eq!(Pointer::parse("/b/0").unwrap().get(&doc), None);
        assert_eq!(Pointer::parse("/c").unwrap().get(&doc), None);
        let mut doc = doc;
        *Pointer::parse("/a/1/1").unwrap().get_mut(&mut doc).unwrap() = json!(4);
        assert_eq!(doc, json!({"a": [1, [2, 4]], "b": "s"}));
    }

    #[test]
    fn prefixes_and_parents() {
        let p = |s| Pointer::parse(s).unwrap();
        assert!(p("/a").is_proper_prefix_of(&p("/a/b")));
        assert!(p("").is_proper_prefix_of(&p("/a")));
        assert!(!p("/a").is_proper_prefix_of(&p("/a")));
        assert!(!p("/a").is_proper_prefix_of(&p("/ab")));
        assert!(!p("/a/b").is_proper_prefix_of(&p("/a")));
        let ptr = p("/a/b~1c");
        let (parent, last) = ptr.split_last().unwrap();
        assert_eq!((parent, last), (p("/a"), "b/c"));
        assert!(Pointer::root().split_last().is_none());
        assert!(Pointer::root().is_root());
    }
}
