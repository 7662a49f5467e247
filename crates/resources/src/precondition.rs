//! Conditional requests (RFC 9110 section 13): the evaluation of `If-Match`,
//! `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since` in the order of section
//! 13.2.2, the decision to answer 428 Precondition Required (RFC 6585), and HTTP-dates.
//!
//! The caller applies section 13.2.1 first: preconditions are ignored when the request
//! would fail without them, so a GET or DELETE of a missing document answers 404 without
//! calling [`evaluate`]. A PUT that would create the document does call it (with no
//! current representation), which is how `If-Match: *` prevents a create and
//! `If-None-Match: *` prevents an overwrite. `If-Range` is not supported (the resources
//! layer serves no ranges), and the "the change already happened" escape of steps 1 and 2
//! is not taken: a repeated write answers 412, which is always allowed.
//!
//! Times are whole seconds since the Unix epoch, the resolution of an HTTP-date.

use crate::etag::{self, EntityTag, TagList};

/// The request method, as far as preconditions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    /// Any other method.
    Other,
}

impl Method {
    /// The method named by a request line's token (case-sensitive, as HTTP methods are).
    pub fn parse(name: &str) -> Method {
        match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }

    fn is_get_or_head(self) -> bool {
        matches!(self, Method::Get | Method::Head)
    }
}

/// The preconditions a request carries, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub if_match: Option<TagList>,
    pub if_none_match: Option<TagList>,
    /// `If-Modified-Since`, in seconds; `None` when absent or not a valid HTTP-date.
    pub if_modified_since: Option<i64>,
    /// `If-Unmodified-Since`, in seconds; `None` when absent or not a valid HTTP-date.
    pub if_unmodified_since: Option<i64>,
}

impl Conditions {
    /// Parses the four fields from their values. A malformed entity-tag list is an error
    /// (the caller answers 400); an invalid date is ignored, as RFC 9110 sections 13.1.3
    /// and 13.1.4 require.
    pub fn from_headers(
        if_match: Option<&str>,
        if_none_match: Option<&str>,
        if_modified_since: Option<&str>,
        if_unmodified_since: Option<&str>,
    ) -> Result<Conditions, etag::Error> {
        Ok(Conditions {
            if_match: if_match.map(TagList::parse).transpose()?,
            if_none_match: if_none_match.map(TagList::parse).transpose()?,
            if_modified_since: if_modified_since.and_then(parse_http_date),
            if_unmodified_since: if_unmodified_since.and_then(parse_http_date),
        })
    }
}

/// The selected representation, when the target resource has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current<'a> {
    pub etag: &'a EntityTag,
    /// The last modification, in whole seconds since the Unix epoch.
    pub last_modified: i64,
}

/// What the request's preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Perform the method.
    Proceed,
    /// 304 Not Modified (only for GET and HEAD).
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

