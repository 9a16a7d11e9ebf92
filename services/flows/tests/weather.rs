//! Weather providers without the network: Open-Meteo's JSON served by a local HTTP double
//! (forecast and geocoding, cache, a provider that is down), and the offline climate normals.

mod common;

use std::time::Duration;

use common::HttpDouble;
use parla_flows::facts::parse_day;
use parla_flows::places::{self, Place, PlaceSource};
use parla_flows::weather::{
    outlook_facts, Chain, ClimateNormals, OpenMeteo, WeatherProvider, WeatherSource,
};
use parla_flows::Lang;

const FORECAST: &str = r#"{"latitude":45.46,"longitude":9.19,"daily_units":{"temperature_2m_max":"°C"},
 "daily":{"time":["2026-11-25","2026-11-26","2026-11-27"],
 "temperature_2m_max":[5.1,4.0,3.2],"temperature_2m_min":[-0.5,-1.8,0.4]}}"#;

const GEOCODING: &str = r#"{"results":[{"name":"Cremona","latitude":45.1333,"longitude":10.0333,"country_code":"IT"}]}"#;

fn milan() -> Place {
    places::shared("Milano", Lang::En).expect("in the table")
}

#[tokio::test]
async fn open_meteo_forecast_geocoding_and_cache() -> anyhow::Result<()> {
    let server = HttpDouble::start(|r, _| {
        let body = if r.target.starts_with("/v1/search") {
            GEOCODING
        } else {
            FORECAST
        };
        (200, body.to_owned(), Duration::ZERO)
    })
    .await?;
    let om = OpenMeteo::new(
        &server.url,
        &server.url,
        Duration::from_millis(800),
        Duration::from_secs(60),
    )?;
    let today = parse_day("2026-11-25").expect("date");
    let o = om.outlook(&milan(), today).await?;
    assert_eq!(o.source, WeatherSource::Forecast);
    assert_eq!((o.min_c, o.max_c, o.days), (-1.8, 5.1, 3));
    let f = outlook_facts(&milan(), &o, today, Lang::En);
    assert_eq!(
        (f["temp_c"].as_str(), f["temp_min_c"].as_str()),
        ("2", "-2")
    );
    assert_eq!(f["weather_source"], "forecast");
    // Cached: no second request for the same place.
    om.outlook(&milan(), today).await?;
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let q = &requests[0].target;
    assert!(
        q.starts_with("/v1/forecast?") && q.contains("latitude=45.4642"),
        "{q}"
    );
    assert!(q.contains("temperature_2m_min"), "{q}");
    // A town outside the table is geocoded first.
    let cremona = Place {
        name: "Cremona".into(),
        city: None,
        country: "IT".into(),
        source: PlaceSource::Address,
    };
    om.outlook(&cremona, today).await?;
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert!(
        targets[1].starts_with("/v1/search?name=Cremona"),
        "{targets:?}"
    );
    assert!(targets[2].contains("latitude=45.1333"), "{targets:?}");
    Ok(())
}

#[tokio::test]
async fn a_provider_that_is_down_or_slow_gives_nothing_and_normals_take_over() -> anyhow::Result<()>
{
    let slow = HttpDouble::start(|_, _| (200, FORECAST.to_owned(), Duration::from_secs(3))).await?;
    let broken =
        HttpDouble::start(|_, _| (200, "{\"daily\": 3}".to_owned(), Duration::ZERO)).await?;
    let today = parse_day("2026-12-10").expect("date");
    for url in [slow.url.as_str(), broken.url.as_str(), "http://127.0.0.1:9"] {
        let om = OpenMeteo::new(
            url,
            url,
            Duration::from_millis(300),
            Duration::from_secs(60),
        )?;
        let started = std::time::Instant::now();
        assert!(om.outlook(&milan(), today).await.is_err(), "{url}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "timeout not applied for {url}"
        );
        let chain = Chain(vec![Box::new(om), Box::new(ClimateNormals)]);
        let o = chain.outlook(&milan(), today).await?;
        assert_eq!(o.source, WeatherSource::Normal);
        assert_eq!(o.mean_c, 3.0, "Milan's December normal");
    }
    // Nobody knows a place outside the table without a network.
    let nowhere = Place {
        name: "Atlantis".into(),
        city: None,
        country: String::new(),
        source: PlaceSource::Shared,
    };
    assert!(ClimateNormals.outlook(&nowhere, today).await.is_err());
    Ok(())
}
