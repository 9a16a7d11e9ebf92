//! Export, erasure and field encryption.

use crate::common::{self, TestStore, KEY};
use crate::{phone, seeded, turn};
use parla_crm::error::CrmError;
use parla_crm::model::*;
use parla_crm::SealKey;

pub fn export_erase_export(t: &TestStore) {
    let s = seeded(t);
    s.append(&Append {
        conversation_id: "conv-erase".into(),
        customer_id: Some("C100".into()),
        channel: Channel::Chat,
        turn: turn("customer", "Send it to Via Torino 21 please"),
        summary: "Giulia asked about delivery".into(),
        outcome: String::new(),
    })
    .unwrap();
    s.create_return(&NewReturn {
        order_id: "A1042".into(),
        reason: "Giulia finds it too light".into(),
        resolution: "refund".into(),
        ..Default::default()
    })
    .unwrap();
    let personal = [
        "Giulia",
        "Rossi",
        "390255512345",
        "giulia.rossi@example.com",
        "Via Torino",
        "20123",
        "Is the Breeze jacket warm enough",
    ];
    let before = s.export("C100", "dpo@shop.example").unwrap();
    for p in personal {
        assert!(before.json.contains(p), "first export lacks {p}");
    }
    let doc: serde_json::Value = serde_json::from_str(&before.json).unwrap();
    assert_eq!(doc["orders"][0]["id"], "A1042");
    let erase_id = s.erase("C100", "dpo@shop.example").unwrap();
    let after = s.export("C100", "dpo@shop.example").unwrap();
    for p in personal {
        assert!(
            !after.json.contains(p),
            "second export still holds {p}:\n{}",
            after.json
        );
    }
    let doc: serde_json::Value = serde_json::from_str(&after.json).unwrap();
    assert_eq!(doc["orders"][0]["id"], "A1042", "aggregates are kept");
    assert_eq!(doc["orders"][0]["total_minor"], 8900);
    assert!(doc["customer"]["erased_at"].is_i64());
    let log = s.audit_log("C100").unwrap();
    let actions: Vec<_> = log.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["export", "erase", "export"]);
    assert_eq!(log[0].id, before.audit_id);
    assert_eq!(log[1].id, erase_id);
    assert_eq!(log[2].id, after.audit_id);
    assert!(log.iter().all(|a| a.requested_by == "dpo@shop.example"));
    assert!(matches!(
        s.identify(&phone("+390255512345")),
        Err(CrmError::NotFound { .. })
    ));
    assert!(matches!(
        s.context("C100", 5),
        Err(CrmError::NotFound { .. })
    ));
    // Unknown ids and anonymous requests are reported.
    assert!(matches!(
        s.erase("C999", "dpo"),
        Err(CrmError::NotFound { .. })
    ));
    assert!(matches!(
        s.export("C999", "dpo"),
        Err(CrmError::NotFound { .. })
    ));
    assert!(matches!(
        s.erase("C200", ""),
        Err(CrmError::InvalidArgument { .. })
    ));
}

pub fn encrypts_personal_fields(_plain: &TestStore) {
    let key = SealKey::from_hex(KEY, "test")
        .unwrap()
        .cipher(parla_crm::crypto::DOMAIN);
    let t = match _plain.store.backend() {
        "sqlite" => common::sqlite(key),
        _ => match common::postgres(key) {
            Some(t) => t,
            None => return,
        },
    };
    let s = seeded(&t);
    s.append(&Append {
        conversation_id: "enc".into(),
        customer_id: Some("C100".into()),
        channel: Channel::Voice,
        turn: turn("customer", "my number is 02 5551 2345"),
        summary: "Giulia gave her number".into(),
        outcome: String::new(),
    })
    .unwrap();
    let raw = [
        t.raw
            .dump("SELECT name, street, city, postal_code, preferences FROM customers"),
        t.raw.dump("SELECT lookup, value FROM contact_points"),
        t.raw.dump("SELECT text, detail FROM turns"),
        t.raw.dump("SELECT summary FROM conversations"),
    ]
    .concat()
    .join("\n");
    for p in [
        "Giulia",
        "Rossi",
        "390255512345",
        "giulia.rossi@example.com",
        "Via Torino",
        "Milan",
        "5551 2345",
        "Breeze jacket",
    ] {
        assert!(!raw.contains(p), "{p} is stored in the clear");
    }
    // Still found and read back.
    let c = s.identify(&phone("+39 02 5551 2345")).unwrap();
    assert_eq!(
        (c.id.as_str(), c.name.as_str(), c.address.city.as_str()),
        ("C100", "Giulia Rossi", "Milan")
    );
    assert_eq!(
        s.identify(&CustomerHint::Email("giulia.rossi@example.com".into()))
            .unwrap()
            .id,
        "C100"
    );
    assert_eq!(
        s.interaction("enc").unwrap().turns[0].text,
        "my number is 02 5551 2345"
    );
}
