//! The events an engine call produces, collected and handed to JavaScript as one JSON array.

use rustc_hash::FxHashMap;
use serde_json::{json, Value as Json};
use tandem_core::client::AppliedRemote;

use crate::interop::op_json;
use crate::models::LocalModel;

/// Events of one call, in order.
#[derive(Default)]
pub struct Events(Vec<Json>);

impl Events {
    /// Adds one event.
    pub fn push(&mut self, event: Json) {
        self.0.push(event);
    }

    /// The events as JSON text.
    pub fn into_json(self) -> String {
        Json::Array(self.0).to_string()
    }

    /// One `changes` event for remote operations just applied to `model`: every primitive change
    /// on an element still in the data, with the element's handle and its ancestors' (so that the
    /// package can bubble it), and who made it and when (`who` by relay version).
    pub fn remote_changes(
        &mut self,
        local: u32,
        model: &mut LocalModel,
        applied: &[AppliedRemote],
        who: &FxHashMap<u64, (String, String, i64)>,
    ) {
        let mut changes = Vec::new();
        for remote in applied {
            let (user, session, time) = who
                .get(&remote.version)
                .map(|(u, s, t)| (u.as_str(), s.as_str(), *t))
                .unwrap_or_default();
            for op in remote.op.clone().into_primitives() {
                let Some(target) = op.target() else { continue };
                if !model.client.model().contains(target) {
                    continue;
                }
                let path = model.ancestry(target);
                let mut change = op_json(&op);
                if let Some(fields) = change.as_object_mut() {
                    fields.insert("path".into(), json!(path));
                    fields.insert("userId".into(), user.into());
                    fields.insert("sessionId".into(), session.into());
                    fields.insert("timestamp".into(), time.into());
                    fields.insert("version".into(), remote.version.into());
                }
                changes.push(change);
            }
        }
        if !changes.is_empty() {
            self.push(json!({
                "type": "changes",
                "local": local,
                "version": model.client.version(),
                "changes": changes,
            }));
        }
    }
}
