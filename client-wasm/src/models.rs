//! Open models: reading their elements and editing them, by element handle.
//!
//! JavaScript names elements by handles, small numbers the engine hands out per model, because
//! element ids hold 64-bit sites that JavaScript numbers cannot carry exactly and passing text
//! on every keystroke would cost. Handles stay valid while the model is open; an element that
//! is removed keeps its handle and reads as detached.

use tandem_core::client::{ClientModel, Unacked, UndoRecord};
use tandem_core::compose::from_splice;
use tandem_core::maps::FastMap;
use tandem_core::protocol::{decode_frame, encode_frame, Collaborator};
use tandem_core::{ElementId, ElementKind, Model, Node, Op, PathSegment, Value};
use wasm_bindgen::prelude::*;

use crate::engine::Engine;
use crate::error::{EngineError, Failure, Result};
use crate::events::Events;
use crate::interop::{index, kind_name, op_json, value_from_json};
use crate::json;
use crate::json::{value_json, Json};

/// How long after a string edit another edit of the same string joins its undo step.
const UNDO_MERGE_MS: f64 = 1000.0;

/// The facts [`Engine::model_fact`] reports, by code (the same numbers are in `npm/src/model.ts`).
const FACT_VERSION: u32 = 0;
const FACT_SETTLED: u32 = 1;
const FACT_CAN_UNDO: u32 = 2;
const FACT_CAN_REDO: u32 = 3;
const FACT_RELAY_HANDLE: u32 = 4;
const FACT_PENDING: u32 = 5;

/// One open model on this client.
pub struct LocalModel {
    /// Its collection.
    pub collection: String,
    /// Its id in the collection.
    pub id: String,
    /// The replica: data, unacknowledged edits, references, undo stacks.
    pub client: ClientModel,
    /// The relay's handle for it on the current connection; `None` while offline.
    pub handle: Option<u32>,
    /// Whether a long catch-up is streaming in (nothing is sent until it ends).
    pub resyncing: bool,
    /// The other sessions that have it open.
    pub collaborators: Vec<Collaborator>,
    /// Element id by handle.
    elements: Vec<ElementId>,
    /// Handle by element id.
    handles: FastMap<ElementId, u32>,
    /// The string last edited and when, to group typing into one undo step.
    last_edit: Option<(ElementId, f64)>,
    /// Set by `undoBoundary`: the next edit starts a new undo step.
    boundary: bool,
}

impl LocalModel {
    /// A model opened on this connection (`handle`) or restored from a cache (`None`).
    pub fn new(collection: String, id: String, client: ClientModel, handle: Option<u32>) -> Self {
        LocalModel {
            collection,
            id,
            client,
            handle,
            resyncing: false,
            collaborators: Vec::new(),
            elements: Vec::new(),
            handles: FastMap::default(),
            last_edit: None,
            boundary: false,
        }
    }

    /// The handle of an element, handing out a new one the first time.
    pub fn handle_of(&mut self, id: ElementId) -> u32 {
        if let Some(h) = self.handles.get(&id) {
            return *h;
        }
        let h = self.elements.len() as u32;
        self.elements.push(id);
        self.handles.insert(id, h);
        h
    }

    /// The element a handle names, if it is still in the data.
    pub fn element(&self, handle: u32) -> Result<ElementId> {
        self.kind(handle).map(|(id, _)| id)
    }

    /// The handles of an element and its ancestors, the element first.
    pub fn ancestry(&mut self, id: ElementId) -> Vec<u32> {
        let mut out = vec![self.handle_of(id)];
        let mut at = id;
        while let Some(parent) = self.client.model().parent(at) {
            out.push(self.handle_of(parent));
            at = parent;
        }
        out
    }

    fn kind(&self, handle: u32) -> Result<(ElementId, ElementKind)> {
        let id = *self
            .elements
            .get(handle as usize)
            .ok_or_else(EngineError::detached)?;
        let kind = self
            .client
            .model()
            .kind(id)
            .ok_or_else(EngineError::detached)?;
        Ok((id, kind))
    }

