//! Tandem's pure core: the data model, operations, transformation, references, the client and
//! relay concurrency-control state machines, and the wire protocol.
//!
//! Nothing here does I/O, spawns tasks or knows about WebAssembly: inputs and outputs are values,
//! so the relay (native) and the client (WebAssembly) run the very same code, and tests drive it
//! directly.

mod apply;
pub mod client;
pub mod compose;
pub mod error;
pub mod id;
pub mod maps;
pub mod model;
#[cfg(all(feature = "jumprope", target_arch = "wasm32", target_os = "unknown"))]
mod no_entropy;
pub mod op;
pub mod protocol;
pub mod reference;
pub mod rope;
pub mod server;
pub mod testing;
pub mod transform;
pub mod undo;
pub mod value;

pub use error::ModelError;
pub use id::{ElementId, IdGenerator};
pub use model::{Model, PathSegment};
pub use op::Op;
pub use reference::{ReferenceKey, ReferenceKind, ReferenceValue};
pub use transform::{transform, transform_mut};
pub use value::{ElementKind, Node, NodeValue, Value};
