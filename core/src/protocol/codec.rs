//! A compact, hand-written binary encoding of the protocol's messages.
//!
//! Layout:
//!
//! - a frame is one [`FORMAT_VERSION`] byte followed by exactly one message;
//! - unsigned integers are LEB128 varints in their shortest form; signed integers are zigzag
//!   varints; `usize` travels as a `u64` varint and is range-checked on decoding;
//! - `bool` is one byte, 0 or 1; `f64` is 8 bytes little endian and must be finite;
//! - strings are a varint byte length followed by UTF-8; lists are a varint item count followed
//!   by the items; `Option` is a 0/1 byte followed by the value if 1; tuples and structs are their
//!   fields in order;
//! - enums are a varint tag (listed next to each type below) followed by the variant's fields.
//!
//! Decoding treats its input as hostile: [`Limits`] bound the frame size, string lengths, list
//! lengths and the nesting of values, nodes and operations, and are checked before anything is
//! allocated. A length prefix is never trusted for preallocation beyond a handful of items, so
//! memory grows only with what actually decodes. Recursion is bounded by the depth limit (itself
//! capped at [`MAX_DEPTH_CAP`]), arithmetic cannot overflow, and trailing bytes, overlong
//! varints, invalid UTF-8, unknown tags and non-finite numbers are errors. Every frame that
//! decodes re-encodes to exactly the same bytes.

use crate::id::ElementId;
use crate::op::Op;
use crate::reference::{ReferenceKey, ReferenceValue};
use crate::value::{Node, NodeValue, Value};

use super::messages::*;
use super::shape::{field_shape, Field, Shape, Shaped, Variant};

/// The first byte of every frame: the version of this binary layout.
pub const FORMAT_VERSION: u8 = 1;

/// The largest nesting depth a decoder ever accepts whatever [`Limits::max_depth`] says, so that
/// the (bounded) recursion of decoding fits comfortably on any thread's stack.
pub const MAX_DEPTH_CAP: usize = 256;

/// How much a decoder accepts, checked while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame, in bytes.
    pub max_frame_bytes: usize,
    /// The deepest nesting of values, nodes and operations (each level of a value, node or
    /// compound operation counts one); capped at [`MAX_DEPTH_CAP`].
    pub max_depth: usize,
    /// The longest string, in bytes.
    pub max_string_bytes: usize,
    /// The most items in one list.
    pub max_items: usize,
}

