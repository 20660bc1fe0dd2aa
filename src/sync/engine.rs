//! The sync engine: runs a job's collections through the vendor client and into Codex.
//!
//! Every collection goes the same way ([`run_listing`]): fetch a page, write it through
//! Codex's upsert functions (keyed by source and external id, so row ids never change),
//! remember the ids it saw, and only then store the cursor of the next page. A job
//! killed anywhere resumes from the last stored cursor; re-writing a page is harmless
//! because upserts of unchanged records write nothing. Records missing upstream are
//! marked only after the listing reached its end, from every id it saw.

use super::jobs::{Counts, Executor, Job, JobContext, Progress};
use super::provider::{
    Cursor, Page, ProviderResult, PsaAgent, PsaCompany, PsaContact, PsaProvider, PsaTicket,
    RmmDevice, RmmProvider, RmmSite, TicketDetail, TicketFilter,
};
use super::state;
use crate::codex::{assets, companies, contacts, sites, tickets, Change, Upserted};
use crate::db::Db;
use crate::error::AppError;
use async_trait::async_trait;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

/// The vendor clients configured on this node, by source name.
#[derive(Clone, Default)]
pub struct Connectors {
    pub psa: BTreeMap<String, Arc<dyn PsaProvider>>,
    pub rmm: BTreeMap<String, Arc<dyn RmmProvider>>,
}

pub struct Engine {
    db: Db,
    connectors: RwLock<Connectors>,
}

impl Engine {
    pub fn new(db: Db, connectors: Connectors) -> Engine {
        Engine {
            db,
            connectors: RwLock::new(connectors),
        }
    }