    fn expect(&self, handle: u32, expected: ElementKind) -> Result<ElementId> {
        let (id, kind) = self.kind(handle)?;
        if kind == expected {
            Ok(id)
        } else {
            Err(Failure::WrongType {
                expected: kind_name(expected),
                actual: kind_name(kind),
            }
            .into())
        }
    }

    /// Applies a local edit and queues it. A string edit comes with the time it was typed
    /// (`typed_at`, in ms, from JavaScript: a clock import on every keystroke would cost more
    /// than the edit): edits of one string less than a second apart share an undo step.
    fn edit(&mut self, op: Op, typed_at: Option<f64>) -> Result<()> {
        let text_edit = typed_at.zip(op.target());
        let merge = text_edit.is_some_and(|(now, id)| {
            !std::mem::take(&mut self.boundary)
                && self
                    .last_edit
                    .is_some_and(|(last, at)| last == id && now - at < UNDO_MERGE_MS)
        });
        let record = if merge {
            UndoRecord::Merge
        } else {
            UndoRecord::Step
        };
        self.client.submit_undoable(op, record)?;
        self.last_edit = text_edit.map(|(now, id)| (id, now));
        Ok(())
    }

    /// The encoded size of the largest unacknowledged operation (0 if none).
    pub fn largest_unacked(&self) -> usize {
        self.client
            .unacked()
            .map(|u| encoded_size(&u.op))
            .max()
            .unwrap_or(0)
    }

    /// The cache entry: everything needed to reopen the model offline and resend its edits.
    /// What it holds is sealed first (see `ClientModel::seal`): each cached `(origin, seq)` is
    /// then the same edit in every copy, whichever of them reaches the relay.
    pub fn cache_entry(&mut self) -> Vec<u8> {
        self.client.seal();
        let unacked: Vec<CachedOp> = self
            .client
            .unacked()
            .map(|u| (u.origin, (u.seq, (u.context_version, u.op.clone()))))
            .collect();
        let header = (
            (self.collection.clone(), self.id.clone()),
            self.client.version(),
        );
        let entry = (header, (self.client.model().to_node(), unacked));
        encode_frame(&entry)
    }
}

/// An unacknowledged operation as cached: `(origin, (seq, (context, op)))`.
type CachedOp = (u64, (u64, (u64, Op)));

/// The shape of a cache entry (see [`LocalModel::cache_entry`]): collection, id and version,
/// then the data and the unacknowledged operations.
type CacheEntry = (((String, String), u64), (Node, Vec<CachedOp>));

#[wasm_bindgen]
impl Engine {
    /// A model restored from a cache entry, offline until a `reopen` request brings it up to
    /// date; returns its local id. It makes new edits under a fresh origin: another tab or
    /// process may restore the same entry (their copies of the cached edits are one each on the
    /// relay, see `tandem_core::client` on identity).
    pub fn restore(&mut self, entry: &[u8]) -> Result<u32, JsValue> {
        let (((collection, id), version), (node, unacked)): CacheEntry =
            decode_frame(entry, &crate::engine::INCOMING).map_err(EngineError::from)?;
        let model = Model::new(node).map_err(EngineError::from)?;
        let unacked = unacked
            .into_iter()
            .map(|(origin, (seq, (context_version, op)))| Unacked {
                origin,
                seq,
                context_version,
                op,
            })
            .collect();
        let origin = self.fresh_origin();
        let mut client = ClientModel::restore(model, version, origin, unacked);
        client.set_composing(true);
        let model = LocalModel::new(collection, id, client, None);
        // Quarantined: it could never be sent (see `welcomed`); the caller keeps the entry.
        let largest = model.largest_unacked();
        if largest > self.relay_message_bytes {
            return Err(EngineError::too_large(largest, self.relay_message_bytes).into());
        }
        Ok(self.add_model(model))
    }

    /// The cache entry of an open model (see `restore`).
    #[wasm_bindgen(js_name = cacheEntry)]
    pub fn cache_entry(&mut self, local: u32) -> Result<Vec<u8>, JsValue> {
        Ok(self.model_mut(local)?.cache_entry())
    }

