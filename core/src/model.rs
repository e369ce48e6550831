//! The model's tree of elements, indexed by id.

use crate::maps::FastMap;
use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

use crate::error::ModelError;
use crate::id::{ElementId, IdGenerator};
use crate::rope::Utf16Rope;
use crate::value::{ElementKind, Node, NodeValue, Value};

/// How deep a model may nest; deeper inserts are refused so that no recursion over a model can
/// exhaust the stack.
pub const MAX_DEPTH: usize = 100;

/// One step of a path: a property name or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A property of an object.
    Key(String),
    /// An item of an array.
    Index(usize),
}

impl From<&str> for PathSegment {
    fn from(key: &str) -> Self {
        PathSegment::Key(key.to_owned())
    }
}

impl From<usize> for PathSegment {
    fn from(index: usize) -> Self {
        PathSegment::Index(index)
    }
}

/// Formats a path the way people write it: `emails[0].address`.
pub fn format_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Properties of an object in insertion order.
pub(crate) type Props = IndexMap<String, ElementId, FxBuildHasher>;

/// The content of one element.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    Null,
    Bool(bool),
    Number(f64),
    Date(i64),
    String(Box<Utf16Rope>),
    Array(Vec<ElementId>),
    Object(Props),
}

impl Data {
    pub(crate) fn kind(&self) -> ElementKind {
        match self {
            Data::Null => ElementKind::Null,
            Data::Bool(_) => ElementKind::Boolean,
            Data::Number(_) => ElementKind::Number,
            Data::Date(_) => ElementKind::Date,
            Data::String(_) => ElementKind::String,
            Data::Array(_) => ElementKind::Array,
            Data::Object(_) => ElementKind::Object,
        }
    }
}

/// An element in the tree: its content and where it hangs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Element {
    /// The containing array or object; `None` for the root. Needed for paths and depth checks.
    pub(crate) parent: Option<ElementId>,
    pub(crate) data: Data,
}

/// A model's data: a tree of elements, each with a stable id.
///
/// Elements live in a map by id, each knowing its parent, so that an operation finds its target
/// in O(1) however deep it is, and paths are recovered by walking up.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub(crate) root: ElementId,
    pub(crate) elements: FastMap<ElementId, Element>,
}

impl Model {
    /// A model whose data is `root`. Fails on non-finite numbers, duplicate ids or too deep
    /// nesting.
    pub fn new(root: Node) -> Result<Model, ModelError> {
        let mut model = Model {
            root: root.id,
            elements: FastMap::default(),
        };
        model.check_subtree(&root, 1)?;
        model.insert_subtree(root, None);
        Ok(model)
    }

    /// A model built from a plain value with ids from `ids`, the root getting [`ElementId::ROOT`].
    pub fn from_value(value: Value, ids: &mut IdGenerator) -> Result<Model, ModelError> {
        let mut node = value.into_node(ids);
        node.id = ElementId::ROOT;
        Model::new(node)
    }

    /// An empty object as the root.
    pub fn empty() -> Model {
        let root = Node::new(ElementId::ROOT, NodeValue::Object(Vec::new()));
        let mut model = Model {
            root: root.id,
            elements: FastMap::default(),
        };
        model.insert_subtree(root, None);
        model
    }

    /// The root element's id.
    pub fn root(&self) -> ElementId {
        self.root
    }

    /// Whether `id` is in the tree.
    pub fn contains(&self, id: ElementId) -> bool {
        self.elements.contains_key(&id)
    }

