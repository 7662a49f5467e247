//! The `Link` header of a page (RFC 8288): `<...>; rel="next"` pointing at the next page,
//! with the cursor and the limit in its query.

use std::fmt::Write as _;

/// The query parameter that carries the cursor.
pub const CURSOR_PARAM: &str = "cursor";
/// The query parameter that carries the page size.
pub const LIMIT_PARAM: &str = "limit";

/// The `Link` field value for the next page: `<path?params&cursor=...&limit=...>;
/// rel="next"`.
///
/// `path` is the request's path as it arrived (percent-encoded); characters a path cannot
/// hold are encoded, and a `%` that does not start an escape becomes `%25`. `params` are
/// the other query parameters of the listing, decoded, kept in their order (a `cursor` or
/// `limit` among them is dropped for the new ones). Names and values are percent-encoded
/// except for RFC 3986's unreserved characters, so the target is a valid URI-Reference.
pub fn next(path: &str, params: &[(&str, &str)], cursor: &str, limit: usize) -> String {
    let mut out = String::with_capacity(path.len() + cursor.len() + 32);
    out.push('<');
    encode_path(&mut out, path);
    let limit = limit.to_string();
    let kept = params.iter().filter(|(k, _)| *k != CURSOR_PARAM && *k != LIMIT_PARAM);
    let all = kept.copied().chain([(CURSOR_PARAM, cursor), (LIMIT_PARAM, limit.as_str())]);
    for (i, (name, value)) in all.enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        encode_component(&mut out, name);
        out.push('=');
        encode_component(&mut out, value);
    }
    out.push_str(">; rel=\"next\"");
    out
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn push_escape(out: &mut String, b: u8) {
    let _ = write!(out, "%{b:02X}");
}

/// Everything but the unreserved characters is escaped.
fn encode_component(out: &mut String, s: &str) {
    for b in s.bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            push_escape(out, b);
        }
    }
}

/// `pchar`s and `/` stay; valid escapes stay; anything else is escaped.
fn encode_path(out: &mut String, path: &str) {
    let b = path.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let keep = is_unreserved(c)
            || matches!(c, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';')
            || matches!(c, b'=' | b':' | b'@' | b'/')
            || (c == b'%'
                && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if keep {
            out.push(char::from(c));
        } else {
            push_escape(out, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_next_link() {
        assert_eq!(
            next("/resources/orders", &[], "AbC-_9", 25),
            "</resources/orders?cursor=AbC-_9&limit=25>; rel=\"next\""
        );
    }

    #[test]
    fn other_parameters_are_kept_and_encoded() {
        assert_eq!(
            next(
                "/resources/orders",
                &[
                    ("filter", "status = :s AND total > :t"),
                    ("cursor", "old"),
                    ("values", "{\":s\":\"OPEN\",\":t\":10}"),
                    ("limit", "5"),
                    ("a&b", "c=d?e#f/g+h%i"),
                    ("ü", "€"),
                ],
                "xyz",
                10
            ),
            "</resources/orders?filter=status%20%3D%20%3As%20AND%20total%20%3E%20%3At\
             &values=%7B%22%3As%22%3A%22OPEN%22%2C%22%3At%22%3A10%7D\
             &a%26b=c%3Dd%3Fe%23f%2Fg%2Bh%25i&%C3%BC=%E2%82%AC&cursor=xyz&limit=10>; rel=\"next\""
        );
    }

    #[test]
    fn paths_are_made_valid() {
        assert_eq!(next("/a%20b/c", &[], "x", 1), "</a%20b/c?cursor=x&limit=1>; rel=\"next\"");
        assert_eq!(
            next("/a b/<c>?#%zz%4", &[], "x", 1),
            "</a%20b/%3Cc%3E%3F%23%25zz%254?cursor=x&limit=1>; rel=\"next\""
        );
        assert_eq!(next("/é", &[], "x", 1), "</%C3%A9?cursor=x&limit=1>; rel=\"next\"");
        assert_eq!(next("", &[], "", 0), "<?cursor=&limit=0>; rel=\"next\"");
        assert_eq!(next("/a:b@c;d=e", &[], "x", 1), "</a:b@c;d=e?cursor=x&limit=1>; rel=\"next\"");
    }
}
