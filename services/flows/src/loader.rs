//! Loading flows: the shipped ones (built into the binary) or a developer's directory of
//! `*.yaml` files, each checked by [`crate::check`] before any conversation runs, and no two
//! with the same name.

use std::path::Path;

use crate::check::{line_of, parse, Flow};
use crate::FlowError;

/// The flows shipped in the repository's `flows/`, built into the binary.
pub const SHIPPED: [(&str, &str); 3] = [
    (
        "return_exchange.yaml",
        include_str!("../../../flows/return_exchange.yaml"),
    ),
    (
        "recommendation.yaml",
        include_str!("../../../flows/recommendation.yaml"),
    ),
    (
        "order_status.yaml",
        include_str!("../../../flows/order_status.yaml"),
    ),
];

/// All flows of a deployment.
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    flows: Vec<Flow>,
}

impl FlowSet {
    /// The shipped flows.
    pub fn shipped() -> Result<FlowSet, FlowError> {
        Self::from_sources(
            SHIPPED
                .iter()
                .map(|(name, text)| (format!("flows/{name} (built in)"), (*text).to_owned())),
        )
    }

    /// Every `*.yaml` / `*.yml` file directly in `dir` (sorted by name).
    pub fn load_dir(dir: &Path) -> Result<FlowSet, FlowError> {
        let entries = std::fs::read_dir(dir).map_err(|e| FlowError::Invalid {
            file: dir.display().to_string(),
            line: 0,
            reason: format!("cannot read the flows directory: {e}"),
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        let mut sources = Vec::new();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|e| FlowError::Invalid {
                file: p.display().to_string(),
                line: 0,
                reason: e.to_string(),
            })?;
            sources.push((p.display().to_string(), text));
        }
        if sources.is_empty() {
            return Err(FlowError::Invalid {
                file: dir.display().to_string(),
                line: 0,
                reason: "no flow files (*.yaml) in the directory".into(),
            });
        }
        Self::from_sources(sources)
    }

    /// Parses and validates named sources.
    pub fn from_sources(
        sources: impl IntoIterator<Item = (String, String)>,
    ) -> Result<FlowSet, FlowError> {
        let mut flows: Vec<Flow> = Vec::new();
        for (file, text) in sources {
            let flow = parse(&file, &text)?;
            if let Some(other) = flows.iter().find(|f| f.spec.name == flow.spec.name) {
                return Err(FlowError::Invalid {
                    line: line_of(&text, "name:"),
                    file,
                    reason: format!(
                        "flow `{}` is already defined in {}",
                        flow.spec.name, other.source
                    ),
                });
            }
            flows.push(flow);
        }
        Ok(FlowSet { flows })
    }

