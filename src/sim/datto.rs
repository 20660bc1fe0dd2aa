//! The simulated datto API (being written on its own branch).

use super::Sim;
use axum::Router;
use std::sync::Arc;

pub fn routes(_sim: Arc<Sim>) -> Router<Arc<Sim>> {
    Router::new()
}
