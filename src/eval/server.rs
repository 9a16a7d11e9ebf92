//! The server `parla eval` starts when none is given: this same binary, `parla serve --only
//! crm,handoff,dialogue` on 127.0.0.1 port 0, with a fresh data directory whose CRM was seeded
//! with the scenarios' fixtures (`parla crm seed FILES`). The child's log goes to `serve.log`
//! in that directory; the child is killed and the directory removed on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parla_proto::PeerChannel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// A child `parla serve`.
pub struct OwnServer {
    child: Child,
    dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl OwnServer {
    /// Seeds a fresh CRM with `fixtures` and starts the server (blocking steps run on a
    /// blocking thread).
    /// `env` are extra settings of the server (the evaluation's weather provider).
    pub async fn start(fixtures: &[PathBuf], env: Vec<(String, String)>) -> anyhow::Result<Self> {
        // The seeding process runs in its own directory: relative paths are resolved here.
        let cwd = std::env::current_dir()?;
        let fixtures = fixtures.iter().map(|f| cwd.join(f)).collect::<Vec<_>>();
        tokio::task::spawn_blocking(move || Self::start_blocking(&fixtures, &env)).await?
    }

    fn start_blocking(fixtures: &[PathBuf], env: &[(String, String)]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        // One directory per server: an eval starts one per scenario date.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("parla-eval-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let seeded = Command::new(&exe)
            .current_dir(&dir)
            .env("PARLA_CRM__DATA_DIR", &dir)
            .args(["crm", "seed"])
            .args(fixtures)
            .output()?;
        anyhow::ensure!(
            seeded.status.success(),
            "`parla crm seed` of the scenarios failed: {}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let mut child = Command::new(&exe)
            .current_dir(&dir)
            .env("PARLA_CRM__DATA_DIR", &dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--only",
                "crm,handoff,dialogue",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout from parla serve"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            anyhow::bail!(
                "parla serve did not start (log: {}); first line: {line:?}",
                dir.join("serve.log").display()
            );
        };
        Ok(OwnServer {
            url: url.to_owned(),
            child,
            dir,
        })
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `EVAL_SERVER_LOG=FILE` keeps the server's log (grounding rejections, hand-offs).
        if let Some(keep) = std::env::var_os("EVAL_SERVER_LOG") {
            if let Err(e) = std::fs::copy(self.dir.join("serve.log"), &keep) {
                eprintln!("server log not kept in {}: {e}", keep.to_string_lossy());
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits until the server's overall health is SERVING (models loaded).
pub async fn wait_ready(channel: PeerChannel, within: Duration) -> anyhow::Result<()> {
    let mut health = HealthClient::new(channel);
    let started = Instant::now();
    loop {
        let status = health
            .check(HealthCheckRequest::default())
            .await
            .map(|r| r.into_inner().status)
            .unwrap_or(ServingStatus::Unknown as i32);
        if status == ServingStatus::Serving as i32 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "server not ready after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
