//! `hivematrix sync …` as an operator runs it: the real binary against `hivematrix sim`
//! in another process, configured by a `hivematrix.toml`; the summary lines, the exit
//! code, and what `serve` then answers. Each test runs on SQLite and, with
//! `TEST_DATABASE_URL`, on PostgreSQL.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One operator environment: a data directory, a config file, maybe a PostgreSQL database.
struct Env {
    dir: tempfile::TempDir,
    database_url: Option<String>,
}

impl Env {
    async fn new(postgres: bool) -> Option<Env> {
        let database_url = if postgres {
            let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
                eprintln!("\n*** SKIPPED: PostgreSQL test (set TEST_DATABASE_URL to run it) ***\n");
                return None;
            };
            Some(fresh_pg_database(&admin).await)
        } else {
            None
        };
        Some(Env {
            dir: tempfile::tempdir().unwrap(),
            database_url,
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("hivematrix.toml")
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hivematrix"));
        c.arg("--data-dir")
            .arg(self.data_dir())
            .arg("--config")
            .arg(self.config())
            .args(args);
        c.env_remove("DATABASE_URL")
            .env_remove("HIVEMATRIX_DATA_DIR")
            .env_remove("HIVEMATRIX_CONFIG")
            .env_remove("HIVEMATRIX_LOG");
        if let Some(url) = &self.database_url {
            c.env("DATABASE_URL", url);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run hivematrix")
    }

    /// Runs a command that must succeed; returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "hivematrix {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail; returns (stdout, stderr).
    fn fails(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let (o, e) = (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        );
        assert!(
            !out.status.success(),
            "hivematrix {args:?} should fail:\n{o}\n{e}"
        );
        assert_eq!(out.status.code(), Some(1), "{e}");
        (o, e)
    }

    /// The same database as the commands, from the library.
    async fn db(&self) -> hivematrix::Db {
        let settings = hivematrix::Settings {
            data_dir: self.data_dir(),
            database_url: self.database_url.clone(),
            ..hivematrix::Settings::default()
        };
        hivematrix::Db::connect(&settings).await.unwrap()
    }
}

async fn fresh_pg_database(admin_url: &str) -> String {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let name = format!(
        "hm_t_clisync_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000_000
    );
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create database");
    let (base, query) = admin_url
        .split_once('?')
        .map(|(b, q)| (b, Some(q)))
        .unwrap_or((admin_url, None));
    let prefix = &base[..base.rfind('/').expect("database url has a path")];
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `hivematrix sim` in its own process, and the `hivematrix.toml` its banner describes.
struct SimProc {
    _child: Proc,
    /// Held open: the simulator may print more.
    _stdout: BufReader<ChildStdout>,
    base: String,
    toml: String,
    /// `[psa.superops]` and `[rmm.superops]` for the same simulator.
    superops_toml: String,
}

fn start_sim() -> SimProc {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hivematrix"))
        .args(["sim", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--seed", "3", "--companies", "5", "--contacts", "25"])
        .args(["--agents", "3", "--tickets", "24", "--devices", "30"])
        .args(["--scale-limits", "100"])
        .env("HIVEMATRIX_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hivematrix sim");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let child = Proc(child);
    let mut banner = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        banner.push(line);
    }
    // `  freshservice: url = "…", api_key = "…" (…)` is already TOML, less the label.
    let setting = |vendor: &str| {
        let line = banner
            .iter()
            .find(|l| l.trim_start().starts_with(vendor))
            .unwrap_or_else(|| panic!("no {vendor} line in {banner:?}"));
        let (_, rest) = line.split_once(':').unwrap();
        let rest = rest.rsplit_once(" (").unwrap().0;
        rest.replace(", ", "\n")
    };
    let toml = format!(
        "[psa.freshservice]\n{}\nper_minute = 20000\n\n[rmm.datto]\n{}\nper_minute = 20000\n",
        setting("freshservice"),
        setting("datto")
    );
    let so = setting("superops");
    let superops_toml = format!(
        "[psa.superops]\n{so}\nper_minute = 20000\ncustom_fields = \"udf2select=plan_selected, udf3select=contract_term\"\n\n[rmm.superops]\n{so}\nper_minute = 20000\n"
    );
    SimProc {
        _child: child,
        _stdout: stdout,
        base: format!("http://127.0.0.1:{port}"),
        toml,
        superops_toml,
    }
}

/// `name: 3 created, …` of a summary, as numbers by label.
fn figures(summary: &str, collection: &str) -> std::collections::HashMap<String, u64> {
    let line = summary
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{collection}:")))
        .unwrap_or_else(|| panic!("no {collection} line in:\n{summary}"));
    line.split_once(':')
        .unwrap()
        .1
        .split(',')
        .map(|part| {
            let (n, label) = part.trim().split_once(' ').unwrap();
            (label.to_string(), n.parse().unwrap())
        })
        .collect()
}

/// A `serve` child on a free port, and an admin token made by the command line.
struct Served {
    _child: Proc,
    base: String,
    token: String,
}

async fn serve(env: &Env) -> Served {
    let run_with_stdin = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut c = env
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    run_with_stdin(
        &[
            "user",
            "add",
            "--email",
            "ops@msp.example",
            "--name",
            "Ops",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "a long password\n",
    );
    let out = run_with_stdin(
        &[
            "token",
            "create",
            "--email",
            "ops@msp.example",
            "--name",
            "t",
        ],
        "",
    );
    let token = out.lines().last().unwrap().trim().to_string();
    let port = free_port();
    let child = Proc(
        env.command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{base}/livez"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Served {
                _child: child,
                base,
                token,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve did not come up");
}

impl Served {
    /// `X-Total-Count` of a list endpoint.
    async fn total(&self, path: &str) -> u64 {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.headers()["x-total-count"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

async fn job_statuses(env: &Env) -> Vec<(String, String, String)> {
    sqlx::query_as::<_, (String, String, String)>(
        "SELECT kind, triggered_by, status FROM sync_jobs ORDER BY id",
    )
    .fetch_all(&env.db().await.pool)
    .await
    .unwrap()
}

macro_rules! both {
    ($name:ident, |$env:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn run(postgres: bool) {
                let Some($env) = Env::new(postgres).await else {
                    return;
                };
                $body
            }
            #[tokio::test]
            async fn sqlite() {
                run(false).await
            }
            #[tokio::test]
            async fn postgres() {
                run(true).await
            }
        }
    };
}

both!(psa_and_rmm_syncs_run_from_the_command_line, |env| {
    let sim = start_sim();
    env.write_config(&sim.toml);

    let out = env.ok(&["sync", "psa", "--provider", "freshservice", "--type", "all"]);
    assert!(out.contains("freshservice base: completed in"), "{out}");
    assert!(out.contains("freshservice tickets: completed in"), "{out}");
    let companies = figures(&out, "companies");
    let tickets = figures(&out, "tickets");
    let contacts = figures(&out, "contacts");
    assert!(companies["created"] > 0 && tickets["created"] > 0, "{out}");
    assert!(contacts["created"] > 0, "{out}");
    assert_eq!(tickets["failed"], 0, "{out}");
    assert!(out.contains("requests: "), "{out}");

    // The same base sync again changes nothing (head and prime user names were filled
    // in after the contacts during the first run).
    let again = env.ok(&[
        "sync",
        "psa",
        "--provider",
        "FreshService",
        "--type",
        "base",
    ]);
    let c = figures(&again, "companies");
    assert_eq!(
        (c["created"], c["updated"], c["unchanged"]),
        (0, 0, companies["created"]),
        "{again}"
    );

    let out = env.ok(&["sync", "rmm", "--provider", "datto"]);
    assert!(out.contains("datto rmm: completed in"), "{out}");
    let devices = figures(&out, "devices");
    assert!(devices["created"] > 0, "{out}");

    let out = env.ok(&["sync", "push-account-numbers", "--provider", "datto"]);
    assert!(
        out.contains("datto push_account_numbers: completed"),
        "{out}"
    );

    let jobs = job_statuses(&env).await;
    assert_eq!(jobs.len(), 5, "{jobs:?}");
    assert!(
        jobs.iter()
            .all(|(_, by, status)| by == "cli" && status == "completed"),
        "{jobs:?}"
    );

    // What `serve` answers is what the summaries counted.
    let served = serve(&env).await;
    assert_eq!(
        served.total("/codex/api/companies?limit=1").await,
        companies["created"]
    );
    assert_eq!(
        served.total("/codex/api/assets?limit=1").await,
        devices["created"]
    );
});

both!(a_refused_key_fails_with_a_clear_message, |env| {
    let sim = start_sim();
    env.write_config(&sim.toml.replace("sim-freshservice-key", "not-the-key"));
    let (out, err) = env.fails(&[
        "sync",
        "psa",
        "--provider",
        "freshservice",
        "--type",
        "base",
    ]);
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(err.contains("freshservice base sync failed"), "{err}");
    assert!(
        !err.contains("not-the-key"),
        "the key is never shown: {err}"
    );
    assert!(out.contains("freshservice base: failed"), "{out}");
    assert_eq!(
        job_statuses(&env).await,
        vec![("base".into(), "cli".into(), "failed".into())]
    );

    let (_, err) = env.fails(&["sync", "rmm", "--provider", "superops"]);
    assert!(err.contains("superops is not configured"), "{err}");
    assert!(err.contains("configured: datto"), "{err}");
    let out = env.run(&[
        "sync",
        "psa",
        "--provider",
        "freshservice",
        "--type",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--type"));
});

both!(a_sync_another_node_runs_is_refused, |env| {
    let sim = start_sim();
    env.write_config(&sim.toml);
    env.ok(&["migrate"]);
    let db = env.db().await;
    // Another node's live lock on Freshservice's base sync.
    sqlx::query(
        "INSERT INTO sync_locks (provider, kind, job_id, node_id, heartbeat_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind("freshservice")
    .bind("base")
    .bind(4242_i64)
    .bind("node-b")
    .bind(hivematrix::time::now_db())
    .execute(&db.pool)
    .await
    .unwrap();
    let (_, err) = env.fails(&[
        "sync",
        "psa",
        "--provider",
        "freshservice",
        "--type",
        "base",
    ]);
    assert!(
        err.contains("already running") && err.contains("job 4242") && err.contains("node-b"),
        "{err}"
    );
    // Its own queued job was withdrawn, so nothing runs later by surprise.
    assert_eq!(
        job_statuses(&env).await,
        vec![("base".into(), "cli".into(), "cancelled".into())]
    );
    // The other kinds are not locked.
    env.ok(&["sync", "rmm", "--provider", "datto"]);
});

both!(ctrl_c_cancels_the_job_cleanly, |env| {
    let sim = start_sim();
    env.write_config(&sim.toml);
    env.ok(&["migrate"]);
    // Every simulator answer takes a while, so the sync is still running when we interrupt.
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/faults", sim.base))
        .json(&serde_json::json!({"slow_rate": 1.0, "slow_ms": 1500}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let child = env
        .command(&["sync", "psa", "--provider", "freshservice", "--type", "all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !job_statuses(&env)
        .await
        .iter()
        .any(|(_, _, s)| s == "running")
    {
        assert!(Instant::now() < deadline, "the job never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cancelled (job 1)"), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("freshservice base: cancelled"),
        "{out:?}"
    );
    // Cancelled, lock freed, and `all` did not go on to the tickets.
    assert_eq!(
        job_statuses(&env).await,
        vec![("base".into(), "cli".into(), "cancelled".into())]
    );
    let locks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_locks")
        .fetch_one(&env.db().await.pool)
        .await
        .unwrap();
    assert_eq!(locks, 0);
});

both!(
    a_sync_killed_mid_way_resumes_on_the_next_run_and_converges,
    |env| {
        let sim = start_sim();
        env.write_config(&sim.toml);
        env.ok(&[
            "sync",
            "psa",
            "--provider",
            "freshservice",
            "--type",
            "base",
        ]);
        // Slow answers, so the ticket sync is still writing when it is killed.
        let faults = |body: serde_json::Value| {
            let url = format!("{}/_sim/faults", sim.base);
            async move {
                let r = reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.status());
            }
        };
        faults(serde_json::json!({"slow_rate": 1.0, "slow_ms": 700})).await;
        let mut child = env
            .command(&[
                "sync",
                "psa",
                "--provider",
                "freshservice",
                "--type",
                "tickets",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
                .fetch_one(&env.db().await.pool)
                .await
                .unwrap();
            if written > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "no ticket was written");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // SIGKILL: no chance to record anything; the job row still says running.
        child.kill().unwrap();
        child.wait().unwrap();
        faults(serde_json::json!({})).await;

        // The next run takes the dead process's lock at once, marks its job interrupted
        // and finishes the work.
        let out = env.ok(&[
            "sync",
            "psa",
            "--provider",
            "freshservice",
            "--type",
            "tickets",
        ]);
        assert!(out.contains("freshservice tickets: completed"), "{out}");
        let jobs = job_statuses(&env).await;
        let tickets: Vec<_> = jobs.iter().filter(|(k, _, _)| k == "tickets").collect();
        assert_eq!(tickets.len(), 2, "{jobs:?}");
        assert_eq!(tickets[0].2, "failed", "{jobs:?}");
        assert_eq!(tickets[1].2, "completed", "{jobs:?}");
        let error: String = sqlx::query_scalar(
            "SELECT error FROM sync_jobs WHERE kind = 'tickets' ORDER BY id LIMIT 1",
        )
        .fetch_one(&env.db().await.pool)
        .await
        .unwrap();
        assert!(error.contains("interrupted"), "{error}");

        // Converged: re-reading everything finds nothing to change.
        let out = env.ok(&[
            "sync",
            "psa",
            "--provider",
            "freshservice",
            "--type",
            "tickets",
            "--full",
        ]);
        let t = figures(&out, "tickets");
        assert_eq!(
            (t["created"], t["updated"], t["failed"]),
            (0, 0, 0),
            "{out}"
        );
        assert!(t["unchanged"] > 0, "{out}");
    }
);

both!(superops_psa_and_rmm_sync_from_the_command_line, |env| {
    let sim = start_sim();
    env.write_config(&sim.superops_toml);
    let out = env.ok(&["sync", "psa", "--provider", "superops", "--type", "all"]);
    assert!(out.contains("superops base: completed in"), "{out}");
    assert!(out.contains("superops tickets: completed in"), "{out}");
    let companies = figures(&out, "companies");
    let tickets = figures(&out, "tickets");
    assert!(companies["created"] > 0 && tickets["created"] > 0, "{out}");
    assert_eq!(tickets["failed"], 0, "{out}");
    let again = env.ok(&["sync", "psa", "--provider", "superops", "--type", "tickets"]);
    let t = figures(&again, "tickets");
    assert_eq!((t["created"], t["updated"]), (0, 0), "{again}");
    let out = env.ok(&["sync", "rmm", "--provider", "superops"]);
    assert!(out.contains("superops rmm: completed in"), "{out}");
    assert!(figures(&out, "devices")["created"] > 0, "{out}");
    let out = env.ok(&["sync", "push-account-numbers", "--provider", "superops"]);
    assert!(
        out.contains("superops push_account_numbers: completed"),
        "{out}"
    );
    assert_eq!(figures(&out, "site_variables")["created"], 0, "{out}");
    let jobs = job_statuses(&env).await;
    assert_eq!(jobs.len(), 5, "{jobs:?}");
    assert!(
        jobs.iter().all(|(_, _, status)| status == "completed"),
        "{jobs:?}"
    );
});
