//! The SSML subset the dialogue manager may use: `speak`, `p`, `s`,
//! `break` (time, strength), `prosody` (rate, pitch, volume), `say-as`
//! (digits, characters/order-id, telephone, date, currency, cardinal),
//! `sub` (alias), `emphasis` and `mark` (read as plain text). Anything else
//! is an error that names its line and column.

use super::Piece;
use super::{numbers, Lang};
use crate::TtsError;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    lang: Lang,
}

#[derive(Clone, Copy)]
struct Scale {
    rate: f32,
    pitch: f32,
    volume: f32,
}

/// Parses SSML into pieces to speak and silences.
pub fn parse(src: &str, lang: Lang) -> Result<Vec<Piece>, TtsError> {
    let mut p = Parser { src, pos: 0, lang };
    let mut out = Vec::new();
    let scale = Scale {
        rate: 1.0,
        pitch: 1.0,
        volume: 1.0,
    };
    p.content(None, scale, &mut out)?;
    Ok(out)
}

fn error_at(src: &str, pos: usize, reason: impl Into<String>) -> TtsError {
    let before = &src[..pos.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TtsError::Ssml {
        line,
        column,
        reason: reason.into(),
    }
}

struct Tag {
    name: String,
    attrs: Vec<(String, String, usize)>,
    closing: bool,
    self_closing: bool,
    start: usize,
}

impl Parser<'_> {
    fn err(&self, pos: usize, reason: impl Into<String>) -> TtsError {
        error_at(self.src, pos, reason)
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    /// Reads text and elements until `</until>` (or the end when `None`).
    fn content(
        &mut self,
        until: Option<&str>,
        scale: Scale,
        out: &mut Vec<Piece>,
    ) -> Result<(), TtsError> {
        loop {
            let text_end = self
                .rest()
                .find('<')
                .map_or(self.src.len(), |i| self.pos + i);
            if text_end > self.pos {
                let raw = &self.src[self.pos..text_end];
                let text = self.unescape(raw, self.pos)?;
                push_text(out, &numbers::expand_for_speech(&text, self.lang), scale);
                self.pos = text_end;
            }
            if self.pos >= self.src.len() {
                return match until {
                    Some(name) => Err(self.err(self.pos, format!("<{name}> is never closed"))),
                    None => Ok(()),
                };
            }
            let tag = self.tag()?;
            if tag.closing {
                return match until {
                    Some(name) if name == tag.name => Ok(()),
                    Some(name) => {
                        Err(self.err(tag.start, format!("</{}> closes <{name}>", tag.name)))
                    }
                    None => Err(self.err(tag.start, format!("</{}> has no opening tag", tag.name))),
                };
            }
            self.element(tag, scale, out)?;
        }
    }

    fn element(&mut self, tag: Tag, scale: Scale, out: &mut Vec<Piece>) -> Result<(), TtsError> {
        let attr = |name: &str| {
            tag.attrs
                .iter()
                .find(|(k, _, _)| k == name)
                .map(|(_, v, at)| (v.as_str(), *at))
        };
        match tag.name.as_str() {
            "speak" | "p" | "s" | "emphasis" | "voice" | "lang" => {
                if !tag.self_closing {
                    self.content(Some(&tag.name.clone()), scale, out)?;
                }
                if matches!(tag.name.as_str(), "p" | "s") {
                    out.push(Piece::SentenceEnd);
                }
            }
            "mark" => {
                if !tag.self_closing {
                    self.content(Some("mark"), scale, out)?;
                }
            }
            "break" => {
                let ms = if let Some((t, at)) = attr("time") {
                    parse_time(t).ok_or_else(|| self.err(at, format!("break time {t:?} is not like \"500ms\" or \"1.5s\"")))?
                } else if let Some((s, at)) = attr("strength") {
                    match s {
                        "none" => 0,
                        "x-weak" => 100,
                        "weak" => 200,
                        "medium" => 400,
                        "strong" => 700,
                        "x-strong" => 1000,
                        _ => return Err(self.err(at, format!("break strength {s:?} is not none, x-weak, weak, medium, strong or x-strong"))),
                    }
                } else {
                    400
                };
                out.push(Piece::Break { ms });
                if !tag.self_closing {
                    self.content(Some("break"), scale, &mut Vec::new())?;
                }
            }
            "prosody" => {
                let mut s = scale;
                if let Some((v, at)) = attr("rate") {
                    s.rate *= relative(v, &[("x-slow", 0.6), ("slow", 0.8), ("medium", 1.0), ("default", 1.0), ("fast", 1.2), ("x-fast", 1.4)], false)
                        .ok_or_else(|| self.err(at, format!("prosody rate {v:?} is not x-slow..x-fast, a percentage or a number")))?;
                }
                if let Some((v, at)) = attr("pitch") {
                    s.pitch *= relative(v, &[("x-low", 0.8), ("low", 0.9), ("medium", 1.0), ("default", 1.0), ("high", 1.1), ("x-high", 1.2)], true)
                        .ok_or_else(|| self.err(at, format!("prosody pitch {v:?} is not x-low..x-high, a percentage or semitones (+2st)")))?;
                }
                if let Some((v, at)) = attr("volume") {
                    s.volume *= relative(v, &[("silent", 0.0), ("x-soft", 0.5), ("soft", 0.7), ("medium", 1.0), ("default", 1.0), ("loud", 1.3), ("x-loud", 1.6)], false)
                        .ok_or_else(|| self.err(at, format!("prosody volume {v:?} is not silent..x-loud, a percentage or decibels (+6dB)")))?;
                }
                if !tag.self_closing {
                    self.content(Some("prosody"), s, out)?;
                }
            }
            "sub" => {
                let (alias, _) = attr("alias").ok_or_else(|| self.err(tag.start, "<sub> needs an alias attribute"))?;
                let alias = alias.to_owned();
                if !tag.self_closing {
                    self.inner_text("sub")?;
                }
                push_text(out, &alias, scale);
            }
            "say-as" => {
                let (kind, at) = attr("interpret-as").ok_or_else(|| self.err(tag.start, "<say-as> needs an interpret-as attribute"))?;
                let kind = kind.to_owned();
                let format = attr("format").map(|(f, _)| f.to_owned());
                let text_at = self.pos;
                let text = if tag.self_closing { String::new() } else { self.inner_text("say-as")? };
                let text = text.trim();
                let lang = self.lang;
                let spoken = match kind.as_str() {
                    "digits" | "number_digits" => Some(numbers::digits(text, lang)),
                    "characters" | "spell-out" | "verbatim" | "order-id" | "order_id" => Some(numbers::characters(text, lang)),
                    "telephone" | "phone" => Some(numbers::telephone(text, lang)),
                    "date" => super::spoken_date(text, format.as_deref(), lang),
                    "currency" | "money" => numbers::currency(text, lang),
                    "cardinal" | "number" => text.replace([',', '.', ' '], "").parse().ok().map(|n| numbers::cardinal(n, lang)),
                    _ => return Err(self.err(at, format!("say-as interpret-as {kind:?} is not digits, characters, order-id, telephone, date, currency or cardinal"))),
                };
                let spoken = spoken.ok_or_else(|| self.err(text_at, format!("{text:?} cannot be read as {kind}")))?;
                push_text(out, &spoken, scale);
            }
            other => return Err(self.err(tag.start, format!("unsupported element <{other}> (supported: speak, p, s, break, prosody, say-as, sub, emphasis, mark)"))),
        }
        Ok(())
    }

    /// Text content of an element that may not contain elements.
    fn inner_text(&mut self, name: &str) -> Result<String, TtsError> {
        let start = self.pos;
        let end = self
            .rest()
            .find('<')
            .map(|i| self.pos + i)
            .ok_or_else(|| self.err(start, format!("<{name}> is never closed")))?;
        let text = self.unescape(&self.src[start..end], start)?;
        self.pos = end;
        let tag = self.tag()?;
        if !(tag.closing && tag.name == name) {
            return Err(self.err(
                tag.start,
                format!(
                    "<{name}> may contain only text, found <{}{}>",
                    if tag.closing { "/" } else { "" },
                    tag.name
                ),
            ));
        }
        Ok(text)
    }

    fn tag(&mut self) -> Result<Tag, TtsError> {
        let start = self.pos;
        let end = self
            .rest()
            .find('>')
            .map(|i| self.pos + i)
            .ok_or_else(|| self.err(start, "a tag is opened with < but never closed with >"))?;
        let inner = &self.src[start + 1..end];
        self.pos = end + 1;
        if inner.starts_with("!--") || inner.starts_with('?') {
            // Comments and declarations: skip (a comment may contain '>').
            if inner.starts_with("!--") && !inner.ends_with("--") {
                let close = self.src[start..]
                    .find("-->")
                    .ok_or_else(|| self.err(start, "comment is never closed"))?;
                self.pos = start + close + 3;
            }
            return self.next_tag_or_text(start);
        }
        let closing = inner.starts_with('/');
        let self_closing = inner.ends_with('/');
        let body = inner.trim_start_matches('/').trim_end_matches('/');
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = body[..name_end].to_owned();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
        {
            return Err(self.err(start, format!("bad tag name {name:?}")));
        }
        let mut attrs = Vec::new();
        let mut rest = &body[name_end..];
        let mut at = start + 1 + usize::from(closing) + name_end;
        loop {
            let trimmed = rest.trim_start();
            at += rest.len() - trimmed.len();
            rest = trimmed;
            if rest.is_empty() {
                break;
            }
            let eq = rest.find('=').ok_or_else(|| {
                self.err(at, "attribute without a value (expected name=\"value\")")
            })?;
            let key = rest[..eq].trim().to_owned();
            let after = rest[eq + 1..].trim_start();
            let quote = after
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| self.err(at, format!("value of {key} must be quoted")))?;
            let close = after[1..]
                .find(quote)
                .ok_or_else(|| self.err(at, format!("value of {key} is never closed")))?;
            let value_at = at + (rest.len() - after.len()) + 1;
            let value = self.unescape(&after[1..1 + close], value_at)?;
            attrs.push((key, value, value_at));
            let consumed = rest.len() - after.len() + close + 2;
            at += consumed;
            rest = &rest[consumed..];
        }
        Ok(Tag {
            name,
            attrs,
            closing,
            self_closing,
            start,
        })
    }

    /// After a skipped comment: a synthetic empty element so the caller's
    /// loop continues (reads as nothing).
    fn next_tag_or_text(&mut self, start: usize) -> Result<Tag, TtsError> {
        Ok(Tag {
            name: "mark".into(),
            attrs: Vec::new(),
            closing: false,
            self_closing: true,
            start,
        })
    }

    fn unescape(&self, raw: &str, at: usize) -> Result<String, TtsError> {
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            let semi = rest[i..].find(';').ok_or_else(|| {
                self.err(
                    at + (raw.len() - rest.len()) + i,
                    "& starts an entity that is never closed with ;",
                )
            })?;
            let name = &rest[i + 1..i + semi];
            let ch = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            out.push(ch.ok_or_else(|| {
                self.err(
                    at + (raw.len() - rest.len()) + i,
                    format!("unknown entity &{name};"),
                )
            })?);
            rest = &rest[i + semi + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn push_text(out: &mut Vec<Piece>, text: &str, s: Scale) {
    if text.trim().is_empty() {
        return;
    }
    out.push(Piece::Text {
        text: text.to_owned(),
        rate: s.rate,
        pitch: s.pitch,
        volume: s.volume,
    });
}

fn parse_time(t: &str) -> Option<u32> {
    let t = t.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    let v: f64 = num.trim().parse().ok()?;
    (0.0..=10_000.0)
        .contains(&(v * scale))
        .then_some((v * scale) as u32)
}

/// A relative value: a keyword, `80%`, `+10%`, `-10%`, a plain factor, or
/// (for pitch) `+2st` semitones or (for volume) `+6dB`.
fn relative(v: &str, keywords: &[(&str, f32)], semitones: bool) -> Option<f32> {
    let v = v.trim();
    if let Some((_, f)) = keywords.iter().find(|(k, _)| *k == v) {
        return Some(*f);
    }
    let f = if let Some(p) = v.strip_suffix('%') {
        let n: f32 = p.parse().ok()?;
        if p.starts_with(['+', '-']) {
            1.0 + n / 100.0
        } else {
            n / 100.0
        }
    } else if let (true, Some(st)) = (semitones, v.strip_suffix("st")) {
        2f32.powf(st.parse::<f32>().ok()? / 12.0)
    } else if let Some(db) = v.strip_suffix("dB") {
        10f32.powf(db.parse::<f32>().ok()? / 20.0)
    } else {
        v.parse().ok()?
    };
    (f.is_finite() && (0.0..=4.0).contains(&f)).then_some(f)
}
