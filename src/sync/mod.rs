//! Sync: pulls the PSA's and RMM's records into Codex and pushes account numbers back.
//!
//! - `provider` — the `PsaProvider` / `RmmProvider` traits and the vendor-neutral
//!   records every client yields; the engine sees nothing else of a vendor.
//! - `budget` — the per-window request budget kept on our side.
//! - `http` — `ApiClient`: budgeted, counted, retried HTTP for every vendor client.
//! - `engine` — runs a job's collections through a client into Codex, resumably.
//! - `jobs` — durable job rows, the cross-node lock, heartbeats, cancel, recovery.
//! - `routes` — trigger, status and cancel endpoints (`/codex/sync/…`, `/codex/admin/sync-jobs`).
//! - `schedule` — cron schedules per provider and kind, fired once across nodes.
//! - `state` — checkpoints and the ids an unfinished listing has seen.
//! - `freshservice`, `superops`, `datto` — the vendor clients.
//! - `webhook` — Freshservice's ticket webhook, which fetches and stores that ticket.
//! - `cli` — `hivematrix sync …`: a job run in the foreground with progress.
//!
//! The vendor simulators that tests and the demo run against live in `crate::sim`.

pub mod budget;
pub mod cli;
pub mod datto;
pub mod engine;
pub mod freshservice;
pub mod http;
pub mod jobs;
pub mod pages;
pub mod provider;
pub mod routes;
pub mod schedule;
pub mod settings;
pub mod state;
pub mod superops;
pub mod webhook;

use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// This node's sync machinery, held in `AppState`: the engine (with the configured
/// vendor clients) and a bell that wakes the worker when a job is queued.
pub struct SyncService {
    pub engine: Arc<engine::Engine>,
    /// Names this node in job rows and locks; unique per process.
    pub node_id: String,
    wake: Arc<Notify>,
    /// The file's settings with the admin's stored overlays, once loaded (`reload`);
    /// `None` until then, meaning the file's alone.
    effective: std::sync::RwLock<Option<(Arc<crate::Settings>, String)>>,
}

impl SyncService {
    pub fn new(db: crate::Db, connectors: engine::Connectors) -> SyncService {
        SyncService {
            engine: Arc::new(engine::Engine::new(db, connectors)),
            node_id: format!(
                "{}-{}-{}",
                hostname(),
                std::process::id(),
                crate::auth::random_hex(3)
            ),
            wake: Arc::new(Notify::new()),
            effective: std::sync::RwLock::new(None),
        }
    }

    /// The settings the clients were last built from (file + stored overlays), or
    /// `None` if only the file's are in use.
    pub fn effective_settings(&self) -> Option<Arc<crate::Settings>> {
        self.effective
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(s, _)| s.clone())
    }

    /// Rebuilds this node's vendor clients from the file's settings and the stored
    /// overlays. A result that cannot build clients leaves the running ones in place.
    pub async fn reload(&self, db: &crate::Db, file: &crate::Settings) -> anyhow::Result<()> {
        let sig = settings::signature(db).await?;
        let merged = settings::effective_settings(db, file).await?;
        let connectors = connectors_from_settings(&merged)?;
        self.engine.set_connectors(connectors);
        *self.effective.write().unwrap_or_else(|p| p.into_inner()) = Some((Arc::new(merged), sig));
        let (psa, rmm) = (self.engine.psa_names(), self.engine.rmm_names());
        schedule::ensure_defaults(db, &psa, &rmm).await?;
        Ok(())
    }

    /// Reloads whenever another node (or this one) changed the stored settings.
    pub fn spawn_settings_watcher(
        self: &Arc<Self>,
        db: crate::Db,
        file: Arc<crate::Settings>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                let seen = me
                    .effective
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .map(|(_, sig)| sig.clone());
                match settings::signature(&db).await {
                    Ok(sig) if Some(&sig) == seen.as_ref() => {}
                    Ok(_) => {
                        if let Err(e) = me.reload(&db, &file).await {
                            tracing::error!(error = %e, "stored provider settings are not usable; keeping the running clients");
                        } else {
                            tracing::info!("provider settings changed; sync clients rebuilt");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read provider settings"),
                }
            }
        })
    }

    /// Tells the worker a job is waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts this node's worker (recovery first, then claiming queued jobs).
    pub fn spawn_worker(&self, db: crate::Db) -> tokio::task::JoinHandle<()> {
        let engine: Arc<dyn jobs::Executor> = self.engine.clone();
        tokio::spawn(jobs::run_worker(
            db,
            self.node_id.clone(),
            engine,
            self.wake.clone(),
            std::time::Duration::from_secs(2),
        ))
    }
}

impl SyncService {
    /// Starts this node's scheduler (after creating the default schedules of the
    /// configured providers).
    pub fn spawn_scheduler(self: &Arc<Self>, db: crate::Db) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let (psa, rmm) = (me.engine.psa_names(), me.engine.rmm_names());
            if let Err(e) = schedule::ensure_defaults(&db, &psa, &rmm).await {
                tracing::error!(error = %e, "creating default sync schedules failed");
            }
            schedule::run_scheduler(db, me).await
        })
    }
}

