//! The Freshservice client against its simulator: what the client yields must equal the
//! simulator's dataset field by field, in the fewest requests, under the budget, through
//! faults; and the simulator must refuse what Freshservice refuses.

use chrono::{DateTime, Duration as Days, SubsecRound, Utc};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use hivematrix::sim::dataset::{
    SimAgent, SimCompany, SimContact, SimConversation, SimTicket, SimTimeEntry,
};
use hivematrix::sim::freshservice::text_of;
use hivematrix::sim::{Dataset, DatasetSize, Faults, Sim, SimConfig, SimLimits};
use hivematrix::sync::freshservice::{self as fs, FreshserviceClient, FreshserviceConfig};
use hivematrix::sync::http::{ApiClient, RetryPolicy};
use hivematrix::sync::provider::{
    Cursor, Page, ProviderError, ProviderResult, PsaAgent, PsaCompany, PsaContact, PsaConversation,
    PsaProvider, PsaTicket, PsaTimeEntry, TicketFilter,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "sim-freshservice-key";

struct Fixture {
    sim: Arc<Sim>,
    /// `http://ADDR/freshservice`, the client's configured URL.
    base: String,
}

fn small() -> DatasetSize {
    DatasetSize {
        companies: 12,
        contacts: 130,
        agents: 5,
        tickets: 230,
        devices: 0,
    }
}

/// A simulator with a budget no test run reaches unless it sets its own.
async fn start(size: DatasetSize, limits: Option<SimLimits>) -> Fixture {
    let sim = Sim::new(SimConfig {
        seed: 3,
        size,
        limits: limits.unwrap_or(SimLimits {
            freshservice_per_minute: 100_000,
            ..SimLimits::default()
        }),
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Fixture {
        sim,
        base: format!("http://{addr}/freshservice"),
    }
}

impl Fixture {
    fn config(&self, key: &str) -> FreshserviceConfig {
        FreshserviceConfig {
            per_minute: self.sim.config.limits.freshservice_per_minute,
            window: self.sim.config.limits.window,
            ..FreshserviceConfig::new(&self.base, key)
        }
    }

    fn client(&self) -> FreshserviceClient {
        FreshserviceClient::new(self.config(KEY)).unwrap()
    }

    /// A client that retries quickly and often (fault tests).
    fn patient_client(&self) -> FreshserviceClient {
        let cfg = self.config(KEY);
        let policy = RetryPolicy {
            max_attempts: 30,
            base_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(20),
            ..RetryPolicy::default()
        };
        let budget = fs::budget_for(&cfg);
        FreshserviceClient::with_api(
            cfg,
            ApiClient::new("freshservice", Arc::new(budget), policy),
        )
        .unwrap()
    }

    fn route(&self, route: &str) -> u64 {
        self.sim.stats.route(&format!("freshservice {route}"))
    }

    /// A raw GET as any HTTP client would send it.
    async fn get(&self, path_and_query: &str, user: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}/api/v2{path_and_query}", self.base))
            .basic_auth(user, Some("X"))
            .send()
            .await
            .unwrap()
    }
}

/// Every page of a listing, following the cursors.
async fn drain<'a, T>(
    mut page: impl FnMut(Option<Cursor>) -> BoxFuture<'a, ProviderResult<Page<T>>>,
) -> ProviderResult<Vec<T>> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let p = page(cursor.take()).await?;
        out.extend(p.items);
        match p.next {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
    panic!("a listing that never ends");
}

fn pages(n: usize, size: usize) -> u64 {
    n.div_ceil(size).max(1) as u64
}

fn ids<T>(v: &[T], id: impl Fn(&T) -> &str) -> BTreeSet<String> {
    v.iter().map(|x| id(x).to_string()).collect()
}

// ---------------------------------------------------------------- expected records

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn secs(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(t.trunc_subsecs(0))
}

fn company(c: &SimCompany) -> PsaCompany {
    PsaCompany {
        external_id: s(c.id),
        name: c.name.clone(),
        description: c.description.clone(),
        account_number: c.account_number.clone(),
        domains: c.domains.clone(),
        head_user_id: c.head_user_id.map(s),
        prime_user_id: c.prime_user_id.map(s),
        workspace_id: Some(c.workspace_id),
        custom_fields: c.custom_fields.clone(),
        created_at: Some(c.created_at.trunc_subsecs(3)),
        updated_at: Some(c.updated_at.trunc_subsecs(3)),
    }
}

fn contact(p: &SimContact, d: &Dataset) -> PsaContact {
    PsaContact {
        external_id: s(p.id),
        first_name: Some(p.first_name.clone()),
        last_name: Some(p.last_name.clone()),
        email: p.primary_email.clone(),
        secondary_emails: p.secondary_emails.clone(),
        active: p.active,
        is_agent: false,
        vip_user: p.vip_user,
        has_logged_in: p.has_logged_in,
        mobile_phone_number: p.mobile_phone_number.clone(),
        work_phone_number: p.work_phone_number.clone(),
        address: p.address.clone(),
        job_title: p.job_title.clone(),
        company_external_ids: p.department_ids.iter().map(s).collect(),
        department_names: p
            .department_ids
            .iter()
            .map(|id| d.company(*id).unwrap().name.clone())
            .collect(),
        reporting_manager_id: None,
        location_name: p.location_name.clone(),
        language: Some(p.language.clone()),
        time_zone: Some(p.time_zone.clone()),
        time_format: Some("12h".into()),
        background_information: None,
        user_number: p.user_number.clone(),
        created_at: secs(p.created_at),
        updated_at: secs(p.updated_at),
    }
}

fn agent(a: &SimAgent) -> PsaAgent {
    PsaAgent {
        external_id: s(a.id),
        email: Some(a.email.clone()),
        first_name: Some(a.first_name.clone()),
        last_name: Some(a.last_name.clone()),
        active: a.active,
        job_title: Some(a.job_title.clone()),
        group_ids: a.group_ids.iter().map(s).collect(),
        department_ids: vec![],
        created_at: secs(a.created_at),
        updated_at: secs(a.updated_at),
    }
}

/// The ticket as listed; `stats` says whether the listing embedded them.
fn ticket(t: &SimTicket, stats: bool) -> PsaTicket {
    let (status, status_text) = fs::status(t.status);
    let stat = |v: Option<DateTime<Utc>>| if stats { v.and_then(secs) } else { None };
    PsaTicket {
        external_id: s(t.id),
        ticket_number: Some(s(t.id)),
        subject: Some(t.subject.clone()),
        description_html: Some(t.description_html.clone()),
        description_text: Some(text_of(&t.description_html)),
        status: status.into(),
        status_code: Some(t.status),
        status_text: Some(status_text.into()),
        priority: ["", "low", "medium", "high", "urgent"][t.priority as usize].into(),
        priority_code: Some(t.priority),
        ticket_type: Some(t.ticket_type.clone()),
        source: Some(["", "email", "portal", "phone", "chat"][t.source as usize].into()),
        category: None,
        requester_external_id: Some(s(t.requester_id)),
        requester_email: None,
        requester_name: None,
        responder_external_id: t.responder_id.map(s),
        group_external_id: t.group_id.map(s),
        company_external_id: t.department_id.map(s),
        created_at: secs(t.created_at),
        updated_at: secs(t.updated_at),
        closed_at: stat(t.closed_at),
        resolved_at: stat(t.resolved_at),
        fr_due_by: secs(t.fr_due_by),
        due_by: secs(t.due_by),
        first_responded_at: stat(t.first_responded_at),
        agent_responded_at: stat(t.agent_responded_at),
    }
}

fn time_entry(e: &SimTimeEntry) -> PsaTimeEntry {
    PsaTimeEntry {
        external_id: s(e.id),
        agent_external_id: Some(s(e.agent_id)),
        minutes: e.minutes,
        billable: e.billable,
        note: Some(e.note.clone()),
        executed_at: secs(e.executed_at),
        created_at: secs(e.created_at),
        updated_at: secs(e.updated_at),
    }
}

fn conversation(c: &SimConversation) -> PsaConversation {
    PsaConversation {
        external_id: s(c.id),
        private: c.private,
        incoming: c.incoming,
        body_html: Some(c.body_html.clone()),
        body_text: Some(text_of(&c.body_html)),
        author_external_id: Some(s(c.user_id)),
        from_email: c.from_email.clone(),
        created_at: secs(c.created_at),
        updated_at: secs(c.updated_at),
    }
}

fn by_id<T: Clone>(mut v: Vec<T>, id: impl Fn(&T) -> i64) -> Vec<T> {
    v.sort_by_key(|x| id(x));
    v
}

fn sorted<T: Clone>(v: &[T], id: impl Fn(&T) -> &str) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort_by_key(|x| id(x).parse::<i64>().unwrap());
    v
}

