//! The conformance suite: every case runs against SQLite and against a real
//! PostgreSQL server, through the same `Store` trait. Cases live in
//! `conformance/` by area.

mod common;
#[path = "conformance/identity.rs"]
mod identity;
#[path = "conformance/privacy.rs"]
mod privacy;
#[path = "conformance/records.rs"]
mod records;
#[path = "conformance/returns.rs"]
mod returns;
#[path = "conformance/timeline.rs"]
mod timeline;

use common::TestStore;
use parla_crm::error::CrmError;
use parla_crm::model::*;
use parla_crm::{seed, Store};

/// Defines `sqlite::NAME` and `postgres::NAME` for each `area::NAME` case.
macro_rules! conformance {
    ($($area:ident::$name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$area::$name(&super::common::sqlite(parla_crm::FieldCipher::plain())); })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if let Some(s) = super::common::postgres(parla_crm::FieldCipher::plain()) { super::$area::$name(&s); }
            })*
        }
    };
}

conformance!(
    identity::identifies_by_phone_email_and_id,
    identity::rejects_malformed_contacts,
    identity::context_in_one_call,
    identity::lists_and_searches_orders,
    identity::searches_products,
    records::refuses_records_that_would_corrupt,
    returns::returns_follow_the_rules,
    timeline::timeline_keeps_order_and_details,
    timeline::concurrent_appends_lose_nothing,
    privacy::export_erase_export,
    privacy::encrypts_personal_fields,
    store::migrations_run_once,
);

/// The store with the demo fixtures loaded.
fn seeded(t: &TestStore) -> &dyn Store {
    seed::load(t.store.as_ref(), &seed::demo().unwrap()).unwrap();
    t.store.as_ref()
}

/// A phone-number hint.
fn phone(s: &str) -> CustomerHint {
    CustomerHint::Phone(s.into())
}

/// A customer turn for the timeline cases.
fn turn(speaker: &str, text: &str) -> TimelineTurn {
    TimelineTurn {
        speaker: speaker.into(),
        text: text.into(),
        ..Default::default()
    }
}

mod store {
    //! Schema migrations.
    use super::*;

    pub fn migrations_run_once(t: &TestStore) {
        let rows = t.raw.dump("SELECT version, name FROM schema_migrations");
        assert_eq!(rows.len(), parla_crm::migrations::MIGRATIONS.len());
        // Running them again changes nothing.
        match &t.raw {
            common::Raw::Sqlite(s) => {
                assert_eq!(parla_crm::migrations::run(s.database()).unwrap(), 1)
            }
            common::Raw::Postgres(s) => {
                assert_eq!(parla_crm::migrations::run(s.database()).unwrap(), 1)
            }
        }
        assert_eq!(
            t.raw.dump("SELECT version FROM schema_migrations").len(),
            rows.len()
        );
    }
}

#[test]
fn unreachable_postgres_is_unavailable() {
    let started = std::time::Instant::now();
    let e = parla_crm::postgres::PostgresDb::open("postgres://parla@127.0.0.1:1/parla", 2).err();
    assert!(matches!(e, Some(CrmError::Unavailable(_))), "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn bad_urls_name_the_key() {
    let config = parla_crm::CrmConfig {
        database_url: "mysql://x".into(),
        ..Default::default()
    };
    let e = parla_crm::open(&config).err().unwrap().to_string();
    assert!(e.contains("crm.database_url"), "{e}");
    let config = parla_crm::CrmConfig {
        encryption_key: "abc".into(),
        ..Default::default()
    };
    assert!(config
        .validate()
        .unwrap_err()
        .to_string()
        .contains("crm.encryption_key"));
}
