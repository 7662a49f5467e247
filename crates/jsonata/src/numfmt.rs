//! Number pictures: `$formatNumber` (XPath `format-number`), `$formatInteger` and
//! `$parseInteger` (XPath `format-integer`: decimal patterns, words, roman numerals, letters),
//! and `$formatBase`.

use crate::eval::{Env, Evaluator};
use crate::functions::round_half_even;
use crate::functions::{arg, ferr};
use crate::value::Value;
use crate::Error;

type R = Result<Value, Error>;

pub(crate) fn format_base_fn(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(v) = arg(args, 0).as_f64() else { return Ok(Value::Undefined) };
    let v = round_half_even(v, 0);
    let radix = arg(args, 1).as_f64().map(|r| round_half_even(r, 0)).unwrap_or(10.0);
    if !(2.0..=36.0).contains(&radix) {
        return Err(ferr("D3100"));
    }
    let radix = radix as u32;
    let neg = v < 0.0;
    let mut n = v.abs() as u128;
    let mut digits = Vec::new();
    if n == 0 {
        digits.push('0');
    }
    while n > 0 {
        digits.push(std::char::from_digit((n % radix as u128) as u32, radix).unwrap_or('?'));
        n /= radix as u128;
    }
    if neg {
        digits.push('-');
    }
    Ok(Value::string(digits.into_iter().rev().collect()))
}

// ---------------------------------------------------------------------------------------------
// format-number

struct Props {
    decimal: char,
    grouping: char,
    exponent: char,
    minus: char,
    percent: char,
    permille: char,
    zero: char,
    digit: char,
    pattern: char,
}

struct Parts {
    prefix: Vec<char>,
    suffix: Vec<char>,
    active: Vec<char>,
    mantissa: Vec<char>,
    exponent: Option<Vec<char>>,
    integer: Vec<char>,
    fractional: Vec<char>,
    sub: Vec<char>,
}

#[derive(Clone)]
struct Pic {
    int_groups: Vec<usize>,
    regular: usize,
    min_int: usize,
    scaling: usize,
    prefix: String,
    frac_groups: Vec<usize>,
    min_frac: usize,
    max_frac: usize,
    min_exp: usize,
    suffix: String,
    picture: Vec<char>,
}

