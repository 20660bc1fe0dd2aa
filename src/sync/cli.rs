//! `hivematrix sync …`: one sync run in the foreground, for operators and cron.
//!
//! The command does not bypass the job machinery: it queues a durable job row, claims
//! exactly that job (so the cross-node lock holds against every `serve` node on the same
//! database) and runs it through the same engine, in this process. Meanwhile it shows
//! the job's per-collection progress (a redrawn line on a terminal, plain periodic lines
//! otherwise), and ends with a summary and an exit code. Ctrl-C asks the job to stop,
//! through the same cancel flag an admin's cancel sets, so the job ends `cancelled` with
//! its checkpoints kept.

use super::jobs::{self, Counts, Job, NewJob, Outcome};
use super::{Cancel, SyncService};
use crate::db::Db;
use clap::{Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum SyncCommand {
    /// Pull companies, contacts and agents (`base`) and/or tickets from a PSA.
    Psa {
        /// The configured PSA: freshservice or superops.
        #[arg(long)]
        provider: String,
        #[arg(long = "type", value_enum, default_value_t = PsaKind::All)]
        kind: PsaKind,
        /// Re-read every ticket instead of those changed since the last run.
        #[arg(long)]
        full: bool,
    },
    /// Pull RMM sites (linked to companies) and their devices (as assets).
    Rmm {
        /// The configured RMM: datto or superops.
        #[arg(long)]
        provider: String,
    },
    /// Write each linked company's account number into its RMM site variable.
    PushAccountNumbers {
        #[arg(long)]
        provider: String,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum PsaKind {
    Base,
    Tickets,
    All,
}

/// What a command runs: one provider, its job kinds in order.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    side: &'static str,
    provider: String,
    kinds: Vec<&'static str>,
    full: bool,
}

fn plan(cmd: &SyncCommand) -> Plan {
    let (side, provider, kinds, full) = match cmd {
        SyncCommand::Psa {
            provider,
            kind,
            full,
        } => {
            let kinds = match kind {
                PsaKind::Base => vec!["base"],
                PsaKind::Tickets => vec!["tickets"],
                // Companies first, so tickets find the companies they belong to.
                PsaKind::All => vec!["base", "tickets"],
            };
            ("PSA", provider, kinds, *full)
        }
        SyncCommand::Rmm { provider } => ("RMM", provider, vec!["rmm"], false),
        SyncCommand::PushAccountNumbers { provider } => {
            ("RMM", provider, vec!["push_account_numbers"], false)
        }
    };
    Plan {
        side,
        provider: provider.trim().to_lowercase(),
        kinds,
        full,
    }
}

/// Runs the command's jobs one after another; the first failure or a cancel stops it.
pub async fn run(db: &Db, settings: &crate::Settings, cmd: SyncCommand) -> anyhow::Result<()> {
    let plan = plan(&cmd);
    // The file's settings plus what an admin stored over the API, as `serve` uses them.
    let settings = &super::settings::effective_settings(db, settings).await?;
    let service = SyncService::new(db.clone(), super::connectors_from_settings(settings)?);
    let configured = match plan.side {
        "PSA" => service.engine.psa_names(),
        _ => service.engine.rmm_names(),
    };
    if !configured.contains(&plan.provider) {
        anyhow::bail!(
            "the {} {} is not configured in hivematrix.toml (configured: {}); add a [{}.{}] section",
            plan.side,
            plan.provider,
            if configured.is_empty() {
                "none".to_string()
            } else {
                configured.join(", ")
            },
            plan.side.to_lowercase(),
            plan.provider
        );
    }
    let cancel = on_interrupt();
    for kind in &plan.kinds {
        cancel.check()?;
        run_job(&service, db, &plan, kind, &cancel).await?;
    }
    Ok(())
}

/// The first Ctrl-C cancels the running job cleanly; a second one exits at once (the
/// job is then recovered as interrupted once its lock goes stale).
fn on_interrupt() -> Cancel {
    let cancel = Cancel::new();
    let flag = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!("\ninterrupted: cancelling the sync (Ctrl-C again to quit at once)…");
        flag.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("quitting; the job is marked interrupted when its lock goes stale");
            std::process::exit(130);
        }
    });
    cancel
}

