//! Reply templates from `prompts/replies/<lang>.yaml`: per flow step, tone and channel, several
//! wordings each with named variables (`{name}`, `{order_id}`, `{product}`). The renderer picks a
//! wording deterministically from a seed (varied across turns, reproducible in tests), falls back
//! from the exact tone and channel to `any`, and can mark numbers with SSML `say-as` for voice.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::shop::ShopInfo;
use crate::{Channel, DialogueError, Language, Tone};

/// step → tone (or `any`) → channel (or `any`) → wordings.
type Table = HashMap<String, HashMap<String, HashMap<String, Vec<String>>>>;

/// The reply templates of every language.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    langs: HashMap<Language, Table>,
    dir: PathBuf,
    shop: ShopInfo,
}

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderRequest<'a> {
    /// Language of the reply.
    pub lang: Language,
    /// Flow step, e.g. `order_status`, `handoff`, `greeting_personal`.
    pub step: &'a str,
    /// Tone chosen by the policy.
    pub tone: Tone,
    /// Voice or chat.
    pub channel: Channel,
    /// Named variables.
    pub vars: &'a BTreeMap<String, String>,
    /// Picks among wordings (e.g. hash of conversation id and turn number).
    pub seed: u64,
    /// Wrap ids, amounts and dates in SSML `say-as` (voice to an SSML-aware synthesizer).
    pub ssml: bool,
}

impl Templates {
    /// The templates shipped in the repository's `prompts/`, compiled into
    /// the binary, so a server started anywhere has its wordings.
    pub fn shipped() -> Result<Self, DialogueError> {
        let shipped = [
            (
                Language::En,
                include_str!("../../../prompts/replies/en.yaml"),
            ),
            (
                Language::It,
                include_str!("../../../prompts/replies/it.yaml"),
            ),
        ];
        let mut langs = HashMap::new();
        for (lang, text) in shipped {
            let table: Table = serde_yaml::from_str(text).map_err(|e| DialogueError::Resource {
                path: format!("prompts/replies/{}.yaml (built in)", lang.code()).into(),
                reason: e.to_string(),
            })?;
            langs.insert(lang, table);
        }
        Ok(Templates {
            langs,
            dir: "prompts".into(),
            shop: ShopInfo::shipped()?,
        })
    }

