//! `baton graph`: draw a state machine as an SVG diagram (or print its layout as JSON).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub(crate) struct GraphArgs {
    /// The definition: a file path, `-` for standard input, or inline JSON.
    definition: String,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// What to write: the SVG diagram, or its layout (coordinates of every node and edge).
    #[arg(long, value_enum, default_value = "svg")]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Svg,
    Json,
}

/// Exit 0 when the diagram is written (warnings about an invalid definition go to standard
/// error), 1 when the document is not a state machine, and 2 when it cannot be read.
pub(crate) fn run(args: GraphArgs) -> Result<u8> {
    let text = crate::input::definition_text(&args.definition)?;
    let definition: Value =
        serde_json::from_str(&text).context("the definition is not valid JSON")?;
    let layout = match graph::layout(&definition) {
        Ok(layout) => layout,
        Err(e) => {
            eprintln!("baton: cannot draw the definition: {e}");
            return Ok(1);
        }
    };
    for warning in &layout.warnings {
        eprintln!("baton: warning: {warning}");
    }
    let out = match args.format {
        Format::Svg => graph::render_svg(&layout, &graph::Highlight::none()),
        Format::Json => serde_json::to_string_pretty(&layout)? + "\n",
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => print!("{out}"),
    }
    Ok(0)
}