    /// Swaps the clients (after an admin changed provider settings).
    pub fn set_connectors(&self, c: Connectors) {
        *self.connectors.write().unwrap_or_else(|p| p.into_inner()) = c;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Connectors> {
        self.connectors.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The configured PSAs' source names.
    pub fn psa_names(&self) -> Vec<String> {
        self.read().psa.keys().cloned().collect()
    }

    /// Link templates of every configured PSA, by source name.
    pub fn psa_links(&self) -> BTreeMap<String, Option<super::provider::PsaLinks>> {
        self.read()
            .psa
            .iter()
            .map(|(name, p)| (name.clone(), p.web_links()))
            .collect()
    }

    pub fn rmm_names(&self) -> Vec<String> {
        self.read().rmm.keys().cloned().collect()
    }

    fn rmm(&self, name: &str, p: &Progress) -> anyhow::Result<Arc<dyn RmmProvider>> {
        let rmm = self
            .read()
            .rmm
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the RMM {name} is not configured"))?;
        if let Some(s) = rmm.request_stats() {
            p.track(s);
        }
        Ok(rmm)
    }

    /// The configured PSA client of that source name (the webhook fetches through it,
    /// sharing the sync's request budget).
    pub fn psa_provider(&self, name: &str) -> Option<Arc<dyn PsaProvider>> {
        self.read().psa.get(name).cloned()
    }

    fn psa(&self, name: &str, p: &Progress) -> anyhow::Result<Arc<dyn PsaProvider>> {
        let psa = self
            .read()
            .psa
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the PSA {name} is not configured"))?;
        if let Some(s) = psa.request_stats() {
            p.track(s);
        }
        Ok(psa)
    }
}

#[async_trait]
impl Executor for Engine {
    async fn execute(&self, job: &Job, ctx: &JobContext) -> anyhow::Result<String> {
        let run = Run {
            db: &self.db,
            ctx,
            provider: &job.provider,
            kind: &job.kind,
        };
        match job.kind.as_str() {
            "base" => {
                let psa = self.psa(&job.provider, &ctx.progress)?;
                psa_base(&run, psa.as_ref()).await?;
            }
            "tickets" => {
                let psa = self.psa(&job.provider, &ctx.progress)?;
                psa_tickets(&run, psa.as_ref(), job.full_sync).await?;
            }
            "tickets_light" => {
                let psa = self.psa(&job.provider, &ctx.progress)?;
                psa_tickets_light(&run, psa.as_ref()).await?;
            }
            "rmm" => {
                let rmm = self.rmm(&job.provider, &ctx.progress)?;
                rmm_sync(&run, rmm.as_ref()).await?;
            }
            "push_account_numbers" => {
                let rmm = self.rmm(&job.provider, &ctx.progress)?;
                push_account_numbers(&run, rmm.as_ref()).await?;
            }
            other => anyhow::bail!("sync kind {other} is not available for {}", job.provider),
        }
        Ok(summary(&ctx.progress))
    }
}

/// One running job's handles.
struct Run<'a> {
    db: &'a Db,
    ctx: &'a JobContext,
    provider: &'a str,
    kind: &'a str,
}

/// One listing of a vendor collection and how to write its records.
#[async_trait]
trait Collection: Send + Sync {
    type Item: Send;
    /// Counter name: `companies`, `contacts`, …
    fn name(&self) -> &'static str;
    /// Checkpoint and seen-id key; differs from the name for per-site listings.
    fn key(&self) -> String {
        self.name().to_string()
    }
    async fn fetch(&self, cursor: Option<Cursor>) -> ProviderResult<Page<Self::Item>>;
    /// Writes one record; `Ok(None)` when the record cannot be imported (counted as
    /// skipped, with the reason logged). Errors other than the record's own abort.
    async fn apply(&self, item: Self::Item) -> Result<Option<(String, Upserted)>, AppError>;
    /// How many records of a page are applied at once (more than one when applying
    /// costs vendor requests, so the budget is used while waiting on replies).
    fn concurrency(&self) -> usize {
        1
    }
    /// Called after a page is written, before its cursor is stored.
    async fn page_done(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Runs a listing to its end (resuming a stored cursor) and returns every external id
/// it saw, or an error, in which case nothing is marked missing.
async fn run_listing<C: Collection>(run: &Run<'_>, c: &C) -> anyhow::Result<Vec<String>> {
    let key = c.key();
    let cursor_name = format!("cursor:{key}");
    let mut cursor = state::checkpoint(run.db, run.provider, run.kind, &cursor_name)
        .await?
        .map(Cursor);
    if cursor.is_none() {
        // A fresh listing: forget ids seen by an earlier, abandoned one.
        state::clear_seen(run.db, run.provider, &key).await?;
    }
    loop {
        run.ctx.cancel.check()?;
        let page = c.fetch(cursor.clone()).await?;
        let mut ids = Vec::with_capacity(page.items.len());
        let results: Vec<_> = futures_util::stream::iter(page.items)
            .map(|item| c.apply(item))
            .buffer_unordered(c.concurrency().max(1))
            .collect()
            .await;
        for result in results {
            match result {
                Ok(Some((ext, up))) => {
                    ids.push(ext);
                    run.ctx.progress.add(c.name(), |n| count(n, up.change));
                }
                Ok(None) => run.ctx.progress.add(c.name(), |n| n.skipped += 1),
                Err(AppError::Internal(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(collection = c.name(), provider = run.provider, error = %e, "record not imported");
                    run.ctx.progress.add(c.name(), |n| n.failed += 1);
                }
            }
        }
        state::add_seen(run.db, run.provider, &key, &ids).await?;
        c.page_done().await?;
        match page.next {
            Some(next) => {
                state::set_checkpoint(run.db, run.provider, run.kind, &cursor_name, &next.0)
                    .await?;
                cursor = Some(next);
            }
            None => break,
        }
    }
    let seen = state::seen(run.db, run.provider, &key).await?;
    state::clear_checkpoint(run.db, run.provider, run.kind, &cursor_name).await?;
    Ok(seen)
}

fn count(n: &mut Counts, change: Change) {
    n.seen += 1;
    match change {
        Change::Created => n.created += 1,
        Change::Updated => n.updated += 1,
        Change::Unchanged => n.unchanged += 1,
    }
}

/// Ends a complete listing: marks what it did not see, then forgets the ids.
async fn finish_listing(
    run: &Run<'_>,
    collection: &'static str,
    key: &str,
    marked: impl std::future::Future<Output = Result<u64, AppError>>,
) -> anyhow::Result<()> {
    let n = marked.await.map_err(anyhow::Error::from)?;
    run.ctx.progress.add(collection, |c| c.missing += n);
    state::clear_seen(run.db, run.provider, key).await?;
    Ok(())
}

/// PSA base: companies, then contacts (linked to the companies just written).
async fn psa_base(run: &Run<'_>, psa: &dyn PsaProvider) -> anyhow::Result<()> {
    let source = psa.source();
    let seen = run_listing(run, &Companies { db: run.db, psa }).await?;
    finish_listing(
        run,
        "companies",
        "companies",
        companies::mark_missing(run.db, source, &seen),
    )
    .await?;

    let company_ids = companies::ids_by_external(run.db, source).await?;
    let seen = run_listing(
        run,
        &Contacts {
            db: run.db,
            psa,
            company_ids: &company_ids,
        },
    )
    .await?;
    finish_listing(
        run,
        "contacts",
        "contacts",
        contacts::mark_missing(run.db, source, &seen),
    )
    .await?;
    // Companies were written before the contacts they name as head and prime user.
    companies::refresh_contact_names(run.db, source).await?;

    let seen = run_listing(run, &Agents { db: run.db, psa }).await?;
    finish_listing(
        run,
        "agents",
        "agents",
        tickets::mark_missing_agents(run.db, source, &seen),
    )
    .await?;
    Ok(())
}

struct Agents<'a> {
    db: &'a Db,
    psa: &'a dyn PsaProvider,
}

#[async_trait]
impl Collection for Agents<'_> {
    type Item = PsaAgent;
    fn name(&self) -> &'static str {
        "agents"
    }
    async fn fetch(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaAgent>> {
        self.psa.agents(cursor).await
    }
    async fn apply(&self, a: PsaAgent) -> Result<Option<(String, Upserted)>, AppError> {
        let up = tickets::upsert_agent(
            self.db,
            &tickets::AgentUpsert {
                external_source: self.psa.source().to_string(),
                external_id: a.external_id.clone(),
                email: a.email,
                first_name: a.first_name,
                last_name: a.last_name,
                active: a.active,
                job_title: a.job_title,
                group_ids: a.group_ids,
                department_ids: a.department_ids,
                psa_created_at: a.created_at.map(crate::time::to_db),
                psa_updated_at: a.updated_at.map(crate::time::to_db),
            },
        )
        .await?;
        Ok(Some((a.external_id, up)))
    }
}

struct Companies<'a> {
    db: &'a Db,
    psa: &'a dyn PsaProvider,
}

#[async_trait]
impl Collection for Companies<'_> {
    type Item = PsaCompany;
    fn name(&self) -> &'static str {
        "companies"
    }
    async fn fetch(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaCompany>> {
        self.psa.companies(cursor).await
    }
    async fn apply(&self, c: PsaCompany) -> Result<Option<(String, Upserted)>, AppError> {
        let Some(account) = c.account_number.clone().filter(|a| !a.trim().is_empty()) else {
            tracing::info!(external_id = %c.external_id, name = %c.name, "company has no account number yet; skipped");
            return Ok(None);
        };
        let up = companies::upsert_from_source(
            self.db,
            &companies::CompanyUpsert {
                external_source: self.psa.source().to_string(),
                external_id: c.external_id.clone(),
                account_number: account.trim().to_string(),
                name: c.name,
                description: c.description,
                domains: c.domains,
                head_user_id: c.head_user_id,
                prime_user_id: c.prime_user_id,
                workspace_id: c.workspace_id,
                custom_fields: c.custom_fields,
                psa_created_at: c.created_at.map(crate::time::to_db),
                psa_updated_at: c.updated_at.map(crate::time::to_db),
            },
        )
        .await?;
        Ok(Some((c.external_id, up)))
    }
}