fn index_of(v: &[char], c: char) -> Option<usize> {
    v.iter().position(|x| *x == c)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn regular(indexes: &[usize]) -> usize {
    if indexes.is_empty() {
        return 0;
    }
    let factor = indexes.iter().copied().reduce(gcd).unwrap_or(0);
    if factor == 0 {
        return 0;
    }
    for i in 1..=indexes.len() {
        if !indexes.contains(&(i * factor)) {
            return 0;
        }
    }
    factor
}

impl Props {
    fn is_digit(&self, c: char) -> bool {
        let z = self.zero as u32;
        (z..z + 10).contains(&(c as u32))
    }
    fn is_active(&self, c: char) -> bool {
        self.is_digit(c)
            || c == self.decimal
            || c == self.exponent
            || c == self.grouping
            || c == self.digit
            || c == self.pattern
    }

    fn split(&self, sub: &[char]) -> Parts {
        let pstart =
            sub.iter().position(|c| self.is_active(*c) && *c != self.exponent).unwrap_or(sub.len());
        let prefix = sub[..pstart].to_vec();
        let send = sub
            .iter()
            .rposition(|c| self.is_active(*c) && *c != self.exponent)
            .map(|i| i + 1)
            .unwrap_or(sub.len());
        let suffix = if send <= sub.len() { sub[send..].to_vec() } else { vec![] };
        let a_end = sub.len() - suffix.len();
        let active: Vec<char> =
            if prefix.len() <= a_end { sub[prefix.len()..a_end].to_vec() } else { vec![] };
        let exp_pos = sub
            .iter()
            .enumerate()
            .skip(prefix.len())
            .find(|(_, c)| **c == self.exponent)
            .map(|x| x.0);
        let (mantissa, exponent) = match exp_pos {
            Some(e) if e <= sub.len() - suffix.len() => {
                let e = e - prefix.len();
                (
                    active[..e.min(active.len())].to_vec(),
                    Some(active[(e + 1).min(active.len())..].to_vec()),
                )
            }
            _ => (active.clone(), None),
        };
        let (integer, fractional) = match index_of(&mantissa, self.decimal) {
            None => (mantissa.clone(), suffix.clone()),
            Some(d) => (mantissa[..d].to_vec(), mantissa[d + 1..].to_vec()),
        };
        Parts { prefix, suffix, active, mantissa, exponent, integer, fractional, sub: sub.to_vec() }
    }

    fn validate(&self, p: &Parts) -> Result<(), Error> {
        let sub = &p.sub;
        let count = |c: char| sub.iter().filter(|x| **x == c).count();
        let mut error = None;
        if count(self.decimal) > 1 {
            error = Some("D3081");
        }
        if count(self.percent) > 1 {
            error = Some("D3082");
        }
        if count(self.permille) > 1 {
            error = Some("D3083");
        }
        if count(self.percent) > 0 && count(self.permille) > 0 {
            error = Some("D3084");
        }
        if !p.mantissa.iter().any(|c| self.is_digit(*c) || *c == self.digit) {
            error = Some("D3085");
        }
        if p.active.iter().any(|c| !self.is_active(*c)) {
            error = Some("D3086");
        }
        let dpos = index_of(sub, self.decimal);
        if let Some(d) = dpos {
            if (d > 0 && sub[d - 1] == self.grouping) || sub.get(d + 1) == Some(&self.grouping) {
                error = Some("D3087");
            }
        } else if p.integer.last() == Some(&self.grouping) {
            error = Some("D3088");
        }
        if sub.windows(2).any(|w| w[0] == self.grouping && w[1] == self.grouping) {
            error = Some("D3089");
        }
        if let Some(o) = index_of(&p.integer, self.digit) {
            if p.integer[..o].iter().any(|c| self.is_digit(*c)) {
                error = Some("D3090");
            }
        }
        if let Some(o) = p.fractional.iter().rposition(|c| *c == self.digit) {
            if p.fractional[o..].iter().any(|c| self.is_digit(*c)) {
                error = Some("D3091");
            }
        }
        if let Some(e) = &p.exponent {
            if !e.is_empty() && (count(self.percent) > 0 || count(self.permille) > 0) {
                error = Some("D3092");
            }
            if e.is_empty() || e.iter().any(|c| !self.is_digit(*c)) {
                error = Some("D3093");
            }
        }
        match error {
            Some(code) => Err(ferr(code)),
            None => Ok(()),
        }
    }

    fn analyse(&self, p: &Parts) -> Pic {
        let group_positions = |part: &[char], to_left: bool| -> Vec<usize> {
            let mut out = Vec::new();
            let mut gp = index_of(part, self.grouping);
            while let Some(g) = gp {
                let slice = if to_left { &part[..g] } else { &part[g..] };
                out.push(slice.iter().filter(|c| self.is_digit(**c) || **c == self.digit).count());
                gp = p
                    .integer
                    .iter()
                    .enumerate()
                    .skip(g + 1)
                    .find(|(_, c)| **c == self.grouping)
                    .map(|x| x.0);
            }
            out
        };
        let int_groups = group_positions(&p.integer, false);
        let reg = regular(&int_groups);
        let frac_groups = group_positions(&p.fractional, true);
        let mut min_int = p.integer.iter().filter(|c| self.is_digit(**c)).count();
        let scaling = min_int;
        let mut min_frac = p.fractional.iter().filter(|c| self.is_digit(**c)).count();
        let mut max_frac =
            p.fractional.iter().filter(|c| self.is_digit(**c) || **c == self.digit).count();
        let exp_present = p.exponent.is_some();
        if min_int == 0 && max_frac == 0 {
            if exp_present {
                min_frac = 1;
                max_frac = 1;
            } else {
                min_int = 1;
            }
        }
        if exp_present && min_int == 0 && p.integer.contains(&self.digit) {
            min_int = 1;
        }
        if min_int == 0 && min_frac == 0 {
            min_frac = 1;
        }
        let min_exp = p
            .exponent
            .as_ref()
            .map(|e| e.iter().filter(|c| self.is_digit(**c)).count())
            .unwrap_or(0);
        Pic {
            int_groups,
            regular: reg,
            min_int,
            scaling,
            prefix: p.prefix.iter().collect(),
            frac_groups,
            min_frac,
            max_frac,
            min_exp,
            suffix: p.suffix.iter().collect(),
            picture: p.sub.clone(),
        }
    }
}

fn to_fixed(v: f64, dp: usize) -> String {
    format!("{:.*}", dp, v.abs())
}

pub(crate) fn format_number_fn(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(value) = arg(args, 0).as_f64() else { return Ok(Value::Undefined) };
    let picture: Vec<char> = arg(args, 1).as_str().unwrap_or("").chars().collect();
    let mut props = Props {
        decimal: '.',
        grouping: ',',
        exponent: 'e',
        minus: '-',
        percent: '%',
        permille: '\u{2030}',
        zero: '0',
        digit: '#',
        pattern: ';',
    };
    if let Value::Object(o) = arg(args, 2) {
        for (k, v) in o.borrow().iter() {
            let Some(c) = v.as_str().and_then(|s| s.chars().next()) else { continue };
            match &**k {
                "decimal-separator" => props.decimal = c,
                "grouping-separator" => props.grouping = c,
                "exponent-separator" => props.exponent = c,
                "minus-sign" => props.minus = c,
                "percent" => props.percent = c,
                "per-mille" => props.permille = c,
                "zero-digit" => props.zero = c,
                "digit" => props.digit = c,
                "pattern-separator" => props.pattern = c,
                _ => {}
            }
        }
    }
    let subs: Vec<Vec<char>> = picture.split(|c| *c == props.pattern).map(|s| s.to_vec()).collect();
    if subs.len() > 2 {
        return Err(ferr("D3080"));
    }
    if subs.iter().any(|s| !s.iter().any(|c| props.is_active(*c))) {
        return Err(ferr("D3086"));
    }
    let parts: Vec<Parts> = subs.iter().map(|s| props.split(s)).collect();
    for p in &parts {
        props.validate(p)?;
    }
    let mut pics: Vec<Pic> = parts.iter().map(|p| props.analyse(p)).collect();
    if pics.len() == 1 {
        let mut neg = pics[0].clone();
        neg.prefix = format!("{}{}", props.minus, neg.prefix);
        pics.push(neg);
    }
    let pic = if value >= 0.0 { &pics[0] } else { &pics[1] };
    let adjusted = if pic.picture.contains(&props.percent) {
        value * 100.0
    } else if pic.picture.contains(&props.permille) {
        value * 1000.0
    } else {
        value
    };
    let mut mantissa = adjusted;
    let mut exponent: Option<i32> = None;
    if pic.min_exp != 0 {
        let max_m = 10f64.powi(pic.scaling as i32);
        let min_m = 10f64.powi(pic.scaling as i32 - 1);
        let mut e = 0;
        if mantissa != 0.0 {
            while mantissa.abs() < min_m {
                mantissa *= 10.0;
                e -= 1;
            }
            while mantissa.abs() > max_m {
                mantissa /= 10.0;
                e += 1;
            }
        }
        exponent = Some(e);
    }
    let rounded = round_half_even(mantissa, pic.max_frac as i64);
    let digit_map = |s: String| -> String {
        if props.zero == '0' {
            return s;
        }
        s.chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from_u32(props.zero as u32 + (c as u32 - 48)).unwrap_or(c)
                } else {
                    c
                }
            })
            .collect()
    };
    let fixed = digit_map(to_fixed(rounded, pic.max_frac));
    let mut sv: Vec<char> = if fixed.contains('.') {
        fixed.chars().map(|c| if c == '.' { props.decimal } else { c }).collect()
    } else {
        let mut v: Vec<char> = fixed.chars().collect();
        v.push(props.decimal);
        v
    };
    while sv.first() == Some(&props.zero) {
        sv.remove(0);
    }
    while sv.last() == Some(&props.zero) {
        sv.pop();
    }
    let dpos = index_of(&sv, props.decimal).unwrap_or(sv.len());
    let pad_left = pic.min_int as isize - dpos as isize;
    let pad_right = pic.min_frac as isize - (sv.len() as isize - dpos as isize - 1);
    if pad_left > 0 {
        let mut v = vec![props.zero; pad_left as usize];
        v.extend(sv);
        sv = v;
    }
    if pad_right > 0 {
        sv.extend(std::iter::repeat_n(props.zero, pad_right as usize));
    }
    let mut dpos = index_of(&sv, props.decimal).unwrap_or(sv.len());
    if let Some(group_count) = dpos.saturating_sub(1).checked_div(pic.regular) {
        for g in 1..=group_count {
            let at = dpos - g * pic.regular;
            sv.insert(at, props.grouping);
        }
    } else {
        for &pos in &pic.int_groups {
            if pos <= dpos {
                sv.insert(dpos - pos, props.grouping);
                dpos += 1;
            }
        }
    }
    let dpos = index_of(&sv, props.decimal).unwrap_or(sv.len());
    for &pos in &pic.frac_groups {
        let at = pos + dpos + 1;
        if at <= sv.len() {
            sv.insert(at, props.grouping);
        }
    }
    let dpos = index_of(&sv, props.decimal);
    if dpos == Some(sv.len() - 1) {
        sv.pop();
    }
    let mut out: String = sv.into_iter().collect();
    if let Some(e) = exponent {
        let mut es = digit_map(e.abs().to_string());
        let pad = pic.min_exp as isize - es.chars().count() as isize;
        if pad > 0 {
            es = format!("{}{}", props.zero.to_string().repeat(pad as usize), es);
        }
        out.push(props.exponent);
        if e < 0 {
            out.push(props.minus);
        }
        out.push_str(&es);
    }
    Ok(Value::string(format!("{}{}{}", pic.prefix, out, pic.suffix)))
}