impl Limits {
    /// The default limits: 4 MiB frames, 128 levels of nesting (a model may be 100 levels deep,
    /// see `model::MAX_DEPTH`, and operations wrap its subtrees), 4 MiB strings, 1 Mi items.
    pub const DEFAULT: Limits = Limits {
        max_frame_bytes: 4 << 20,
        max_depth: 128,
        max_string_bytes: 4 << 20,
        max_items: 1 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Why a frame could not be decoded. Offsets are byte positions in the frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame's first byte is not [`FORMAT_VERSION`].
    #[error("unsupported frame format version {0}")]
    UnsupportedFormat(u8),
    /// The frame exceeds [`Limits::max_frame_bytes`].
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input ended in the middle of a value.
    #[error("frame truncated at byte {at}")]
    Truncated {
        /// Where more input was needed.
        at: usize,
    },
    /// A varint is longer than 10 bytes, overflows 64 bits or is not in its shortest form.
    #[error("malformed varint at byte {at}")]
    BadVarint {
        /// Where the varint starts.
        at: usize,
    },
    /// An integer does not fit the type it decodes to.
    #[error("integer {value} at byte {at} is out of range")]
    IntegerOutOfRange {
        /// Where it starts.
        at: usize,
        /// Its value.
        value: u64,
    },
    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean byte {byte} at byte {at}")]
    InvalidBool {
        /// Where it is.
        at: usize,
        /// Its value.
        byte: u8,
    },
    /// A string is not valid UTF-8.
    #[error("invalid UTF-8 in the string at byte {at}")]
    InvalidUtf8 {
        /// Where the string's length starts.
        at: usize,
    },
    /// A string or list is longer than the limit allows.
    #[error("length {len} at byte {at} exceeds the limit of {limit}")]
    TooLong {
        /// Where the length starts.
        at: usize,
        /// The length given.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// A length prefix promises more than the frame holds.
    #[error("length {len} at byte {at} exceeds the {remaining} bytes left")]
    LengthExceedsInput {
        /// Where the length starts.
        at: usize,
        /// The length given.
        len: u64,
        /// What is left of the frame after the length.
        remaining: usize,
    },
    /// Values, nodes or operations are nested deeper than the limit.
    #[error("nesting deeper than {limit} levels at byte {at}")]
    TooDeep {
        /// Where the level that is too deep starts.
        at: usize,
        /// The effective limit.
        limit: usize,
    },
    /// An enum tag names no variant.
    #[error("unknown {type_name} tag {tag} at byte {at}")]
    UnknownTag {
        /// The type being decoded.
        type_name: &'static str,
        /// The tag found.
        tag: u64,
        /// Where the tag starts.
        at: usize,
    },
    /// A number is NaN or infinite.
    #[error("non-finite number at byte {at}")]
    NonFiniteNumber {
        /// Where it starts.
        at: usize,
    },
    /// Bytes follow the message.
    #[error("{count} trailing bytes after the message")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl DecodeError {
    /// A stable, machine-readable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::UnsupportedFormat(_) => "unsupported_format",
            DecodeError::FrameTooLarge { .. } => "frame_too_large",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::BadVarint { .. } => "bad_varint",
            DecodeError::IntegerOutOfRange { .. } => "integer_out_of_range",
            DecodeError::InvalidBool { .. } => "invalid_bool",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::TooLong { .. } => "too_long",
            DecodeError::LengthExceedsInput { .. } => "length_exceeds_input",
            DecodeError::TooDeep { .. } => "too_deep",
            DecodeError::UnknownTag { .. } => "unknown_tag",
            DecodeError::NonFiniteNumber { .. } => "non_finite_number",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
        }
    }
}

impl From<&DecodeError> for ErrorCode {
    /// The code a relay answers an undecodable frame with.
    fn from(err: &DecodeError) -> ErrorCode {
        match err {
            DecodeError::UnsupportedFormat(_) => ErrorCode::UnsupportedProtocolVersion,
            DecodeError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            DecodeError::TooDeep { .. } => ErrorCode::TooDeep,
            DecodeError::UnknownTag { type_name, .. }
                if *type_name == ClientMessage::TYPE_NAME
                    || *type_name == RelayMessage::TYPE_NAME
                    || *type_name == Request::TYPE_NAME
                    || *type_name == Response::TYPE_NAME =>
            {
                ErrorCode::UnknownMessage
            }
            _ => ErrorCode::MalformedMessage,
        }
    }
}

/// Reads a frame front to back, keeping the position, the limits and the current depth.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    limits: Limits,
    /// Why decoding failed, once it has: decoders return only [`Failed`], which keeps every
    /// `?` in the generated code one word wide instead of copying the error along.
    error: Option<DecodeError>,
}