struct Contacts<'a> {
    db: &'a Db,
    psa: &'a dyn PsaProvider,
    company_ids: &'a HashMap<String, i64>,
}

#[async_trait]
impl Collection for Contacts<'_> {
    type Item = PsaContact;
    fn name(&self) -> &'static str {
        "contacts"
    }
    async fn fetch(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaContact>> {
        self.psa.contacts(cursor).await
    }
    async fn apply(&self, p: PsaContact) -> Result<Option<(String, Upserted)>, AppError> {
        let Some(email) = p.email.clone().filter(|e| !e.trim().is_empty()) else {
            tracing::info!(external_id = %p.external_id, "requester has no primary e-mail; skipped");
            return Ok(None);
        };
        let up = contacts::upsert_from_source(
            self.db,
            &contacts::ContactUpsert {
                external_source: self.psa.source().to_string(),
                external_id: p.external_id.clone(),
                email,
                first_name: p.first_name,
                last_name: p.last_name,
                name: None,
                secondary_emails: p.secondary_emails,
                active: p.active,
                is_agent: p.is_agent,
                vip_user: p.vip_user,
                has_logged_in: p.has_logged_in,
                mobile_phone_number: p.mobile_phone_number,
                work_phone_number: p.work_phone_number,
                address: p.address,
                job_title: p.job_title,
                department_ids: p.company_external_ids.clone(),
                department_names: p.department_names,
                reporting_manager_id: p.reporting_manager_id,
                location_name: p.location_name,
                language: p.language,
                time_zone: p.time_zone,
                time_format: p.time_format,
                background_information: p.background_information,
                user_number: p.user_number,
                psa_created_at: p.created_at.map(crate::time::to_db),
                psa_updated_at: p.updated_at.map(crate::time::to_db),
                ..contacts::ContactUpsert::default()
            },
        )
        .await?;
        // Links are merged, never removed (a requester's other companies may come from
        // elsewhere); the PSA's first company is the primary one.
        for (i, ext) in p.company_external_ids.iter().enumerate() {
            if let Some(company_id) = self.company_ids.get(ext) {
                contacts::link_company(self.db, up.id, *company_id, i == 0).await?;
            }
        }
        Ok(Some((p.external_id, up)))
    }
}

