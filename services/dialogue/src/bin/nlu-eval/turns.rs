//! `--turns DIR`: every scripted turn of the conversations in `DIR/conversations/*.yaml`, one
//! line each, with what the understanding makes of it alone (intent, sentiment, sensitive
//! topic and the classifier's probability, a request for a person) beside the turn's
//! expectations. `--lines FILE`: hand-off lines (`{"lang","text","expect","topic"}`, expect
//! `sensitive`, `request` or `none`) scored as recall per kind and false alarms on `none`.

use std::path::Path;

use parla_dialogue::{Language, Understanding};

pub fn turns(nlu: &Understanding, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("conversations"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&file)?)?;
        let lang =
            Language::parse(doc["language"].as_str().unwrap_or("en")).unwrap_or(Language::En);
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        println!("## {name}");
        for t in doc["turns"].as_sequence().into_iter().flatten() {
            let say = t["say"].as_str().unwrap_or_default();
            let a = nlu.analyze(say, lang);
            let (topic, p) = nlu.sensitive_classifier().classify(say, lang);
            let p_human =
                nlu.intent_probabilities(say, lang)[parla_dialogue::Intent::Human.index()];
            let person = parla_dialogue::intent::mentions_person(&parla_dialogue::text::fold(say));
            let want = |k: &str| {
                t[k].as_str()
                    .map(str::to_owned)
                    .or_else(|| t[k].as_bool().map(|b| b.to_string()))
            };
            println!(
                "  {:<60} intent {:<16} ({:.2}) [{}] sent {:<8} ({:+.2}) [{}] topic {:?}/{:?} {:.2} human {} (p {:.2} person {}) [handoff {} {}]",
                say.chars().take(60).collect::<String>(),
                a.intent.as_str(),
                a.confidence,
                want("intent").unwrap_or_default(),
                a.sentiment.label.as_str(),
                a.sentiment.score,
                want("sentiment").unwrap_or_default(),
                a.sensitive_topic.map(|t| t.as_str()),
                topic.map(|t| t.as_str()),
                p,
                a.asked_for_human,
                p_human,
                person,
                want("handoff").unwrap_or_default(),
                want("reason").unwrap_or_default(),
            );
        }
    }
    Ok(())
}

pub fn lines(nlu: &Understanding, file: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut stats: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for line in std::fs::read_to_string(file)?
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let lang = Language::parse(v["lang"].as_str().unwrap_or("en")).unwrap_or(Language::En);
        let text = v["text"].as_str().unwrap_or_default();
        let expect = v["expect"].as_str().unwrap_or_default();
        let a = nlu.analyze(text, lang);
        let ok = match expect {
            "sensitive" => a.sensitive_topic.is_some(),
            "request" => a.asked_for_human,
            _ => a.sensitive_topic.is_none() && !a.asked_for_human,
        };
        let key = format!("{}/{expect}", lang.code());
        let e = stats.entry(key).or_default();
        e.0 += 1;
        e.1 += usize::from(ok);
        if !ok {
            println!(
                "  miss [{expect}] {text:?}: topic {:?}, human {}",
                a.sensitive_topic.map(|t| t.as_str()),
                a.asked_for_human
            );
        }
    }
    println!("| kind | n | right |\n|---|---|---|");
    for (k, (n, ok)) in stats {
        println!("| {k} | {n} | {:.1} % |", 100.0 * ok as f64 / n as f64);
    }
    Ok(())
}