/// A decoder failed; the reason is in its [`Reader`] (see [`decode_frame`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed;

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8], limits: &Limits) -> Self {
        Reader {
            input,
            pos: 0,
            depth: 0,
            max_depth: limits.max_depth.min(MAX_DEPTH_CAP),
            limits: *limits,
            error: None,
        }
    }

    /// Records why decoding failed (the first reason counts) and returns the marker to
    /// propagate.
    #[cold]
    pub fn fail(&mut self, error: DecodeError) -> Failed {
        self.error.get_or_insert(error);
        Failed
    }

    /// Why decoding failed (after a decoder returned [`Failed`]).
    pub fn take_error(&mut self) -> DecodeError {
        self.error
            .take()
            .unwrap_or(DecodeError::Truncated { at: self.pos })
    }

    /// The offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// The limits being enforced.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Reads one byte.
    pub fn read_u8(&mut self) -> Result<u8, Failed> {
        match self.input.get(self.pos) {
            Some(&byte) => {
                self.pos += 1;
                Ok(byte)
            }
            None => Err(self.fail(DecodeError::Truncated { at: self.pos })),
        }
    }

    /// Reads `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], Failed> {
        if n > self.remaining() {
            return Err(self.fail(DecodeError::Truncated {
                at: self.input.len(),
            }));
        }
        let bytes = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    /// Reads a LEB128 varint in its shortest form.
    pub fn read_varint(&mut self) -> Result<u64, Failed> {
        let at = self.pos;
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = self.read_u8()?;
            if i == 9 && byte > 1 {
                return Err(self.fail(DecodeError::BadVarint { at }));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(self.fail(DecodeError::BadVarint { at }));
                }
                return Ok(value);
            }
        }
        Err(self.fail(DecodeError::BadVarint { at }))
    }

    /// Reads a length prefix, checked against `limit` and against what is left of the input
    /// (every encoded item takes at least one byte), before anything is allocated.
    pub fn read_len(&mut self, limit: usize) -> Result<usize, Failed> {
        let at = self.pos;
        let len = self.read_varint()?;
        match usize::try_from(len) {
            Ok(n) if n <= limit => {
                let remaining = self.remaining();
                if n > remaining {
                    Err(self.fail(DecodeError::LengthExceedsInput { at, len, remaining }))
                } else {
                    Ok(n)
                }
            }
            _ => Err(self.fail(DecodeError::TooLong { at, len, limit })),
        }
    }

    /// Decodes one level of nesting with `f`, failing if that goes deeper than the limit.
    pub fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, Failed>,
    ) -> Result<T, Failed> {
        if self.depth >= self.max_depth {
            let error = DecodeError::TooDeep {
                at: self.pos,
                limit: self.max_depth,
            };
            return Err(self.fail(error));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Decodes with `f` without counting a level (the counterpart of [`Reader::nested`] for
    /// the codec macros).
    pub fn flat<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Failed>) -> Result<T, Failed> {
        f(self)
    }

    /// Checks that the whole input was consumed.
    pub fn finish(&mut self) -> Result<(), Failed> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(self.fail(DecodeError::TrailingBytes { count })),
        }
    }
}

/// Appends the wire form of a value.
pub trait Encode {
    /// Appends `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);
}

/// Reads the wire form of a value.
pub trait Decode: Sized {
    /// Reads one value from `r`, enforcing `r`'s limits.
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed>;
}

/// What the codec knows about an enum: its name and its variants' tags, for error messages,
/// logs and metrics, and for tests that check every variant is covered.
pub trait WireEnum {
    /// The type's name.
    const TYPE_NAME: &'static str;
    /// Every variant as `(tag, name)`, in declaration order.
    const VARIANTS: &'static [(u64, &'static str)];
    /// The tag of this value's variant.
    fn wire_tag(&self) -> u64;
    /// The name of this value's variant.
    fn variant_name(&self) -> &'static str;
}

/// Reads one enum variant's fields: see the `variant_decoder` of each enum.
pub type VariantDecoder<T> = fn(&mut Reader<'_>) -> Result<T, Failed>;

/// Whether two strings are equal, in a constant.
pub const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The wire tag of the variant of `T` called `name`, in a constant: an unknown name fails the
/// build.
pub const fn variant_tag<T: WireEnum>(name: &str) -> u64 {
    let mut i = 0;
    while i < T::VARIANTS.len() {
        if const_str_eq(T::VARIANTS[i].1, name) {
            return T::VARIANTS[i].0;
        }
        i += 1;
    }
    panic!("no variant of that name")
}

/// Appends `value` as a LEB128 varint.
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Encodes a message as a frame: the format byte, then the message.
pub fn encode_frame<T: Encode>(message: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    message.encode(&mut out);
    out
}

/// Decodes a frame holding exactly one message, enforcing `limits`.
pub fn decode_frame<T: Decode>(frame: &[u8], limits: &Limits) -> Result<T, DecodeError> {
    if frame.len() > limits.max_frame_bytes {
        return Err(DecodeError::FrameTooLarge {
            size: frame.len(),
            limit: limits.max_frame_bytes,
        });
    }
    let mut r = Reader::new(frame, limits);
    let Ok(format) = r.read_u8() else {
        return Err(r.take_error());
    };
    if format != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedFormat(format));
    }
    match T::decode(&mut r).and_then(|message| r.finish().map(|()| message)) {
        Ok(message) => Ok(message),
        Err(Failed) => Err(r.take_error()),
    }
}

