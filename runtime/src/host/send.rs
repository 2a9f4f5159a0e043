//! Sending a request the program built to a backend: taking the request
//! and body out of their handles, sending now or in the background, and
//! turning the outcome into response and body handles.

use super::backends::{Backend, SendError, SendErrorTag, send_to};
use super::body::{Body, OutgoingBody};
use super::handles::{BodyHandle, PendingRequestHandle, RequestHandle, ResponseHandle};
use super::session::{PendingRequest, ResponseState, SendOutcome, Session};
use super::{HostError, HostResult};
use std::sync::Arc;

/// A request taken out of its handles, ready to go.
pub struct PreparedSend {
    backend: Arc<Backend>,
    request: http::Request<OutgoingBody>,
    gunzip: bool,
}

impl PreparedSend {
    /// Sends it and waits for the response head.
    pub async fn send(self) -> SendOutcome {
        send_to(&self.backend, self.request, self.gunzip).await
    }
}

impl Session {
    /// Takes request `req` and body `body` for sending to `backend`. A
    /// streaming send leaves `body` open for the program to write to.
    pub fn prepare_send(
        &mut self,
        backend: &str,
        req: RequestHandle,
        body: BodyHandle,
        streaming: bool,
    ) -> HostResult<PreparedSend> {
        let backend = self
            .env()
            .backends
            .get(backend)
            .ok_or_else(|| HostError::Invalid(format!("no backend named `{backend}`")))?;
        if !self.contains(req) {
            return Err(HostError::BadHandle(req.into()));
        }
        if !self.contains(body) {
            return Err(HostError::BadHandle(body.into()));
        }
        self.count_backend_request()?;
        let state = self.take(req)?;
        let b = self.take(body)?;
        let outgoing = if streaming {
            let (handle_body, out) = b.into_streaming();
            self.put(body, handle_body);
            out
        } else {
            b.into_outgoing()
        };
        Ok(PreparedSend {
            backend,
            request: http::Request::from_parts(state.parts, outgoing),
            gunzip: state.auto_decompress_gzip,
        })
    }

    /// Sends in the background; the handle of the pending request.
    pub fn start_send(&mut self, prepared: PreparedSend) -> PendingRequestHandle {
        let task = tokio::spawn(prepared.send());
        self.insert(PendingRequest::Running(task))
    }

    /// The outcome of pending request `h` if it has finished (the handle is
    /// then closed), or `None` while it runs.
    pub fn poll_pending(&mut self, h: PendingRequestHandle) -> HostResult<Option<SendOutcome>> {
        let ready = match self.get(h)? {
            PendingRequest::Done(_) => true,
            PendingRequest::Running(task) => task.is_finished(),
        };
        if !ready {
            return Ok(None);
        }
        let outcome = match self.take(h)? {
            PendingRequest::Done(o) => o,
            PendingRequest::Running(task) => futures::FutureExt::now_or_never(task)
                .ok_or(HostError::Again)?
                .unwrap_or_else(|e| {
                    Err(SendError {
                        tag: SendErrorTag::InternalError,
                        message: e.to_string(),
                    })
                }),
        };
        Ok(Some(outcome))
    }

    /// Gives a successful backend response handles for its head and body.
    pub fn accept_response(
        &mut self,
        resp: http::Response<super::body::StreamBody>,
    ) -> (ResponseHandle, BodyHandle) {
        let (parts, body) = resp.into_parts();
        // The connector records the origin's address on the response.
        let remote_addr = parts
            .extensions
            .get::<hyper_util::client::legacy::connect::HttpInfo>()
            .map(|info| info.remote_addr());
        let rh = self.insert(ResponseState { parts, remote_addr });
        let bh = self.insert(Body::from_stream(body));
        (rh, bh)
    }
}
