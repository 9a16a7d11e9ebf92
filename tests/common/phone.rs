//! baresip (Debian `baresip-core`) as a phone in the SIP tests: free ports on 127.0.0.1 and a
//! configuration directory for one account that plays a WAV file as its microphone and
//! records what it hears (`<records>/dump-…-dec.wav`), driven by its `ctrl_tcp` port.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A free UDP port on 127.0.0.1.
pub fn free_udp_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A free TCP port on 127.0.0.1.
pub fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Panics with the package to install when baresip is missing.
pub fn require_baresip() {
    if std::process::Command::new("baresip")
        .arg("-h")
        .output()
        .is_err()
    {
        panic!("baresip is not installed: apt-get install baresip-core (scripts/prepare.sh does)");
    }
}

/// A baresip configuration directory under `dir` for `user` on SIP `port` (control on
/// `ctrl`), playing `source` and recording into `records`; `answermode` is `manual` or `auto`.
pub fn baresip_conf(
    dir: &Path,
    user: &str,
    port: u16,
    ctrl: u16,
    source: &Path,
    records: &Path,
    answermode: &str,
) -> anyhow::Result<PathBuf> {
    let conf = dir.join(format!("baresip-{user}"));
    std::fs::create_dir_all(&conf)?;
    std::fs::create_dir_all(records)?;
    std::fs::write(
        conf.join("accounts"),
        format!("<sip:{user}@127.0.0.1>;regint=0;audio_codecs=PCMU;answermode={answermode}\n"),
    )?;
    std::fs::write(
        conf.join("config"),
        format!(
            "sip_listen 127.0.0.1:{port}\n\
             audio_source aufile,{}\n\
             audio_player aubridge,nil\n\
             audio_alert aubridge,nil\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
             module_tmp account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\n\
             snd_path {}\n\
             jitter_buffer_delay 0-0\n",
            source.display(),
            records.display()
        ),
    )?;
    Ok(conf)
}
