//! The harness every fuzz target includes (`#[path = ".../fuzz/support/harness.rs"] mod
//! harness;`; see fuzz/README.md): the corpus of a target, mutation of its seeds, strings that
//! probe limits, and a proptest runner whose budget comes from `AGENTRY_FUZZ_CASES` and whose
//! failures stay in the repository (the seed in `fuzz/regressions/TARGET/PROPERTY.txt`, replayed
//! first on every run; the shrunk input as a new corpus file).
//!
//! Targets are proptest properties rather than cargo-fuzz (libFuzzer) targets so that they run
//! on stable Rust in the ordinary test run (`cargo nextest run --workspace`), which is how CI
//! runs them, with a fixed case budget.

#![allow(dead_code, reason = "each target uses part of the harness")]

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner};

/// Cases per property when `AGENTRY_FUZZ_CASES` is unset.
pub const DEFAULT_CASES: u32 = 256;

/// What replaying a corpus file must give, from the start of its name: `ok-` accepted, `err-`
/// refused, `any-` either (no panic is the only rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `ok-*`: the input is valid.
    Accept,
    /// `err-*`: the input is invalid.
    Reject,
    /// `any-*`: only no panic.
    Any,
}

/// One corpus file.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The file name.
    pub name: String,
    /// What its name says replaying it must give.
    pub expect: Expect,
    /// Its extension (`json`, `hex`, `bin`, `toml`, ...).
    pub ext: String,
    /// Its content; a `.hex` file's hex digits decoded.
    pub bytes: Vec<u8>,
}

impl Seed {
    /// Returns its content as text (lossy for a file that is not UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Checks `accepted` (did the code under test accept the input?) against the file's name;
    /// `outcome` describes the result for the failure message.
    #[track_caller]
    pub fn check(&self, accepted: bool, outcome: &dyn Debug) {
        match self.expect {
            Expect::Accept => assert!(accepted, "corpus file {} (ok-) was refused: {outcome:?}", self.name),
            Expect::Reject => assert!(!accepted, "corpus file {} (err-) was accepted: {outcome:?}", self.name),
            Expect::Any => {}
        }
    }
}

/// Returns the root of the repository (this file is included by crates under `crates/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Returns the corpus directory of `target`'s inputs of `kind`: `fuzz/corpus/TARGET/KIND`.
pub fn corpus_dir(target: &str, kind: &str) -> PathBuf {
    repo_root().join("fuzz/corpus").join(target).join(kind)
}

/// Returns the corpus files of `target`'s inputs of `kind`, by name. Fails when there is none,
/// or when a file breaks the naming rule (`ok-`, `err-` or `any-`) or is bad hex.
pub fn corpus(target: &str, kind: &str) -> Vec<Seed> {
    let dir = corpus_dir(target, kind);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("reading corpus {}: {error}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap_or_else(|error| panic!("listing {}: {error}", dir.display())).path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let seeds: Vec<Seed> = paths.iter().map(|path| read_seed(path)).collect();
    assert!(!seeds.is_empty(), "corpus {} has no files", dir.display());
    seeds
}

fn read_seed(path: &Path) -> Seed {
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let expect = match name.split('-').next() {
        Some("ok") => Expect::Accept,
        Some("err") => Expect::Reject,
        Some("any") => Expect::Any,
        _ => panic!("corpus file {}: its name must start with ok-, err- or any- (see fuzz/README.md)", path.display()),
    };
    let ext = path.extension().map(|ext| ext.to_string_lossy().into_owned()).unwrap_or_default();
    let raw = std::fs::read(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let bytes = if ext == "hex" {
        decode_hex(&String::from_utf8_lossy(&raw)).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    } else {
        raw
    };
    Seed { name, expect, ext, bytes }
}

/// Decodes hex text: pairs of hex digits; whitespace and `#` comments (to the end of the line)
/// are ignored.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .lines()
        .flat_map(|line| line.split('#').next().unwrap_or_default().bytes())
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{} hex digits: an odd number", digits.len()));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).map_err(|_| "not hex".to_owned())?;
            u8::from_str_radix(text, 16).map_err(|_| format!("{text:?} is not a hex byte"))
        })
        .collect()
}

/// Returns `bytes` as hex text, 32 bytes a line.
pub fn encode_hex(bytes: &[u8]) -> String {
    let mut text = String::new();
    for line in bytes.chunks(32) {
        for byte in line {
            text.push_str(&format!("{byte:02x}"));
        }
        text.push('\n');
    }
    text
}