fn live_tickets(d: &Dataset) -> Vec<&SimTicket> {
    d.tickets.iter().filter(|t| !t.deleted && !t.spam).collect()
}

/// Every collection, listed by `client`, compared with the dataset.
async fn assert_everything_matches(fx: &Fixture, client: &FreshserviceClient) {
    let companies = drain(|c| client.companies(c)).await.unwrap();
    let contacts = drain(|c| client.contacts(c)).await.unwrap();
    let agents = drain(|c| client.agents(c)).await.unwrap();
    let all = TicketFilter::UpdatedSince(None);
    let tickets = drain(|c| client.tickets(&all, c)).await.unwrap();
    let d = fx.sim.data().clone();
    assert_eq!(
        sorted(&companies, |c| &c.external_id),
        by_id(d.companies.iter().map(company).collect(), |c| c
            .external_id
            .parse()
            .unwrap())
    );
    assert_eq!(
        sorted(&contacts, |c| &c.external_id),
        by_id(d.contacts.iter().map(|p| contact(p, &d)).collect(), |c| c
            .external_id
            .parse()
            .unwrap())
    );
    assert_eq!(
        sorted(&agents, |a| &a.external_id),
        by_id(d.agents.iter().map(agent).collect(), |a| a
            .external_id
            .parse()
            .unwrap())
    );
    assert_eq!(
        sorted(&tickets, |t| &t.external_id),
        by_id(
            live_tickets(&d)
                .into_iter()
                .map(|t| ticket(t, true))
                .collect(),
            |t| t.external_id.parse().unwrap()
        )
    );
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn full_listing_of_every_collection_equals_the_dataset_in_the_fewest_requests() {
    let fx = start(small(), None).await;
    {
        let mut d = fx.sim.data();
        d.ticket_mut(3).unwrap().deleted = true;
        d.ticket_mut(4).unwrap().spam = true;
    }
    let client = fx.client();
    assert_everything_matches(&fx, &client).await;

    let d = fx.sim.data().clone();
    assert!(d.companies.iter().any(|c| c.account_number.is_none()));
    assert_eq!(fx.route("GET /departments"), pages(d.companies.len(), 100));
    assert_eq!(fx.route("GET /requesters"), pages(d.contacts.len(), 100));
    assert_eq!(fx.route("GET /agents"), pages(d.agents.len(), 100));
    assert_eq!(fx.route("GET /tickets"), pages(live_tickets(&d).len(), 100));
    assert_eq!(
        fx.route("GET /requesters"),
        2,
        "130 requesters are two pages"
    );
    assert_eq!(client.api().stats.snapshot().requests, 1 + 2 + 1 + 3);
}

#[tokio::test]
async fn the_thirty_day_window_is_avoided_so_a_full_sync_returns_every_ticket() {
    let fx = start(small(), None).await;
    let fresh = {
        let mut d = fx.sim.data();
        let mut t = d.tickets[0].clone();
        t.id = d.new_id();
        t.created_at = Utc::now() - Days::days(2);
        t.updated_at = Utc::now() - Days::days(1);
        d.tickets.push(t.clone());
        t
    };
    // What a naive client gets: only tickets created in the last 30 days.
    let resp = fx.get("/tickets?per_page=100", KEY).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let listed: Vec<i64> = body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![fresh.id]);

    let client = fx.client();
    let all = TicketFilter::UpdatedSince(None);
    let tickets = drain(|c| client.tickets(&all, c)).await.unwrap();
    let d = fx.sim.data().clone();
    assert_eq!(tickets.len(), d.tickets.len());
    assert_eq!(
        ids(&tickets, |t| &t.external_id),
        d.tickets.iter().map(|t| s(t.id)).collect()
    );
    // Ascending by creation: the newest ticket comes last.
    assert_eq!(tickets.last().unwrap().external_id, s(fresh.id));
}

