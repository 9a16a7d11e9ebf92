//! Configuration layering (defaults, parla.toml, PARLA_* variables, flags)
//! and the messages a bad value gets.

mod common;

use std::process::Output;

fn config_output(
    dir: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<Output> {
    Ok(common::parla(dir)
        .args(args)
        .arg("config")
        .envs(envs.iter().copied())
        .output()?)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn defaults_then_file_then_environment_then_flags() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let defaults = config_output(dir.path(), &[], &[])?;
    assert!(defaults.status.success(), "{}", stderr(&defaults));
    let text = String::from_utf8(defaults.stdout)?;
    assert!(text.contains("listen = \"127.0.0.1:50051\""), "{text}");
    assert!(text.contains("log_format = \"text\""), "{text}");

    std::fs::write(
        dir.path().join("parla.toml"),
        "listen = \"127.0.0.1:6000\"\nlog_format = \"json\"\n[asr]\nthreads = 3\n",
    )?;
    let from_file = String::from_utf8(config_output(dir.path(), &[], &[])?.stdout)?;
    assert!(
        from_file.contains("listen = \"127.0.0.1:6000\""),
        "{from_file}"
    );
    assert!(from_file.contains("threads = 3"), "{from_file}");

    let from_env = String::from_utf8(
        config_output(
            dir.path(),
            &[],
            &[("PARLA_ASR__THREADS", "4"), ("PARLA_LOG_FORMAT", "json")],
        )?
        .stdout,
    )?;
    assert!(from_env.contains("threads = 4"), "{from_env}");
    assert!(
        from_env.contains("listen = \"127.0.0.1:6000\""),
        "{from_env}"
    );

    let from_flag = String::from_utf8(
        config_output(
            dir.path(),
            &["--log-format", "text"],
            &[("PARLA_LOG_FORMAT", "json")],
        )?
        .stdout,
    )?;
    assert!(from_flag.contains("log_format = \"text\""), "{from_flag}");
    Ok(())
}

#[test]
fn a_bad_value_names_its_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("PARLA_ASR__THREADS", "many")], "asr.threads"),
        (&[("PARLA_ASR__THREADS", "0")], "asr.threads"),
        (&[("PARLA_LISTEN", "not-an-address")], "listen"),
        (&[("PARLA_SERVICES", "asr,billing")], "billing"),
    ];
    for (envs, key) in cases {
        let output = config_output(dir.path(), &[], envs)?;
        assert_eq!(output.status.code(), Some(2), "{envs:?}");
        let message = stderr(&output);
        assert!(message.contains(key), "{envs:?}: {message}");
    }

    std::fs::write(dir.path().join("parla.toml"), "[tts]\nvoise = \"x\"\n")?;
    let output = config_output(dir.path(), &[], &[])?;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("voise"), "{}", stderr(&output));

    std::fs::write(dir.path().join("parla.toml"), "log_format = \"xml\"\n")?;
    let output = config_output(dir.path(), &[], &[])?;
    let message = stderr(&output);
    assert!(
        message.contains("log_format") && message.contains("json"),
        "{message}"
    );
    Ok(())
}

#[test]
fn an_explicit_config_file_must_exist() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let output = config_output(dir.path(), &["--config", "nowhere.toml"], &[])?;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nowhere.toml"));
    Ok(())
}

#[test]
fn parla_config_shows_no_secret() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Each secret a deployment can set, as a marker that must not be printed.
    let secrets = [
        ("security", "service_token", "svc-token-MARKER-1a2b3c"),
        (
            "crm",
            "encryption_key",
            "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12",
        ),
        ("gateway.chat", "token_key", "shop-key-MARKER-4d5e6f"),
        ("dialogue.openai", "api_key", "sk-MARKER-7a8b9c"),
    ];
    let mut toml = String::new();
    for (table, key, value) in secrets {
        toml.push_str(&format!("[{table}]\n{key} = \"{value}\"\n"));
    }
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$MARKERc2FsdHNhbHQ$MARKERaGFzaGhhc2hoYXNo";
    toml.push_str(&format!(
        "[[handoff.agents]]\nid = \"anna\"\nname = \"Anna\"\nrole = \"agent\"\npassword_hash = \"{hash}\"\n"
    ));
    std::fs::write(dir.path().join("parla.toml"), toml)?;
    let output = config_output(dir.path(), &[], &[])?;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout)?;
    for (table, key, value) in secrets {
        assert!(!text.contains(value), "[{table}] {key} printed:\n{text}");
    }
    assert!(!text.contains("MARKER"), "a secret printed:\n{text}");
    // Each is shown as set, not dropped.
    assert!(
        text.matches("\"<redacted>\"").count() > secrets.len(),
        "{text}"
    );
    Ok(())
}