/// Encodes a client message as a frame.
pub fn encode_client(message: &ClientMessage) -> Vec<u8> {
    encode_frame(message)
}

/// Decodes a frame a client sent.
pub fn decode_client(frame: &[u8], limits: &Limits) -> Result<ClientMessage, DecodeError> {
    decode_frame(frame, limits)
}

/// Encodes a relay message as a frame.
pub fn encode_relay(message: &RelayMessage) -> Vec<u8> {
    encode_frame(message)
}

/// Decodes a frame a relay sent.
pub fn decode_relay(frame: &[u8], limits: &Limits) -> Result<RelayMessage, DecodeError> {
    decode_frame(frame, limits)
}

// ---------------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------------

impl Encode for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, *self);
    }
}

impl Decode for u64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        r.read_varint()
    }
}

/// Unsigned integers narrower than the varint: encoded as a u64, checked when decoded.
macro_rules! narrow_unsigned {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                write_varint(out, *self as u64);
            }
        }

        impl Decode for $ty {
            fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
                let at = r.position();
                let value = r.read_varint()?;
                <$ty>::try_from(value).map_err(|_| r.fail(DecodeError::IntegerOutOfRange { at, value }))
            }
        }
    )*};
}

narrow_unsigned!(u32, usize);

impl Encode for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, ((*self << 1) ^ (*self >> 63)) as u64);
    }
}

impl Decode for i64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        let zigzag = r.read_varint()?;
        Ok(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
    }
}

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        let at = r.position();
        match r.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            byte => Err(r.fail(DecodeError::InvalidBool { at, byte })),
        }
    }
}

impl Encode for f64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Decode for f64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        let at = r.position();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(r.read_bytes(8)?);
        let value = f64::from_le_bytes(bytes);
        if value.is_finite() {
            Ok(value)
        } else {
            Err(r.fail(DecodeError::NonFiniteNumber { at }))
        }
    }
}

impl Encode for str {
    fn encode(&self, out: &mut Vec<u8>) {
        self.len().encode(out);
        out.extend_from_slice(self.as_bytes());
    }
}

impl Encode for String {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_str().encode(out);
    }
}

impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        let at = r.position();
        let len = r.read_len(r.limits().max_string_bytes)?;
        let bytes = r.read_bytes(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| r.fail(DecodeError::InvalidUtf8 { at }))
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode(out);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        let at = r.position();
        match r.read_u8()? {
            0 => Ok(None),
            1 => T::decode(r).map(Some),
            tag => Err(r.fail(DecodeError::UnknownTag {
                type_name: "Option",
                tag: u64::from(tag),
                at,
            })),
        }
    }
}

impl<T: Encode> Encode for [T] {
    fn encode(&self, out: &mut Vec<u8>) {
        self.len().encode(out);
        for item in self {
            item.encode(out);
        }
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_slice().encode(out);
    }
}

/// How many items a list preallocates at most: the length prefix is only a claim, so memory
/// beyond this grows with the items that actually decode.
const PREALLOC_ITEMS: usize = 4;

impl<T: Decode> Decode for Vec<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        let len = r.read_len(r.limits().max_items)?;
        let mut items = Vec::with_capacity(len.min(PREALLOC_ITEMS));
        for _ in 0..len {
            items.push(T::decode(r)?);
        }
        Ok(items)
    }
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
}

impl<A: Decode, B: Decode> Decode for (A, B) {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        let a = A::decode(r)?;
        let b = B::decode(r)?;
        Ok((a, b))
    }
}

impl Encode for ErrorCode {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, u64::from(self.as_u16()));
    }
}

impl Decode for ErrorCode {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        let at = r.position();
        let tag = r.read_varint()?;
        u16::try_from(tag)
            .ok()
            .and_then(ErrorCode::from_u16)
            .ok_or_else(|| {
                r.fail(DecodeError::UnknownTag {
                    type_name: "ErrorCode",
                    tag,
                    at,
                })
            })
    }
}

// ---------------------------------------------------------------------------------------------
// Structs and enums, field by field
// ---------------------------------------------------------------------------------------------

