//! Settings of flows: `[flows]` in `parla.toml` (env `PARLA_FLOWS__…`), with the weather
//! provider under `[flows.weather]`.

use serde::{Deserialize, Serialize};

use crate::FlowError;

/// Settings of flows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowsConfig {
    /// Directory of the developer's flow files (`*.yaml`); empty for the shipped flows built
    /// into the binary (the repository's `flows/`).
    pub dir: String,
    /// Today's date as `YYYY-MM-DD` for return windows and late deliveries; empty for the
    /// system clock (set it for reproducible demos and tests).
    pub today: String,
    /// Weather provider.
    pub weather: WeatherConfig,
}

/// Which weather provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeatherProviderKind {
    /// Open-Meteo, then the offline normals when it does not answer (opt-in: with the forecast
    /// down, replies then state a shipped climate normal, "usually around …").
    Auto,
    /// Open-Meteo only (the default): a temperature in a reply is always this turn's forecast;
    /// with the provider down there is none.
    OpenMeteo,
    /// The shipped monthly climate normals only (no network; demos and tests).
    Offline,
    /// No weather: recommendations rest on product attributes.
    None,
}

/// Weather provider settings (`[flows.weather]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeatherConfig {
    /// `auto`, `open-meteo`, `offline` or `none`.
    pub provider: WeatherProviderKind,
    /// Base URL of Open-Meteo's forecast API.
    pub open_meteo_url: String,
    /// Base URL of Open-Meteo's geocoding API.
    pub geocoding_url: String,
    /// Timeout of one request, in milliseconds.
    pub timeout_ms: u64,
    /// How long a forecast is reused, in seconds.
    pub cache_secs: u64,
}

impl Default for WeatherConfig {
    fn default() -> Self {
        Self {
            provider: WeatherProviderKind::OpenMeteo,
            open_meteo_url: "https://api.open-meteo.com".into(),
            geocoding_url: "https://geocoding-api.open-meteo.com".into(),
            timeout_ms: 2000,
            cache_secs: 1800,
        }
    }
}

impl FlowsConfig {
    /// Checks values; the error names the key and what is allowed.
    pub fn validate(&self) -> Result<(), FlowError> {
        if !self.today.is_empty() && crate::facts::parse_day(&self.today).is_none() {
            return Err(FlowError::Setting {
                key: "flows.today".into(),
                problem: format!("is {:?}; allowed: a date YYYY-MM-DD or empty", self.today),
            });
        }
        let w = &self.weather;
        if w.timeout_ms == 0 || w.timeout_ms > 30_000 {
            return Err(FlowError::Setting {
                key: "flows.weather.timeout_ms".into(),
                problem: format!("is {}; allowed: 1 to 30000", w.timeout_ms),
            });
        }
        for (key, url) in [
            ("flows.weather.open_meteo_url", &w.open_meteo_url),
            ("flows.weather.geocoding_url", &w.geocoding_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(FlowError::Setting {
                    key: key.into(),
                    problem: format!("is {url:?}; allowed: an http:// or https:// URL"),
                });
            }
        }
        Ok(())
    }

    /// Today as Unix seconds: `today` when set, else the system clock.
    pub fn today(&self) -> i64 {
        crate::facts::parse_day(&self.today).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_validation() {
        let c = FlowsConfig::default();
        let text = toml::to_string_pretty(&c).expect("serialize");
        let back: FlowsConfig = toml::from_str(&text).expect("parse");
        assert_eq!(back, c);
        let custom: FlowsConfig =
            toml::from_str("today = \"2026-11-25\"\n[weather]\nprovider = \"offline\"\n")
                .expect("custom");
        assert_eq!(custom.weather.provider, WeatherProviderKind::Offline);
        assert!(custom.validate().is_ok());
        let bad = FlowsConfig {
            today: "25/11/2026".into(),
            ..FlowsConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("flows.today"));
    }
}
