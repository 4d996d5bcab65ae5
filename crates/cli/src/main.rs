//! `reelsmith`: the one binary. Each subcommand lives in its own module.

mod config;
mod keys;
mod migrate;
mod platform;
mod render;
mod retention;
mod serve;
mod tls;
mod worker;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reelsmith",
    version,
    about = "Self-hostable AI video generation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a video from a script and media on this machine, with no server.
    Render(render::RenderArgs),
    /// Run the HTTP API and a pool of job workers in one process.
    Serve(serve::ServeArgs),
    /// Run job workers only (no HTTP server), with the same configuration as `serve`.
    Worker(worker::WorkerArgs),
    /// Apply the database migrations and exit.
    Migrate(migrate::MigrateArgs),
    /// Inspect the configuration.
    Config(config::ConfigCommand),
    /// Manage the operator key that wraps every user's media key (encryption at rest).
    Keys(keys::KeysCommand),
    /// Apply the retention policy once (expired videos and uploads, old audit entries, deleted
    /// accounts) and print what went as JSON.
    Retention(retention::RetentionArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Render(args) => render::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Config(command) => config::run(command),
        Command::Keys(command) => keys::run(command),
        Command::Retention(args) => retention::run(args),
    }
}
