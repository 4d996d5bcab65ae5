//! `reelsmith config check`: print the effective configuration (every layer applied, secrets
//! masked) and every validation problem; exit 1 when there is any.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use reelsmith_config::Config;

use crate::platform::ConfigArgs;

#[derive(Args, Debug)]
pub struct ConfigCommand {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print the effective settings with secrets masked, then any problems.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        /// Also take `server.listen` from here, as `serve` would.
        #[arg(long)]
        listen: Option<String>,
    },
}

pub fn run(command: ConfigCommand) -> ExitCode {
    match command.action {
        ConfigAction::Check { config, listen } => check(&config, listen.as_deref()),
    }
}

fn check(args: &ConfigArgs, listen: Option<&str>) -> ExitCode {
    let mut sources = args.sources();
    if let Some(listen) = listen {
        sources = sources.with_override("server.listen", listen);
    }
    let config = match Config::load(&sources) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", config.to_masked_toml());
    let problems = config.validate();
    if !problems.is_empty() {
        eprintln!("{} problem(s):", problems.len());
        for problem in &problems {
            eprintln!("  - {problem}");
        }
        return ExitCode::FAILURE;
    }
    eprintln!("configuration is valid");
    let checks = match crate::platform::runtime() {
        Ok(rt) => rt.block_on(crate::checks::dependency_checks(&config)),
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    for check in &checks {
        match &check.result {
            Ok(said) => eprintln!("ok: {}: {said}", check.name),
            Err(why) => {
                failed += 1;
                eprintln!("error: {}: {why}", check.name);
            }
        }
    }
    // A fallback to espeak-ng is reported, never a failure: jobs still run (D-voice-6).
    match reelsmith_worker::speech_settings::default_voice_line(&config) {
        Ok(line) => eprintln!("ok: default voice: {line}"),
        Err(line) => eprintln!("warning: default voice: {line}"),
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{failed} dependency check(s) failed");
        ExitCode::FAILURE
    }
}
