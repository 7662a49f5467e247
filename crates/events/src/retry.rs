//! When to try a delivery again: the schedule, jitter, `Retry-After`, and what a response
//! means.
//!
//! A [`Schedule`] lists the delay before each attempt: the default is Standard Webhooks' (and
//! Svix's) `immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h`, so eight attempts over
//! about a day and a quarter; a subscription may give its own (`["0s", "5s", "5m"]`). Each
//! delay is jittered by ±20% with a random draw the caller passes in, so the same inputs give
//! the same answer in tests and in a replay.
//!
//! An attempt's [`Outcome`] is classified into a [`Verdict`]: 2xx is delivered, 410 Gone
//! disables the endpoint, anything else (3xx, since redirects are not followed, 4xx, 5xx, a
//! timeout, a connection error) is retried. On 429 and 503 a `Retry-After` header (delta
//! seconds or an HTTP-date) holds the next attempt back at least that long, clamped to
//! [`RetryPolicy::max_retry_after`]. [`RetryPolicy::decide`] then says what to do: done, try
//! again at a time, dead-letter (the schedule is exhausted), or disable.
//!
//! Times are milliseconds since the epoch, as in the rest of Baton; nothing here reads the
//! clock.

use std::time::Duration;

use crate::error::{Error, Result};

/// The default schedule's delays, before attempts 1 to 8.
const DEFAULT_DELAYS_SECS: [u64; 8] =
    [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];
/// At most this many attempts in a schedule.
pub const MAX_ATTEMPTS: usize = 100;
/// At most this long between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);
/// The default cap on a `Retry-After`: the longest delay of the default schedule.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);
/// Jitter spreads a delay over `delay × [1 - JITTER, 1 + JITTER)`.
const JITTER: f64 = 0.2;

/// The delays before each attempt of a delivery; the first is usually zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    delays: Vec<Duration>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule { delays: DEFAULT_DELAYS_SECS.iter().map(|s| Duration::from_secs(*s)).collect() }
    }
}

impl Schedule {
    /// A schedule of 1 to [`MAX_ATTEMPTS`] delays, each at most [`MAX_DELAY`].
    pub fn new(delays: Vec<Duration>) -> Result<Self> {
        if delays.is_empty() {
            return Err(Error::Schedule("a schedule needs at least one attempt".into()));
        }
        if delays.len() > MAX_ATTEMPTS {
            return Err(Error::Schedule(format!(
                "a schedule may have at most {MAX_ATTEMPTS} attempts, not {}",
                delays.len()
            )));
        }
        if let Some(long) = delays.iter().find(|d| **d > MAX_DELAY) {
            return Err(Error::Schedule(format!(
                "a delay may be at most 7 days, not {}",
                format_duration(*long)
            )));
        }
        Ok(Schedule { delays })
    }

    /// Parses a list like `["0s", "5s", "5m", "30m", "2h"]` (see [`parse_duration`]).
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self> {
        let delays = items.iter().map(|s| parse_duration(s.as_ref())).collect::<Result<_>>()?;
        Schedule::new(delays)
    }

    /// How many attempts the schedule allows.
    pub fn attempts(&self) -> u32 {
        self.delays.len() as u32
    }

    /// The delays, as given.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// The delay before attempt `attempt` (1-based), if the schedule has one.
    pub fn delay_before(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.delays.get(index).copied()
    }
}

/// Parses a duration: a sequence of numbers with units `ms`, `s`, `m`, `h` or `d` (`"90s"`,
/// `"1h30m"`); a bare `0` is zero.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = |why: &str| Error::Schedule(format!("{text:?} is not a duration: {why}"));
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected a number, like 5s, 10m, 2h or 1d"));
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let millis_per = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(bad("a unit (ms, s, m, h or d) must follow each number")),
            _ => return Err(bad(&format!("unknown unit {unit:?}; use ms, s, m, h or d"))),
        };
        let part = value.checked_mul(millis_per).ok_or_else(|| bad("it is too long"))?;
        total =
            total.checked_add(Duration::from_millis(part)).ok_or_else(|| bad("it is too long"))?;
    }
    Ok(total)
}

