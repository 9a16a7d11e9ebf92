//! The weather where the customer is, behind [`WeatherProvider`]: [`OpenMeteo`] (forecast and
//! geocoding over HTTP, with a timeout and a cache) and [`ClimateNormals`] (the shipped monthly
//! normals, no network; it says what the weather is *usually* like). [`Chain`] asks one, then
//! the next. A place no provider knows gives no weather at all: flows then recommend on product
//! attributes alone and never mention a temperature.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::facts::{civil, month_name, Facts};
use crate::places::{Place, PlaceSource};
use crate::Lang;

/// Where the figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeatherSource {
    /// A forecast for the coming days.
    Forecast,
    /// The month's climate normal ("usually").
    Normal,
}

/// Temperatures for the coming days.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlook {
    /// Mean temperature, °C.
    pub mean_c: f32,
    /// Lowest expected, °C.
    pub min_c: f32,
    /// Highest expected, °C.
    pub max_c: f32,
    /// Days covered.
    pub days: u32,
    /// Forecast or normal.
    pub source: WeatherSource,
}

/// Why there is no weather.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeatherError {
    /// The provider does not know the place.
    #[error("no weather for {0}")]
    UnknownPlace(String),
    /// The provider did not answer usably.
    #[error("weather provider unavailable: {0}")]
    Unavailable(String),
}

/// A source of temperatures for a place.
pub trait WeatherProvider: Send + Sync + std::fmt::Debug {
    /// The outlook for the coming days at `place`; `today` in Unix seconds.
    fn outlook<'a>(
        &'a self,
        place: &'a Place,
        today: i64,
    ) -> BoxFuture<'a, Result<Outlook, WeatherError>>;
}

/// Monthly climate normals of the shipped city table.
#[derive(Debug, Clone, Default)]
pub struct ClimateNormals;

impl WeatherProvider for ClimateNormals {
    fn outlook<'a>(
        &'a self,
        place: &'a Place,
        today: i64,
    ) -> BoxFuture<'a, Result<Outlook, WeatherError>> {
        Box::pin(async move {
            let city = place
                .city
                .as_ref()
                .ok_or_else(|| WeatherError::UnknownPlace(place.name.clone()))?;
            let (_, month, _) = civil(today);
            let mean = city.normals_c[(month - 1) as usize];
            // Normals are daily means; a typical day spans about 4 °C either side.
            Ok(Outlook {
                mean_c: mean,
                min_c: mean - 4.0,
                max_c: mean + 4.0,
                days: 7,
                source: WeatherSource::Normal,
            })
        })
    }
}

/// Open-Meteo's forecast and geocoding APIs.
#[derive(Debug)]
pub struct OpenMeteo {
    client: reqwest::Client,
    forecast_url: String,
    geocoding_url: String,
    forecasts: Cache<Outlook>,
    places: Cache<(f64, f64)>,
}

/// Answers kept by key, for `ttl` or (without one) for good.
#[derive(Debug)]
struct Cache<V> {
    ttl: Option<Duration>,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> Cache<V> {
    fn new(ttl: Option<Duration>) -> Self {
        Cache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &str) -> Option<V> {
        let (at, v) = self.entries.lock().ok()?.get(key).cloned()?;
        self.ttl.is_none_or(|ttl| at.elapsed() < ttl).then_some(v)
    }

    fn put(&self, key: String, v: V) {
        // A poisoned lock only costs the cache.
        if let Ok(mut m) = self.entries.lock() {
            m.insert(key, (Instant::now(), v));
        }
    }
}

/// One Open-Meteo request: which API (named in errors), its URL and query.
struct Request<'a> {
    api: &'a str,
    url: String,
    query: &'a [(&'a str, &'a str)],
}

#[derive(Deserialize)]
struct ForecastJson {
    daily: Daily,
}

#[derive(Deserialize)]
struct Daily {
    temperature_2m_max: Vec<Option<f32>>,
    temperature_2m_min: Vec<Option<f32>>,
}

#[derive(Deserialize)]
struct GeocodingJson {
    #[serde(default)]
    results: Vec<GeoResult>,
}

#[derive(Deserialize)]
struct GeoResult {
    latitude: f64,
    longitude: f64,
}