    /// Closes a model locally (after the relay confirmed, or when offline).
    #[wasm_bindgen(js_name = forget)]
    pub fn forget(&mut self, local: u32) {
        self.drop_model(local);
    }

    /// The model's collection and id, as JSON `[collection, id]`.
    pub fn identity(&self, local: u32) -> Result<String, JsValue> {
        let m = self.model(local)?;
        Ok(json!(vec![m.collection.clone(), m.id.clone()]).to_string())
    }

    /// One fact about a model, by its code (see `npm/src/model.ts`): [`FACT_VERSION`], the last
    /// relay version applied; [`FACT_SETTLED`], 1 when every local edit was acknowledged;
    /// [`FACT_CAN_UNDO`] and [`FACT_CAN_REDO`], 1 when there is a step; [`FACT_RELAY_HANDLE`],
    /// the relay's handle while online (for close requests), else -1 (also for a closed model);
    /// [`FACT_PENDING`], how many local operations are unacknowledged.
    #[wasm_bindgen(js_name = modelFact)]
    pub fn model_fact(&self, local: u32, fact: u32) -> Result<f64, JsValue> {
        if fact == FACT_RELAY_HANDLE {
            let handle = self.model(local).ok().and_then(|m| m.handle);
            return Ok(handle.map_or(-1.0, f64::from));
        }
        let client = &self.model(local)?.client;
        Ok(match fact {
            FACT_VERSION => client.version() as f64,
            FACT_SETTLED => f64::from(u8::from(client.is_settled())),
            FACT_CAN_UNDO => f64::from(u8::from(client.can_undo())),
            FACT_CAN_REDO => f64::from(u8::from(client.can_redo())),
            FACT_PENDING => client.unacked().len() as f64,
            _ => return Err(EngineError::invalid("unknown model fact").into()),
        })
    }

    /// The other sessions with the model open, as JSON.
    pub fn collaborators(&self, local: u32) -> Result<String, JsValue> {
        let m = self.model(local)?;
        let list: Vec<Json> = m
            .collaborators
            .iter()
            .map(crate::interop::collaborator_json)
            .collect();
        Ok(json!(list).to_string())
    }

    /// The whole data as JSON.
    #[wasm_bindgen(js_name = toJson)]
    pub fn to_json(&self, local: u32) -> Result<String, JsValue> {
        Ok(value_json(&self.model(local)?.client.model().to_value()).to_string())
    }

    /// Bytes the model's data takes in memory (an estimate).
    #[wasm_bindgen(js_name = memSize)]
    pub fn mem_size(&self, local: u32) -> Result<f64, JsValue> {
        Ok(self.model(local)?.client.model().mem_size() as f64)
    }

    /// The root element's handle.
    pub fn root(&mut self, local: u32) -> Result<u32, JsValue> {
        let m = self.model_mut(local)?;
        let root = m.client.model().root();
        Ok(m.handle_of(root))
    }

    /// The handle of the element at `path` (JSON array of keys and indices).
    #[wasm_bindgen(js_name = elementAt)]
    pub fn element_at(&mut self, local: u32, path: &str) -> Result<u32, JsValue> {
        let json = Json::parse(path)?;
        let segments = json
            .as_array()
            .ok_or_else(|| EngineError::invalid("a path is an array of keys and indices"))?
            .iter()
            .map(|s| match s {
                Json::String(k) => Ok(PathSegment::Key(k.clone())),
                n @ (Json::Int(_) | Json::Float(_)) => {
                    Ok(PathSegment::Index(index(n.as_f64().unwrap_or(-1.0))?))
                }
                _ => Err(EngineError::invalid("a path holds keys and indices")),
            })
            .collect::<Result<Vec<_>>>()?;
        let m = self.model_mut(local)?;
        let id = m
            .client
            .model()
            .element_at(&segments)
            .map_err(EngineError::from)?;
        Ok(m.handle_of(id))
    }

    /// The element's type name, or `"detached"`.
    pub fn kind(&self, local: u32, element: u32) -> Result<String, JsValue> {
        let m = self.model(local)?;
        Ok(match m.kind(element) {
            Ok((_, kind)) => kind_name(kind).to_owned(),
            Err(_) => "detached".to_owned(),
        })
    }

