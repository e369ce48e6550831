//! A small JSON tree, reader and writer for what crosses into JavaScript.
//!
//! The engine hands JavaScript JSON text and reads JSON text from it. serde_json (with the
//! ordered maps Tandem needs) made up a sixth of the WebAssembly module; this does the same
//! job in a fraction of that. Number text is delegated to JavaScript's own `parseFloat` and
//! `String(number)` on WebAssembly, which are exact and cost nothing in the module, and to
//! Rust's on native targets (the tests).

use std::fmt;

use tandem_core::Value;

use crate::error::{EngineError, Result};

/// How deeply arrays and objects may nest in JSON from JavaScript (serde_json's default).
const MAX_DEPTH: usize = 128;

/// The key that marks a date, `{"$date": ms}`, as everywhere in Tandem.
const DATE_KEY: &str = "$date";

/// A JSON value. Objects keep their keys in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number, written exactly (a 64-bit value such as a site is not rounded).
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, in key order.
    Object(Vec<(String, Json)>),
}

/// What `json["missing"]` gives.
static NULL: Json = Json::Null;

/// Builds a [`Json`] object from `{"key": value, ...}`, or converts one value with
/// `json!(value)`; values are borrowed, anything [`ToJson`].
#[macro_export]
macro_rules! json {
    ({ $($key:literal : $value:expr),* $(,)? }) => {
        $crate::json::Json::Object(vec![
            $(($key.to_owned(), $crate::json::ToJson::to_json(&$value))),*
        ])
    };
    ($value:expr) => {
        $crate::json::ToJson::to_json(&$value)
    };
}

impl Json {
    /// Parses JSON text.
    pub fn parse(text: &str) -> Result<Json> {
        let mut reader = Reader {
            bytes: text.as_bytes(),
            text,
            pos: 0,
            depth: 0,
        };
        let value = reader.value()?;
        reader.skip_space();
        if reader.pos != reader.bytes.len() {
            return Err(reader.error("trailing characters"));
        }
        Ok(value)
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// A number's value.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Json::Int(n) => Some(n as f64),
            Json::Float(n) => Some(n),
            _ => None,
        }
    }

    /// A whole number's value.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Json::Int(n) => Some(n),
            _ => None,
        }
    }

    /// A whole number's value, if it is not negative.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_i64().and_then(|n| u64::try_from(n).ok())
    }

    /// The items of an array.
    pub fn as_array(&self) -> Option<&Vec<Json>> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Sets `key` of an object (nothing for other values).
    pub fn insert(&mut self, key: &str, value: Json) {
        if let Json::Object(props) = self {
            match props.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => props.push((key.to_owned(), value)),
            }
        }
    }

    /// Appends the JSON text of this value to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                use fmt::Write;
                let _ = write!(out, "{n}");
            }
            Json::Float(n) => write_float(*n, out),
            Json::String(s) => write_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(props) => {
                out.push('{');
                for (i, (key, value)) in props.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out);
        f.write_str(&out)
    }
}

impl std::ops::Index<&str> for Json {
    type Output = Json;

    /// The value of `key` in an object; `null` when it is missing or this is not an object.
    fn index(&self, key: &str) -> &Json {
        match self {
            Json::Object(props) => props
                .iter()
                .find(|(k, _)| k == key)
                .map_or(&NULL, |(_, v)| v),
            _ => &NULL,
        }
    }
}