    /// Every flow.
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// A flow by name.
    pub fn get(&self, name: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.spec.name == name)
    }

    /// The flow an intent starts, if any.
    pub fn for_intent(&self, intent: &str) -> Option<&Flow> {
        self.flows
            .iter()
            .find(|f| f.spec.triggers.iter().any(|t| t == intent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_flows_load() {
        let set = FlowSet::shipped().expect("shipped flows are valid");
        assert_eq!(set.flows().len(), 3);
        assert_eq!(
            set.for_intent("return").map(|f| f.spec.name.as_str()),
            Some("return_exchange")
        );
        assert_eq!(
            set.for_intent("order_status").map(|f| f.spec.name.as_str()),
            Some("order_status")
        );
    }

    fn error_of(text: &str) -> (usize, String) {
        match FlowSet::from_sources([("bad.yaml".to_owned(), text.to_owned())]) {
            Err(FlowError::Invalid { file, line, reason }) => {
                assert_eq!(file, "bad.yaml");
                (line, reason)
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted:\n{text}"),
        }
    }

    #[test]
    fn errors_name_line_and_reason() {
        let base = "name: t\nstart: a\nsteps:\n  a:\n    say: hi\n    end: resolved\nmessages:\n  hi: {en: Hi, it: Ciao}\n";
        assert!(FlowSet::from_sources([("ok.yaml".into(), base.into())]).is_ok());
        let (line, reason) = error_of(&base.replace("say: hi", "say: bye"));
        assert_eq!(line, 5, "{reason}");
        assert!(reason.contains("`bye`"), "{reason}");
        let (line, reason) =
            error_of(&base.replace("    end: resolved", "    next:\n      - goto: nowhere"));
        assert_eq!(line, 7, "{reason}");
        assert!(reason.contains("nowhere"), "{reason}");
        let (line, reason) = error_of(&base.replace("end: resolved", "end: [unclosed"));
        assert!(line >= 6, "{line}: {reason}");
        let (line, reason) = error_of(&base.replace("say: hi", "call: crm.delete_all"));
        assert_eq!(line, 5, "{reason}");
        assert!(reason.contains("crm.delete_all"), "{reason}");
        let (_, reason) = error_of(&base.replace("it: Ciao", "it: ''"));
        assert!(reason.contains("en` and `it"), "{reason}");
        let (line, reason) = error_of(&base.replace(
            "    end: resolved",
            "    next:\n      - when: a b c\n        goto: a",
        ));
        assert_eq!(line, 7, "{reason}");
        let (line, reason) = error_of(&base.replace("start: a", "start: b"));
        assert_eq!(line, 2, "{reason}");
        let (_, reason) = error_of(&format!("{base}policy:\n  resolutions: [cash]\n"));
        assert!(reason.contains("cash"), "{reason}");
        let (_, reason) = error_of(&format!("{base}colour: blue\n"));
        assert!(reason.contains("colour"), "{reason}");
    }

    /// The 1-based line of `text` that contains `needle` (its first one after `after` lines).
    fn line_with(text: &str, needle: &str, after: usize) -> usize {
        text.lines()
            .enumerate()
            .skip(after)
            .find(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .unwrap_or_else(|| panic!("no `{needle}` in\n{text}"))
    }

    /// A flow that loads: it looks an order up, creates a return through a developer's tool
    /// and says so.
    const GOOD: &str = r#"name: shop_returns
triggers: [return]
keeps: [product_advice]
slots:
  order_id: {from: order_id}
  resolution:
    values:
      refund: [refund]
tools:
  shop.create_return:
    kind: webhook
    url: https://shop.example/returns
    secret_env: SHOP_SECRET
    action: true
    returns: [rma_id]
start: find
steps:
  find:
    call: order.lookup
    args: {order_id: "{order_id}"}
    next:
      - when: order_found && resolution == refund
        goto: create
      - when: amount != {policy.return_window_days}
        goto: done
      - goto: done
  create:
    call: shop.create_return
    args: {order_id: "{order_id}", sku: "{sku}"}
    next: [{goto: done}]
  done:
    say: done
    end: resolved
messages:
  done: {en: "Return {rma_id} for {product} is open.", it: "Il reso {rma_id} per {product} è aperto."}
"#;

    #[test]
    fn silent_mistakes_are_load_errors_with_line_and_hint() {
        assert!(
            FlowSet::from_sources([("ok.yaml".into(), GOOD.into())]).is_ok(),
            "{:?}",
            FlowSet::from_sources([("ok.yaml".into(), GOOD.into())]).err()
        );
        // (what, replace this, with this, the line that must be named, words of the reason)
        let cases: [(&str, &str, &str, &str, &[&str]); 12] = [
            (
                "`||` read as literal text",
                "when: order_found && resolution == refund",
                "when: resolution == refund || resolution == exchange",
                "when: resolution == refund ||",
                &["||", "one transition per alternative"],
            ),
            (
                "two comparisons without &&",
                "when: order_found && resolution == refund",
                "when: resolution == refund or resolution == exchange",
                "when: resolution == refund or",
                &["&&", "one transition per alternative"],
            ),
            (
                "a misspelled fact in a condition",
                "when: order_found && resolution",
                "when: order_fuond && resolution",
                "when: order_fuond",
                &["order_fuond", "did you mean `order_found`"],
            ),
            (
                "a misspelled fact on the right of a comparison",
                "{policy.return_window_days}",
                "{policy.return_windows_days}",
                "policy.return_windows_days",
                &[
                    "policy.return_windows_days",
                    "did you mean `policy.return_window_days`",
                ],
            ),
            (
                "a misspelled placeholder in a message",
                "it: \"Il reso {rma_id}",
                "it: \"Il reso {rma_idd}",
                "  done: {en:",
                &["rma_idd", "`done`", "did you mean `rma_id`"],
            ),
            (
                "a misspelled placeholder in an argument",
                "sku: \"{sku}\"",
                "sku: \"{skus}\"",
                "sku: \"{skus}\"",
                &["skus", "`create`", "did you mean `sku`"],
            ),
            (
                "a trigger naming an unknown intent",
                "triggers: [return]",
                "triggers: [retrun]",
                "triggers:",
                &["retrun", "did you mean `return`", "order_status"],
            ),
            (
                "a duplicate step",
                "  done:\n    say: done",
                "  find:\n    say: done\n    end: resolved\n  done:\n    say: done",
                "  find:\n    say: done",
                &["`find`", "twice"],
            ),
            (
                "a webhook without secret_env",
                "    secret_env: SHOP_SECRET\n",
                "",
                "  shop.create_return:",
                &["shop.create_return", "secret_env"],
            ),
            (
                "a gRPC tool with a webhook's signing key",
                "kind: webhook",
                "kind: grpc",
                "    secret_env:",
                &["shop.create_return", "token_env", "webhook bodies only"],
            ),
            (
                "a gRPC tool over https",
                "kind: webhook\n    url: https://shop.example/returns\n    secret_env: SHOP_SECRET\n",
                "kind: grpc\n    url: https://shop.example/returns\n",
                "    url:",
                &["shop.create_return", "not supported", "http://"],
            ),
            (
                "an empty token_env",
                "    secret_env: SHOP_SECRET\n",
                "    secret_env: SHOP_SECRET\n    token_env: \"\"\n",
                "    token_env:",
                &["shop.create_return", "token_env", "empty"],
            ),
        ];
        for (what, from, to, at, words) in cases {
            assert!(GOOD.contains(from), "{what}: the case does not apply");
            let text = GOOD.replacen(from, to, 1);
            let (line, reason) = error_of(&text);
            let first = at.split('\n').next().unwrap_or(at);
            // The duplicate is the second `find:`; everything else the first match.
            let after = if what == "a duplicate step" {
                line_with(&text, first, 0)
            } else {
                0
            };
            assert_eq!(line, line_with(&text, first, after), "{what}: {reason}");
            for w in words {
                assert!(reason.contains(w), "{what}: `{w}` not in: {reason}");
            }
        }
    }

    #[test]
    fn a_developers_file_is_named_with_its_path_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("returns.yaml");
        let text = GOOD.replace("triggers: [return]", "triggers: [retrun]");
        std::fs::write(&path, &text).expect("write");
        let e = FlowSet::load_dir(dir.path()).expect_err("a misspelled intent");
        let at = format!("{}:2: ", path.display());
        assert!(e.to_string().starts_with(&at), "{e}");
    }
}
