//! The customer record's benchmark: fills a store with N customers and M
//! timeline turns, then prints the latency of the one-call customer context
//! (p50/p99), context lookups/s, identifications by phone/s and timeline
//! appends/s (each committed and, on SQLite, fsynced before it returns).
//!
//! `cargo bench -p parla-crm --bench crm`. Runs on SQLite (a file under
//! `CRM_BENCH_DIR`, default the temp dir) and, when
//! `PARLA_TEST_POSTGRES_URL` is set, on PostgreSQL (a fresh schema).
//! `CRM_BENCH_CUSTOMERS` (100000) and `CRM_BENCH_TURNS` (1000000) set the
//! size; `CRM_BENCH_ONLY=sqlite|postgres` picks one store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parla_crm::model::{Append, Channel, CustomerHint, TimelineTurn};
use parla_crm::sql::{Conn, Database, Value};
use parla_crm::{FieldCipher, PostgresStore, SqlStore, SqliteStore, Store};

const TURNS_PER_CONVERSATION: usize = 5;
const ROWS_PER_INSERT: usize = 200;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let customers = env_usize("CRM_BENCH_CUSTOMERS", 100_000);
    let turns = env_usize("CRM_BENCH_TURNS", 1_000_000);
    let only = std::env::var("CRM_BENCH_ONLY").unwrap_or_default();
    println!("crm benchmark: {customers} customers, {turns} timeline turns");
    if only.is_empty() || only == "sqlite" {
        let dir = std::env::var_os("CRM_BENCH_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let path = dir.join(format!("parla-crm-bench-{}.db", std::process::id()));
        let store = SqliteStore::new(
            parla_crm::sqlite::SqliteDb::open(&path)?,
            FieldCipher::plain(),
            "",
        )?;
        let store = Arc::new(store);
        populate(&store, customers, turns)?;
        measure("sqlite", store, customers)?;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    if only.is_empty() || only == "postgres" {
        match std::env::var("PARLA_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("bench_{}", std::process::id());
                let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
                admin.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
                let mut config: postgres::Config = url.parse()?;
                config.options(&format!("-c search_path={schema}"));
                let db = parla_crm::postgres::PostgresDb::with_config(config, 32)?;
                let store = Arc::new(PostgresStore::new(db, FieldCipher::plain(), "")?);
                populate(&store, customers, turns)?;
                admin.batch_execute("ANALYZE")?;
                measure("postgres", store, customers)?;
                admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))?;
            }
            _ => println!("postgres: skipped (PARLA_TEST_POSTGRES_URL is not set)"),
        }
    }
    Ok(())
}

/// Bulk insert of `rows` through multi-row INSERTs, `ROWS_PER_INSERT` a
/// statement, in one transaction per call.
fn insert(
    conn: &mut dyn Conn,
    head: &str,
    width: usize,
    rows: &[Vec<Value>],
) -> parla_crm::Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let one = format!("({})", vec!["?"; width].join(", "));
        let sql = format!("{head} VALUES {}", vec![one; chunk.len()].join(", "));
        let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
        conn.execute(&sql, &params)?;
    }
    Ok(())
}

fn phone(i: usize) -> String {
    format!("+3902{:08}", i)
}

