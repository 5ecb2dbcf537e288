//! One request, start to finish: read the body (64 KiB limit, D2 413), route (D2 404/405,
//! D6), dispatch to the call's handler, and turn its [`Answer`] into the response, counted
//! once. Also serves the simulator's own paths (stats D17, failover cue), which are not
//! counted as gateway requests. A sign-in the rate limit refuses is answered 429 here
//! (D20), before any fault or handler sees it.
//!
//! Owns no protocol rule beyond that dispatch.

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use tokio::time::Duration;
use tokio_util::sync::CancellationToken;

use super::faults::Injected;
use super::reply::{Answer, ReplyBody};
use super::router::{self, Route};
use super::stats::Outcome;
use super::throttle::Throttle;
use super::SimGateway;
use crate::protocol::{retcode, Endpoint, HEADER_GUID, SET_GUID_PREFIX};

/// Largest request body accepted (D2).
pub const MAX_BODY: usize = 64 * 1024;

/// The `Guid` header, trimmed; a `JSESSIONID=` prefix is tolerated.
pub(crate) fn presented_guid(headers: &HeaderMap) -> Option<&[u8]> {
    let v = headers.get(HEADER_GUID)?.as_bytes().trim_ascii();
    let v = v
        .strip_prefix(SET_GUID_PREFIX.as_bytes())
        .unwrap_or(v)
        .trim_ascii();
    (!v.is_empty()).then_some(v)
}

/// A body over [`MAX_BODY`] but within this is read and dropped, so the 413 can keep the
/// connection; a larger one closes it.
const DRAIN_LIMIT: usize = 1024 * 1024;
/// A body that does not finish arriving within this is answered 408.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

fn closing(status: StatusCode) -> Answer {
    let mut a = Answer::http_error(status);
    a.close = true;
    a
}

/// Reads the whole body up to [`MAX_BODY`] (D2: 413 beyond). A broken body is 400, a
/// stalled one 408; both close the connection.
async fn read_body(headers: &HeaderMap, body: Incoming) -> Result<Bytes, Answer> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(closing(StatusCode::PAYLOAD_TOO_LARGE));
    }
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, collect(body)).await {
        Ok(result) => result,
        Err(_) => Err(closing(StatusCode::REQUEST_TIMEOUT)),
    }
}

async fn collect(mut body: Incoming) -> Result<Bytes, Answer> {
    let mut parts: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(closing(StatusCode::BAD_REQUEST));
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total += data.len();
        if total > DRAIN_LIMIT {
            return Err(closing(StatusCode::PAYLOAD_TOO_LARGE));
        }
        if total <= MAX_BODY {
            parts.push(data);
        }
    }
    if total > MAX_BODY {
        return Err(Answer::http_error(StatusCode::PAYLOAD_TOO_LARGE));
    }
    Ok(match parts.len() {
        0 => Bytes::new(),
        1 => parts.pop().unwrap_or_default(),
        _ => Bytes::from(parts.concat()),
    })
}

/// The calls the sign-in rate limit counts (D20).
fn is_signin(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::Login | Endpoint::ForceLogin | Endpoint::LoginEx
    )
}

impl SimGateway {
    /// Answers one request, under this gateway's own sign-in rate limit.
    pub(crate) async fn handle(
        &self,
        req: Request<Incoming>,
        shutdown: &CancellationToken,
    ) -> Response<ReplyBody> {
        self.handle_at(req, shutdown, self.throttle.as_ref()).await
    }

    /// Answers one request; sign-ins take a token from `throttle` first (a node of a
    /// cluster is handed its front's).
    pub(crate) async fn handle_at(
        &self,
        req: Request<Incoming>,
        shutdown: &CancellationToken,
        throttle: Option<&Throttle>,
    ) -> Response<ReplyBody> {
        let (parts, body) = req.into_parts();
        let route = router::route(
            &parts.method,
            parts.uri.path(),
            self.config.agent_id_min,
            self.config.agent_id_max,
        );
        let endpoint = route.endpoint();
        let body = match read_body(&parts.headers, body).await {
            Ok(b) => b,
            Err(answer) => {
                return answer
                    .in_dialect(self.config.dialect)
                    .into_response(&self.counters, endpoint)
            }
        };
        if let (Route::Agent { endpoint, .. }, Some(t)) = (route, throttle) {
            if is_signin(endpoint) {
                if let Err(retry_after_s) = t.take(tokio::time::Instant::now()) {
                    return Answer::throttled(retry_after_s)
                        .in_dialect(self.config.dialect)
                        .into_response(&self.counters, Some(endpoint));
                }
            }
        }
        let answer = match route {
            Route::Stats => return self.stats_response(),
            Route::Failover => return self.failover_response(),
            Route::NotFound => Answer::not_found(),
            Route::WrongMethod { code, allow, .. } => Answer::wrong_method(code, allow),
            Route::BadAgentId { .. } => Answer::code(retcode::BAD_URL),
            Route::Agent { endpoint, id, arg } => {
                self.agent_call(endpoint, id, arg, &parts, &body, shutdown)
                    .await
            }
        };
        answer
            .in_dialect(self.config.dialect)
            .into_response(&self.counters, endpoint)
    }

    async fn agent_call(
        &self,
        endpoint: Endpoint,
        id: u32,
        arg: &str,
        parts: &http::request::Parts,
        body: &[u8],
        shutdown: &CancellationToken,
    ) -> Answer {
        let mut reset = false;
        match self.faults.pick(endpoint, self.elapsed()) {
            None => {}
            Some(Injected::Answer(answer)) => return answer,
            Some(Injected::Reset) => reset = true,
            Some(Injected::Stall(d)) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
        let mut answer = self
            .dispatch(endpoint, id, arg, parts, body, shutdown)
            .await;
        answer.reset = reset;
        answer
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        id: u32,
        arg: &str,
        parts: &http::request::Parts,
        body: &[u8],
        shutdown: &CancellationToken,
    ) -> Answer {
        let guid = presented_guid(&parts.headers);
        match endpoint {
            Endpoint::Login | Endpoint::ForceLogin | Endpoint::LoginEx => {
                self.sign_in(endpoint, id, body).await
            }
            Endpoint::GetAgentEvent => self.poll(id, guid, shutdown).await,
            Endpoint::Logout | Endpoint::ForceLogout | Endpoint::ForceLogoutWithReason => {
                self.sign_out(endpoint, id, arg, guid).await
            }
            Endpoint::HandShake => {
                self.service_time(endpoint).await;
                self.handshake(id, guid, &parts.headers)
            }
            Endpoint::UpdateGuid => {
                self.service_time(endpoint).await;
                self.update_guid(id, guid)
            }
            Endpoint::ResetSkill => {
                self.service_time(endpoint).await;
                self.reset_skill(id, arg, parts.uri.query().unwrap_or(""), guid)
            }
        }
    }

    /// `POST /agentstorm/v1/failover`: every session forced out; not counted.
    pub(crate) fn failover_response(&self) -> Response<ReplyBody> {
        let n = self.drop_all_sessions();
        let body = format!(r#"{{"message":"success","retcode":"0","result":{{"dropped":{n}}}}}"#);
        Answer::ok_body(Outcome::of_retcode(retcode::SUCCESS), body.into())
            .into_response_uncounted()
    }

    pub(crate) fn stats_response(&self) -> Response<ReplyBody> {
        let body = serde_json::to_vec(&self.stats()).unwrap_or_else(|_| b"{}".to_vec());
        Answer::ok_body(Outcome::of_retcode(retcode::SUCCESS), body.into())
            .into_response_uncounted()
    }
}
