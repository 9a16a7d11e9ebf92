//! Regressions of the dialogue found in use, end to end through the real binary, the real
//! understanding models and the seeded CRM: "Yes please." is not a request for a person; a
//! guessed goodbye is not answered with one; "Thank
//! you, goodbye" after a finished return is not handed off; a delivery late by more than the
//! hand-off threshold opens one ticket (the case is the hand-off's ticket), a later hand-off
//! in the same conversation keeps it, and later questions are not answered as if nothing
//! happened.

mod common;
mod talk;

use std::time::Duration;

use common::SeededCrm;
use parla_proto::v1 as pb;
use parla_proto::v1::handoff_client::HandoffClient;
use talk::{handed_off, Talk};

fn intent(f: &pb::ReplyFinal) -> &str {
    f.intent.as_ref().map_or("", |i| i.name.as_str())
}

#[tokio::test]
async fn yes_goodbye_and_one_ticket_per_late_delivery() -> anyhow::Result<()> {
    let crm = SeededCrm::on("2026-11-25")?;
    let envs = [
        ("PARLA_FLOWS__TODAY", "2026-11-25"),
        ("PARLA_FLOWS__WEATHER__PROVIDER", "none"),
        // Lists the queue as a tool would, without an agent session.
        ("PARLA_HANDOFF__REQUIRE_AGENT_LOGIN", "false"),
    ];
    let server = crm
        .serve(
            &["--only", "crm,handoff,dialogue"],
            &envs,
            Duration::from_secs(60),
        )
        .await?;
    let channel = server.channel().await?;

    // "Yes please." names no person: never a request for one, in either language.
    for (id, phone, lang, text) in [
        ("yes-en", "+39 02 5551 2345", "en", "Yes please."),
        ("yes-it", "+39 02 5556 7890", "it", "Sì, grazie."),
    ] {
        let mut t = Talk::open(channel.clone(), id, phone, lang).await?;
        let f = t.say(text).await?;
        assert!(!handed_off(&f), "{text}: {f:?}");
        assert_ne!(intent(&f), "human", "{text}: {f:?}");
    }

    // A misheard line ("my parcel still hasn't arrived" heard as nonsense) is never taken for
    // a goodbye: Parla asks (a guessed goodbye gets a question, `turn::choose_step`) or says
    // what it can do, with a question either way.
    let mut t = Talk::open(channel.clone(), "guess-en", "+39 02 5551 2345", "en").await?;
    let f = t.say("That's my power solar I've yet.").await?;
    assert_ne!(intent(&f), "goodbye", "{f:?}");
    assert!(
        f.text.contains('?') && !f.text.contains("Take care") && !f.text.contains("Goodbye"),
        "{}",
        f.text
    );

    // A return that ends in an exchange, then thanks and goodbye: no hand-off.
    let mut t = Talk::open(channel.clone(), "bye-en", "+39 02 5551 2345", "en").await?;
    let f = t
        .say("I'd like to return the light jacket, it's too light.")
        .await?;
    assert!(!handed_off(&f), "{f:?}");
    let f = t.say("Yes, let's swap it for the parka in medium.").await?;
    assert!(!handed_off(&f), "{f:?}");
    let f = t.say("Thank you, goodbye").await?;
    assert!(!handed_off(&f), "{f:?}");
    assert_eq!(intent(&f), "goodbye", "{f:?}");

    // D5531 was promised on 6 November: 19 days late, past the 14-day threshold. The case the
    // flow opens is the hand-off's ticket: one ticket, whose id the customer is told.
    let mut late = Talk::open(channel.clone(), "late-19", "+44 20 7946 0000", "en").await?;
    let f = late.say("Where is my order D5531? It's very late.").await?;
    assert!(handed_off(&f), "{f:?}");
    let case = f
        .actions
        .iter()
        .find(|a| a.name == "open_case" && a.ok)
        .unwrap_or_else(|| panic!("no case: {f:?}"));
    let ticket = f
        .handoff
        .as_ref()
        .map(|h| h.ticket_id.clone())
        .unwrap_or_default();
    assert_eq!(ticket, case.result, "{f:?}");
    assert!(f.text.contains(&ticket), "{}", f.text);
    // Continued anger hands off again: the same ticket.
    let f = late.say("This is useless, I am furious!").await?;
    if handed_off(&f) {
        assert_eq!(
            f.handoff.as_ref().map(|h| h.ticket_id.as_str()),
            Some(ticket.as_str())
        );
    }
    // Once handed off, an order question is not answered as if nothing happened: the case is
    // with a colleague, and no flow starts again.
    let f = late.say("Where is my order D5531?").await?;
    assert!(f.actions.is_empty(), "{f:?}");
    assert!(
        f.text.contains("colleague") && !f.text.contains("UPS"),
        "{}",
        f.text
    );
    let tickets = HandoffClient::new(channel.clone())
        .list_tickets(pb::ListTicketsRequest::default())
        .await?
        .into_inner()
        .tickets;
    let mine = tickets
        .iter()
        .filter(|t| {
            t.context
                .as_ref()
                .is_some_and(|c| c.conversation_id == "late-19")
        })
        .count();
    assert_eq!(mine, 1, "{tickets:?}");
    Ok(())
}
