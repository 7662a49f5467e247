//! Dates and times: `$now`, `$millis`, `$fromMillis` and `$toMillis` with XPath picture
//! strings, on a proleptic Gregorian calendar computed here (no clock is read: "now" is
//! [`crate::Options::now_millis`]).

use crate::eval::{Env, Evaluator};
use crate::functions::{arg, ferr};
use crate::numfmt::{analyse_integer_picture, format_int, int_regex, parse_int, IntFormat};
use crate::value::Value;
use crate::Error;

type R = Result<Value, Error>;

const DAY: i64 = 86_400_000;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 8] =
    ["", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `Date.UTC` with a zero-based month, normalising overflowing fields.
fn date_utc(y: i64, m0: i64, d: i64, h: i64, mi: i64, s: i64, ms: i64) -> i64 {
    let y = y + m0.div_euclid(12);
    let m0 = m0.rem_euclid(12);
    let days = days_from_civil(y, m0 + 1, 1) + d - 1;
    days * DAY + h * 3_600_000 + mi * 60_000 + s * 1000 + ms
}

struct Dt {
    millis: i64,
    year: i64,
    month0: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
    weekday: i64,
}

fn split(millis: i64) -> Dt {
    let days = millis.div_euclid(DAY);
    let rem = millis.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    Dt {
        millis,
        year: y,
        month0: m - 1,
        day: d,
        hour: rem / 3_600_000,
        minute: rem / 60_000 % 60,
        second: rem / 1000 % 60,
        milli: rem % 1000,
        weekday: (days + 4).rem_euclid(7),
    }
}

fn start_of_first_week(year: i64, month0: i64) -> i64 {
    let jan1 = date_utc(year, month0, 1, 0, 0, 0, 0);
    let mut dow = split(jan1).weekday;
    if dow == 0 {
        dow = 7;
    }
    if dow > 4 {
        jan1 + (8 - dow) * DAY
    } else {
        jan1 - (dow - 1) * DAY
    }
}

fn delta_weeks(start: i64, end: i64) -> f64 {
    (end - start) as f64 / (DAY * 7) as f64 + 1.0
}

fn next_month(y: i64, m: i64) -> (i64, i64) {
    if m == 11 {
        (y + 1, 0)
    } else {
        (y, m + 1)
    }
}

fn prev_month(y: i64, m: i64) -> (i64, i64) {
    if m == 0 {
        (y - 1, 11)
    } else {
        (y, m - 1)
    }
}

#[derive(Debug, Clone)]
enum Frag {
    Num(f64),
    Str(String),
    None,
}

fn fragment(dt: &Dt, c: char) -> Frag {
    let n = |v: i64| Frag::Num(v as f64);
    match c {
        'Y' => n(dt.year),
        'M' => n(dt.month0 + 1),
        'D' => n(dt.day),
        'd' => {
            let today = date_utc(dt.year, dt.month0, dt.day, 0, 0, 0, 0);
            let jan1 = date_utc(dt.year, 0, 1, 0, 0, 0, 0);
            n((today - jan1) / DAY + 1)
        }
        'F' => n(if dt.weekday == 0 { 7 } else { dt.weekday }),
        'W' => {
            let sw1 = start_of_first_week(dt.year, 0);
            let today = date_utc(dt.year, dt.month0, dt.day, 0, 0, 0, 0);
            let mut week = delta_weeks(sw1, today);
            if week > 52.0 {
                if today >= start_of_first_week(dt.year + 1, 0) {
                    week = 1.0;
                }
            } else if week < 1.0 {
                week = delta_weeks(start_of_first_week(dt.year - 1, 0), today);
            }
            Frag::Num(week.floor())
        }
        'w' => {
            let sw1 = start_of_first_week(dt.year, dt.month0);
            let today = date_utc(dt.year, dt.month0, dt.day, 0, 0, 0, 0);
            let mut week = delta_weeks(sw1, today);
            if week > 4.0 {
                let (ny, nm) = next_month(dt.year, dt.month0);
                if today >= start_of_first_week(ny, nm) {
                    week = 1.0;
                }
            } else if week < 1.0 {
                let (py, pm) = prev_month(dt.year, dt.month0);
                week = delta_weeks(start_of_first_week(py, pm), today);
            }
            Frag::Num(week.floor())
        }
        'X' => {
            let start = start_of_first_week(dt.year, 0);
            let end = start_of_first_week(dt.year + 1, 0);
            n(if dt.millis < start {
                dt.year - 1
            } else if dt.millis >= end {
                dt.year + 1
            } else {
                dt.year
            })
        }
        'x' => {
            let start = start_of_first_week(dt.year, dt.month0);
            let (ny, nm) = next_month(dt.year, dt.month0);
            let end = start_of_first_week(ny, nm);
            n(if dt.millis < start {
                prev_month(dt.year, dt.month0).1 + 1
            } else if dt.millis >= end {
                nm + 1
            } else {
                dt.month0 + 1
            })
        }
        'H' => n(dt.hour),
        'h' => {
            let h = dt.hour % 12;
            n(if h == 0 { 12 } else { h })
        }
        'P' => Frag::Str(if dt.hour >= 12 { "pm" } else { "am" }.into()),
        'm' => n(dt.minute),
        's' => n(dt.second),
        'f' => n(dt.milli),
        'C' | 'E' => Frag::Str("ISO".into()),
        _ => Frag::None,
    }
}

#[derive(Debug, Clone)]
struct Marker {
    component: char,
    width_min: Option<usize>,
    width_max: Option<usize>,
    presentation1: String,
    presentation2: Option<char>,
    names: Option<crate::numfmt::Case>,
    int_format: Option<IntFormat>,
    n: i64,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Marker(Box<Marker>),
}

fn default_presentation(c: char) -> Option<&'static str> {
    Some(match c {
        'Y' | 'M' | 'D' | 'd' | 'W' | 'w' | 'X' | 'x' | 'H' | 'h' | 'f' => "1",
        'F' | 'P' | 'C' | 'E' => "n",
        'm' | 's' => "01",
        'Z' | 'z' => "01:01",
        _ => return None,
    })
}

