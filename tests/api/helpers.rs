//! Test harness: every test starts the real application on a random port with its own
//! fresh database (a temp SQLite file, or a new PostgreSQL database when
//! `TEST_DATABASE_URL` is set) and talks HTTP to it.

use hivematrix::auth::{tokens, users, Role};
use hivematrix::{AppState, Db, Settings};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub db: Db,
    /// The app's sync service: tests plug vendor clients into its engine.
    pub sync: std::sync::Arc<hivematrix::sync::SyncService>,
    /// The app's Beacon board cache (tests count its computations).
    pub beacon: std::sync::Arc<hivematrix::beacon::feed::BoardCache>,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Runs `body` against a fresh app on the backend; PostgreSQL tests are skipped, loudly,
/// when `TEST_DATABASE_URL` is unset.
pub async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings {
        data_dir: dir.path().join("data"),
        ..Settings::default()
    };
    settings.rate_limit.per_minute = 0;
    if backend == Backend::Postgres {
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            eprintln!("\n*** SKIPPED: PostgreSQL test (set TEST_DATABASE_URL to run it) ***\n");
            return None;
        };
        settings.database_url = Some(fresh_pg_database(&url).await);
    }
    tweak(&mut settings);
    let db = Db::connect(&settings).await.expect("connect");
    db.migrate().await.expect("migrate");
    let state = AppState::new(db.clone(), settings);
    let sync = state.sync.clone();
    let beacon = state.beacon.clone();
    let app = hivematrix::build_app(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Some(TestApp {
        base: format!("http://{addr}"),
        db,
        sync,
        beacon,
        client,
        _dir: dir,
    })
}

async fn fresh_pg_database(admin_url: &str) -> String {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let name = format!(
        "hm_t_{}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst),
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

/// A user of the given role with an API token.
pub struct Caller {
    pub user_id: i64,
    pub email: String,
    pub token: String,
}

impl TestApp {
    /// Starts the app's sync worker (off by default, so job tests drive the lifecycle
    /// by hand without a worker claiming their jobs).
    pub fn start_sync_worker(&self) {
        self.sync.spawn_worker(self.db.clone());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates a user with `role` (client users belong to `company_id`) and a token.
    pub async fn caller(&self, role: Role, company_id: Option<i64>) -> Caller {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let email = format!("{}{n}@test.example", role.as_str());
        let u = users::create(
            &self.db,
            users::NewUser {
                email: &email,
                name: &format!("Test {role}"),
                role,
                company_id,
                password: Some("correct horse battery"),
            },
        )
        .await
        .expect("create user");
        let (_, token) = tokens::create(&self.db, u.id, "test", None)
            .await
            .expect("token");
        Caller {
            user_id: u.id,
            email,
            token,
        }
    }

    pub async fn admin(&self) -> Caller {
        self.caller(Role::Admin, None).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: Option<&Caller>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(w) = who {
            req = req.bearer_auth(&w.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn get(&self, path: &str, who: &Caller) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(who), None).await
    }

    pub async fn post(&self, path: &str, who: &Caller, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(who), Some(body)).await
    }

    pub async fn put(&self, path: &str, who: &Caller, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(who), Some(body)).await
    }

    pub async fn delete(&self, path: &str, who: &Caller) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(who), None).await
    }

    /// Creates a company through the API and returns it.
    /// Polls a sync job until it has finished (up to a minute) and returns it.
    pub async fn wait_job(&self, who: &Caller, id: i64) -> Value {
        for _ in 0..1200 {
            let (_, job) = self.get(&format!("/codex/admin/sync-jobs/{id}"), who).await;
            if job["finished_at"].is_string() {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish");
    }

    /// Starts a sync over HTTP (`POST path`) and waits for its job to finish.
    pub async fn sync_and_wait(&self, who: &Caller, path: &str, body: Value) -> Value {
        let (s, b) = self.post(path, who, body).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{path}: {b}");
        self.wait_job(who, b["job_id"].as_i64().unwrap()).await
    }

    pub async fn company(&self, who: &Caller, account: &str, name: &str) -> Value {
        let (s, c) = self
            .post(
                "/codex/api/companies",
                who,
                serde_json::json!({"account_number": account, "name": name}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        c
    }
}

/// Asserts an RFC 7807 problem with `status`.
pub fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "body: {body}");
    assert_eq!(body["status"], expected.as_u16(), "problem body: {body}");
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "problem body: {body}"
    );
}

/// Declares one test per backend: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(backend: $crate::helpers::Backend) {
                let Some($app) = $crate::helpers::spawn(backend).await else {
                    return;
                };
                $body
            }
            #[tokio::test]
            async fn sqlite() {
                run($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                run($crate::helpers::Backend::Postgres).await
            }
        }
    };
}