impl PartialEq<&str> for Json {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// Anything the [`json!`] macro can put in a value.
pub trait ToJson {
    /// This value as JSON.
    fn to_json(&self) -> Json;
}

impl ToJson for Json {
    fn to_json(&self) -> Json {
        self.clone()
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Json {
        Json::Bool(*self)
    }
}

impl ToJson for str {
    fn to_json(&self) -> Json {
        Json::String(self.to_owned())
    }
}

impl ToJson for String {
    fn to_json(&self) -> Json {
        Json::String(self.clone())
    }
}

/// Whole numbers: written exactly.
macro_rules! int_to_json {
    ($($ty:ty),*) => {$(
        impl ToJson for $ty {
            fn to_json(&self) -> Json {
                i64::try_from(*self).map_or(Json::Float(*self as f64), Json::Int)
            }
        }
    )*};
}

int_to_json!(i64, u64, u32, usize);

impl ToJson for f64 {
    fn to_json(&self) -> Json {
        Json::Float(*self)
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Json {
        self.as_ref().map_or(Json::Null, ToJson::to_json)
    }
}

impl<T: ToJson> ToJson for [T] {
    fn to_json(&self) -> Json {
        Json::Array(self.iter().map(ToJson::to_json).collect())
    }
}

impl<T: ToJson, const N: usize> ToJson for [T; N] {
    fn to_json(&self) -> Json {
        self.as_slice().to_json()
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Json {
        self.as_slice().to_json()
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn to_json(&self) -> Json {
        (**self).to_json()
    }
}

/// A model value as JSON: dates become `{"$date": ms}`, property names that start with `$` get
/// one more (see [`wire_key`]), whole numbers are written as integers (as JavaScript's
/// `JSON.stringify` does).
pub fn value_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Float(*n),
        Value::Date(ms) => json!({ "$date": ms }),
        Value::String(s) => Json::String(s.clone()),
        Value::Array(items) => Json::Array(items.iter().map(value_json).collect()),
        Value::Object(props) => Json::Object(
            props
                .iter()
                .map(|(k, v)| (wire_key(k), value_json(v)))
                .collect(),
        ),
    }
}

/// A property name as written in JSON: one that starts with `$` gets one more, so that an
/// object shaped like a date marker (`{"$date": 5}` as data) stays an object both ways.
fn wire_key(key: &str) -> String {
    if key.starts_with('$') {
        format!("${key}")
    } else {
        key.to_owned()
    }
}

/// A property name from JSON: `$$`-keys lose one `$` (see [`wire_key`]); others are taken as
/// they are.
fn model_key(key: &str) -> String {
    match key.strip_prefix('$') {
        Some(rest) if rest.starts_with('$') => rest.to_owned(),
        _ => key.to_owned(),
    }
}

/// A model value from JSON: `{"$date": ms}` (an object with that single whole-number property)
/// is a date.
pub fn json_value(json: &Json) -> Result<Value> {
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Int(n) => Value::Number(*n as f64),
        Json::Float(n) if n.is_finite() => Value::Number(*n),
        Json::Float(_) => return Err(tandem_core::ModelError::NonFiniteNumber.into()),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(json_value).collect::<Result<_>>()?),
        Json::Object(props) => match props.as_slice() {
            [(key, Json::Int(ms))] if key == DATE_KEY => Value::Date(*ms),
            _ => Value::Object(
                props
                    .iter()
                    .map(|(k, v)| Ok((model_key(k), json_value(v)?)))
                    .collect::<Result<_>>()?,
            ),
        },
    })
}

fn write_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so both ends are character boundaries.
        out.push_str(s.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Whole numbers within JavaScript's exact range are written as integers; others as
/// JavaScript writes them; non-finite ones (which JSON lacks) as `null`, as `JSON.stringify`
/// does.
fn write_float(n: f64, out: &mut String) {
    if !n.is_finite() {
        out.push_str("null");
    } else if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        Json::Int(n as i64).write(out);
    } else {
        out.push_str(&number_text(n));
    }
}

#[cfg(target_arch = "wasm32")]
mod js {
    use wasm_bindgen::prelude::wasm_bindgen;

    #[wasm_bindgen]
    extern "C" {
        /// JavaScript's `parseFloat`: exact, and nothing to add to the module.
        #[wasm_bindgen(js_name = parseFloat)]
        pub fn parse_float(text: &str) -> f64;
        /// JavaScript's `String(number)`: the shortest text that reads back the same.
        #[wasm_bindgen(js_name = String)]
        pub fn number_text(n: f64) -> String;
    }
}

#[cfg(target_arch = "wasm32")]
use js::{number_text, parse_float};