/// Tickets changed since the high-water mark (less an overlap, for clock skew and
/// tickets updated while the last run read), each changed one with its time entries and
/// conversations; then the vendor's deleted tickets. `full` re-reads everything.
async fn psa_tickets(run: &Run<'_>, psa: &dyn PsaProvider, full: bool) -> anyhow::Result<()> {
    const OVERLAP_MINUTES: i64 = 10;
    let source = psa.source();
    let mark = state::checkpoint(run.db, source, run.kind, "high_water").await?;
    let since = match (full, mark.as_deref().and_then(crate::time::from_db)) {
        (false, Some(t)) => Some(t - chrono::Duration::minutes(OVERLAP_MINUTES)),
        _ => None,
    };
    let listing = Tickets {
        db: run.db,
        run,
        psa,
        filter: TicketFilter::UpdatedSince(since),
        details: true,
        newest: std::sync::Mutex::new(None),
    };
    listing.load_pending_mark().await?;
    run_listing(run, &listing).await?;
    let newest = *listing.newest.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(newest) = newest {
        let keep = mark
            .as_deref()
            .and_then(crate::time::from_db)
            .map_or(newest, |m| m.max(newest));
        state::set_checkpoint(
            run.db,
            source,
            run.kind,
            "high_water",
            &crate::time::to_db(keep),
        )
        .await?;
    }
    state::clear_checkpoint(run.db, source, run.kind, "high_water_pending").await?;
    state::clear_seen(run.db, source, "tickets").await?;

    run_listing(run, &DeletedTickets { db: run.db, psa }).await?;
    state::clear_seen(run.db, source, "deleted_tickets").await?;
    Ok(())
}

/// The five-minute sync: active tickets as listed (no detail calls), then a detail
/// check of each ticket Codex still holds as active that the PSA no longer lists as
/// active; it was closed, or deleted, and the detail says which. (The original marked
/// all of those deleted.)
async fn psa_tickets_light(run: &Run<'_>, psa: &dyn PsaProvider) -> anyhow::Result<()> {
    let source = psa.source();
    let listing = Tickets {
        db: run.db,
        run,
        psa,
        filter: TicketFilter::Active,
        details: false,
        newest: std::sync::Mutex::new(None),
    };
    let seen: std::collections::HashSet<String> =
        run_listing(run, &listing).await?.into_iter().collect();
    state::clear_seen(run.db, source, "tickets").await?;
    for ext in tickets::active_external_ids(run.db, source).await? {
        if seen.contains(&ext) {
            continue;
        }
        run.ctx.cancel.check()?;
        match psa.ticket_detail(&ext).await? {
            Some(detail) => {
                let up = write_ticket(run.db, source, detail).await?;
                run.ctx.progress.add("left_active", |c| count(c, up.change));
            }
            None => {
                let n = tickets::mark_deleted(run.db, source, std::slice::from_ref(&ext)).await?;
                run.ctx.progress.add("left_active", |c| c.missing += n);
            }
        }
    }
    Ok(())
}

fn ticket_upsert(source: &str, t: PsaTicket) -> tickets::TicketUpsert {
    let at = |v: Option<chrono::DateTime<chrono::Utc>>| v.map(crate::time::to_db);
    tickets::TicketUpsert {
        external_source: source.to_string(),
        external_id: t.external_id,
        ticket_number: t.ticket_number,
        company_id: None,
        company_external_id: t.company_external_id.clone(),
        subject: t.subject,
        description: t.description_html,
        description_text: t.description_text,
        status: Some(t.status),
        status_id: t.status_code,
        status_text: t.status_text,
        priority: Some(t.priority),
        priority_id: t.priority_code,
        ticket_type: t.ticket_type,
        source: t.source,
        category: t.category,
        requester_external_id: t.requester_external_id,
        requester_email: t.requester_email,
        requester_name: t.requester_name,
        responder_external_id: t.responder_external_id,
        group_external_id: t.group_external_id,
        group_name: None,
        department_external_id: t.company_external_id,
        created_at: at(t.created_at),
        last_updated_at: at(t.updated_at),
        closed_at: at(t.closed_at),
        resolved_at: at(t.resolved_at),
        fr_due_by: at(t.fr_due_by),
        due_by: at(t.due_by),
        first_responded_at: at(t.first_responded_at),
        agent_responded_at: at(t.agent_responded_at),
        webhook_updated_at: None,
    }
}

