//! `parla eval`: runs the labelled evaluation set (`../shared/eval`: utterances and scripted
//! conversations) against a running server's `Dialogue.Converse`, or against a server it starts
//! itself (CRM seeded with the scenarios' fixtures), and prints one table: intent and sentiment
//! accuracy per language, hand-off precision and recall, grounding, tone appropriateness,
//! latency per turn and the calibration of the confidence, with the targets.

mod data;
mod server;
mod table;
mod weather;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parla_proto::v1::converse_request::Request as In;
use parla_proto::v1::customer_hint::Hint;
use parla_proto::v1::dialogue_client::DialogueClient;
use parla_proto::v1::reply_event::Event;
use parla_proto::v1::{
    Channel as PbChannel, ConversationStart, ConverseRequest, CustomerHint, ReplyFinal, Turn,
};
use parla_proto::{PeerChannel, ServiceToken};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

pub use table::{Report, Target};

/// What to evaluate.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// A running server; `None` starts one (crm, handoff, dialogue) with the scenarios seeded.
    pub server: Option<String>,
    /// The evaluation directory (`utterances.jsonl`, `conversations/*.yaml`).
    pub data: PathBuf,
    /// Only the first N utterances of each language.
    pub limit: Option<usize>,
    /// Only scenarios whose file name contains one of these.
    pub scenarios: Vec<String>,
    /// Presented to the server (`security.service_token`), if one is configured.
    pub service_token: Option<ServiceToken>,
}

/// The default evaluation directory: `../shared/eval` beside the repository, else relative to
/// the working directory.
pub fn default_data_dir() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval");
    if beside.is_dir() {
        beside
    } else {
        PathBuf::from("../shared/eval")
    }
}

/// Runs the evaluation and returns the report (print it with `Display`).
///
/// Without a given server, each scenario runs on its own date: scenarios are grouped by their
/// `today`, and each group gets its own server with `flows.today` set to that day and only
/// the group's fixtures seeded (the utterances run on the first). A given server runs at its
/// own `flows.today`; dated scenarios then depend on its setting (a note says so).
pub async fn run(options: &EvalOptions) -> anyhow::Result<Report> {
    let set = data::EvalSet::load(&options.data, options.limit, &options.scenarios)?;
    let mut report = Report::default();
    if let Some(url) = &options.server {
        if set.scenarios.iter().any(|s| s.today.is_some()) {
            eprintln!(
                "note: dated scenarios run at the given server's own `flows.today`; \
                 without --server each runs on its own date"
            );
        }
        let all: Vec<&data::Scenario> = set.scenarios.iter().collect();
        let client = connect(url, options).await?;
        run_on(client, None, &set, true, &all, &mut report).await?;
        return Ok(report);
    }
    // Groups in order of first appearance; undated scenarios form their own group.
    let mut days: Vec<Option<String>> = Vec::new();
    for s in &set.scenarios {
        if !days.contains(&s.today) {
            days.push(s.today.clone());
        }
    }
    if days.is_empty() {
        days.push(None);
    }
    for (i, day) in days.iter().enumerate() {
        let group: Vec<&data::Scenario> =
            set.scenarios.iter().filter(|s| &s.today == day).collect();
        let files: Vec<PathBuf> = group.iter().map(|s| s.path.clone()).collect();
        // The eval is the scenarios' weather provider.
        let double = weather::WeatherDouble::start().await?;
        let mut env = double.server_env();
        if let Some(day) = day {
            env.push(("PARLA_FLOWS__TODAY".into(), day.clone()));
        }
        let server = server::OwnServer::start(&files, env).await?;
        let client = connect(&server.url, options).await?;
        run_on(client, Some(&double), &set, i == 0, &group, &mut report).await?;
    }
    Ok(report)
}