/// A duration as the schedule syntax writes it (`"1h30m"`, `"0s"`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in
        [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)]
    {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Spreads `delay` over `delay × [0.8, 1.2)` by `draw`, a random number in `[0, 1)`. Draws
/// outside that range are clamped into it (a NaN counts as 0.5, no jitter).
pub fn jitter(delay: Duration, draw: f64) -> Duration {
    let draw = if draw.is_nan() { 0.5 } else { draw.clamp(0.0, 1.0) };
    let factor = 1.0 - JITTER + 2.0 * JITTER * draw;
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(delay)
}

/// What happened to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The endpoint answered with this status and, perhaps, a `Retry-After` header.
    Response {
        /// The HTTP status code.
        status: u16,
        /// The `Retry-After` header's value, if there was one.
        retry_after: Option<&'a str>,
    },
    /// No answer within the timeout (15 s by default).
    Timeout,
    /// The connection failed: refused, reset, TLS, DNS, or a refused address.
    ConnectionError,
}

/// What an outcome means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx: delivered.
    Delivered,
    /// Try again, not before `not_before` if the endpoint said so.
    Retry {
        /// The endpoint's `Retry-After`, already clamped.
        not_before: Option<Duration>,
    },
    /// 410 Gone: the endpoint wants no more deliveries.
    Disable,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The message was delivered.
    Delivered,
    /// Try again at this time (ms since the epoch).
    RetryAt(i64),
    /// The schedule is exhausted: the message goes to the dead-letter store.
    DeadLetter,
    /// The endpoint asked to be disabled (410 Gone).
    Disable,
}

/// A subscription's retry settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delays before each attempt.
    pub schedule: Schedule,
    /// The longest `Retry-After` honoured: a receiver cannot park a delivery for longer.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { schedule: Schedule::default(), max_retry_after: DEFAULT_MAX_RETRY_AFTER }
    }
}

impl RetryPolicy {
    /// When the first attempt of a message published at `published_ms` is due.
    pub fn first_attempt_at(&self, published_ms: i64, draw: f64) -> i64 {
        let delay = self.schedule.delay_before(1).unwrap_or(Duration::ZERO);
        add_ms(published_ms, jitter(delay, draw))
    }

    /// What an outcome means, given `now_ms` to read an HTTP-date `Retry-After` against.
    pub fn classify(&self, outcome: &Outcome<'_>, now_ms: i64) -> Verdict {
        match *outcome {
            Outcome::Response { status: 200..=299, .. } => Verdict::Delivered,
            Outcome::Response { status: 410, .. } => Verdict::Disable,
            Outcome::Response { status: 429 | 503, retry_after } => Verdict::Retry {
                not_before: retry_after
                    .and_then(|v| parse_retry_after(v, now_ms))
                    .map(|d| d.min(self.max_retry_after)),
            },
            Outcome::Response { .. } | Outcome::Timeout | Outcome::ConnectionError => {
                Verdict::Retry { not_before: None }
            }
        }
    }

    /// What to do after attempt number `attempt` (1-based) ended with `outcome` at `now_ms`;
    /// `draw` is a random number in `[0, 1)` for the jitter. A retry waits for the next
    /// scheduled (jittered) delay, or for the endpoint's `Retry-After` if that is longer.
    pub fn decide(&self, attempt: u32, outcome: &Outcome<'_>, now_ms: i64, draw: f64) -> Decision {
        match self.classify(outcome, now_ms) {
            Verdict::Delivered => Decision::Delivered,
            Verdict::Disable => Decision::Disable,
            Verdict::Retry { not_before } => {
                let Some(delay) = self.schedule.delay_before(attempt.max(1).saturating_add(1))
                else {
                    return Decision::DeadLetter;
                };
                let delay = jitter(delay, draw).max(not_before.unwrap_or(Duration::ZERO));
                Decision::RetryAt(add_ms(now_ms, delay))
            }
        }
    }

