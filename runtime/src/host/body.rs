//! HTTP bodies as the guest sees them: a buffer it can read and write, fed
//! by a stream (the client's upload, a backend's response) or draining into
//! one (a streamed response or a streamed backend request).

use super::ledger::{Held, Ledger};
use super::{HostError, HostResult};
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// Errors of body streams.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body arriving from the network.
pub type StreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// Frames in flight between a streaming body handle and its consumer.
const STREAM_CHANNEL_FRAMES: usize = 16;

/// A body handle's contents.
#[derive(Default)]
pub struct Body {
    /// Bytes buffered, in order.
    chunks: VecDeque<Bytes>,
    /// More to come from the network after `chunks`.
    source: Option<StreamBody>,
    /// When set, writes go out on this channel instead of into `chunks`.
    sink: Option<mpsc::Sender<Frame<Bytes>>>,
    /// Trailers, received or to send.
    trailers: HeaderMap,
    /// Told when the program closes the body (not when it abandons it).
    on_close: Option<oneshot::Sender<()>>,
    /// Its buffered bytes on the request's ledger.
    held: Held,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field(
                "buffered",
                &self.chunks.iter().map(Bytes::len).sum::<usize>(),
            )
            .field("streaming_in", &self.source.is_some())
            .field("streaming_out", &self.sink.is_some())
            .finish()
    }
}

