//! Text storage with UTF-16 positions, in two forms with one interface.
//!
//! Positions are UTF-16 code units, as in JavaScript, and every index is checked: past the end or
//! between the halves of a surrogate pair is an error. The relay (and every native build) keeps
//! strings in a skip-list rope, whose edits cost the logarithm of the text wherever they land.
//! The WebAssembly client builds the core without the `jumprope` feature and keeps them in a gap
//! buffer of code units instead: a fraction of the code, in a module whose size is budgeted, and
//! as fast for one user's typing. Both are tested against each other (`tests` below).

#[cfg(feature = "jumprope")]
mod jump;

mod gap;

pub use gap::Utf16GapBuffer;
#[cfg(feature = "jumprope")]
pub use jump::Utf16JumpRope;

/// The string storage of this build: the skip-list rope with the `jumprope` feature (the
/// default), the gap buffer without it.
#[cfg(feature = "jumprope")]
pub type Utf16Rope = Utf16JumpRope;

/// The string storage of this build: the skip-list rope with the `jumprope` feature (the
/// default), the gap buffer without it.
#[cfg(not(feature = "jumprope"))]
pub type Utf16Rope = Utf16GapBuffer;

/// Checks that `index..index + len` is a valid range of a text of `total` code units, whose
/// positions `check_index` checks (the same rule for both stores).
fn check_range(
    total: usize,
    index: usize,
    len: usize,
    check_index: impl Fn(usize) -> Result<(), crate::error::ModelError>,
) -> Result<(), crate::error::ModelError> {
    let end = index
        .checked_add(len)
        .ok_or(crate::error::ModelError::IndexOutOfRange {
            index: usize::MAX,
            len: total,
        })?;
    check_index(index)?;
    if len > 0 {
        check_index(end)?;
    }
    Ok(())
}

