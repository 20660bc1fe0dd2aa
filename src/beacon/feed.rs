//! Feeding the board: Codex's active tickets turned into `BoardTicket`s, and the
//! shared cache that lets many open boards cost one computation. A computed board is
//! reused while the ticket table's change signature (row count + newest write, read from
//! the database so every app node sees the same) and the settings version are unchanged
//! and it is younger than
//! `MAX_AGE` (SLA texts and ages are relative to "now", so they must not go stale).

use super::model::{AgentFilter, Board, BoardTicket, BoardView};
use super::rules::build_board;
use super::settings::BeaconSettings;
use crate::codex::tickets::{store, Ticket};
use crate::error::AppResult;
use crate::time::from_db;
use crate::Db;
use axum::body::Bytes;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one computed board is served before its ages and SLA texts are redone.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// The most boards (view × agent filter) kept at once.
const MAX_ENTRIES: usize = 256;

/// The sync kinds whose completion counts as "the last ticket sync".
const TICKET_SYNC_KINDS: &[&str] = &["tickets", "tickets_light"];

/// Codex's ticket as the board rules see it.
pub fn board_ticket(t: &Ticket) -> BoardTicket {
    let at = |s: &Option<String>| s.as_deref().and_then(from_db);
    BoardTicket {
        external_id: t.external_id.clone(),
        source: t.external_source.clone(),
        ticket_number: t.ticket_number.clone(),
        subject: t.subject.clone(),
        description_text: t.description_text.clone(),
        status: t.status.clone(),
        status_id: t.status_id,
        status_text: t.status_text.clone(),
        priority: t.priority.clone(),
        priority_id: t.priority_id,
        ticket_type: t.ticket_type.clone(),
        company_id: t.company_account_number.clone(),
        requester_id: t.requester_external_id.clone(),
        requester_email: t.requester_email.clone(),
        requester_name: t.requester_name.clone(),
        contact_name: None,
        responder_id: t.responder_external_id.clone(),
        agent_name: t.agent_name.clone(),
        group_id: t.group_external_id.clone(),
        created_at: at(&t.created_at),
        last_updated_at: at(&t.last_updated_at),
        fr_due_by: at(&t.fr_due_by),
        due_by: at(&t.due_by),
        first_responded_at: at(&t.first_responded_at),
        agent_responded_at: at(&t.agent_responded_at),
        minutes_spent: t.minutes_spent,
    }
}

/// One computed board with what was rendered from it: every open screen asking for the
/// same view and agent filter while it is fresh gets this same value, and a rendering
/// (the JSON envelopes, the HTML fragment) is done once per snapshot, not per request.
pub struct Snapshot {
    pub board: Board,
    /// When the newest completed ticket sync finished.
    pub last_sync: Option<DateTime<Utc>>,
    /// The settings version the board was computed with.
    pub settings_version: i64,
    rendered: Mutex<HashMap<&'static str, Bytes>>,
}

impl Snapshot {
    pub fn new(board: Board, last_sync: Option<DateTime<Utc>>, settings_version: i64) -> Self {
        Snapshot {
            board,
            last_sync,
            settings_version,
            rendered: Mutex::default(),
        }
    }

    /// The rendering named `key`, made by `render` the first time it is asked for.
    pub fn rendered(&self, key: &'static str, render: impl FnOnce(&Snapshot) -> String) -> Bytes {
        if let Some(b) = self.rendered.lock().expect("snapshot poisoned").get(key) {
            return b.clone();
        }
        // Rendered outside the lock: two requests racing may both render, harmlessly.
        let bytes = Bytes::from(render(self));
        self.rendered
            .lock()
            .expect("snapshot poisoned")
            .insert(key, bytes.clone());
        bytes
    }

    /// The original Codex `/api/tickets/active` body, serialised once.
    pub fn codex_json(&self) -> Bytes {
        self.rendered("codex.json", |s| {
            serde_json::to_string(&s.board.codex_envelope(s.last_sync)).unwrap_or_default()
        })
    }

    /// The original Beacon `/api/tickets/{view}` body, serialised once.
    pub fn beacon_json(&self) -> Bytes {
        self.rendered("beacon.json", |s| {
            serde_json::to_string(&s.board.beacon_envelope(s.last_sync)).unwrap_or_default()
        })
    }
}

/// The cache's freshness test: the ticket table's signature and the settings version.
type Signature = ((i64, Option<String>), i64);

struct Cached {
    signature: Signature,
    computed: Instant,
    snapshot: Arc<Snapshot>,
}

/// The active tickets as last read, shared by every board computed from them.
struct Loaded {
    signature: (i64, Option<String>),
    read: Instant,
    tickets: Arc<Vec<BoardTicket>>,
    last_sync: Option<DateTime<Utc>>,
}

