//! References: this client's (set, cleared, shared, unshared, disposed) and other sessions'
//! (read as they apply to the local data, moved through unacknowledged edits).

use crate::json;
use crate::json::Json;
use tandem_core::ReferenceKey;
use wasm_bindgen::prelude::*;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::interop::{reference_from_json, reference_json};
use crate::models::LocalModel;

fn key_of(m: &LocalModel, element: Option<u32>, key: String) -> Result<ReferenceKey> {
    Ok(ReferenceKey {
        element: element.map(|h| m.element(h)).transpose()?,
        key,
    })
}

#[wasm_bindgen]
impl Engine {
    /// Changes a local reference on `element` (or on the model when `None`): `change` is `set`
    /// (to `value`, JSON: `{"type": "index" | "range" | "element" | "property", "values":
    /// [...]}`), `clear` (to point at nothing), `share` (show it to the model's other sessions),
    /// `unshare` or `dispose` (forget it, unsharing it).
    #[wasm_bindgen(js_name = changeReference)]
    pub fn change_reference(
        &mut self,
        local: u32,
        element: Option<u32>,
        key: String,
        change: &str,
        value: Option<String>,
    ) -> Result<(), JsValue> {
        let m = self.model_mut(local)?;
        let key = key_of(m, element, key)?;
        match change {
            "set" => {
                let value =
                    reference_from_json(value.as_deref().unwrap_or("null"), |h| m.element(h))?;
                m.client.set_reference(key, value);
            }
            "clear" => m.client.clear_reference(&key),
            "share" => m.client.share_reference(key),
            "unshare" => m.client.unshare_reference(&key),
            "dispose" => m.client.dispose_reference(&key),
            _ => return Err(EngineError::invalid("unknown reference change").into()),
        }
        Ok(())
    }

    /// A local reference's current value as JSON, or `None` if it points at nothing.
    #[wasm_bindgen(js_name = localReference)]
    pub fn local_reference(
        &mut self,
        local: u32,
        element: Option<u32>,
        key: String,
    ) -> Result<Option<String>, JsValue> {
        let m = self.model_mut(local)?;
        let key = key_of(m, element, key)?;
        let Some(value) = m.client.local_reference(&key).cloned() else {
            return Ok(None);
        };
        Ok(Some(
            reference_json(&value, |id| m.handle_of(id)).to_string(),
        ))
    }

    /// Every other session's shared reference as it applies to the local data, as JSON:
    /// `[{"sessionId", "userId", "element", "key", "value"}]`.
    #[wasm_bindgen(js_name = remoteReferences)]
    pub fn remote_references(&mut self, local: u32) -> Result<String, JsValue> {
        let m = self.model_mut(local)?;
        let refs: Vec<_> = m
            .client
            .remote_references()
            .into_iter()
            .map(|(session, key, value)| (session.to_owned(), key.clone(), value))
            .collect();
        let mut out: Vec<Json> = Vec::with_capacity(refs.len());
        for (session, key, value) in refs {
            let user_id = m
                .collaborators
                .iter()
                .find(|c| c.session_id == session)
                .map(|c| c.user.user_id.clone());
            let element = key.element.map(|e| m.handle_of(e));
            out.push(json!({
                "sessionId": session,
                "userId": user_id,
                "element": element,
                "key": key.key,
                "value": reference_json(&value, |id| m.handle_of(id)),
            }));
        }
        Ok(json!(out).to_string())
    }
}