/// Implements `Encode` and `Decode` for a struct as its fields in the order listed. With a
/// leading `nested`, each value counts one level of depth.
macro_rules! codec_struct {
    (unshaped nested $name:ident { $($field:ident),* $(,)? }) => {
        codec_struct!(@impl nested $name { $($field),* });
    };
    (unshaped $name:ident { $($field:ident),* $(,)? }) => {
        codec_struct!(@impl flat $name { $($field),* });
    };
    (nested $name:ident { $($field:ident),* $(,)? }) => {
        codec_struct!(@impl nested $name { $($field),* });
        codec_struct!(@shape $name { $($field),* });
    };
    ($name:ident { $($field:ident),* $(,)? }) => {
        codec_struct!(@impl flat $name { $($field),* });
        codec_struct!(@shape $name { $($field),* });
    };
    (@shape $name:ident { $($field:ident),* }) => {
        impl Shaped for $name {
            fn shape() -> &'static Shape {
                const {
                    &Shape::Struct(&[$(Field {
                        name: stringify!($field),
                        shape: field_shape(|s: &$name| &s.$field),
                    }),*])
                }
            }
        }
    };
    (@impl $wrap:ident $name:ident { $($field:ident),* }) => {
        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                let $name { $($field),* } = self;
                $( $field.encode(out); )*
            }
        }

        impl Decode for $name {
            fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
                r.$wrap(|r| {
                    $( let $field = Decode::decode(r)?; )*
                    Ok($name { $($field),* })
                })
            }
        }

    };
}

/// Implements `Encode`, `Decode` and `WireEnum` for an enum: each variant is listed with its
/// wire tag and its fields (`{ a, b }` for struct variants, `(a)` for tuple variants, nothing
/// for unit variants), encoded in the order listed. With a leading `nested`, each value counts
/// one level of depth. The encoder's match has no wildcard, so a variant missing here does not
/// compile.
macro_rules! codec_enum {
    (unshaped nested $name:ident { $($body:tt)* }) => {
        codec_enum!(@impl nested $name { $($body)* });
    };
    (unshaped $name:ident { $($body:tt)* }) => {
        codec_enum!(@impl flat $name { $($body)* });
    };
    (nested $name:ident { $($body:tt)* }) => {
        codec_enum!(@impl nested $name { $($body)* });
        codec_enum!(@shape $name { $($body)* });
    };
    ($name:ident { $($body:tt)* }) => {
        codec_enum!(@impl flat $name { $($body)* });
        codec_enum!(@shape $name { $($body)* });
    };
    (@shape $name:ident {
        $( $tag:literal => $variant:ident $( ( $($tuple:ident),* ) )? $( { $($field:ident),* } )? ),* $(,)?
    }) => {
        impl Shaped for $name {
            // Each field's accessor matches its own variant only.
            #[allow(unreachable_patterns)]
            fn shape() -> &'static Shape {
                const {
                    &Shape::Enum(&[$(Variant {
                        tag: $tag,
                        name: stringify!($variant),
                        fields: &[
                            $( $(Field {
                                name: stringify!($tuple),
                                shape: field_shape(|v: &$name| match v {
                                    $name::$variant($tuple) => $tuple,
                                    _ => unreachable!(),
                                }),
                            }),* )?
                            $( $(Field {
                                name: stringify!($field),
                                shape: field_shape(|v: &$name| match v {
                                    $name::$variant { $field, .. } => $field,
                                    _ => unreachable!(),
                                }),
                            }),* )?
                        ],
                    }),*])
                }
            }
        }
    };
    (@impl $wrap:ident $name:ident {
        $( $tag:literal => $variant:ident $( ( $($tuple:ident),* ) )? $( { $($field:ident),* } )? ),* $(,)?
    }) => {
        impl WireEnum for $name {
            const TYPE_NAME: &'static str = stringify!($name);
            const VARIANTS: &'static [(u64, &'static str)] = &[$(($tag, stringify!($variant))),*];

            fn wire_tag(&self) -> u64 {
                match self {
                    $( $name::$variant { .. } => $tag, )*
                }
            }

            fn variant_name(&self) -> &'static str {
                match self {
                    $( $name::$variant { .. } => stringify!($variant), )*
                }
            }
        }

        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $(
                        $name::$variant $( ( $($tuple),* ) )? $( { $($field),* } )? => {
                            write_varint(out, $tag);
                            $( $( $tuple.encode(out); )* )?
                            $( $( $field.encode(out); )* )?
                        }
                    )*
                }
            }
        }

        impl Decode for $name {
            fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
                r.$wrap(|r| {
                    let at = r.position();
                    let tag = r.read_varint()?;
                    match tag {
                        $(
                            $tag => {
                                let decode = const { $name::variant_decoder(stringify!($variant)) };
                                decode(r)
                            }
                        )*
                        _ => Err(r.fail(DecodeError::UnknownTag { type_name: stringify!($name), tag, at })),
                    }
                })
            }
        }

        impl $name {
            /// Reads the fields of the variant called `name` (its tag already read, and without
            /// counting a level of nesting), for a reader that handles some variants itself and
            /// so needs only the other variants' decoders. Call it in a constant: an unknown
            /// name fails the build.
            pub const fn variant_decoder(name: &str) -> VariantDecoder<$name> {
                $(
                    if const_str_eq(name, stringify!($variant)) {
                        // One function per variant keeps each recursion level's stack frame as
                        // small as that variant needs (debug builds do not share slots between
                        // match arms). Unit variants read nothing.
                        #[allow(unused_variables)]
                        fn variant(r: &mut Reader<'_>) -> Result<$name, Failed> {
                            $( $( let $tuple = Decode::decode(r)?; )* )?
                            $( $( let $field = Decode::decode(r)?; )* )?
                            Ok($name::$variant $( ( $($tuple),* ) )? $( { $($field),* } )?)
                        }
                        return variant;
                    }
                )*
                panic!("no variant of that name")
            }
        }
    };
}