/// Returns the number of cases of a property: `AGENTRY_FUZZ_CASES`, else [`DEFAULT_CASES`],
/// divided by `divisor` (at least 1 case) for the slower properties.
pub fn cases(divisor: u32) -> u32 {
    let total = std::env::var("AGENTRY_FUZZ_CASES")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .unwrap_or(DEFAULT_CASES);
    (total / divisor.max(1)).max(1)
}

/// Where a failing input is kept: a corpus file of `kind` (`any-found-PROPERTY-HASH.EXT`), so
/// that the corpus replay runs it from then on.
#[derive(Debug, Clone)]
pub struct Found {
    /// The corpus directory (`fuzz/corpus/TARGET/KIND`).
    pub kind: String,
    /// The file's extension, which says how the replay reads it.
    pub ext: &'static str,
    /// The content.
    pub bytes: Vec<u8>,
}

impl Found {
    /// Returns a corpus file of `kind`.
    pub fn new(kind: &str, ext: &'static str, bytes: Vec<u8>) -> Option<Self> {
        Some(Self { kind: kind.to_owned(), ext, bytes })
    }
}

/// Runs `property` of `target` on `cases` inputs of `strategy`, after replaying the persisted
/// failures of `fuzz/regressions/TARGET/PROPERTY.txt`. The generation is random unless
/// `AGENTRY_FUZZ_SEED` fixes it.
///
/// A failing (panicking) input is shrunk, then kept where `save` says (`None`: its debug form in
/// `fuzz/regressions/TARGET/PROPERTY-HASH.txt`), and the test fails naming the file.
#[track_caller]
pub fn run<S>(
    target: &str,
    property: &str,
    cases: u32,
    strategy: S,
    save: &dyn Fn(&S::Value) -> Option<Found>,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let regressions_dir = repo_root().join("fuzz/regressions").join(target);
    let regressions = regressions_dir.join(format!("{property}.txt"));
    let regressions: &'static str = Box::leak(regressions.to_string_lossy().into_owned().into_boxed_str());
    let rng_seed = match std::env::var("AGENTRY_FUZZ_SEED").ok().and_then(|text| text.trim().parse().ok()) {
        Some(seed) => RngSeed::Fixed(seed),
        None => RngSeed::Random,
    };
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        // Shrinking a slow property must not run forever; a shrunk-enough input is enough.
        max_shrink_time: 60_000,
        max_shrink_iters: 4096,
        rng_seed,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    match runner.run(&strategy, test) {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            let (path, bytes) = match save(&input) {
                Some(found) => {
                    let hash = fnv1a(&found.bytes);
                    let name = format!("any-found-{property}-{hash:016x}.{}", found.ext);
                    (corpus_dir(target, &found.kind).join(name), found.bytes)
                }
                None => {
                    let bytes = format!("{input:#?}\n").into_bytes();
                    (regressions_dir.join(format!("{property}-{:016x}.txt", fnv1a(&bytes))), bytes)
                }
            };
            let saved = match std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
                .and_then(|()| std::fs::write(&path, &bytes))
            {
                Ok(()) => format!("is saved as {}", path.display()),
                Err(error) => format!("could not be saved as {}: {error}", path.display()),
            };
            let mut shown = format!("{input:?}");
            if shown.len() > 4000 {
                let cut = (0..=4000).rev().find(|at| shown.is_char_boundary(*at)).unwrap_or(0);
                shown.truncate(cut);
                shown.push_str("...");
            }
            panic!("{target}/{property} failed: {reason}\nminimal input: {shown}\nthe input {saved}");
        }
        Err(TestError::Abort(reason)) => panic!("{target}/{property} aborted: {reason}"),
    }
}

