//! The AWS Step Functions additions to the library: `$partition`, `$range`, `$hash`,
//! `$random([seed])`, `$uuid` and `$parse`.

use md5::Digest;

use crate::eval::{Env, Evaluator};
use crate::functions::{arg, ferr};
use crate::value::{from_json, Value};
use crate::Error;

type R = Result<Value, Error>;

pub(crate) fn partition(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let items = arg(args, 0).members();
    let size = arg(args, 1).as_f64().unwrap_or(0.0);
    if size < 1.0 || size.fract() != 0.0 {
        return Err(ferr("D3030"));
    }
    let chunks: Vec<Value> =
        items.chunks(size as usize).map(|c| Value::array(c.to_vec())).collect();
    Ok(Value::array(chunks))
}

pub(crate) fn range(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let start = arg(args, 0).as_f64().unwrap_or(0.0);
    let end = arg(args, 1).as_f64().unwrap_or(0.0);
    let step = arg(args, 2).as_f64().unwrap_or(1.0);
    if step == 0.0 || !step.is_finite() {
        return Err(ferr("D3030"));
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0.0 && x <= end) || (step < 0.0 && x >= end) {
        out.push(Value::Number(x));
        if out.len() > 10_000_000 {
            return Err(ferr("D2014"));
        }
        x += step;
    }
    // A sequence, as Step Functions returns it: one number alone is that number.
    Ok(Value::seq(out))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn hash(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Value::String(s) = arg(args, 0) else { return Ok(Value::Undefined) };
    let alg = arg(args, 1).as_str().unwrap_or("SHA-256");
    let b = s.as_bytes();
    let h = match alg {
        "MD5" => hex(&md5::Md5::digest(b)),
        "SHA-1" => hex(&sha1::Sha1::digest(b)),
        "SHA-256" => hex(&sha2::Sha256::digest(b)),
        "SHA-384" => hex(&sha2::Sha384::digest(b)),
        "SHA-512" => hex(&sha2::Sha512::digest(b)),
        _ => return Err(Error::new("D3137", None, format!("Unsupported hash algorithm: {alg}"))),
    };
    Ok(Value::string(h))
}

pub(crate) fn random(ev: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    if let Some(seed) = arg(args, 0).as_f64() {
        let mut x = (seed.to_bits() ^ 0x9E37_79B9_7F4A_7C15) | 1;
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        return Ok(Value::Number((x >> 11) as f64 / (1u64 << 53) as f64));
    }
    Ok(Value::Number(crate::functions::next_random(ev)))
}

pub(crate) fn uuid(ev: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    let mut bytes = [0u8; 16];
    for b in bytes.iter_mut() {
        *b = (crate::functions::next_random(ev) * 256.0) as u8;
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex(&bytes);
    Ok(Value::string(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )))
}

pub(crate) fn parse(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Value::String(s) = arg(args, 0) else { return Ok(Value::Undefined) };
    let j: serde_json::Value = serde_json::from_str(s)
        .map_err(|e| Error::new("D3137", None, format!("Invalid JSON: {e}")))?;
    Ok(from_json(&j))
}
