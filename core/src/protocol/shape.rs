//! What each message looks like on the wire, as data: for code that converts messages it does not
//! act on without a typed decoder for each.
//!
//! The codec's macros describe every struct and enum they encode (its fields in wire order, its
//! variants with their tags), so a description cannot drift from the encoding. The WebAssembly
//! client uses them to turn the answers and pushes of presence, activities, chat and identity into
//! JSON for JavaScript, and JavaScript's requests into frames, with one small converter instead of
//! a decoder, an encoder and a JSON conversion for each of some sixty types: the module's size is
//! budgeted.

use crate::op::Op;
use crate::reference::ReferenceValue;
use crate::value::{Node, NodeValue, Value};

use super::codec::{Decode, Failed, Reader};
use super::messages::{ErrorCode, HistoricOp, OpenedModel};

/// How one type is laid out on the wire (see the codec's module documentation).
#[derive(Debug)]
pub enum Shape {
    /// An unsigned varint that must fit 32 bits.
    U32,
    /// An unsigned varint.
    U64,
    /// A zigzag varint.
    I64,
    /// One byte, 0 or 1.
    Bool,
    /// Eight bytes, little endian, finite.
    F64,
    /// A length, then UTF-8.
    Str,
    /// A 0/1 byte, then the value if 1.
    Option(ShapeOf),
    /// A count, then the items.
    List(ShapeOf),
    /// Two values in order.
    Pair(ShapeOf, ShapeOf),
    /// Fields in order.
    Struct(&'static [Field]),
    /// A varint tag, then the fields of the variant it names.
    Enum(&'static [Variant]),
    /// A [`Value`]: JSON-like data, converted by its own code.
    Value,
    /// An [`ErrorCode`]: a varint naming the code.
    ErrorCode,
    /// An operation, a node, a reference's value, an opened model or a stored operation: the data
    /// model's own types, which only the engine's typed code reads and writes. Carries how to
    /// read past one.
    Model(fn(&mut Reader<'_>) -> Result<(), Failed>),
}

/// The shape of a type, as a function so that shapes may refer to each other (and to
/// themselves) without a cycle between statics.
pub type ShapeOf = fn() -> &'static Shape;

/// One field of a struct or an enum variant.
#[derive(Debug)]
pub struct Field {
    /// Its name in Rust (snake case).
    pub name: &'static str,
    /// Its shape.
    pub shape: ShapeOf,
}

/// One variant of an enum.
#[derive(Debug)]
pub struct Variant {
    /// Its tag on the wire.
    pub tag: u64,
    /// Its name in Rust (camel case).
    pub name: &'static str,
    /// Its fields in wire order (a tuple variant's one field is named by the codec's listing).
    pub fields: &'static [Field],
}

/// A type whose wire layout is described.
pub trait Shaped {
    /// The description.
    fn shape() -> &'static Shape;
}

/// The shape of a struct field or variant field, found from an accessor so that the codec's
/// macros, which know field names but not types, can name it. The accessor is never called.
pub const fn field_shape<S, T: Shaped>(_accessor: fn(&S) -> &T) -> ShapeOf {
    T::shape
}

macro_rules! leaf_shapes {
    ($($ty:ty => $shape:ident),* $(,)?) => {$(
        impl Shaped for $ty {
            fn shape() -> &'static Shape {
                &Shape::$shape
            }
        }
    )*};
}

leaf_shapes!(
    u32 => U32,
    u64 => U64,
    usize => U64,
    i64 => I64,
    bool => Bool,
    f64 => F64,
    String => Str,
    Value => Value,
    ErrorCode => ErrorCode,
);

macro_rules! model_shapes {
    ($($ty:ty),*) => {$(
        impl Shaped for $ty {
            fn shape() -> &'static Shape {
                const { &Shape::Model(|r| <$ty>::decode(r).map(drop)) }
            }
        }
    )*};
}

model_shapes!(Op, Node, NodeValue, ReferenceValue, OpenedModel, HistoricOp);

impl<T: Shaped> Shaped for Option<T> {
    fn shape() -> &'static Shape {
        const { &Shape::Option(T::shape) }
    }
}

impl<T: Shaped> Shaped for Vec<T> {
    fn shape() -> &'static Shape {
        const { &Shape::List(T::shape) }
    }
}

impl<A: Shaped, B: Shaped> Shaped for (A, B) {
    fn shape() -> &'static Shape {
        const { &Shape::Pair(A::shape, B::shape) }
    }
}
