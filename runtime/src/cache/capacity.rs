//! The cache's capacity as the chart gives it (`cached.capacity`): a share
//! of the volume ("80%") or a Kubernetes quantity ("24Gi").

use std::path::Path;

/// A capacity that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// Neither a percentage nor a quantity.
    #[error("`{0}` is neither a percentage of the volume (1%–95%) nor a quantity such as 24Gi")]
    Syntax(String),
    /// The filesystem's size could not be read.
    #[error("reading the size of {path}: {source}")]
    Statvfs {
        /// The cache directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Bytes of `text` ("80%" of the filesystem holding `dir`, or a quantity).
pub fn parse_capacity(text: &str, dir: Option<&Path>) -> Result<u64, CapacityError> {
    let text = text.trim();
    if let Some(pct) = text.strip_suffix('%') {
        let pct: u64 = pct
            .parse()
            .ok()
            .filter(|p| (1..=95).contains(p))
            .ok_or_else(|| CapacityError::Syntax(text.to_owned()))?;
        let Some(dir) = dir else {
            // Memory only: a share of nothing; use the default.
            return Ok(super::CacheConfig::default().capacity);
        };
        let total = filesystem_size(dir).map_err(|source| CapacityError::Statvfs {
            path: dir.display().to_string(),
            source,
        })?;
        return Ok(total / 100 * pct);
    }
    quantity(text).ok_or_else(|| CapacityError::Syntax(text.to_owned()))
}

/// A Kubernetes quantity in bytes ("24Gi", "500M", "1.5Ti", "1000").
pub fn quantity(text: &str) -> Option<u64> {
    const SUFFIXES: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(s, f)| text.strip_suffix(s).map(|n| (n, *f)))
        .unwrap_or((text, 1.0));
    let n: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)?;
    Some((n * factor) as u64)
}

/// Total bytes of the filesystem holding `dir`.
#[allow(unsafe_code)]
fn filesystem_size(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("path contains a NUL byte"))?;
    // SAFETY: statvfs is plain data; all-zero is a valid value of it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and
    // `st` is a valid, writable statvfs.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_blocks as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_shares_parse() {
        assert_eq!(quantity("24Gi"), Some(24 << 30));
        assert_eq!(quantity("500M"), Some(500_000_000));
        assert_eq!(quantity("1.5Ki"), Some(1536));
        assert_eq!(quantity("4096"), Some(4096));
        assert_eq!(quantity("lots"), None);
        assert_eq!(quantity("-1Gi"), None);
        let dir = std::env::temp_dir();
        let share = parse_capacity("50%", Some(&dir)).unwrap_or(0);
        let whole = filesystem_size(&dir).unwrap_or(0);
        assert!(share > 0 && share <= whole / 2, "{share} of {whole}");
        assert!(matches!(
            parse_capacity("99%", Some(&dir)),
            Err(CapacityError::Syntax(_))
        ));
        assert!(matches!(
            parse_capacity("12 apples", None),
            Err(CapacityError::Syntax(_))
        ));
    }
}
