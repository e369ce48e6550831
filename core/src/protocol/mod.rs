//! Tandem's wire protocol: the messages a client and a relay exchange, and their compact
//! binary encoding.
//!
//! [`messages`] defines what is said: the handshake, requests with their responses, operations
//! with their acknowledgements, references, pushes and errors. [`codec`] defines how it is
//! written: a versioned frame holding one message, decoded under [`Limits`] so that hostile
//! input is refused with a [`DecodeError`] without panicking or allocating without bound.
//! [`pieces`] carries a message larger than one frame as consecutive frames.
//!
//! ```
//! use tandem_core::protocol::{decode_client, encode_client, ClientMessage, Limits};
//!
//! let ping = ClientMessage::Ping { nonce: 7 };
//! let frame = encode_client(&ping);
//! assert_eq!(decode_client(&frame, &Limits::default()).unwrap(), ping);
//! ```

pub mod codec;
pub mod messages;
pub mod pieces;
pub mod samples;
pub mod shape;

#[cfg(test)]
mod tests;

pub use codec::{
    decode_client, decode_frame, decode_relay, encode_client, encode_frame, encode_relay,
    variant_tag, write_varint, Decode, DecodeError, Encode, Failed, Limits, Reader, VariantDecoder,
    WireEnum, FORMAT_VERSION, MAX_DEPTH_CAP,
};
pub use messages::*;

/// The version of the protocol's messages a client announces in [`Hello`]; a relay refuses a
/// session whose version it does not speak with [`ErrorCode::UnsupportedProtocolVersion`].
pub const PROTOCOL_VERSION: u32 = 2;