async fn run_job(
    service: &SyncService,
    db: &Db,
    plan: &Plan,
    kind: &'static str,
    cancel: &Cancel,
) -> anyhow::Result<()> {
    let requested_by = format!("command line ({})", service.node_id);
    let queued = jobs::enqueue(
        db,
        &NewJob {
            provider: &plan.provider,
            kind,
            triggered_by: "cli",
            full_sync: plan.full,
            requested_by: Some(&requested_by),
        },
    )
    .await?;
    let Some(job) = jobs::claim(db, &queued, &service.node_id).await? else {
        return Err(busy(db, plan, kind, &queued, &requested_by).await);
    };
    let id = job.id;
    let started = Instant::now();
    let mut task = {
        let (db, node, engine) = (db.clone(), service.node_id.clone(), service.engine.clone());
        tokio::spawn(async move { jobs::run_claimed(&db, &node, job, engine.as_ref()).await })
    };
    let mut display = Display::new(format!("{} {kind}", plan.provider));
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    let mut cancel_sent = false;
    let outcome = loop {
        tokio::select! {
            joined = &mut task => break joined??,
            _ = cancel.cancelled(), if !cancel_sent => {
                cancel_sent = true;
                // The job's heartbeat reads the flag and stops the engine.
                if let Err(e) = jobs::request_cancel(db, id).await {
                    tracing::warn!(job = id, error = %e, "asking the job to stop failed");
                }
            }
            _ = ticker.tick() => {
                if let Some(j) = jobs::get(db, id).await? {
                    display.update(&j, started.elapsed());
                }
            }
        }
    };
    display.clear();
    let finished = jobs::get(db, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("job {id} vanished"))?;
    print!("{}", summary(&finished, started.elapsed()));
    let _ = std::io::stdout().flush();
    match outcome {
        Outcome::Completed(_) => Ok(()),
        Outcome::Failed(e) => anyhow::bail!("{} {kind} sync failed (job {id}): {e}", plan.provider),
        Outcome::Cancelled => anyhow::bail!(
            "{} {kind} sync cancelled (job {id}); the next run continues from its checkpoint",
            plan.provider
        ),
    }
}

/// Another node holds the lock (or claimed the job first): say who, and withdraw our
/// own queued job so it does not run later by surprise.
async fn busy(db: &Db, plan: &Plan, kind: &str, queued: &Job, ours: &str) -> anyhow::Error {
    let holder = jobs::lock_holder(db, &plan.provider, kind)
        .await
        .ok()
        .flatten();
    if queued.requested_by.as_deref() == Some(ours) {
        let _ = jobs::request_cancel(db, queued.id).await;
    }
    match holder {
        Some(h) => anyhow::anyhow!(
            "a {} {kind} sync is already running (job {} on node {}, last heartbeat {}); \
             try again when it has finished",
            plan.provider,
            h.job_id,
            h.node_id,
            h.heartbeat_at
        ),
        None => anyhow::anyhow!(
            "job {} ({} {kind}) was claimed by another node; follow it at /codex/admin/sync-jobs/{}",
            queued.id,
            plan.provider,
            queued.id
        ),
    }
}

fn counts(job: &Job) -> BTreeMap<String, Counts> {
    serde_json::from_value(job.progress.clone()).unwrap_or_default()
}

/// `companies 40 · contacts 120 · 57 requests`: what a running job has got through.
fn progress_text(job: &Job) -> String {
    let mut parts: Vec<String> = counts(job)
        .iter()
        .map(|(name, c)| {
            let mut s = format!("{name} {}", c.seen + c.skipped + c.failed);
            if c.failed > 0 {
                let _ = write!(s, " ({} failed)", c.failed);
            }
            s
        })
        .collect();
    if parts.is_empty() {
        parts.push("waiting for the first page".into());
    }
    let mut out = parts.join(" · ");
    let _ = write!(out, " · {} requests", job.requests);
    if job.throttled > 0 {
        let _ = write!(out, " ({} throttled)", job.throttled);
    }
    out
}