#[tokio::test]
async fn an_incremental_sync_returns_exactly_the_changed_tickets() {
    let fx = start(small(), None).await;
    let mark = Utc::now() - Days::seconds(5);
    {
        let mut d = fx.sim.data();
        for (id, subject) in [(17, "Changed upstream"), (120, "Also changed")] {
            let t = d.ticket_mut(id).unwrap();
            t.subject = subject.into();
            t.status = 9;
            t.updated_at = Utc::now();
        }
    }
    let client = fx.client();
    let since = TicketFilter::UpdatedSince(Some(mark));
    let changed = drain(|c| client.tickets(&since, c)).await.unwrap();
    let d = fx.sim.data().clone();
    let want: Vec<PsaTicket> = [17, 120]
        .iter()
        .map(|id| ticket(d.tickets.iter().find(|t| t.id == *id).unwrap(), true))
        .collect();
    assert_eq!(sorted(&changed, |t| &t.external_id), want);
    assert_eq!(changed[0].status, "waiting_customer");
    assert_eq!(fx.route("GET /tickets"), 1);
}

#[tokio::test]
async fn the_deleted_listing_shows_deleted_and_spam_tickets_only() {
    let fx = start(small(), None).await;
    {
        let mut d = fx.sim.data();
        d.ticket_mut(5).unwrap().deleted = true;
        d.ticket_mut(6).unwrap().spam = true;
    }
    let client = fx.client();
    let gone = drain(|c| client.tickets(&TicketFilter::Deleted, c))
        .await
        .unwrap();
    assert_eq!(ids(&gone, |t| &t.external_id), BTreeSet::from([s(5), s(6)]));
    let d = fx.sim.data().clone();
    let marked = |t: &SimTicket, status: &str, text: &str| PsaTicket {
        status: status.into(),
        status_text: Some(text.into()),
        ..ticket(t, false)
    };
    assert_eq!(
        sorted(&gone, |t| &t.external_id),
        vec![
            marked(&d.tickets[4], "deleted", "Deleted"),
            marked(&d.tickets[5], "spam", "Spam")
        ]
    );
    assert_eq!(
        fx.route("GET /tickets"),
        2,
        "one deleted pass, one spam pass"
    );

    let all = TicketFilter::UpdatedSince(None);
    let live = drain(|c| client.tickets(&all, c)).await.unwrap();
    assert!(!ids(&live, |t| &t.external_id).contains("5"));
    assert!(!ids(&live, |t| &t.external_id).contains("6"));
}