impl Body {
    /// A body holding `bytes`.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let mut body = Body::default();
        if !bytes.is_empty() {
            body.chunks.push_back(bytes);
        }
        body
    }

    /// A body read from a network stream.
    pub fn from_stream(stream: StreamBody) -> Self {
        Body {
            source: Some(stream),
            ..Body::default()
        }
    }

    /// Counts what this body buffers from now on against `ledger`.
    pub fn attach(&mut self, ledger: &Ledger) {
        self.held.attach(ledger);
    }

    /// Reads up to `max` bytes; an empty answer is the end of the body.
    pub async fn read(&mut self, max: usize) -> HostResult<Bytes> {
        loop {
            if let Some(mut chunk) = self.chunks.pop_front() {
                if chunk.len() > max {
                    let rest = chunk.split_off(max);
                    self.chunks.push_front(rest);
                }
                self.held.let_go(chunk.len());
                return Ok(chunk);
            }
            if !self.fill().await? {
                return Ok(Bytes::new());
            }
        }
    }

    /// Pulls one frame from the source into the buffer. False at the end.
    async fn fill(&mut self) -> HostResult<bool> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Polls for one frame from the source into the buffer: `Ok(false)` at
    /// the end. The one place that reads the source, so that [`Self::fill`]
    /// and [`Self::poll_ready`] treat its frames, errors and end alike.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<HostResult<bool>> {
        let Some(source) = self.source.as_mut() else {
            return Poll::Ready(Ok(false));
        };
        match Pin::new(source).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.source = None;
                Poll::Ready(Ok(false))
            }
            Poll::Ready(Some(Err(e))) => {
                self.source = None;
                Poll::Ready(Err(HostError::Other(format!("reading body: {e}"))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                match frame.into_data() {
                    Ok(data) => {
                        if let Err(e) = self.held.hold(data.len()) {
                            self.source = None;
                            return Poll::Ready(Err(e));
                        }
                        self.chunks.push_back(data)
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers.extend(t);
                        }
                    }
                }
                Poll::Ready(Ok(true))
            }
        }
    }

    /// True when a read would not wait.
    pub fn is_ready(&self) -> bool {
        !self.chunks.is_empty() || self.source.as_ref().is_none_or(|s| s.is_end_stream())
    }

    /// Polls until a read would not wait, pulling frames into the buffer.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<HostResult<()>> {
        while !self.is_ready() {
            match self.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(true)) => {}
                // The source is gone, so a read would not wait.
                Poll::Ready(Ok(false)) => break,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes `data` at the end (or at the front of a buffered body).
    pub async fn write(&mut self, data: Bytes, at_front: bool) -> HostResult<()> {
        if let Some(sink) = &self.sink {
            if at_front {
                return Err(HostError::Invalid(
                    "cannot write at the front of a streaming body".into(),
                ));
            }
            return sink.send(Frame::data(data)).await.map_err(|_| {
                HostError::Other("the receiver of this streaming body is gone".into())
            });
        }
        self.held.hold(data.len())?;
        if at_front {
            self.chunks.push_front(data);
        } else {
            self.chunks.push_back(data);
        }
        Ok(())
    }

    /// Moves all of `other` to the end of this body.
    pub async fn append(&mut self, mut other: Body) -> HostResult<()> {
        if self.sink.is_some() || self.source.is_some() {
            // Order must be kept: copy `other` through once it is complete.
            loop {
                let chunk = other.read(usize::MAX).await?;
                if chunk.is_empty() {
                    break;
                }
                self.push_after_source(chunk).await?;
            }
            self.trailers.extend(other.trailers);
            return Ok(());
        }
        self.chunks.append(&mut other.chunks);
        self.held.absorb(&mut other.held);
        self.source = other.source.take();
        self.trailers.extend(other.trailers);
        Ok(())
    }

    async fn push_after_source(&mut self, chunk: Bytes) -> HostResult<()> {
        if self.sink.is_some() {
            return self.write(chunk, false).await;
        }
        // Drain our own source first so that the appended bytes come last.
        while self.fill().await? {}
        self.chunks.push_back(chunk);
        Ok(())
    }

    /// The length when it is known without reading.
    pub fn known_length(&self) -> Option<u64> {
        if self.sink.is_some() {
            return None;
        }
        let buffered: u64 = self.chunks.iter().map(|c| c.len() as u64).sum();
        match &self.source {
            None => Some(buffered),
            Some(s) => s.size_hint().exact().map(|n| n + buffered),
        }
    }

    /// Trailers, when the body has been read to its end.
    pub fn trailers(&self) -> HostResult<&HeaderMap> {
        if self.source.is_some() {
            return Err(HostError::Again);
        }
        Ok(&self.trailers)
    }

    /// Adds a trailer.
    pub fn append_trailer(&mut self, name: http::HeaderName, value: http::HeaderValue) {
        self.trailers.append(name, value);
    }

    /// Closes a body: a streaming body sends its trailers and ends.
    pub async fn close(mut self) {
        if let Some(tx) = self.on_close.take() {
            let _ = tx.send(());
        }
        if let Some(sink) = self.sink.take()
            && !self.trailers.is_empty()
        {
            let _ = sink
                .send(Frame::trailers(std::mem::take(&mut self.trailers)))
                .await;
        }
    }

    /// Turns the body into something hyper can send, with nothing more to
    /// come from the guest.
    pub fn into_outgoing(self) -> OutgoingBody {
        OutgoingBody {
            chunks: self.chunks,
            source: self.source,
            rx: None,
            trailers: (!self.trailers.is_empty()).then_some(self.trailers),
            held: self.held,
        }
    }

    /// Splits the body for streaming: what is buffered so far goes out first,
    /// then whatever the guest writes to the returned handle body.
    pub fn into_streaming(self) -> (Body, OutgoingBody) {
        let (tx, rx) = mpsc::channel(STREAM_CHANNEL_FRAMES);
        let out = OutgoingBody {
            chunks: self.chunks,
            source: self.source,
            rx: Some(rx),
            trailers: None,
            held: self.held,
        };
        let handle_body = Body {
            sink: Some(tx),
            trailers: self.trailers,
            ..Body::default()
        };
        (handle_body, out)
    }
}

impl Body {
    /// A body the program writes, read from the returned stream, with a
    /// signal that says whether the program closed it (`Ok`) or abandoned
    /// it (the sender is dropped).
    pub fn written_by_guest() -> (Body, OutgoingBody, oneshot::Receiver<()>) {
        let (mut body, out) = Body::default().into_streaming();
        let (tx, rx) = oneshot::channel();
        body.on_close = Some(tx);
        (body, out, rx)
    }
}

