//! A small in-tree fuzzer, shared by the `fuzz_*` tests of values-schema and
//! the plugin: no nightly, no instrumented build, so that it runs inside
//! `cargo test` for a bounded time.
//!
//! It runs the seeds and a fixed list of hostile inputs first, then
//! mutates the seeds with a seeded xorshift generator: bit flips, bytes and
//! tokens that mean something to YAML and to `--set` (`{`, `[`, `&a`, `*a`,
//! `<<:`, `!!binary`, tabs, NUL, invalid UTF-8), very long keys, deep
//! nesting, huge numbers, deleted and duplicated ranges, moved lines,
//! splices of two seeds. Each input runs on a thread with the main thread's
//! 8 MiB stack, as the binary runs it.
//!
//! A target fails on a panic, on an input that takes more than 2 s of CPU
//! (twice in a row) and on one still running after 10 s of CPU. Time is
//! the fuzzing thread's CPU time where Linux gives it
//! (`/proc/thread-self/stat`), so that a machine busy with other builds
//! does not make an input look slow; elsewhere, wall time. The input is
//! printed as a Rust byte
//! string, ready to become a regression test, and written to a file under
//! the target directory. A stack overflow aborts the process before
//! anything can be printed: the input under test is always in
//! `$CARGO_TARGET_TMPDIR/fuzz-<target>.current`.
//!
//! `FUZZ_SECONDS` sets the time per target (default 5), `FUZZ_SEED` the
//! seed (default: from the clock; printed either way, so that any run can be
//! repeated).

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An input slower than this, twice, fails the target.
const SLOW: Duration = Duration::from_secs(2);
/// An input still running after this fails the target at once.
const HANG: Duration = Duration::from_secs(10);
/// However busy the machine, an input still running after this much wall
/// time fails the target.
const HANG_WALL: Duration = Duration::from_secs(120);

/// A clock of one thread: its CPU time from `/proc/<pid>/task/<tid>/stat`
/// on Linux (in ticks of 10 ms), else wall time.
#[derive(Clone)]
struct Clock {
    stat: Option<PathBuf>,
    wall: Instant,
}

impl Clock {
    /// The calling thread's clock.
    fn this_thread() -> Self {
        let stat = std::fs::read_link("/proc/thread-self")
            .ok()
            // A link to `<pid>/task/<tid>`, relative to /proc.
            .map(|task| std::path::Path::new("/proc").join(task).join("stat"))
            .filter(|stat| cpu_time(stat).is_some());
        Clock {
            stat,
            wall: Instant::now(),
        }
    }

    /// Time spent so far.
    fn now(&self) -> Duration {
        self.stat
            .as_deref()
            .and_then(cpu_time)
            .unwrap_or_else(|| self.wall.elapsed())
    }
}

/// User and system time of a thread, from its `stat` file.
fn cpu_time(stat: &std::path::Path) -> Option<Duration> {
    let text = std::fs::read_to_string(stat).ok()?;
    // Fields after the command name, which is in parentheses: state is
    // the first, utime the 12th, stime the 13th.
    let mut fields = text.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 10))
}

/// What to fuzz.
pub struct Target {
    /// Names the files and the messages.
    pub name: &'static str,
    /// Valid inputs to start from.
    pub seeds: Vec<Vec<u8>>,
    /// Tokens of the input's grammar (key names, flags), inserted whole.
    pub dictionary: Vec<String>,
    /// Inputs are cut to this many bytes.
    pub max_len: usize,
    /// Runs one input; must not panic. True when the input got past the
    /// first parser (how many do says whether the mutations are too rough).
    pub run: fn(&[u8]) -> bool,
}

/// xorshift64*: fast, and the same sequence for the same seed everywhere.
pub struct Rng(u64);

impl Rng {
    /// A generator; a zero seed (xorshift's fixed point) is replaced.
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Tokens hostile to any YAML or `--set` reader, added to every target's
/// dictionary.
const HOSTILE: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    ": ",
    "- ",
    "? ",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "<<: *a",
    "!!binary ",
    "!!str ",
    "!!int ",
    "!!map ",
    "!!seq ",
    "!custom ",
    "%YAML 1.2\n",
    "%TAG ! !x\n",
    "---\n",
    "...\n",
    "|",
    "|-\n",
    ">+\n",
    "#",
    "\"",
    "'",
    "\\",
    "\\u",
    "\\x",
    "\t",
    "\r",
    "\r\n",
    "\0",
    "\u{feff}",
    "\u{2028}",
    "\u{85}",
    "~",
    "null",
    "true",
    "yes",
    "0x",
    "0o",
    "0b",
    "-",
    ".inf",
    ".nan",
    "1e999999",
    "-0",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999999999999",
    "0.000000000000000000000000001",
    "1_000",
    "=",
    ".",
    "[65536]",
    "[0]",
    "{a,b}",
    "\\,",
    "\\.",
    "%",
    "@",
    "`",
    "😀",
    "é",
    "\u{301}",
];

