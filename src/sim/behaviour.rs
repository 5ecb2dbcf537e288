//! Behaviour model hooks on the request path: service time, the sign-in capacity queue
//! and account checks (phase 1: all neutral).

use tokio::time::Instant;

use super::session::Slot;
use super::SimGateway;
use crate::protocol::Endpoint;

impl SimGateway {
    pub(crate) async fn service_time(&self, _endpoint: Endpoint) {}

    pub(crate) async fn signin_queue(&self) -> Result<(), &'static str> {
        Ok(())
    }

    pub(crate) fn check_account(
        &self,
        _slot: &mut Slot,
        _id: u32,
        _password: &str,
        _now: Instant,
    ) -> Result<(), &'static str> {
        Ok(())
    }
}
