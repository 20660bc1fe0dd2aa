//! `codex-bench`: loads the demo dataset into a fresh database, starts the real server
//! and reports p50/p99 latency and requests per second of the main Codex read APIs at
//! concurrency 1 and 8, plus the server's resident memory.
//!
//! The server runs as a child process (this same binary with `--internal-serve`), so
//! its memory is measured alone (`/proc/<pid>/status`), not mixed with the load
//! generator's. SQLite in a temporary directory by default; set `DATABASE_URL` to
//! bench PostgreSQL (an empty database is filled, a filled one is used as it is).
//!
//! `cargo run --release --bin codex-bench [-- --companies 50 --requests 20 …]`

use clap::Parser;
use hivematrix::auth::{tokens, users, Role};
use hivematrix::demo::DemoArgs;
use hivematrix::{AppState, Db, Settings};
use sqlx::Row;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "codex-bench",
    about = "Latency and memory benchmark of the Codex API"
)]
struct Args {
    #[command(flatten)]
    demo: DemoArgs,
    /// Requests per endpoint and concurrency level.
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// Requests for the (heavy) bulk endpoint per concurrency level.
    #[arg(long, default_value_t = 20)]
    bulk_requests: usize,
    /// Keep the temporary data directory.
    #[arg(long)]
    keep: bool,
    /// Internal: serve the given data directory and print the port (used by the parent).
    #[arg(long, hide = true)]
    internal_serve: Option<PathBuf>,
}