    /// The element's id as text (`site:counter`).
    #[wasm_bindgen(js_name = elementId)]
    pub fn element_id(&self, local: u32, element: u32) -> Result<String, JsValue> {
        let m = self.model(local)?;
        let id = m
            .elements
            .get(element as usize)
            .ok_or_else(EngineError::detached)?;
        Ok(id.to_string())
    }

    /// The parent's handle, or `None` for the root or a detached element.
    pub fn parent(&mut self, local: u32, element: u32) -> Result<Option<u32>, JsValue> {
        let m = self.model_mut(local)?;
        let Ok(id) = m.element(element) else {
            return Ok(None);
        };
        Ok(m.client.model().parent(id).map(|p| m.handle_of(p)))
    }

    /// The element's path from the root, as JSON.
    pub fn path(&self, local: u32, element: u32) -> Result<String, JsValue> {
        let m = self.model(local)?;
        let id = m.element(element)?;
        let path = m
            .client
            .model()
            .path_of(id)
            .ok_or_else(EngineError::detached)?;
        let json: Vec<Json> = path
            .into_iter()
            .map(|s| match s {
                PathSegment::Key(k) => json!(k),
                PathSegment::Index(i) => json!(i),
            })
            .collect();
        Ok(json!(json).to_string())
    }

    /// The element's value as JSON.
    pub fn value(&self, local: u32, element: u32) -> Result<String, JsValue> {
        let m = self.model(local)?;
        let id = m.element(element)?;
        let value = m
            .client
            .model()
            .value_of(id)
            .ok_or_else(EngineError::detached)?;
        Ok(value_json(&value).to_string())
    }

    /// A string's text.
    #[wasm_bindgen(js_name = stringValue)]
    pub fn string_value(&self, local: u32, element: u32) -> Result<String, JsValue> {
        let m = self.model(local)?;
        let id = m.expect(element, ElementKind::String)?;
        Ok(m.client
            .model()
            .string(id)
            .map(|s| s.to_string())
            .unwrap_or_default())
    }

    /// A number's, boolean's (1 or 0) or date's (milliseconds) value.
    #[wasm_bindgen(js_name = scalarValue)]
    pub fn scalar_value(&self, local: u32, element: u32) -> Result<f64, JsValue> {
        let m = self.model(local)?;
        let id = m.element(element)?;
        Ok(match m.client.model().value_of(id) {
            Some(Value::Number(n)) => n,
            Some(Value::Bool(b)) => f64::from(u8::from(b)),
            Some(Value::Date(ms)) => ms as f64,
            _ => {
                return Err(
                    EngineError::invalid("the element is not a number, boolean or date").into(),
                )
            }
        })
    }

    /// A string's length in UTF-16 code units if it has no surrogate pairs, or -1: the package
    /// buffers edits of such strings, checking their positions itself (see `npm/src/typing.ts`).
    #[wasm_bindgen(js_name = plainTextLength)]
    pub fn plain_text_length(&self, local: u32, element: u32) -> Result<f64, JsValue> {
        let m = self.model(local)?;
        let id = m.expect(element, ElementKind::String)?;
        Ok(match m.client.model().string(id) {
            Some(text) if text.is_bmp() => text.len_utf16() as f64,
            _ => -1.0,
        })
    }

    /// A string's length in UTF-16 code units, an array's item count or an object's key count.
    pub fn length(&self, local: u32, element: u32) -> Result<u32, JsValue> {
        let m = self.model(local)?;
        let (id, kind) = m.kind(element)?;
        let model = m.client.model();
        let len = match kind {
            ElementKind::String => model.string(id).map_or(0, |s| s.len_utf16()),
            ElementKind::Array => model.array_items(id).map_or(0, <[_]>::len),
            ElementKind::Object => model.object_props(id).map_or(0, Iterator::count),
            _ => {
                return Err(
                    EngineError::invalid("only strings, arrays and objects have a length").into(),
                )
            }
        };
        Ok(len as u32)
    }

