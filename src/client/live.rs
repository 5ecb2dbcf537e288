//! One open HTTP/1.1 connection as an agent holds it: the request handle and the
//! connection's I/O future, polled by the agent's own task (no second task, no hand-over
//! between threads), and reading a reply body whole within a size limit.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper::client::conn::http1::SendRequest;

use super::{wake, Failure, MAX_BODY_BYTES};
use crate::outcome::TransportKind;

/// Reads a reply body whole. More than [`MAX_BODY_BYTES`] (announced or sent) is a bad
/// body, a failure to read it a reset. A body that comes in one frame (a gateway's reply
/// usually does: hyper hands over what arrived with the head) is returned as that frame,
/// with no copy and no list of chunks.
pub(super) async fn read_body(mut body: hyper::body::Incoming) -> Result<Bytes, Failure> {
    if body.size_hint().lower() > MAX_BODY_BYTES as u64 {
        return Err(Failure::Transport(TransportKind::BadBody));
    }
    let mut whole = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    // A body of known length ends with its last byte: stop there, without polling the body
    // once more for its end.
    while !body.is_end_stream() {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(|_| Failure::Transport(TransportKind::Reset))?;
        // Trailers carry nothing the protocol uses.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let len = joined.as_ref().map_or(whole.len(), BytesMut::len) + data.len();
        if len > MAX_BODY_BYTES {
            return Err(Failure::Transport(TransportKind::BadBody));
        }
        match &mut joined {
            Some(buf) => buf.extend_from_slice(&data),
            None if whole.is_empty() => whole = data,
            None => {
                let mut buf = BytesMut::with_capacity(len);
                buf.extend_from_slice(&whole);
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
        }
    }
    Ok(joined.map_or(whole, BytesMut::freeze))
}

/// The future that runs one connection's I/O (hyper's `Connection`), boxed so the agent's
/// state does not name the TLS stream type.
pub(super) type Driver = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// One open connection: the handle requests go through, and the connection's I/O future.
///
/// The I/O future is polled by the agent's own task, alongside each call, instead of being
/// spawned as a second task: a call's request and reply then need no wake-up of another
/// task and no hand-over between worker threads (the profile of the request engine showed
/// that hand-over as a large share of the harness's own CPU per request). Between calls
/// nothing needs to run: HTTP/1.1 keep-alive has no background work, and a connection the
/// gateway closed meanwhile is found closed when the next call polls it.
pub(super) struct Live {
    pub(super) sender: SendRequest<Full<Bytes>>,
    /// None once the connection has ended.
    pub(super) driver: Option<Driver>,
    /// Wakes from inside the task's own poll of this connection make another pass, not a
    /// reschedule.
    pub(super) wake: wake::SelfWake,
}

impl Live {
    /// Waits until the connection takes a request; false if it cannot any more.
    pub(super) async fn ready(&mut self) -> bool {
        let Live {
            sender,
            driver,
            wake,
        } = self;
        std::future::poll_fn(|cx| {
            wake.poll(cx, |pass| {
                if let Some(mut cx) = pass.call() {
                    if let Poll::Ready(r) = sender.poll_ready(&mut cx) {
                        return Poll::Ready(r.is_ok());
                    }
                }
                let Some(mut cx) = pass.conn() else {
                    return Poll::Pending;
                };
                match driver.as_mut().map(|d| d.as_mut().poll(&mut cx)) {
                    Some(Poll::Pending) => Poll::Pending,
                    Some(Poll::Ready(_)) | None => {
                        *driver = None;
                        Poll::Ready(false)
                    }
                }
            })
        })
        .await
    }

    /// Runs `work` to completion while driving the connection's I/O. When the connection
    /// ends first, `work` still completes: hyper fails whatever was waiting on it.
    ///
    /// `work` comes pinned by the caller: taken by value, it would be stored twice in
    /// every agent's task (once as this function's argument, once pinned), and the long
    /// poll's whole exchange is in it.
    pub(super) async fn drive<F: Future>(
        driver: &mut Option<Driver>,
        wake: &wake::SelfWake,
        mut work: Pin<&mut F>,
    ) -> F::Output {
        std::future::poll_fn(|cx| {
            wake.poll(cx, |pass| {
                if let Some(mut cx) = pass.call() {
                    if let Poll::Ready(out) = work.as_mut().poll(&mut cx) {
                        return Poll::Ready(out);
                    }
                }
                if let (Some(mut cx), Some(d)) = (pass.conn(), driver.as_mut()) {
                    if let Poll::Ready(end) = d.as_mut().poll(&mut cx) {
                        if let Err(e) = end {
                            tracing::debug!("connection ended: {e}");
                        }
                        *driver = None;
                        // The connection's end fails or finishes `work`: poll it once more.
                        return work.as_mut().poll(&mut pass.call_now());
                    }
                }
                Poll::Pending
            })
        })
        .await
    }
}