    /// Every element id in the tree, in no particular order.
    pub fn element_ids(&self) -> impl Iterator<Item = ElementId> + '_ {
        self.elements.keys().copied()
    }

    /// The number of elements in the tree.
    pub fn element_count(&self) -> usize {
        self.elements.len()
    }

    /// The type of element `id`, if it is in the tree.
    pub fn kind(&self, id: ElementId) -> Option<ElementKind> {
        self.elements.get(&id).map(|e| e.data.kind())
    }

    /// The parent of `id` (`None` for the root or a detached element).
    pub fn parent(&self, id: ElementId) -> Option<ElementId> {
        self.elements.get(&id).and_then(|e| e.parent)
    }

    /// The plain value of element `id`.
    pub fn value_of(&self, id: ElementId) -> Option<Value> {
        let element = self.elements.get(&id)?;
        Some(match &element.data {
            Data::Null => Value::Null,
            Data::Bool(b) => Value::Bool(*b),
            Data::Number(n) => Value::Number(*n),
            Data::Date(d) => Value::Date(*d),
            Data::String(s) => Value::String(s.to_string()),
            Data::Array(items) => {
                Value::Array(items.iter().filter_map(|c| self.value_of(*c)).collect())
            }
            Data::Object(props) => Value::Object(
                props
                    .iter()
                    .filter_map(|(k, c)| Some((k.clone(), self.value_of(*c)?)))
                    .collect(),
            ),
        })
    }

    /// The whole model as a plain value.
    pub fn to_value(&self) -> Value {
        self.value_of(self.root).unwrap_or(Value::Null)
    }

    /// The whole model as JSON (dates as `{"$date": ms}`).
    pub fn to_json(&self) -> serde_json::Value {
        self.to_value().to_json()
    }

    /// The subtree at `id` with its ids: what a snapshot stores and an open response carries.
    pub fn node_of(&self, id: ElementId) -> Option<Node> {
        let element = self.elements.get(&id)?;
        let value = match &element.data {
            Data::Null => NodeValue::Null,
            Data::Bool(b) => NodeValue::Bool(*b),
            Data::Number(n) => NodeValue::Number(*n),
            Data::Date(d) => NodeValue::Date(*d),
            Data::String(s) => NodeValue::String(s.to_string()),
            Data::Array(items) => {
                NodeValue::Array(items.iter().filter_map(|c| self.node_of(*c)).collect())
            }
            Data::Object(props) => NodeValue::Object(
                props
                    .iter()
                    .filter_map(|(k, c)| Some((k.clone(), self.node_of(*c)?)))
                    .collect(),
            ),
        };
        Some(Node { id, value })
    }

    /// The whole tree with ids.
    pub fn to_node(&self) -> Node {
        self.node_of(self.root)
            .unwrap_or(Node::new(self.root, NodeValue::Null))
    }

    /// The text of string `id`.
    pub fn string(&self, id: ElementId) -> Option<&Utf16Rope> {
        match &self.elements.get(&id)?.data {
            Data::String(s) => Some(s),
            _ => None,
        }
    }

    /// The item ids of array `id`.
    pub fn array_items(&self, id: ElementId) -> Option<&[ElementId]> {
        match &self.elements.get(&id)?.data {
            Data::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The properties of object `id`, in order.
    pub fn object_props(&self, id: ElementId) -> Option<impl Iterator<Item = (&str, ElementId)>> {
        match &self.elements.get(&id)?.data {
            Data::Object(props) => Some(props.iter().map(|(k, v)| (k.as_str(), *v))),
            _ => None,
        }
    }

    /// The element at `path` from the root (`["emails", 0]`).
    pub fn element_at(&self, path: &[PathSegment]) -> Result<ElementId, ModelError> {
        let mut current = self.root;
        for (depth, seg) in path.iter().enumerate() {
            let element = self.elements.get(&current);
            let next = match (element.map(|e| &e.data), seg) {
                (Some(Data::Object(props)), PathSegment::Key(k)) => props.get(k).copied(),
                (Some(Data::Array(items)), PathSegment::Index(i)) => items.get(*i).copied(),
                _ => None,
            };
            current = next.ok_or_else(|| ModelError::NoSuchPath(format_path(&path[..=depth])))?;
        }
        Ok(current)
    }

    /// The path from the root to `id`, or `None` if `id` is not in the tree.
    pub fn path_of(&self, id: ElementId) -> Option<Vec<PathSegment>> {
        let mut path = Vec::new();
        let mut current = id;
        loop {
            let element = self.elements.get(&current)?;
            let Some(parent) = element.parent else { break };
            let seg = match &self.elements.get(&parent)?.data {
                Data::Array(items) => PathSegment::Index(items.iter().position(|c| *c == current)?),
                Data::Object(props) => {
                    PathSegment::Key(props.iter().find(|(_, c)| **c == current)?.0.clone())
                }
                _ => return None,
            };
            path.push(seg);
            current = parent;
        }
        path.reverse();
        Some(path)
    }

    /// How many levels `id` is below the root (the root is at depth 1).
    pub(crate) fn depth_of(&self, id: ElementId) -> usize {
        let mut depth = 0;
        let mut current = Some(id);
        while let Some(c) = current {
            depth += 1;
            current = self.elements.get(&c).and_then(|e| e.parent);
        }
        depth
    }

    /// Checks that `node` may be inserted with its root at `depth`: finite numbers, fresh and
    /// distinct ids, bounded depth. Nothing is changed.
    pub(crate) fn check_subtree(&self, node: &Node, depth: usize) -> Result<(), ModelError> {
        let mut seen = crate::maps::FastSet::default();
        self.check_node(node, depth, &mut seen)
    }

    fn check_node(
        &self,
        node: &Node,
        depth: usize,
        seen: &mut crate::maps::FastSet<ElementId>,
    ) -> Result<(), ModelError> {
        if depth > MAX_DEPTH {
            return Err(ModelError::TooDeep(MAX_DEPTH));
        }
        if self.elements.contains_key(&node.id) || !seen.insert(node.id) {
            return Err(ModelError::DuplicateId(node.id));
        }
        match &node.value {
            NodeValue::Number(n) if !n.is_finite() => Err(ModelError::NonFiniteNumber),
            NodeValue::Array(items) => items
                .iter()
                .try_for_each(|c| self.check_node(c, depth + 1, seen)),
            NodeValue::Object(props) => {
                let mut keys = crate::maps::FastSet::default();
                for (k, c) in props {
                    if !keys.insert(k.as_str()) {
                        return Err(ModelError::PropertyExists { key: k.clone() });
                    }
                    self.check_node(c, depth + 1, seen)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Adds a checked subtree under `parent` and returns its root id.
    pub(crate) fn insert_subtree(&mut self, node: Node, parent: Option<ElementId>) -> ElementId {
        let id = node.id;
        let data = match node.value {
            NodeValue::Null => Data::Null,
            NodeValue::Bool(b) => Data::Bool(b),
            NodeValue::Number(n) => Data::Number(n),
            NodeValue::Date(d) => Data::Date(d),
            NodeValue::String(s) => Data::String(Box::new(Utf16Rope::from_text(&s))),
            NodeValue::Array(items) => Data::Array(
                items
                    .into_iter()
                    .map(|c| self.insert_subtree(c, Some(id)))
                    .collect(),
            ),
            NodeValue::Object(props) => Data::Object(
                props
                    .into_iter()
                    .map(|(k, c)| (k, self.insert_subtree(c, Some(id))))
                    .collect(),
            ),
        };
        self.elements.insert(id, Element { parent, data });
        id
    }

    /// Removes the subtree at `id` from the index (the caller unlinks it from its parent).
    pub(crate) fn remove_subtree(&mut self, id: ElementId) {
        let Some(element) = self.elements.remove(&id) else {
            return;
        };
        match element.data {
            Data::Array(items) => items.into_iter().for_each(|c| self.remove_subtree(c)),
            Data::Object(props) => props.into_values().for_each(|c| self.remove_subtree(c)),
            _ => {}
        }
    }

    /// Compacts every string whose rope typing has left mostly empty (see
    /// [`Utf16Rope::compact`]); for a model going idle. Returns how many were rebuilt.
    pub fn compact(&mut self) -> usize {
        let mut rebuilt = 0;
        for element in self.elements.values_mut() {
            if let Data::String(rope) = &mut element.data {
                rebuilt += usize::from(rope.compact());
            }
        }
        rebuilt
    }

    /// An estimate of the heap bytes the model uses, for memory reports.
    pub fn mem_size(&self) -> usize {
        let per_entry = std::mem::size_of::<(ElementId, Element)>() + 8;
        let mut total = self.elements.capacity() * per_entry;
        for element in self.elements.values() {
            total += match &element.data {
                Data::String(s) => std::mem::size_of::<Utf16Rope>() + s.mem_size(),
                Data::Array(items) => items.capacity() * std::mem::size_of::<ElementId>(),
                Data::Object(props) => props
                    .iter()
                    .map(|(k, _)| k.capacity() + std::mem::size_of::<(String, ElementId)>() + 8)
                    .sum(),
                _ => 0,
            };
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(json: serde_json::Value) -> Model {
        Model::from_value(Value::from_json(&json).unwrap(), &mut IdGenerator::new(1)).unwrap()
    }

    #[test]
    fn json_round_trips_with_order_and_dates() {
        let json = json!({"z": 1, "a": [true, null, "x", {"$date": 5}], "m": {"k": 2.5}});
        assert_eq!(model(json.clone()).to_json(), json);
    }

    #[test]
    fn paths_lead_to_elements_and_back() {
        let m = model(json!({"emails": [{"address": "a@b"}, "c@d"]}));
        let id = m
            .element_at(&["emails".into(), 0.into(), "address".into()])
            .unwrap();
        assert_eq!(m.string(id).unwrap().to_string(), "a@b");
        assert_eq!(
            m.path_of(id).unwrap(),
            vec![
                PathSegment::Key("emails".into()),
                PathSegment::Index(0),
                "address".into()
            ]
        );
        assert_eq!(
            m.element_at(&["emails".into(), 5.into()]),
            Err(ModelError::NoSuchPath("emails[5]".into()))
        );
        assert_eq!(m.path_of(m.root()).unwrap(), vec![]);
    }

    #[test]
    fn rejects_non_finite_duplicate_ids_and_deep_nesting() {
        let n = Node::new(ElementId::new(1, 1), NodeValue::Number(f64::NAN));
        assert_eq!(Model::new(n), Err(ModelError::NonFiniteNumber));
        let dup = Node::new(
            ElementId::ROOT,
            NodeValue::Array(vec![Node::new(ElementId::ROOT, NodeValue::Null)]),
        );
        assert_eq!(
            Model::new(dup),
            Err(ModelError::DuplicateId(ElementId::ROOT))
        );
        let mut deep = Node::new(ElementId::new(9, 0), NodeValue::Null);
        for i in 1..=MAX_DEPTH as u64 {
            deep = Node::new(ElementId::new(9, i), NodeValue::Array(vec![deep]));
        }
        assert_eq!(Model::new(deep), Err(ModelError::TooDeep(MAX_DEPTH)));
    }
}