/// Evaluates the preconditions in the order of RFC 9110 section 13.2.2.
pub fn evaluate(method: Method, conditions: &Conditions, current: Option<Current<'_>>) -> Outcome {
    // Step 1: If-Match; step 2: If-Unmodified-Since, only without If-Match.
    if let Some(if_match) = &conditions.if_match {
        let holds = current.is_some_and(|c| if_match.matches_strong(c.etag));
        if !holds {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(since) = conditions.if_unmodified_since {
        // Ignored when the resource has no modification date, i.e. no representation.
        if current.is_some_and(|c| c.last_modified > since) {
            return Outcome::PreconditionFailed;
        }
    }
    // Step 3: If-None-Match; step 4: If-Modified-Since, only without If-None-Match and
    // only for GET and HEAD.
    if let Some(if_none_match) = &conditions.if_none_match {
        let holds = !current.is_some_and(|c| if_none_match.matches_weak(c.etag));
        if !holds {
            return if method.is_get_or_head() {
                Outcome::NotModified
            } else {
                Outcome::PreconditionFailed
            };
        }
    } else if let (true, Some(since), Some(c)) =
        (method.is_get_or_head(), conditions.if_modified_since, current)
    {
        if c.last_modified <= since {
            return Outcome::NotModified;
        }
    }
    Outcome::Proceed
}

/// Whether a write must be refused with 428 Precondition Required (RFC 6585 section 3):
/// the collection requires conditional writes and a PUT, PATCH or DELETE carries neither
/// `If-Match` nor a valid `If-Unmodified-Since` (and, for a PUT, no `If-None-Match: *`,
/// which makes a create-only PUT conditional). A POST creates a new document under a new
/// key and cannot lose an update, so it is never refused.
pub fn precondition_required(method: Method, conditions: &Conditions, required: bool) -> bool {
    if !required || !matches!(method, Method::Put | Method::Patch | Method::Delete) {
        return false;
    }
    if conditions.if_match.is_some() || conditions.if_unmodified_since.is_some() {
        return false;
    }
    !(method == Method::Put && conditions.if_none_match == Some(TagList::Any))
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Parses an HTTP-date in the preferred IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`)
/// or the obsolete asctime form (`Sun Nov  6 08:49:37 1994`) into seconds since the epoch.
/// The obsolete RFC 850 form, whose two-digit year needs the current time to read, is
/// treated as invalid, and so is anything else (a recipient ignores an invalid date).
pub fn parse_http_date(value: &str) -> Option<i64> {
    let v = value.trim_matches([' ', '\t']).as_bytes();
    // Both forms are pure ASCII of a fixed length.
    if !v.is_ascii() {
        return None;
    }
    let s = std::str::from_utf8(v).ok()?;
    let (day_name, day, month, year, time) = match v.len() {
        29 if &s[3..5] == ", "
            && &s[7..8] == " "
            && &s[11..12] == " "
            && &s[16..17] == " "
            && &s[25..] == " GMT" =>
        {
            (&s[0..3], &s[5..7], &s[8..11], &s[12..16], &s[17..25])
        }
        24 if &s[3..4] == " " && &s[7..8] == " " && &s[10..11] == " " && &s[19..20] == " " => {
            (&s[0..3], &s[8..10], &s[4..7], &s[20..24], &s[11..19])
        }
        _ => return None,
    };
    DAYS.iter().position(|d| *d == day_name)?;
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let day = digits(day.trim_start_matches(' '), 1, 2)? as u32;
    let year = digits(year, 4, 4)?;
    let t = time.as_bytes();
    if t[2] != b':' || t[5] != b':' {
        return None;
    }
    let (h, m, sec) =
        (digits(&time[0..2], 2, 2)?, digits(&time[3..5], 2, 2)?, digits(&time[6..8], 2, 2)?);
    // The grammar allows a leap second, 60.
    if h > 23 || m > 59 || sec > 60 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3_600 + m * 60 + sec)
}

/// Formats seconds since the epoch as an IMF-fixdate, for `Last-Modified`. Years before
/// 1 or after 9999 have no IMF-fixdate; they are clamped into that range.
pub fn format_http_date(seconds: i64) -> String {
    const MIN: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let seconds = seconds.clamp(MIN, MAX);
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday.
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[weekday],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// Parses `min..=max` ASCII digits.
fn digits(s: &str, min: usize, max: usize) -> Option<i64> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Years are counted from March, so
/// the leap day ends a year; 400-year eras have 146,097 days.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = i64::from((m + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(d) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let d = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let m = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let y = year_of_era + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1994: i64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    fn tags(s: &str) -> Option<TagList> {
        Some(TagList::parse(s).unwrap())
    }

    fn current(etag: &EntityTag) -> Option<Current<'_>> {
        Some(Current { etag, last_modified: T1994 })
    }

    fn etag() -> EntityTag {
        EntityTag::strong("v1").unwrap()
    }

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(T1994));
        assert_eq!(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT "), Some(T1994));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(T1994));
        assert_eq!(parse_http_date("Sun Nov 06 08:49:37 1994"), Some(T1994));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT"), Some(-1));
        assert_eq!(parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"), Some(951_825_600));
        assert_eq!(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT"), Some(1_483_228_800));
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Thu, 29 Feb 2001 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 06 Nov 1994 08-49-37 GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTé",
            "Sun, 0é Nov 1994 08:49:37 GM",
            "1994-11-06T08:49:37Z",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn format_round_trips() {
        assert_eq!(format_http_date(T1994), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format_http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(format_http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(format_http_date(i64::MIN), "Mon, 01 Jan 0001 00:00:00 GMT");
        let mut t = -62_135_596_800;
        while t < 253_402_300_799 {
            assert_eq!(parse_http_date(&format_http_date(t)), Some(t), "{t}");
            t += 86_400 * 13 + 3_607;
        }
    }

    #[test]
    fn parse_headers() {
        let c = Conditions::from_headers(
            Some("\"a\""),
            Some("*"),
            Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some("yesterday"),
        )
        .unwrap();
        assert_eq!(c.if_match, tags("\"a\""));
        assert_eq!(c.if_none_match, Some(TagList::Any));
        assert_eq!(c.if_modified_since, Some(T1994));
        assert_eq!(c.if_unmodified_since, None);
        assert!(Conditions::from_headers(Some("a"), None, None, None).is_err());
        assert!(Conditions::from_headers(None, Some(""), None, None).is_err());
        assert_eq!(
            Conditions::from_headers(None, None, None, None).unwrap(),
            Conditions::default()
        );
        assert_eq!(Method::parse("GET"), Method::Get);
        assert_eq!(Method::parse("get"), Method::Other);
        assert_eq!(Method::parse("DELETE"), Method::Delete);
    }

    #[test]
    fn no_conditions_proceed() {
        let e = etag();
        for m in [Method::Get, Method::Put, Method::Delete] {
            assert_eq!(evaluate(m, &Conditions::default(), current(&e)), Outcome::Proceed);
            assert_eq!(evaluate(m, &Conditions::default(), None), Outcome::Proceed);
        }
    }

    #[test]
    fn if_match() {
        let e = etag();
        let c = |v: &str| Conditions { if_match: tags(v), ..Conditions::default() };
        assert_eq!(evaluate(Method::Put, &c("\"v1\""), current(&e)), Outcome::Proceed);
        assert_eq!(evaluate(Method::Put, &c("\"v0\", \"v1\""), current(&e)), Outcome::Proceed);
        assert_eq!(evaluate(Method::Put, &c("\"v2\""), current(&e)), Outcome::PreconditionFailed);
        // If-Match uses the strong comparison: a weak tag never matches.
        assert_eq!(evaluate(Method::Put, &c("W/\"v1\""), current(&e)), Outcome::PreconditionFailed);
        assert_eq!(evaluate(Method::Get, &c("\"v2\""), current(&e)), Outcome::PreconditionFailed);
        assert_eq!(evaluate(Method::Put, &c("*"), current(&e)), Outcome::Proceed);
        // `If-Match: *` on a missing resource fails: it means "only if it exists".
        assert_eq!(evaluate(Method::Put, &c("*"), None), Outcome::PreconditionFailed);
        assert_eq!(evaluate(Method::Put, &c("\"v1\""), None), Outcome::PreconditionFailed);
    }

    #[test]
    fn if_none_match() {
        let e = etag();
        let c = |v: &str| Conditions { if_none_match: tags(v), ..Conditions::default() };
        // `If-None-Match: *` on an existing resource: a create-only PUT fails.
        assert_eq!(evaluate(Method::Put, &c("*"), current(&e)), Outcome::PreconditionFailed);
        assert_eq!(evaluate(Method::Put, &c("*"), None), Outcome::Proceed);
        assert_eq!(evaluate(Method::Get, &c("*"), current(&e)), Outcome::NotModified);
        assert_eq!(evaluate(Method::Head, &c("\"v1\""), current(&e)), Outcome::NotModified);
        // If-None-Match uses the weak comparison.
        assert_eq!(evaluate(Method::Get, &c("W/\"v1\""), current(&e)), Outcome::NotModified);
        assert_eq!(evaluate(Method::Get, &c("\"v0\""), current(&e)), Outcome::Proceed);
        assert_eq!(
            evaluate(Method::Delete, &c("\"v1\""), current(&e)),
            Outcome::PreconditionFailed
        );
        assert_eq!(evaluate(Method::Delete, &c("\"v0\""), current(&e)), Outcome::Proceed);
        assert_eq!(evaluate(Method::Get, &c("\"v1\""), None), Outcome::Proceed);
    }

    #[test]
    fn if_unmodified_since() {
        let e = etag();
        let c = |t: i64| Conditions { if_unmodified_since: Some(t), ..Conditions::default() };
        assert_eq!(evaluate(Method::Put, &c(T1994), current(&e)), Outcome::Proceed);
        assert_eq!(evaluate(Method::Put, &c(T1994 + 1), current(&e)), Outcome::Proceed);
        assert_eq!(evaluate(Method::Put, &c(T1994 - 1), current(&e)), Outcome::PreconditionFailed);
        assert_eq!(evaluate(Method::Get, &c(T1994 - 1), current(&e)), Outcome::PreconditionFailed);
        // No representation, no modification date: ignored.
        assert_eq!(evaluate(Method::Put, &c(T1994 - 1), None), Outcome::Proceed);
        // Ignored when If-Match is present, whichever way If-Match goes.
        let both = Conditions { if_match: tags("\"v1\""), ..c(T1994 - 1) };
        assert_eq!(evaluate(Method::Put, &both, current(&e)), Outcome::Proceed);
        let both = Conditions { if_match: tags("\"v2\""), ..c(T1994 + 1) };
        assert_eq!(evaluate(Method::Put, &both, current(&e)), Outcome::PreconditionFailed);
    }

    #[test]
    fn if_modified_since() {
        let e = etag();
        let c = |t: i64| Conditions { if_modified_since: Some(t), ..Conditions::default() };
        assert_eq!(evaluate(Method::Get, &c(T1994), current(&e)), Outcome::NotModified);
        assert_eq!(evaluate(Method::Head, &c(T1994 + 10), current(&e)), Outcome::NotModified);
        assert_eq!(evaluate(Method::Get, &c(T1994 - 1), current(&e)), Outcome::Proceed);
        assert_eq!(evaluate(Method::Get, &c(T1994), None), Outcome::Proceed);
        // Only for GET and HEAD.
        for m in [Method::Put, Method::Patch, Method::Delete, Method::Post, Method::Other] {
            assert_eq!(evaluate(m, &c(T1994), current(&e)), Outcome::Proceed, "{m:?}");
        }
        // Ignored when If-None-Match is present.
        let both = Conditions { if_none_match: tags("\"v0\""), ..c(T1994) };
        assert_eq!(evaluate(Method::Get, &both, current(&e)), Outcome::Proceed);
        let both = Conditions { if_none_match: tags("\"v1\""), ..c(T1994 - 1) };
        assert_eq!(evaluate(Method::Get, &both, current(&e)), Outcome::NotModified);
    }

    #[test]
    fn the_order_of_the_steps() {
        let e = etag();
        // A failed If-Match wins over a would-be 304.
        let c = Conditions {
            if_match: tags("\"v2\""),
            if_none_match: tags("\"v1\""),
            ..Conditions::default()
        };
        assert_eq!(evaluate(Method::Get, &c, current(&e)), Outcome::PreconditionFailed);
        // A failed If-Unmodified-Since wins over a would-be 304.
        let c = Conditions {
            if_unmodified_since: Some(T1994 - 1),
            if_modified_since: Some(T1994),
            ..Conditions::default()
        };
        assert_eq!(evaluate(Method::Get, &c, current(&e)), Outcome::PreconditionFailed);
        // Both pass: If-Match holds, If-None-Match holds.
        let c = Conditions {
            if_match: tags("\"v1\""),
            if_none_match: tags("\"v0\""),
            ..Conditions::default()
        };
        assert_eq!(evaluate(Method::Put, &c, current(&e)), Outcome::Proceed);
        // If-Match holds, If-None-Match fails on a write: 412.
        let c =
            Conditions { if_match: tags("*"), if_none_match: tags("*"), ..Conditions::default() };
        assert_eq!(evaluate(Method::Put, &c, current(&e)), Outcome::PreconditionFailed);
    }

    #[test]
    fn precondition_required_for_unconditional_writes() {
        let none = Conditions::default();
        for m in [Method::Put, Method::Patch, Method::Delete] {
            assert!(precondition_required(m, &none, true), "{m:?}");
            assert!(!precondition_required(m, &none, false), "{m:?}");
        }
        for m in [Method::Get, Method::Head, Method::Post, Method::Other] {
            assert!(!precondition_required(m, &none, true), "{m:?}");
        }
        let if_match = Conditions { if_match: tags("\"v1\""), ..Conditions::default() };
        let since = Conditions { if_unmodified_since: Some(T1994), ..Conditions::default() };
        let create = Conditions { if_none_match: Some(TagList::Any), ..Conditions::default() };
        let not_tag = Conditions { if_none_match: tags("\"v1\""), ..Conditions::default() };
        for m in [Method::Put, Method::Patch, Method::Delete] {
            assert!(!precondition_required(m, &if_match, true));
            assert!(!precondition_required(m, &since, true));
        }
        assert!(!precondition_required(Method::Put, &create, true));
        assert!(precondition_required(Method::Patch, &create, true));
        assert!(precondition_required(Method::Delete, &create, true));
        assert!(precondition_required(Method::Put, &not_tag, true));
        // An invalid If-Unmodified-Since was dropped while parsing: it does not count.
        let invalid = Conditions::from_headers(None, None, None, Some("soon")).unwrap();
        assert!(precondition_required(Method::Put, &invalid, true));
    }
}
