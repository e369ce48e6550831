//! A small seeded random-number generator for the simulations, fuzz-style tests and benches,
//! so that every failure reproduces from its seed without pulling in a RNG crate.

/// SplitMix64: fast, statistically decent, fully determined by its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

use crate::id::{ElementId, IdGenerator};
use crate::model::Model;
use crate::op::Op;
use crate::reference::{ReferenceKey, ReferenceValue};
use crate::value::{ElementKind, Value};

/// Text pieces for random edits, some outside the BMP so that surrogate pairs are exercised.
const PIECES: &[&str] = &["a", "bc", "déf", "😀", "x😎y", " ", "\n", "ghij"];

/// A small random value of any type, nested at most `depth` levels.
pub fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(0.5)),
        2 => Value::Number(rng.below(100) as f64 - 50.0),
        3 => Value::Date(rng.below(1_000_000) as i64),
        4 => Value::String(rng.pick(PIECES).to_string()),
        5 => Value::Array(
            (0..rng.below(3))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(3))
                .map(|i| (format!("k{i}"), random_value(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// The UTF-16 offsets of `text` where an edit may start or end (not inside a surrogate pair).
pub fn utf16_boundaries(text: &str) -> Vec<usize> {
    let mut out = vec![0];
    let mut at = 0;
    for c in text.chars() {
        at += c.len_utf16();
        out.push(at);
    }
    out
}

/// A random element of the model, `None` for an empty model.
pub fn random_element(model: &Model, rng: &mut Rng) -> ElementId {
    let mut ids: Vec<ElementId> = model.element_ids().collect();
    ids.sort();
    *rng.pick(&ids)
}

/// A random valid primitive operation on `model`; sets of whole containers are rare, so that
/// documents keep growing. `None` when the chosen element admits nothing (rare).
pub fn random_primitive(model: &Model, rng: &mut Rng, ids: &mut IdGenerator) -> Option<Op> {
    let id = random_element(model, rng);
    let rare = rng.chance(0.03);
    Some(match model.kind(id)? {
        ElementKind::String => {
            let text = model.string(id)?.to_string();
            let bounds = utf16_boundaries(&text);
            let start = rng.below(bounds.len());
            let end = start + rng.below(bounds.len() - start);
            let (index, remove) = (bounds[start], bounds[end] - bounds[start]);
            let piece = rng.pick(PIECES).to_string();
            match rng.below(4) {
                _ if rare => Op::StringSet { id, value: piece },
                0 | 1 => Op::StringInsert {
                    id,
                    index,
                    text: piece,
                },
                2 if remove > 0 => Op::StringRemove {
                    id,
                    index,
                    len: remove,
                },
                _ => Op::StringSplice {
                    id,
                    index,
                    remove,
                    text: piece,
                },
            }
        }
        ElementKind::Array => {
            let len = model.array_items(id)?.len();
            if rare {
                let items = (0..rng.below(3))
                    .map(|_| random_value(rng, 1).into_node(ids))
                    .collect();
                return Some(Op::ArraySet { id, value: items });
            }
            match rng.below(5) {
                _ if len == 0 => Op::ArrayInsert {
                    id,
                    index: 0,
                    value: random_value(rng, 2).into_node(ids),
                },
                0 | 1 => Op::ArrayInsert {
                    id,
                    index: rng.below(len + 1),
                    value: random_value(rng, 2).into_node(ids),
                },
                2 => Op::ArrayRemove {
                    id,
                    index: rng.below(len),
                },
                3 => Op::ArrayReplace {
                    id,
                    index: rng.below(len),
                    value: random_value(rng, 2).into_node(ids),
                },
                _ => Op::ArrayMove {
                    id,
                    from: rng.below(len),
                    to: rng.below(len),
                },
            }
        }
        ElementKind::Object => {
            let keys: Vec<String> = model.object_props(id)?.map(|(k, _)| k.to_owned()).collect();
            if rare {
                let props = vec![("fresh".to_string(), random_value(rng, 1).into_node(ids))];
                return Some(Op::ObjectSetAll { id, value: props });
            }
            let key = format!("p{}", rng.below(6));
            match rng.below(3) {
                _ if !keys.contains(&key) => Op::ObjectAdd {
                    id,
                    key,
                    value: random_value(rng, 2).into_node(ids),
                    before: vec![],
                },
                0 | 1 if !keys.is_empty() => Op::ObjectSet {
                    id,
                    key: rng.pick(&keys).clone(),
                    value: random_value(rng, 2).into_node(ids),
                },
                _ => Op::ObjectRemove {
                    id,
                    key: rng.pick(&keys).clone(),
                },
            }
        }
        ElementKind::Number => match rng.below(3) {
            0 => Op::NumberSet {
                id,
                value: rng.below(10) as f64,
            },
            _ => Op::NumberAdd {
                id,
                delta: rng.below(5) as f64 + 1.0,
            },
        },
        ElementKind::Boolean => Op::BooleanSet {
            id,
            value: rng.chance(0.5),
        },
        ElementKind::Date => Op::DateSet {
            id,
            value: rng.below(1000) as i64,
        },
        ElementKind::Null => return None,
    })
}

/// A random valid operation: usually a primitive, sometimes a compound of up to three built one
/// after another on a scratch copy.
pub fn random_op(model: &Model, rng: &mut Rng, ids: &mut IdGenerator) -> Option<Op> {
    if !rng.chance(0.15) {
        return random_primitive(model, rng, ids);
    }
    let mut scratch = model.clone();
    let mut ops = Vec::new();
    for _ in 0..rng.below(3) + 1 {
        if let Some(op) = random_primitive(&scratch, rng, ids) {
            if scratch.apply(&op).is_ok() {
                ops.push(op);
            }
        }
    }
    Some(Op::Compound(ops))
}

/// A random reference on `model`: a cursor or selection on a string, elements, or properties
/// of an object. Returns its key and value.
pub fn random_reference(model: &Model, rng: &mut Rng) -> Option<(ReferenceKey, ReferenceValue)> {
    let id = random_element(model, rng);
    match (rng.below(3), model.kind(id)?) {
        (0, ElementKind::String) => {
            let bounds = utf16_boundaries(&model.string(id)?.to_string());
            let key = ReferenceKey {
                element: Some(id),
                key: "cursor".into(),
            };
            Some((key, ReferenceValue::Index(vec![*rng.pick(&bounds)])))
        }
        (1, ElementKind::String) => {
            let bounds = utf16_boundaries(&model.string(id)?.to_string());
            let key = ReferenceKey {
                element: Some(id),
                key: "selection".into(),
            };
            let ranges = vec![(*rng.pick(&bounds), *rng.pick(&bounds)); rng.below(2) + 1];
            Some((key, ReferenceValue::Range(ranges)))
        }
        (_, ElementKind::Object) => {
            let keys: Vec<String> = model.object_props(id)?.map(|(k, _)| k.to_owned()).collect();
            let key = ReferenceKey {
                element: Some(id),
                key: "props".into(),
            };
            let picked = keys.into_iter().filter(|_| rng.chance(0.5)).collect();
            Some((key, ReferenceValue::Property(picked)))
        }
        _ => {
            let key = ReferenceKey {
                element: None,
                key: "focus".into(),
            };
            Some((key, ReferenceValue::Element(vec![id])))
        }
    }
}

/// The document the apply fuzzers edit: small, with every element type, and ids (site 1,
/// counters 1 to 17) that random bytes hit easily.
pub fn fuzz_model() -> Model {
    let json = serde_json::json!({
        "t": "héllo 😀 wörld", "n": 1.5, "b": true, "d": {"$date": 5},
        "a": [1, "x", {"k": [null, "y"]}], "o": {"p": "q", "r": [2, 3]}, "z": null
    });
    Model::from_value(
        Value::from_json(&json).expect("valid JSON"),
        &mut IdGenerator::new(1),
    )
    .expect("valid model")
}

/// The property both apply fuzzers check: decoding arbitrary bytes as an operation and applying
/// it never panics; a refused operation leaves the model untouched; an accepted one is undone
/// exactly by its inverse.
pub fn check_apply_bytes(data: &[u8]) {
    let limits = crate::protocol::Limits::default();
    let Ok(op) = crate::protocol::decode_frame::<Op>(data, &limits) else {
        return;
    };
    check_apply(&fuzz_model(), &op);
}

/// Applies `op` to a copy of `model` and checks all-or-nothing and the inverse.
pub fn check_apply(model: &Model, op: &Op) {
    let mut edited = model.clone();
    match edited.apply_with_inverse(op) {
        Err(_) => assert_eq!(
            &edited, model,
            "a refused operation changed the model: {op:?}"
        ),
        Ok(inverse) => {
            edited
                .apply(&inverse)
                .unwrap_or_else(|e| panic!("inverse of {op:?} refused: {e}"));
            assert_eq!(
                edited.to_node(),
                model.to_node(),
                "inverse of {op:?} did not restore"
            );
        }
    }
}

/// A random operation that may well be invalid: any type on any element (or a missing one),
/// indices around and past the ends, surrogate-splitting positions, non-finite numbers,
/// reused ids. For checking that application refuses cleanly.
pub fn random_wild_op(model: &Model, rng: &mut Rng) -> Op {
    let mut ids: Vec<ElementId> = model.element_ids().collect();
    ids.sort();
    ids.push(ElementId::new(77, 77));
    let id = *rng.pick(&ids);
    let index = rng.below(20);
    let len = rng.below(6);
    let reuse = rng.chance(0.2);
    let mut fresh = IdGenerator::new(1000 + rng.below(1000) as u64);
    let mut node = |rng: &mut Rng| {
        let mut n = random_value(rng, 2).into_node(&mut fresh);
        if reuse {
            n.id = *rng.pick(&ids);
        }
        n
    };
    let number = *rng.pick(&[1.0, -2.5, f64::NAN, f64::INFINITY, f64::MAX]);
    let key = rng.pick(&["t", "p", "k", "new", ""]).to_string();
    let text = rng.pick(PIECES).to_string();
    match rng.below(18) {
        0 => Op::StringInsert { id, index, text },
        1 => Op::StringRemove { id, index, len },
        2 => Op::StringSplice {
            id,
            index,
            remove: len,
            text,
        },
        3 => Op::StringSet { id, value: text },
        4 => Op::ArrayInsert {
            id,
            index,
            value: node(rng),
        },
        5 => Op::ArrayRemove { id, index },
        6 => Op::ArrayReplace {
            id,
            index,
            value: node(rng),
        },
        7 => Op::ArrayMove {
            id,
            from: index,
            to: len,
        },
        8 => Op::ArraySet {
            id,
            value: vec![node(rng), node(rng)],
        },
        9 => Op::ObjectAdd {
            id,
            key,
            value: node(rng),
            before: vec!["p".into()],
        },
        10 => Op::ObjectSet {
            id,
            key,
            value: node(rng),
        },
        11 => Op::ObjectRemove { id, key },
        12 => Op::ObjectSetAll {
            id,
            value: vec![(key.clone(), node(rng)), (key, node(rng))],
        },
        13 => Op::NumberAdd { id, delta: number },
        14 => Op::NumberSet { id, value: number },
        15 => Op::BooleanSet {
            id,
            value: rng.chance(0.5),
        },
        16 => Op::DateSet {
            id,
            value: index as i64,
        },
        _ => Op::Compound(
            (0..rng.below(4))
                .map(|_| random_wild_op(model, rng))
                .collect(),
        ),
    }
}

/// The id of the string in [`text_model`].
pub const TEXT: ElementId = ElementId::new(1, 2);

/// A model `{"t": text}` whose string has the id [`TEXT`]: the fixture of the state-machine
/// tests.
pub fn text_model(text: &str) -> Model {
    let value = Value::Object(vec![("t".into(), Value::String(text.into()))]);
    Model::from_value(value, &mut IdGenerator::new(1)).expect("valid model")
}

/// Inserts `text` at `index` of [`TEXT`].
pub fn insert(index: usize, text: &str) -> Op {
    Op::StringInsert {
        id: TEXT,
        index,
        text: text.into(),
    }
}
