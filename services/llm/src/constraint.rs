//! Structured output: a constraint is compiled into a sequence of character-level segments,
//! and a token is allowed only if every character of its text can be consumed from the current
//! state. The candle backend masks all other logits, so even a 135M model cannot leave the label
//! set or produce JSON that does not parse.

use serde::{Deserialize, Serialize};

use crate::LlmError;

/// What shape the output must have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    /// Exactly one of these strings (classification).
    Labels(Vec<String>),
    /// A flat JSON object with these fields, in this order (slot filling).
    JsonObject(Vec<(String, JsonField)>),
}

/// The type of one field of a [`Constraint::JsonObject`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonField {
    /// A string of at most this many characters (no escapes).
    String {
        /// Longest value.
        max_chars: usize,
    },
    /// One of these strings.
    Enum(Vec<String>),
    /// An integer of at most 12 digits.
    Integer,
    /// `true` or `false`.
    Boolean,
}

impl Constraint {
    /// Builds a constraint from a small JSON schema: an object whose properties are strings
    /// (optionally `enum` and `maxLength`), integers or booleans. Properties are emitted in the
    /// schema's order as `serde_json` keeps it (alphabetical).
    pub fn from_json_schema(schema: &serde_json::Value) -> Result<Self, LlmError> {
        let bad = |m: &str| LlmError::InvalidRequest(format!("unsupported JSON schema: {m}"));
        if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(bad("the root must have \"type\": \"object\""));
        }
        let props = schema
            .get("properties")
            .and_then(|p| p.as_object())
            .ok_or_else(|| bad("the root needs \"properties\""))?;
        let mut fields = Vec::new();
        for (name, prop) in props {
            let field = if let Some(values) = prop.get("enum").and_then(|e| e.as_array()) {
                let labels = values
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("enum values must be strings"))?;
                JsonField::Enum(labels)
            } else {
                match prop.get("type").and_then(|t| t.as_str()) {
                    Some("string") => JsonField::String {
                        max_chars: prop.get("maxLength").and_then(|m| m.as_u64()).unwrap_or(64)
                            as usize,
                    },
                    Some("integer") => JsonField::Integer,
                    Some("boolean") => JsonField::Boolean,
                    other => return Err(bad(&format!("property `{name}` has type {other:?}"))),
                }
            };
            fields.push((name.clone(), field));
        }
        let c = Constraint::JsonObject(fields);
        c.compile()?;
        Ok(c)
    }

    /// Checks a finished text against the constraint (used by backends that cannot mask).
    pub fn accepts(&self, text: &str) -> bool {
        let Ok(m) = self.compile() else { return false };
        let mut state = m.start();
        for c in text.chars() {
            match m.step(&state, c) {
                Some(s) => state = s,
                None => return false,
            }
        }
        m.is_complete(&state)
    }

    pub(crate) fn compile(&self) -> Result<Matcher, LlmError> {
        let mut segments = Vec::new();
        match self {
            Constraint::Labels(labels) => segments.push(Segment::Choice(non_empty(labels)?)),
            Constraint::JsonObject(fields) => {
                if fields.is_empty() {
                    return Err(LlmError::InvalidRequest(
                        "a JSON constraint needs at least one field".into(),
                    ));
                }
                for (i, (name, field)) in fields.iter().enumerate() {
                    let sep = if i == 0 { "{" } else { ", " };
                    let key = serde_json::to_string(name).unwrap_or_default();
                    match field {
                        JsonField::String { max_chars } => {
                            segments.push(Segment::Literal(format!("{sep}{key}: \"")));
                            segments.push(Segment::FreeString {
                                max_chars: (*max_chars).max(1),
                            });
                        }
                        JsonField::Enum(values) => {
                            segments.push(Segment::Literal(format!("{sep}{key}: ")));
                            let quoted = non_empty(values)?
                                .iter()
                                .map(|v| serde_json::to_string(v).unwrap_or_default())
                                .collect();
                            segments.push(Segment::Choice(quoted));
                        }
                        JsonField::Integer => {
                            segments.push(Segment::Literal(format!("{sep}{key}: ")));
                            segments.push(Segment::Integer);
                        }
                        JsonField::Boolean => {
                            segments.push(Segment::Literal(format!("{sep}{key}: ")));
                            segments.push(Segment::Choice(vec!["true".into(), "false".into()]));
                        }
                    }
                }
                segments.push(Segment::Literal("}".into()));
            }
        }
        Ok(Matcher { segments })
    }
}

fn non_empty(labels: &[String]) -> Result<Vec<String>, LlmError> {
    if labels.is_empty() || labels.iter().any(String::is_empty) {
        return Err(LlmError::InvalidRequest(
            "a label set needs at least one non-empty label".into(),
        ));
    }
    Ok(labels.to_vec())
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Choice(Vec<String>),
    /// Characters up to the closing quote, which this segment consumes.
    FreeString {
        max_chars: usize,
    },
    Integer,
}

