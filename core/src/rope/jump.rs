//! Text in a skip-list rope with UTF-16 positions: the relay's string storage.

use jumprope::JumpRope;

use crate::error::ModelError;

/// A string that stays cheap to edit when it is large, addressed in UTF-16 code units.
///
/// It wraps jumprope's skip-list rope, which keeps UTF-16 counts in its nodes, so a position
/// given in code units is found in one descent rather than converted character by character.
/// Every index is checked: past the end or between the halves of a surrogate pair is an error.
pub struct Utf16JumpRope {
    rope: JumpRope,
}

impl Clone for Utf16JumpRope {
    fn clone(&self) -> Self {
        let mut rope = Utf16JumpRope::new();
        for chunk in self.rope.substrings() {
            rope.rope.insert(rope.rope.len_chars(), chunk);
        }
        rope
    }
}

impl std::fmt::Debug for Utf16JumpRope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.to_string(), f)
    }
}

impl PartialEq for Utf16JumpRope {
    fn eq(&self, other: &Self) -> bool {
        self.rope == other.rope
    }
}

impl Default for Utf16JumpRope {
    fn default() -> Self {
        Self::new()
    }
}

/// The skip list's seed. Fixed, so that the rope never asks the platform for entropy (which would
/// pull a random-number source into the WebAssembly build).
const ROPE_SEED: u64 = 0x7a6e_6465_6d21;

impl Utf16JumpRope {
    /// An empty string.
    pub fn new() -> Self {
        Utf16JumpRope {
            rope: JumpRope::new_from_seed(ROPE_SEED),
        }
    }

    /// The length in UTF-16 code units.
    pub fn len_utf16(&self) -> usize {
        self.rope.len_wchars()
    }

    /// Whether every character is in the Basic Multilingual Plane (one UTF-16 code unit each),
    /// so that no position can fall inside a surrogate pair: callers that check positions
    /// themselves (the npm package's write buffer) rely on it.
    pub fn is_bmp(&self) -> bool {
        self.rope.len_chars() == self.rope.len_wchars()
    }

    /// The length in bytes of its UTF-8 form.
    pub fn len_bytes(&self) -> usize {
        self.rope.len_bytes()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.rope.is_empty()
    }

    /// Heap bytes used, for memory reports.
    pub fn mem_size(&self) -> usize {
        self.rope.mem_size()
    }

    /// Rebuilds the rope with full nodes if typing has left it mostly empty space (more than
    /// three bytes of memory per byte of text); returns whether it did. Character-by-character
    /// editing leaves the skip list's nodes about half full; this brings them back to full, at a
    /// cost proportional to the text, so the caller does it when a model goes idle.
    pub fn compact(&mut self) -> bool {
        if self.mem_size() <= 3 * self.len_bytes() + 4096 {
            return false;
        }
        *self = self.clone();
        true
    }

    /// Checks that `index` is a valid position: at most the length, and not inside a surrogate
    /// pair. Strings without characters outside the BMP skip the pair check entirely.
    pub fn check_index(&self, index: usize) -> Result<(), ModelError> {
        let len = self.rope.len_wchars();
        if index > len {
            return Err(ModelError::IndexOutOfRange { index, len });
        }
        if len != self.rope.len_chars() {
            // The string holds surrogate pairs: a position is valid when converting it to
            // characters and back gives it again (the conversion rounds down inside a pair).
            let chars = self.rope.wchars_to_chars(index);
            if self.rope.chars_to_wchars(chars) != index {
                return Err(ModelError::SplitsSurrogatePair { index });
            }
        }
        Ok(())
    }

    /// Checks that `index..index + len` is a valid range.
    pub fn check_range(&self, index: usize, len: usize) -> Result<(), ModelError> {
        super::check_range(self.len_utf16(), index, len, |at| self.check_index(at))
    }

    /// Inserts `text` at `index` (code units).
    pub fn insert(&mut self, index: usize, text: &str) -> Result<(), ModelError> {
        self.check_index(index)?;
        if self.is_bmp() {
            // Code units are characters: no conversion needed.
            self.rope.insert(index, text);
        } else if !text.is_empty() {
            self.rope.insert_at_wchar(index, text);
        }
        Ok(())
    }

    /// Removes `len` code units at `index` and returns the removed text.
    pub fn remove(&mut self, index: usize, len: usize) -> Result<String, ModelError> {
        self.check_range(index, len)?;
        if len == 0 {
            return Ok(String::new());
        }
        let removed = self.slice(index, len);
        self.remove_checked(index, len);
        Ok(removed)
    }

    /// Removes without returning the text: the fast path when no inverse is needed.
    pub fn remove_discard(&mut self, index: usize, len: usize) -> Result<(), ModelError> {
        self.check_range(index, len)?;
        if len > 0 {
            self.remove_checked(index, len);
        }
        Ok(())
    }

    fn remove_checked(&mut self, index: usize, len: usize) {
        if self.is_bmp() {
            self.rope.remove(index..index + len);
        } else {
            self.rope.remove_at_wchar(index..index + len);
        }
    }

    /// The text of the code-unit range `index..index + len`, which must be valid.
    pub fn slice(&self, index: usize, len: usize) -> String {
        let (start, end) = if self.is_bmp() {
            (index, index + len)
        } else {
            (
                self.rope.wchars_to_chars(index),
                self.rope.wchars_to_chars(index + len),
            )
        };
        let mut out = String::new();
        for chunk in self.rope.slice_substrings(start..end) {
            out.push_str(chunk);
        }
        out
    }

    /// Replaces the whole text.
    pub fn set(&mut self, text: &str) {
        self.rope = JumpRope::new_from_seed(ROPE_SEED);
        self.rope.insert(0, text);
    }

    /// Builds a rope holding `text`.
    pub fn from_text(text: &str) -> Self {
        let mut rope = Utf16JumpRope::new();
        rope.rope.insert(0, text);
        rope
    }
}

impl std::fmt::Display for Utf16JumpRope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for chunk in self.rope.substrings() {
            f.write_str(chunk)?;
        }
        Ok(())
    }
}
