//! Plain values (what people write) and id-carrying trees (what operations carry).

use crate::error::ModelError;
use crate::id::{ElementId, IdGenerator};

/// A JSON-like value without element ids: what an application hands in and gets out.
///
/// It is serde_json's data model plus dates, which JSON lacks and collaborative apps need.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// JSON null.
    Null,
    /// true or false.
    Bool(bool),
    /// A finite f64; NaN and infinities are rejected wherever values enter.
    Number(f64),
    /// Milliseconds since the Unix epoch.
    Date(i64),
    /// A string.
    String(String),
    /// An ordered list.
    Array(Vec<Value>),
    /// Properties in insertion order.
    Object(Vec<(String, Value)>),
}

/// The key under which a date is written when a value is converted to JSON (`{"$date": ms}`).
pub const DATE_KEY: &str = "$date";

impl Value {
    /// Converts from serde_json. `{"$date": ms}` (an object with that single integer property)
    /// becomes a date. Numbers that do not fit an f64 finitely are an error.
    pub fn from_json(json: &serde_json::Value) -> Result<Value, ModelError> {
        Ok(match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                let f = n
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .ok_or(ModelError::NonFiniteNumber)?;
                Value::Number(f)
            }
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(Value::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(map) => {
                if map.len() == 1 {
                    if let Some(ms) = map.get(DATE_KEY).and_then(|v| v.as_i64()) {
                        return Ok(Value::Date(ms));
                    }
                }
                Value::Object(
                    map.iter()
                        .map(|(k, v)| Ok((k.clone(), Value::from_json(v)?)))
                        .collect::<Result<_, ModelError>>()?,
                )
            }
        })
    }

    /// Converts to serde_json; dates become `{"$date": ms}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            // Integral numbers print as integers, as JavaScript's JSON.stringify does.
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 => {
                serde_json::Value::Number((*n as i64).into())
            }
            Value::Number(n) => serde_json::Number::from_f64(*n)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Date(ms) => serde_json::json!({ DATE_KEY: ms }),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Object(props) => serde_json::Value::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Gives this value and every descendant a fresh id from `ids`.
    pub fn into_node(self, ids: &mut IdGenerator) -> Node {
        let id = ids.next_id();
        let value = match self {
            Value::Null => NodeValue::Null,
            Value::Bool(b) => NodeValue::Bool(b),
            Value::Number(n) => NodeValue::Number(n),
            Value::Date(d) => NodeValue::Date(d),
            Value::String(s) => NodeValue::String(s),
            Value::Array(items) => {
                NodeValue::Array(items.into_iter().map(|v| v.into_node(ids)).collect())
            }
            Value::Object(props) => NodeValue::Object(
                props
                    .into_iter()
                    .map(|(k, v)| (k, v.into_node(ids)))
                    .collect(),
            ),
        };
        Node { id, value }
    }
}

/// A value whose every element carries its id: the payload of operations that insert subtrees,
/// so that every replica gives the new elements the same ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The id of this element.
    pub id: ElementId,
    /// Its value; children are nodes too.
    pub value: NodeValue,
}

/// The value of a [`Node`], whose children carry ids.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    /// JSON null.
    Null,
    /// true or false.
    Bool(bool),
    /// A finite f64.
    Number(f64),
    /// Milliseconds since the Unix epoch.
    Date(i64),
    /// A string.
    String(String),
    /// An ordered list of children.
    Array(Vec<Node>),
    /// Properties in insertion order.
    Object(Vec<(String, Node)>),
}

impl Node {
    /// Builds a node.
    pub fn new(id: ElementId, value: NodeValue) -> Self {
        Node { id, value }
    }

    /// Drops the ids.
    pub fn to_value(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(*n),
            NodeValue::Date(d) => Value::Date(*d),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeValue::Object(props) => Value::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// Calls `f` on this node and every descendant, parents first.
    pub fn for_each(&self, f: &mut impl FnMut(&Node)) {
        f(self);
        match &self.value {
            NodeValue::Array(items) => items.iter().for_each(|n| n.for_each(f)),
            NodeValue::Object(props) => props.iter().for_each(|(_, n)| n.for_each(f)),
            _ => {}
        }
    }

    /// The element type name of this node, for error messages.
    pub fn kind(&self) -> ElementKind {
        self.value.kind()
    }
}

impl NodeValue {
    /// The element type this value makes.
    pub fn kind(&self) -> ElementKind {
        match self {
            NodeValue::Null => ElementKind::Null,
            NodeValue::Bool(_) => ElementKind::Boolean,
            NodeValue::Number(_) => ElementKind::Number,
            NodeValue::Date(_) => ElementKind::Date,
            NodeValue::String(_) => ElementKind::String,
            NodeValue::Array(_) => ElementKind::Array,
            NodeValue::Object(_) => ElementKind::Object,
        }
    }
}

/// The type of an element, as errors and events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementKind {
    /// null
    Null,
    /// boolean
    Boolean,
    /// number
    Number,
    /// date
    Date,
    /// string
    String,
    /// array
    Array,
    /// object
    Object,
}

impl std::fmt::Display for ElementKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ElementKind::Null => "null",
            ElementKind::Boolean => "boolean",
            ElementKind::Number => "number",
            ElementKind::Date => "date",
            ElementKind::String => "string",
            ElementKind::Array => "array",
            ElementKind::Object => "object",
        })
    }
}