#[cfg(not(target_arch = "wasm32"))]
fn parse_float(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

#[cfg(not(target_arch = "wasm32"))]
fn number_text(n: f64) -> String {
    format!("{n:?}")
}

/// A recursive-descent reader over JSON text.
struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Reader<'_> {
    fn error(&self, what: &str) -> EngineError {
        EngineError::invalid(format!("not JSON: {what} at {}", self.pos))
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error("unexpected character"))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn value(&mut self) -> Result<Json> {
        match self.peek() {
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(open @ (b'[' | b'{')) => {
                if self.depth >= MAX_DEPTH {
                    return Err(self.error("too deeply nested"));
                }
                self.depth += 1;
                self.pos += 1;
                let value = if open == b'[' {
                    self.array()
                } else {
                    self.object()
                };
                self.depth -= 1;
                value
            }
            _ => Err(self.error("expected value")),
        }
    }

    fn array(&mut self) -> Result<Json> {
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self) -> Result<Json> {
        let mut object = Json::Object(Vec::new());
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(object);
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key"));
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value()?;
            // A repeated key keeps its place and takes the last value, as in JavaScript.
            object.insert(&key, value);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(object);
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn number(&mut self) -> Result<Json> {
        let start = self.pos;
        let digits = |r: &mut Self| {
            let from = r.pos;
            while r.bytes.get(r.pos).is_some_and(u8::is_ascii_digit) {
                r.pos += 1;
            }
            r.pos - from
        };
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        let leading_zero = self.bytes.get(self.pos) == Some(&b'0');
        let whole = digits(self);
        if whole == 0 || (leading_zero && whole > 1) {
            return Err(self.error("invalid number"));
        }
        let mut integral = true;
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            integral = false;
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            integral = false;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        let text = self.text.get(start..self.pos).unwrap_or_default();
        if integral {
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Json::Int(n));
            }
        }
        Ok(Json::Float(parse_float(text)))
    }

    fn hex4(&mut self) -> Result<u32> {
        let hex = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("unexpected end of hex escape"))?;
        let mut n = 0;
        for &b in hex {
            let digit = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid escape"))?;
            n = n * 16 + digit;
        }
        self.pos += 4;
        Ok(n)
    }

    fn string(&mut self) -> Result<String> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        let mut start = self.pos;
        loop {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(self.error("unterminated string"));
            };
            match byte {
                b'"' => {
                    out.push_str(self.text.get(start..self.pos).unwrap_or_default());
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(self.text.get(start..self.pos).unwrap_or_default());
                    self.pos += 1;
                    let escape = self.bytes.get(self.pos).copied();
                    self.pos += 1;
                    match escape {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => out.push(self.unicode_escape()?),
                        _ => return Err(self.error("invalid escape")),
                    }
                    start = self.pos;
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => self.pos += 1,
            }
        }
    }

    /// The character of a `\uXXXX` escape (two of them for a surrogate pair).
    fn unicode_escape(&mut self) -> Result<char> {
        let first = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&first) {
            if !self.bytes[self.pos..].starts_with(b"\\u") {
                return Err(self.error("lone surrogate"));
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xdc00..0xe000).contains(&second) {
                return Err(self.error("lone surrogate"));
            }
            0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("lone surrogate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        Json::parse(text).expect(text).to_string()
    }

    #[test]
    fn reads_and_writes_what_json_stringify_writes() {
        for text in [
            "null",
            "true",
            "[1,-2,0.5,1e-7,123456789012345678,\"a\\\"b\\\\c\\n\\u0001é😀\"]",
            "{\"b\":1,\"a\":[],\"c\":{}}",
            "-0.25",
        ] {
            let expected: serde_json::Value = serde_json::from_str(text).expect(text);
            let ours: serde_json::Value = serde_json::from_str(&round_trip(text)).expect(text);
            assert_eq!(ours, expected, "{text}");
        }
        assert_eq!(round_trip(" { \"a\" : [ 1 , 2 ] } "), "{\"a\":[1,2]}");
        assert_eq!(round_trip("\"\\ud83d\\ude00\""), "\"😀\"");
        assert_eq!(round_trip("{\"a\":1,\"a\":2}"), "{\"a\":2}");
    }

    #[test]
    fn data_shaped_like_a_date_marker_round_trips_as_data() {
        let text = r#"{"when":{"$date":5},"plain":{"$$date":5},"$$$x":{"$$a":1,"b":2}}"#;
        let value = json_value(&Json::parse(text).unwrap()).unwrap();
        let Value::Object(props) = &value else {
            panic!("an object")
        };
        assert_eq!(props[0], ("when".into(), Value::Date(5)));
        assert_eq!(
            props[1],
            (
                "plain".into(),
                Value::Object(vec![("$date".into(), Value::Number(5.0))])
            )
        );
        assert_eq!(props[2].0, "$$x");
        assert_eq!(value_json(&value).to_string(), text);
        // A `$`-key from a writer that does not escape is taken as it is.
        let lax = json_value(&Json::parse(r#"{"$x":1}"#).unwrap()).unwrap();
        assert_eq!(lax, Value::Object(vec![("$x".into(), Value::Number(1.0))]));
    }

    #[test]
    fn rejects_what_is_not_json() {
        for text in [
            "",
            "nul",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "-",
            "1e",
            "\"\\x\"",
            "\"a",
            "[1] 2",
            "\"\\ud800\"",
            "{1:2}",
            "\"\u{1}\"",
        ] {
            assert!(Json::parse(text).is_err(), "{text:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(Json::parse(&deep).is_err());
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Json::parse(&fine).is_ok());
    }

    #[test]
    fn model_values_convert_both_ways_with_dates() {
        let text = "{\"when\":{\"$date\":-5},\"n\":2.5,\"whole\":3,\"list\":[null,true,\"x\"]}";
        let value = json_value(&Json::parse(text).unwrap()).unwrap();
        assert_eq!(
            value,
            Value::from_json(&serde_json::from_str(text).unwrap()).unwrap()
        );
        assert_eq!(value_json(&value).to_string(), text);
        assert!(json_value(&Json::parse("1e400").unwrap()).is_err());
    }
}