/// Builds the vendor clients `hivematrix.toml` configures (`[psa.freshservice]`,
/// `[psa.superops]`, `[rmm.datto]`, `[rmm.superops]`). A malformed section is an
/// error, so a typo stops the start instead of silently disabling a sync.
pub fn connectors_from_settings(settings: &crate::Settings) -> anyhow::Result<engine::Connectors> {
    let mut c = engine::Connectors::default();
    let mut superops_budgets = Vec::new();
    if let Some(psa) = &settings.psa {
        if psa.get("freshservice").is_some() {
            let cfg = freshservice::FreshserviceConfig::from_psa_section(psa)
                .map_err(|e| anyhow::anyhow!(e))?;
            let client = freshservice::FreshserviceClient::new(cfg)
                .map_err(|e| anyhow::anyhow!("[psa.freshservice]: {e}"))?;
            c.psa.insert("freshservice".into(), Arc::new(client));
        }
        if let Some(table) = psa.get("superops") {
            let cfg = superops::SuperOpsConfig::from_table(table, "psa.superops")
                .map_err(|e| anyhow::anyhow!(e))?;
            let api = superops_api(&mut superops_budgets, &cfg);
            let client = superops::SuperOpsPsa::with_api(cfg, api)
                .map_err(|e| anyhow::anyhow!("[psa.superops]: {e}"))?;
            c.psa.insert("superops".into(), Arc::new(client));
        }
    }
    if let Some(rmm) = &settings.rmm {
        if let Some(table) = rmm.get("datto") {
            let cfg: datto::DattoConfig = table
                .clone()
                .try_into()
                .map_err(|e| anyhow::anyhow!("[rmm.datto]: {e}"))?;
            let client =
                datto::DattoClient::new(cfg).map_err(|e| anyhow::anyhow!("[rmm.datto]: {e}"))?;
            c.rmm.insert("datto".into(), Arc::new(client));
        }
        if let Some(table) = rmm.get("superops") {
            let cfg = superops::SuperOpsConfig::from_table(table, "rmm.superops")
                .map_err(|e| anyhow::anyhow!(e))?;
            let api = superops_api(&mut superops_budgets, &cfg);
            let client = superops::SuperOpsRmm::with_api(cfg, api)
                .map_err(|e| anyhow::anyhow!("[rmm.superops]: {e}"))?;
            c.rmm.insert("superops".into(), Arc::new(client));
        }
    }
    Ok(c)
}

/// The HTTP client of a SuperOps section. `[psa.superops]` and `[rmm.superops]` naming
/// the same account share one budget, as SuperOps counts 800 a minute per account.
fn superops_api(
    budgets: &mut Vec<(superops::SuperOpsConfig, Arc<budget::RateBudget>)>,
    cfg: &superops::SuperOpsConfig,
) -> http::ApiClient {
    let budget = match budgets.iter().find(|(c, _)| c.same_account(cfg)) {
        Some((_, b)) => b.clone(),
        None => {
            let b = Arc::new(superops::budget_for(cfg));
            budgets.push((cfg.clone(), b.clone()));
            b
        }
    };
    http::ApiClient::new(superops::VENDOR, budget, http::RetryPolicy::default())
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// A cancellation flag shared by a job and every request it makes.
#[derive(Clone, Debug)]
pub struct Cancel {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel::new()
    }
}

impl Cancel {
    pub fn new() -> Cancel {
        let (tx, rx) = watch::channel(false);
        Cancel {
            tx: std::sync::Arc::new(tx),
            rx,
        }
    }

    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    pub fn check(&self) -> Result<(), provider::ProviderError> {
        if self.is_cancelled() {
            Err(provider::ProviderError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Resolves once cancelled (never, if the flag's owner is gone without cancelling).
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(src: &str) -> toml::Value {
        toml::from_str(src).unwrap()
    }

    #[test]
    fn superops_sections_build_both_clients_on_one_account_budget() {
        let mut s = crate::Settings::default();
        let section = "[superops]\napi_token = \"tok\"\nsubdomain = \"acme\"\n";
        s.psa = Some(table(section));
        s.rmm = Some(table(section));
        let c = connectors_from_settings(&s).unwrap();
        assert!(c.psa.contains_key("superops") && c.rmm.contains_key("superops"));

        let same = superops::SuperOpsConfig::new("https://api.superops.ai/msp", "tok", "acme");
        let other = superops::SuperOpsConfig::new("https://api.superops.ai/msp", "tok2", "acme");
        let mut budgets = Vec::new();
        let a = superops_api(&mut budgets, &same);
        let b = superops_api(&mut budgets, &same.clone());
        let c2 = superops_api(&mut budgets, &other);
        assert!(Arc::ptr_eq(&a.budget, &b.budget), "one account, one budget");
        assert!(!Arc::ptr_eq(&a.budget, &c2.budget));

        s.psa = Some(table("[superops]\nsubdomain = \"acme\"\n"));
        let err = connectors_from_settings(&s).err().unwrap().to_string();
        assert!(
            err.contains("psa.superops") && err.contains("api_token"),
            "{err}"
        );
    }
}