/// The length of `text` in UTF-16 code units.
pub fn utf16_len(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().map(char::len_utf16).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ModelError;

    /// The same tests for each storage.
    macro_rules! storage_tests {
        ($module:ident, $rope:ty) => {
            mod $module {
                use super::*;

                #[test]
                fn inserts_and_removes_by_utf16_index() {
                    let mut r = <$rope>::from_text("héllo");
                    r.insert(5, " wörld").unwrap();
                    assert_eq!(r.to_string(), "héllo wörld");
                    assert_eq!(r.remove(1, 4).unwrap(), "éllo");
                    assert_eq!(r.to_string(), "h wörld");
                    assert_eq!(r.len_bytes(), "h wörld".len());
                }

                #[test]
                fn surrogate_pairs_count_two_and_cannot_be_split() {
                    let mut r = <$rope>::from_text("a😀b");
                    assert_eq!(r.len_utf16(), 4);
                    assert!(!r.is_bmp());
                    assert_eq!(
                        r.insert(2, "x"),
                        Err(ModelError::SplitsSurrogatePair { index: 2 })
                    );
                    assert_eq!(
                        r.remove(0, 2),
                        Err(ModelError::SplitsSurrogatePair { index: 2 })
                    );
                    r.insert(3, "x").unwrap();
                    assert_eq!(r.to_string(), "a😀xb");
                    assert_eq!(r.remove(1, 2).unwrap(), "😀");
                    assert_eq!(r.to_string(), "axb");
                    assert!(r.is_bmp());
                }

                #[test]
                fn out_of_range_is_an_error() {
                    let mut r = <$rope>::from_text("abc");
                    assert_eq!(
                        r.insert(4, "x"),
                        Err(ModelError::IndexOutOfRange { index: 4, len: 3 })
                    );
                    assert!(r.remove(2, 2).is_err());
                    assert!(r.remove(usize::MAX, 2).is_err());
                    assert_eq!(r.to_string(), "abc");
                }

                #[test]
                fn large_text_round_trips() {
                    let text: String = (0..20_000)
                        .map(|i| if i % 7 == 0 { '𝄞' } else { 'q' })
                        .collect();
                    let mut r = <$rope>::from_text(&text);
                    assert_eq!(r.len_utf16(), utf16_len(&text));
                    r.insert(14, "!").unwrap();
                    assert_eq!(r.slice(14, 1), "!");
                    assert_eq!(r.clone(), r);
                    r.set("short");
                    assert_eq!(r.to_string(), "short");
                }

                #[test]
                fn compacting_keeps_the_text() {
                    let mut r = <$rope>::new();
                    for i in 0..50_000 {
                        r.insert(i, "é").unwrap();
                    }
                    r.remove_discard(10, 49_980).unwrap();
                    r.compact();
                    assert_eq!(r.to_string(), "é".repeat(20));
                    assert_eq!(r.len_bytes(), 40);
                    assert!(r.mem_size() < 20_000);
                }
            }
        };
    }

    storage_tests!(gap_buffer, Utf16GapBuffer);
    #[cfg(feature = "jumprope")]
    storage_tests!(jump_rope, Utf16JumpRope);

    /// A small deterministic generator, so that failures replay.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) as usize) % n.max(1)
        }
    }

    /// Random edits, valid and invalid, at random places (typing runs and jumps), applied to a
    /// gap buffer and to a plain `Vec<u16>`: the same results, text, lengths and errors.
    fn fuzz_gap_buffer(seed: u64, steps: usize) {
        // Mostly typing, now and then a paste or a cut larger than a gap buffer's chunk.
        let paste = "lorem é😀 ".repeat(500);
        let pieces = ["a", "xyz", "é", "😀", "日本", "a😀b"];
        let mut rng = Lcg(seed);
        let mut gap = Utf16GapBuffer::new();
        let mut plain: Vec<u16> = Vec::new();
        let mut cursor = 0usize;
        for step in 0..steps {
            let len = plain.len();
            if rng.below(4) == 0 {
                cursor = rng.below(len + 2);
            }
            let splits = cursor < len && (0xDC00..0xE000).contains(&plain[cursor]);
            if rng.below(3) > 0 {
                let text = if rng.below(40) == 0 {
                    &paste
                } else {
                    pieces[rng.below(pieces.len())]
                };
                let result = gap.insert(cursor, text);
                if cursor > len || splits {
                    assert!(result.is_err(), "seed {seed} step {step}");
                } else {
                    result.unwrap();
                    let units: Vec<u16> = text.encode_utf16().collect();
                    plain.splice(cursor..cursor, units.iter().copied());
                    cursor += units.len();
                }
            } else {
                let n = if rng.below(50) == 0 {
                    rng.below(6_000)
                } else {
                    rng.below(4)
                };
                let end = cursor + n;
                let splits_end = end < len && (0xDC00..0xE000).contains(&plain[end]);
                let result = gap.remove(cursor, n);
                if end > len || splits || (n > 0 && splits_end) {
                    assert!(result.is_err(), "seed {seed} step {step}");
                } else {
                    let removed: Vec<u16> = plain.drain(cursor..end).collect();
                    assert_eq!(result.unwrap(), String::from_utf16(&removed).unwrap());
                }
            }
            assert_eq!(gap.len_utf16(), plain.len(), "seed {seed} step {step}");
            if step % 64 == 0 || step + 1 == steps {
                let text = String::from_utf16(&plain).unwrap();
                assert_eq!(gap.to_string(), text, "seed {seed} step {step}");
                assert_eq!(gap.len_bytes(), text.len());
                assert_eq!(gap.is_bmp(), !text.chars().any(|c| c.len_utf16() == 2));
                assert_eq!(gap.clone(), gap);
            }
        }
    }

    #[test]
    fn gap_buffer_matches_a_plain_vector() {
        for seed in 0..40 {
            fuzz_gap_buffer(seed, 2_000);
        }
    }

    /// The fuzzer without end, for a long run: `cargo test -p tandem-core --release -- --ignored
    /// gap_buffer_forever`.
    #[test]
    #[ignore]
    fn gap_buffer_forever() {
        for seed in 1_000.. {
            fuzz_gap_buffer(seed, 20_000);
        }
    }
}
