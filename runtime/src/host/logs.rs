//! Log endpoints: where `fastly_log::write` lines go. Every name a program
//! asks for exists (as on Fastly's local tools); each goes to standard
//! output unless config sends it to standard error, a file, or an HTTPS or
//! syslog endpoint (delivered in the background: host/log_ship.rs).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// Where one endpoint's lines go.
#[derive(Debug, Clone)]
pub enum LogTarget {
    /// Standard output, prefixed with the endpoint name.
    Stdout,
    /// Standard error, prefixed with the endpoint name.
    Stderr,
    /// Appended to a file, one line per write.
    File(PathBuf),
    /// Queued for delivery to an HTTPS or syslog endpoint.
    Ship(std::sync::Arc<super::log_ship::Shipper>),
}

/// The log endpoints of one service.
#[derive(Debug, Default)]
pub struct LogSink {
    service: String,
    targets: HashMap<String, LogTarget>,
    /// Used for names not in `targets`.
    default_dir: Option<PathBuf>,
    files: Mutex<HashMap<PathBuf, std::fs::File>>,
}

impl LogSink {
    /// Endpoints of `service`; names not in `targets` go to stdout, or to
    /// `<dir>/<name>.log` when `default_dir` is set.
    pub fn new(
        service: &str,
        targets: HashMap<String, LogTarget>,
        default_dir: Option<PathBuf>,
    ) -> Self {
        LogSink {
            service: service.to_owned(),
            targets,
            default_dir,
            files: Mutex::default(),
        }
    }

    fn target(&self, endpoint: &str) -> LogTarget {
        if let Some(t) = self.targets.get(endpoint) {
            return t.clone();
        }
        match &self.default_dir {
            Some(dir) => {
                LogTarget::File(dir.join(format!("{}.log", endpoint.replace(['/', '\\'], "_"))))
            }
            None => LogTarget::Stdout,
        }
    }

    /// Writes one message to `endpoint` as one line. A trailing newline is
    /// not doubled; newlines and carriage returns inside it are written as
    /// `\n` and `\r`, so that a message can never forge another line.
    pub fn write(&self, endpoint: &str, message: &[u8]) -> std::io::Result<()> {
        let message = one_line(message.strip_suffix(b"\n").unwrap_or(message));
        let message = message.as_ref();
        match self.target(endpoint) {
            LogTarget::Ship(shipper) => {
                shipper.offer(message);
                Ok(())
            }
            LogTarget::Stdout => {
                let mut out = std::io::stdout().lock();
                write!(out, "{} {endpoint} | ", self.service)?;
                out.write_all(message)?;
                out.write_all(b"\n")
            }
            LogTarget::Stderr => {
                let mut out = std::io::stderr().lock();
                write!(out, "{} {endpoint} | ", self.service)?;
                out.write_all(message)?;
                out.write_all(b"\n")
            }
            LogTarget::File(path) => {
                let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
                let file = match files.entry(path.clone()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&path)?,
                    ),
                };
                let mut line = Vec::with_capacity(message.len() + 1);
                line.extend_from_slice(message);
                line.push(b'\n');
                file.write_all(&line)
            }
        }
    }
}

/// `message` with each newline and carriage return written as the two
/// characters `\n` or `\r`.
fn one_line(message: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !message.iter().any(|b| matches!(b, b'\n' | b'\r')) {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len() + 8);
    for &b in message {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_endpoints_go_to_files_in_the_log_dir() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LogSink::new("svc", HashMap::new(), Some(dir.path().to_path_buf()));
        sink.write("access", b"one\n").unwrap();
        sink.write("access", b"two").unwrap();
        let text = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
        assert_eq!(text, "one\ntwo\n");
    }

    #[test]
    fn a_message_cannot_forge_another_line() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LogSink::new("svc", HashMap::new(), Some(dir.path().to_path_buf()));
        sink.write("access", b"GET /\nsvc admin | FORGED\r\n")
            .unwrap();
        sink.write("access", b"C:\\path").unwrap();
        let text = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
        assert_eq!(text, "GET /\\nsvc admin | FORGED\\r\nC:\\path\n");
        assert_eq!(text.lines().count(), 2);
    }
}