    /// The handle of an array's item at `index`.
    #[wasm_bindgen(js_name = itemAt)]
    pub fn item_at(&mut self, local: u32, element: u32, index: u32) -> Result<u32, JsValue> {
        let m = self.model_mut(local)?;
        let id = m.expect(element, ElementKind::Array)?;
        let items = m.client.model().array_items(id).unwrap_or_default();
        let item = *items.get(index as usize).ok_or_else(|| {
            EngineError::from(tandem_core::ModelError::IndexOutOfRange {
                index: index as usize,
                len: items.len(),
            })
        })?;
        Ok(m.handle_of(item))
    }

    /// The handles of a container's children, in order.
    pub fn children(&mut self, local: u32, element: u32) -> Result<Vec<u32>, JsValue> {
        let m = self.model_mut(local)?;
        let (id, _) = m.kind(element)?;
        let model = m.client.model();
        let ids: Vec<ElementId> = if let Some(items) = model.array_items(id) {
            items.to_vec()
        } else if let Some(props) = model.object_props(id) {
            props.map(|(_, e)| e).collect()
        } else {
            Vec::new()
        };
        Ok(ids.into_iter().map(|e| m.handle_of(e)).collect())
    }

    /// The handle of an object's property, or `None` if it has none by that name.
    #[wasm_bindgen(js_name = propertyOf)]
    pub fn property_of(
        &mut self,
        local: u32,
        element: u32,
        key: &str,
    ) -> Result<Option<u32>, JsValue> {
        let m = self.model_mut(local)?;
        let id = m.expect(element, ElementKind::Object)?;
        let found = m
            .client
            .model()
            .object_props(id)
            .and_then(|mut props| props.find(|(k, _)| *k == key).map(|(_, e)| e));
        Ok(found.map(|e| m.handle_of(e)))
    }

    /// An object's keys, in order, as JSON.
    pub fn keys(&self, local: u32, element: u32) -> Result<String, JsValue> {
        let m = self.model(local)?;
        let id = m.expect(element, ElementKind::Object)?;
        let keys: Vec<&str> = m
            .client
            .model()
            .object_props(id)
            .map(|props| props.map(|(k, _)| k).collect())
            .unwrap_or_default();
        Ok(json!(keys).to_string())
    }

    // --- edits -----------------------------------------------------------------------------

    /// Inserts text into a string at a UTF-16 index (`typed_at`: when, in ms since the epoch).
    #[wasm_bindgen(js_name = stringInsert)]
    pub fn string_insert(
        &mut self,
        local: u32,
        element: u32,
        at: f64,
        text: String,
        typed_at: f64,
    ) -> Result<(), JsValue> {
        self.edit_element(local, element, ElementKind::String, Some(typed_at), |id| {
            Ok(Op::StringInsert {
                id,
                index: index(at)?,
                text,
            })
        })
    }

    /// Removes `len` UTF-16 code units of a string at `at` (`typed_at` as for an insert).
    #[wasm_bindgen(js_name = stringRemove)]
    pub fn string_remove(
        &mut self,
        local: u32,
        element: u32,
        at: f64,
        len: f64,
        typed_at: f64,
    ) -> Result<(), JsValue> {
        self.edit_element(local, element, ElementKind::String, Some(typed_at), |id| {
            Ok(Op::StringRemove {
                id,
                index: index(at)?,
                len: index(len)?,
            })
        })
    }

    /// Removes `remove` code units at `at` and inserts `text` there, as one edit (`typed_at` as
    /// for an insert).
    #[wasm_bindgen(js_name = stringSplice)]
    pub fn string_splice(
        &mut self,
        local: u32,
        element: u32,
        at: f64,
        remove: f64,
        text: String,
        typed_at: f64,
    ) -> Result<(), JsValue> {
        self.edit_element(local, element, ElementKind::String, Some(typed_at), |id| {
            Ok(from_splice(id, index(at)?, index(remove)?, text))
        })
    }

