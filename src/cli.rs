//! The command line: `parla serve`, `parla config`, `parla models`,
//! `parla demo`. Each subcommand loads the configuration, sets up logging
//! and hands over to its module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, FlagOverrides, LogFormat};
use crate::services::ServiceKind;

/// Parla: a customer-support agent that talks on the phone and chats on the
/// web.
#[derive(Debug, Parser)]
#[command(name = "parla", version, about)]
pub struct Cli {
    /// Configuration file (default: ./parla.toml if it exists).
    #[arg(long, global = true, env = "PARLA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the services (all of them unless --only is given).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:50051 (port 0 picks one).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Comma-separated services to run here: asr,tts,dialogue,crm,handoff,gateway.
        #[arg(long, value_delimiter = ',')]
        only: Option<Vec<ServiceKind>>,
    },
    /// Print the effective configuration as TOML.
    Config,
    /// Provision and inspect models.
    Models {
        /// What to do with models.
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Work with the customer record's database.
    Crm {
        /// What to do.
        #[command(subcommand)]
        command: CrmCommand,
    },
    /// Show a running server's services and their health.
    Demo {
        /// URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// Seconds to wait for every service to become ready.
        #[arg(long, default_value_t = 120)]
        wait_secs: u64,
        /// Where the scripted call writes the agent's audio (a WAV file;
        /// the whole conversation goes beside it, `*-conversation.wav`).
        #[arg(long, default_value = "parla-demo-call.wav")]
        wav: PathBuf,
    },
    /// Work with flow files.
    Flows {
        /// What to do.
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// Run conversation test cases (YAML) against the real dialogue manager, in this process
    /// with a seeded CRM; prints pass/fail per case, exits non-zero when one fails.
    TestFlows {
        /// Directory of flow files with their cases in `tests/`, or of cases only (then the
        /// configured flows are tested).
        dir: PathBuf,
    },
    /// Run the dialogue evaluation set against a server and print its table.
    Eval {
        /// URL of a running server (its CRM seeded with the scenarios); none starts one.
        #[arg(long)]
        server: Option<String>,
        /// Evaluation directory (default: ../shared/eval).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Only the first N utterances of each language.
        #[arg(long)]
        limit: Option<usize>,
        /// Only scenarios whose file name contains one of these (comma-separated).
        #[arg(long, value_delimiter = ',')]
        scenarios: Vec<String>,
        /// Exit with code 1 when a target is missed.
        #[arg(long)]
        check: bool,
    },
}

/// Customer record subcommands.
#[derive(Debug, Subcommand)]
pub enum CrmCommand {
    /// Load demo customers, catalogue, orders and conversations (English
    /// and Italian) into the configured database, or the records of
    /// evaluation scenario files (YAML with `customer`, `orders`,
    /// `catalogue`) when given.
    Seed {
        /// Fixture or data-set YAML files; none for the built-in demo data.
        files: Vec<PathBuf>,
    },
}

/// Flow subcommands.
#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Load every flow file of a directory as the server would and report each mistake with
    /// its file and line; exits non-zero on the first one (for CI). Needs no model or server.
    Check {
        /// Directory of flow files (`*.yaml`).
        dir: PathBuf,
    },
}

/// Model subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the default models, their size and whether they are ready.
    List,
    /// Download, verify and convert models (all defaults when none named).
    Fetch {
        /// Model names, as `parla models list` shows them.
        names: Vec<String>,
    },
}

/// Runs the parsed command line; errors are printed and turn into exit
/// code 1 (2 for configuration errors).
pub fn run(cli: Cli) -> ExitCode {
    let mut flags = FlagOverrides {
        log_format: cli.log_format,
        ..FlagOverrides::default()
    };
    if let Command::Serve { listen, only } = &cli.command {
        flags.listen = *listen;
        flags.services = only.clone();
    }
    let config = match Config::load(cli.config.as_deref(), &flags) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("parla: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(config.log_format);
    let result = match cli.command {
        Command::Serve { .. } => serve(config),
        Command::Config => {
            print!("{}", config.to_toml());
            Ok(())
        }
        Command::Models { command } => match command {
            ModelsCommand::List => crate::models_cmd::list(&config),
            ModelsCommand::Fetch { names } => crate::models_cmd::fetch(&config, &names),
        },
        Command::Crm {
            command: CrmCommand::Seed { files },
        } => parla_crm::seed::seed_command(&config.crm, &files, &config.flows.today)
            .map(|summary| println!("{summary}"))
            .map_err(anyhow::Error::from),
        Command::Demo {
            server,
            wait_secs,
            wav,
        } => crate::services::service_token(&config).and_then(|token| {
            runtime()?.block_on(crate::demo::run(&server, wait_secs, &wav, token.as_ref()))
        }),
        Command::Flows {
            command: FlowsCommand::Check { dir },
        } => parla_flows::FlowSet::load_dir(&dir)
            .map(|set| {
                let names: Vec<&str> = set.flows().iter().map(|f| f.spec.name.as_str()).collect();
                println!(
                    "{}: {} flows load: {}",
                    dir.display(),
                    names.len(),
                    names.join(", ")
                );
            })
            .map_err(anyhow::Error::from),
        Command::TestFlows { dir } => crate::test_flows::run(config, &dir).and_then(|passed| {
            anyhow::ensure!(passed, "conversation tests failed");
            Ok(())
        }),
        Command::Eval {
            server,
            data,
            limit,
            scenarios,
            check,
        } => crate::services::service_token(&config).and_then(|service_token| {
            eval(
                crate::eval::EvalOptions {
                    server,
                    data: data.unwrap_or_else(crate::eval::default_data_dir),
                    limit,
                    scenarios,
                    service_token,
                },
                check,
            )
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "parla failed");
            eprintln!("parla: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `parla eval`: prints the table; with `check`, a missed target is an error.
fn eval(options: crate::eval::EvalOptions, check: bool) -> anyhow::Result<()> {
    let report = runtime()?.block_on(crate::eval::run(&options))?;
    print!("{report}");
    anyhow::ensure!(!check || report.targets_met(), "evaluation targets missed");
    Ok(())
}

/// Binds the address and serves until SIGINT or SIGTERM.
fn serve(config: Config) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {} (`listen`): {e}", config.listen))?;
        crate::serve::run(config, listener, crate::serve::shutdown_signal()).await
    })
}
