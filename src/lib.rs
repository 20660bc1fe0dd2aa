//! HiveMatrix: one binary that runs an MSP back office.
//!
//! `main.rs` only parses the command line; everything lives here so that the
//! integration tests drive the very same code over HTTP.

pub mod audit;
pub mod auth;
pub mod beacon;
pub mod cli;
pub mod codex;
pub mod config;
pub mod db;
pub mod demo;
pub mod demo_live;
pub mod error;
pub mod health;
pub mod http;
pub mod ledger;
pub mod money;
pub mod openapi;
pub mod sim;
pub mod sync;
pub mod time;
pub mod validate;
pub mod web;

pub use config::Settings;
pub use db::Db;
pub use http::{build_app, AppState};