fn analyse_picture(picture: &str) -> Result<Vec<Part>, Error> {
    let chars: Vec<char> = picture.chars().collect();
    let mut parts = Vec::new();
    let add_literal = |parts: &mut Vec<Part>, start: usize, end: usize| {
        if end > start {
            let lit: String = chars[start..end].iter().collect();
            parts.push(Part::Literal(lit.replace("]]", "]")));
        }
    };
    let mut start = 0;
    let mut pos = 0;
    while pos < chars.len() {
        if chars[pos] == '[' {
            if chars.get(pos + 1) == Some(&'[') {
                add_literal(&mut parts, start, pos);
                parts.push(Part::Literal("[".into()));
                pos += 2;
                start = pos;
                continue;
            }
            add_literal(&mut parts, start, pos);
            start = pos;
            let Some(close) = chars[start..].iter().position(|c| *c == ']').map(|i| i + start)
            else {
                return Err(ferr("D3135"));
            };
            pos = close;
            let marker: String =
                chars[start + 1..pos].iter().filter(|c| !c.is_whitespace()).collect();
            let mchars: Vec<char> = marker.chars().collect();
            let component = mchars.first().copied().unwrap_or(' ');
            let mut m = Marker {
                component,
                width_min: None,
                width_max: None,
                presentation1: String::new(),
                presentation2: None,
                names: None,
                int_format: None,
                n: 0,
            };
            let pres: String = match marker.rfind(',') {
                Some(comma) => {
                    let wm = &marker[comma + 1..];
                    let parse_w = |s: &str| -> Option<usize> {
                        if s == "*" {
                            None
                        } else {
                            s.parse().ok()
                        }
                    };
                    match wm.find('-') {
                        None => m.width_min = parse_w(wm),
                        Some(d) => {
                            m.width_min = parse_w(&wm[..d]);
                            m.width_max = parse_w(&wm[d + 1..]);
                        }
                    }
                    marker[component.len_utf8()..comma].to_string()
                }
                None => marker.get(component.len_utf8()..).unwrap_or("").to_string(),
            };
            let pc: Vec<char> = pres.chars().collect();
            if pc.len() == 1 {
                m.presentation1 = pres.clone();
            } else if pc.len() > 1 {
                let last = pc[pc.len() - 1];
                if "atco".contains(last) {
                    m.presentation2 = Some(last);
                    m.presentation1 = pc[..pc.len() - 1].iter().collect();
                } else {
                    m.presentation1 = pres.clone();
                }
            } else {
                match default_presentation(component) {
                    Some(p) => m.presentation1 = p.to_string(),
                    None => return Err(ferr("D3132")),
                }
            }
            if default_presentation(component).is_none() {
                return Err(ferr("D3132"));
            }
            let p1: Vec<char> = m.presentation1.chars().collect();
            if p1.first() == Some(&'n') {
                m.names = Some(crate::numfmt::Case::Lower);
            } else if p1.first() == Some(&'N') {
                m.names = Some(if p1.get(1) == Some(&'n') {
                    crate::numfmt::Case::Title
                } else {
                    crate::numfmt::Case::Upper
                });
            } else if "YMDdFWwXxHhmsf".contains(component) {
                let mut ip = m.presentation1.clone();
                if let Some(p2) = m.presentation2 {
                    ip.push(';');
                    ip.push(p2);
                }
                let mut f = analyse_integer_picture(&ip)?;
                if let Some(min) = m.width_min {
                    if f.mandatory_digits < min {
                        f.mandatory_digits = min;
                    }
                }
                if component == 'Y' {
                    m.n = -1;
                    if let Some(max) = m.width_max {
                        m.n = max as i64;
                        f.mandatory_digits = max;
                    } else {
                        let w = f.mandatory_digits + f.optional_digits;
                        if w >= 2 {
                            m.n = w as i64;
                        }
                    }
                }
                m.int_format = Some(f);
            }
            if component == 'Z' || component == 'z' {
                m.int_format = Some(analyse_integer_picture(&m.presentation1)?);
            }
            parts.push(Part::Marker(Box::new(m)));
            start = pos + 1;
        }
        pos += 1;
    }
    add_literal(&mut parts, start, pos.min(chars.len()));
    Ok(parts)
}

