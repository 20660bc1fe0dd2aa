//! Beacon: the live ticket board on the helpdesk's wall. Every active ticket in four
//! sections (open with first-response SLA, customer replied, update overdue, other),
//! worst problems first. This module holds the pure categorisation (`rules`) over its
//! own input and output types (`model`), so the rules are pinned by unit tests and one
//! computed board can be shared by every open screen.
//!
//! - `feed` loads Codex's active tickets and shares one computed `Snapshot` (with its
//!   renderings) between requests;
//! - `settings` the runtime-editable thresholds, alert levels and PS group;
//! - `display` read-only display tokens for wall screens;
//! - `http` the JSON (`/codex/api/tickets/active`, `/beacon/api/…`);
//! - `pages` the board pages, their htmx fragments, the ticket modal, the sync button.

pub mod display;
pub mod feed;
pub mod http;
pub mod model;
pub mod pages;
pub mod rules;
pub mod settings;

#[cfg(test)]
mod tests;

pub use model::{
    AgentFilter, AlertLevel, BeaconEnvelope, Board, BoardItem, BoardSection, BoardSettings,
    BoardTicket, BoardView, CodexEnvelope, SectionId, SlaClass, UpdateThresholds,
};
pub use rules::{build_board, categorise, Verdict};