    /// When to try again after attempt `attempt`: `None` when there is no next attempt
    /// (delivered, disabled, or the schedule is exhausted and the message is dead-lettered;
    /// [`RetryPolicy::decide`] tells these apart).
    pub fn next_attempt(
        &self,
        attempt: u32,
        outcome: &Outcome<'_>,
        now_ms: i64,
        draw: f64,
    ) -> Option<i64> {
        match self.decide(attempt, outcome, now_ms, draw) {
            Decision::RetryAt(at) => Some(at),
            _ => None,
        }
    }
}

/// How long an endpoint may fail every delivery before it is disabled (Svix's figure).
pub const DEFAULT_DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);

/// Whether an endpoint whose deliveries have all failed since `failing_since_ms` (the end of
/// its last success, or `None` if it is healthy) has failed for longer than `threshold` at
/// `now_ms`, and should be disabled with an operational event saying so.
pub fn failing_too_long(failing_since_ms: Option<i64>, now_ms: i64, threshold: Duration) -> bool {
    failing_since_ms.is_some_and(|since| {
        let threshold = i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(since) > threshold
    })
}

fn add_ms(now_ms: i64, delay: Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
}

/// Parses a `Retry-After` value: delta seconds, or an HTTP-date read against `now_ms` (a date
/// in the past means now). `None` if it is neither.
pub fn parse_retry_after(value: &str, now_ms: i64) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to fit is "very long"; the caller clamps it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let now_secs = now_ms.div_euclid(1000);
    let at = parse_http_date(value, now_secs)?;
    let delta_ms = at.saturating_mul(1000).saturating_sub(now_ms);
    Some(Duration::from_millis(u64::try_from(delta_ms).unwrap_or(0)))
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] =
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Parses an HTTP-date in any of RFC 9110's three formats into seconds since the epoch:
/// `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT` and
/// `Sun Nov  6 08:49:37 1994`. A two-digit year is the most recent such year not more than
/// 50 years after `now_secs`, as RFC 9110 asks.
pub fn parse_http_date(text: &str, now_secs: i64) -> Option<i64> {
    let month = |m: &str| MONTHS.iter().position(|x| *x == m).map(|i| i as u32 + 1);
    let (year, month, day, time) = if let Some((weekday, rest)) = text.split_once(", ") {
        let fields: Vec<&str> = rest.split(' ').collect();
        if DAYS.contains(&weekday) {
            // IMF-fixdate.
            let [day, mon, year, time, "GMT"] = fields[..] else { return None };
            if day.len() != 2 || year.len() != 4 {
                return None;
            }
            (number(year)?, month(mon)?, number(day)?, time)
        } else if LONG_DAYS.contains(&weekday) {
            // RFC 850.
            let [date, time, "GMT"] = fields[..] else { return None };
            let mut parts = date.split('-');
            let (Some(day), Some(mon), Some(yy), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return None;
            };
            if day.len() != 2 || yy.len() != 2 {
                return None;
            }
            (two_digit_year(number(yy)?, now_secs), month(mon)?, number(day)?, time)
        } else {
            return None;
        }
    } else {
        // asctime: the day is padded with a space, so split on runs of spaces.
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [weekday, mon, day, time, year] = fields[..] else { return None };
        if !DAYS.contains(&weekday) || day.len() > 2 || year.len() != 4 {
            return None;
        }
        (number(year)?, month(mon)?, number(day)?, time)
    };
    let mut hms = time.split(':');
    let (Some(h), Some(m), Some(s), None) = (hms.next(), hms.next(), hms.next(), hms.next()) else {
        return None;
    };
    if h.len() != 2 || m.len() != 2 || s.len() != 2 {
        return None;
    }
    let (h, m, s) = (number(h)?, number(m)?, number(s)?);
    if h > 23 || m > 59 || s > 60 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    Some(days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s))
}