// ---------------------------------------------------------------------------------------------
// format-integer

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Primary {
    Decimal,
    Letters,
    Roman,
    Words,
    Sequence,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Case {
    Upper,
    Lower,
    Title,
}

/// An analysed integer picture.
#[derive(Clone, Debug)]
pub(crate) struct IntFormat {
    pub(crate) primary: Primary,
    pub(crate) case: Case,
    pub(crate) ordinal: bool,
    pub(crate) zero_code: u32,
    pub(crate) mandatory_digits: usize,
    pub(crate) optional_digits: usize,
    pub(crate) regular: bool,
    /// (position, character) pairs; a single entry with the interval when regular.
    pub(crate) separators: Vec<(usize, char)>,
}

const DECIMAL_GROUPS: &[u32] = &[
    0x30, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10,
];

pub(crate) fn analyse_integer_picture(picture: &str) -> Result<IntFormat, Error> {
    let mut f = IntFormat {
        primary: Primary::Decimal,
        case: Case::Lower,
        ordinal: false,
        zero_code: 0x30,
        mandatory_digits: 0,
        optional_digits: 0,
        regular: false,
        separators: vec![],
    };
    let (primary, modifier) = match picture.rfind(';') {
        None => (picture, None),
        Some(i) => (&picture[..i], Some(&picture[i + 1..])),
    };
    if modifier.is_some_and(|m| m.starts_with('o')) {
        f.ordinal = true;
    }
    match primary {
        "A" => {
            f.case = Case::Upper;
            f.primary = Primary::Letters;
        }
        "a" => f.primary = Primary::Letters,
        "I" => {
            f.case = Case::Upper;
            f.primary = Primary::Roman;
        }
        "i" => f.primary = Primary::Roman,
        "W" => {
            f.case = Case::Upper;
            f.primary = Primary::Words;
        }
        "Ww" => {
            f.case = Case::Title;
            f.primary = Primary::Words;
        }
        "w" => f.primary = Primary::Words,
        _ => {
            let mut zero: Option<u32> = None;
            let mut sep_pos = 0;
            for c in primary.chars().rev() {
                let cp = c as u32;
                if let Some(g) = DECIMAL_GROUPS.iter().find(|g| cp >= **g && cp <= **g + 9) {
                    f.mandatory_digits += 1;
                    sep_pos += 1;
                    match zero {
                        None => zero = Some(*g),
                        Some(z) if z != *g => return Err(ferr("D3131")),
                        _ => {}
                    }
                } else if c == '#' {
                    sep_pos += 1;
                    f.optional_digits += 1;
                } else {
                    f.separators.push((sep_pos, c));
                }
            }
            if f.mandatory_digits > 0 {
                f.zero_code = zero.unwrap_or(0x30);
                let seps = &f.separators;
                let reg = if seps.is_empty() || seps.iter().any(|s| s.1 != seps[0].1) {
                    0
                } else {
                    regular(&seps.iter().map(|s| s.0).collect::<Vec<_>>())
                };
                if reg > 0 {
                    f.regular = true;
                    f.separators = vec![(reg, seps[0].1)];
                }
            } else {
                f.primary = Primary::Sequence;
            }
        }
    }
    Ok(f)
}

const FEW: [&str; 20] = [
    "Zero",
    "One",
    "Two",
    "Three",
    "Four",
    "Five",
    "Six",
    "Seven",
    "Eight",
    "Nine",
    "Ten",
    "Eleven",
    "Twelve",
    "Thirteen",
    "Fourteen",
    "Fifteen",
    "Sixteen",
    "Seventeen",
    "Eighteen",
    "Nineteen",
];
const ORDINALS: [&str; 20] = [
    "Zeroth",
    "First",
    "Second",
    "Third",
    "Fourth",
    "Fifth",
    "Sixth",
    "Seventh",
    "Eighth",
    "Ninth",
    "Tenth",
    "Eleventh",
    "Twelfth",
    "Thirteenth",
    "Fourteenth",
    "Fifteenth",
    "Sixteenth",
    "Seventeenth",
    "Eighteenth",
    "Nineteenth",
];
const DECADES: [&str; 9] =
    ["Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety", "Hundred"];
const MAGNITUDES: [&str; 4] = ["Thousand", "Million", "Billion", "Trillion"];

fn words(num: f64, prev: bool, ord: bool) -> String {
    if num <= 19.0 {
        let i = num as usize;
        format!("{}{}", if prev { " and " } else { "" }, if ord { ORDINALS[i] } else { FEW[i] })
    } else if num < 100.0 {
        let tens = (num / 10.0).floor() as usize;
        let rem = num % 10.0;
        let mut w = format!("{}{}", if prev { " and " } else { "" }, DECADES[tens - 2]);
        if rem > 0.0 {
            w.push('-');
            w.push_str(&words(rem, false, ord));
        } else if ord {
            w.pop();
            w.push_str("ieth");
        }
        w
    } else if num < 1000.0 {
        let h = (num / 100.0).floor() as usize;
        let rem = num % 100.0;
        let mut w = format!("{}{} Hundred", if prev { ", " } else { "" }, FEW[h]);
        if rem > 0.0 {
            w.push_str(&words(rem, true, ord));
        } else if ord {
            w.push_str("th");
        }
        w
    } else {
        let mut mag = (num.log10() / 3.0).floor() as usize;
        if mag > MAGNITUDES.len() {
            mag = MAGNITUDES.len();
        }
        let factor = 10f64.powi(mag as i32 * 3);
        let mant = (num / factor).floor();
        let rem = num - mant * factor;
        let mut w = format!(
            "{}{} {}",
            if prev { ", " } else { "" },
            words(mant, false, false),
            MAGNITUDES[mag - 1]
        );
        if rem > 0.0 {
            w.push_str(&words(rem, true, ord));
        } else if ord {
            w.push_str("th");
        }
        w
    }
}

const ROMAN: [(u64, &str); 13] = [
    (1000, "m"),
    (900, "cm"),
    (500, "d"),
    (400, "cd"),
    (100, "c"),
    (90, "xc"),
    (50, "l"),
    (40, "xl"),
    (10, "x"),
    (9, "ix"),
    (5, "v"),
    (4, "iv"),
    (1, "i"),
];

fn to_roman(mut v: u64) -> String {
    let mut out = String::new();
    for (n, l) in ROMAN {
        while v >= n {
            out.push_str(l);
            v -= n;
        }
    }
    out
}

fn to_letters(mut v: u64, a: char) -> String {
    let mut out = Vec::new();
    while v > 0 {
        out.push(char::from_u32(((v - 1) % 26) as u32 + a as u32).unwrap_or('?'));
        v = (v - 1) / 26;
    }
    out.into_iter().rev().collect()
}

/// Formats an integer with an analysed picture.
pub(crate) fn format_int(value: f64, f: &IntFormat) -> Result<String, Error> {
    let neg = value < 0.0;
    let value = value.abs();
    let mut s = match f.primary {
        Primary::Letters => to_letters(value as u64, if f.case == Case::Upper { 'A' } else { 'a' }),
        Primary::Roman => {
            let r = to_roman(value as u64);
            if f.case == Case::Upper {
                r.to_uppercase()
            } else {
                r
            }
        }
        Primary::Words => {
            let w = words(value, false, f.ordinal);
            match f.case {
                Case::Upper => w.to_uppercase(),
                Case::Lower => w.to_lowercase(),
                Case::Title => w,
            }
        }
        Primary::Decimal => {
            let mut s = crate::functions::num_str(value);
            let len = s.chars().count();
            if f.mandatory_digits > len {
                s = format!("{}{}", "0".repeat(f.mandatory_digits - len), s);
            }
            if f.zero_code != 0x30 {
                s = s
                    .chars()
                    .map(|c| char::from_u32(c as u32 + f.zero_code - 0x30).unwrap_or(c))
                    .collect();
            }
            let mut chars: Vec<char> = s.chars().collect();
            if f.regular {
                let (interval, ch) = f.separators[0];
                let n = (chars.len().saturating_sub(1)) / interval;
                for i in (1..=n).rev() {
                    let pos = chars.len() - i * interval;
                    chars.insert(pos, ch);
                }
            } else {
                for &(pos, ch) in f.separators.iter().rev() {
                    if pos <= chars.len() {
                        let at = chars.len() - pos;
                        chars.insert(at, ch);
                    }
                }
            }
            let mut s: String = chars.into_iter().collect();
            if f.ordinal {
                let cs: Vec<char> = s.chars().collect();
                let last = cs.last().copied().unwrap_or('0');
                let mut suffix = match last {
                    '1' => "st",
                    '2' => "nd",
                    '3' => "rd",
                    _ => "th",
                };
                if cs.len() > 1 && cs[cs.len() - 2] == '1' {
                    suffix = "th";
                }
                s.push_str(suffix);
            }
            s
        }
        Primary::Sequence => return Err(ferr("D3130")),
    };
    if neg {
        s.insert(0, '-');
    }
    Ok(s)
}

pub(crate) fn format_integer_fn(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(v) = arg(args, 0).as_f64() else { return Ok(Value::Undefined) };
    let f = analyse_integer_picture(arg(args, 1).as_str().unwrap_or(""))?;
    Ok(Value::string(format_int(v.floor(), &f)?))
}

fn word_value(w: &str) -> Option<f64> {
    for (i, x) in FEW.iter().enumerate() {
        if x.eq_ignore_ascii_case(w) {
            return Some(i as f64);
        }
    }
    for (i, x) in ORDINALS.iter().enumerate() {
        if x.eq_ignore_ascii_case(w) {
            return Some(i as f64);
        }
    }
    for (i, x) in DECADES.iter().enumerate() {
        let l = x.to_lowercase();
        let ieth = format!("{}ieth", &l[..l.len() - 1]);
        if l == w || ieth == w {
            return Some(((i + 2) * 10) as f64);
        }
    }
    if w == "hundredth" {
        return Some(100.0);
    }
    for (i, x) in MAGNITUDES.iter().enumerate() {
        let l = x.to_lowercase();
        if l == w || format!("{l}th") == w {
            return Some(10f64.powi((i as i32 + 1) * 3));
        }
    }
    None
}

/// All the words `$parseInteger` knows, for building date regexes.
pub(crate) fn all_words() -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    v.extend(FEW.iter().map(|w| w.to_lowercase()));
    v.extend(ORDINALS.iter().map(|w| w.to_lowercase()));
    for d in DECADES {
        let l = d.to_lowercase();
        v.push(format!("{}ieth", &l[..l.len() - 1]));
        v.push(l);
    }
    v.push("hundredth".into());
    for m in MAGNITUDES {
        let l = m.to_lowercase();
        v.push(format!("{l}th"));
        v.push(l);
    }
    v.sort_by_key(|w| std::cmp::Reverse(w.len()));
    v
}