#[tokio::test]
async fn the_active_listing_pages_the_filter_endpoint_by_its_total() {
    let fx = start(small(), None).await;
    let client = fx.client();
    let active = drain(|c| client.tickets(&TicketFilter::Active, c))
        .await
        .unwrap();
    let d = fx.sim.data().clone();
    let want: Vec<PsaTicket> = live_tickets(&d)
        .into_iter()
        .filter(|t| fs::ACTIVE_STATUS_CODES.contains(&t.status))
        .map(|t| ticket(t, false))
        .collect();
    assert!(want.len() > 30, "the filter answer spans pages of 30");
    assert_eq!(active.len(), want.len(), "no ticket twice");
    assert_eq!(
        sorted(&active, |t| &t.external_id),
        by_id(want.clone(), |t| t.external_id.parse().unwrap())
    );
    assert_eq!(fx.route("GET /tickets/filter"), pages(want.len(), 30));
}

#[tokio::test]
async fn ticket_detail_has_every_time_entry_and_conversation() {
    let fx = start(small(), None).await;
    let at = Utc::now().trunc_subsecs(0) - Days::days(3);
    let (busy, quiet) = {
        let mut d = fx.sim.data();
        let mut next = 80_000_000_000i64;
        let t = d.ticket_mut(10).unwrap();
        t.time_entries = (0..130)
            .map(|i| SimTimeEntry {
                id: next + i,
                agent_id: 19_000_300_001,
                minutes: 1 + i * 7 % 600,
                billable: i % 3 != 0,
                note: format!("entry {i}"),
                executed_at: at + Days::minutes(i),
                created_at: at + Days::minutes(i),
                updated_at: at + Days::minutes(i),
            })
            .collect();
        next += 1000;
        t.conversations = (0..12)
            .map(|i| SimConversation {
                id: next + i,
                body_html: format!("<p>reply {i}</p>"),
                private: i % 4 == 0,
                incoming: i % 2 == 1,
                user_id: t.requester_id,
                from_email: None,
                created_at: at + Days::hours(i),
                updated_at: at + Days::hours(i),
            })
            .collect();
        let busy = t.clone();
        let quiet = d.ticket_mut(11).unwrap();
        quiet.conversations.truncate(2);
        (busy, quiet.clone())
    };
    let client = fx.client();
    let detail = client.ticket_detail("10").await.unwrap().unwrap();
    assert_eq!(detail.ticket, ticket(&busy, true));
    let total: i64 = detail.time_entries.iter().map(|e| e.minutes).sum();
    assert_eq!(
        total,
        busy.time_entries.iter().map(|e| e.minutes).sum::<i64>()
    );
    assert_eq!(
        detail.time_entries,
        busy.time_entries.iter().map(time_entry).collect::<Vec<_>>()
    );
    assert_eq!(
        detail.conversations,
        busy.conversations
            .iter()
            .map(conversation)
            .collect::<Vec<_>>()
    );
    assert_eq!(fx.route("GET /tickets/{id}"), 1);
    assert_eq!(fx.route("GET /tickets/{id}/conversations"), 1);
    assert_eq!(fx.route("GET /tickets/{id}/time_entries"), 2, "130 entries");

    let detail = client.ticket_detail("11").await.unwrap().unwrap();
    assert_eq!(
        detail.conversations,
        quiet
            .conversations
            .iter()
            .map(conversation)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        detail.time_entries,
        quiet
            .time_entries
            .iter()
            .map(time_entry)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        fx.route("GET /tickets/{id}/conversations"),
        1,
        "no call when all fit"
    );

    fx.sim.data().ticket_mut(12).unwrap().deleted = true;
    assert!(client.ticket_detail("12").await.unwrap().is_none());
    assert!(client.ticket_detail("999999").await.unwrap().is_none());
    let err = client.ticket_detail("../agents").await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
}

