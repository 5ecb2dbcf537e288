//! Push mode (D16) (phase 1: sessions are created but nothing is pushed yet).

use std::sync::Arc;

use super::session::Session;
use super::SimGateway;

impl SimGateway {
    pub(crate) fn push_target(&self, _callback: &str) -> Result<(), &'static str> {
        Ok(())
    }

    pub(crate) fn start_push(&self, _session: Arc<Session>) {}
}
