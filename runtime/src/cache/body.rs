//! Bodies served from the cache: whole bytes from the hot layer, chunks
//! read one at a time from a database snapshot, or a fill's buffer as it
//! grows; optionally cut to one byte range.

use super::fill::FillReader;
use super::store::ChunkSnapshot;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::JoinHandle;

/// Errors of cache bodies.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// Reads one object's chunks from a snapshot, off the reactor.
struct DiskReader {
    snapshot: Arc<ChunkSnapshot>,
    id: u64,
    chunks: u32,
    length: u64,
    next: u32,
    seen: u64,
    reading: Option<JoinHandle<Result<Option<Bytes>, String>>>,
}

impl DiskReader {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        if self.next == self.chunks && self.reading.is_none() {
            if self.seen != self.length {
                return Poll::Ready(Some(Err(format!(
                    "cached object {} has {} bytes, its metadata says {}",
                    self.id, self.seen, self.length
                ))));
            }
            return Poll::Ready(None);
        }
        let reading = self.reading.get_or_insert_with(|| {
            let (snapshot, id, index) = (self.snapshot.clone(), self.id, self.next);
            tokio::task::spawn_blocking(move || {
                snapshot.chunk(id, index).map_err(|e| e.to_string())
            })
        });
        let got = match Pin::new(reading).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        self.reading = None;
        match got {
            Ok(Ok(Some(chunk))) => {
                self.next += 1;
                self.seen += chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            Ok(Ok(None)) => Poll::Ready(Some(Err(format!(
                "cached object {} lacks chunk {}",
                self.id, self.next
            )))),
            Ok(Err(e)) => Poll::Ready(Some(Err(e))),
            Err(e) => Poll::Ready(Some(Err(e.to_string()))),
        }
    }
}

enum Source {
    Whole(Option<Bytes>),
    Disk(Box<DiskReader>),
    Fill(Box<FillReader>),
}

/// A body from the cache.
pub struct CacheBody {
    source: Source,
    /// Bytes still to skip before the range starts.
    skip: u64,
    /// Bytes still to give (the range's end); `None`: to the end.
    remaining: Option<u64>,
    /// The exact length, when known.
    exact: Option<u64>,
}

impl std::fmt::Debug for CacheBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBody")
            .field("exact", &self.exact)
            .finish()
    }
}

impl CacheBody {
    fn new(source: Source, exact: Option<u64>) -> Self {
        CacheBody {
            source,
            skip: 0,
            remaining: None,
            exact,
        }
    }

    /// A body of `bytes`.
    pub fn whole(bytes: Bytes) -> Self {
        let len = bytes.len() as u64;
        CacheBody::new(Source::Whole(Some(bytes)), Some(len))
    }

    /// No body (HEAD, 304).
    pub fn empty() -> Self {
        CacheBody::new(Source::Whole(None), Some(0))
    }

    /// Object `id`'s `chunks` chunks (`length` bytes) from `snapshot`.
    pub fn from_disk(snapshot: Arc<ChunkSnapshot>, id: u64, chunks: u32, length: u64) -> Self {
        let reader = DiskReader {
            snapshot,
            id,
            chunks,
            length,
            next: 0,
            seen: 0,
            reading: None,
        };
        CacheBody::new(Source::Disk(Box::new(reader)), Some(length))
    }

    /// A fill's body as it arrives.
    pub fn from_fill(reader: FillReader) -> Self {
        CacheBody::new(Source::Fill(Box::new(reader)), None)
    }

    /// Only bytes `start..=end` of it.
    pub fn range(mut self, start: u64, end: u64) -> Self {
        self.skip = start;
        self.remaining = Some(end + 1 - start);
        self.exact = Some(end + 1 - start);
        self
    }

    fn poll_source(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        match &mut self.source {
            Source::Whole(b) => Poll::Ready(b.take().map(Ok)),
            Source::Disk(d) => d.poll_chunk(cx),
            Source::Fill(f) => f.poll_chunk(cx),
        }
    }
}

impl http_body::Body for CacheBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        loop {
            if this.remaining == Some(0) {
                return Poll::Ready(None);
            }
            let mut chunk = match this.poll_source(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(c))) => c,
            };
            let len = chunk.len() as u64;
            if this.skip >= len {
                this.skip -= len;
                continue;
            }
            let _ = chunk.split_to(this.skip as usize);
            this.skip = 0;
            if let Some(left) = this.remaining.as_mut() {
                chunk.truncate((*left).min(chunk.len() as u64) as usize);
                *left -= chunk.len() as u64;
            }
            if chunk.is_empty() {
                continue;
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == Some(0) || matches!(self.source, Source::Whole(None))
    }
}

/// A `Range` request header's single byte range, resolved against an
/// object of `length` bytes: `Some(Ok((start, end)))` inclusive,
/// `Some(Err(()))` when it cannot be satisfied, `None` when there is no
/// usable range (several ranges, other units, bad syntax: answer whole).
pub fn byte_range(header: &http::HeaderValue, length: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.to_str().ok()?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (from, to) = spec.split_once('-')?;
    let (from, to) = (from.trim(), to.trim());
    let range = if from.is_empty() {
        let suffix: u64 = to.parse().ok()?;
        if suffix == 0 {
            return Some(Err(()));
        }
        (length.saturating_sub(suffix), length.checked_sub(1)?)
    } else {
        let start: u64 = from.parse().ok()?;
        let end = if to.is_empty() {
            length.saturating_sub(1)
        } else {
            to.parse::<u64>().ok()?.min(length.saturating_sub(1))
        };
        if start >= length || end < start {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn range(text: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
        byte_range(&http::HeaderValue::from_str(text).ok()?, len)
    }

    #[test]
    fn ranges_resolve_like_rfc_9110() {
        assert_eq!(range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(range("bytes=100-", 100), Some(Err(())));
        assert_eq!(range("bytes=5-1", 100), Some(Err(())));
        assert_eq!(range("bytes=0-1,3-4", 100), None);
        assert_eq!(range("items=0-1", 100), None);
    }

    #[tokio::test]
    async fn a_range_cuts_across_chunks() {
        let body = CacheBody::whole(Bytes::from_static(b"0123456789")).range(3, 6);
        let got = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(got.ok().as_deref(), Some(&b"3456"[..]));
    }
}
