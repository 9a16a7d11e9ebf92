//! The weather provider of the evaluation: each scenario says what "the weather provider answers
//! for the customer's place" (`weather: {place, days, min_c, max_c}`) or that it is
//! `unavailable`. When `parla eval` starts its own server, it is that provider: a small HTTP
//! server speaking Open-Meteo's forecast and geocoding APIs on 127.0.0.1, which the server's
//! `[flows.weather]` points at (`provider = "open-meteo"`, no cache). Scenarios run one at a
//! time, so before each the eval sets what the provider answers; `unavailable` answers 503.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a scenario's weather provider answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Days of forecast.
    pub days: u32,
    /// Lowest temperature of the period, °C.
    pub min_c: f64,
    /// Highest temperature of the period, °C.
    pub max_c: f64,
}

impl Forecast {
    /// Reads a scenario's `weather` value: a map with `min_c`/`max_c` (and `days`), else
    /// `None` (`unavailable`, absent or unreadable: the provider is down).
    pub fn from_yaml(v: &serde_yaml::Value) -> Option<Forecast> {
        let min_c = v["min_c"].as_f64()?;
        let max_c = v["max_c"].as_f64()?;
        let days = v["days"].as_u64().unwrap_or(7).clamp(1, 16) as u32;
        Some(Forecast { days, min_c, max_c })
    }

    /// Open-Meteo's `/v1/forecast` answer: every day spans the scenario's range.
    fn json(&self) -> String {
        let days = self.days as usize;
        let list = |x: f64| vec![format!("{x}"); days].join(",");
        format!(
            r#"{{"daily_units":{{"temperature_2m_max":"°C","temperature_2m_min":"°C"}},"daily":{{"temperature_2m_max":[{}],"temperature_2m_min":[{}]}}}}"#,
            list(self.max_c),
            list(self.min_c)
        )
    }
}

/// The running provider; what it answers is set per scenario.
#[derive(Debug, Clone)]
pub struct WeatherDouble {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    current: Arc<Mutex<Option<Forecast>>>,
}

impl WeatherDouble {
    /// Starts the provider (it answers 503 until a forecast is set).
    pub async fn start() -> anyhow::Result<WeatherDouble> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let current: Arc<Mutex<Option<Forecast>>> = Arc::default();
        let shared = Arc::clone(&current);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let now = shared.lock().map(|c| c.clone()).unwrap_or(None);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut got = 0;
                    // The request head is all that matters (GET, no body).
                    while got < buf.len() {
                        match socket.read(&mut buf[got..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got += n,
                        }
                        if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    let head = String::from_utf8_lossy(&buf[..got]);
                    let path = head.split_whitespace().nth(1).unwrap_or("");
                    let (status, body) = match (&now, path) {
                        (Some(f), p) if p.starts_with("/v1/forecast") => ("200 OK", f.json()),
                        // A place outside the server's city table: any coordinates will do,
                        // the forecast is the scenario's.
                        (Some(_), p) if p.starts_with("/v1/search") => (
                            "200 OK",
                            r#"{"results":[{"latitude":45.0,"longitude":9.0}]}"#.to_owned(),
                        ),
                        (Some(_), _) => ("404 Not Found", "{}".to_owned()),
                        (None, _) => (
                            "503 Service Unavailable",
                            r#"{"error":true,"reason":"unavailable in this scenario"}"#.to_owned(),
                        ),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Ok(WeatherDouble { url, current })
    }

    /// What the provider answers from now on (`None`: it is down).
    pub fn set(&self, forecast: Option<Forecast>) {
        if let Ok(mut c) = self.current.lock() {
            *c = forecast;
        }
    }

    /// The server settings that make this the weather provider (forecast only, never cached,
    /// so two scenarios in the same city get their own weather).
    pub fn server_env(&self) -> Vec<(String, String)> {
        [
            ("PARLA_FLOWS__WEATHER__PROVIDER", "open-meteo"),
            ("PARLA_FLOWS__WEATHER__OPEN_METEO_URL", self.url.as_str()),
            ("PARLA_FLOWS__WEATHER__GEOCODING_URL", self.url.as_str()),
            ("PARLA_FLOWS__WEATHER__CACHE_SECS", "0"),
            ("PARLA_FLOWS__WEATHER__TIMEOUT_MS", "2000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}
