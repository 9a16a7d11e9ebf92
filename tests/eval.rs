//! `parla eval` end to end: it starts its own server (crm, handoff, dialogue with the real
//! default models, CRM seeded with the scenarios). On the shared evaluation set every target
//! must hold; the sealed sets (`tests/eval-sealed`, `tests/handoff-heldout`) are measured and
//! their tables kept for the suite to print (`target/tmp/figures/`), whatever they show.

mod common;

use common::parla;

/// Rows of the figures table: (figure, value, target, met).
fn rows(out: &str) -> Vec<(String, String, String, String)> {
    out.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("| ") && !l.starts_with("| figure") && !l.starts_with("|---"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            (cells.len() == 4).then(|| {
                (
                    cells[0].to_owned(),
                    cells[1].to_owned(),
                    cells[2].to_owned(),
                    cells[3].to_owned(),
                )
            })
        })
        .collect()
}

/// `parla eval ARGS` in a fresh directory; its table, once it exited 0.
fn eval(args: &[&str]) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let out = parla(dir.path()).arg("eval").args(args).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "parla eval failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// The shared evaluation set: `PARLA_EVAL_DATA`, else `../shared/eval` beside this checkout,
/// else beside the checkout this one was cloned from (a CI clone of a local repository).
fn shared_eval() -> anyhow::Result<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("PARLA_EVAL_DATA") {
        candidates.push(std::path::PathBuf::from(dir));
    }
    candidates.push(root.join("../shared/eval"));
    let origin = std::process::Command::new("git")
        .args(["remote", "get-url", "origin"])
        .current_dir(root)
        .output()?;
    let origin = String::from_utf8_lossy(&origin.stdout).trim().to_owned();
    if origin.starts_with('/') {
        candidates.push(std::path::Path::new(&origin).join("../shared/eval"));
    }
    candidates
        .iter()
        .find(|c| c.join("utterances.jsonl").is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!("the shared evaluation set is missing (set PARLA_EVAL_DATA); looked in {candidates:?}")
        })
}

/// Keeps a set's table where `scripts/test.sh` prints it after the suite.
fn keep_figures(name: &str, table: &str) -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("figures");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{name}.md")), table)?;
    Ok(())
}

/// Every figure of the table, by name.
const FIGURES: [&str; 11] = [
    "intent accuracy (en)",
    "intent accuracy (it)",
    "sentiment accuracy (en)",
    "sentiment accuracy (it)",
    "hand-off recall",
    "hand-off precision",
    "ungrounded facts delivered",
    "tone appropriateness",
    "scenarios passed",
    "confidence calibration error (ECE, 5 bins)",
    "latency per turn p50 / p95 (final event)",
];

#[test]
fn the_shared_set_meets_every_target() -> anyhow::Result<()> {
    let data = shared_eval()?;
    let data = data.to_string_lossy();
    let stdout = eval(&["--data", data.as_ref(), "--check"])?;
    keep_figures("eval-shared", &stdout)?;
    let rows = rows(&stdout);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    for want in FIGURES {
        assert!(names.contains(&want), "no row {want:?} in:\n{stdout}");
    }
    for (name, value, target, met) in &rows {
        if !target.is_empty() && target != "—" {
            assert_eq!(met, "yes", "{name} = {value} misses {target}:\n{stdout}");
        }
    }
    assert!(stdout.contains("\ntargets: met"), "{stdout}");
    Ok(())
}

/// The sets written by authors who saw neither the code nor the training data: measured on
/// every run and printed by the suite. Their targets are issue 16's; the table says which hold.
#[test]
fn the_sealed_sets_are_measured_and_printed() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for (name, dir, figures) in [
        ("eval-sealed", root.join("eval-sealed"), &FIGURES[..]),
        // Conversations only: no labelled lines, no tone expectations.
        (
            "handoff-heldout",
            root.join("handoff-heldout"),
            &FIGURES[4..7],
        ),
    ] {
        let dir = dir.to_string_lossy();
        let stdout = eval(&["--data", dir.as_ref()])?;
        keep_figures(name, &stdout)?;
        let rows = rows(&stdout);
        for want in figures {
            assert!(
                rows.iter().any(|r| r.0 == *want),
                "{name}: no row {want:?} in:\n{stdout}"
            );
        }
        assert!(
            stdout.contains("\ntargets: "),
            "{name}: no verdict in:\n{stdout}"
        );
    }
    Ok(())
}

/// A scenario runs on its own `today`, whatever the machine's clock says: the same late
/// delivery (promised five days before the scenario's day) dated years before and years after
/// the clock must give the same figures. Were the clock used, the earlier one would be years
/// late (a hand-off) and the later one not late at all.
#[test]
fn dated_scenarios_run_on_their_own_day() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("eval");
    std::fs::create_dir_all(data.join("conversations"))?;
    std::fs::write(
        data.join("utterances.jsonl"),
        "{\"lang\": \"en\", \"text\": \"Hello there\", \"intent\": \"greeting\", \"sentiment\": \"neutral\"}\n",
    )?;
    for (name, today, promised, ordered) in [
        ("past", "2020-03-10", "2020-03-05", "2020-02-28"),
        ("future", "2031-03-10", "2031-03-05", "2031-02-28"),
    ] {
        std::fs::write(
            data.join("conversations")
                .join(format!("late-{name}-en.yaml")),
            format!(
                r#"name: a delivery five days late, dated {today}
language: en
channel: chat
today: {today}
customer: {{id: T{name}, name: Dana Fields, phone: "+442079460123", email: dana@example.co.uk, city: London, country: GB, language: en, tier: standard, consent: {{personalization: true}}}}
orders:
  - {{id: Z{name}, date: {ordered}, status: in_transit, promised: {promised}, carrier: UPS, lines: [{{sku: MUG-ENAMEL-1, name: Enamel mug, price: 12.00, currency: EUR, category: camping}}]}}
catalogue: []
weather: unavailable
turns:
  - say: "Where is my order Z{name}? It still hasn't arrived."
    handoff: false
    reply_contains: ["5 days late", "UPS"]
outcome: {{actions: [open_case], handoff: false}}
"#
            ),
        )?;
    }
    let stdout = eval(&["--data", &data.to_string_lossy()])?;
    assert!(
        stdout.contains("| scenarios passed | 2/2 |"),
        "both dated scenarios must pass on their own day:\n{stdout}"
    );
    Ok(())
}
