//! HTTP integration tests: the real app, a real socket, a fresh database per test.
//! Every test runs twice, `…::sqlite` and `…::postgres`.

mod helpers;

mod assets;
mod auth;
mod beacon;
mod bulk;
mod companies;
mod contacts;
mod ledger;
mod ledger_pages;
mod locations;
mod oidc;
mod plans;
mod platform;
mod preferences;
mod roles;
mod sites;
mod sync_datto;
mod sync_e2e;
mod sync_engine;
mod sync_freshservice;
mod sync_jobs;
mod sync_pages;
mod sync_settings;
mod sync_superops;
mod sync_webhook;
mod tickets;
mod web;
mod web_pages;