fn words_to_number(text: &str) -> f64 {
    let text = text.to_lowercase();
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r",\s|\sand\s|[\s\\-]").expect("static regex"));
    let mut segs: Vec<f64> = vec![0.0];
    for part in re.split(&text) {
        let v = word_value(part).unwrap_or(f64::NAN);
        if v < 100.0 || v.is_nan() {
            let mut top = segs.pop().unwrap_or(0.0);
            if top >= 1000.0 {
                segs.push(top);
                top = 0.0;
            }
            segs.push(top + v);
        } else {
            let top = segs.pop().unwrap_or(0.0);
            segs.push(top * v);
        }
    }
    segs.iter().sum()
}

fn roman_to_decimal(s: &str) -> f64 {
    let mut dec = 0.0;
    let mut max = 1.0;
    for c in s.chars().rev() {
        let v = match c.to_ascii_uppercase() {
            'M' => 1000.0,
            'D' => 500.0,
            'C' => 100.0,
            'L' => 50.0,
            'X' => 10.0,
            'V' => 5.0,
            'I' => 1.0,
            _ => f64::NAN,
        };
        if v < max {
            dec -= v;
        } else {
            max = v;
            dec += v;
        }
    }
    dec
}

fn letters_to_decimal(s: &str, a: char) -> f64 {
    let mut dec = 0.0;
    for (i, c) in s.chars().rev().enumerate() {
        dec += (c as u32 as f64 - a as u32 as f64 + 1.0) * 26f64.powi(i as i32);
    }
    dec
}

