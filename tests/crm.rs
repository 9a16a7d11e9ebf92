//! The customer record through the real binary: `parla crm seed` fills a
//! SQLite file, `parla serve --only crm` serves it once migrated, and a
//! gRPC client finds the Milan customer by her caller id.

mod common;

use std::time::Duration;

use common::{parla, ParlaServer};
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::customer_hint::Hint;
use parla_proto::v1::{CustomerHint, GetCustomerContextRequest, IdentifyCustomerRequest};

#[tokio::test]
async fn seed_then_serve_the_customer_record() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let url = format!("sqlite://{}", data.path().join("crm.db").display());
    let seeded = parla(data.path())
        .args(["crm", "seed"])
        .env("PARLA_CRM__DATABASE_URL", &url)
        .output()?;
    let stdout = String::from_utf8_lossy(&seeded.stdout);
    assert!(
        seeded.status.success(),
        "seed failed: {}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    assert!(stdout.contains("customers"), "{stdout}");

    let server = ParlaServer::start(&["--only", "crm"], &[("PARLA_CRM__DATABASE_URL", &url)])?;
    server.wait_ready(Duration::from_secs(30)).await?;
    let mut crm = CrmClient::new(server.channel().await?);
    let customer = crm
        .identify_customer(IdentifyCustomerRequest {
            hint: Some(CustomerHint {
                hint: Some(Hint::PhoneNumber("+39 02 5551 2345".into())),
            }),
        })
        .await?
        .into_inner();
    assert_eq!(customer.id, "C100");
    let context = crm
        .get_customer_context(GetCustomerContextRequest {
            customer_id: customer.id,
            recent_interactions: 0,
        })
        .await?
        .into_inner();
    assert_eq!(
        context.recent_orders[0].lines[0].name,
        "Breeze light jacket"
    );
    let unknown = crm
        .identify_customer(IdentifyCustomerRequest {
            hint: Some(CustomerHint {
                hint: Some(Hint::Email("nobody@example.com".into())),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    Ok(())
}

#[test]
fn a_bad_database_url_stops_the_start_naming_the_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = parla(dir.path())
        .args(["serve", "--only", "crm", "--listen", "127.0.0.1:0"])
        .env("PARLA_CRM__DATABASE_URL", "mysql://nope")
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("crm.database_url"));
    Ok(())
}