impl OpenMeteo {
    /// A provider at `forecast_url` (e.g. `https://api.open-meteo.com`) and `geocoding_url`
    /// (`https://geocoding-api.open-meteo.com`), each request limited to `timeout`, forecasts
    /// cached for `ttl`.
    pub fn new(
        forecast_url: &str,
        geocoding_url: &str,
        timeout: Duration,
        ttl: Duration,
    ) -> Result<Self, WeatherError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| WeatherError::Unavailable(e.to_string()))?;
        Ok(OpenMeteo {
            client,
            forecast_url: forecast_url.trim_end_matches('/').to_owned(),
            geocoding_url: geocoding_url.trim_end_matches('/').to_owned(),
            forecasts: Cache::new(Some(ttl)),
            // Places do not move.
            places: Cache::new(None),
        })
    }

    /// The cached answer for `key`, or `request`'s JSON made into one by `answer` (and cached
    /// when it is one). The client's timeout bounds the request.
    async fn cached<J: DeserializeOwned, V: Clone>(
        &self,
        cache: &Cache<V>,
        key: String,
        request: Request<'_>,
        answer: impl FnOnce(J) -> Result<V, WeatherError>,
    ) -> Result<V, WeatherError> {
        if let Some(hit) = cache.get(&key) {
            return Ok(hit);
        }
        let api = request.api;
        let json: J = self
            .client
            .get(&request.url)
            .query(request.query)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| WeatherError::Unavailable(format!("{api}: {e}")))?
            .json()
            .await
            .map_err(|e| WeatherError::Unavailable(format!("{api} answer: {e}")))?;
        let v = answer(json)?;
        cache.put(key, v.clone());
        Ok(v)
    }

    async fn coordinates(&self, place: &Place) -> Result<(f64, f64), WeatherError> {
        if let Some(c) = &place.city {
            return Ok((c.lat, c.lon));
        }
        let request = Request {
            api: "geocoding",
            url: format!("{}/v1/search", self.geocoding_url),
            query: &[
                ("name", place.name.as_str()),
                ("count", "1"),
                ("format", "json"),
            ],
        };
        let key = place.name.to_lowercase();
        self.cached(&self.places, key, request, |found: GeocodingJson| {
            let first = found
                .results
                .first()
                .ok_or_else(|| WeatherError::UnknownPlace(place.name.clone()))?;
            Ok((first.latitude, first.longitude))
        })
        .await
    }
}

impl WeatherProvider for OpenMeteo {
    fn outlook<'a>(
        &'a self,
        place: &'a Place,
        _today: i64,
    ) -> BoxFuture<'a, Result<Outlook, WeatherError>> {
        Box::pin(async move {
            let (lat, lon) = self.coordinates(place).await?;
            let (latitude, longitude) = (format!("{lat:.4}"), format!("{lon:.4}"));
            let request = Request {
                api: "forecast",
                url: format!("{}/v1/forecast", self.forecast_url),
                query: &[
                    ("latitude", latitude.as_str()),
                    ("longitude", longitude.as_str()),
                    ("daily", "temperature_2m_max,temperature_2m_min"),
                    ("forecast_days", "7"),
                    ("timezone", "UTC"),
                ],
            };
            let key = format!("{lat:.2},{lon:.2}");
            self.cached(&self.forecasts, key, request, forecast_outlook)
                .await
        })
    }
}

/// The outlook of a forecast's days.
fn forecast_outlook(answer: ForecastJson) -> Result<Outlook, WeatherError> {
    let days: Vec<(f32, f32)> = answer
        .daily
        .temperature_2m_min
        .iter()
        .zip(&answer.daily.temperature_2m_max)
        .filter_map(|(lo, hi)| Some(((*lo)?, (*hi)?)))
        .collect();
    if days.is_empty() {
        return Err(WeatherError::Unavailable("forecast has no days".into()));
    }
    let n = days.len() as f32;
    Ok(Outlook {
        mean_c: days.iter().map(|(lo, hi)| (lo + hi) / 2.0).sum::<f32>() / n,
        min_c: days.iter().map(|d| d.0).fold(f32::INFINITY, f32::min),
        max_c: days.iter().map(|d| d.1).fold(f32::NEG_INFINITY, f32::max),
        days: days.len() as u32,
        source: WeatherSource::Forecast,
    })
}

/// Asks each provider in turn; the first answer wins.
#[derive(Debug, Default)]
pub struct Chain(pub Vec<Box<dyn WeatherProvider>>);

impl WeatherProvider for Chain {
    fn outlook<'a>(
        &'a self,
        place: &'a Place,
        today: i64,
    ) -> BoxFuture<'a, Result<Outlook, WeatherError>> {
        Box::pin(async move {
            let mut last = WeatherError::UnknownPlace(place.name.clone());
            for p in &self.0 {
                match p.outlook(place, today).await {
                    Ok(o) => return Ok(o),
                    Err(e) => {
                        tracing::info!(place = %place.name, error = %e, "weather provider gave nothing");
                        last = e;
                    }
                }
            }
            Err(last)
        })
    }
}

/// Facts of an outlook: `weather_known`, `weather_source` (`forecast`/`normal`), `city`,
/// `temp_c` (rounded mean), `temp_min_c`, `temp_max_c`, `month`, `place_source`.
pub fn outlook_facts(place: &Place, o: &Outlook, today: i64, lang: Lang) -> Facts {
    let mut f = Facts::new();
    let round = |x: f32| format!("{}", x.round() as i32);
    f.insert("weather_known".into(), "true".into());
    f.insert(
        "weather_source".into(),
        match o.source {
            WeatherSource::Forecast => "forecast",
            WeatherSource::Normal => "normal",
        }
        .into(),
    );
    f.insert("city".into(), place.name.clone());
    f.insert("temp_c".into(), round(o.mean_c));
    f.insert("temp_min_c".into(), round(o.min_c));
    f.insert("temp_max_c".into(), round(o.max_c));
    f.insert("month".into(), month_name(civil(today).1, lang).into());
    f.insert(
        "place_source".into(),
        match place.source {
            PlaceSource::Address => "address",
            PlaceSource::Phone => "phone",
            PlaceSource::Shared => "shared",
        }
        .into(),
    );
    f
}

/// Facts when there is no weather (the flow must not mention any).
pub fn no_weather() -> Facts {
    let mut f = Facts::new();
    f.insert("weather_known".into(), "false".into());
    f.insert("weather_source".into(), "none".into());
    f
}