/// Parses text formatted with an analysed integer picture.
pub(crate) fn parse_int(value: &str, f: &IntFormat) -> Result<f64, Error> {
    Ok(match f.primary {
        Primary::Letters => {
            letters_to_decimal(value, if f.case == Case::Upper { 'A' } else { 'a' })
        }
        Primary::Roman => roman_to_decimal(value),
        Primary::Words => words_to_number(value),
        Primary::Decimal => {
            let mut digits: String = value.to_string();
            if f.ordinal && digits.chars().count() >= 2 {
                let n = digits.chars().count();
                digits = digits.chars().take(n - 2).collect();
            }
            if f.regular {
                digits = digits.replace(',', "");
                digits = digits.replace(f.separators[0].1, "");
            } else {
                for (_, c) in &f.separators {
                    digits = digits.replace(*c, "");
                }
            }
            if f.zero_code != 0x30 {
                digits = digits
                    .chars()
                    .map(|c| char::from_u32(c as u32 - f.zero_code + 0x30).unwrap_or(c))
                    .collect();
            }
            let lead: String = digits
                .trim_start()
                .chars()
                .enumerate()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
                .map(|x| x.1)
                .collect();
            lead.parse::<f64>().unwrap_or(f64::NAN)
        }
        Primary::Sequence => return Err(ferr("D3130")),
    })
}