fn apply_case(s: &str, c: Option<crate::numfmt::Case>) -> String {
    match c {
        Some(crate::numfmt::Case::Upper) => s.to_uppercase(),
        Some(crate::numfmt::Case::Lower) => s.to_lowercase(),
        _ => s.to_string(),
    }
}

fn format_component(dt: &Dt, m: &Marker, off_h: i64, off_m: i64) -> Result<String, Error> {
    let c = m.component;
    let frag = fragment(dt, c);
    if "YMDdFWwXxHhms".contains(c) {
        let mut v = match frag {
            Frag::Num(n) => n,
            _ => 0.0,
        };
        if c == 'Y' && m.n != -1 {
            v %= 10f64.powi(m.n as i32);
        }
        if m.names.is_some() {
            let mut s = match c {
                'M' | 'x' => MONTHS.get(v as usize - 1).copied().unwrap_or("").to_string(),
                'F' => DAYS.get(v as usize).copied().unwrap_or("").to_string(),
                _ => return Err(ferr("D3133")),
            };
            s = apply_case(&s, m.names);
            if let Some(max) = m.width_max {
                if s.chars().count() > max {
                    s = s.chars().take(max).collect();
                }
            }
            return Ok(s);
        }
        return match &m.int_format {
            Some(f) => format_int(v, f),
            None => Ok(crate::functions::num_str(v)),
        };
    }
    match c {
        'f' => {
            let v = match frag {
                Frag::Num(n) => n,
                _ => 0.0,
            };
            match &m.int_format {
                Some(f) => format_int(v, f),
                None => Ok(crate::functions::num_str(v)),
            }
        }
        'Z' | 'z' => {
            let offset = off_h * 100 + off_m;
            let f = m.int_format.as_ref().ok_or_else(|| ferr("D3134"))?;
            let mut s = if f.regular {
                format_int(offset as f64, f)?
            } else {
                let nd = f.mandatory_digits;
                if nd == 1 || nd == 2 {
                    let mut s = format_int(off_h as f64, f)?;
                    if off_m != 0 {
                        s.push(':');
                        s.push_str(&format!("{:02}", off_m.abs()));
                    }
                    s
                } else if nd == 3 || nd == 4 {
                    format_int(offset as f64, f)?
                } else {
                    return Err(ferr("D3134"));
                }
            };
            if offset >= 0 {
                s.insert(0, '+');
            }
            if c == 'z' {
                s.insert_str(0, "GMT");
            }
            if offset == 0 && m.presentation2 == Some('t') {
                s = "Z".into();
            }
            Ok(s)
        }
        'P' => {
            let s = match frag {
                Frag::Str(s) => s,
                _ => String::new(),
            };
            Ok(if m.names == Some(crate::numfmt::Case::Upper) { s.to_uppercase() } else { s })
        }
        _ => Ok(match frag {
            Frag::Str(s) => s,
            Frag::Num(n) => crate::functions::num_str(n),
            Frag::None => String::new(),
        }),
    }
}

