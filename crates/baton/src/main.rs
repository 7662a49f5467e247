//! The `baton` command line: the entry point that wires the crates together.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api_client;
mod bench_cmd;
mod config;
mod exec_cmd;
mod functions_cmd;
mod graph_cmd;
mod input;
mod jsonata_cmd;
mod runner;
mod server;
mod tls;
mod topics_cmd;
mod up_cmd;
mod validate_cmd;

/// mimalloc rather than the system allocator: the server allocates and frees small buffers
/// (JSON values, HTTP headers, SQL arguments) at a high rate, and glibc's malloc was about a
/// sixth of its CPU under load (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Baton: the building blocks of a cloud-native application in one binary.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one execution of a state machine (or a batch of them) and print the result as JSON.
    Exec(exec_cmd::ExecArgs),
    /// Validate a state machine definition as ValidateStateMachineDefinition does.
    Validate(validate_cmd::ValidateArgs),
    /// Draw a state machine definition as an SVG diagram.
    Graph(graph_cmd::GraphArgs),
    /// Evaluate a JSONata expression.
    Jsonata(jsonata_cmd::JsonataArgs),
    /// Start the server: the Step Functions API on SQLite (default) or PostgreSQL.
    Up(up_cmd::UpArgs),
    /// Invoke the functions of a running Baton and read their logs.
    Functions(functions_cmd::FunctionsArgs),
    /// Create, publish to and subscribe to the topics of a running Baton.
    Topics(topics_cmd::TopicsArgs),
    /// Drive a Step Functions endpoint with a workload and report throughput and latency.
    Bench(bench_cmd::BenchArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Exec(args) => exec_cmd::run(args),
        Command::Validate(args) => validate_cmd::run(args),
        Command::Graph(args) => graph_cmd::run(args),
        Command::Jsonata(args) => jsonata_cmd::run(args),
        Command::Up(args) => up_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
        Command::Functions(args) => functions_cmd::run(args),
        Command::Topics(args) => topics_cmd::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("baton: {e:#}");
            ExitCode::from(2)
        }
    }
}
