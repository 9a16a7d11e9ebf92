//! Transition conditions: a tiny expression over the flow's facts, parsed when the flow file is
//! loaded (so a typo fails the start, not a conversation) and evaluated by the runner.
//!
//! `name` holds when the fact exists and is not empty, `"false"` or `"0"`; `!name` is its
//! negation; `name OP x` compares with `x`, the literal text, or with the value of fact `n` when
//! written `{n}`. `<`, `<=`, `>`, `>=` compare numbers (false when either side is
//! not a number); `==` and `!=` compare text case-insensitively; `a && b` holds when both do.
//! There is no "or" (`||` would have been read as part of a literal): alternatives are separate
//! transitions. The loader checks that every name a condition reads is a fact the flow can have.

use std::collections::BTreeMap;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The fact is set and truthy.
    Truthy(String),
    /// The fact is missing or falsy.
    Falsy(String),
    /// Every part holds (`a && b`).
    All(Vec<Condition>),
    /// A comparison.
    Compare {
        /// Fact name on the left.
        left: String,
        /// Operator.
        op: Op,
        /// Literal, or `{fact}` on the right.
        right: String,
    },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

impl Condition {
    /// Parses `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Condition, String> {
        let t = text.trim();
        if t.contains("||") {
            return Err(format!(
                "condition `{t}` uses `||`, which conditions do not have (it would be read as text): write one transition per alternative, each with its own `when` (the first that holds wins)"
            ));
        }
        if t.contains("&&") {
            return t
                .split("&&")
                .map(Condition::parse)
                .collect::<Result<Vec<_>, _>>()
                .map(Condition::All);
        }
        for (sym, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if let Some((l, r)) = t.split_once(sym) {
                let (left, right) = (l.trim(), r.trim().trim_matches('"'));
                if !valid_name(left) {
                    return Err(format!(
                        "condition `{t}`: `{left}` is not a fact name (letters, digits, _ . -)"
                    ));
                }
                if right.is_empty() {
                    return Err(format!("condition `{t}`: nothing after `{sym}`"));
                }
                if ["==", "!=", "<", ">", "&&", "||"]
                    .iter()
                    .any(|o| right.contains(o))
                {
                    return Err(format!(
                        "condition `{t}` compares `{left}` with `{right}`, which holds another comparison: join comparisons with `&&`, and for alternatives write one transition per alternative"
                    ));
                }
                return Ok(Condition::Compare {
                    left: left.to_owned(),
                    op,
                    right: right.to_owned(),
                });
            }
        }
        let (neg, name) = match t.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, t),
        };
        if !valid_name(name) {
            return Err(format!(
                "condition `{t}` is neither a fact name nor a comparison (`a == b`, `a < 3`, `!a`)"
            ));
        }
        Ok(if neg {
            Condition::Falsy(name.to_owned())
        } else {
            Condition::Truthy(name.to_owned())
        })
    }

    /// The fact names it reads: each side's name, and `n` of a `{n}` on the right.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Condition::Truthy(n) | Condition::Falsy(n) => vec![n.as_str()],
            Condition::All(parts) => parts.iter().flat_map(Condition::names).collect(),
            Condition::Compare { left, right, .. } => {
                let mut v = vec![left.as_str()];
                if let Some(n) = right.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                    v.push(n);
                }
                v
            }
        }
    }

    /// Evaluates against facts.
    pub fn holds(&self, facts: &BTreeMap<String, String>) -> bool {
        let truthy = |name: &str| {
            facts
                .get(name)
                .is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
        };
        match self {
            Condition::All(parts) => parts.iter().all(|c| c.holds(facts)),
            Condition::Truthy(n) => truthy(n),
            Condition::Falsy(n) => !truthy(n),
            Condition::Compare { left, op, right } => {
                let Some(l) = facts.get(left) else {
                    return *op == Op::Ne;
                };
                let r = match right.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                    Some(name) => match facts.get(name) {
                        Some(v) => v.as_str(),
                        None => return *op == Op::Ne,
                    },
                    None => right.as_str(),
                };
                match op {
                    Op::Eq => l.eq_ignore_ascii_case(r),
                    Op::Ne => !l.eq_ignore_ascii_case(r),
                    _ => match (l.trim().parse::<f64>(), r.trim().parse::<f64>()) {
                        (Ok(a), Ok(b)) => match op {
                            Op::Lt => a < b,
                            Op::Le => a <= b,
                            Op::Gt => a > b,
                            _ => a >= b,
                        },
                        _ => false,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_evaluates() {
        let mut f = BTreeMap::new();
        f.insert("eligibility".to_owned(), "final_sale".to_owned());
        f.insert("days_late".to_owned(), "9".to_owned());
        f.insert("policy.handoff_after_days_late".to_owned(), "7".to_owned());
        f.insert("found".to_owned(), "false".to_owned());
        let c = |s: &str| Condition::parse(s).expect(s);
        assert!(c("eligibility == final_sale").holds(&f));
        assert!(c("eligibility != eligible").holds(&f));
        assert!(c("days_late >= {policy.handoff_after_days_late}").holds(&f));
        f.insert("final_sale".to_owned(), "true".to_owned());
        assert!(
            c("eligibility == final_sale").holds(&f),
            "a literal, not the fact"
        );
        assert!(!c("days_late < 3").holds(&f));
        assert!(!c("found").holds(&f));
        assert!(c("!found").holds(&f));
        assert!(c("!missing").holds(&f));
        assert!(c("missing != x").holds(&f));
        assert!(!c("missing == x").holds(&f));
        assert!(c("eligibility == final_sale && !found").holds(&f));
        assert!(!c("eligibility == final_sale && found").holds(&f));
        assert!(Condition::parse("a b").is_err());
        assert!(Condition::parse("a ==").is_err());
        assert!(Condition::parse("a == x || b").is_err(), "no `||`");
        assert!(Condition::parse("a == x or b == y").is_err());
        assert_eq!(c("a == x && !b && c >= {d}").names(), ["a", "b", "c", "d"]);
    }
}
