//! Helpers shared by the end-to-end tests: start the real `parla` binary
//! on 127.0.0.1 port 0 and learn its address.

#![allow(dead_code)]

pub mod phone;
pub mod raw;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parla_proto::PeerChannel;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// A `parla serve` child process, killed when dropped.
pub struct ParlaServer {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The server's working directory.
    pub dir: tempfile::TempDir,
    /// What it was started with, to start it again ([`ParlaServer::restart`]).
    started_with: (Vec<String>, Vec<(String, String)>, bool),
}

/// A `parla` command with a clean configuration environment and the
/// working directory in a fresh temp dir (so no stray parla.toml is read).
pub fn parla(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parla"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        // Kept: where the models are, and the kernels' cap (a suite run as an AVX2-only CPU
        // runs its servers so too).
        let kept = ["PARLA_CACHE", "PARLA_PIP", "PARLA_MAX_KERNELS"];
        if key.starts_with("PARLA_") && !kept.contains(&key.as_str()) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// argon2id of [`AGENT_PASSWORD`] (made with `hash-password`).
pub const PASSWORD_HASH: &str = include_str!("../data/agent_password_hash.txt");

/// The password of the test agents.
pub const AGENT_PASSWORD: &str = "correct horse";

/// The test agents' accounts, as `[[handoff.agents]]` tables: Anna, an
/// agent for English and Italian, and Sara, a supervisor.
pub fn agents_toml() -> String {
    format!(
        r#"[[handoff.agents]]
id = "anna"
name = "Anna"
role = "agent"
password_hash = "{hash}"
languages = ["en", "it"]
[[handoff.agents]]
id = "sara"
name = "Sara"
role = "supervisor"
password_hash = "{hash}"
"#,
        hash = PASSWORD_HASH.trim()
    )
}

/// A temporary data directory holding the demo CRM (`parla crm seed`).
pub struct SeededCrm {
    /// The directory; removed when dropped.
    pub dir: tempfile::TempDir,
    /// Its path, for `PARLA_CRM__DATA_DIR`.
    pub data_dir: String,
}

impl SeededCrm {
    /// Seeds the demo customers into a fresh directory, their dates moved to the machine's
    /// day.
    pub fn new() -> anyhow::Result<Self> {
        Self::on("")
    }

    /// Seeds the demo customers into a fresh directory, their dates moved to `today`
    /// (`YYYY-MM-DD`, the server's `flows.today`; empty for the machine's day).
    pub fn on(today: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let data_dir = dir.path().to_string_lossy().into_owned();
        let seeded = parla(dir.path())
            .args(["crm", "seed"])
            .env("PARLA_CRM__DATA_DIR", &data_dir)
            .env("PARLA_FLOWS__TODAY", today)
            .output()?;
        anyhow::ensure!(
            seeded.status.success(),
            "parla crm seed failed: {}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        Ok(Self { dir, data_dir })
    }

    /// Starts `parla serve ARGS` on this CRM with extra `envs` and waits
    /// until it is SERVING.
    pub async fn serve(
        &self,
        args: &[&str],
        envs: &[(&str, &str)],
        within: Duration,
    ) -> anyhow::Result<ParlaServer> {
        let mut all = vec![("PARLA_CRM__DATA_DIR", self.data_dir.as_str())];
        all.extend_from_slice(envs);
        let server = ParlaServer::start(args, &all)?;
        server.wait_ready(within).await?;
        Ok(server)
    }

    /// Starts `parla serve --only SERVICES` on this CRM with `config` (when
    /// not empty) as its `parla.toml` and extra `envs`, and waits up to a
    /// minute until it is SERVING. The CRM's directory comes back with the
    /// server: keep it as long as the server runs.
    pub async fn serve_only(
        self,
        services: &str,
        config: &str,
        envs: &[(&str, &str)],
    ) -> anyhow::Result<(ParlaServer, tempfile::TempDir)> {
        self.serve_only_with(services, config, envs, false).await
    }

    /// [`SeededCrm::serve_only`] with the server's log written to
    /// [`ParlaServer::log_path`].
    pub async fn serve_only_logged(
        self,
        services: &str,
        config: &str,
        envs: &[(&str, &str)],
    ) -> anyhow::Result<(ParlaServer, tempfile::TempDir)> {
        self.serve_only_with(services, config, envs, true).await
    }

    async fn serve_only_with(
        self,
        services: &str,
        config: &str,
        envs: &[(&str, &str)],
        logged: bool,
    ) -> anyhow::Result<(ParlaServer, tempfile::TempDir)> {
        let path = self.dir.path().join("parla.toml");
        let path = path.to_string_lossy();
        let mut args = vec!["--only", services];
        if !config.is_empty() {
            std::fs::write(path.as_ref(), config)?;
            args.extend(["--config", &path]);
        }
        let mut all = vec![("PARLA_CRM__DATA_DIR", self.data_dir.as_str())];
        all.extend_from_slice(envs);
        let server = ParlaServer::start_at("127.0.0.1:0", &args, &all, logged)?;
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok((server, self.dir))
    }
}

impl ParlaServer {
    /// Starts `parla serve --listen 127.0.0.1:0 ARGS` with extra `envs` and
    /// waits for its `listening on` line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_at("127.0.0.1:0", args, envs, false)
    }

    /// Starts `parla serve --listen LISTEN ARGS` with extra `envs`; with
    /// `logged` its log goes to [`ParlaServer::log_path`] instead of the
    /// test's stderr. A wildcard address is reached on 127.0.0.1.
    pub fn start_at(
        listen: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        logged: bool,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut cmd = parla(dir.path());
        // Databases live in the test's own directory unless a test says
        // otherwise.
        cmd.env("PARLA_CRM__DATA_DIR", dir.path())
            .args(["serve", "--listen", listen])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped());
        if logged {
            cmd.stderr(std::fs::File::create(dir.path().join("serve.log"))?);
        } else {
            cmd.stderr(Stdio::inherit());
        }
        let mut child = cmd.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            anyhow::bail!("parla serve did not start; first line: {line:?}");
        };
        let url = url.replace("0.0.0.0", "127.0.0.1");
        let addr = url.trim_start_matches("http://").to_owned();
        Ok(Self {
            child,
            url,
            addr,
            dir,
            started_with: (
                args.iter().map(|a| a.to_string()).collect(),
                envs.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                logged,
            ),
        })
    }

    /// Stops the server as an operator would (SIGTERM: it drains its streams and exits) and
    /// starts it again on the same address with the same arguments and data, then waits until
    /// it is SERVING.
    pub async fn restart(&mut self, within: Duration) -> anyhow::Result<()> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let mut child = std::mem::replace(&mut self.child, Command::new("true").spawn()?);
        tokio::task::spawn_blocking(move || child.wait()).await??;
        let (args, envs, logged) = self.started_with.clone();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let addr = self.addr.clone();
        let fresh = Self::start_at(&addr, &args, &envs, logged)?;
        let old = std::mem::replace(self, fresh);
        drop(old);
        self.wait_ready(within).await
    }

    /// Where a server started with `logged` writes its log.
    pub fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("serve.log")
    }

    /// A channel to the server.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(self.url.clone())?.connect().await?)
    }

    /// A channel for Parla's own client code (which takes a
    /// [`PeerChannel`]), presenting no service token.
    pub async fn peer(&self) -> anyhow::Result<PeerChannel> {
        Ok(PeerChannel::new(self.channel().await?, None))
    }

    /// Waits until the overall health is SERVING.
    pub async fn wait_ready(&self, within: Duration) -> anyhow::Result<()> {
        let mut health = HealthClient::new(self.channel().await?);
        let started = Instant::now();
        loop {
            let status = health
                .check(HealthCheckRequest::default())
                .await?
                .into_inner()
                .status;
            if status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "server not ready after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ParlaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Files under `dir` (databases, write-ahead logs, anything) whose bytes
/// contain `needle`.
pub fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(
                        path.file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
    }
    found.sort();
    found
}
