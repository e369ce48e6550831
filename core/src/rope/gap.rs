//! Text as UTF-16 code units in a list of gap buffers: the WebAssembly client's string storage.

use crate::error::ModelError;

/// The most code units a chunk holds before an insertion splits it. A gap moves within one
/// chunk, so an edit copies at most this many units however large the text is.
const CHUNK_UNITS: usize = 4096;

/// A string held as UTF-16 code units, in chunks that each keep a movable gap where edits happen.
///
/// JavaScript indexes strings in UTF-16 code units, so a position needs no conversion, and the
/// surrogate-pair check looks at one unit. Typing edits next to the previous edit, where the
/// gap already is, so an edit costs the size of the text it inserts; an edit elsewhere finds its
/// chunk (the last one edited is remembered) and moves that chunk's gap, a copy of at most
/// [`CHUNK_UNITS`] units. That suits one user's replica in a browser and is a fraction of the
/// code of a skip-list rope (the module's size is budgeted); the relay keeps the rope.
#[derive(Clone)]
pub struct Utf16GapBuffer {
    /// The chunks in order; never empty (an empty string is one empty chunk).
    chunks: Vec<Chunk>,
    /// The length in code units.
    len: usize,
    /// The length of the text's UTF-8 form, kept so that `len_bytes` need not walk the text.
    utf8_len: usize,
    /// How many surrogate pairs the text holds: with none, no position can split one.
    pairs: usize,
    /// The chunk edited last and the position where it starts, where the next edit's search
    /// begins (typing stays in one chunk).
    hint: (usize, usize),
}

/// One stretch of the text: the units before the gap, the gap, then the units after it.
#[derive(Clone, Default)]
struct Chunk {
    units: Vec<u16>,
    gap_start: usize,
    gap_end: usize,
}

/// Whether a code unit is the first half of a surrogate pair.
fn is_high_surrogate(unit: u16) -> bool {
    (0xD800..0xDC00).contains(&unit)
}

/// The UTF-8 bytes a code unit stands for (a pair's four bytes are counted on its first half).
fn utf8_bytes(unit: u16) -> usize {
    match unit {
        0..0x80 => 1,
        0x80..0x800 => 2,
        0xD800..0xDC00 => 4,
        0xDC00..0xE000 => 0,
        _ => 3,
    }
}

impl Chunk {
    fn from_units(units: &[u16]) -> Chunk {
        Chunk {
            units: units.to_vec(),
            gap_start: units.len(),
            gap_end: units.len(),
        }
    }

    fn len(&self) -> usize {
        self.units.len() - (self.gap_end - self.gap_start)
    }

    /// The units before and after the gap.
    fn parts(&self) -> (&[u16], &[u16]) {
        (&self.units[..self.gap_start], &self.units[self.gap_end..])
    }

    fn unit(&self, at: usize) -> u16 {
        if at < self.gap_start {
            self.units[at]
        } else {
            self.units[at + self.gap_end - self.gap_start]
        }
    }

    /// Moves the gap so that it starts at `at` (at most the length).
    fn move_gap(&mut self, at: usize) {
        let gap = self.gap_end - self.gap_start;
        if at < self.gap_start {
            self.units.copy_within(at..self.gap_start, at + gap);
        } else if at > self.gap_start {
            self.units
                .copy_within(self.gap_end..at + gap, self.gap_start);
        }
        self.gap_start = at;
        self.gap_end = at + gap;
    }

    /// Makes the gap at least `needed` units wide, with a quarter of the text to spare: growth
    /// stays geometric (an edit costs amortized constant time) while a chunk holds at most a
    /// quarter more memory than its text needs.
    fn reserve_gap(&mut self, needed: usize) {
        if self.gap_end - self.gap_start >= needed {
            return;
        }
        let after = self.units.len() - self.gap_end;
        let capacity = self.len() + needed + (self.len() / 4).max(32);
        self.units.reserve_exact(capacity - self.units.len());
        self.units.resize(capacity, 0);
        self.units
            .copy_within(self.gap_end..self.gap_end + after, capacity - after);
        self.gap_end = capacity - after;
    }

    /// Writes `text` at `at`; returns how many surrogate pairs it holds.
    fn insert(&mut self, at: usize, text: &str) -> usize {
        self.move_gap(at);
        // UTF-16 never takes more units than UTF-8 takes bytes.
        self.reserve_gap(text.len());
        if text.is_ascii() {
            let gap = &mut self.units[self.gap_start..self.gap_start + text.len()];
            for (unit, &byte) in gap.iter_mut().zip(text.as_bytes()) {
                *unit = u16::from(byte);
            }
            self.gap_start += text.len();
            return 0;
        }
        let mut pairs = 0;
        for unit in text.encode_utf16() {
            self.units[self.gap_start] = unit;
            self.gap_start += 1;
            pairs += usize::from(is_high_surrogate(unit));
        }
        pairs
    }