    /// Loads `dir/replies/en.yaml` and `dir/replies/it.yaml`, and the shop's information from
    /// `dir/shop.yaml` (without it, questions about the shop are not answered from facts).
    pub fn load(dir: &Path) -> Result<Self, DialogueError> {
        let mut langs = HashMap::new();
        for lang in [Language::En, Language::It] {
            let path = dir.join("replies").join(format!("{}.yaml", lang.code()));
            let text = std::fs::read_to_string(&path).map_err(|e| DialogueError::Resource {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let table: Table =
                serde_yaml::from_str(&text).map_err(|e| DialogueError::Resource {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            langs.insert(lang, table);
        }
        let shop_file = dir.join("shop.yaml");
        let shop = if shop_file.exists() {
            ShopInfo::load(&shop_file)?
        } else {
            tracing::warn!(
                path = %shop_file.display(),
                "no shop information: questions about the shop get a clarification (copy prompts/shop.yaml there and edit it)"
            );
            ShopInfo::default()
        };
        Ok(Templates {
            langs,
            dir: dir.to_path_buf(),
            shop,
        })
    }

    /// What Parla may say about the shop itself.
    pub fn shop(&self) -> &ShopInfo {
        &self.shop
    }

    /// The directory the templates came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Steps defined for a language.
    pub fn steps(&self, lang: Language) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .langs
            .get(&lang)
            .map(|t| t.keys().map(String::as_str).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Every wording of a step (for checks), with its tone and channel keys.
    pub fn wordings(&self, lang: Language, step: &str) -> Vec<(&str, &str, &str)> {
        let mut out = Vec::new();
        if let Some(tones) = self.langs.get(&lang).and_then(|t| t.get(step)) {
            for (tone, channels) in tones {
                for (channel, list) in channels {
                    out.extend(
                        list.iter()
                            .map(|w| (tone.as_str(), channel.as_str(), w.as_str())),
                    );
                }
            }
        }
        out
    }

    /// The wordings that apply to a step, tone and channel, most specific first.
    fn candidates(
        &self,
        lang: Language,
        step: &str,
        tone: Tone,
        channel: Channel,
    ) -> Option<&Vec<String>> {
        let tones = self.langs.get(&lang)?.get(step)?;
        let ch = channel.as_str();
        for t in [tone.as_str(), "any"] {
            if let Some(channels) = tones.get(t) {
                for c in [ch, "any"] {
                    if let Some(list) = channels.get(c).filter(|l| !l.is_empty()) {
                        return Some(list);
                    }
                }
            }
        }
        None
    }

    /// Renders a reply.
    pub fn render(&self, req: &RenderRequest<'_>) -> Result<String, DialogueError> {
        let list = self
            .candidates(req.lang, req.step, req.tone, req.channel)
            .ok_or_else(|| DialogueError::MissingTemplate {
                step: req.step.to_owned(),
                lang: req.lang.code().to_owned(),
                tone: req.tone.as_str().to_owned(),
                channel: req.channel.as_str().to_owned(),
            })?;
        let index = (mix(req.seed ^ hash(req.step)) % list.len() as u64) as usize;
        fill(
            &list[index],
            req.vars,
            req.ssml && req.channel == Channel::Voice,
        )
        .map_err(|name| DialogueError::MissingVariable {
            step: req.step.to_owned(),
            name,
        })
    }
}

/// Substitutes `{name}` placeholders; `{{` and `}}` are literal braces.
fn fill(template: &str, vars: &BTreeMap<String, String>, ssml: bool) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            out.push('{');
            rest = stripped;
            continue;
        }
        let close = after.find('}').ok_or_else(|| "unclosed {".to_owned())?;
        let name = &after[..close];
        let value = vars.get(name).ok_or_else(|| name.to_owned())?;
        out.push_str(&say_as(name, value, ssml));
        rest = &after[close + 1..];
    }
    out.push_str(&rest.replace("}}", "}"));
    Ok(out)
}

fn say_as(name: &str, value: &str, ssml: bool) -> String {
    match interpretation(name).filter(|_| ssml) {
        Some(interpret) => format!("<say-as interpret-as=\"{interpret}\">{value}</say-as>"),
        None => value.to_owned(),
    }
}

/// How a synthesizer should read the value of fact `name`: ids letter by letter, amounts as
/// money, dates as dates ("delivered on {delivered_on}" is heard "November the thirteenth",
/// not a number a listener may take for thirty), counts as numbers.
fn interpretation(name: &str) -> Option<&'static str> {
    Some(match name {
        "order_id" | "case_id" | "ticket_id" | "rma_id" | "open_rma" => "characters",
        "amount" | "price" | "refund" => "currency",
        "date" | "delivery_date" | "order_date" | "deadline" => "date",
        n if n.ends_with("_on") || n.ends_with("_date") => "date",
        "days" | "days_late" | "count" => "cardinal",
        _ => return None,
    })
}

/// A text already filled in (a flow's own message) with the values of `vars` marked for the
/// synthesizer as [`render`] marks a template's placeholders: the first time each value
/// appears as a whole word.
pub fn mark_values(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in vars {
        let Some(interpret) = interpretation(name) else {
            continue;
        };
        if value.trim().is_empty() || value.contains('<') {
            continue;
        }
        let mut from = 0;
        while let Some(at) = out[from..].find(value.as_str()).map(|i| i + from) {
            let end = at + value.len();
            let before = out[..at].chars().next_back();
            let after = out[end..].chars().next();
            let inside_tag = out[..at].rfind('<') > out[..at].rfind('>');
            let whole = !before.is_some_and(char::is_alphanumeric)
                && !after.is_some_and(char::is_alphanumeric);
            if whole && !inside_tag {
                let marked = format!("<say-as interpret-as=\"{interpret}\">{value}</say-as>");
                out.replace_range(at..end, &marked);
                break;
            }
            from = end;
        }
    }
    out
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// SplitMix64 finaliser: spreads consecutive seeds over the wordings.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_flow_message_gets_its_dates_and_ids_marked_for_voice() {
        let vars: BTreeMap<String, String> = [
            ("order_id", "A1042"),
            ("delivered_on", "13 November 2026"),
            ("product", "Breeze light jacket"),
            ("days", "30"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let text = "Your order A1042, the Breeze light jacket, was delivered on 13 November 2026, within our 30-day window.";
        assert_eq!(
            mark_values(text, &vars),
            "Your order <say-as interpret-as=\"characters\">A1042</say-as>, the Breeze light jacket, \
             was delivered on <say-as interpret-as=\"date\">13 November 2026</say-as>, within our \
             <say-as interpret-as=\"cardinal\">30</say-as>-day window."
        );
        // A value inside a longer word or number is left alone.
        let vars: BTreeMap<String, String> = [("days".to_owned(), "3".to_owned())].into();
        assert_eq!(mark_values("in 30 days", &vars), "in 30 days");
    }

    use super::*;

    #[test]
    fn fills_and_marks_numbers() {
        let mut vars = BTreeMap::new();
        vars.insert("order_id".to_owned(), "A1042".to_owned());
        assert_eq!(
            fill("Order {order_id} {{ok}}", &vars, false).as_deref(),
            Ok("Order A1042 {ok}")
        );
        assert_eq!(
            fill("Order {order_id}.", &vars, true).as_deref(),
            Ok("Order <say-as interpret-as=\"characters\">A1042</say-as>.")
        );
        assert_eq!(fill("Hi {name}", &vars, false), Err("name".to_owned()));
    }
}