    /// Applies runs of edits to a string, each as [`Engine::string_splice`] would, in one call:
    /// `spans` holds `index, remove, inserted length` for each run (lengths in UTF-16 code
    /// units), and `texts` their inserted texts one after the other, in UTF-8 (JavaScript's
    /// `TextEncoder` writes a long text far faster than the generated string glue). The package's write buffer
    /// (`npm/src/typing.ts`) hands its runs over this way. It stops at the first run that fails;
    /// the runs before it stay applied.
    #[wasm_bindgen(js_name = stringEdits)]
    pub fn string_edits(
        &mut self,
        local: u32,
        element: u32,
        spans: &[f64],
        texts: &[u8],
        typed_at: f64,
    ) -> Result<(), JsValue> {
        let m = self.model_mut(local)?;
        let id = m.expect(element, ElementKind::String)?;
        let mut rest = std::str::from_utf8(texts)
            .map_err(|_| EngineError::invalid("the texts are not UTF-8"))?;
        for span in spans.chunks_exact(3) {
            let (at, remove, units) = (index(span[0])?, index(span[1])?, index(span[2])?);
            let (text, tail) = utf16_offset(rest, units)
                .and_then(|split| rest.split_at_checked(split))
                .ok_or_else(|| EngineError::invalid("a run is longer than the texts"))?;
            rest = tail;
            m.edit(from_splice(id, at, remove, text.to_owned()), Some(typed_at))?;
        }
        Ok(())
    }

    /// Replaces a string's whole text.
    #[wasm_bindgen(js_name = stringSet)]
    pub fn string_set(&mut self, local: u32, element: u32, value: String) -> Result<(), JsValue> {
        self.edit_element(local, element, ElementKind::String, None, |id| {
            Ok(Op::StringSet { id, value })
        })
    }

    /// Inserts a value (JSON) into an array at `at`, or replaces the item there (`replace`).
    #[wasm_bindgen(js_name = arrayPut)]
    pub fn array_put(
        &mut self,
        local: u32,
        element: u32,
        at: f64,
        value: &str,
        replace: bool,
    ) -> Result<(), JsValue> {
        let value = self.node_from_json(value)?;
        self.edit_element(local, element, ElementKind::Array, None, |id| {
            let index = index(at)?;
            Ok(if replace {
                Op::ArrayReplace { id, index, value }
            } else {
                Op::ArrayInsert { id, index, value }
            })
        })
    }

    /// Removes an array's item.
    #[wasm_bindgen(js_name = arrayRemove)]
    pub fn array_remove(&mut self, local: u32, element: u32, at: f64) -> Result<(), JsValue> {
        self.edit_element(local, element, ElementKind::Array, None, |id| {
            Ok(Op::ArrayRemove {
                id,
                index: index(at)?,
            })
        })
    }

    /// Moves an array's item from one index to another.
    #[wasm_bindgen(js_name = arrayMove)]
    pub fn array_move(
        &mut self,
        local: u32,
        element: u32,
        from: f64,
        to: f64,
    ) -> Result<(), JsValue> {
        self.edit_element(local, element, ElementKind::Array, None, |id| {
            Ok(Op::ArrayMove {
                id,
                from: index(from)?,
                to: index(to)?,
            })
        })
    }

    /// Replaces every item of an array (JSON array).
    #[wasm_bindgen(js_name = arraySet)]
    pub fn array_set(&mut self, local: u32, element: u32, value: &str) -> Result<(), JsValue> {
        let Value::Array(items) = value_from_json(value)? else {
            return Err(EngineError::invalid("an array's value is an array").into());
        };
        let value = items
            .into_iter()
            .map(|v| v.into_node(&mut self.ids))
            .collect();
        self.edit_element(local, element, ElementKind::Array, None, |id| {
            Ok(Op::ArraySet { id, value })
        })
    }