// --- the data model ---

codec_struct!(ElementId { site, counter });

// The data model's own types are described as leaves (see `shape.rs`).
codec_enum!(unshaped nested Value {
    0 => Null,
    1 => Bool(b),
    2 => Number(n),
    3 => Date(ms),
    4 => String(s),
    5 => Array(items),
    6 => Object(props),
});

codec_struct!(unshaped nested Node { id, value });

codec_enum!(unshaped NodeValue {
    0 => Null,
    1 => Bool(b),
    2 => Number(n),
    3 => Date(ms),
    4 => String(s),
    5 => Array(items),
    6 => Object(props),
});

codec_enum!(unshaped nested Op {
    0 => StringInsert { id, index, text },
    1 => StringRemove { id, index, len },
    2 => StringSplice { id, index, remove, text },
    3 => StringSet { id, value },
    4 => ArrayInsert { id, index, value },
    5 => ArrayRemove { id, index },
    6 => ArrayReplace { id, index, value },
    7 => ArrayMove { id, from, to },
    8 => ArraySet { id, value },
    9 => ObjectAdd { id, key, value, before },
    10 => ObjectSet { id, key, value },
    11 => ObjectRemove { id, key },
    12 => ObjectSetAll { id, value },
    13 => NumberAdd { id, delta },
    14 => NumberSet { id, value },
    15 => BooleanSet { id, value },
    16 => DateSet { id, value },
    17 => Compound(ops),
});

codec_enum!(unshaped ReferenceValue {
    0 => Index(indices),
    1 => Range(ranges),
    2 => Element(ids),
    3 => Property(keys),
});

codec_struct!(ReferenceKey { element, key });

// --- envelopes ---

codec_enum!(ClientMessage {
    0 => Hello(hello),
    1 => Request { request_id, request },
    2 => SubmitOp { model, origin, seq, context_version, op },
    3 => ResyncRequest { model, from_version },
    4 => ShareReference { model, key, value, context_version },
    5 => SetReference { model, key, value, context_version },
    6 => ClearReference { model, key, context_version },
    7 => UnshareReference { model, key, context_version },
    8 => Ping { nonce },
    9 => Pong { nonce },
    10 => SubmitOps { model, origin, first_seq, context_version, ops },
});

