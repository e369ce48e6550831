//! The requests for models the engine builds itself, and the answers it turns into JSON itself.

use crate::json;
use crate::json::{json_value, value_json, Json};
use tandem_core::protocol::{Request, Response};
use tandem_core::{ElementId, IdGenerator, Value};

use crate::error::{EngineError, Result};
use crate::interop::historic_op_json;

fn text(json: &Json, key: &str) -> Result<String> {
    json[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| EngineError::invalid(format!("the request needs `{key}` (text)")))
}

fn data(json: &Json, ids: &mut IdGenerator) -> Result<tandem_core::Node> {
    let value = match &json["data"] {
        Json::Null => Value::Object(Vec::new()),
        data => json_value(data)?,
    };
    if !matches!(value, Value::Object(_)) {
        return Err(EngineError::invalid("a model's data is an object"));
    }
    let mut node = value.into_node(ids);
    node.id = ElementId::ROOT;
    Ok(node)
}

/// The request a JSON request for a model stands for, if it is one the engine builds itself:
/// opening (the engine keeps the answer's replica) and creating (the data gets element ids).
/// Every other request goes by its shape (`transcode`).
pub fn model_request(json: &Json, ids: &mut IdGenerator) -> Result<Option<Request>> {
    Ok(Some(match json["type"].as_str().unwrap_or_default() {
        "create_model" => Request::CreateModel {
            collection: text(json, "collection")?,
            id: json["id"].as_str().map(str::to_owned),
            data: data(json, ids)?,
        },
        "open_model" => Request::OpenModel {
            collection: text(json, "collection")?,
            id: text(json, "id")?,
            known_version: None,
        },
        "open_or_create_model" => Request::OpenOrCreateModel {
            collection: text(json, "collection")?,
            id: text(json, "id")?,
            data: data(json, ids)?,
        },
        _ => return Ok(None),
    }))
}

/// A response holding model data or operations as JSON with a `type` (the others are converted
/// by their shapes).
pub fn response_json(response: &Response) -> Json {
    match response {
        Response::HistoricModel {
            version,
            timestamp_ms,
            data,
        } => json!({
            "type": "historic_model", "version": version, "timestamp": timestamp_ms,
            "data": value_json(&data.to_value()),
        }),
        Response::Operations { ops, more } => {
            let ops: Vec<Json> = ops.iter().map(historic_op_json).collect();
            json!({"type": "operations", "ops": ops, "more": *more})
        }
        _ => json!({"type": "unsupported"}),
    }
}
