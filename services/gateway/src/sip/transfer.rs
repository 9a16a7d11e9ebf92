//! Attended hand-off of a phone call to a person. Parla sends the caller's
//! phone a REFER (RFC 3515) naming the agents' line, with Referred-By
//! (RFC 3892) and the ticket id, both as an `X-Parla-Ticket` header of the
//! REFER and embedded in the Refer-To URI (RFC 3261 §19.1.1) so that the
//! phone's INVITE carries it to the agent's phone. The caller's leg is kept
//! while the phone reports how its call to the agent goes (NOTIFY with a
//! `message/sipfrag` status line); Parla hangs up only once the agent has
//! answered. A refused REFER, a failure status, or no answer within the
//! timeout leaves the caller with Parla.

use std::time::Duration;

use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::Header;
use tokio::sync::mpsc;

use super::media::MediaControl;

/// The SIP header that carries the ticket id to the agent's phone.
pub const TICKET_HEADER: &str = "X-Parla-Ticket";

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The agent answered: the caller is with a person.
    Connected,
    /// The caller is still on Parla's line; why, for the ticket and logs
    /// (e.g. "the agent's line answered 486 Busy Here").
    Failed(String),
    /// The caller hung up while the transfer was under way.
    HungUp,
}

/// A transfer's progress as the caller's phone reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// 1xx: the agent's line is being called.
    Trying,
    /// 2xx: the agent answered.
    Connected,
    /// The call to the agent failed with this status line.
    Failed(String),
}

/// Reads the status line of a `message/sipfrag` body ("SIP/2.0 486 Busy
/// Here"); `None` when the body is not one.
pub fn sipfrag(body: &str) -> Option<Progress> {
    let line = body.lines().next()?.trim();
    let rest = line.strip_prefix("SIP/2.0 ")?;
    let code: u16 = rest.get(..3)?.parse().ok()?;
    Some(match code {
        100..=199 => Progress::Trying,
        200..=299 => Progress::Connected,
        300..=699 => Progress::Failed(rest.to_owned()),
        _ => return None,
    })
}

/// The Refer-To value: `target` with the ticket id as an embedded header.
pub fn refer_to(target: &str, ticket: &str) -> String {
    let target = target.trim().trim_start_matches('<').trim_end_matches('>');
    let ticket: String = ticket
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if ticket.is_empty() {
        return format!("<{target}>");
    }
    let sep = if target.contains('?') { '&' } else { '?' };
    format!("<{target}{sep}{TICKET_HEADER}={ticket}>")
}

/// Asks the caller's phone to call `target`, and waits until the agent
/// answers, the call to the agent fails, `timeout` passes or the caller
/// hangs up. `notifies` carries the progress the phone reports for this
/// dialog; `control` the dialog's media changes (a hang-up ends the wait).
pub async fn attended(
    dialog: &InviteDialog,
    target: &str,
    ticket: &str,
    referred_by: &str,
    notifies: &mut mpsc::Receiver<Progress>,
    control: &mut mpsc::Receiver<MediaControl>,
    timeout: Duration,
) -> Outcome {
    let mut headers = vec![Header::ReferredBy(format!("<{referred_by}>").into())];
    if !ticket.is_empty() {
        headers.push(Header::Other(TICKET_HEADER.into(), ticket.into()));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let refer = dialog.refer(refer_to(target, ticket), Some(headers), None);
    match tokio::time::timeout_at(deadline, refer).await {
        Err(_) => return Outcome::Failed("the phone did not answer the REFER".into()),
        Ok(Err(e)) => return Outcome::Failed(format!("the REFER was not sent: {e}")),
        Ok(Ok(None)) => return Outcome::Failed("the call was no longer established".into()),
        Ok(Ok(Some(response))) => {
            let code = u16::from(response.status_code.clone());
            if !(200..300).contains(&code) {
                return Outcome::Failed(format!(
                    "the caller's phone refused the transfer ({})",
                    response.status_code
                ));
            }
        }
    }
    loop {
        tokio::select! {
            progress = notifies.recv() => match progress {
                Some(Progress::Trying) => {}
                Some(Progress::Connected) => return Outcome::Connected,
                Some(Progress::Failed(status)) => {
                    return Outcome::Failed(format!("the agent's line answered {status}"));
                }
                None => return Outcome::Failed("the transfer's progress stopped".into()),
            },
            ctl = control.recv() => match ctl {
                Some(MediaControl::Update { .. }) => {}
                Some(MediaControl::Hangup) | None => return Outcome::HungUp,
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Outcome::Failed(format!(
                    "nobody answered the agent's line within {} s",
                    timeout.as_secs()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipfrag_status_lines_are_read() {
        assert_eq!(sipfrag("SIP/2.0 100 Trying\r\n"), Some(Progress::Trying));
        assert_eq!(sipfrag("SIP/2.0 180 Ringing"), Some(Progress::Trying));
        assert_eq!(
            sipfrag("SIP/2.0 200 OK\r\nContact: <sip:a@b>\r\n"),
            Some(Progress::Connected)
        );
        assert_eq!(
            sipfrag("SIP/2.0 486 Busy Here\r\n"),
            Some(Progress::Failed("486 Busy Here".into()))
        );
        assert_eq!(
            sipfrag("SIP/2.0 503 Service Unavailable"),
            Some(Progress::Failed("503 Service Unavailable".into()))
        );
        assert_eq!(sipfrag(""), None);
        assert_eq!(sipfrag("hello"), None);
        assert_eq!(sipfrag("SIP/2.0 99 Odd"), None);
        assert_eq!(sipfrag("SIP/2.0 abc"), None);
    }

    #[test]
    fn the_ticket_rides_in_the_refer_to_uri() {
        assert_eq!(
            refer_to("sip:agents@127.0.0.1:5080", "T000012"),
            "<sip:agents@127.0.0.1:5080?X-Parla-Ticket=T000012>"
        );
        assert_eq!(
            refer_to("<sip:agents@pbx.example.com>", ""),
            "<sip:agents@pbx.example.com>"
        );
        // Nothing from the ticket id can break out of the URI.
        assert_eq!(
            refer_to("sip:a@b", "T1>;x=\"y\r\n"),
            "<sip:a@b?X-Parla-Ticket=T1xy>"
        );
    }
}