/// Writes a ticket with its time entries and conversations, exactly as the ticket sync
/// does (the Freshservice webhook calls it too, so both paths store the same thing).
/// Writing the same detail twice changes nothing and duplicates nothing.
pub async fn write_ticket(db: &Db, source: &str, d: TicketDetail) -> Result<Upserted, AppError> {
    let ext = d.ticket.external_id.clone();
    let before = tickets::stored_versions(db, source, std::slice::from_ref(&ext)).await?;
    let id = tickets::upsert_ticket(db, &ticket_upsert(source, d.ticket)).await?;
    let at = |v: Option<chrono::DateTime<chrono::Utc>>| v.map(crate::time::to_db);
    let entries: Vec<tickets::TimeEntry> = d
        .time_entries
        .into_iter()
        .map(|e| tickets::TimeEntry {
            external_id: e.external_id,
            agent_external_id: e.agent_external_id,
            minutes: e.minutes,
            billable: e.billable,
            note: e.note,
            executed_at: at(e.executed_at),
            created_at: at(e.created_at),
            updated_at: at(e.updated_at),
        })
        .collect();
    tickets::replace_time_entries(db, id, &entries).await?;
    let conversations: Vec<tickets::ConversationUpsert> = d
        .conversations
        .into_iter()
        .map(|c| tickets::ConversationUpsert {
            external_id: c.external_id,
            private: c.private,
            body: c.body_html,
            body_text: c.body_text,
            author_external_id: c.author_external_id,
            author_name: None,
            from_email: c.from_email,
            incoming: c.incoming,
            created_at: at(c.created_at),
            updated_at: at(c.updated_at),
        })
        .collect();
    tickets::upsert_conversations(db, id, &conversations).await?;
    Ok(Upserted {
        id,
        change: if before.contains_key(&ext) {
            Change::Updated
        } else {
            Change::Created
        },
    })
}

struct Tickets<'a> {
    db: &'a Db,
    run: &'a Run<'a>,
    psa: &'a dyn PsaProvider,
    filter: TicketFilter,
    /// Fetch each changed ticket's time entries and conversations.
    details: bool,
    /// The newest `updated_at` written so far: the next run's high-water mark.
    newest: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

impl Tickets<'_> {
    /// A resumed listing continues from the mark its first pages reached.
    async fn load_pending_mark(&self) -> anyhow::Result<()> {
        let pending = state::checkpoint(
            self.db,
            self.run.provider,
            self.run.kind,
            "high_water_pending",
        )
        .await?;
        *self.newest.lock().unwrap_or_else(|p| p.into_inner()) =
            pending.as_deref().and_then(crate::time::from_db);
        Ok(())
    }

    fn saw(&self, t: Option<chrono::DateTime<chrono::Utc>>) {
        let mut n = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = t {
            if n.is_none_or(|cur| t > cur) {
                *n = Some(t);
            }
        }
    }
}

#[async_trait]
impl Collection for Tickets<'_> {
    type Item = PsaTicket;
    fn name(&self) -> &'static str {
        "tickets"
    }
    fn concurrency(&self) -> usize {
        if self.details {
            8
        } else {
            1
        }
    }
    async fn fetch(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaTicket>> {
        self.psa.tickets(&self.filter, cursor).await
    }
    async fn apply(&self, t: PsaTicket) -> Result<Option<(String, Upserted)>, AppError> {
        let source = self.psa.source();
        let ext = t.external_id.clone();
        let updated = t.updated_at;
        let stored = tickets::stored_versions(self.db, source, std::slice::from_ref(&ext)).await?;
        let incoming = updated.map(crate::time::to_db);
        if let Some((id, last, deleted)) = stored.get(&ext) {
            if !deleted && last.is_some() && *last == incoming {
                self.saw(updated);
                return Ok(Some((
                    ext,
                    Upserted {
                        id: *id,
                        change: Change::Unchanged,
                    },
                )));
            }
        }
        let up = if self.details {
            match self
                .psa
                .ticket_detail(&ext)
                .await
                .map_err(|e| AppError::Internal(e.into()))?
            {
                Some(detail) => write_ticket(self.db, source, detail).await?,
                // Listed a moment ago, gone now: the next run's deleted pass marks it.
                None => return Ok(None),
            }
        } else {
            let id = tickets::upsert_ticket(self.db, &ticket_upsert(source, t)).await?;
            Upserted {
                id,
                change: if stored.contains_key(&ext) {
                    Change::Updated
                } else {
                    Change::Created
                },
            }
        };
        self.saw(updated);
        Ok(Some((ext, up)))
    }
    async fn page_done(&self) -> anyhow::Result<()> {
        if let TicketFilter::UpdatedSince(_) = self.filter {
            let newest = *self.newest.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = newest {
                state::set_checkpoint(
                    self.db,
                    self.run.provider,
                    self.run.kind,
                    "high_water_pending",
                    &crate::time::to_db(t),
                )
                .await?;
            }
        }
        Ok(())
    }
}

