//! The Datto RMM client against its simulator: what the client yields must equal the
//! simulator's dataset field by field, with the fewest requests, under the budget, and
//! through faults, expired tokens and IP blocks. No app or database is involved.

use hivematrix::sim::dataset::{Dataset, SimDevice, SimSite, SimVariable};
use hivematrix::sim::datto as dsim;
use hivematrix::sim::{DatasetSize, Faults, Sim, SimConfig, SimLimits};
use hivematrix::sync::datto::{self as datto, DattoClient, DattoConfig, DeviceFilter};
use hivematrix::sync::http::{ApiClient, RetryPolicy};
use hivematrix::sync::provider::{
    Cursor, Page, ProviderError, ProviderResult, RmmDevice, RmmProvider, RmmSite,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SITES: &str = "GET /api/v2/account/sites";
const SITE_DEVICES: &str = "GET /api/v2/site/{uid}/devices";
const ACCOUNT_DEVICES: &str = "GET /api/v2/account/devices";
const VARIABLES: &str = "GET /api/v2/site/{uid}/variables";
const CREATE: &str = "PUT /api/v2/site/{uid}/variable";
const UPDATE: &str = "POST /api/v2/site/{uid}/variable/{id}";
const TOKEN: &str = "POST /auth/oauth/token";

struct Env {
    sim: Arc<Sim>,
    base: String,
    limit: u32,
    window: Duration,
}

/// A simulator with 4 companies (6 sites) and `devices` devices, allowing `limit`
/// reads per `window`.
async fn start(devices: usize, limit: u32, window: Duration) -> Env {
    let sim = Sim::new(SimConfig {
        seed: 3,
        size: DatasetSize {
            companies: 4,
            contacts: 8,
            agents: 2,
            tickets: 0,
            devices,
        },
        limits: SimLimits {
            datto_per_minute: limit,
            window,
            ..SimLimits::default()
        },
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Env {
        sim,
        base: format!("http://{addr}/datto"),
        limit,
        window,
    }
}

async fn roomy(devices: usize) -> Env {
    start(devices, 10_000, Duration::from_secs(2)).await
}

impl Env {
    fn config(&self) -> DattoConfig {
        let creds = &self.sim.config.credentials;
        DattoConfig {
            url: self.base.clone(),
            api_key: creds.datto_api_key.clone(),
            api_secret: creds.datto_api_secret.clone(),
            per_minute: self.limit,
            ..DattoConfig::default()
        }
    }

    fn client_with(&self, cfg: DattoConfig) -> DattoClient {
        let policy = RetryPolicy {
            max_attempts: 20,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            max_elapsed: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let budget = Arc::new(datto::budget(cfg.per_minute, self.window));
        DattoClient::with_api(cfg, ApiClient::new("datto", budget, policy)).unwrap()
    }

    fn client(&self) -> DattoClient {
        self.client_with(self.config())
    }

    fn hits(&self, route: &str) -> u64 {
        self.sim.stats.route(&format!("datto {route}"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Every page of a listing.
async fn drain<T, F, Fut>(mut page: F) -> ProviderResult<Vec<T>>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: Future<Output = ProviderResult<Page<T>>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let p = page(cursor).await?;
        all.extend(p.items);
        match p.next {
            Some(n) => cursor = Some(n),
            None => return Ok(all),
        }
    }
}

fn expected_site(s: &SimSite) -> RmmSite {
    RmmSite {
        uid: s.uid.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        portal_url: Some(dsim::site_portal_url(s)),
    }
}

fn expected_device(d: &SimDevice, data: &Dataset) -> RmmDevice {
    let site = data.sites.iter().find(|s| s.uid == d.site_uid).unwrap();
    RmmDevice {
        uid: d.uid.clone(),
        site_uid: d.site_uid.clone(),
        site_name: Some(site.name.clone()),
        hostname: d.hostname.clone(),
        description: d.description.clone(),
        category: Some(d.category.clone()),
        device_type: Some(d.device_type.clone()),
        operating_system: Some(d.operating_system.clone()),
        manufacturer: None,
        model: None,
        serial_number: None,
        int_ip_address: Some(d.int_ip_address.clone()),
        ext_ip_address: Some(d.ext_ip_address.clone()),
        domain: d.domain.clone(),
        last_logged_in_user: d.last_logged_in_user.clone(),
        online: d.online,
        last_seen: Some(d.last_seen),
        last_reboot: Some(d.last_reboot),
        last_audit_date: Some(d.last_audit_date),
        antivirus_product: d.antivirus_product.clone(),
        antivirus_status: d.antivirus_status.clone(),
        patch_status: Some(d.patch_status.clone()),
        portal_url: Some(dsim::device_portal_url(d)),
        web_remote_url: Some(dsim::device_web_remote_url(d)),
        warranty_date: d.warranty_date.clone(),
        udfs: d.udfs.clone(),
    }
}

fn expected_site_devices(data: &Dataset, uid: &str) -> Vec<RmmDevice> {
    data.devices
        .iter()
        .filter(|d| d.site_uid == uid && !d.deleted)
        .map(|d| expected_device(d, data))
        .collect()
}

fn pages(n: usize) -> u64 {
    n.div_ceil(250).max(1) as u64
}

fn account_variable(s: &SimSite) -> Option<&SimVariable> {
    s.variables.iter().find(|v| v.name == "AccountNumber")
}

/// Lists every site, every site's devices and account number, and checks each against
/// the dataset; returns the device count per site.
async fn assert_listing_is_exact(env: &Env, c: &DattoClient) -> Vec<usize> {
    let sites = drain(|cur| c.sites(cur)).await.unwrap();
    let (want_sites, data) = {
        let data = env.sim.data().clone();
        (
            data.sites.iter().map(expected_site).collect::<Vec<_>>(),
            data,
        )
    };
    assert_eq!(sites, want_sites);
    let mut counts = Vec::new();
    for s in &data.sites {
        let got = drain(|cur| c.site_devices(&s.uid, cur)).await.unwrap();
        let want = expected_site_devices(&data, &s.uid);
        assert_eq!(got.len(), want.len(), "site {}", s.name);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w);
        }
        counts.push(want.len());
        let acct = c.site_account_number(&s.uid).await.unwrap();
        assert_eq!(acct, account_variable(s).map(|v| v.value.clone()));
    }
    counts
}

#[tokio::test]
async fn full_listing_equals_the_dataset_with_the_fewest_requests() {
    let env = roomy(1600).await;
    {
        let mut data = env.sim.data();
        data.devices[1].deleted = true;
        data.devices[2]
            .udfs
            .insert("udf300".into(), "the last one".into());
        assert!(data.devices.iter().any(|d| d.udfs.contains_key("udf150")));
    }
    let c = env.client();
    let counts = assert_listing_is_exact(&env, &c).await;
    assert!(counts.iter().any(|n| *n > 250), "some site spans pages");
    let sites = counts.len() as u64;

    assert_eq!(env.hits(SITES), pages(counts.len()));
    assert_eq!(
        env.hits(SITE_DEVICES),
        counts.iter().map(|n| pages(*n)).sum::<u64>()
    );
    assert_eq!(env.hits(VARIABLES), sites);
    assert_eq!(env.hits(TOKEN), 1, "one token for the whole run");
    let s = c.stats();
    assert_eq!(s.retries, 0);
    assert_eq!(s.requests, env.sim.stats.requests.load(Ordering::Relaxed));
    println!(
        "datto full listing: {} sites, {} devices, {} requests",
        sites,
        counts.iter().sum::<usize>(),
        s.requests
    );
}

#[tokio::test]
async fn filtered_device_listing_keeps_its_filters_across_pages() {
    let env = roomy(1600).await;
    let c = env.client();
    let filter = DeviceFilter {
        hostname: Some("-ws".into()),
        ..DeviceFilter::default()
    };
    let got = drain(|cur| c.account_devices(&filter, cur)).await.unwrap();
    let want: Vec<RmmDevice> = {
        let data = env.sim.data();
        data.devices
            .iter()
            .filter(|d| !d.deleted && dsim::like(&d.hostname, "-ws"))
            .map(|d| expected_device(d, &data))
            .collect()
    };
    assert!(want.len() > 250, "the filtered listing spans pages");
    assert_eq!(got, want);
    assert_eq!(env.hits(ACCOUNT_DEVICES), pages(want.len()));

    // The simulator drops the filter from nextPageUrl, as Datto does, so the client's
    // re-application is what keeps page 2 filtered.
    let token = raw_token(&env).await;
    let first: Value = reqwest::Client::new()
        .get(env.url("/api/v2/account/devices?hostname=-ws"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = first["pageDetails"]["nextPageUrl"].as_str().unwrap();
    assert_eq!(
        next,
        env.url("/api/v2/account/devices?max=250&page=1"),
        "only max and page survive"
    );

    let filter = DeviceFilter {
        device_type: Some("server".into()),
        site_name: Some("alder".into()),
        operating_system: Some("2022".into()),
        ..DeviceFilter::default()
    };
    let got = drain(|cur| c.account_devices(&filter, cur)).await.unwrap();
    let data = env.sim.data().clone();
    let want: Vec<RmmDevice> = data
        .devices
        .iter()
        .filter(|d| {
            let site = data.sites.iter().find(|s| s.uid == d.site_uid).unwrap();
            d.category == "Server"
                && site.name.contains("Alder")
                && d.operating_system.contains("2022")
        })
        .map(|d| expected_device(d, &data))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

#[tokio::test]
async fn the_budget_runs_near_the_limit_without_a_single_429() {
    let window = Duration::from_secs(1);
    let env = start(60, 100, window).await;
    let c = Arc::new(env.client());
    let done = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let started = Instant::now();
    let sites = drain(|cur| c.sites(cur)).await.unwrap();
    let calls_per_task = 150;
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let (c, done) = (c.clone(), done.clone());
            let uids: Vec<String> = sites.iter().map(|s| s.uid.clone()).collect();
            tokio::spawn(async move {
                for i in 0..calls_per_task {
                    let uid = &uids[(t + i) % uids.len()];
                    c.site_devices(uid, None).await.unwrap();
                    done.lock().unwrap().push(Instant::now());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = env.hits(SITES) + env.hits(SITE_DEVICES);
    assert_eq!(n, 1 + 4 * calls_per_task as u64);
    let allowed = f64::from(env.limit) / window.as_secs_f64();
    let achieved = n as f64 / elapsed;
    // n / elapsed profits from the first window's burst; the sustained rate counts the
    // requests finished in whole windows after the first (windows 2 to 5).
    let steady = done
        .lock()
        .unwrap()
        .iter()
        .filter(|t| (started + window..started + 5 * window).contains(*t))
        .count();
    let sustained = steady as f64 / (4.0 * window.as_secs_f64());
    println!(
        "datto budget: {n} requests in {elapsed:.2} s = {achieved:.1}/s; sustained \
         {sustained:.1}/s; allowed {allowed:.1}/s ({:.0} %, the cut-off is 90 %)",
        100.0 * sustained / allowed
    );
    let throttled = env.sim.stats.throttled.load(Ordering::Relaxed);
    assert_eq!((throttled, c.stats().throttled), (0, 0), "no 429 at all");
    assert!(
        achieved >= 0.8 * allowed,
        "{achieved:.1}/s of {allowed:.1}/s"
    );
    assert!(
        sustained >= 0.8 * allowed,
        "{sustained:.1}/s of {allowed:.1}/s"
    );
}

#[tokio::test]
async fn faults_leave_the_listing_complete_and_exact() {
    let env = roomy(600).await;
    env.sim.set_faults(Faults {
        error_rate: 0.2,
        reset_rate: 0.2,
        truncate_rate: 0.2,
        ..Faults::default()
    });
    let c = env.client();
    assert_listing_is_exact(&env, &c).await;
    // Writes through the same faults: every site ends with exactly one variable of
    // the right value (a 5xx is retried; a write is never applied twice).
    let uids: Vec<String> = {
        let mut data = env.sim.data();
        data.sites[0]
            .variables
            .retain(|v| v.name != "AccountNumber");
        data.sites.iter().map(|s| s.uid.clone()).collect()
    };
    for (i, uid) in uids.iter().enumerate() {
        c.set_site_account_number(uid, &format!("55{i:04}"))
            .await
            .unwrap();
    }
    for (i, s) in env.sim.data().sites.iter().enumerate() {
        let named: Vec<&SimVariable> = s
            .variables
            .iter()
            .filter(|v| v.name == "AccountNumber")
            .collect();
        assert_eq!(named.len(), 1, "site {}", s.name);
        assert_eq!(named[0].value, format!("55{i:04}"));
    }
    assert!(env.sim.stats.faults_injected.load(Ordering::Relaxed) > 0);
    assert!(c.stats().retries > 0);

    env.sim.set_faults(Faults {
        throttle_next: 2,
        throttle_retry_after_secs: 1,
        ..Faults::default()
    });
    let before = c.stats().throttled;
    let started = Instant::now();
    let sites = drain(|cur| c.sites(cur)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured twice"
    );
    assert_eq!(c.stats().throttled - before, 2);
    assert_eq!(sites.len(), env.sim.data().sites.len());
}

#[tokio::test]
async fn refused_credentials_fail_at_once() {
    let env = roomy(10).await;
    let c = env.client_with(DattoConfig {
        api_secret: "wrong".into(),
        ..env.config()
    });
    let err = c.sites(None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("key and secret"), "{err}");
    assert_eq!(env.hits(TOKEN), 1, "no retry of a refused grant");
    assert_eq!(env.hits(SITES), 0);
}

#[tokio::test]
async fn an_expired_token_is_granted_again_once_and_the_listing_completes() {
    let env = roomy(1600).await;
    let c = env.client();
    let data = env.sim.data().clone();
    let site = data
        .sites
        .iter()
        .find(|s| expected_site_devices(&data, &s.uid).len() > 250)
        .unwrap();
    let first = c.site_devices(&site.uid, None).await.unwrap();
    assert!(first.next.is_some());
    env.sim.set_faults(Faults {
        expire_tokens: true,
        ..Faults::default()
    });
    let second = c.site_devices(&site.uid, first.next).await.unwrap();
    assert!(second.next.is_none());
    let got: Vec<RmmDevice> = first.items.into_iter().chain(second.items).collect();
    assert_eq!(got, expected_site_devices(&data, &site.uid));
    assert_eq!(env.hits(TOKEN), 2, "one re-grant");
    assert_eq!(
        env.hits(SITE_DEVICES),
        3,
        "page 1, the refused page 2, page 2"
    );
}

async fn raw_token(env: &Env) -> String {
    let creds = &env.sim.config.credentials;
    let v: Value = reqwest::Client::new()
        .post(env.url("/auth/oauth/token"))
        .basic_auth("public-client", Some("public"))
        .form(&[
            ("grant_type", "password"),
            ("username", creds.datto_api_key.as_str()),
            ("password", creds.datto_api_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_ip_block_is_an_auth_error_and_is_not_hammered() {
    let env = start(20, 5, Duration::from_secs(2)).await;
    let token = raw_token(&env).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..(5 + dsim::BLOCK_AFTER_REFUSALS + 2) {
        let r = http
            .get(env.url("/api/v2/account"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[200; 5]);
    assert!(statuses[5..5 + dsim::BLOCK_AFTER_REFUSALS + 1]
        .iter()
        .all(|s| *s == 429));
    assert_eq!(
        *statuses.last().unwrap(),
        403,
        "persistent breaching blocks"
    );

    let c = env.client();
    let err = c.sites(None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("blocked this IP address"), "{err}");
    assert_eq!(env.hits(SITES), 1, "a 403 is never retried");
    assert_eq!(
        c.stats().requests,
        2,
        "the grant and the one refused listing"
    );

    // The block lasts one window.
    tokio::time::sleep(env.window + Duration::from_millis(200)).await;
    let sites = drain(|cur| c.sites(cur)).await.unwrap();
    assert_eq!(sites.len(), env.sim.data().sites.len());
}

#[tokio::test]
async fn account_numbers_are_created_updated_or_left_alone() {
    let env = roomy(20).await;
    let (a, b) = {
        let mut data = env.sim.data();
        let a = data.sites[0].uid.clone();
        let vars = &mut data.sites[0].variables;
        vars.retain(|v| v.name != "AccountNumber");
        // Datto variable names are case-sensitive: this one is not the account number.
        vars.push(SimVariable {
            id: 99_001,
            name: "accountnumber".into(),
            value: "777".into(),
            masked: false,
        });
        (a, data.sites[1].uid.clone())
    };
    let c = env.client();
    assert_eq!(c.site_account_number(&a).await.unwrap(), None);

    c.set_site_account_number(&a, "123456").await.unwrap();
    assert_eq!((env.hits(CREATE), env.hits(UPDATE)), (1, 0));
    assert_eq!(
        c.site_account_number(&a).await.unwrap().as_deref(),
        Some("123456")
    );

    let (old, count_before) = {
        let data = env.sim.data();
        let v = account_variable(&data.sites[1]).unwrap().clone();
        (v, data.sites[1].variables.len())
    };
    assert_ne!(old.value, "654321");
    c.set_site_account_number(&b, "654321").await.unwrap();
    assert_eq!((env.hits(CREATE), env.hits(UPDATE)), (1, 1));
    {
        let data = env.sim.data();
        let now = account_variable(&data.sites[1]).unwrap();
        assert_eq!(
            (now.id, now.value.as_str()),
            (old.id, "654321"),
            "updated in place"
        );
        assert_eq!(data.sites[1].variables.len(), count_before);
    }

    let reads = env.hits(VARIABLES);
    c.set_site_account_number(&b, "654321").await.unwrap();
    c.set_site_account_number(&a, "123456").await.unwrap();
    assert_eq!(
        (env.hits(CREATE), env.hits(UPDATE)),
        (1, 1),
        "no write when equal"
    );
    assert_eq!(env.hits(VARIABLES), reads + 2);

    let rate = c.request_rate().await.unwrap();
    assert_eq!(rate.account_write_count, 2);
    assert_eq!(
        rate.operation_write_status[dsim::OP_VARIABLE_CREATE].count,
        1
    );
    assert_eq!(
        rate.operation_write_status[dsim::OP_VARIABLE_UPDATE].count,
        1
    );

    let device = env.sim.data().devices[0].uid.clone();
    let udfs = BTreeMap::from([
        ("udf1".to_string(), None),
        ("udf200".to_string(), Some("set by sync".to_string())),
    ]);
    c.set_device_udfs(&device, &udfs).await.unwrap();
    let d = env.sim.data().devices[0].clone();
    assert!(!d.udfs.contains_key("udf1"));
    assert_eq!(d.udfs["udf200"], "set by sync");
}

#[tokio::test]
async fn request_rate_reflects_usage() {
    let env = start(30, 500, Duration::from_secs(30)).await;
    let c = env.client();
    let account = c.account().await.unwrap();
    assert_eq!(account.name, "Simulated MSP");
    let sites = c.sites(None).await.unwrap().items;
    for s in sites.iter().take(3) {
        c.site_devices(&s.uid, None).await.unwrap();
    }
    let rate = c.request_rate().await.unwrap();
    assert_eq!(rate.account_count, 6, "5 reads and this one");
    assert_eq!(rate.account_rate_limit, 500);
    assert_eq!(rate.sliding_time_window_size_seconds, 30);
    assert!((rate.account_cut_off_ratio - 0.9).abs() < 1e-9);
    assert_eq!(rate.account_write_count, 0);
    assert_eq!(
        rate.operation_write_status[dsim::OP_VARIABLE_CREATE].limit,
        83
    );
}

#[tokio::test]
async fn the_simulator_keeps_the_datto_contract() {
    let env = roomy(20).await;
    let http = reqwest::Client::new();
    let creds = env.sim.config.credentials.clone();
    let grant = |basic: (&'static str, &'static str), grant_type: &'static str| {
        http.post(env.url("/auth/oauth/token"))
            .basic_auth(basic.0, Some(basic.1))
            .form(&[
                ("grant_type", grant_type.to_string()),
                ("username", creds.datto_api_key.clone()),
                ("password", creds.datto_api_secret.clone()),
            ])
            .send()
    };
    let r = grant(("someone", "else"), "password").await.unwrap();
    assert_eq!(r.status(), 401);
    let r = grant(("public-client", "public"), "client_credentials")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let ok: Value = grant(("public-client", "public"), "password")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["token_type"], "bearer");
    assert_eq!(ok["expires_in"], 360000);
    let token = ok["access_token"].as_str().unwrap().to_string();

    let get = |path: &str| http.get(env.url(path)).bearer_auth(&token).send();
    let status = |path: &'static str| {
        let req = get(path);
        async move { req.await.unwrap().status().as_u16() }
    };
    let anonymous = http.get(env.url("/api/v2/account")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let bogus = http
        .get(env.url("/api/v2/account"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), 401);
    assert_eq!(status("/api/v2/account/sites?max=251").await, 400);
    assert_eq!(status("/api/v2/account/sites?page=-1").await, 400);
    assert_eq!(status("/api/v2/site/nope").await, 404);
    let p: Value = get("/api/v2/system/pagination")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p, json!({"max": 250}));

    // 0-based pages with absolute links carrying only max and page.
    let n = env.sim.data().sites.len();
    let first: Value = get("/api/v2/account/sites?max=2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["pageDetails"]["count"], 2);
    assert_eq!(first["pageDetails"]["totalCount"], n);
    assert_eq!(first["pageDetails"]["prevPageUrl"], Value::Null);
    assert_eq!(
        first["pageDetails"]["nextPageUrl"],
        env.url("/api/v2/account/sites?max=2&page=1")
    );
    let last_page = (n - 1) / 2;
    let last: Value = get(&format!("/api/v2/account/sites?max=2&page={last_page}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(last["pageDetails"]["nextPageUrl"], Value::Null);
    assert!(last["pageDetails"]["prevPageUrl"].is_string());
    assert_eq!(
        last["sites"][0]["uid"],
        env.sim.data().sites[last_page * 2].uid
    );

    // Device JSON: epoch-ms numbers, udf1..udf30 always present; deleted ones unlisted.
    let (site, gone) = {
        let mut data = env.sim.data();
        data.devices[0].deleted = true;
        (
            data.devices[0].site_uid.clone(),
            data.devices[0].uid.clone(),
        )
    };
    let listed: Value = get(&format!("/api/v2/site/{site}/devices"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let devices = listed["devices"].as_array().unwrap();
    assert!(devices.iter().all(|d| d["uid"] != gone.as_str()));
    let d = &devices[0];
    assert!(d["lastSeen"].is_i64());
    assert!((1..=30).all(|i| d["udf"].get(format!("udf{i}")).is_some()));
    let one: Value = get(&format!("/api/v2/device/{gone}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["deleted"], true);

    // Writes: a second create of a name is a 400; unknown variables 404; UDF keys checked.
    let put = |body: Value| {
        http.put(env.url(&format!("/api/v2/site/{site}/variable")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = put(json!({"name": "Region", "value": "east"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = put(json!({"name": "Region", "value": "west"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = put(json!({"value": "nameless"})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(env.url(&format!("/api/v2/site/{site}/variable/424242")))
        .bearer_auth(&token)
        .json(&json!({"value": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let live = env.sim.data().devices[1].uid.clone();
    let r = http
        .post(env.url(&format!("/api/v2/device/{live}/udf")))
        .bearer_auth(&token)
        .json(&json!({"udf301": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn calibrating_books_what_others_spent_on_the_account() {
    let env = start(30, 30, Duration::from_secs(2)).await;
    // Another integration on the same account has spent two thirds of the window.
    let token = raw_token(&env).await;
    let http = reqwest::Client::new();
    for _ in 0..20 {
        let r = http
            .get(env.url("/api/v2/account"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Configured far above the account's real budget, the client would breach at once.
    let c = env.client_with(DattoConfig {
        per_minute: 1000,
        ..env.config()
    });
    let rate = c.calibrate().await.unwrap();
    assert_eq!(rate.account_count, 21);
    assert_eq!(
        c.api().budget.limit(),
        datto::cut_off(30),
        "the account's limit wins"
    );
    let uid = env.sim.data().sites[0].uid.clone();
    for _ in 0..20 {
        c.site_devices(&uid, None).await.unwrap();
    }
    assert_eq!(env.sim.stats.throttled.load(Ordering::Relaxed), 0);
    assert_eq!(c.stats().throttled, 0);
}

/// A create refused because the variable appeared meanwhile (or because our first,
/// lost attempt made it) is settled by reading again and updating, never reported as
/// done while the site holds another value.
#[tokio::test]
async fn a_refused_create_is_settled_by_reading_again() {
    use axum::routing::{get, post, put};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    let reads = Arc::new(AtomicUsize::new(0));
    let updates = Arc::new(Mutex::new(Vec::<Value>::new()));
    let (r, u) = (reads.clone(), updates.clone());
    let app = axum::Router::new()
        .route(
            "/auth/oauth/token",
            post(|| async { axum::Json(json!({"access_token": "t", "token_type": "bearer"})) }),
        )
        .route(
            "/api/v2/site/s1/variables",
            get(move || {
                let n = r.fetch_add(1, Ordering::SeqCst);
                async move {
                    let vars = if n == 0 {
                        json!([])
                    } else {
                        json!([{"id": 7, "name": "AccountNumber", "value": "someone else's"}])
                    };
                    axum::Json(json!({"pageDetails": {"count": 0, "totalCount": 0,
                        "prevPageUrl": null, "nextPageUrl": null}, "variables": vars}))
                }
            }),
        )
        .route(
            "/api/v2/site/s1/variable",
            put(|| async { (axum::http::StatusCode::BAD_REQUEST, "already exists") }),
        )
        .route(
            "/api/v2/site/s1/variable/7",
            post(move |axum::Json(body): axum::Json<Value>| {
                u.lock().unwrap().push(body);
                async { axum::http::StatusCode::OK }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let c = DattoClient::new(DattoConfig {
        url: format!("http://{addr}"),
        api_key: "k".into(),
        api_secret: "s".into(),
        ..DattoConfig::default()
    })
    .unwrap();
    c.set_site_account_number("s1", "100042").await.unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 2);
    assert_eq!(
        *updates.lock().unwrap(),
        [json!({"name": "AccountNumber", "value": "100042"})]
    );
}

/// Above 90 % of the window every reply is held back (Datto: 1 s of 60), which is why
/// the client spends only up to the cut-off.
#[tokio::test]
async fn replies_slow_down_above_the_cut_off() {
    // A long window makes the delay (window / 60 = 0.5 s) stand out from load noise.
    let window = Duration::from_secs(30);
    let env = start(5, 20, window).await;
    let token = raw_token(&env).await;
    let http = reqwest::Client::new();
    let mut took = Vec::new();
    for _ in 0..19 {
        let at = Instant::now();
        let r = http
            .get(env.url("/api/v2/system/pagination"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        took.push(at.elapsed());
    }
    let delay = window / 60;
    assert!(took[..18].iter().all(|t| *t < delay), "{took:?}");
    assert!(took[18] >= delay, "the 19th of 20 waits: {took:?}");
    assert_eq!(datto::cut_off(20), 18, "the client stops before it");
}
