//! Random sequences of header hostcalls, with names and values a program
//! could pass (invalid bytes, NUL lists, huge lengths, pointers past its
//! memory, cursors anywhere): no call may panic, and a message never holds
//! more than [`MAX_HEADER_FIELDS`] fields. Runs for `FUZZ_SECONDS` (default
//! 2 s); `FUZZ_SEED` repeats a run.

use super::*;
use crate::abi::testing::{OutBuf, TestGuest};
use std::time::{Duration, Instant};

/// xorshift64*: enough to vary inputs, and repeatable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u32 {
        (self.next() % n.max(1)) as u32
    }

    fn bytes(&mut self) -> Vec<u8> {
        let pool: [&[u8]; 8] = [
            b"x-a",
            b"X-Mixed",
            b"",
            b"bad name",
            b"\0\0v\0",
            b"\xff\xfe",
            b"set-cookie",
            b"a\r\nb",
        ];
        match self.below(4) {
            0 => pool[self.below(8) as usize].to_vec(),
            1 => format!("x-h-{}", self.below(2000)).into_bytes(),
            2 => (0..self.below(64)).map(|_| self.next() as u8).collect(),
            _ => vec![b'v'; self.below(70_000) as usize],
        }
    }
}

fn seconds() -> u64 {
    std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
}

#[test]
fn header_hostcalls_never_panic_nor_pass_the_field_limit() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("header fuzz: FUZZ_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(seconds());
    let mut calls = 0u64;
    while Instant::now() < deadline {
        let mut g = TestGuest::new();
        let h = g.session.downstream_current().unwrap().0;
        let out = OutBuf::new(&mut g, 256);
        let ending = g.alloc(8);
        for _ in 0..500 {
            let (np, nl) = g.put(&rng.bytes());
            let (vp, vl) = g.put(&rng.bytes());
            // Now and then a pointer or length past the guest's memory.
            let (np, nl) = if rng.below(20) == 0 {
                (u32::MAX - 2, 16)
            } else {
                (np, nl)
            };
            let cursor = rng.below(3000);
            let _ = g.call(|m, s| match rng.below(7) {
                0 => header_insert(m, s, h, np, nl, vp, vl),
                1 => header_append(m, s, h, np, nl, vp, vl),
                2 => header_values_set(m, s, h, np, nl, vp, vl),
                3 => header_remove(m, s, h, np, nl),
                4 => header_names_get(m, s, h, out.buf, out.max, cursor, ending, out.nwritten),
                5 => header_values_get(
                    m,
                    s,
                    h,
                    np,
                    nl,
                    out.buf,
                    out.max,
                    cursor,
                    ending,
                    out.nwritten,
                ),
                _ => header_value_get(m, s, h, np, nl, out.buf, out.max, out.nwritten),
            });
            calls += 1;
            let fields = g.session.get(h).unwrap().headers().len();
            assert!(fields <= MAX_HEADER_FIELDS, "{fields} fields (seed {seed})");
        }
    }
    eprintln!("header fuzz: {calls} calls");
}
