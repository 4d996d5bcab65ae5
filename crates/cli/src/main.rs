//! `reelsmith`: the one binary. Each subcommand lives in its own module.

mod render;

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Render(args) => render::run(args),
    }
}
