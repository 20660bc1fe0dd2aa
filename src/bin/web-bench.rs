//! `web-bench`: loads the demo dataset (500 companies, 15,000 contacts, 25,000 assets,
//! 100,000 tickets by default) into a fresh SQLite database, serves the real app
//! in-process on a local port and reports p50/p95/max latency of the main pages as a
//! signed-in admin's browser would fetch them (full HTML, one request at a time).
//! The target is p50 < 100 ms per page in a release build.
//!
//! `cargo run --release --bin web-bench [-- --requests 50 --companies 500 …]`
//! (`DATABASE_URL` benches PostgreSQL instead; a filled database is used as it is.)

use clap::Parser;
use hivematrix::auth::{tokens, users, Role};
use hivematrix::demo::DemoArgs;
use hivematrix::{AppState, Db, Settings};
use sqlx::Row;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(name = "web-bench", about = "Latency of the web UI's main pages")]
struct Args {
    #[command(flatten)]
    demo: DemoArgs,
    /// Requests per page.
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// Keep the temporary data directory.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("web-bench-{}", std::process::id()));
    let result = bench(&args, dir.clone()).await;
    if args.keep {
        println!("data kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn bench(args: &Args, dir: PathBuf) -> anyhow::Result<()> {
    let mut settings = Settings {
        data_dir: dir,
        database_url: std::env::var("DATABASE_URL").ok(),
        ..Settings::default()
    };
    settings.rate_limit.per_minute = 0;
    let backend = if settings.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let db = Db::connect(&settings).await?;
    db.migrate().await?;
    let companies: i64 = sqlx::query("SELECT COUNT(*) FROM companies")
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    if companies == 0 {
        println!(
            "{}",
            hivematrix::demo::generate_report(&db, &args.demo).await?
        );
    } else {
        println!("using the data already in the database");
    }
    let token = admin_token(&db).await?;
    let accounts: Vec<String> = sqlx::query(
        "SELECT account_number FROM companies WHERE deleted_at IS NULL ORDER BY name LIMIT 100",
    )
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    let asset_ids: Vec<i64> =
        sqlx::query("SELECT id FROM assets WHERE deleted_at IS NULL ORDER BY id LIMIT 100")
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    let app = hivematrix::build_app(AppState::new(db, settings));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    let acct = |i: usize| accounts[i % accounts.len().max(1)].clone();
    let asset = |i: usize| asset_ids[i % asset_ids.len().max(1)];
    let searches = ["acme", "server", "printer", "john", "10.0", "1000"];
    type PathFn<'a> = Box<dyn Fn(usize) -> String + 'a>;
    let pages: Vec<(&str, PathFn)> = vec![
        (
            "companies list (first page, counts)",
            Box::new(|_| "/codex/companies".into()),
        ),
        (
            "companies list (sorted, page 5)",
            Box::new(|_| "/codex/companies?sort=billing_plan&order=desc&offset=200".into()),
        ),
        (
            "companies list (search)",
            Box::new(|i| format!("/codex/companies?search={}", searches[i % 3])),
        ),
        (
            "company detail (contacts tab)",
            Box::new(|i| format!("/codex/companies/{}", acct(i))),
        ),
        (
            "company tab: assets (htmx)",
            Box::new(|i| format!("/codex/companies/{}/tabs/assets", acct(i))),
        ),
        (
            "company tab: tickets (htmx)",
            Box::new(|i| format!("/codex/companies/{}/tabs/tickets", acct(i))),
        ),
        ("assets list", Box::new(|_| "/codex/assets".into())),
        (
            "assets list (search, page 3)",
            Box::new(|i| format!("/codex/assets?search={}&offset=100", searches[i % 2])),
        ),
        (
            "asset detail",
            Box::new(|i| format!("/codex/assets/{}", asset(i))),
        ),
        ("contacts list", Box::new(|_| "/codex/contacts".into())),
        (
            "global search /search?q=",
            Box::new(|i| format!("/search?q={}", searches[i % searches.len()])),
        ),
    ];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    println!(
        "\n{backend}, in-process server, {} cores, {} requests per page, one at a time",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.requests
    );
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>8}  status codes",
        "page", "p50 ms", "p95 ms", "max ms", "KiB"
    );
    let mut worst_p50: f64 = 0.0;
    for (label, path) in &pages {
        // One unmeasured request warms the statement cache.
        let _ = client
            .get(format!("{base}{}", path(0)))
            .bearer_auth(&token)
            .header("accept", "text/html")
            .send()
            .await;
        let mut ms = Vec::with_capacity(args.requests);
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        let mut bytes = 0;
        for i in 0..args.requests {
            let t = Instant::now();
            let (s, b) = match client
                .get(format!("{base}{}", path(i)))
                .bearer_auth(&token)
                .header("accept", "text/html")
                .send()
                .await
            {
                Ok(r) => {
                    let s = r.status().as_u16();
                    (s, r.bytes().await.map_or(0, |b| b.len()))
                }
                Err(_) => (0, 0),
            };
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            *statuses.entry(s).or_default() += 1;
            bytes = bytes.max(b);
        }
        ms.sort_by(f64::total_cmp);
        let p50 = percentile(&ms, 50.0);
        worst_p50 = worst_p50.max(p50);
        println!(
            "{:<40} {:>9.1} {:>9.1} {:>9.1} {:>8}  {}",
            label,
            p50,
            percentile(&ms, 95.0),
            ms.last().copied().unwrap_or(0.0),
            bytes / 1024,
            statuses
                .iter()
                .map(|(s, n)| format!("{s}×{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!(
        "\nslowest p50: {worst_p50:.1} ms (target < 100 ms, release build) — {}",
        if worst_p50 < 100.0 { "met" } else { "NOT met" }
    );
    Ok(())
}

async fn admin_token(db: &Db) -> anyhow::Result<String> {
    let email = format!("web-bench-{}@bench.local", std::process::id());
    let u = users::create(
        db,
        users::NewUser {
            email: &email,
            name: "Web benchmark",
            role: Role::Admin,
            company_id: None,
            password: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the bench user: {e}"))?;
    let (_, token) = tokens::create(db, u.id, "web-bench", Some(1))
        .await
        .map_err(|e| anyhow::anyhow!("creating the bench token: {e}"))?;
    Ok(token)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
