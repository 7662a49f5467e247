//! Reading JSON arguments: inline text, `@FILE`, or a file path.

use anyhow::{Context, Result};
use serde_json::Value;

/// Parses `--input`-style arguments: `@FILE` reads a file, anything else is JSON text.
pub(crate) fn json_arg(arg: &str, what: &str) -> Result<Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {what} file {path}"))?,
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).with_context(|| format!("{what} is not valid JSON"))
}

/// Reads a definition: a file path, `@FILE`, `-` for standard input, or inline JSON text.
pub(crate) fn definition_text(arg: &str) -> Result<String> {
    let trimmed = arg.trim_start();
    if trimmed.starts_with('{') {
        return Ok(arg.to_owned());
    }
    if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("cannot read standard input")?;
        return Ok(s);
    }
    let path = arg.strip_prefix('@').unwrap_or(arg);
    std::fs::read_to_string(path).with_context(|| format!("cannot read definition file {path}"))
}