/// Per app node: computed boards keyed by (view, agent filter), plus how many times a
/// board was computed and the tickets read (the benchmark and tests read them). After
/// a change the tickets are read once for all boards, and one board is computed at a
/// time (`compute`), so a burst of polls after a change costs one read, not one each.
#[derive(Default)]
pub struct BoardCache {
    entries: Mutex<HashMap<(BoardView, String), Cached>>,
    loaded: Mutex<Option<Loaded>>,
    compute: tokio::sync::Mutex<()>,
    computations: std::sync::atomic::AtomicU64,
    reads: std::sync::atomic::AtomicU64,
}

impl BoardCache {
    /// How many boards this node has computed (not served from the cache).
    pub fn computations(&self) -> u64 {
        self.computations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many times this node has read the active tickets from the database.
    pub fn ticket_reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The active tickets for this ticket-table signature: the last read while it
    /// matches and is younger than `MAX_AGE`, else read now.
    async fn tickets(
        &self,
        db: &Db,
        signature: &(i64, Option<String>),
    ) -> AppResult<(Arc<Vec<BoardTicket>>, Option<DateTime<Utc>>)> {
        if let Some(l) = self.loaded.lock().expect("board cache poisoned").as_ref() {
            if &l.signature == signature && l.read.elapsed() < MAX_AGE {
                return Ok((l.tickets.clone(), l.last_sync));
            }
        }
        let active = store::list_active(db).await?;
        // The requester's name from Codex's contacts, for tickets whose PSA listing
        // carried only the requester's id (one query for the whole board).
        let mut ids: Vec<i64> = active
            .iter()
            .filter(|t| {
                t.requester_name
                    .as_deref()
                    .is_none_or(|n| n.trim().is_empty())
            })
            .filter_map(|t| t.contact_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let names = crate::codex::contacts::names_by_id(db, &ids).await?;
        let tickets: Arc<Vec<BoardTicket>> = Arc::new(
            active
                .iter()
                .map(|t| BoardTicket {
                    contact_name: t.contact_id.and_then(|id| names.get(&id).cloned()),
                    ..board_ticket(t)
                })
                .collect(),
        );
        let last_sync = crate::sync::jobs::last_completed_at(db, TICKET_SYNC_KINDS)
            .await?
            .as_deref()
            .and_then(from_db);
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.loaded.lock().expect("board cache poisoned") = Some(Loaded {
            signature: signature.clone(),
            read: Instant::now(),
            tickets: tickets.clone(),
            last_sync,
        });
        Ok((tickets, last_sync))
    }

    /// The board for a view and agent filter: from the cache when neither the tickets
    /// nor the settings changed and it is fresh, else computed and stored.
    pub async fn snapshot(
        &self,
        db: &Db,
        settings: &BeaconSettings,
        view: BoardView,
        agent: &AgentFilter,
    ) -> AppResult<Arc<Snapshot>> {
        let key = (view, agent_key(agent));
        let tickets_signature = store::change_signature(db).await?;
        let signature = (tickets_signature.clone(), settings.version);
        if let Some(hit) = self.fresh(&key, &signature) {
            return Ok(hit);
        }
        // One computation at a time: polls that missed together wait for the first
        // and then find its board.
        let _computing = self.compute.lock().await;
        if let Some(hit) = self.fresh(&key, &signature) {
            return Ok(hit);
        }
        let (tickets, last_sync) = self.tickets(db, &tickets_signature).await?;
        let board = build_board(
            &tickets,
            Utc::now(),
            &settings.board_settings(),
            view,
            agent,
        );
        let snapshot = Arc::new(Snapshot::new(board, last_sync, settings.version));
        self.computations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries.lock().expect("board cache poisoned");
        // The agent filter comes from the query string: drop stale boards so arbitrary
        // filters cannot grow the cache without bound.
        entries.retain(|_, c| c.computed.elapsed() < MAX_AGE);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Cached {
                signature,
                computed: Instant::now(),
                snapshot: snapshot.clone(),
            },
        );
        Ok(snapshot)
    }

    fn fresh(&self, key: &(BoardView, String), signature: &Signature) -> Option<Arc<Snapshot>> {
        let entries = self.entries.lock().expect("board cache poisoned");
        entries
            .get(key)
            .filter(|c| &c.signature == signature && c.computed.elapsed() < MAX_AGE)
            .map(|c| c.snapshot.clone())
    }
}

fn agent_key(agent: &AgentFilter) -> String {
    match agent {
        AgentFilter::All => String::new(),
        AgentFilter::Unassigned => "\u{0}unassigned".into(),
        AgentFilter::Agent(id) => id.clone(),
    }
}
