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
    Cursor, Page, ProviderResult, PsaCompany, PsaContact, PsaProvider, RmmDevice, RmmProvider,
    RmmSite,
};
use super::state;
use crate::codex::{assets, companies, contacts, sites, Change, Upserted};
use crate::db::Db;
use crate::error::AppError;
use async_trait::async_trait;
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

    pub fn rmm_names(&self) -> Vec<String> {
        self.read().rmm.keys().cloned().collect()
    }

    fn rmm(&self, name: &str) -> anyhow::Result<Arc<dyn RmmProvider>> {
        self.read()
            .rmm
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the RMM {name} is not configured"))
    }

    fn psa(&self, name: &str) -> anyhow::Result<Arc<dyn PsaProvider>> {
        self.read()
            .psa
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the PSA {name} is not configured"))
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
                let psa = self.psa(&job.provider)?;
                psa_base(&run, psa.as_ref()).await?;
            }
            "rmm" => {
                let rmm = self.rmm(&job.provider)?;
                rmm_sync(&run, rmm.as_ref()).await?;
            }
            "push_account_numbers" => {
                let rmm = self.rmm(&job.provider)?;
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
        for item in page.items {
            match c.apply(item).await {
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

    let company_ids = company_ids_by_external(run.db, source).await?;
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
    Ok(())
}

async fn company_ids_by_external(db: &Db, source: &str) -> anyhow::Result<HashMap<String, i64>> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT id, external_id FROM companies WHERE external_source = $1 AND external_id IS NOT NULL",
    )
    .bind(source)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("external_id")?,
                r.try_get::<i64, _>("id")?,
            ))
        })
        .collect()
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

/// RMM: sites are linked to companies by their account-number variable, then every
/// linked site's devices become assets. A site's missing devices are marked only after
/// that site's device listing completed; a site whose listing failed keeps its assets.
async fn rmm_sync(run: &Run<'_>, rmm: &dyn RmmProvider) -> anyhow::Result<()> {
    let source = rmm.source();
    run_listing(run, &Sites { db: run.db, rmm }).await?;
    state::clear_seen(run.db, source, "sites").await?;

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
        let mut udfs = d.udfs.clone();
        // The original's components: UDF6 carries backup bytes, UDF4 the enabled admins.
        let backup = udfs.get("udf6").and_then(|v| assets::parse_backup_bytes(v));
        let admins = udfs.get("udf4").cloned();
        udfs.retain(|_, v| !v.trim().is_empty());
        let up = assets::upsert_from_source(
            self.db,
            &assets::AssetUpsert {
                company_id: self.company_id,
                external_source: self.rmm.source().to_string(),
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
