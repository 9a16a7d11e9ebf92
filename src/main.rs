//! The `parla` command: parses the command line and hands it to
//! [`parla::cli::run`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    parla::cli::run(parla::cli::Cli::parse())
}
