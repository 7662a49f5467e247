//! Entity tags (RFC 9110 section 8.8.3): the strong tag of a JSON document, the parsing of
//! `If-Match` / `If-None-Match` field values, and the strong and weak comparisons.
//!
//! A document's tag is `"` + base64url (no padding) of the first 16 bytes of the SHA-256 of
//! its compact serialization + `"`. The serialization keeps the document's member order
//! (serde_json's `preserve_order`), which is the body the resources layer sends, so the tag
//! is a strong validator: it changes whenever the bytes of the representation change, a
//! reordering of members included.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;

/// An error in an `If-Match` or `If-None-Match` field value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The field value is empty (or only whitespace and commas).
    #[error("the entity-tag list is empty")]
    Empty,
    /// The field value is neither `*` nor a list of entity tags.
    #[error("malformed entity-tag list at byte {at}: {reason}")]
    Malformed {
        /// The byte offset in the field value where parsing stopped.
        at: usize,
        /// What was expected there.
        reason: &'static str,
    },
}

/// An entity tag: an opaque string, strong or weak (`W/"..."`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityTag {
    weak: bool,
    /// The opaque tag, without its quotes.
    opaque: String,
}

impl EntityTag {
    /// The strong tag of a JSON document (see the module documentation).
    pub fn of_json(doc: &Value) -> EntityTag {
        // Serializing a `Value` to a vector cannot fail: its keys are strings and its
        // numbers finite.
        let bytes = serde_json::to_vec(doc).unwrap_or_default();
        EntityTag::of_bytes(&bytes)
    }

    /// The strong tag of a representation's bytes.
    pub fn of_bytes(bytes: &[u8]) -> EntityTag {
        let digest = Sha256::digest(bytes);
        EntityTag { weak: false, opaque: URL_SAFE_NO_PAD.encode(&digest[..16]) }
    }

    /// A strong tag with the given opaque value. Returns `None` if the value holds a
    /// character an entity tag cannot (a double quote, a control character, a space).
    pub fn strong(opaque: &str) -> Option<EntityTag> {
        opaque.chars().all(is_etagc).then(|| EntityTag { weak: false, opaque: opaque.to_owned() })
    }

    /// A weak tag with the given opaque value; `None` as for [`EntityTag::strong`].
    pub fn weak(opaque: &str) -> Option<EntityTag> {
        opaque.chars().all(is_etagc).then(|| EntityTag { weak: true, opaque: opaque.to_owned() })
    }

    /// Parses one entity tag (`"xyz"` or `W/"xyz"`), surrounding whitespace allowed.
    pub fn parse(value: &str) -> Result<EntityTag, Error> {
        let mut p = Parser { s: value, pos: 0 };
        p.skip_ows();
        let tag = p.entity_tag()?;
        p.skip_ows();
        if p.pos != value.len() {
            return Err(p.error("end of the entity tag"));
        }
        Ok(tag)
    }

    /// Whether this is a weak tag.
    pub fn is_weak(&self) -> bool {
        self.weak
    }

    /// The opaque tag, without quotes and without `W/`.
    pub fn opaque(&self) -> &str {
        &self.opaque
    }

    /// Strong comparison (RFC 9110 section 8.8.3.2): both tags are strong and their opaque
    /// values are identical.
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison (RFC 9110 section 8.8.3.2): the opaque values are identical, whether
    /// either tag is weak or not.
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.opaque == other.opaque
    }
}

/// The field value form: `"xyz"` or `W/"xyz"`.
impl fmt::Display for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weak {
            f.write_str("W/")?;
        }
        write!(f, "\"{}\"", self.opaque)
    }
}

/// The value of an `If-Match` or `If-None-Match` field: `*` or a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagList {
    /// `*`: any current representation.
    Any,
    /// One or more entity tags.
    Tags(Vec<EntityTag>),
}

impl TagList {
    /// Parses a field value. Whitespace around elements and empty list elements
    /// (`"a", , "b"`) are tolerated as RFC 9110 section 5.6.1 asks; `*` must stand alone.
    /// An empty value is an error, since a client that sends one means something it did not
    /// say.
    pub fn parse(value: &str) -> Result<TagList, Error> {
        TagList::parse_lines([value])
    }

    /// Parses a field that arrived on several lines, as if they were joined with commas.
    pub fn parse_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<TagList, Error> {
        let mut tags = Vec::new();
        let mut any = false;
        let mut offset = 0;
        for line in lines {
            let mut p = Parser { s: line, pos: 0 };
            p.list(&mut tags, &mut any).map_err(|e| match e {
                Error::Malformed { at, reason } => Error::Malformed { at: at + offset, reason },
                e => e,
            })?;
            offset += line.len() + 1;
        }
        match (any, tags.is_empty()) {
            (true, true) => Ok(TagList::Any),
            (true, false) => Err(Error::Malformed { at: 0, reason: "`*` alone, not in a list" }),
            (false, true) => Err(Error::Empty),
            (false, false) => Ok(TagList::Tags(tags)),
        }
    }