codec_enum!(RelayMessage {
    0 => Welcome(welcome),
    1 => Response { request_id, response },
    2 => Error { request_id, code, message },
    3 => OpAck { model, seq, version, timestamp_ms },
    4 => OpRejected { model, seq, code, message },
    5 => RemoteOp { model, version, origin, seq, session_id, user_id, timestamp_ms, op },
    6 => ResyncOps { model, ops },
    7 => ResyncComplete { model, version },
    8 => ModelDeleted { model },
    9 => ModelForceClosed { model, code, message },
    10 => CollaboratorOpened { model, collaborator },
    11 => CollaboratorClosed { model, session_id },
    12 => RemoteReference(event),
    13 => Presence(event),
    14 => Activity(event),
    15 => Chat(event),
    16 => Ping { nonce },
    17 => Pong { nonce },
    18 => OpsAcked { model, first_seq, first_version, count, timestamp_ms },
    19 => RemoteOps { model, ops },
});

// --- handshake and identity ---

codec_struct!(Hello {
    protocol_version,
    auth,
    client_name
});

codec_enum!(Auth {
    0 => Anonymous { display_name },
    1 => Password { username, password },
    2 => Jwt { token },
    3 => ReconnectToken { token },
});

codec_struct!(Welcome {
    session_id,
    user,
    site,
    reconnect_token,
    server_time_ms,
    max_frame_bytes,
    max_message_bytes
});

codec_struct!(UserInfo {
    user_id,
    username,
    display_name,
    email,
    anonymous,
    avatar_url
});

codec_struct!(GroupInfo {
    group_id,
    description,
    members
});

// --- requests and responses ---

codec_enum!(Request {
    0 => CreateModel { collection, id, data },
    1 => OpenModel { collection, id, known_version },
    2 => OpenOrCreateModel { collection, id, data },
    3 => CloseModel { model },
    4 => DeleteModel { collection, id },
    5 => ListModels { collection, offset, limit, order_by, direction },
    6 => GetModelAtVersion { collection, id, version },
    7 => GetModelAtTime { collection, id, time_ms },
    8 => GetOperations { collection, id, from_version, to_version },
    9 => SubscribePresence { user_ids },
    10 => UnsubscribePresence { user_ids },
    11 => GetPresence { user_ids },
    12 => SetPresenceState { state },
    13 => RemovePresenceState { keys },
    14 => ClearPresenceState,
    15 => JoinActivity { activity_type, activity_id, lurk, state },
    16 => LeaveActivity { activity },
    17 => SetActivityState { activity, state },
    18 => RemoveActivityState { activity, keys },
    19 => ClearActivityState { activity },
    20 => CreateChat { kind, chat_id, name, topic, members },
    21 => GetDirectChat { user_ids },
    22 => GetChat { chat_id },
    23 => GetJoinedChats,
    24 => JoinChat { chat_id },
    25 => LeaveChat { chat_id },
    26 => SendChatMessage { chat_id, text },
    27 => SetChatName { chat_id, name },
    28 => SetChatTopic { chat_id, topic },
    29 => AddChatMember { chat_id, user_id },
    30 => RemoveChatMember { chat_id, user_id },
    31 => RemoveChat { chat_id },
    32 => GetChatHistory { chat_id, start_event, direction, limit, event_kinds },
    33 => MarkChatSeen { chat_id, event_number },
    34 => GetUnreadCounts,
    35 => GetUsersById { user_ids },
    36 => GetUsersByUsername { usernames },
    37 => SearchUsers { query, offset, limit },
    38 => GetGroups,
    39 => GetUserGroups { user_id },
    40 => SetProfile { display_name, email, avatar_url },
    41 => GetPermissions { scope },
    42 => SetPermissions { scope, target, permissions },
    43 => GetMyPermissions { scope },
    44 => GetActivityPermissions { activity_type, activity_id },
    45 => SetActivityPermissions { activity_type, activity_id, target, rights },
    46 => GetChatPermissions { chat_id },
    47 => SetChatPermissions { chat_id, target, rights },
});