/// FNV-1a of `bytes`: names found inputs by content.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// One change to a seed; positions are resolved against the input's length when applied.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, Vec<u8>),
    Token(Index, Index),
    Delete(Index, usize),
    Duplicate(Index, usize),
    Truncate(Index),
    Splice(Index, Index, Index, usize),
    DuplicateLine(Index),
    DeleteLine(Index),
    SwapLines(Index, Index),
    SpliceLine(Index, Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<Index>;
    prop_oneof![
        1 => (index(), 0..8u8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        1 => (index(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte(at, byte)),
        1 => (index(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        3 => (index(), index()).prop_map(|(at, token)| Mutation::Token(at, token)),
        1 => (index(), 1..64usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
        1 => (index(), 1..64usize).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        1 => index().prop_map(Mutation::Truncate),
        1 => (index(), index(), index(), 1..256usize).prop_map(|(seed, from, at, len)| Mutation::Splice(seed, from, at, len)),
        1 => index().prop_map(Mutation::DuplicateLine),
        1 => index().prop_map(Mutation::DeleteLine),
        1 => (index(), index()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => (index(), index(), index()).prop_map(|(seed, line, at)| Mutation::SpliceLine(seed, line, at)),
    ]
}

/// Returns `index` resolved in `0..=len` (a position to insert at or cut from).
fn position(index: &Index, len: usize) -> usize {
    index.index(len + 1)
}

/// Returns the byte ranges of the lines of `bytes` (each with its `\n`).
fn lines(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            ranges.push((start, at + 1));
            start = at + 1;
        }
    }
    if start < bytes.len() {
        ranges.push((start, bytes.len()));
    }
    ranges
}

fn apply(input: &mut Vec<u8>, mutation: &Mutation, seeds: &[Vec<u8>], tokens: &[&str]) {
    let len = input.len();
    match mutation {
        Mutation::FlipBit(at, bit) if len > 0 => input[at.index(len)] ^= 1 << bit,
        Mutation::SetByte(at, byte) if len > 0 => input[at.index(len)] = *byte,
        Mutation::Insert(at, bytes) => {
            let at = position(at, len);
            input.splice(at..at, bytes.iter().copied());
        }
        Mutation::Token(at, token) if !tokens.is_empty() => {
            let at = position(at, len);
            input.splice(at..at, token.get(tokens).bytes());
        }
        Mutation::Delete(at, count) if len > 0 => {
            let at = at.index(len);
            input.drain(at..(at + count).min(len));
        }
        Mutation::Duplicate(at, count) if len > 0 => {
            let at = at.index(len);
            let copy = input[at..(at + count).min(len)].to_vec();
            input.splice(at..at, copy);
        }
        Mutation::Truncate(at) => input.truncate(position(at, len)),
        Mutation::Splice(seed, from, at, count) if !seeds.is_empty() => {
            let other = seed.get(seeds);
            if !other.is_empty() {
                let from = from.index(other.len());
                let piece = other[from..(from + count).min(other.len())].to_vec();
                let at = position(at, len);
                input.splice(at..at, piece);
            }
        }
        Mutation::DuplicateLine(line) => {
            let ranges = lines(input);
            if !ranges.is_empty() {
                let (start, end) = *line.get(&ranges);
                let copy = input[start..end].to_vec();
                input.splice(end..end, copy);
            }
        }
        Mutation::DeleteLine(line) => {
            let ranges = lines(input);
            if !ranges.is_empty() {
                let (start, end) = *line.get(&ranges);
                input.drain(start..end);
            }
        }
        Mutation::SwapLines(first, second) => {
            let ranges = lines(input);
            if ranges.len() > 1 {
                let (a, b) = (*first.get(&ranges), *second.get(&ranges));
                let (low, high) = if a.0 <= b.0 { (a, b) } else { (b, a) };
                if low != high {
                    let mut swapped = input[..low.0].to_vec();
                    swapped.extend_from_slice(&input[high.0..high.1]);
                    swapped.extend_from_slice(&input[low.1..high.0]);
                    swapped.extend_from_slice(&input[low.0..low.1]);
                    swapped.extend_from_slice(&input[high.1..]);
                    *input = swapped;
                }
            }
        }
        Mutation::SpliceLine(seed, line, at) if !seeds.is_empty() => {
            let other = seed.get(seeds);
            let ranges = lines(other);
            if !ranges.is_empty() {
                let (start, end) = *line.get(&ranges);
                let piece = other[start..end].to_vec();
                let targets = lines(input);
                let at = if targets.is_empty() { 0 } else { at.get(&targets).0 };
                input.splice(at..at, piece);
            }
        }
        _ => {}
    }
}

/// Returns inputs made from `seeds` by one to eight mutations: bit flips, byte changes,
/// inserted bytes or `tokens` (a dictionary of the format: delimiters, keywords, extreme
/// numbers), deletions, duplications, truncation, pieces of another seed, and line edits
/// (duplicate, delete, swap, a line of another seed).
pub fn mutated(seeds: Vec<Vec<u8>>, tokens: &'static [&'static str]) -> BoxedStrategy<Vec<u8>> {
    assert!(!seeds.is_empty(), "mutation needs at least one seed");
    let seeds = Arc::new(seeds);
    // Mostly one or two changes (a seed stays near-valid and reaches the deep checks), sometimes
    // many.
    let mutations =
        prop_oneof![3 => prop::collection::vec(mutation(), 1..3), 1 => prop::collection::vec(mutation(), 3..9)];
    (any::<Index>(), mutations)
        .prop_map(move |(seed, mutations)| {
            let mut input = seed.get(&seeds).clone();
            for mutation in &mutations {
                apply(&mut input, mutation, &seeds, tokens);
            }
            input
        })
        .boxed()
}

/// Returns mutated seeds (three in four) and fresh random bytes of up to `max_len`.
pub fn bytes_input(seeds: Vec<Vec<u8>>, tokens: &'static [&'static str], max_len: usize) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![3 => mutated(seeds, tokens), 1 => prop::collection::vec(any::<u8>(), 0..max_len)].boxed()
}

/// Returns [`mutated`] inputs as text (lossy UTF-8).
pub fn mutated_text(seeds: Vec<Vec<u8>>, tokens: &'static [&'static str]) -> BoxedStrategy<String> {
    mutated(seeds, tokens).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).boxed()
}