fn settings(data_dir: PathBuf) -> Settings {
    let mut s = Settings {
        data_dir,
        database_url: std::env::var("DATABASE_URL").ok(),
        ..Settings::default()
    };
    // The benchmark measures the server, not the limiter.
    s.rate_limit.per_minute = 0;
    s
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(dir) = args.internal_serve {
        return serve(dir).await;
    }
    let dir = std::env::temp_dir().join(format!("codex-bench-{}", std::process::id()));
    let result = bench(&args, dir.clone()).await;
    if args.keep {
        println!("data kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Child mode: the real application on a random port.
async fn serve(dir: PathBuf) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HIVEMATRIX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let settings = settings(dir);
    let db = Db::connect(&settings).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("PORT {}", listener.local_addr()?.port());
    let app = hivematrix::build_app(AppState::new(db, settings));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}

async fn bench(args: &Args, dir: PathBuf) -> anyhow::Result<()> {
    let settings = settings(dir.clone());
    let backend = if settings.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let db = Db::connect(&settings).await?;
    db.migrate().await?;
    if count(&db, "SELECT COUNT(*) FROM companies").await? == 0 {
        let report = hivematrix::demo::generate_report(&db, &args.demo).await?;
        println!("{report}");
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
    let (mut child, base) = start_server(&dir)?;
    let outcome = run_all(args, &base, &token, &accounts, child.id(), backend).await;
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

async fn count(db: &Db, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(&db.pool).await?.try_get(0)?)
}

async fn admin_token(db: &Db) -> anyhow::Result<String> {
    let email = format!("bench-{}@bench.local", std::process::id());
    let u = users::create(
        db,
        users::NewUser {
            email: &email,
            name: "Benchmark",
            role: Role::Admin,
            company_id: None,
            password: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the bench user: {e}"))?;
    let (_, token) = tokens::create(db, u.id, "codex-bench", Some(1))
        .await
        .map_err(|e| anyhow::anyhow!("creating the bench token: {e}"))?;
    Ok(token)
}

/// Starts `self --internal-serve DIR` and waits for the port it prints.
fn start_server(dir: &std::path::Path) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--internal-serve")
        .arg(dir)
        .env(
            "HIVEMATRIX_LOG",
            std::env::var("HIVEMATRIX_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .ok_or_else(|| anyhow::anyhow!("server did not start: {line:?}"))?
        .to_string();
    Ok((child, format!("http://127.0.0.1:{port}")))
}

struct Endpoint {
    label: &'static str,
    requests: usize,
    path: Box<dyn Fn(usize) -> String + Send + Sync>,
}

async fn run_all(
    args: &Args,
    base: &str,
    token: &str,
    accounts: &[String],
    pid: u32,
    backend: &str,
) -> anyhow::Result<()> {
    let accounts = accounts.to_vec();
    let endpoints = vec![
        Endpoint {
            label: "GET /codex/api/companies",
            requests: args.requests,
            path: Box::new(|_| "/codex/api/companies".into()),
        },
        Endpoint {
            label: "GET /codex/api/companies/bulk",
            requests: args.bulk_requests,
            path: Box::new(|_| "/codex/api/companies/bulk".into()),
        },
        Endpoint {
            label: "GET /codex/api/companies/{acct}/assets",
            requests: args.requests,
            path: Box::new(move |i| {
                let acct = accounts.get(i % accounts.len().max(1)).map_or("0", |s| s);
                format!("/codex/api/companies/{acct}/assets")
            }),
        },
        Endpoint {
            label: "GET /codex/api/tickets?limit=100",
            requests: args.requests,
            path: Box::new(|_| "/codex/api/tickets?limit=100".into()),
        },
    ];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let idle = memory(pid);
    println!(
        "\n{backend}, server pid {pid} (child process), {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<40} {:>4} {:>5} {:>9} {:>9} {:>9} {:>8} {:>8}  status codes",
        "endpoint", "conc", "reqs", "p50 ms", "p99 ms", "req/s", "KiB", "RSS MiB"
    );
    let endpoints = Arc::new(endpoints);
    for ei in 0..endpoints.len() {
        for conc in [1usize, 8] {
            let r = measure(&client, base, token, endpoints.clone(), ei, conc).await;
            println!(
                "{:<40} {:>4} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>8}  {}",
                endpoints[ei].label,
                conc,
                r.latencies.len(),
                percentile(&r.latencies, 50.0),
                percentile(&r.latencies, 99.0),
                r.latencies.len() as f64 / r.wall.as_secs_f64(),
                r.bytes / 1024,
                memory(pid).0 / 1024,
                r.statuses
                    .iter()
                    .map(|(s, n)| format!("{s}×{n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    let after = memory(pid);
    println!(
        "\nserver resident memory: {} MiB idle, {} MiB after the run, {} MiB peak (VmHWM)",
        idle.0 / 1024,
        after.0 / 1024,
        after.1 / 1024
    );
    Ok(())
}

struct Measured {
    latencies: Vec<f64>,
    statuses: BTreeMap<u16, usize>,
    wall: Duration,
    bytes: usize,
}

/// `requests` calls of one endpoint spread over `conc` workers.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    endpoints: Arc<Vec<Endpoint>>,
    ei: usize,
    conc: usize,
) -> Measured {
    let n = endpoints[ei].requests;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..conc {
        let (client, next, endpoints) = (client.clone(), next.clone(), endpoints.clone());
        let (base, token) = (base.to_string(), token.to_string());
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break out;
                }
                let url = format!("{base}{}", (endpoints[ei].path)(i));
                let t = Instant::now();
                let (status, bytes) = match client.get(&url).bearer_auth(&token).send().await {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        (s, r.bytes().await.map_or(0, |b| b.len()))
                    }
                    Err(_) => (0, 0),
                };
                out.push((t.elapsed().as_secs_f64() * 1000.0, status, bytes));
            }
        }));
    }
    let mut m = Measured {
        latencies: Vec::with_capacity(n),
        statuses: BTreeMap::new(),
        wall: Duration::ZERO,
        bytes: 0,
    };
    for w in workers {
        for (ms, status, bytes) in w.await.unwrap_or_default() {
            m.latencies.push(ms);
            *m.statuses.entry(status).or_default() += 1;
            m.bytes = m.bytes.max(bytes);
        }
    }
    m.wall = started.elapsed();
    m.latencies.sort_by(f64::total_cmp);
    m
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// (VmRSS, VmHWM) of a process in KiB, 0 when unknown.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