struct DeletedTickets<'a> {
    db: &'a Db,
    psa: &'a dyn PsaProvider,
}

#[async_trait]
impl Collection for DeletedTickets<'_> {
    type Item = PsaTicket;
    fn name(&self) -> &'static str {
        "deleted_tickets"
    }
    async fn fetch(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaTicket>> {
        self.psa.tickets(&TicketFilter::Deleted, cursor).await
    }
    async fn apply(&self, t: PsaTicket) -> Result<Option<(String, Upserted)>, AppError> {
        let n = tickets::mark_deleted(
            self.db,
            self.psa.source(),
            std::slice::from_ref(&t.external_id),
        )
        .await?;
        let change = if n > 0 {
            Change::Updated
        } else {
            Change::Unchanged
        };
        Ok(Some((t.external_id, Upserted { id: 0, change })))
    }
}

/// RMM: sites are linked to companies by their account-number variable, then every
/// linked site's devices become assets. A site's missing devices are marked only after
/// that site's device listing completed; a site whose listing failed keeps its assets.
async fn rmm_sync(run: &Run<'_>, rmm: &dyn RmmProvider) -> anyhow::Result<()> {
    let source = rmm.source();
    run_listing(run, &Sites { db: run.db, rmm }).await?;
    state::clear_seen(run.db, source, "sites").await?;

    if rmm.lists_all_devices() {
        return rmm_account_devices(run, rmm).await;
    }
    // Which sites are done survives a restart, so a resumed job skips them.
    const DONE: &str = "devices-done-sites";
    if state::checkpoint(run.db, source, run.kind, "devices-pass")
        .await?
        .is_none()
    {
        state::clear_seen(run.db, source, DONE).await?;
        state::set_checkpoint(run.db, source, run.kind, "devices-pass", "started").await?;
    }
    let done: std::collections::HashSet<String> = state::seen(run.db, source, DONE)
        .await?
        .into_iter()
        .collect();
    for link in sites::links_for_provider(run.db, source).await? {
        if done.contains(&link.rmm_site_uid) {
            continue;
        }
        let devices = Devices {
            db: run.db,
            rmm,
            site_uid: &link.rmm_site_uid,
            company_id: link.company_id,
        };
        let seen = run_listing(run, &devices).await?;
        let key = devices.key();
        finish_listing(
            run,
            "devices",
            &key,
            assets::mark_missing(
                run.db,
                source,
                assets::MissingScope::Site(&link.rmm_site_uid),
                &seen,
            ),
        )
        .await?;
        state::add_seen(
            run.db,
            source,
            DONE,
            std::slice::from_ref(&link.rmm_site_uid),
        )
        .await?;
    }
    state::clear_checkpoint(run.db, source, run.kind, "devices-pass").await?;
    state::clear_seen(run.db, source, DONE).await?;
    Ok(())
}

/// Devices from one account-wide listing (fewer requests than a listing per site). Only
/// devices of linked sites become assets. Missing devices are marked per linked site,
/// and only after the whole listing completed: a listing that failed part-way marks
/// nothing, and its resumed run continues from the stored cursor.
async fn rmm_account_devices(run: &Run<'_>, rmm: &dyn RmmProvider) -> anyhow::Result<()> {
    let source = rmm.source();
    let links = sites::links_for_provider(run.db, source).await?;
    let company_of_site: HashMap<String, i64> = links
        .iter()
        .map(|l| (l.rmm_site_uid.clone(), l.company_id))
        .collect();
    let devices = AccountDevices {
        db: run.db,
        rmm,
        company_of_site: &company_of_site,
    };
    let seen = run_listing(run, &devices).await?;
    let key = devices.key();
    let mut marked = 0;
    for link in &links {
        marked += assets::mark_missing(
            run.db,
            source,
            assets::MissingScope::Site(&link.rmm_site_uid),
            &seen,
        )
        .await?;
    }
    finish_listing(run, "devices", &key, async { Ok(marked) }).await
}