/// Fills the store in the same shape the store writes: per customer a phone
/// and an e-mail, two orders of one line, and conversations of five turns.
fn populate<D: Database>(
    store: &SqlStore<D>,
    customers: usize,
    turns: usize,
) -> parla_crm::Result<()> {
    let started = Instant::now();
    let conversations = turns / TURNS_PER_CONVERSATION;
    let batch = 5_000;
    let t0: i64 = 1_790_000_000_000;
    for start in (0..customers).step_by(batch) {
        let end = (start + batch).min(customers);
        let (mut c, mut cp, mut o, mut l) = (vec![], vec![], vec![], vec![]);
        for i in start..end {
            let id = format!("B{i:07}");
            c.push(vec![
                id.clone().into(),
                format!("Customer {i}").into(),
                (if i % 2 == 0 { "en" } else { "it" }).into(),
                "Via Roma 1".into(),
                "Milano".into(),
                "20100".into(),
                "IT".into(),
                "standard".into(),
                "{}".into(),
                t0.into(),
            ]);
            cp.push(vec![
                phone(i).into(),
                id.clone().into(),
                "phone".into(),
                phone(i).into(),
                0i64.into(),
            ]);
            cp.push(vec![
                format!("c{i}@example.com").into(),
                id.clone().into(),
                "email".into(),
                format!("c{i}@example.com").into(),
                1i64.into(),
            ]);
            for k in 0..2 {
                let oid = format!("O{i:07}{k}");
                o.push(vec![
                    oid.clone().into(),
                    id.clone().into(),
                    "delivered".into(),
                    (t0 + (i * 2 + k) as i64 * 1000).into(),
                    Value::Null,
                    Value::Null,
                    8900i64.into(),
                    "EUR".into(),
                    "BRT".into(),
                ]);
                l.push(vec![
                    format!("{oid}-1").into(),
                    oid.into(),
                    0i64.into(),
                    "JKT-BREEZE-M".into(),
                    "Breeze light jacket".into(),
                    "M".into(),
                    1i64.into(),
                    8900i64.into(),
                    "outerwear".into(),
                    0i64.into(),
                ]);
            }
        }
        store.database().write(|conn| {
            insert(conn, "INSERT INTO customers (id, name, language, street, city, postal_code, country, tier, preferences, created_at)", 10, &c)?;
            insert(conn, "INSERT INTO contact_points (lookup, customer_id, kind, value, position)", 5, &cp)?;
            insert(conn, "INSERT INTO orders (id, customer_id, status, placed_at, delivered_at, expected_delivery, total_minor, currency, carrier)", 9, &o)?;
            insert(conn, "INSERT INTO order_lines (id, order_id, position, sku, name, size, quantity, unit_price_minor, category, final_sale)", 10, &l)
        })?;
    }
    let batch = 2_000;
    for start in (0..conversations).step_by(batch) {
        let end = (start + batch).min(conversations);
        let (mut cv, mut tv) = (vec![], vec![]);
        for n in start..end {
            let id = format!("conv-{n:08}");
            let at = t0 + n as i64 * 60_000;
            cv.push(vec![
                id.clone().into(),
                format!("B{:07}", n % customers.max(1)).into(),
                "voice".into(),
                at.into(),
                at.into(),
                "Asked about a return; label sent.".into(),
                "resolved".into(),
                (TURNS_PER_CONVERSATION as i64).into(),
            ]);
            for p in 0..TURNS_PER_CONVERSATION {
                let speaker = if p % 2 == 0 { "customer" } else { "parla" };
                tv.push(vec![
                    id.clone().into(),
                    (p as i64).into(),
                    speaker.into(),
                    "I would like to return the jacket I bought, it is too light.".into(),
                    (at + p as i64 * 5000).into(),
                    r#"{"intent":{"name":"return","confidence":0.9,"slots":{}}}"#.into(),
                ]);
            }
        }
        store.database().write(|conn| {
            insert(conn, "INSERT INTO conversations (id, customer_id, channel, started_at, updated_at, summary, outcome, turn_count)", 8, &cv)?;
            insert(conn, "INSERT INTO turns (conversation_id, position, speaker, text, at, detail)", 6, &tv)
        })?;
    }
    println!(
        "{}: loaded {customers} customers, {} orders, {conversations} conversations, {} turns in {:.1} s",
        store.backend(),
        customers * 2,
        conversations * TURNS_PER_CONVERSATION,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A cheap deterministic pseudo-random sequence (xorshift).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs `op` from `threads` threads for `secs`; returns operations/s.
fn throughput(threads: usize, secs: f64, op: impl Fn(usize, usize) + Sync) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let op = &op;
                s.spawn(move || {
                    let mut n = 0;
                    while Instant::now() < deadline {
                        op(t, n);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}

fn measure(name: &str, store: Arc<dyn Store>, customers: usize) -> parla_crm::Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Warm the caches a little, as a running server would be.
    for _ in 0..500 {
        store.context(&format!("B{:07}", rng.below(customers)), 5)?;
    }
    let mut latencies = Vec::with_capacity(5_000);
    let mut check = 0;
    for _ in 0..5_000 {
        let id = format!("B{:07}", rng.below(customers));
        let t = Instant::now();
        let ctx = store.context(&id, 5)?;
        latencies.push(t.elapsed());
        check += ctx.recent_orders.len()
            + ctx
                .recent_interactions
                .iter()
                .map(|i| i.turns.len())
                .sum::<usize>();
    }
    latencies.sort();
    println!(
        "{name}: customer context (profile, consent, 2 orders with lines, open returns, latest conversations with turns; {:.1} items each): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        check as f64 / 5_000.0,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    for threads in [1, 4] {
        let rate = throughput(threads, 3.0, |t, n| {
            let id = format!("B{:07}", (t * 7919 + n * 104_729) % customers);
            let _ = store.context(&id, 5);
        });
        println!("{name}: context lookups/s with {threads} thread(s): {rate:.0}");
    }
    let rate = throughput(1, 2.0, |_, n| {
        let _ = store.identify(&CustomerHint::Phone(phone((n * 7919) % customers)));
    });
    println!("{name}: identifications by phone/s: {rate:.0}");
    for threads in [1, 16] {
        let rate = throughput(threads, 3.0, |t, n| {
            let a = Append {
                conversation_id: format!("bench-{threads}-{t}-{}", n / 20),
                customer_id: Some(format!("B{:07}", (t * 31 + n) % customers)),
                channel: Channel::Chat,
                turn: TimelineTurn {
                    speaker: "customer".into(),
                    text: "Where is my parcel?".into(),
                    ..Default::default()
                },
                ..Default::default()
            };
            store.append(&a).expect("append");
        });
        println!("{name}: timeline appends/s (committed) with {threads} thread(s): {rate:.0}");
    }
    Ok(())
}