#[tokio::test]
async fn the_budget_keeps_under_the_server_limit_while_using_most_of_it() {
    // 40 credits/s, counted per 2 s window.
    let limits = SimLimits {
        freshservice_per_minute: 80,
        window: Duration::from_secs(2),
        ..SimLimits::default()
    };
    let fx = start(small(), Some(limits)).await;
    // Latency jitter: some requests reach the server 10 ms later than others.
    fx.sim.set_faults(Faults {
        slow_rate: 0.3,
        slow_ms: 10,
        ..Faults::default()
    });
    let client = fx.client();
    let started = Instant::now();
    // What a ticket sync does: list (3 credits a page with stats), then details with
    // a few in flight at once.
    let all = TicketFilter::UpdatedSince(None);
    let listed = drain(|c| client.tickets(&all, c)).await.unwrap();
    let details: Vec<_> = futures_util::stream::iter(listed.iter().take(90))
        .map(|t| client.ticket_detail(&t.external_id))
        .buffer_unordered(4)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(details.iter().all(|d| matches!(d, Ok(Some(_)))));
    let shows = fx.route("GET /tickets/{id}");
    assert_eq!(shows, 90);
    let credits = fx.route("GET /tickets") * 3
        + shows * 3
        + fx.route("GET /tickets/{id}/time_entries")
        + fx.route("GET /tickets/{id}/conversations");
    assert_eq!(
        client.api().stats.snapshot().requests,
        fx.sim.stats.requests.load(Ordering::Relaxed)
    );
    // A burst opens every window, so a short run beats 40/s overall; the fair measure
    // is the share of the credits the server granted over the windows the run touched
    // (a client idling through one window of five drops to 77 %).
    let windows = (elapsed / 2.0).ceil();
    let share = credits as f64 / (80.0 * windows);
    println!(
        "{credits} credits, {} requests in {elapsed:.2} s: {:.1}/s of 40/s allowed; {:.0} % of the \
         {windows} windows' budget",
        fx.sim.stats.requests.load(Ordering::Relaxed),
        credits as f64 / elapsed,
        share * 100.0
    );
    assert_eq!(
        fx.sim.stats.throttled.load(Ordering::Relaxed),
        0,
        "no 429 from the server"
    );
    assert_eq!(client.api().stats.snapshot().throttled, 0);
    assert!(
        share >= 0.8,
        "{:.0} % of the budget is under 80 %",
        share * 100.0
    );
}

#[tokio::test]
async fn faults_neither_lose_nor_duplicate_records() {
    let fx = start(small(), None).await;
    fx.sim.set_faults(Faults {
        error_rate: 0.2,
        reset_rate: 0.2,
        truncate_rate: 0.2,
        ..Faults::default()
    });
    let client = fx.patient_client();
    assert_everything_matches(&fx, &client).await;
    let detail = client.ticket_detail("10").await.unwrap().unwrap();
    let d = fx.sim.data().clone();
    assert_eq!(
        detail.time_entries,
        d.tickets[9]
            .time_entries
            .iter()
            .map(time_entry)
            .collect::<Vec<_>>()
    );
    let stats = client.api().stats.snapshot();
    assert!(fx.sim.stats.faults_injected.load(Ordering::Relaxed) > 0);
    assert!(stats.retries > 0, "{stats:?}");
}