struct AccountDevices<'a> {
    db: &'a Db,
    rmm: &'a dyn RmmProvider,
    company_of_site: &'a HashMap<String, i64>,
}

#[async_trait]
impl Collection for AccountDevices<'_> {
    type Item = RmmDevice;
    fn name(&self) -> &'static str {
        "devices"
    }
    fn key(&self) -> String {
        "devices:account".into()
    }
    async fn fetch(&self, cursor: Option<Cursor>) -> ProviderResult<Page<RmmDevice>> {
        self.rmm.all_devices(cursor).await
    }
    async fn apply(&self, d: RmmDevice) -> Result<Option<(String, Upserted)>, AppError> {
        let Some(&company_id) = self.company_of_site.get(&d.site_uid) else {
            // A device of a site no company is linked to: nothing to file it under.
            return Ok(None);
        };
        upsert_device(self.db, self.rmm.source(), company_id, d).await
    }
}

/// Sites whose account number is read at once.
const SITE_CONCURRENCY: usize = 8;

struct Sites<'a> {
    db: &'a Db,
    rmm: &'a dyn RmmProvider,
}

#[async_trait]
impl Collection for Sites<'_> {
    type Item = RmmSite;
    fn name(&self) -> &'static str {
        "sites"
    }
    /// Each site costs a variables read: one at a time, a page of sites waits a vendor
    /// round trip per site while the budget sits unused. The budget still caps the rate.
    fn concurrency(&self) -> usize {
        SITE_CONCURRENCY
    }
    async fn fetch(&self, cursor: Option<Cursor>) -> ProviderResult<Page<RmmSite>> {
        self.rmm.sites(cursor).await
    }
    async fn apply(&self, site: RmmSite) -> Result<Option<(String, Upserted)>, AppError> {
        let account = self
            .rmm
            .site_account_number(&site.uid)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let Some(account) = account.filter(|a| !a.trim().is_empty()) else {
            tracing::info!(site = %site.name, "site has no account number; skipped (link it by hand or push account numbers)");
            return Ok(None);
        };
        let Some(company) = companies::find(self.db, account.trim()).await? else {
            tracing::info!(site = %site.name, %account, "site's account number matches no company; skipped");
            return Ok(None);
        };
        if company.deleted_at.is_some() {
            return Ok(None);
        }
        let up = sites::link_from_source(
            self.db,
            company.id,
            self.rmm.source(),
            &site.uid,
            Some(&site.name),
        )
        .await?;
        Ok(Some((site.uid, up)))
    }
}

struct Devices<'a> {
    db: &'a Db,
    rmm: &'a dyn RmmProvider,
    site_uid: &'a str,
    company_id: i64,
}

#[async_trait]
impl Collection for Devices<'_> {
    type Item = RmmDevice;
    fn name(&self) -> &'static str {
        "devices"
    }
    fn key(&self) -> String {
        format!("devices:{}", self.site_uid)
    }
    async fn fetch(&self, cursor: Option<Cursor>) -> ProviderResult<Page<RmmDevice>> {
        self.rmm.site_devices(self.site_uid, cursor).await
    }
    async fn apply(&self, d: RmmDevice) -> Result<Option<(String, Upserted)>, AppError> {
        upsert_device(self.db, self.rmm.source(), self.company_id, d).await
    }
}

