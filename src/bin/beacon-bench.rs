//! `beacon-bench`: what a wall of open Beacon boards costs the server. Loads 5,000
//! active tickets (plus closed ones) into a fresh database, starts the real server as a
//! child process (this binary with `--internal-serve`, so its CPU time is measured
//! alone from `/proc/<pid>/stat`), then:
//!
//! 1. real time: 100 boards, each polling its fragment every 30 s at its own phase
//!    (staff Helpdesk and Professional Services boards, boards filtered by agent, TV
//!    displays with a display token), while a ticket changes upstream every 30 s (as a
//!    sync or webhook would) — the server's CPU seconds per wall second, as % of a core;
//! 2. back to back: the CPU time per request of the same mix (cache hits and the
//!    recomputations the ticket changes cause) × the 100-board request rate;
//! 3. the time one board takes to compute cold over the 5,000 tickets.
//!
//! Target: < 10 % of one core. SQLite by default; `DATABASE_URL` for PostgreSQL.
//! `cargo run --bin beacon-bench [-- --boards 100 --window 60 --tickets 5000]`

use chrono::{Duration as TimeDelta, Utc};
use clap::Parser;
use hivematrix::auth::{tokens, users, Role};
use hivematrix::codex::tickets::{self, TicketUpsert};
use hivematrix::{AppState, Db, Settings};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(name = "beacon-bench", about = "CPU cost of many open Beacon boards")]
struct Args {
    /// Active tickets.
    #[arg(long, default_value_t = 5000)]
    tickets: usize,
    /// Closed tickets besides them (the board must skip them).
    #[arg(long, default_value_t = 2000)]
    closed: usize,
    /// Open boards.
    #[arg(long, default_value_t = 100)]
    boards: usize,
    /// Seconds between two polls of one board.
    #[arg(long, default_value_t = 30)]
    poll: u64,
    /// Length of the real-time run in seconds.
    #[arg(long, default_value_t = 60)]
    window: u64,
    /// Requests of the back-to-back run.
    #[arg(long, default_value_t = 600)]
    requests: usize,
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
    s.rate_limit.per_minute = 0;
    s.beacon.professional_services_group = Some("PS".into());
    s
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(dir) = args.internal_serve {
        return serve(dir).await;
    }
    let dir = std::env::temp_dir().join(format!("beacon-bench-{}", std::process::id()));
    let result = bench(&args, dir.clone()).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn serve(dir: PathBuf) -> anyhow::Result<()> {
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

const STATUSES: &[&str] = &[
    "open",
    "open",
    "pending",
    "update_needed",
    "customer_replied",
    "waiting_customer",
    "waiting_third_party",
    "on_hold",
    "scheduled",
    "under_investigation",
    "pending_hubspot",
];
const PRIORITIES: &[(&str, i64)] = &[("low", 1), ("medium", 2), ("high", 3), ("urgent", 4)];
const CLOSED: &[&str] = &["closed", "resolved", "job_complete_bill"];

/// Deterministic ticket `n` (a small LCG, so every run loads the same board).
fn ticket(n: usize, closed: bool) -> TicketUpsert {
    let r = |salt: u64| {
        (n as u64)
            .wrapping_mul(6364136223846793005)
            .wrapping_add(salt.wrapping_mul(1442695040888963407))
            >> 33
    };
    let now = Utc::now();
    let (priority, priority_id) = PRIORITIES[(r(1) % 4) as usize];
    let status = if closed {
        CLOSED[(r(2) % 3) as usize]
    } else {
        STATUSES[(r(2) % STATUSES.len() as u64) as usize]
    };
    let t = |d: TimeDelta| Some(hivematrix::time::to_db(now + d));
    TicketUpsert {
        external_source: "freshservice".into(),
        external_id: format!("{}", 100_000 + n),
        ticket_number: Some(format!("INC-{}", 100_000 + n)),
        subject: Some(format!(
            "Ticket {n}: printer on floor {} is jammed",
            r(3) % 9
        )),
        description: Some(format!("<p>Details of ticket {n}</p>")),
        status: Some(status.into()),
        priority: Some(priority.into()),
        priority_id: Some(priority_id),
        ticket_type: Some(
            if r(4) % 5 == 0 {
                "Service Request"
            } else {
                "Incident"
            }
            .into(),
        ),
        requester_name: Some(format!("Requester {}", r(5) % 400)),
        requester_email: Some(format!("user{}@example.com", r(5) % 400)),
        responder_external_id: (r(6) % 6 != 0).then(|| format!("{}", 900 + r(6) % 20)),
        group_external_id: Some(if r(7) % 5 == 0 { "PS" } else { "HD" }.into()),
        created_at: t(-TimeDelta::minutes((r(8) % (30 * 24 * 60)) as i64 + 60)),
        last_updated_at: t(-TimeDelta::minutes((r(9) % (8 * 24 * 60)) as i64)),
        fr_due_by: t(TimeDelta::minutes((r(10) % (3 * 24 * 60)) as i64 - 24 * 60)),
        due_by: t(TimeDelta::minutes((r(11) % (5 * 24 * 60)) as i64 - 24 * 60)),
        first_responded_at: (r(12) % 3 == 0).then(|| hivematrix::time::to_db(now)),
        ..TicketUpsert::default()
    }
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
    let load = Instant::now();
    for n in 0..args.tickets + args.closed {
        tickets::upsert_ticket(&db, &ticket(n, n >= args.tickets))
            .await
            .map_err(|e| anyhow::anyhow!("loading tickets: {e}"))?;
    }
    println!(
        "beacon-bench on {backend}: {} active + {} closed tickets loaded in {:.1} s",
        args.tickets,
        args.closed,
        load.elapsed().as_secs_f64()
    );
    let u = users::create(
        &db,
        users::NewUser {
            email: "bench@bench.local",
            name: "Benchmark",
            role: Role::Technician,
            company_id: None,
            password: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("bench user: {e}"))?;
    let (_, token) = tokens::create(&db, u.id, "beacon-bench", Some(1))
        .await
        .map_err(|e| anyhow::anyhow!("bench token: {e}"))?;
    let (_, display) = hivematrix::beacon::display::create(&db, "bench wall", "bench")
        .await
        .map_err(|e| anyhow::anyhow!("display token: {e}"))?;
    let (mut child, base) = start_server(&dir)?;
    let outcome = run(args, &db, &base, &token, &display, child.id()).await;
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

fn start_server(dir: &std::path::Path) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--internal-serve")
        .arg(dir)
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

/// The child's CPU time (user + system, all threads) in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').ok_or_else(|| anyhow::anyhow!("odd stat"))? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / hz)
}

/// Board `i` of the wall: what it polls and how it authenticates.
fn board(i: usize, display: &str) -> (String, bool) {
    match i % 10 {
        // TV displays with the display token.
        0 => (
            format!("/beacon/display/helpdesk/board?token={display}"),
            false,
        ),
        // Professional Services boards.
        1 | 2 => ("/beacon/professional-services/board".into(), true),
        // Boards filtered by one agent (ten different agents).
        3 => (
            format!("/beacon/helpdesk/board?agent={}", 900 + (i / 10) % 10),
            true,
        ),
        // The Codex JSON the original Beacon polled.
        4 => ("/codex/api/tickets/active".into(), true),
        // Helpdesk boards.
        _ => ("/beacon/helpdesk/board".into(), true),
    }
}

async fn get(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    (path, bearer): &(String, bool),
) -> anyhow::Result<usize> {
    let mut req = client.get(format!("{base}{path}"));
    if *bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await?;
    anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.status());
    Ok(resp.bytes().await?.len())
}

/// A ticket changes upstream (as a sync or webhook writes it): every board recomputes.
async fn touch(db: &Db, n: usize) -> anyhow::Result<()> {
    let mut t = ticket(n, false);
    t.last_updated_at = Some(hivematrix::time::now_db());
    t.subject = Some(format!(
        "Ticket {n} touched at {}",
        hivematrix::time::now_db()
    ));
    tickets::upsert_ticket(db, &t)
        .await
        .map_err(|e| anyhow::anyhow!("touch: {e}"))?;
    Ok(())
}

async fn run(
    args: &Args,
    db: &Db,
    base: &str,
    token: &str,
    display: &str,
    pid: u32,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().build()?;
    let boards: Vec<(String, bool)> = (0..args.boards).map(|i| board(i, display)).collect();
    let rate = args.boards as f64 / args.poll as f64;

    // Cold: the first board over the loaded tickets.
    let t0 = Instant::now();
    let bytes = get(&client, base, token, &boards[5 % boards.len()]).await?;
    let cold = t0.elapsed();
    let t0 = Instant::now();
    get(&client, base, token, &boards[5 % boards.len()]).await?;
    let warm = t0.elapsed();
    println!(
        "cold board (compute + render, {} tickets): {:.0} ms, {} KiB; warm (cached): {:.1} ms",
        args.tickets,
        cold.as_secs_f64() * 1000.0,
        bytes / 1024,
        warm.as_secs_f64() * 1000.0
    );
    for b in &boards {
        get(&client, base, token, b).await?;
    }

    // 1. Real time: each board at its own phase, a ticket change every poll interval.
    let start = Instant::now();
    let cpu0 = cpu_seconds(pid)?;
    let window = Duration::from_secs(args.window);
    let poll = Duration::from_secs(args.poll);
    let mut tasks = Vec::new();
    for (i, b) in boards.iter().cloned().enumerate() {
        let (client, base, token) = (client.clone(), base.to_string(), token.to_string());
        let phase = poll.mul_f64(i as f64 / args.boards as f64);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            let mut at = phase;
            while at < window {
                tokio::time::sleep_until((start + at).into()).await;
                get(&client, &base, &token, &b).await?;
                n += 1;
                at += poll;
            }
            anyhow::Ok(n)
        }));
    }
    let mut changes = 0;
    let mut at = poll / 2;
    while at < window {
        tokio::time::sleep_until((start + at).into()).await;
        touch(db, changes).await?;
        changes += 1;
        at += poll;
    }
    let mut served = 0;
    for t in tasks {
        served += t.await??;
    }
    tokio::time::sleep_until((start + window).into()).await;
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu0;
    println!(
        "real time: {} boards polling every {} s for {wall:.0} s ({served} requests, {:.2}/s, {changes} ticket changes): \
         server CPU {cpu:.2} s = {:.2} % of one core (target < 10 %)",
        args.boards,
        args.poll,
        served as f64 / wall,
        cpu / wall * 100.0
    );

    // 2. Back to back: CPU per request of the same mix, with a ticket change per
    //    `boards` requests (one poll round), scaled to the boards' request rate.
    let computed0 = Instant::now();
    let cpu0 = cpu_seconds(pid)?;
    let mut latencies = Vec::with_capacity(args.requests);
    for i in 0..args.requests {
        if i % args.boards == 0 {
            touch(db, 1000 + i).await?;
        }
        let t = Instant::now();
        get(&client, base, token, &boards[i % boards.len()]).await?;
        latencies.push(t.elapsed());
    }
    let cpu = cpu_seconds(pid)? - cpu0;
    let elapsed = computed0.elapsed().as_secs_f64();
    latencies.sort();
    let pct =
        |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0;
    let per_request = cpu / args.requests as f64;
    println!(
        "back to back: {} requests in {elapsed:.1} s, p50 {:.1} ms, p99 {:.1} ms; server CPU {:.2} ms/request \
         × {rate:.2} requests/s = {:.2} % of one core (target < 10 %)",
        args.requests,
        pct(0.5),
        pct(0.99),
        per_request * 1000.0,
        per_request * rate * 100.0
    );
    Ok(())
}
