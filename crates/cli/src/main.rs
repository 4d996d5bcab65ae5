//! `reelsmith`: the one binary. Each subcommand lives in its own module.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod admin;
mod breach;
mod checks;
mod config;
mod credits;
mod deployment;
mod keys;
mod migrate;
mod news;
mod platform;
mod policy;
mod render;
mod retention;
mod rights;
mod serve;
mod staff;
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
    /// Publish a new version of the privacy notice or the terms; material ones are emailed to
    /// every user and must be accepted before their next job.
    Policy(policy::PolicyCommand),
    /// Track rights requests received by email: 30 days to answer, identity checked first.
    Rights(rights::RightsCommand),
    /// Notify users affected by a data breach by email, recording when each notice went out.
    Breach(breach::BreachCommand),
    /// Product news by email, only to people who asked for it, always with an unsubscribe link.
    News(news::NewsCommand),
    /// Staff accounts: promote or demote a role, reset a lost authenticator.
    Admin(staff::StaffCommand),
    /// Grant or refund a user's credits as the operator, with a reason (audit-logged).
    Credits(credits::CreditsCommand),
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
        Command::Policy(command) => policy::run(command),
        Command::Rights(command) => rights::run(command),
        Command::Breach(command) => breach::run(command),
        Command::News(command) => news::run(command),
        Command::Admin(command) => staff::run(command),
        Command::Credits(command) => credits::run(command),
    }
}