    /// Whether a current tag matches the list with the strong comparison (If-Match).
    /// `*` matches any tag.
    pub fn matches_strong(&self, current: &EntityTag) -> bool {
        match self {
            TagList::Any => true,
            TagList::Tags(tags) => tags.iter().any(|t| t.strong_eq(current)),
        }
    }

    /// Whether a current tag matches the list with the weak comparison (If-None-Match).
    /// `*` matches any tag.
    pub fn matches_weak(&self, current: &EntityTag) -> bool {
        match self {
            TagList::Any => true,
            TagList::Tags(tags) => tags.iter().any(|t| t.weak_eq(current)),
        }
    }
}

/// The field value form: `*` or tags joined by `, `.
impl fmt::Display for TagList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagList::Any => f.write_str("*"),
            TagList::Tags(tags) => {
                for (i, t) in tags.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                Ok(())
            }
        }
    }
}

/// `etagc = %x21 / %x23-7E / obs-text`: visible ASCII but `"`, and any non-ASCII.
fn is_etagc(c: char) -> bool {
    c == '\x21' || ('\x23'..='\x7e').contains(&c) || !c.is_ascii()
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> Error {
        Error::Malformed { at: self.pos, reason }
    }

    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn skip_ows(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    /// `#( "*" / entity-tag )`, empty elements allowed.
    fn list(&mut self, tags: &mut Vec<EntityTag>, any: &mut bool) -> Result<(), Error> {
        loop {
            self.skip_ows();
            match self.rest().as_bytes().first() {
                None => return Ok(()),
                Some(b',') => {}
                Some(b'*') => {
                    if *any || !tags.is_empty() {
                        return Err(self.error("`*` alone, not in a list"));
                    }
                    *any = true;
                    self.pos += 1;
                }
                Some(_) => {
                    if *any {
                        return Err(self.error("`*` alone, not in a list"));
                    }
                    tags.push(self.entity_tag()?);
                }
            }
            self.skip_ows();
            match self.rest().as_bytes().first() {
                None => return Ok(()),
                Some(b',') => self.pos += 1,
                Some(_) => return Err(self.error("a comma between entity tags")),
            }
        }
    }

    /// `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE`
    fn entity_tag(&mut self) -> Result<EntityTag, Error> {
        let weak = self.rest().starts_with("W/");
        if weak {
            self.pos += 2;
        }
        if !self.rest().starts_with('"') {
            return Err(self.error("an opening double quote"));
        }
        self.pos += 1;
        let start = self.pos;
        for (i, c) in self.rest().char_indices() {
            if c == '"' {
                let opaque = self.s[start..start + i].to_owned();
                self.pos = start + i + 1;
                return Ok(EntityTag { weak, opaque });
            }
            if !is_etagc(c) {
                self.pos = start + i;
                return Err(self.error("an entity-tag character or a closing double quote"));
            }
        }
        self.pos = self.s.len();
        Err(self.error("a closing double quote"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tag(s: &str) -> EntityTag {
        EntityTag::parse(s).unwrap()
    }

    #[test]
    fn document_tags_are_strong_quoted_and_stable() {
        let t = EntityTag::of_json(&json!({"a": 1, "b": [true, null]}));
        assert!(!t.is_weak());
        assert_eq!(t.opaque().len(), 22);
        assert!(t.opaque().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(t, EntityTag::of_json(&json!({"a": 1, "b": [true, null]})));
        assert_eq!(t, EntityTag::of_bytes(br#"{"a":1,"b":[true,null]}"#));
        let s = t.to_string();
        assert!(s.starts_with('"') && s.ends_with('"'));
        assert_eq!(EntityTag::parse(&s).unwrap(), t);
        // The SHA-256 of the empty string starts e3b0c442 98fc1c14 9afbf4c8 996fb924.
        assert_eq!(EntityTag::of_bytes(b"").opaque(), "47DEQpj8HBSa-_TImW-5JA");
    }

    #[test]
    fn any_change_of_the_bytes_changes_the_tag() {
        let a = EntityTag::of_json(&json!({"a": 1, "b": 2}));
        assert_ne!(a, EntityTag::of_json(&json!({"a": 1, "b": 3})));
        assert_ne!(a, EntityTag::of_json(&json!({"b": 2, "a": 1})));
        assert_ne!(EntityTag::of_json(&json!(1)), EntityTag::of_json(&json!(1.0)));
    }

    #[test]
    fn constructors_check_the_characters() {
        assert_eq!(EntityTag::strong("abc").unwrap().to_string(), "\"abc\"");
        assert_eq!(EntityTag::weak("abc").unwrap().to_string(), "W/\"abc\"");
        assert_eq!(EntityTag::strong("").unwrap().to_string(), "\"\"");
        assert!(EntityTag::strong("a\"b").is_none());
        assert!(EntityTag::strong("a b").is_none());
        assert!(EntityTag::weak("a\u{7f}").is_none());
        assert!(EntityTag::strong("café").is_some());
    }

    #[test]
    fn single_tags() {
        assert_eq!(tag("\"xyzzy\""), EntityTag::strong("xyzzy").unwrap());
        assert_eq!(tag(" W/\"xyzzy\"\t"), EntityTag::weak("xyzzy").unwrap());
        assert_eq!(tag("\"\""), EntityTag::strong("").unwrap());
        for bad in ["xyzzy", "\"xyzzy", "w/\"x\"", "W/x", "\"a\" \"b\"", "\"a b\"", "", "W/"] {
            assert!(EntityTag::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn comparisons_follow_the_rfc_table() {
        // RFC 9110 section 8.8.3.2.
        let cases = [
            ("W/\"1\"", "W/\"1\"", false, true),
            ("W/\"1\"", "W/\"2\"", false, false),
            ("W/\"1\"", "\"1\"", false, true),
            ("\"1\"", "\"1\"", true, true),
        ];
        for (a, b, strong, weak) in cases {
            assert_eq!(tag(a).strong_eq(&tag(b)), strong, "{a} {b}");
            assert_eq!(tag(b).strong_eq(&tag(a)), strong, "{b} {a}");
            assert_eq!(tag(a).weak_eq(&tag(b)), weak, "{a} {b}");
        }
    }

    #[test]
    fn lists() {
        assert_eq!(TagList::parse("*").unwrap(), TagList::Any);
        assert_eq!(TagList::parse("  *  ").unwrap(), TagList::Any);
        let l = TagList::parse("\"xyzzy\", \"r2d2xxxx\",W/\"c3piozzzz\"").unwrap();
        assert_eq!(
            l,
            TagList::Tags(vec![tag("\"xyzzy\""), tag("\"r2d2xxxx\""), tag("W/\"c3piozzzz\"")])
        );
        assert_eq!(l.to_string(), "\"xyzzy\", \"r2d2xxxx\", W/\"c3piozzzz\"");
        assert_eq!(TagList::parse(" , \"a\" ,, \t\"b\", ").unwrap().to_string(), "\"a\", \"b\"");
        assert_eq!(TagList::parse("\"a,b\"").unwrap(), TagList::Tags(vec![tag("\"a,b\"")]));
        assert_eq!(
            TagList::parse_lines(["\"a\"", "W/\"b\""]).unwrap(),
            TagList::Tags(vec![tag("\"a\""), tag("W/\"b\"")])
        );
        assert_eq!(TagList::parse_lines(["*"]).unwrap(), TagList::Any);
    }

    #[test]
    fn malformed_lists() {
        assert_eq!(TagList::parse(""), Err(Error::Empty));
        assert_eq!(TagList::parse(" , ,"), Err(Error::Empty));
        assert_eq!(TagList::parse_lines([]), Err(Error::Empty));
        for bad in [
            "*, \"a\"",
            "\"a\", *",
            "*, *",
            "**",
            "xyzzy",
            "\"a\" \"b\"",
            "\"a\";\"b\"",
            "\"unterminated",
            "W/ \"a\"",
            "\"a\"x",
            "\"a\"\u{0}",
        ] {
            assert!(matches!(TagList::parse(bad), Err(Error::Malformed { .. })), "{bad}");
        }
        assert_eq!(
            TagList::parse("\"a\", b"),
            Err(Error::Malformed { at: 5, reason: "an opening double quote" })
        );
        assert_eq!(
            TagList::parse_lines(["\"a\"", "b"]),
            Err(Error::Malformed { at: 4, reason: "an opening double quote" })
        );
        assert!(TagList::parse_lines(["*", "\"a\""]).is_err());
    }

    #[test]
    fn list_matching() {
        let current = tag("\"1\"");
        assert!(TagList::Any.matches_strong(&current));
        assert!(TagList::Any.matches_weak(&current));
        let l = TagList::parse("W/\"1\", \"2\"").unwrap();
        assert!(!l.matches_strong(&current));
        assert!(l.matches_weak(&current));
        assert!(l.matches_strong(&tag("\"2\"")));
        assert!(!l.matches_weak(&tag("\"3\"")));
        assert!(!l.matches_strong(&tag("W/\"2\"")));
    }
}
