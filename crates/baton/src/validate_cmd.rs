//! `baton validate`: ValidateStateMachineDefinition on the command line.

use anyhow::Result;
use clap::Args;

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
    let response = validate::validate_response(&text, args.kind.into());
    let ok = response.get("result").and_then(|r| r.as_str()) == Some("OK");
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(if ok { 0 } else { 1 })
}