/// The per-collection figures, request counts and duration of a finished job.
fn summary(job: &Job, took: Duration) -> String {
    let mut out = format!(
        "{} {}: {} in {:.1} s (job {})\n",
        job.provider,
        job.kind,
        job.status,
        took.as_secs_f64(),
        job.id
    );
    for (name, c) in counts(job) {
        let _ = writeln!(
            out,
            "  {name}: {} created, {} updated, {} unchanged, {} marked missing, {} skipped, {} failed",
            c.created, c.updated, c.unchanged, c.missing, c.skipped, c.failed
        );
    }
    let _ = writeln!(
        out,
        "  requests: {} made, {} answered 429, {} retried",
        job.requests, job.throttled, job.retries
    );
    out
}

/// Progress on standard error: one redrawn line on a terminal; otherwise a plain line
/// every [`PLAIN_EVERY`] while something changed (logs and CI output stay readable).
struct Display {
    label: String,
    tty: bool,
    drawn: bool,
    last_plain: Option<(Instant, String)>,
}

const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Display {
    fn new(label: String) -> Display {
        Display {
            label,
            tty: std::io::stderr().is_terminal(),
            drawn: false,
            last_plain: None,
        }
    }

    fn update(&mut self, job: &Job, elapsed: Duration) {
        let text = progress_text(job);
        let line = format!("{} [{}s] {text}", self.label, elapsed.as_secs());
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            self.drawn = true;
        } else {
            let due = match &self.last_plain {
                None => elapsed >= PLAIN_EVERY,
                Some((at, last)) => at.elapsed() >= PLAIN_EVERY && *last != text,
            };
            if !due {
                return;
            }
            let _ = writeln!(err, "{line}");
            self.last_plain = Some((Instant::now(), text));
        }
        let _ = err.flush();
    }

    /// Removes the redrawn line before the summary or an error is printed.
    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(progress: serde_json::Value) -> Job {
        Job {
            id: 7,
            provider: "freshservice".into(),
            kind: "base".into(),
            triggered_by: "cli".into(),
            full_sync: false,
            status: "completed".into(),
            requested_by: None,
            node_id: None,
            cancel_requested: false,
            progress,
            requests: 31,
            throttled: 2,
            retries: 3,
            output: None,
            error: None,
            created_at: String::new(),
            started_at: None,
            heartbeat_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn all_runs_base_before_tickets_and_names_are_normalised() {
        let p = plan(&SyncCommand::Psa {
            provider: " FreshService ".into(),
            kind: PsaKind::All,
            full: true,
        });
        assert_eq!(
            p,
            Plan {
                side: "PSA",
                provider: "freshservice".into(),
                kinds: vec!["base", "tickets"],
                full: true
            }
        );
        let p = plan(&SyncCommand::PushAccountNumbers {
            provider: "datto".into(),
        });
        assert_eq!((p.side, p.kinds), ("RMM", vec!["push_account_numbers"]));
    }

    #[test]
    fn summary_and_progress_show_every_collection_and_the_requests() {
        let j = job(serde_json::json!({
            "companies": {"seen": 8, "created": 6, "updated": 1, "unchanged": 1, "missing": 2, "skipped": 1, "failed": 0},
            "contacts": {"seen": 3, "created": 3, "updated": 0, "unchanged": 0, "missing": 0, "skipped": 0, "failed": 1}
        }));
        let s = summary(&j, Duration::from_millis(2500));
        assert_eq!(
            s,
            "freshservice base: completed in 2.5 s (job 7)\n\
             \x20 companies: 6 created, 1 updated, 1 unchanged, 2 marked missing, 1 skipped, 0 failed\n\
             \x20 contacts: 3 created, 0 updated, 0 unchanged, 0 marked missing, 0 skipped, 1 failed\n\
             \x20 requests: 31 made, 2 answered 429, 3 retried\n"
        );
        assert_eq!(
            progress_text(&j),
            "companies 9 · contacts 4 (1 failed) · 31 requests (2 throttled)"
        );
        assert_eq!(
            progress_text(&job(serde_json::json!({}))),
            "waiting for the first page · 31 requests (2 throttled)"
        );
    }
}
