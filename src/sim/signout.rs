//! Self sign-out: `logout` (D13), `forcelogout` and `forcelogoutwithreason/{1–255}`.
//!
//! Each is exclusive with a pending sign-in of the same agent (D4) and queues no
//! `ShutdownService` (D12). Owns only these three calls.

use tokio::time::Instant;

use super::reply::{Answer, Canned};
use super::session::Auth;
use super::SimGateway;
use crate::protocol::{retcode, Endpoint};

impl SimGateway {
    /// `DELETE …/logout`, `…/forcelogout`, `…/forcelogoutwithreason/{reason}`.
    pub(crate) async fn sign_out(
        &self,
        endpoint: Endpoint,
        id: u32,
        arg: &str,
        presented: Option<&[u8]>,
    ) -> Answer {
        let Some(_pending) = self.sessions.begin_exclusive(id) else {
            return Answer::code(retcode::REPEATED_CALL);
        };
        if endpoint == Endpoint::ForceLogoutWithReason && !matches!(arg.parse::<u16>(), Ok(1..=255))
        {
            return Answer::code(retcode::BAD_SIGNOUT_PARAM);
        }
        self.service_time(endpoint).await;
        match self.authenticate(id, presented, Instant::now()) {
            Auth::Active(session, _) => {
                if self.sessions.sign_out(&session, &self.counters) {
                    Answer::success(if endpoint == Endpoint::Logout {
                        Canned::LogoutOk
                    } else {
                        Canned::PlainOk
                    })
                } else {
                    Answer::code(retcode::NOT_SIGNED_IN)
                }
            }
            Auth::NoPermission => Answer::code(retcode::NO_PERMISSION),
            Auth::Closing(_) | Auth::NotSignedIn => Answer::code(retcode::NOT_SIGNED_IN),
        }
    }
}