async fn connect(url: &str, options: &EvalOptions) -> anyhow::Result<DialogueClient<PeerChannel>> {
    let channel = PeerChannel::connect(url, options.service_token.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {url}: {e}"))?;
    server::wait_ready(channel.clone(), Duration::from_secs(180)).await?;
    Ok(DialogueClient::new(channel))
}

/// Runs the utterances (when `utterances`) and `scenarios` against one server, adding to
/// `report`; `provider` answers the weather of each scenario when the eval started the server.
async fn run_on(
    mut client: DialogueClient<PeerChannel>,
    provider: Option<&weather::WeatherDouble>,
    set: &data::EvalSet,
    utterances: bool,
    scenarios: &[&data::Scenario],
    report: &mut Report,
) -> anyhow::Result<()> {
    let run_id = std::process::id();
    // EVAL_TRACE=1 prints every scenario turn's answer to stderr (not PARLA_*: those are
    // settings).
    let trace = std::env::var_os("EVAL_TRACE").is_some_and(|v| v != "0");
    let none = [];
    let utterances = if utterances {
        &set.utterances[..]
    } else {
        &none[..]
    };
    for (i, u) in utterances.iter().enumerate() {
        let mut conv = Conversation::open(
            &mut client,
            &format!("eval-{run_id}-u{i}"),
            PbChannel::Chat,
            &u.lang,
            None,
        )
        .await?;
        let (latency, first, fin) = conv.say(&u.text).await?;
        report.utterance(u, &fin, latency, first, &set.grounding(None, &u.lang));
    }
    for &s in scenarios {
        let channel = if s.channel == "voice" {
            PbChannel::Voice
        } else {
            PbChannel::Chat
        };
        if let Some(p) = provider {
            p.set(s.forecast.clone());
        }
        let hint = (!s.customer_id.is_empty()).then(|| Hint::CustomerId(s.customer_id.clone()));
        let mut conv = Conversation::open(
            &mut client,
            &format!("eval-{run_id}-{}", s.name),
            channel,
            &s.language,
            hint,
        )
        .await?;
        let mut facts = set.grounding(Some(s), &s.language);
        let mut finals = Vec::new();
        for t in &s.turns {
            let (latency, first, fin) = conv.say(&t.say).await?;
            if trace {
                eprintln!(
                    "[{}] {:?} -> intent {} conf {:.2}, flow {:?}, actions {:?}, hand-off {:?}: {:?}",
                    s.name,
                    t.say,
                    fin.intent.as_ref().map_or("", |i| i.name.as_str()),
                    fin.confidence,
                    fin.flow_state.as_ref().map(|f| (&f.flow, &f.step)),
                    fin.actions.iter().map(|a| (&a.name, &a.result)).collect::<Vec<_>>(),
                    fin.handoff.as_ref().map(|h| (h.handoff, h.reason)),
                    fin.text
                );
            }
            report.scenario_turn(s, t, &fin, latency, first, &facts);
            // What a turn's actions returned (a case or RMA id) stays a fact of the
            // conversation: a later reply may mention it again.
            for a in &fin.actions {
                facts.allow_text(&a.result);
            }
            finals.push(fin);
        }
        report.scenario_end(s, &finals);
    }
    Ok(())
}

/// One open `Converse` stream.
struct Conversation {
    tx: mpsc::Sender<ConverseRequest>,
    events: Streaming<parla_proto::v1::ReplyEvent>,
}

impl Conversation {
    async fn open(
        client: &mut DialogueClient<PeerChannel>,
        id: &str,
        channel: PbChannel,
        language: &str,
        hint: Option<Hint>,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel(4);
        tx.send(ConverseRequest {
            request: Some(In::Start(ConversationStart {
                conversation_id: id.into(),
                channel: channel as i32,
                language: language.into(),
                customer: hint.map(|h| CustomerHint { hint: Some(h) }),
            })),
        })
        .await?;
        let events = client.converse(ReceiverStream::new(rx)).await?.into_inner();
        Ok(Self { tx, events })
    }

    /// Sends a turn; the time to the final event, the time to the first delta, and the final.
    async fn say(&mut self, text: &str) -> anyhow::Result<(Duration, Duration, ReplyFinal)> {
        let sent = Instant::now();
        self.tx
            .send(ConverseRequest {
                request: Some(In::Turn(Turn {
                    text: text.into(),
                    ..Default::default()
                })),
            })
            .await?;
        let mut first = None;
        while let Some(event) = self.events.message().await? {
            match event.event {
                Some(Event::Delta(_)) => {
                    first.get_or_insert_with(|| sent.elapsed());
                }
                Some(Event::Final(f)) => {
                    let total = sent.elapsed();
                    return Ok((total, first.unwrap_or(total), f));
                }
                None => {}
            }
        }
        anyhow::bail!("the conversation ended before the final event of {text:?}")
    }
}