    /// Sets an object's property to a value (JSON), adding it if it is missing.
    #[wasm_bindgen(js_name = objectSet)]
    pub fn object_set(
        &mut self,
        local: u32,
        element: u32,
        key: String,
        value: &str,
    ) -> Result<(), JsValue> {
        let value = self.node_from_json(value)?;
        let exists = {
            let m = self.model(local)?;
            let id = m.expect(element, ElementKind::Object)?;
            m.client
                .model()
                .object_props(id)
                .is_some_and(|mut props| props.any(|(k, _)| k == key))
        };
        self.edit_element(local, element, ElementKind::Object, None, |id| {
            Ok(if exists {
                Op::ObjectSet { id, key, value }
            } else {
                Op::ObjectAdd {
                    id,
                    key,
                    value,
                    before: Vec::new(),
                }
            })
        })
    }

    /// Removes an object's property.
    #[wasm_bindgen(js_name = objectRemove)]
    pub fn object_remove(&mut self, local: u32, element: u32, key: String) -> Result<(), JsValue> {
        self.edit_element(local, element, ElementKind::Object, None, |id| {
            Ok(Op::ObjectRemove { id, key })
        })
    }

    /// Replaces every property of an object (JSON object).
    #[wasm_bindgen(js_name = objectSetAll)]
    pub fn object_set_all(&mut self, local: u32, element: u32, value: &str) -> Result<(), JsValue> {
        let Value::Object(props) = value_from_json(value)? else {
            return Err(EngineError::invalid("an object's value is an object").into());
        };
        let value = props
            .into_iter()
            .map(|(k, v)| (k, v.into_node(&mut self.ids)))
            .collect();
        self.edit_element(local, element, ElementKind::Object, None, |id| {
            Ok(Op::ObjectSetAll { id, value })
        })
    }

    /// Adds to a number.
    #[wasm_bindgen(js_name = numberAdd)]
    pub fn number_add(&mut self, local: u32, element: u32, delta: f64) -> Result<(), JsValue> {
        self.edit_element(local, element, ElementKind::Number, None, |id| {
            Ok(Op::NumberAdd { id, delta })
        })
    }

    /// Sets a number, a boolean (non-zero is true) or a date (milliseconds since the epoch),
    /// whichever the element is.
    #[wasm_bindgen(js_name = scalarSet)]
    pub fn scalar_set(&mut self, local: u32, element: u32, value: f64) -> Result<(), JsValue> {
        let (_, kind) = self.model(local)?.kind(element)?;
        self.edit_element(local, element, kind, None, |id| match kind {
            ElementKind::Number => Ok(Op::NumberSet { id, value }),
            ElementKind::Boolean => Ok(Op::BooleanSet {
                id,
                value: value != 0.0,
            }),
            ElementKind::Date if value.is_finite() => Ok(Op::DateSet {
                id,
                value: value as i64,
            }),
            ElementKind::Date => Err(EngineError::invalid(
                "a date is a finite number of milliseconds",
            )),
            _ => Err(Failure::WrongType {
                expected: "number, boolean or date",
                actual: kind_name(kind),
            }
            .into()),
        })
    }

    // --- batches and undo ------------------------------------------------------------------

    /// Opens a batch (`open`): edits until it is closed go out and undo as one atomic
    /// operation; or closes it.
    pub fn batch(&mut self, local: u32, open: bool) -> Result<(), JsValue> {
        let limit = self.relay_message_bytes;
        let m = self.model_mut(local)?;
        if open {
            m.client.begin_batch();
        } else {
            if let Some(ops) = m.client.closing_batch() {
                // Refused before it is queued: the caller aborts the batch, nothing is sent.
                let size: usize = ops.iter().map(encoded_size).sum();
                if size > limit {
                    return Err(EngineError::too_large(size, limit).into());
                }
            }
            m.client.end_batch();
            m.last_edit = None;
        }
        Ok(())
    }

    /// Takes back a batch's edits (its callback threw); returns the changes as JSON events.
    #[wasm_bindgen(js_name = abortBatch)]
    pub fn abort_batch(&mut self, local: u32) -> Result<String, JsValue> {
        let m = self.model_mut(local)?;
        let undone = m.client.abort_batch();
        Ok(local_changes(local, m, undone))
    }

    /// Starts a new undo step with the next edit (an editor's "isolate history").
    #[wasm_bindgen(js_name = undoBoundary)]
    pub fn undo_boundary(&mut self, local: u32) -> Result<(), JsValue> {
        self.model_mut(local)?.boundary = true;
        Ok(())
    }