/// Bytes that are not UTF-8, and code points that break lines or hide.
const INVALID_UTF8: &[&[u8]] = &[
    &[0xff],
    &[0xc3, 0x28],
    &[0xed, 0xa0, 0x80],
    &[0xf4, 0x90, 0x80, 0x80],
    &[0xe2, 0x80, 0xa8],
    &[0xef, 0xbb, 0xbf],
    &[0xc2, 0x85],
];

/// How many times the long and deep constructions repeat.
const LONG: usize = 10_000;

/// The fixed hostile inputs, run before any mutation.
fn hostile_inputs() -> Vec<Vec<u8>> {
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..=9 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    let mut merge_bomb = String::from("a0: &a0 {k: v}\n");
    for i in 1..=30 {
        merge_bomb.push_str(&format!(
            "a{i}: &a{i}\n  <<: [*a{}, *a{}]\n  k{i}: v\n",
            i - 1,
            i - 1
        ));
    }
    [
        "[".repeat(LONG),
        "{".repeat(LONG),
        "a:\n  ".to_owned() + &"- ".repeat(LONG) + "x\n",
        (0..LONG)
            .map(|i| format!("{}k:\n", " ".repeat(i % 200)))
            .collect(),
        "k".repeat(LONG * 10) + ": 1\n",
        "a".repeat(LONG) + "=" + &"b".repeat(LONG),
        "a.".repeat(LONG) + "b=1",
        "a[65536]".repeat(100) + "=1",
        bomb,
        merge_bomb,
        "a: *unknown\n".into(),
        "&a a: *a\n".into(),
        "? [a, b]\n: c\n".into(),
        "a: !!binary aGVsbG8=\n".into(),
        "a: 1\n---\nb: *a\n".into(),
        "\u{feff}a: 1\n".into(),
        "a:\t1\n".into(),
        "a: \"\\u0000\"\n".into(),
        "edgeStack: {replicas: 99999999999999999999999}\n".into(),
        "edgeStack: {memoryFootprint: 1e999999Gi}\n".into(),
        "".into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .chain([vec![0xff, 0xfe, b'a', b':', b' ', 0xc3, 0x28], vec![0]])
    .collect()
}

/// One mutation of `input`, with the seeds to splice from.
fn mutate_once(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>], dictionary: &[String]) {
    let at = |rng: &mut Rng, input: &Vec<u8>| rng.below(input.len() + 1);
    match rng.below(13) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] = *rng.pick(b"\0\t\n\r :-{}[],&*!|>#\"'\\=.%@`~?<0123456789\x7f\x80\xc3\xff");
        }
        2 => {
            let token = if rng.below(2) == 0 || dictionary.is_empty() {
                *rng.pick(HOSTILE)
            } else {
                rng.pick(dictionary).as_str()
            };
            let i = at(rng, input);
            input.splice(i..i, token.bytes());
        }
        3 if !input.is_empty() => {
            let start = rng.below(input.len());
            let end = (start + 1 + rng.below(64)).min(input.len());
            input.drain(start..end);
        }
        4 if !input.is_empty() => {
            let start = rng.below(input.len());
            let end = (start + 1 + rng.below(256)).min(input.len());
            let chunk = input[start..end].to_vec();
            let i = at(rng, input);
            input.splice(i..i, chunk);
        }
        5 => {
            // Deep or long: a hostile token many times over.
            let token = *rng.pick(&["[", "{", "- ", "a.", "a:\n ", "&x ", "*x ", "k", "9", "\t"]);
            let most = if rng.below(8) == 0 { LONG } else { 300 };
            let times = 1 + rng.below(most);
            let i = at(rng, input);
            input.splice(i..i, token.repeat(times).into_bytes());
        }
        6 => {
            // Splice: this input up to a point, another seed from a point.
            let other = rng.pick(seeds);
            let cut = at(rng, input);
            let from = rng.below(other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        7 | 8 => {
            // Line mutations: YAML is about lines and their indentation.
            let mut lines: Vec<Vec<u8>> =
                input.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
            let i = rng.below(lines.len());
            match rng.below(4) {
                0 => {
                    let line = lines[i].clone();
                    lines.insert(rng.below(lines.len() + 1), line);
                }
                1 => {
                    let j = rng.below(lines.len());
                    lines.swap(i, j);
                }
                2 => {
                    let spaces = rng.below(12);
                    lines[i].splice(0..0, std::iter::repeat_n(b' ', spaces));
                }
                _ => {
                    let cut = lines[i].iter().take_while(|b| **b == b' ').count();
                    lines[i].drain(..rng.below(cut + 1));
                }
            }
            *input = lines.join(&b'\n');
        }
        9 => {
            let number = *rng.pick(&[
                "0",
                "-1",
                "2147483648",
                "4294967296",
                "18446744073709551616",
                "1e308",
                "1e309",
                "-1e-400",
                "0x7fffffffffffffff",
                "0xffffffffffffffffff",
                "0o17777777777777777777777",
                "1.7976931348623157e308",
                "NaN",
                "-.inf",
                "08",
                "0.5",
            ]);
            let i = at(rng, input);
            input.splice(i..i, number.bytes());
        }
        10 => {
            // Invalid UTF-8 and odd code points.
            let bytes: &[u8] = rng.pick::<&[u8]>(INVALID_UTF8);
            let i = at(rng, input);
            input.splice(i..i, bytes.iter().copied());
        }
        11 => {
            // A dictionary token in place of a word.
            let token = if dictionary.is_empty() {
                *rng.pick(HOSTILE)
            } else {
                rng.pick(dictionary).as_str()
            };
            let start = at(rng, input);
            let end = input[start..]
                .iter()
                .position(|b| !b.is_ascii_alphanumeric())
                .map_or(input.len(), |p| start + p);
            input.splice(start..end, token.bytes());
        }
        _ => {
            let other = rng.pick(seeds);
            if !other.is_empty() {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(128)).min(other.len());
                let i = at(rng, input);
                input.splice(i..i, other[start..end].iter().copied());
            }
        }
    }
}