codec_enum!(Response {
    0 => Done,
    1 => ModelCreated { collection, id },
    2 => ModelOpened(opened),
    3 => ModelList { models, total },
    4 => HistoricModel { version, timestamp_ms, data },
    5 => Operations { ops, more },
    6 => Presence { users },
    7 => ActivityJoined { activity, participants, rights },
    8 => Chat(chat),
    9 => Chats { chats },
    10 => ChatMessageSent { event_number, timestamp_ms },
    11 => ChatEvents { events },
    12 => UnreadCounts { counts },
    13 => Users { users },
    14 => UserPage { users, total },
    15 => Groups { groups },
    16 => User(user),
    17 => Permissions(set),
    18 => MyPermissions(permissions),
    19 => ActivityPermissions { world, users, groups },
    20 => ChatPermissions { world, users, groups },
});

// --- models, operations, references ---

codec_struct!(unshaped OpenedModel {
    model,
    collection,
    id,
    version,
    created_ms,
    modified_ms,
    created,
    content,
    collaborators,
    references,
});

codec_enum!(ModelContent {
    0 => Data(data),
    1 => OpsSince { from_version, ops },
});

codec_struct!(ModelSummary {
    collection,
    id,
    version,
    created_ms,
    modified_ms
});

codec_enum!(ModelOrder {
    0 => Created,
    1 => Modified,
});

codec_enum!(SortDirection {
    0 => Ascending,
    1 => Descending,
});

codec_struct!(unshaped HistoricOp {
    version,
    op,
    user_id,
    session_id,
    origin,
    seq,
    timestamp_ms
});

codec_struct!(Collaborator { session_id, user });

codec_struct!(SharedReference {
    session_id,
    key,
    value
});

codec_enum!(RemoteReference {
    0 => Shared { model, session_id, key, value, version },
    1 => Set { model, session_id, key, value, version },
    2 => Cleared { model, session_id, key, version },
    3 => Unshared { model, session_id, key, version },
});

// --- presence and activities ---

codec_struct!(UserPresence {
    user_id,
    available,
    state
});

codec_enum!(PresenceEvent {
    0 => Available { user_id },
    1 => Unavailable { user_id },
    2 => StateSet { user_id, state },
    3 => StateRemoved { user_id, keys },
    4 => StateCleared { user_id },
});

codec_struct!(ActivityParticipant {
    session_id,
    user,
    state
});

codec_enum!(ActivityEvent {
    0 => Joined { activity, participant },
    1 => Left { activity, session_id },
    2 => StateSet { activity, session_id, state },
    3 => StateRemoved { activity, session_id, keys },
    4 => StateCleared { activity, session_id },
});

// --- chat ---

codec_enum!(ChatKind {
    0 => Room,
    1 => Channel,
    2 => Direct,
});

codec_struct!(ChatInfo {
    chat_id,
    kind,
    name,
    topic,
    members,
    created_ms,
    last_event_number,
    last_event_ms,
    max_seen_event,
    joined,
});

codec_struct!(ChatEvent {
    chat_id,
    event_number,
    timestamp_ms,
    user_id,
    body
});

codec_enum!(ChatEventBody {
    0 => Created { kind, name, topic, members },
    1 => Message { text },
    2 => UserJoined { user_id },
    3 => UserLeft { user_id },
    4 => UserAdded { user_id },
    5 => UserRemoved { user_id },
    6 => NameChanged { name },
    7 => TopicChanged { topic },
    8 => Removed,
});

codec_enum!(ChatEventKind {
    0 => Created,
    1 => Message,
    2 => UserJoined,
    3 => UserLeft,
    4 => UserAdded,
    5 => UserRemoved,
    6 => NameChanged,
    7 => TopicChanged,
    8 => Removed,
});

// --- permissions ---

codec_struct!(Permissions {
    read,
    write,
    remove,
    manage
});

codec_struct!(ActivityRights {
    join,
    lurk,
    view_state,
    set_state,
    manage
});

codec_struct!(ChatRights {
    join,
    leave,
    send,
    manage_members,
    set_name_topic,
    remove,
    manage
});

codec_enum!(PermissionScope {
    0 => Collection { collection },
    1 => Model { collection, id },
});

codec_enum!(PermissionTarget {
    0 => World,
    1 => User { user_id },
    2 => Group { group_id },
});

codec_struct!(PermissionSet {
    world,
    users,
    groups
});
