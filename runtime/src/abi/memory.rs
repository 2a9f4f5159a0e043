//! Guest memory access for hostcalls: bounds-checked reads and writes, and
//! the ABI's conventions for output buffers (`nwritten`, `BUFLEN`) and
//! NUL-separated multi-value lists with cursors.

use crate::host::{HostError, HostResult};

/// A view of the guest's linear memory.
pub struct Mem<'a>(pub &'a mut [u8]);

fn range(len_total: usize, ptr: u32, len: u32) -> HostResult<std::ops::Range<usize>> {
    let start = ptr as usize;
    let end = start
        .checked_add(len as usize)
        .filter(|end| *end <= len_total)
        .ok_or_else(|| HostError::Invalid(format!("guest pointer {ptr}+{len} is out of bounds")))?;
    Ok(start..end)
}

impl Mem<'_> {
    /// `len` bytes at `ptr`.
    pub fn bytes(&self, ptr: u32, len: u32) -> HostResult<&[u8]> {
        Ok(&self.0[range(self.0.len(), ptr, len)?])
    }

    /// A UTF-8 string at `ptr`.
    pub fn str(&self, ptr: u32, len: u32) -> HostResult<&str> {
        std::str::from_utf8(self.bytes(ptr, len)?)
            .map_err(|_| HostError::Invalid("not UTF-8".into()))
    }

    /// An IP address given as 4 or 16 octets.
    pub fn ip_addr(&self, ptr: u32, len: u32) -> HostResult<std::net::IpAddr> {
        let octets = self.bytes(ptr, len)?;
        if let Ok(v4) = <[u8; 4]>::try_from(octets) {
            return Ok(v4.into());
        }
        if let Ok(v6) = <[u8; 16]>::try_from(octets) {
            return Ok(v6.into());
        }
        Err(HostError::Invalid(format!(
            "an IP address has 4 or 16 octets, not {len}"
        )))
    }

    /// Copies `data` to `ptr`.
    pub fn write(&mut self, ptr: u32, data: &[u8]) -> HostResult<()> {
        let r = range(self.0.len(), ptr, data.len() as u32)?;
        self.0[r].copy_from_slice(data);
        Ok(())
    }

    /// Writes a little-endian u32.
    pub fn u32(&mut self, ptr: u32, v: u32) -> HostResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Writes a handle (a little-endian u32).
    pub fn handle(&mut self, ptr: u32, h: impl Into<u32>) -> HostResult<()> {
        self.u32(ptr, h.into())
    }

    /// Writes an IP address as 4 or 16 octets to `out` and its length to
    /// `nwritten`.
    pub fn write_ip(&mut self, ip: std::net::IpAddr, out: u32, nwritten: u32) -> HostResult<()> {
        let len = match ip {
            std::net::IpAddr::V4(v4) => self.write(out, &v4.octets()).map(|()| 4),
            std::net::IpAddr::V6(v6) => self.write(out, &v6.octets()).map(|()| 16),
        }?;
        self.u32(nwritten, len)
    }

    /// Writes a little-endian u64.
    pub fn u64(&mut self, ptr: u32, v: u64) -> HostResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian i64.
    pub fn i64(&mut self, ptr: u32, v: i64) -> HostResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian u16.
    pub fn u16(&mut self, ptr: u32, v: u16) -> HostResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Reads a little-endian u32.
    pub fn read_u32(&self, ptr: u32) -> HostResult<u32> {
        let b = self.bytes(ptr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, ptr: u32) -> HostResult<u64> {
        let b = self.bytes(ptr, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Reads a (pointer, length) pair from a struct field and the bytes it
    /// points to.
    pub fn slice_field(&self, ptr_at: u32, len_at: u32) -> HostResult<&[u8]> {
        let p = self.read_u32(ptr_at)?;
        let l = self.read_u32(len_at)?;
        self.bytes(p, l)
    }

    /// Writes `value` into the guest's buffer `buf` of `max` bytes and its
    /// length to `nwritten`. Too small: the needed length goes to
    /// `nwritten` and the answer is `BUFLEN`.
    pub fn out(&mut self, buf: u32, max: u32, nwritten: u32, value: &[u8]) -> HostResult<()> {
        if value.len() > max as usize {
            self.u32(nwritten, value.len() as u32)?;
            return Err(HostError::BufferLength {
                needed: value.len(),
            });
        }
        self.write(buf, value)?;
        self.u32(nwritten, value.len() as u32)
    }

    /// Writes as many of `values` as fit, starting at index `cursor`, each
    /// followed by a NUL. `ending_cursor` gets -1 when all were written, or
    /// the index to continue from.
    pub fn multi_value<I, T>(
        &mut self,
        values: I,
        buf: u32,
        buf_len: u32,
        cursor: u32,
        ending_cursor: u32,
        nwritten: u32,
    ) -> HostResult<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let mut offset = 0usize;
        let mut index = cursor as usize;
        let mut finished = true;
        for value in values.into_iter().skip(cursor as usize) {
            let v = value.as_ref();
            let need = v.len() + 1;
            if offset + need > buf_len as usize {
                if offset == 0 {
                    self.u32(nwritten, need as u32)?;
                    return Err(HostError::BufferLength { needed: need });
                }
                finished = false;
                break;
            }
            self.write(buf + offset as u32, v)?;
            self.write(buf + (offset + v.len()) as u32, &[0])?;
            offset += need;
            index += 1;
        }
        self.i64(ending_cursor, if finished { -1 } else { index as i64 })?;
        self.u32(nwritten, offset as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_value_pages_with_cursor() {
        let mut mem = vec![0u8; 64];
        let mut m = Mem(&mut mem);
        // A 6-byte buffer at 0, ending cursor at 32, nwritten at 40.
        m.multi_value(["ab", "cd", "ef"], 0, 6, 0, 32, 40).unwrap();
        assert_eq!(&m.0[0..6], b"ab\0cd\0");
        assert_eq!(i64::from_le_bytes(m.0[32..40].try_into().unwrap()), 2);
        m.multi_value(["ab", "cd", "ef"], 0, 6, 2, 32, 40).unwrap();
        assert_eq!(&m.0[0..3], b"ef\0");
        assert_eq!(i64::from_le_bytes(m.0[32..40].try_into().unwrap()), -1);
        let err = m.multi_value(["toolong"], 0, 4, 0, 32, 40).unwrap_err();
        assert!(matches!(err, HostError::BufferLength { needed: 8 }));
    }

    #[test]
    fn out_reports_needed_length() {
        let mut mem = vec![0u8; 16];
        let mut m = Mem(&mut mem);
        assert!(matches!(
            m.out(0, 2, 8, b"abc"),
            Err(HostError::BufferLength { needed: 3 })
        ));
        assert_eq!(m.read_u32(8).unwrap(), 3);
        assert!(m.bytes(10, 10).is_err());
    }
}