fn number(digits: &str) -> Option<u32> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn two_digit_year(yy: u32, now_secs: i64) -> u32 {
    let now_year = civil_year(now_secs.div_euclid(86_400));
    let century = now_year - now_year.rem_euclid(100);
    let mut year = century + i64::from(yy);
    if year > now_year + 50 {
        year -= 100;
    }
    u32::try_from(year).unwrap_or(0)
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of a day counted from 1970-01-01.
fn civil_year(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let year = yoe + era * 400;
    if mp >= 10 {
        year + 1
    } else {
        year
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT
    const S: u64 = 1000;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_default_schedule_is_standard_webhooks() {
        let s = Schedule::default();
        assert_eq!(s.attempts(), 8);
        let want = ["0s", "5s", "5m", "30m", "2h", "5h", "10h", "10h"];
        assert_eq!(s, Schedule::parse(&want).unwrap());
        assert_eq!(s.delays().iter().map(|d| format_duration(*d)).collect::<Vec<_>>(), want);
        assert_eq!(s.delay_before(0), None);
        assert_eq!(s.delay_before(1), Some(Duration::ZERO));
        assert_eq!(s.delay_before(8), Some(secs(36_000)));
        assert_eq!(s.delay_before(9), None);
    }

    #[test]
    fn durations_parse_and_print() {
        let cases = [
            ("0", 0),
            ("0s", 0),
            ("250ms", 250),
            ("5s", 5_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("1h30m", 5_400_000),
            (" 10s ", 10_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_millis(ms), "{text}");
        }
        assert_eq!(format_duration(Duration::from_millis(5_400_250)), "1h30m250ms");
        for bad in [
            "",
            "5",
            "s",
            "5x",
            "5 s",
            "-5s",
            "1.5h",
            "99999999999999999999s",
            "18446744073709551615d",
        ] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid retry schedule"), "{bad}: {err}");
        }
    }

    #[test]
    fn schedules_are_validated() {
        assert!(Schedule::parse::<&str>(&[]).is_err());
        assert!(Schedule::parse(&["8d"]).unwrap_err().to_string().contains("at most 7 days"));
        assert!(Schedule::parse(&["7d"]).is_ok());
        let many = vec!["1s"; MAX_ATTEMPTS + 1];
        assert!(Schedule::parse(&many).is_err());
        assert!(Schedule::parse(&many[1..]).is_ok());
        assert!(Schedule::parse(&["0s", "nope"]).is_err());
    }

    #[test]
    fn jitter_spreads_twenty_percent_either_way() {
        let d = secs(100);
        assert_eq!(jitter(d, 0.0), secs(80));
        assert_eq!(jitter(d, 0.5), secs(100));
        assert!(jitter(d, 0.999_999) < secs(120));
        assert!(jitter(d, 0.999_999) > secs(119));
        assert_eq!(jitter(d, -3.0), secs(80));
        assert_eq!(jitter(d, 7.0), secs(120));
        assert_eq!(jitter(d, f64::NAN), secs(100));
        assert_eq!(jitter(d, f64::INFINITY), secs(120));
        assert_eq!(jitter(Duration::ZERO, 0.9), Duration::ZERO);
        assert_eq!(jitter(Duration::MAX, 0.9), Duration::MAX);
    }

    #[test]
    fn responses_are_classified() {
        let p = RetryPolicy::default();
        let status = |status| p.classify(&Outcome::Response { status, retry_after: None }, NOW);
        for code in [200, 201, 204, 299] {
            assert_eq!(status(code), Verdict::Delivered, "{code}");
        }
        assert_eq!(status(410), Verdict::Disable);
        for code in [
            0, 100, 199, 300, 301, 302, 304, 400, 401, 404, 408, 409, 413, 429, 500, 502, 503, 504,
            600, 999,
        ] {
            assert_eq!(status(code), Verdict::Retry { not_before: None }, "{code}");
        }
        assert_eq!(p.classify(&Outcome::Timeout, NOW), Verdict::Retry { not_before: None });
        assert_eq!(p.classify(&Outcome::ConnectionError, NOW), Verdict::Retry { not_before: None });
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        let p = RetryPolicy::default();
        let with = |status, v| p.classify(&Outcome::Response { status, retry_after: Some(v) }, NOW);
        assert_eq!(with(429, "120"), Verdict::Retry { not_before: Some(secs(120)) });
        assert_eq!(
            with(503, "Sun, 06 Nov 1994 08:51:37 GMT"),
            Verdict::Retry { not_before: Some(secs(120)) }
        );
        assert_eq!(with(500, "120"), Verdict::Retry { not_before: None });
        assert_eq!(with(302, "120"), Verdict::Retry { not_before: None });
        assert_eq!(with(429, "soon"), Verdict::Retry { not_before: None });
        // Clamped to the maximum.
        assert_eq!(
            with(429, "999999999999999999999999"),
            Verdict::Retry { not_before: Some(DEFAULT_MAX_RETRY_AFTER) }
        );
        let strict = RetryPolicy { max_retry_after: secs(60), ..RetryPolicy::default() };
        let v = strict.classify(&Outcome::Response { status: 503, retry_after: Some("3600") }, NOW);
        assert_eq!(v, Verdict::Retry { not_before: Some(secs(60)) });
        // A date in the past means now.
        assert_eq!(
            with(429, "Sun, 06 Nov 1994 08:00:00 GMT"),
            Verdict::Retry { not_before: Some(Duration::ZERO) }
        );
    }

    #[test]
    fn decisions_walk_the_schedule() {
        let p = RetryPolicy::default();
        let fail = Outcome::Response { status: 500, retry_after: None };
        let expected = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
        for (i, delay) in expected.iter().enumerate() {
            let attempt = i as u32 + 1;
            assert_eq!(
                p.decide(attempt, &fail, NOW, 0.5),
                Decision::RetryAt(NOW + *delay as i64 * 1000),
                "{attempt}"
            );
            assert_eq!(p.next_attempt(attempt, &fail, NOW, 0.5), Some(NOW + *delay as i64 * 1000));
        }
        assert_eq!(p.decide(8, &fail, NOW, 0.5), Decision::DeadLetter);
        assert_eq!(p.next_attempt(8, &fail, NOW, 0.5), None);
        assert_eq!(p.decide(u32::MAX, &fail, NOW, 0.5), Decision::DeadLetter);
        // Attempt 0 is read as the first.
        assert_eq!(p.decide(0, &fail, NOW, 0.5), Decision::RetryAt(NOW + 5 * S as i64));
        // Jitter applies to the scheduled delay.
        assert_eq!(p.decide(1, &fail, NOW, 0.0), Decision::RetryAt(NOW + 4_000));
        assert_eq!(p.decide(3, &Outcome::Timeout, NOW, 0.0), Decision::RetryAt(NOW + 1_440_000));
        // Success and Gone end the delivery.
        let ok = Outcome::Response { status: 204, retry_after: None };
        assert_eq!(p.decide(8, &ok, NOW, 0.5), Decision::Delivered);
        assert_eq!(p.next_attempt(1, &ok, NOW, 0.5), None);
        let gone = Outcome::Response { status: 410, retry_after: None };
        assert_eq!(p.decide(1, &gone, NOW, 0.5), Decision::Disable);
        // Retry-After holds the retry back when it is longer than the schedule's delay...
        let throttled = Outcome::Response { status: 429, retry_after: Some("60") };
        assert_eq!(p.decide(1, &throttled, NOW, 0.5), Decision::RetryAt(NOW + 60_000));
        // ...and does not bring it forward when it is shorter.
        assert_eq!(p.decide(3, &throttled, NOW, 0.5), Decision::RetryAt(NOW + 1_800_000));
        // It does not extend an exhausted schedule.
        assert_eq!(p.decide(8, &throttled, NOW, 0.5), Decision::DeadLetter);
        // Far-future times saturate.
        assert_eq!(p.decide(1, &throttled, i64::MAX - 1, 0.5), Decision::RetryAt(i64::MAX));
        assert_eq!(p.first_attempt_at(NOW, 0.9), NOW);
        let custom =
            RetryPolicy { schedule: Schedule::parse(&["1s", "2s"]).unwrap(), ..Default::default() };
        assert_eq!(custom.first_attempt_at(NOW, 0.5), NOW + 1000);
        assert_eq!(custom.decide(1, &fail, NOW, 0.5), Decision::RetryAt(NOW + 2000));
        assert_eq!(custom.decide(2, &fail, NOW, 0.5), Decision::DeadLetter);
    }

    #[test]
    fn http_dates_in_all_three_formats() {
        let want = NOW / 1000;
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", want), Some(want));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", want), Some(want));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994", want), Some(want));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", want), Some(0));
        assert_eq!(parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT", want), Some(951_825_600));
        assert_eq!(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT", want), Some(253_402_300_799));
        // Two-digit years: within 50 years ahead of now, else the century before.
        let now_2026 = 1_780_000_000; // 2026
        assert_eq!(
            parse_http_date("Wednesday, 01-Jan-76 00:00:00 GMT", now_2026),
            Some(3_345_062_400)
        );
        assert_eq!(
            parse_http_date("Saturday, 01-Jan-77 00:00:00 GMT", now_2026),
            Some(220_924_800)
        );
        assert_eq!(
            parse_http_date("Thursday, 01-Jan-26 00:00:00 GMT", now_2026),
            Some(1_767_225_600)
        );
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 06-Nov 08:49:37 GMT",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov 006 08:49:37 1994",
            "06 Nov 1994",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(parse_http_date(bad, want), None, "{bad}");
        }
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(parse_retry_after("0", NOW), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(" 30 ", NOW), Some(secs(30)));
        assert_eq!(parse_retry_after("-1", NOW), None);
        assert_eq!(parse_retry_after("1.5", NOW), None);
        assert_eq!(parse_retry_after("", NOW), None);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:38 GMT", NOW), Some(secs(1)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:38 GMT", NOW + 500),
            Some(Duration::from_millis(500))
        );
        assert!(parse_retry_after("Sun, 06 Nov 1994 08:49:38 GMT", i64::MIN).is_some());
        assert!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", i64::MIN).is_some());
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", i64::MAX),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn endpoints_failing_for_days_are_disabled() {
        let day = 86_400_000;
        assert!(!failing_too_long(None, NOW, DEFAULT_DISABLE_AFTER));
        assert!(!failing_too_long(Some(NOW - 5 * day), NOW, DEFAULT_DISABLE_AFTER));
        assert!(failing_too_long(Some(NOW - 5 * day - 1), NOW, DEFAULT_DISABLE_AFTER));
        assert!(!failing_too_long(Some(NOW + day), NOW, DEFAULT_DISABLE_AFTER));
        assert!(failing_too_long(Some(i64::MIN), i64::MAX, Duration::from_secs(1)));
        assert!(!failing_too_long(Some(0), i64::MAX, Duration::MAX));
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_468i64, -1, 0, 1, 10_957, 11_016, 2_932_896] {
            let year = civil_year(days);
            let start = days_from_civil(year, 1, 1);
            let next = days_from_civil(year + 1, 1, 1);
            assert!(start <= days && days < next, "{days} in {year}");
        }
    }
}
