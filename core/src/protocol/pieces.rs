//! Messages larger than one frame travel in pieces.
//!
//! A WebSocket message is bounded (the relay's `--max-frame-bytes`, 1 MiB by default) so that
//! one connection cannot make the other side buffer without limit before it can even look at
//! what arrives. A message that encodes larger — a 10 MB paste, a batch of 100,000 pushes, the
//! data of a 64 MiB model — is sent as consecutive *piece* frames: each starts with
//! [`PIECE_FORMAT`] (where a whole frame starts with the format version), then a flag byte
//! ([`LAST`] on the final piece), then the next bytes of the encoded message. The receiver
//! appends them, bounded by its message limit, and decodes the whole once the last piece is in,
//! so a message applies atomically or not at all: a connection that drops halfway leaves
//! nothing behind. Whole frames (heartbeats, say) may arrive between two pieces.

use super::codec::FORMAT_VERSION;

/// The first byte of a piece frame.
pub const PIECE_FORMAT: u8 = 0xF1;

/// The flag of a message's last piece.
pub const LAST: u8 = 1;

/// The bytes a piece frame adds to its share of the message.
pub const PIECE_OVERHEAD: usize = 2;

/// The smallest frame limit pieces work with (each piece must carry something).
pub const MIN_FRAME_BYTES: usize = PIECE_OVERHEAD + 1;

/// Splits an encoded message into frames of at most `max_frame_bytes`: the message itself when
/// it fits, else its pieces.
pub fn split(message: Vec<u8>, max_frame_bytes: usize) -> Vec<Vec<u8>> {
    let max = max_frame_bytes.max(MIN_FRAME_BYTES);
    if message.len() <= max {
        return vec![message];
    }
    let share = max - PIECE_OVERHEAD;
    let count = message.len().div_ceil(share);
    message
        .chunks(share)
        .enumerate()
        .map(|(i, bytes)| {
            let mut piece = Vec::with_capacity(PIECE_OVERHEAD + bytes.len());
            piece.push(PIECE_FORMAT);
            piece.push(if i + 1 == count { LAST } else { 0 });
            piece.extend_from_slice(bytes);
            piece
        })
        .collect()
}

/// Why a piece was refused. The connection should be closed: its state is unknown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PieceError {
    /// The pieces so far add up to more than the message limit.
    #[error("a message in pieces exceeds {limit} bytes")]
    TooLarge {
        /// The receiver's message limit.
        limit: usize,
    },
    /// A piece frame without its flag byte, or with an unknown flag.
    #[error("a malformed piece frame")]
    Malformed,
}

/// What one frame amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled<'a> {
    /// A whole message frame, as it arrived.
    Whole(&'a [u8]),
    /// A piece; the message is not complete yet.
    Partial,
    /// The last piece: the complete message.
    Complete(Vec<u8>),
}

/// Puts pieced messages back together, one at a time, up to a limit.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// The most bytes a message may have.
    limit: usize,
    /// The pieces of the message so far.
    partial: Vec<u8>,
}

impl Reassembler {
    /// A reassembler for messages of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Reassembler {
            limit,
            partial: Vec::new(),
        }
    }

    /// Takes one frame.
    pub fn push<'a>(&mut self, frame: &'a [u8]) -> Result<Assembled<'a>, PieceError> {
        let [PIECE_FORMAT, flag, bytes @ ..] = frame else {
            if frame.first() == Some(&PIECE_FORMAT) {
                return Err(PieceError::Malformed);
            }
            return Ok(Assembled::Whole(frame));
        };
        if *flag > LAST {
            return Err(PieceError::Malformed);
        }
        if self.partial.len() + bytes.len() > self.limit {
            self.partial = Vec::new();
            return Err(PieceError::TooLarge { limit: self.limit });
        }
        self.partial.extend_from_slice(bytes);
        if *flag == LAST {
            return Ok(Assembled::Complete(std::mem::take(&mut self.partial)));
        }
        Ok(Assembled::Partial)
    }

    /// Bytes held for an incomplete message.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

// A whole frame starts with the format version, never with the piece marker.
const _: () = assert!(FORMAT_VERSION != PIECE_FORMAT);

#[cfg(test)]
mod tests {
    use super::*;

    fn reassemble(frames: &[Vec<u8>], limit: usize) -> Result<Vec<u8>, PieceError> {
        let mut r = Reassembler::new(limit);
        for (i, frame) in frames.iter().enumerate() {
            match r.push(frame)? {
                Assembled::Complete(message) => {
                    assert_eq!(i + 1, frames.len(), "complete at the last piece");
                    return Ok(message);
                }
                Assembled::Whole(whole) => return Ok(whole.to_vec()),
                Assembled::Partial => {}
            }
        }
        panic!("never complete")
    }

    #[test]
    fn every_size_round_trips_at_and_around_the_frame_limit() {
        for max in [MIN_FRAME_BYTES, 4, 7, 64] {
            for len in 1..(max * 4) {
                let mut message = vec![FORMAT_VERSION];
                message.extend((1..len).map(|i| i as u8));
                let frames = split(message.clone(), max);
                assert!(frames.iter().all(|f| f.len() <= max), "{max}/{len}");
                assert_eq!(frames.len() == 1, len <= max);
                assert_eq!(reassemble(&frames, len).unwrap(), message, "{max}/{len}");
            }
        }
    }

    #[test]
    fn a_message_over_the_limit_is_refused_as_it_arrives() {
        let frames = split(vec![FORMAT_VERSION; 100], 10);
        assert_eq!(
            reassemble(&frames, 99),
            Err(PieceError::TooLarge { limit: 99 })
        );
        assert_eq!(reassemble(&frames, 100).unwrap().len(), 100);
    }

    #[test]
    fn whole_frames_pass_between_pieces_and_bad_pieces_are_refused() {
        let mut r = Reassembler::new(1 << 10);
        let frames = split(vec![FORMAT_VERSION; 30], 10);
        assert_eq!(r.push(&frames[0]), Ok(Assembled::Partial));
        assert_eq!(r.push(&[FORMAT_VERSION, 9]), Ok(Assembled::Whole(&[1, 9])));
        for frame in &frames[1..frames.len() - 1] {
            assert_eq!(r.push(frame), Ok(Assembled::Partial));
        }
        assert!(matches!(
            r.push(frames.last().unwrap()),
            Ok(Assembled::Complete(m)) if m.len() == 30
        ));
        assert_eq!(r.push(&[PIECE_FORMAT]), Err(PieceError::Malformed));
        assert_eq!(r.push(&[PIECE_FORMAT, 7, 1]), Err(PieceError::Malformed));
        assert_eq!(r.pending(), 0);
    }
}
