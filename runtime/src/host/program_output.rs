//! What a program writes to stdout and stderr, in the edge: one log line
//! per line it writes, tagged with its service and stream, newlines it
//! cannot forge (the log format escapes them), lines cut at
//! [`MAX_LINE`] bytes and at most [`MAX_PER_INSTANCE`] bytes per instance;
//! past that a single notice says output was dropped. A program cannot
//! flood the pod's log or pass its lines off as the runtime's.

use bytes::BytesMut;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line kept; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 16 << 10;
/// Output one instance may write in all.
pub const MAX_PER_INSTANCE: usize = 1 << 20;

/// A program's stdout or stderr.
#[derive(Clone)]
pub struct ProgramOutput {
    service: Arc<str>,
    stream: &'static str,
}

impl ProgramOutput {
    /// `stream` ("stdout" or "stderr") of `service`'s program.
    pub fn new(service: &str, stream: &'static str) -> Self {
        ProgramOutput {
            service: service.into(),
            stream,
        }
    }
}

impl IsTerminal for ProgramOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ProgramOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            to: self.clone(),
            line: BytesMut::new(),
            cut: false,
            written: 0,
            noticed: false,
        })
    }
}

/// Splits what the program writes into log lines.
struct LineWriter {
    to: ProgramOutput,
    line: BytesMut,
    /// The current line passed `MAX_LINE`.
    cut: bool,
    written: usize,
    noticed: bool,
}

impl LineWriter {
    fn take(&mut self, mut data: &[u8]) {
        while let Some(end) = data.iter().position(|b| *b == b'\n') {
            self.push(&data[..end]);
            self.emit();
            data = &data[end + 1..];
        }
        self.push(data);
    }

    fn push(&mut self, part: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..part.len().min(room)]);
        self.cut |= part.len() > room;
    }

    fn emit(&mut self) {
        let text = shown(&self.line);
        let cut = if self.cut { " [line cut]" } else { "" };
        tracing::info!(target: "program", service = %self.to.service, stream = self.to.stream, "{text}{cut}");
        self.line.clear();
        self.cut = false;
    }
}

/// A line as the log shows it: control characters (a carriage return, a
/// terminal's escape sequences) are written out, not obeyed.
fn shown(line: &[u8]) -> String {
    let raw = String::from_utf8_lossy(line);
    let mut text = String::with_capacity(raw.len());
    for c in raw.trim_end_matches('\r').chars() {
        if c.is_control() && c != '\t' {
            text.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            text.push(c);
        }
    }
    text
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let room = MAX_PER_INSTANCE.saturating_sub(self.written);
        let kept = &buf[..buf.len().min(room)];
        self.written += kept.len();
        self.take(kept);
        if kept.len() < buf.len() && !self.noticed {
            self.noticed = true;
            tracing::warn!(service = %self.to.service, stream = self.to.stream, limit = MAX_PER_INSTANCE, "program output past the limit is dropped");
        }
        // The program is told all was written: dropping is our choice.
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.line.is_empty() {
            self.emit();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> LineWriter {
        LineWriter {
            to: ProgramOutput::new("svc", "stdout"),
            line: BytesMut::new(),
            cut: false,
            written: 0,
            noticed: false,
        }
    }

    #[test]
    fn long_lines_are_cut_and_output_is_bounded() {
        let mut w = writer();
        let long = vec![b'a'; MAX_LINE * 3];
        w.take(&long);
        assert_eq!(w.line.len(), MAX_LINE);
        assert!(w.cut);
        w.take(b"\nnext");
        assert_eq!(&w.line[..], b"next");
        assert!(!w.cut);
        let mut w = writer();
        let cx = &mut Context::from_waker(std::task::Waker::noop());
        let big = vec![b'x'; MAX_PER_INSTANCE + 10];
        let Poll::Ready(Ok(n)) = Pin::new(&mut w).poll_write(cx, &big) else {
            panic!("write did not complete")
        };
        assert_eq!(n, big.len());
        assert_eq!(w.written, MAX_PER_INSTANCE);
        assert!(w.noticed);
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(shown(b"a\rb\x1b[31mred\tok\r"), "a\\x0db\\x1b[31mred\tok");
    }
}
