//! `baton validate`: ValidateStateMachineDefinition on the command line.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use asl::validate::{self, MachineType};

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The definition: a file path, `-` for standard input, or inline JSON.
    definition: String,
    /// The kind of state machine.
    #[arg(long = "type", value_enum, default_value = "standard")]
    kind: Kind,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Kind {
    Standard,
    Express,
}

impl From<Kind> for MachineType {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Standard => MachineType::Standard,
            Kind::Express => MachineType::Express,
        }
    }
}

pub(crate) fn run(args: ValidateArgs) -> Result<u8> {
    let text = crate::input::definition_text(&args.definition)?;
    let diagnostics = match serde_json::from_str(&text) {
        Ok(v) => validate::validate(&v, args.kind.into()),
        Err(e) => vec![validate::Diagnostic {
            code: "INVALID_JSON_DESCRIPTION".into(),
            message: format!("Definition is not valid JSON: {e}"),
            location: String::new(),
        }],
    };
    let ok = diagnostics.is_empty();
    let response = json!({
        "result": if ok { "OK" } else { "FAIL" },
        "diagnostics": diagnostics.iter().map(|d| json!({
            "severity": "ERROR", "code": d.code, "message": d.message, "location": d.location,
        })).collect::<Vec<_>>(),
        "truncated": false,
    });
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(if ok { 0 } else { 1 })
}
