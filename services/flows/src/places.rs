//! Where a customer is, for the weather: the city of their CRM address, else the city of their
//! phone number's country and area code (a mobile number or an unknown area says nothing), else
//! a place the customer shares in chat. The shipped table (`data/cities.csv`) gives each city
//! its names in English and Italian, coordinates, phone prefixes and monthly climate normals.

use std::sync::OnceLock;

use parla_proto::v1 as pb;

use crate::facts::fold;
use crate::Lang;

/// A city from the shipped table.
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    /// English name.
    pub en: String,
    /// Italian name.
    pub it: String,
    /// Other spellings.
    pub aliases: Vec<String>,
    /// ISO country code.
    pub country: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// E.164 prefixes without "+" (country and area code).
    pub prefixes: Vec<String>,
    /// Mean daily temperature per month (January first), °C.
    pub normals_c: [f32; 12],
}

/// How the place was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceSource {
    /// The customer's address in the CRM.
    Address,
    /// The phone number's country and area code.
    Phone,
    /// The customer said where they are.
    Shared,
}

/// A located customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// City name as the customer would say it (the table's name in the language when known).
    pub name: String,
    /// The table's city, when the place is in it.
    pub city: Option<City>,
    /// ISO country code, when known.
    pub country: String,
    /// How it was found.
    pub source: PlaceSource,
}

const TABLE: &str = include_str!("../data/cities.csv");

/// The shipped cities.
pub fn cities() -> &'static [City] {
    static CELL: OnceLock<Vec<City>> = OnceLock::new();
    CELL.get_or_init(|| TABLE.lines().filter_map(parse_row).collect())
}

fn parse_row(line: &str) -> Option<City> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let f: Vec<&str> = line.split(';').collect();
    if f.len() != 19 {
        return None;
    }
    let list = |s: &str| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let mut normals = [0.0f32; 12];
    for (i, v) in f[7..19].iter().enumerate() {
        normals[i] = v.trim().parse().ok()?;
    }
    Some(City {
        en: f[0].to_owned(),
        it: f[1].to_owned(),
        aliases: list(f[2]),
        country: f[3].to_owned(),
        lat: f[4].parse().ok()?,
        lon: f[5].parse().ok()?,
        prefixes: list(f[6]),
        normals_c: normals,
    })
}

impl City {
    /// The name in a language.
    pub fn name(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::It => &self.it,
        }
    }
}

/// The table's city called `name` (any language or alias, accents ignored).
pub fn city_named(name: &str) -> Option<&'static City> {
    let n = fold(name.trim());
    if n.is_empty() {
        return None;
    }
    cities()
        .iter()
        .find(|c| fold(&c.en) == n || fold(&c.it) == n || c.aliases.iter().any(|a| fold(a) == n))
}

/// The table's city of a phone number (country and area code, longest prefix wins).
pub fn city_of_phone(phone: &str) -> Option<&'static City> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.strip_prefix("00").unwrap_or(&digits).to_owned();
    cities()
        .iter()
        .flat_map(|c| c.prefixes.iter().map(move |p| (p, c)))
        .filter(|(p, _)| digits.starts_with(p.as_str()))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, c)| c)
}

/// Locates the customer: the CRM address, else a phone number (the caller's, else the CRM's).
pub fn locate(
    context: Option<&pb::CustomerContext>,
    caller_phone: Option<&str>,
    lang: Lang,
) -> Option<Place> {
    let customer = context.and_then(|c| c.customer.as_ref());
    if let Some(addr) = customer.and_then(|c| c.address.as_ref()) {
        if !addr.city.trim().is_empty() {
            let city = city_named(&addr.city).cloned();
            let name = city
                .as_ref()
                .map(|c| c.name(lang).to_owned())
                .unwrap_or_else(|| addr.city.trim().to_owned());
            return Some(Place {
                name,
                country: addr.country.clone(),
                city,
                source: PlaceSource::Address,
            });
        }
    }
    let crm_phones = customer
        .map(|c| {
            c.contacts
                .iter()
                .filter(|k| k.kind == "phone")
                .map(|k| k.value.as_str())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    caller_phone
        .into_iter()
        .chain(crm_phones)
        .find_map(city_of_phone)
        .map(|c| Place {
            name: c.name(lang).to_owned(),
            country: c.country.clone(),
            city: Some(c.clone()),
            source: PlaceSource::Phone,
        })
}

/// A place the customer named in chat ("I'm in Turin"), when it is in the table.
pub fn shared(name: &str, lang: Lang) -> Option<Place> {
    city_named(name).map(|c| Place {
        name: c.name(lang).to_owned(),
        country: c.country.clone(),
        city: Some(c.clone()),
        source: PlaceSource::Shared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_finds_places() {
        assert!(cities().len() >= 20, "{}", cities().len());
        assert_eq!(city_named("Milano").map(|c| c.en.as_str()), Some("Milan"));
        assert_eq!(city_named("münchen").map(|c| c.en.as_str()), Some("Munich"));
        assert_eq!(
            city_of_phone("+39 02 5551 2345").map(|c| c.en.as_str()),
            Some("Milan")
        );
        assert_eq!(
            city_of_phone("0044 161 555 0199").map(|c| c.en.as_str()),
            Some("Manchester")
        );
        assert_eq!(
            city_of_phone("+39 333 123 4567"),
            None,
            "a mobile says nothing"
        );
        assert_eq!(
            city_of_phone("+1 212 555 0100").map(|c| c.en.as_str()),
            Some("New York")
        );
    }

    #[test]
    fn address_first_then_phone() {
        let mut ctx = pb::CustomerContext {
            customer: Some(pb::Customer {
                address: Some(pb::Address {
                    city: "Milan".into(),
                    country: "IT".into(),
                    ..Default::default()
                }),
                contacts: vec![pb::ContactPoint {
                    kind: "phone".into(),
                    value: "+390655512345".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = locate(Some(&ctx), None, Lang::It).expect("address");
        assert_eq!(
            (p.name.as_str(), p.source),
            ("Milano", PlaceSource::Address)
        );
        if let Some(c) = ctx.customer.as_mut() {
            c.address = None;
        }
        let p = locate(Some(&ctx), None, Lang::En).expect("phone");
        assert_eq!((p.name.as_str(), p.source), ("Rome", PlaceSource::Phone));
        assert_eq!(locate(None, Some("+39 333 000"), Lang::En), None);
        assert_eq!(
            shared("Torino", Lang::En).map(|p| p.name),
            Some("Turin".into())
        );
    }
}