/// Strings that probe a validator: empty, blank, control and bidi characters, `interesting`
/// values of the field, arbitrary short text, and texts of a length around each of `limits`
/// (bytes: one below, at, one above; ASCII or two-byte characters).
pub fn text(interesting: &'static [&'static str], limits: &'static [usize]) -> BoxedStrategy<String> {
    let odd = prop::sample::select(vec!["", " ", "\t\n ", "\0", "\u{7f}", "\u{202e}abc", "é", "\u{10ffff}", "\r\n"]);
    let arbitrary = proptest::string::string_regex("(?s).{0,24}").expect("a valid regex");
    let mut options: Vec<(u32, BoxedStrategy<String>)> =
        vec![(2, odd.prop_map(str::to_owned).boxed()), (3, arbitrary.boxed())];
    if !interesting.is_empty() {
        options.push((6, prop::sample::select(interesting.to_vec()).prop_map(str::to_owned).boxed()));
    }
    if !limits.is_empty() {
        let sized =
            (prop::sample::select(limits.to_vec()), 0..3usize, any::<bool>()).prop_map(|(limit, delta, wide)| {
                let len = (limit + delta).saturating_sub(1);
                if wide { "é".repeat(len / 2) + &"x".repeat(len % 2) } else { "x".repeat(len) }
            });
        options.push((1, sized.boxed()));
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}

/// Returns UUID texts (hyphenated, any version) as ids are written.
pub fn uuid_text() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|value| {
        let hex = format!("{value:032x}");
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    })
}

/// Returns ids: mostly well-formed UUIDs, else [`text`] (malformed, empty, oversized).
pub fn id_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => uuid_text(),
        1 => text(&["00000000-0000-0000-0000-000000000000", "0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6b", "{0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6b}", "urn:uuid:0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6b", "0193a4f26c1e7d3a9b8e2f1c0d4e5a6b"], &[]),
    ]
    .boxed()
}

/// Numbers near the edges: 0, 1, powers of two around the type's limits, the maximum.
pub fn edge_u64() -> BoxedStrategy<u64> {
    prop_oneof![
        3 => any::<u64>(),
        2 => prop::sample::select(vec![0, 1, 2, 16, 1000, 1001, u64::from(u32::MAX), i64::MAX as u64, (i64::MAX as u64) + 1, u64::MAX - 1, u64::MAX]),
        2 => 0..64u64,
    ]
    .boxed()
}

/// Like [`edge_u64`] for `u32`.
pub fn edge_u32() -> BoxedStrategy<u32> {
    prop_oneof![
        3 => any::<u32>(),
        2 => prop::sample::select(vec![0, 1, 2, 16, 1000, 1001, 10_000, 10_001, i32::MAX as u32, u32::MAX]),
        2 => 0..64u32,
    ]
    .boxed()
}

/// Floats: any (NaN, infinities, subnormals, negative zero) and ordinary values.
pub fn edge_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        2 => any::<f64>(),
        2 => prop::sample::select(vec![0.0, -0.0, 0.5, 1.0, 2.0, 2.0000001, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN_POSITIVE]),
        1 => 0.0..10.0f64,
    ]
    .boxed()
}

/// Like [`edge_f64`] for `f32`.
pub fn edge_f32() -> BoxedStrategy<f32> {
    edge_f64().prop_map(|value| value as f32).boxed()
}

/// A property's failure for a case: `Err(TestCaseError::fail(...))` with `message`.
pub fn fail(message: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(message.into())
}