const ISO_PICTURE: &str = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]";

fn format_datetime(millis: f64, picture: Option<&str>, tz: Option<&str>) -> Result<String, Error> {
    let (mut off_h, mut off_m) = (0, 0);
    if let Some(tz) = tz {
        let digits: String = tz
            .trim()
            .chars()
            .enumerate()
            .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '+' || *c == '-')))
            .map(|x| x.1)
            .collect();
        let offset: i64 = digits.parse().unwrap_or(0);
        off_h = offset.div_euclid(100);
        off_m = offset.rem_euclid(100);
        if offset < 0 {
            off_h = -((-offset) / 100);
            off_m = -((-offset) % 100);
        }
    }
    let parts = analyse_picture(picture.unwrap_or(ISO_PICTURE))?;
    let offset = (off_h * 60 + off_m) * 60_000;
    let dt = split(millis as i64 + offset);
    let mut out = String::new();
    for p in &parts {
        match p {
            Part::Literal(l) => out.push_str(l),
            Part::Marker(m) => out.push_str(&format_component(&dt, m, off_h, off_m)?),
        }
    }
    Ok(out)
}

pub(crate) fn from_millis_fn(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(ms) = arg(args, 0).as_f64() else { return Ok(Value::Undefined) };
    Ok(Value::string(format_datetime(ms, arg(args, 1).as_str(), arg(args, 2).as_str())?))
}

pub(crate) fn now_fn(ev: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let now = ev.options.now_millis.unwrap_or(0) as f64;
    Ok(Value::string(format_datetime(now, arg(args, 0).as_str(), arg(args, 1).as_str())?))
}

pub(crate) fn millis_fn(ev: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Ok(Value::Number(ev.options.now_millis.unwrap_or(0) as f64))
}

/// Parses an ISO 8601 timestamp as `Date.parse` does for the forms jsonata accepts.
fn parse_iso(s: &str) -> Option<f64> {
    static ISO: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = ISO.get_or_init(|| {
        regex::Regex::new(
            r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:?\d{2})?$",
        )
        .expect("static regex")
    });
    let c = re.captures(s)?;
    let num = |i: usize, d: i64| c.get(i).and_then(|m| m.as_str().parse::<i64>().ok()).unwrap_or(d);
    let ms = c
        .get(7)
        .map(|m| {
            let f = format!("{:0<3}", &m.as_str()[..m.as_str().len().min(3)]);
            f.parse::<i64>().unwrap_or(0)
        })
        .unwrap_or(0);
    let (mo, d, h, mi, sec) = (num(2, 1), num(3, 1), num(4, 0), num(5, 0), num(6, 0));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 24 || mi > 59 || sec > 59 {
        return None;
    }
    let mut t = date_utc(num(1, 0), mo - 1, d, h, mi, sec, ms);
    if let Some(z) = c.get(8) {
        let z = z.as_str();
        if z != "Z" {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits: String = z[1..].chars().filter(|c| c.is_ascii_digit()).collect();
            let hh: i64 = digits[..2].parse().unwrap_or(0);
            let mm: i64 = digits[2..].parse().unwrap_or(0);
            t -= sign * (hh * 60 + mm) * 60_000;
        }
    }
    Some(t as f64)
}

/// Picture regexes are compiled once per thread and picture.
fn cached_regex(src: &str) -> Result<std::rc::Rc<regex::Regex>, Error> {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<regex::Regex>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    CACHE.with(|c| {
        if let Some(r) = c.borrow().get(src) {
            return Ok(r.clone());
        }
        let r = std::rc::Rc::new(regex::Regex::new(src).map_err(|_| ferr("D3136"))?);
        let mut c = c.borrow_mut();
        if c.len() >= 64 {
            c.clear();
        }
        c.insert(src.to_string(), r.clone());
        Ok(r)
    })
}

