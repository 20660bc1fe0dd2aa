//! The command line as an operator uses it: the real `hivematrix` binary, a fresh data
//! directory, passwords on standard input, and `serve` answering the tokens that
//! `token create` printed. Each test runs on SQLite and, with `TEST_DATABASE_URL`, on
//! PostgreSQL (same binary, `DATABASE_URL` set).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// One operator environment: a data directory and, for PostgreSQL, a fresh database.
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

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hivematrix"));
        c.arg("--data-dir").arg(self.data_dir()).args(args);
        c.env_remove("DATABASE_URL")
            .env_remove("HIVEMATRIX_DATA_DIR")
            .env("HIVEMATRIX_LOG", "warn");
        if let Some(url) = &self.database_url {
            c.env("DATABASE_URL", url);
        }
        c
    }

    /// Runs a subcommand with `stdin` as standard input.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hivematrix");
        // A command that fails on its arguments exits before reading: a broken pipe
        // here is expected, and the exit status below tells the story.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "hivematrix {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(!out.status.success(), "hivematrix {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }
}

/// A `serve` child process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(env: &Env) -> Server {
    serve_with(env, &[]).await
}

async fn serve_with(env: &Env, extra: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = env
        .command(
            &[
                &["serve", "--listen", &format!("127.0.0.1:{port}")][..],
                extra,
            ]
            .concat(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..600 {
        if let Ok(r) = reqwest::get(format!("{}/livez", server.base)).await {
            if r.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve did not come up on {}", server.base);
}

async fn me_status(server: &Server, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/me", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn fresh_pg_database(admin_url: &str) -> String {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let name = format!(
        "hm_t_cli_{}_{}",
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

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
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

both!(
    accounts_and_tokens_from_the_command_line_work_against_serve,
    |env| {
        let out = env.ok(&["migrate"], "");
        assert!(out.contains("up to date"), "{out}");
        if env.database_url.is_none() {
            let dir = env.data_dir();
            assert_eq!(mode(&dir), 0o700, "data directory is owner-only");
            let db = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|x| x == "db" || x == "sqlite"))
                .expect("SQLite file in the data directory");
            assert_eq!(mode(&db), 0o600, "database file is owner-only");
        }

        let out = env.ok(
            &[
                "user",
                "add",
                "--email",
                "ana@msp.example",
                "--name",
                "Ana",
                "--role",
                "admin",
                "--password-stdin",
            ],
            "a long password\n",
        );
        assert!(out.contains("ana@msp.example"), "{out}");
        let list = env.ok(&["user", "list"], "");
        assert!(
            list.contains("ana@msp.example") && list.contains("admin"),
            "{list}"
        );

        let out = env.ok(
            &[
                "token",
                "create",
                "--email",
                "ana@msp.example",
                "--name",
                "script",
            ],
            "",
        );
        let token = out.lines().last().unwrap().trim().to_string();
        assert!(token.starts_with("hm_"), "token is the last line: {out}");
        let tokens = env.ok(&["token", "list"], "");
        assert!(
            tokens.contains("script") && !tokens.contains(&token),
            "{tokens}"
        );
        let token_id = tokens
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_string();

        let server = serve(&env).await;
        assert_eq!(me_status(&server, &token).await, 200);
        assert_eq!(me_status(&server, "hm_not-a-real-token").await, 401);

        // Disabling the user stops the token at once; enabling brings it back.
        env.ok(&["user", "disable", "--email", "ana@msp.example"], "");
        assert_eq!(me_status(&server, &token).await, 401);
        env.ok(&["user", "enable", "--email", "ana@msp.example"], "");
        assert_eq!(me_status(&server, &token).await, 200);

        env.ok(&["token", "revoke", &token_id], "");
        assert_eq!(me_status(&server, &token).await, 401);
    }
);

both!(
    bad_input_is_refused_with_a_clear_message_and_changes_nothing,
    |env| {
        let err = env.fails(
            &[
                "user",
                "add",
                "--email",
                "x@msp.example",
                "--name",
                "X",
                "--role",
                "wizard",
                "--password-stdin",
            ],
            "pw pw pw pw pw\n",
        );
        assert!(err.contains("role must be"), "{err}");
        let err = env.fails(
            &[
                "user",
                "add",
                "--email",
                "not-an-email",
                "--name",
                "X",
                "--role",
                "technician",
                "--password-stdin",
            ],
            "a long password\n",
        );
        assert!(err.contains("email"), "{err}");
        let err = env.fails(
            &[
                "user",
                "add",
                "--email",
                "c@msp.example",
                "--name",
                "C",
                "--role",
                "client",
                "--company",
                "999999",
                "--password-stdin",
            ],
            "a long password\n",
        );
        assert!(err.contains("999999"), "{err}");
        let err = env.fails(
            &[
                "user",
                "add",
                "--email",
                "y@msp.example",
                "--name",
                "Y",
                "--role",
                "billing",
                "--password-stdin",
            ],
            "",
        );
        assert!(err.contains("password"), "{err}");
        let err = env.fails(
            &[
                "token",
                "create",
                "--email",
                "nobody@msp.example",
                "--name",
                "t",
            ],
            "",
        );
        assert!(err.contains("nobody@msp.example"), "{err}");
        let list = env.ok(&["user", "list"], "");
        assert_eq!(list.lines().count(), 1, "only the header: {list}");

        env.ok(
            &[
                "user",
                "add",
                "--email",
                "dup@msp.example",
                "--name",
                "D",
                "--role",
                "billing",
                "--password-stdin",
            ],
            "a long password\n",
        );
        let err = env.fails(
            &[
                "user",
                "add",
                "--email",
                "DUP@msp.example",
                "--name",
                "D2",
                "--role",
                "admin",
                "--password-stdin",
            ],
            "a long password\n",
        );
        assert!(err.contains("exists") || err.contains("already"), "{err}");
        let list = env.ok(&["user", "list"], "");
        assert_eq!(list.lines().count(), 2, "{list}");
    }
);

both!(serve_demo_syncs_a_live_estate_from_its_simulators, |env| {
    let server = serve_with(&env, &["--demo"]).await;
    let out = env.ok(
        &[
            "token",
            "create",
            "--email",
            "admin@demo.local",
            "--name",
            "t",
        ],
        "",
    );
    let token = out.lines().last().unwrap().trim().to_string();
    let client = reqwest::Client::new();
    let get = |path: String| {
        let req = client
            .get(format!("{}{path}", server.base))
            .bearer_auth(&token);
        async move {
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    // The base, ticket and RMM syncs are queued at start and run one after another.
    let mut done = Vec::new();
    // Seconds on an idle machine; generous for a loaded CI box.
    for _ in 0..1500 {
        let jobs = get("/codex/admin/sync-jobs".into()).await;
        let list = jobs["jobs"]
            .as_array()
            .or(jobs.as_array())
            .cloned()
            .unwrap_or_default();
        done = list
            .iter()
            .filter(|j| j["finished_at"].is_string())
            .map(|j| {
                (
                    j["kind"].as_str().unwrap().to_string(),
                    j["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if ["base", "tickets", "rmm"]
            .iter()
            .all(|k| done.iter().any(|(d, _)| d == k))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for kind in ["base", "tickets", "rmm"] {
        assert!(
            done.iter().any(|(k, s)| k == kind && s == "completed"),
            "{kind} sync did not complete: {done:?}"
        );
    }
    // What a new user then sees: companies, tickets on the board, devices, plans.
    let companies = get("/codex/api/companies?limit=100".into()).await;
    let n = companies["companies"]
        .as_array()
        .or(companies.as_array())
        .map(|a| a.len())
        .unwrap_or(0);
    assert!(n >= 30, "companies: {companies}");
    let board = get("/codex/api/tickets/active".into()).await;
    assert!(board["total_active"].as_u64().unwrap() > 0, "{board}");
    let assets = get("/codex/api/assets?limit=10".into()).await;
    assert!(!assets.as_array().unwrap().is_empty(), "{assets}");
    let plans = get("/codex/api/billing-plans".into()).await;
    assert!(plans.to_string().contains("Essential"), "{plans}");
    drop(server);

    // A restart with --demo syncs again (incrementally) instead of refusing its own data.
    let _again = serve_with(&env, &["--demo"]).await;
});

#[tokio::test]
async fn serve_demo_refuses_a_database_with_other_companies() {
    let env = Env::new(false).await.unwrap();
    env.ok(
        &[
            "demo-data",
            "--companies",
            "3",
            "--contacts",
            "5",
            "--assets",
            "5",
            "--tickets",
            "5",
        ],
        "",
    );
    let err = env.fails(&["serve", "--demo", "--listen", "127.0.0.1:0"], "");
    assert!(err.contains("empty data directory"), "{err}");
}
