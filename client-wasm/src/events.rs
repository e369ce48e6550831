//! The events an engine call produces, collected and handed to JavaScript as one JSON array.

use crate::json;
use crate::json::Json;
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
    /// package can bubble it), and who made it and when (`who`: authors by relay version, in
    /// version order).
    pub fn remote_changes(
        &mut self,
        local: u32,
        model: &mut LocalModel,
        applied: &[AppliedRemote],
        who: &[(u64, (String, String, i64))],
    ) {
        let mut changes = Vec::new();
        for remote in applied {
            let (user, session, time) = who
                .binary_search_by_key(&remote.version, |(version, _)| *version)
                .ok()
                .map(|at| &who[at].1)
                .map(|(u, s, t)| (u.as_str(), s.as_str(), *t))
                .unwrap_or_default();
            for op in remote.op.clone().into_primitives() {
                let Some(target) = op.target() else { continue };
                if !model.client.model().contains(target) {
                    continue;
                }
                let path = model.ancestry(target);
                let mut change = op_json(&op);
                change.insert("path", json!(path));
                change.insert("userId", json!(user));
                change.insert("sessionId", json!(session));
                change.insert("timestamp", json!(time));
                change.insert("version", json!(remote.version));
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