fn regex_escape(s: &str) -> String {
    regex::escape(s)
}

fn parse_datetime(ev: &Evaluator<'_>, ts: &str, picture: &str) -> R {
    let parts = analyse_picture(picture)?;
    // Build the matcher: one capture group per part.
    struct MPart {
        component: Option<char>,
        kind: MKind,
    }
    enum MKind {
        Literal,
        Int(IntFormat),
        Tz(bool, Option<char>),
        Names(Vec<(String, i64)>),
    }
    let mut regex = String::from("(?i)^");
    let mut mparts = Vec::new();
    for p in &parts {
        match p {
            Part::Literal(l) => {
                regex.push('(');
                regex.push_str(&regex_escape(l));
                regex.push(')');
                mparts.push(MPart { component: None, kind: MKind::Literal });
            }
            Part::Marker(m) => {
                let c = m.component;
                if c == 'Z' || c == 'z' {
                    let f = m.int_format.clone().ok_or_else(|| ferr("D3136"))?;
                    let sep = if f.regular { f.separators.first().map(|s| s.1) } else { None };
                    let mut r = String::new();
                    if c == 'z' {
                        r.push_str("GMT");
                    }
                    r.push_str("[-+][0-9]+");
                    if let Some(s) = sep {
                        r.push_str(&regex_escape(&s.to_string()));
                        r.push_str("[0-9]+");
                    }
                    regex.push_str(&format!("({r})"));
                    mparts.push(MPart { component: Some(c), kind: MKind::Tz(c == 'z', sep) });
                } else if let Some(f) = &m.int_format {
                    let w = f.mandatory_digits + f.optional_digits;
                    let n = if c == 'Y' {
                        if m.n > 0 {
                            Some(m.n as usize)
                        } else {
                            None
                        }
                    } else if w >= 2 && c != 'f' {
                        Some(w)
                    } else {
                        None
                    };
                    let f2 = f.clone();
                    let r = int_regex(f, n)?;
                    regex.push_str(&format!("({r})"));
                    mparts.push(MPart { component: Some(c), kind: MKind::Int(f2) });
                } else {
                    let mut lookup = Vec::new();
                    match c {
                        'M' | 'x' => {
                            for (i, name) in MONTHS.iter().enumerate() {
                                let k = match m.width_max {
                                    Some(w) => name.chars().take(w).collect(),
                                    None => name.to_string(),
                                };
                                lookup.push((k, i as i64 + 1));
                            }
                        }
                        'F' => {
                            for (i, name) in DAYS.iter().enumerate().skip(1) {
                                let k = match m.width_max {
                                    Some(w) => name.chars().take(w).collect(),
                                    None => name.to_string(),
                                };
                                lookup.push((k, i as i64));
                            }
                        }
                        'P' => {
                            lookup = vec![
                                ("am".into(), 0),
                                ("AM".into(), 0),
                                ("pm".into(), 1),
                                ("PM".into(), 1),
                            ]
                        }
                        _ => return Err(ferr("D3133")),
                    }
                    regex.push_str("([a-zA-Z]+)");
                    mparts.push(MPart { component: Some(c), kind: MKind::Names(lookup) });
                }
            }
        }
    }
    regex.push('$');
    let re = cached_regex(&regex)?;
    let Some(caps) = re.captures(ts) else { return Ok(Value::Undefined) };
    let mut comps: std::collections::HashMap<char, f64> = std::collections::HashMap::new();
    for (i, mp) in mparts.iter().enumerate() {
        let text = caps.get(i + 1).map(|m| m.as_str()).unwrap_or("");
        let Some(c) = mp.component else { continue };
        let v = match &mp.kind {
            MKind::Literal => continue,
            MKind::Int(f) if c == 'f' => {
                let digits = text.chars().count() as i32;
                parse_int(text, f)? * 10f64.powi(3 - digits)
            }
            MKind::Int(f) => parse_int(text, f)?,
            MKind::Tz(gmt, sep) => {
                let t = if *gmt { &text[3.min(text.len())..] } else { text };
                let sign = if t.starts_with('-') { -1.0 } else { 1.0 };
                let body = &t[1.min(t.len())..];
                let (h, m) = match sep {
                    Some(s) => {
                        let (a, b) = body.split_once(*s).unwrap_or((body, "0"));
                        (a.parse::<f64>().unwrap_or(0.0), b.parse::<f64>().unwrap_or(0.0))
                    }
                    None => {
                        if body.len() <= 2 {
                            (body.parse::<f64>().unwrap_or(0.0), 0.0)
                        } else {
                            (
                                body[..2].parse::<f64>().unwrap_or(0.0),
                                body[2..].parse::<f64>().unwrap_or(0.0),
                            )
                        }
                    }
                };
                sign * (h * 60.0 + m)
            }
            MKind::Names(lookup) => match lookup.iter().find(|(k, _)| k == text) {
                Some((_, v)) => *v as f64,
                None => f64::NAN,
            },
        };
        comps.insert(c, v);
    }
    if comps.is_empty() {
        return Ok(Value::Undefined);
    }
    let bit = |c: char| comps.get(&c).is_some_and(|v| *v != 0.0 && !v.is_nan());
    let mut mask: u32 = 0;
    for c in "YXMxWwdD".chars() {
        mask = (mask << 1) | bit(c) as u32;
    }
    let is_type = |t: u32, mask: u32| (!t & mask) == 0 && (t & mask) != 0;
    let date_a = is_type(161, mask);
    let date_b = !date_a && is_type(130, mask);
    let date_c = is_type(84, mask);
    let date_d = !date_c && is_type(72, mask);
    let mut tmask: u32 = 0;
    for c in "PHhmsf".chars() {
        tmask = (tmask << 1) | bit(c) as u32;
    }
    let time_a = is_type(23, tmask);
    let time_b = !time_a && is_type(47, tmask);
    let date_comps = if date_b {
        "Yd"
    } else if date_c {
        "XxwF"
    } else if date_d {
        "XWF"
    } else {
        "YMD"
    };
    let time_comps = if time_b { "Phmsf" } else { "Hmsf" };
    let now = split(ev.options.now_millis.unwrap_or(0));
    let mut start_spec = false;
    let mut end_spec = false;
    for c in date_comps.chars().chain(time_comps.chars()) {
        if let std::collections::hash_map::Entry::Vacant(e) = comps.entry(c) {
            if start_spec {
                e.insert(if "MDd".contains(c) { 1.0 } else { 0.0 });
                end_spec = true;
            } else {
                let v = match fragment(&now, c) {
                    Frag::Num(n) => n,
                    Frag::Str(s) => {
                        if s == "pm" {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    Frag::None => 0.0,
                };
                e.insert(v);
            }
        } else {
            start_spec = true;
            if end_spec {
                return Err(ferr("D3136"));
            }
        }
    }
    let g = |c: char| comps.get(&c).copied().unwrap_or(0.0);
    let mut month0 = if g('M') > 0.0 { g('M') - 1.0 } else { 0.0 };
    let mut day = g('D');
    if date_b {
        let first = date_utc(g('Y') as i64, 0, 1, 0, 0, 0, 0);
        let d = split(first + (g('d') as i64 - 1) * DAY);
        month0 = d.month0 as f64;
        day = d.day as f64;
    }
    if date_c || date_d {
        return Err(ferr("D3136"));
    }
    let mut hour = g('H');
    if time_b {
        hour = if g('h') == 12.0 { 0.0 } else { g('h') };
        if g('P') == 1.0 {
            hour += 12.0;
        }
    }
    let vals = [g('Y'), month0, day, hour, g('m'), g('s'), g('f').trunc()];
    if vals.iter().any(|v| v.is_nan()) {
        return Ok(Value::Undefined);
    }
    let mut millis = date_utc(
        vals[0] as i64,
        vals[1] as i64,
        vals[2] as i64,
        vals[3] as i64,
        vals[4] as i64,
        vals[5] as i64,
        vals[6] as i64,
    ) as f64;
    let tz = if g('Z') != 0.0 { g('Z') } else { g('z') };
    if tz != 0.0 {
        millis -= tz * 60_000.0;
    }
    Ok(Value::Number(millis))
}

pub(crate) fn to_millis_fn(ev: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Value::String(s) = arg(args, 0) else { return Ok(Value::Undefined) };
    match arg(args, 1).as_str() {
        None => match parse_iso(s) {
            Some(v) => Ok(Value::Number(v)),
            None => Err(ferr("D3110")),
        },
        Some(p) => parse_datetime(ev, s, p),
    }
}