/// A device written as the company's asset, keyed by (source, device uid).
async fn upsert_device(
    db: &Db,
    source: &str,
    company_id: i64,
    d: RmmDevice,
) -> Result<Option<(String, Upserted)>, AppError> {
    let mut udfs = d.udfs.clone();
    // The original's components: UDF6 carries backup bytes, UDF4 the enabled admins.
    let backup = udfs.get("udf6").and_then(|v| assets::parse_backup_bytes(v));
    let admins = udfs.get("udf4").cloned();
    udfs.retain(|_, v| !v.trim().is_empty());
    let up = assets::upsert_from_source(
        db,
        &assets::AssetUpsert {
            company_id,
            external_source: source.to_string(),
            external_id: Some(d.uid.clone()),
            hostname: d.hostname,
            description: d.description,
            hardware_type: d.category,
            device_type: d.device_type,
            operating_system: d.operating_system,
            last_logged_in_user: d.last_logged_in_user,
            rmm_site_uid: Some(d.site_uid),
            rmm_site_name: d.site_name,
            antivirus_product: d.antivirus_product,
            antivirus_status: d.antivirus_status,
            ext_ip_address: d.ext_ip_address,
            int_ip_address: d.int_ip_address,
            domain: d.domain,
            last_audit_date: d.last_audit_date.map(crate::time::to_db),
            last_reboot: d.last_reboot.map(crate::time::to_db),
            last_seen: d.last_seen.map(crate::time::to_db),
            online: d.online,
            patch_status: d.patch_status,
            backup_usage_bytes: backup,
            enabled_administrators: admins,
            portal_url: d.portal_url,
            web_remote_url: d.web_remote_url,
            udfs,
            manufacturer: d.manufacturer,
            model: d.model,
            serial_number: d.serial_number,
            warranty_expires: d.warranty_date,
        },
    )
    .await?;
    Ok(Some((d.uid, up)))
}

/// Writes each linked site's company account number into the RMM's site variable, so
/// scripts running on the devices know their client.
async fn push_account_numbers(run: &Run<'_>, rmm: &dyn RmmProvider) -> anyhow::Result<()> {
    for link in sites::links_for_provider(run.db, rmm.source()).await? {
        run.ctx.cancel.check()?;
        let current = rmm.site_account_number(&link.rmm_site_uid).await?;
        if current.as_deref() == Some(link.company_account_number.as_str()) {
            run.ctx
                .progress
                .add("site_variables", |c| count(c, Change::Unchanged));
            continue;
        }
        rmm.set_site_account_number(&link.rmm_site_uid, &link.company_account_number)
            .await?;
        let change = if current.is_some() {
            Change::Updated
        } else {
            Change::Created
        };
        run.ctx.progress.add("site_variables", |c| count(c, change));
    }
    Ok(())
}

/// One line per collection plus the request figures, for the job's `output`.
pub fn summary(p: &Progress) -> String {
    let mut out = String::new();
    for (name, c) in p.counts() {
        let _ = writeln!(
            out,
            "{name}: {} seen, {} created, {} updated, {} unchanged, {} marked missing, {} skipped, {} failed",
            c.seen, c.created, c.updated, c.unchanged, c.missing, c.skipped, c.failed
        );
    }
    let r = p.requests();
    let _ = write!(
        out,
        "requests: {} ({} throttled, {} retried)",
        r.requests, r.throttled, r.retries
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::provider::{ProviderError, RmmDevice, RmmSite};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An RMM whose account-number reads take a while and are counted in flight.
    struct SlowSites {
        sites: usize,
        in_flight: AtomicUsize,
        most: AtomicUsize,
    }

    #[async_trait]
    impl RmmProvider for SlowSites {
        fn source(&self) -> &'static str {
            "slowrmm"
        }
        async fn sites(&self, _: Option<Cursor>) -> ProviderResult<Page<RmmSite>> {
            let items = (0..self.sites)
                .map(|i| RmmSite {
                    uid: format!("site-{i}"),
                    name: format!("Site {i}"),
                    ..RmmSite::default()
                })
                .collect();
            Ok(Page { items, next: None })
        }
        async fn site_account_number(&self, _: &str) -> ProviderResult<Option<String>> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(None)
        }
        async fn set_site_account_number(&self, _: &str, _: &str) -> ProviderResult<()> {
            Err(ProviderError::Cancelled)
        }
        async fn site_devices(
            &self,
            _: &str,
            _: Option<Cursor>,
        ) -> ProviderResult<Page<RmmDevice>> {
            Ok(Page {
                items: vec![],
                next: None,
            })
        }
    }

    #[tokio::test]
    async fn site_account_numbers_are_read_several_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect_sqlite_dir(dir.path()).await.unwrap();
        db.migrate().await.unwrap();
        let rmm = SlowSites {
            sites: 20,
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        };
        let ctx = JobContext {
            db: db.clone(),
            cancel: crate::sync::Cancel::new(),
            progress: Arc::new(Progress::default()),
        };
        let run = Run {
            db: &db,
            ctx: &ctx,
            provider: "slowrmm",
            kind: "rmm",
        };
        rmm_sync(&run, &rmm).await.unwrap();
        assert_eq!(rmm.most.load(Ordering::SeqCst), SITE_CONCURRENCY);
        let sites = ctx.progress.counts()["sites"];
        assert_eq!(sites.skipped, 20, "no site has an account number");
    }
}