#[tokio::test]
async fn a_throttle_is_honoured_for_its_retry_after() {
    let fx = start(small(), None).await;
    fx.sim.set_faults(Faults {
        throttle_next: 2,
        throttle_retry_after_secs: 1,
        ..Faults::default()
    });
    let client = fx.client();
    let started = Instant::now();
    let companies = drain(|c| client.companies(c)).await.unwrap();
    assert_eq!(companies.len(), 12);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited Retry-After twice"
    );
    assert_eq!(client.api().stats.snapshot().throttled, 2);
    assert_eq!(
        fx.route("GET /departments"),
        1,
        "throttles answer before the route"
    );
}

#[tokio::test]
async fn refused_credentials_are_an_auth_error_without_retries() {
    let fx = start(small(), None).await;
    let client = FreshserviceClient::new(fx.config("wrong-key")).unwrap();
    let err = drain(|c| client.companies(c)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    assert_eq!(fx.sim.stats.requests.load(Ordering::Relaxed), 1);
    let err = client.check_credentials().await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    fx.client().check_credentials().await.unwrap();
    assert_eq!(fx.sim.stats.requests.load(Ordering::Relaxed), 3);

    let resp = fx.get("/agents", "wrong-key").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["code"],
        "invalid_credentials"
    );
    let resp = fx.get("/agents", "admin@msp.example").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["code"],
        "unsupported_authentication_type"
    );
    let resp = reqwest::get(format!("{}/api/v2/agents", fx.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("x-ratelimit-remaining"));
}