/// A new input: a seed with 1 to 8 mutations.
fn mutate(rng: &mut Rng, target: &Target) -> Vec<u8> {
    let mut input = rng.pick(&target.seeds).clone();
    for _ in 0..1 + rng.below(8) {
        mutate_once(rng, &mut input, &target.seeds, &target.dictionary);
    }
    input.truncate(target.max_len);
    input
}

/// `bytes` as a Rust byte string literal, cut at `limit` bytes.
pub fn escaped(bytes: &[u8], limit: usize) -> String {
    let shown: String = bytes[..bytes.len().min(limit)]
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    let more = if bytes.len() > limit {
        format!(" /* … {} bytes in all */", bytes.len())
    } else {
        String::new()
    };
    format!("b\"{shown}\"{more}")
}

struct Shared {
    /// The input under test, when it started by the worker's clock and by
    /// the wall clock, and the worker's clock.
    current: Mutex<(Vec<u8>, Duration, Instant, Option<Clock>)>,
    iterations: AtomicU64,
    parsed: AtomicU64,
    failure: Mutex<Option<(String, Vec<u8>)>>,
    done: AtomicBool,
}

fn seconds() -> f64 {
    std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// Fuzzes `target` for `FUZZ_SECONDS`; panics with the input on a failure.
pub fn fuzz(target: Target) {
    let seconds = seconds();
    let seed = seed();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let current_file = dir.join(format!("fuzz-{}.current", target.name));
    eprintln!(
        "fuzz {}: seed {seed} (FUZZ_SEED={seed} repeats this run), {seconds} s; the input under test is in {}",
        target.name,
        current_file.display()
    );
    let shared = Arc::new(Shared {
        current: Mutex::new((Vec::new(), Duration::ZERO, Instant::now(), None)),
        iterations: AtomicU64::new(0),
        parsed: AtomicU64::new(0),
        failure: Mutex::new(None),
        done: AtomicBool::new(false),
    });
    let started = Instant::now();
    let name = target.name;
    let worker = {
        let shared = Arc::clone(&shared);
        let current_file = current_file.clone();
        std::thread::Builder::new()
            .name(format!("fuzz-{name}"))
            .stack_size(8 << 20)
            .spawn(move || work(&target, seed, seconds, &shared, &current_file))
            .expect("spawn the fuzz thread")
    };
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if shared.done.load(Ordering::Acquire) {
            let _ = worker.join();
            break;
        }
        let (input, ran, wall) = {
            let current = shared.current.lock().unwrap_or_else(|e| e.into_inner());
            let ran = current.3.as_ref().map_or(Duration::ZERO, |clock| {
                clock.now().saturating_sub(current.1)
            });
            (current.0.clone(), ran, current.2.elapsed())
        };
        if ran > HANG || wall > HANG_WALL {
            fail(name, seed, "still running after 10 s", &input, &dir);
        }
    }
    let iterations = shared.iterations.load(Ordering::Relaxed);
    let parsed = shared.parsed.load(Ordering::Relaxed);
    let failure = shared
        .failure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some((why, input)) = failure {
        fail(name, seed, &why, &input, &dir);
    }
    eprintln!(
        "fuzz {name}: {iterations} inputs ({parsed} parsed) in {:.1} s (seed {seed}), no failure",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(&current_file);
}

fn work(target: &Target, seed: u64, seconds: f64, shared: &Shared, current_file: &PathBuf) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut rng = Rng::new(seed);
    let fixed: Vec<Vec<u8>> = target
        .seeds
        .iter()
        .cloned()
        .chain(hostile_inputs().into_iter().map(|mut input| {
            input.truncate(target.max_len);
            input
        }))
        .collect();
    let mut file = std::fs::File::create(current_file).ok();
    let clock = Clock::this_thread();
    let mut n = 0usize;
    while n < fixed.len() || Instant::now() < deadline {
        let input = match fixed.get(n) {
            Some(i) => i.clone(),
            None => mutate(&mut rng, target),
        };
        *shared.current.lock().unwrap_or_else(|e| e.into_inner()) = (
            input.clone(),
            clock.now(),
            Instant::now(),
            Some(clock.clone()),
        );
        if let Some(f) = &mut file {
            // Kept for a stack overflow, which aborts before any report.
            let _ = f
                .set_len(0)
                .and_then(|()| std::io::Seek::rewind(f))
                .and_then(|()| f.write_all(&input));
        }
        let mut outcome = run_timed(target, &input, &clock);
        if matches!(outcome, Err(None)) {
            // Slow once: the machine may have been busy (or, with wall
            // time, this thread descheduled). Again, to be sure.
            outcome = run_timed(target, &input, &clock);
        }
        match outcome {
            Err(why) => {
                let why =
                    why.unwrap_or_else(|| format!("took more than {} s, twice", SLOW.as_secs()));
                *shared.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some((why, input));
                break;
            }
            Ok(true) => {
                shared.parsed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {}
        }
        n += 1;
        shared.iterations.store(n as u64, Ordering::Relaxed);
    }
    shared.done.store(true, Ordering::Release);
}

/// Runs one input: whether it parsed, `Err(Some(panic))`, `Err(None)` when
/// slow.
fn run_timed(target: &Target, input: &[u8], clock: &Clock) -> Result<bool, Option<String>> {
    let started = clock.now();
    match catch_unwind(AssertUnwindSafe(|| (target.run)(input))) {
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(Some(format!("panicked: {message}")))
        }
        Ok(_) if clock.now().saturating_sub(started) > SLOW => Err(None),
        Ok(parsed) => Ok(parsed),
    }
}