/// A body on its way out to a client or a backend.
#[derive(Default)]
pub struct OutgoingBody {
    chunks: VecDeque<Bytes>,
    source: Option<StreamBody>,
    rx: Option<mpsc::Receiver<Frame<Bytes>>>,
    trailers: Option<HeaderMap>,
    /// The program's bytes still in `chunks`, given back as they go out.
    held: Held,
}

impl std::fmt::Debug for OutgoingBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingBody")
            .field("end", &http_body::Body::is_end_stream(self))
            .finish()
    }
}

impl OutgoingBody {
    /// A complete body of `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Body::from_bytes(bytes).into_outgoing()
    }
}

impl http_body::Body for OutgoingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(chunk) = this.chunks.pop_front() {
            this.held.let_go(chunk.len());
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(source) = this.source.as_mut() {
            match Pin::new(source).poll_frame(cx) {
                Poll::Ready(None) => this.source = None,
                other => return other,
            }
        }
        if let Some(rx) = this.rx.as_mut() {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Poll::Ready(None) => this.rx = None,
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
            && self.source.is_none()
            && self.rx.is_none()
            && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let buffered: u64 = self.chunks.iter().map(|c| c.len() as u64).sum();
        if self.rx.is_some() {
            return SizeHint::default();
        }
        match &self.source {
            None => SizeHint::with_exact(buffered),
            Some(s) => {
                let h = s.size_hint();
                match h.exact() {
                    Some(n) => SizeHint::with_exact(n + buffered),
                    None => {
                        let mut hint = SizeHint::new();
                        hint.set_lower(h.lower() + buffered);
                        hint
                    }
                }
            }
        }
    }
}

/// Boxes any body with `Bytes` data into a [`StreamBody`].
pub fn boxed<B>(body: B) -> StreamBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// Fails a network body that stalls for longer than `limit` between two
/// frames (a backend's between-bytes timeout).
pub fn timeout_between_frames<B>(body: B, limit: std::time::Duration) -> BetweenFrames<B> {
    BetweenFrames {
        inner: Box::pin(body),
        limit,
        timer: None,
    }
}

