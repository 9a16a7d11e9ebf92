//! Logging through `tracing`: human-readable lines by default, JSON lines
//! with `--log-format json`, on standard error (standard output carries the
//! command's own output). `RUST_LOG` filters as usual; the default is
//! `info` with the SIP stack at `warn`: its info lines carry whole SIP
//! messages, whose From and Contact headers hold callers' numbers and names.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,rsipstack=warn";

/// Installs the global subscriber. Calling it twice is harmless.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