    /// Undoes this client's latest step; returns the changes as JSON events (empty if there was
    /// nothing to undo).
    pub fn undo(&mut self, local: u32) -> Result<String, JsValue> {
        let ids = &mut self.ids;
        let m = self
            .models
            .get_mut(local as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| EngineError::not_open(local))?;
        let done = m.client.undo(ids).map_err(EngineError::from)?;
        m.last_edit = None;
        Ok(local_changes(local, m, done.into_iter().collect()))
    }

    /// Redoes the latest undone step; returns the changes as JSON events.
    pub fn redo(&mut self, local: u32) -> Result<String, JsValue> {
        let ids = &mut self.ids;
        let m = self
            .models
            .get_mut(local as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| EngineError::not_open(local))?;
        let done = m.client.redo(ids).map_err(EngineError::from)?;
        m.last_edit = None;
        Ok(local_changes(local, m, done.into_iter().collect()))
    }
}

impl Engine {
    /// Edits element `element` of model `local`, which must be of type `kind`: `make` builds the
    /// operation from its id; it applies locally and is queued for the relay.
    fn edit_element(
        &mut self,
        local: u32,
        element: u32,
        kind: ElementKind,
        typed_at: Option<f64>,
        make: impl FnOnce(ElementId) -> Result<Op>,
    ) -> Result<(), JsValue> {
        let limit = self.relay_message_bytes;
        let m = self.model_mut(local)?;
        let id = m.expect(element, kind)?;
        let op = make(id)?;
        // An edit the relay could never take is refused before it applies (a smaller one may
        // still compose into a larger run: composition stops at its own limit, far below).
        // Typing is checked by its text's length alone: it is on every keystroke's path.
        let fits_by_text = match &op {
            Op::StringInsert { text, .. } | Op::StringSplice { text, .. } => {
                text.len() + TEXT_EDIT_OVERHEAD <= limit
            }
            _ => false,
        };
        if !fits_by_text {
            let size = encoded_size(&op);
            if size > limit {
                return Err(EngineError::too_large(size, limit).into());
            }
        }
        Ok(m.edit(op, typed_at)?)
    }

    /// A value from JSON as a new subtree with ids from this client's site.
    fn node_from_json(&mut self, json: &str) -> Result<Node> {
        Ok(value_from_json(json)?.into_node(&mut self.ids))
    }
}

/// More than a string insert or splice adds to its text in a frame: the envelope, the element id
/// and the positions as varints.
const TEXT_EDIT_OVERHEAD: usize = 128;

/// The bytes an operation takes in a frame (measured by encoding it: the cost is that of
/// applying it, which happens anyway).
fn encoded_size(op: &Op) -> usize {
    tandem_core::protocol::encode_frame(op).len()
}

/// The byte offset of the first `units` UTF-16 code units of `text` (`None` if it is shorter
/// or the offset would split a character).
fn utf16_offset(text: &str, units: usize) -> Option<usize> {
    if text.is_char_boundary(units) && text.as_bytes()[..units].is_ascii() {
        return Some(units);
    }
    let mut seen = 0;
    for (offset, c) in text.char_indices() {
        if seen == units {
            return Some(offset);
        }
        seen += c.len_utf16();
    }
    (seen == units).then_some(text.len())
}

/// Change events for local operations the engine made itself (undo, redo, an aborted batch).
fn local_changes(local: u32, m: &mut LocalModel, ops: Vec<Op>) -> String {
    let mut changes = Vec::new();
    for op in ops.into_iter().flat_map(Op::into_primitives) {
        let Some(target) = op.target() else { continue };
        if !m.client.model().contains(target) {
            continue;
        }
        let path = m.ancestry(target);
        let mut change = op_json(&op);
        change.insert("path", json!(path));
        changes.push(change);
    }
    let mut events = Events::default();
    if !changes.is_empty() {
        events.push(json!({
            "type": "changes", "local": local, "isLocal": true, "changes": changes,
        }));
    }
    events.into_json()
}