fn fail(name: &str, seed: u64, why: &str, input: &[u8], dir: &std::path::Path) -> ! {
    let file = dir.join(format!("fuzz-{name}-failure-{seed}.bin"));
    let _ = std::fs::write(&file, input);
    panic!(
        "fuzz {name}: an input {why} (seed {seed}; the input is in {}):\n{}",
        file.display(),
        escaped(input, 4096)
    );
}

#[test]
fn the_thread_clock_counts_this_threads_work() {
    let clock = Clock::this_thread();
    #[cfg(target_os = "linux")]
    assert!(clock.stat.is_some(), "/proc/thread-self/stat is readable");
    let (start, wall) = (clock.now(), Instant::now());
    let mut spin = 0u64;
    while clock.now().saturating_sub(start) < Duration::from_millis(50)
        && wall.elapsed() < Duration::from_secs(30)
    {
        spin = std::hint::black_box(spin.wrapping_add(1));
    }
    assert!(clock.now().saturating_sub(start) >= Duration::from_millis(50));
}

#[test]
fn the_same_seed_makes_the_same_inputs() {
    let target = Target {
        name: "determinism",
        seeds: vec![b"a: [1, {b: c}]\n".to_vec(), b"x=1,y[0]=2".to_vec()],
        dictionary: vec!["key: ".into()],
        max_len: 1 << 10,
        run: |_| true,
    };
    let inputs = |seed| {
        let mut rng = Rng::new(seed);
        (0..200)
            .map(|_| mutate(&mut rng, &target))
            .collect::<Vec<_>>()
    };
    assert_eq!(inputs(7), inputs(7));
    assert_ne!(inputs(7), inputs(8));
    assert!(inputs(7).iter().all(|i| i.len() <= 1 << 10));
}