/// Where the matcher is: a segment and how far into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MatchState {
    segment: usize,
    /// Characters consumed in the segment (Literal, FreeString, Integer) or the prefix (Choice).
    progress: String,
}

/// A compiled constraint.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    segments: Vec<Segment>,
}

impl Matcher {
    pub(crate) fn start(&self) -> MatchState {
        MatchState {
            segment: 0,
            progress: String::new(),
        }
    }

    /// The state after consuming `c`, or `None` if `c` is not allowed here.
    pub(crate) fn step(&self, state: &MatchState, c: char) -> Option<MatchState> {
        let seg = self.segments.get(state.segment)?;
        let next_segment = || MatchState {
            segment: state.segment + 1,
            progress: String::new(),
        };
        let stay = |extra: char| {
            let mut progress = state.progress.clone();
            progress.push(extra);
            MatchState {
                segment: state.segment,
                progress,
            }
        };
        match seg {
            Segment::Literal(lit) => {
                let done = state.progress.chars().count();
                let expected = lit.chars().nth(done)?;
                if expected != c {
                    return None;
                }
                if done + 1 == lit.chars().count() {
                    Some(next_segment())
                } else {
                    Some(stay(c))
                }
            }
            Segment::Choice(options) => {
                let mut extended = state.progress.clone();
                extended.push(c);
                if options.iter().any(|o| o.starts_with(&extended)) {
                    Some(stay(c))
                } else if options.contains(&state.progress) {
                    self.step(&next_segment(), c)
                } else {
                    None
                }
            }
            Segment::FreeString { max_chars } => {
                if c == '"' {
                    return Some(next_segment());
                }
                let ok = !c.is_control() && c != '\\' && c != '\u{FFFD}';
                (ok && state.progress.chars().count() < *max_chars).then(|| stay(c))
            }
            Segment::Integer => {
                let digits = state.progress.trim_start_matches('-').len();
                let digit_ok = c.is_ascii_digit()
                    && digits < 12
                    && !(state.progress.ends_with('0') && digits == 1);
                if digit_ok || (c == '-' && state.progress.is_empty()) {
                    Some(stay(c))
                } else if digits > 0 {
                    self.step(&next_segment(), c)
                } else {
                    None
                }
            }
        }
    }

    /// Whether the text so far is a complete output.
    pub(crate) fn is_complete(&self, state: &MatchState) -> bool {
        if state.segment == self.segments.len() {
            return true;
        }
        if state.segment + 1 != self.segments.len() {
            return false;
        }
        match &self.segments[state.segment] {
            Segment::Choice(options) => options.contains(&state.progress),
            Segment::Integer => state
                .progress
                .trim_start_matches('-')
                .chars()
                .next()
                .is_some(),
            _ => false,
        }
    }

    /// Whether any character can follow (false when the output is complete and unambiguous).
    pub(crate) fn can_continue(&self, state: &MatchState) -> bool {
        match self.segments.get(state.segment) {
            None => false,
            Some(Segment::Choice(options)) => {
                options
                    .iter()
                    .any(|o| o.len() > state.progress.len() && o.starts_with(&state.progress))
                    || (state.segment + 1 < self.segments.len())
            }
            Some(_) => true,
        }
    }

    /// The state after consuming all of `text`, or `None`.
    pub(crate) fn step_str(&self, state: &MatchState, text: &str) -> Option<MatchState> {
        if text.is_empty() {
            return None;
        }
        let mut s = state.clone();
        for c in text.chars() {
            s = self.step(&s, c)?;
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_accept_only_members() {
        let c = Constraint::Labels(vec!["yes".into(), "yesterday".into(), "no".into()]);
        assert!(c.accepts("yes"));
        assert!(c.accepts("yesterday"));
        assert!(c.accepts("no"));
        assert!(!c.accepts("ye"));
        assert!(!c.accepts("nope"));
    }

    #[test]
    fn json_object_parses() {
        let schema = serde_json::json!({"type": "object", "properties": {
            "intent": {"enum": ["return", "order_status"]}, "order": {"type": "integer"},
            "name": {"type": "string", "maxLength": 10}, "urgent": {"type": "boolean"}}});
        let c = Constraint::from_json_schema(&schema).unwrap();
        let text = r#"{"intent": "return", "name": "Ada", "order": 1042, "urgent": false}"#;
        assert!(c.accepts(text));
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["order"], 1042);
        assert!(!c.accepts(r#"{"intent": "refund", "name": "Ada", "order": 1, "urgent": false}"#));
        assert!(!c.accepts(r#"{"intent": "return", "name": "Ada", "order": 01, "urgent": false}"#));
    }
}
