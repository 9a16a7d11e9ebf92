//! The chat widget and the agent console in a real browser: builds web/
//! with npm (dependencies into web/node_modules), checks that the bundles
//! built into the binary are the ones the sources make, starts `parla
//! serve`, and runs web/tests/browser.mjs (Debian's chromium through
//! playwright-core). It prints the widget's size and the first-token
//! latencies; screenshots go to target/tmp/chat-browser/.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{agents_toml, SeededCrm};
use parla_gateway::chat::{now_secs, Claims, TokenKeys};

const SHOP_KEY: &str = "browser-shop-key-0123456789";

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(out.status.success(), "{what} failed:\n{text}");
    Ok(text)
}

#[tokio::test]
async fn the_widget_and_the_console_work_in_chromium() -> anyhow::Result<()> {
    anyhow::ensure!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is missing: scripts/prepare.sh installs it (apt-get install chromium)"
    );
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&installed)) {
        (Ok(l), Ok(i)) => i.modified()? >= l.modified()?,
        _ => false,
    };
    if !fresh {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&web),
            "npm ci",
        )?;
    }
    let built = run(
        Command::new("npm")
            .args(["run", "--silent", "build"])
            .current_dir(&web),
        "npm run build",
    )?;
    for line in built.lines().filter(|l| l.contains("gzipped")) {
        println!("figure: {line}");
    }

    let shop_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = format!(
        r#"cors_allowed_origins = ["http://127.0.0.1:{shop_port}"]
[remote]
asr = "http://127.0.0.1:9"
tts = "http://127.0.0.1:9"
[gateway.chat]
token_key = "{SHOP_KEY}"
{agents}"#,
        agents = agents_toml()
    );
    let (server, _crm) = SeededCrm::new()?
        .serve_only("crm,handoff,dialogue,gateway", &config, &[])
        .await?;

    // The bundle in the binary is the one the sources build today.
    let served = reqwest_get(&format!("{}/widget.js", server.url)).await?;
    let fresh_widget = std::fs::read_to_string(web.join("dist/widget.js"))?;
    anyhow::ensure!(
        served == fresh_widget,
        "web/dist/widget.js changed when rebuilt: rebuild the binary and commit web/dist"
    );

    let now = now_secs();
    let token = |customer: &str| {
        TokenKeys::sign_with(
            SHOP_KEY.as_bytes(),
            &Claims {
                sub: customer.into(),
                exp: now + 900,
                iat: now,
                iss: "shop".into(),
                cid: String::new(),
                via: String::new(),
            },
        )
    };
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chat-browser");
    let mut node = Command::new("node")
        .arg("tests/browser.mjs")
        .current_dir(&web)
        .env("PARLA_URL", &server.url)
        .env("SHOP_PORT", shop_port.to_string())
        .env("SHOP_TOKEN", token("C100"))
        .env("SHOP_TOKEN_TOM", token("C300"))
        .env("SHOTS", &shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    // The script asks for a server restart by a line on its output ("restart server") and
    // goes on when told "restarted" on its input.
    let stdout = node
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout from node"))?;
    let mut stdin = node
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin to node"))?;
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut server = server;
    while let Some(line) = lines.recv().await {
        println!("{line}");
        if line == "restart server" {
            let stopped = std::time::Instant::now();
            server.restart(Duration::from_secs(60)).await?;
            println!(
                "figure: server stopped (SIGTERM) and serving again after {} ms",
                stopped.elapsed().as_millis()
            );
            writeln!(stdin, "restarted")?;
        }
    }
    let status = tokio::task::spawn_blocking(move || node.wait()).await??;
    println!("screenshots in {}", shots.display());
    anyhow::ensure!(status.success(), "browser test failed (see above)");
    Ok(())
}

/// A plain HTTP/1.1 GET (what a browser's script tag does).
async fn reqwest_get(url: &str) -> anyhow::Result<String> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = client.get(url.parse()?).await?;
    anyhow::ensure!(response.status() == 200, "GET {url}: {}", response.status());
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}