async fn error_code(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["description"], "Validation failed", "{body}");
    let e = &body["errors"][0];
    (
        status,
        e["field"].as_str().unwrap_or_default().to_string(),
        e["code"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn the_simulator_validates_pages_params_and_headers_like_freshservice() {
    let fx = start(small(), None).await;
    let bad = |f: &str, c: &str| (400u16, f.to_string(), c.to_string());
    assert_eq!(
        error_code(fx.get("/requesters?per_page=101", KEY).await).await,
        bad("per_page", "invalid_value")
    );
    assert_eq!(
        error_code(fx.get("/requesters?page=0", KEY).await).await,
        bad("page", "invalid_value")
    );
    assert_eq!(
        error_code(
            fx.get("/tickets?updatedSince=2020-01-01T00:00:00Z", KEY)
                .await
        )
        .await,
        bad("updatedSince", "invalid_field")
    );
    assert_eq!(
        error_code(fx.get("/tickets?order_type=up", KEY).await).await,
        bad("order_type", "invalid_value")
    );
    assert_eq!(
        error_code(fx.get("/tickets?include=conversations", KEY).await).await,
        bad("include", "invalid_value")
    );

    // Link: absolute, keeps the other parameters, absent on the last page.
    let resp = fx.get("/requesters?per_page=100", KEY).await;
    let link = resp.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(
        link,
        format!(
            "<{}/api/v2/requesters?per_page=100&page=2>; rel=\"next\"",
            fx.base
        )
    );
    assert_eq!(
        resp.headers()["x-freshservice-api-version"],
        "latest=v2; requested=v2"
    );
    let resp = fx.get("/requesters?per_page=100&page=2", KEY).await;
    assert!(!resp.headers().contains_key("link"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["requesters"].as_array().unwrap().len(), 30);
    let resp = fx.get("/requesters", KEY).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["requesters"].as_array().unwrap().len(),
        30,
        "default page size"
    );

    // Embeds cost credits.
    let resp = fx
        .get(
            "/tickets?updated_since=2000-01-01T00:00:00Z&include=stats,requester",
            KEY,
        )
        .await;
    assert_eq!(resp.headers()["x-ratelimit-used-currentrequest"], "5");
    let body: Value = resp.json().await.unwrap();
    assert!(body["tickets"][0]["stats"].is_object());
    assert!(body["tickets"][0]["requester"]["email"].is_string());
    let resp = fx.get("/tickets/1?include=conversations,stats", KEY).await;
    assert_eq!(resp.headers()["x-ratelimit-used-currentrequest"], "3");

    // The filter endpoint: quoted, ≤ 512 characters, 30 a page, `total`, no Link.
    assert_eq!(
        error_code(fx.get("/tickets/filter?query=status:2", KEY).await).await,
        bad("query", "invalid_value")
    );
    assert_eq!(
        error_code(
            fx.get("/tickets/filter?query=%22status:2%20OR%22", KEY)
                .await
        )
        .await,
        bad("query", "invalid_value")
    );
    let long = vec!["status:2"; 60].join(" OR ");
    let url = format!("/tickets/filter?query=%22{}%22", long.replace(' ', "%20"));
    assert_eq!(
        error_code(fx.get(&url, KEY).await).await,
        bad("query", "invalid_value")
    );
    let resp = fx
        .get(
            "/tickets/filter?query=%22created_at:%3E'2000-01-01'%22&per_page=100",
            KEY,
        )
        .await;
    assert!(!resp.headers().contains_key("link"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["tickets"].as_array().unwrap().len(), 30);
    assert_eq!(body["total"], 230);

    let resp = fx.get("/ticket_form_fields", KEY).await;
    let body: Value = resp.json().await.unwrap();
    let status = &body["ticket_fields"][0];
    assert_eq!(status["name"], "status");
    assert!(status["choices"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == 26));
    let choices = fx.client().status_choices().await.unwrap();
    assert!(choices.contains(&(23, "On Hold".to_string())));
}

#[tokio::test]
async fn the_server_budget_answers_429_with_retry_after_past_the_limit() {
    let limits = SimLimits {
        freshservice_per_minute: 5,
        ..SimLimits::default()
    };
    let fx = start(small(), Some(limits)).await;
    let resp = fx
        .get(
            "/tickets?updated_since=2000-01-01T00:00:00Z&include=stats",
            KEY,
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ratelimit-total"], "5");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "2");
    let resp = fx
        .get(
            "/tickets?updated_since=2000-01-01T00:00:00Z&include=stats",
            KEY,
        )
        .await;
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(fx.sim.stats.throttled.load(Ordering::Relaxed), 1);
    // Two credits are left for cheaper requests.
    assert_eq!(fx.get("/agents", KEY).await.status(), 200);
}

#[tokio::test]
async fn account_numbers_written_to_departments_come_back_in_the_listing() {
    let fx = start(small(), None).await;
    let before = fx.sim.data().companies[9].clone();
    assert!(
        before.account_number.is_none(),
        "every 10th company has none"
    );
    let client = fx.client();
    client
        .set_account_number(&before.id.to_string(), "654321")
        .await
        .unwrap();
    let after = fx.sim.data().companies[9].clone();
    assert_eq!(after.account_number.as_deref(), Some("654321"));
    assert!(after.updated_at > before.updated_at);
    let companies = drain(|c| client.companies(c)).await.unwrap();
    let listed = companies
        .iter()
        .find(|c| c.external_id == s(before.id))
        .unwrap();
    assert_eq!(*listed, company(&after));
    assert_eq!(listed.custom_fields["account_number"], "654321");

    let resp = reqwest::Client::new()
        .put(format!("{}/api/v2/departments/{}", fx.base, before.id))
        .basic_auth(KEY, Some("X"))
        .json(&serde_json::json!({"custom_fields": {"acount_number": "1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(resp).await,
        (
            400,
            "acount_number".to_string(),
            "invalid_field".to_string()
        )
    );
    assert_eq!(fx.sim.data().companies[9], after, "nothing changed");
    let err = client.set_account_number("1", "1").await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
}

#[tokio::test]
async fn a_listing_resumes_from_its_cursor_in_a_new_client() {
    let fx = start(small(), None).await;
    let first = fx.client().contacts(None).await.unwrap();
    let cursor = first.next.clone().expect("a second page");
    let rest = drain(|c| {
        let c = c.or_else(|| Some(cursor.clone()));
        let client = fx.client();
        Box::pin(async move { client.contacts(c).await })
    })
    .await
    .unwrap();
    let mut all = first.items;
    all.extend(rest);
    assert_eq!(ids(&all, |c| &c.external_id).len(), 130);
    let foreign = Cursor("http://elsewhere.example/api/v2/requesters?page=2".into());
    let err = fx.client().contacts(Some(foreign)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
}