/// The regex matching text formatted with an analysed integer picture (for date parsing).
pub(crate) fn int_regex(f: &IntFormat, n: Option<usize>) -> Result<String, Error> {
    let occurrences = match n {
        Some(n) if n > 0 => {
            if f.optional_digits == 0 {
                format!("{{{n}}}")
            } else {
                format!("{{{},{n}}}", n.saturating_sub(f.optional_digits))
            }
        }
        _ => "+".into(),
    };
    Ok(match f.primary {
        Primary::Letters => if f.case == Case::Upper { "[A-Z]+" } else { "[a-z]+" }.into(),
        Primary::Roman => if f.case == Case::Upper { "[MDCLXVI]+" } else { "[mdclxvi]+" }.into(),
        Primary::Words => {
            let mut w = all_words();
            w.push("and".into());
            format!("(?:{}|[\\-, ])+", w.join("|"))
        }
        Primary::Decimal => {
            let mut r = format!("[0-9]{occurrences}");
            if f.ordinal {
                r.push_str("(?:th|st|nd|rd)");
            }
            r
        }
        Primary::Sequence => return Err(ferr("D3130")),
    })
}

pub(crate) fn parse_integer_fn(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Value::String(s) = arg(args, 0) else { return Ok(Value::Undefined) };
    let f = analyse_integer_picture(arg(args, 1).as_str().unwrap_or(""))?;
    let v = parse_int(s, &f)?;
    if v.is_nan() {
        return Ok(Value::Undefined);
    }
    Ok(Value::Number(v))
}