/// See [`timeout_between_frames`].
pub struct BetweenFrames<B> {
    inner: Pin<Box<B>>,
    limit: std::time::Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> http_body::Body for BetweenFrames<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let limit = this.limit;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                        "no data from the backend for {limit:?}"
                    )
                    .into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Decompresses a gzip-encoded body as it streams (a request's
/// `auto_decompress_response_set`).
pub fn gunzip(inner: StreamBody) -> StreamBody {
    boxed(Gunzip {
        inner,
        decoder: Some(flate2::write::GzDecoder::new(Vec::new())),
    })
}

struct Gunzip {
    inner: StreamBody,
    decoder: Option<flate2::write::GzDecoder<Vec<u8>>>,
}

impl http_body::Body for Gunzip {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        use std::io::Write as _;
        let this = &mut *self;
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    let data = match frame.into_data() {
                        Ok(data) => data,
                        Err(other) => return Poll::Ready(Some(Ok(other))),
                    };
                    let Some(decoder) = this.decoder.as_mut() else {
                        continue;
                    };
                    if let Err(e) = decoder.write_all(&data) {
                        return Poll::Ready(Some(Err(format!("gzip: {e}").into())));
                    }
                    let out = std::mem::take(decoder.get_mut());
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Poll::Ready(None) => {
                    let Some(decoder) = this.decoder.take() else {
                        return Poll::Ready(None);
                    };
                    return match decoder.finish() {
                        Ok(rest) if rest.is_empty() => Poll::Ready(None),
                        Ok(rest) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest))))),
                        Err(e) => Poll::Ready(Some(Err(format!("gzip: {e}").into()))),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_in_order_and_splits_chunks() {
        let mut body = Body::from_bytes("hello world");
        body.write(Bytes::from_static(b">"), true).await.unwrap();
        assert_eq!(body.known_length(), Some(12));
        assert_eq!(&body.read(3).await.unwrap()[..], b">");
        assert_eq!(&body.read(3).await.unwrap()[..], b"hel");
        assert_eq!(&body.read(100).await.unwrap()[..], b"lo world");
        assert!(body.read(100).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn append_keeps_stream_order() {
        let stream = boxed(http_body_util::Full::new(Bytes::from_static(b"abc")));
        let mut body = Body::from_stream(stream);
        body.append(Body::from_bytes("def")).await.unwrap();
        let out = body.into_outgoing().collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"abcdef");
    }

    #[tokio::test]
    async fn streaming_sends_buffered_then_written() {
        let (mut handle, out) = Body::from_bytes("first ").into_streaming();
        let reader = tokio::spawn(async move { out.collect().await.unwrap().to_bytes() });
        handle
            .write(Bytes::from_static(b"second"), false)
            .await
            .unwrap();
        assert!(handle.write(Bytes::new(), true).await.is_err());
        handle.close().await;
        assert_eq!(&reader.await.unwrap()[..], b"first second");
    }

    /// A network body of these frames.
    fn stream_of(frames: Vec<Result<Frame<Bytes>, BoxError>>) -> StreamBody {
        boxed(http_body_util::StreamBody::new(futures::stream::iter(
            frames,
        )))
    }

    #[tokio::test]
    async fn poll_ready_and_read_take_data_trailers_and_the_end_alike() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-t", http::HeaderValue::from_static("1"));
        let frames = || {
            vec![
                Ok(Frame::data(Bytes::from_static(b"ab"))),
                Ok(Frame::trailers(trailers.clone())),
            ]
        };
        let mut body = Body::from_stream(stream_of(frames()));
        std::future::poll_fn(|cx| body.poll_ready(cx))
            .await
            .unwrap();
        assert!(matches!(body.trailers(), Err(HostError::Again)));
        assert_eq!(&body.read(10).await.unwrap()[..], b"ab");
        assert!(body.read(10).await.unwrap().is_empty());
        assert_eq!(body.trailers().unwrap()["x-t"], "1");

        let mut body = Body::from_stream(stream_of(frames()));
        std::future::poll_fn(|cx| body.poll_ready(cx))
            .await
            .unwrap();
        assert_eq!(&body.read(10).await.unwrap()[..], b"ab");
        // Trailers and the end make no data: ready once the source is gone.
        std::future::poll_fn(|cx| body.poll_ready(cx))
            .await
            .unwrap();
        assert!(body.is_ready());
        assert_eq!(body.trailers().unwrap()["x-t"], "1");
    }

    #[tokio::test]
    async fn a_failing_source_fails_poll_ready_and_read_alike() {
        let failing = || stream_of(vec![Err("boom".into())]);
        let want = |e: HostError| matches!(e, HostError::Other(m) if m == "reading body: boom");
        let mut body = Body::from_stream(failing());
        let e = std::future::poll_fn(|cx| body.poll_ready(cx)).await;
        assert!(want(e.unwrap_err()));
        assert!(body.is_ready(), "the source is dropped after an error");
        let mut body = Body::from_stream(failing());
        assert!(want(body.read(10).await.unwrap_err()));
        assert!(body.read(10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn gzip_bodies_are_decompressed_while_streaming() {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello, compressed world").unwrap();
        let gz = enc.finish().unwrap();
        let stream = boxed(http_body_util::Full::new(Bytes::from(gz)));
        let out = gunzip(stream).collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"hello, compressed world");
        let bad = boxed(http_body_util::Full::new(Bytes::from_static(
            b"not gzip at all",
        )));
        assert!(gunzip(bad).collect().await.is_err());
    }
}