    /// Splits off the units from `at` on into a chunk of their own.
    fn split_off(&mut self, at: usize) -> Chunk {
        self.move_gap(at);
        let tail = Chunk::from_units(&self.units[self.gap_end..]);
        self.units.truncate(self.gap_start);
        self.gap_end = self.gap_start;
        tail
    }
}

impl Default for Utf16GapBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Utf16GapBuffer {
    /// An empty string.
    pub fn new() -> Self {
        Utf16GapBuffer {
            chunks: vec![Chunk::default()],
            len: 0,
            utf8_len: 0,
            pairs: 0,
            hint: (0, 0),
        }
    }

    /// Builds a buffer holding `text`.
    pub fn from_text(text: &str) -> Self {
        let mut buffer = Self::new();
        buffer.set(text);
        buffer
    }

    /// The length in UTF-16 code units.
    pub fn len_utf16(&self) -> usize {
        self.len
    }

    /// Whether every character is in the Basic Multilingual Plane (one UTF-16 code unit each).
    pub fn is_bmp(&self) -> bool {
        self.pairs == 0
    }

    /// The length in bytes of its UTF-8 form.
    pub fn len_bytes(&self) -> usize {
        self.utf8_len
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes used, for memory reports.
    pub fn mem_size(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self
                .chunks
                .iter()
                .map(|c| c.units.capacity() * 2)
                .sum::<usize>()
    }

    /// Rebuilds the buffer in half-full chunks if edits have left it mostly gaps and small
    /// chunks (more than twice the memory its text needs); returns whether it did.
    pub fn compact(&mut self) -> bool {
        if self.mem_size() <= 4 * self.len + 8192 {
            return false;
        }
        let units = self.units(0, self.len);
        *self = Self::from_units(&units);
        true
    }

    /// A buffer of `units` (whole surrogate pairs) in half-full chunks.
    fn from_units(units: &[u16]) -> Self {
        let mut buffer = Self::new();
        if !units.is_empty() {
            buffer.chunks = units
                .chunks(CHUNK_UNITS / 2)
                .map(Chunk::from_units)
                .collect();
        }
        buffer.len = units.len();
        for &unit in units {
            buffer.utf8_len += utf8_bytes(unit);
            buffer.pairs += usize::from(is_high_surrogate(unit));
        }
        buffer
    }

    /// The chunk holding position `index` (at most the length) and where that chunk starts; a
    /// position between two chunks is the end of the first. The search walks from the chunk
    /// edited last, so that edits near each other find their chunk at once.
    fn locate(&self, index: usize) -> (usize, usize) {
        let (mut chunk, mut start) = if self.hint.0 < self.chunks.len() {
            self.hint
        } else {
            (0, 0)
        };
        while chunk > 0 && index <= start {
            chunk -= 1;
            start -= self.chunks[chunk].len();
        }
        while chunk + 1 < self.chunks.len() && index > start + self.chunks[chunk].len() {
            start += self.chunks[chunk].len();
            chunk += 1;
        }
        (chunk, start)
    }

    /// The code unit at position `index` (below the length).
    fn unit(&self, index: usize) -> u16 {
        let (mut chunk, mut start) = self.locate(index);
        if index - start == self.chunks[chunk].len() {
            start += self.chunks[chunk].len();
            chunk += 1;
        }
        self.chunks[chunk].unit(index - start)
    }

    /// Checks that `index` is a valid position: at most the length, and not between the halves
    /// of a surrogate pair.
    pub fn check_index(&self, index: usize) -> Result<(), ModelError> {
        if index > self.len {
            return Err(ModelError::IndexOutOfRange {
                index,
                len: self.len,
            });
        }
        if self.pairs > 0 && index < self.len && (0xDC00..0xE000).contains(&self.unit(index)) {
            return Err(ModelError::SplitsSurrogatePair { index });
        }
        Ok(())
    }

    /// Checks that `index..index + len` is a valid range.
    pub fn check_range(&self, index: usize, len: usize) -> Result<(), ModelError> {
        super::check_range(self.len, index, len, |at| self.check_index(at))
    }

    /// Inserts `text` at `index` (code units).
    pub fn insert(&mut self, index: usize, text: &str) -> Result<(), ModelError> {
        self.check_index(index)?;
        if text.is_empty() {
            return Ok(());
        }
        let (c, start) = self.locate(index);
        let chunk = &mut self.chunks[c];
        let inserted = if chunk.len() + text.len() <= CHUNK_UNITS {
            let before = chunk.len();
            self.pairs += chunk.insert(index - start, text);
            chunk.len() - before
        } else {
            // The chunk would grow too large: it splits where the text goes, and the text goes
            // between the halves in chunks of its own.
            let units: Vec<u16> = text.encode_utf16().collect();
            let tail = chunk.split_off(index - start);
            let mut middle: Vec<Chunk> = units
                .chunks(CHUNK_UNITS / 2)
                .map(Chunk::from_units)
                .collect();
            if tail.len() > 0 {
                middle.push(tail);
            }
            self.chunks.splice(c + 1..c + 1, middle);
            self.pairs += units.iter().filter(|u| is_high_surrogate(**u)).count();
            units.len()
        };
        self.len += inserted;
        self.utf8_len += text.len();
        self.hint = (c, start);
        Ok(())
    }

    /// Removes `len` code units at `index` and returns the removed text.
    pub fn remove(&mut self, index: usize, len: usize) -> Result<String, ModelError> {
        self.check_range(index, len)?;
        let removed = self.slice(index, len);
        self.remove_checked(index, len);
        Ok(removed)
    }

    /// Removes without returning the text: the fast path when no inverse is needed.
    pub fn remove_discard(&mut self, index: usize, len: usize) -> Result<(), ModelError> {
        self.check_range(index, len)?;
        self.remove_checked(index, len);
        Ok(())
    }

    fn remove_checked(&mut self, index: usize, len: usize) {
        let (first, first_start) = self.locate(index);
        let (mut c, mut at) = (first, index - first_start);
        let mut left = len;
        while left > 0 {
            let chunk = &mut self.chunks[c];
            let n = left.min(chunk.len() - at);
            chunk.move_gap(at);
            for &unit in &chunk.units[chunk.gap_end..chunk.gap_end + n] {
                self.utf8_len -= utf8_bytes(unit);
                self.pairs -= usize::from(is_high_surrogate(unit));
            }
            chunk.gap_end += n;
            left -= n;
            if chunk.len() == 0 && self.chunks.len() > 1 {
                self.chunks.remove(c);
            } else {
                c += 1;
            }
            at = 0;
        }
        self.len -= len;
        // The first chunk (or the one that took its place) still starts where it did.
        self.hint = if first < self.chunks.len() {
            (first, first_start)
        } else {
            (0, 0)
        };
    }

    /// Calls `each` with the stretches of code units that make up the range `index..index + len`
    /// (which must be valid), in order.
    fn for_each_part(&self, index: usize, len: usize, mut each: impl FnMut(&[u16])) {
        let (mut c, start) = self.locate(index);
        let mut skip = index - start;
        let mut left = len;
        while left > 0 {
            let (before, after) = self.chunks[c].parts();
            for part in [before, after] {
                let from = skip.min(part.len());
                skip -= from;
                let take = left.min(part.len() - from);
                left -= take;
                if take > 0 {
                    each(&part[from..from + take]);
                }
            }
            c += 1;
        }
    }

    /// The code units of the range `index..index + len`, which must be valid.
    fn units(&self, index: usize, len: usize) -> Vec<u16> {
        let mut out = Vec::with_capacity(len);
        self.for_each_part(index, len, |part| out.extend_from_slice(part));
        out
    }

    /// The text of the code-unit range `index..index + len`, which must be valid.
    pub fn slice(&self, index: usize, len: usize) -> String {
        // Most text is ASCII: its units narrow to bytes without decoding.
        let mut ascii = Vec::with_capacity(len);
        let mut only_ascii = true;
        self.for_each_part(index, len, |part| {
            only_ascii = only_ascii && part.iter().all(|&unit| unit < 0x80);
            if only_ascii {
                ascii.extend(part.iter().map(|&unit| unit as u8));
            }
        });
        match String::from_utf8(ascii) {
            Ok(text) if only_ascii => text,
            _ => String::from_utf16_lossy(&self.units(index, len)),
        }
    }

    /// Replaces the whole text.
    pub fn set(&mut self, text: &str) {
        let units: Vec<u16> = text.encode_utf16().collect();
        *self = Self::from_units(&units);
    }
}

impl PartialEq for Utf16GapBuffer {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.units(0, self.len) == other.units(0, other.len)
    }
}

impl std::fmt::Display for Utf16GapBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.slice(0, self.len))
    }
}

impl std::fmt::Debug for Utf16GapBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.to_string(), f)
    }
}
