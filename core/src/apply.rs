//! Applying operations to a model: validate first, then change, or refuse and change nothing.

use crate::error::ModelError;
use crate::id::ElementId;
use crate::model::{Data, Model};
use crate::op::Op;
use crate::rope::{utf16_len, Utf16Rope};
use crate::value::{ElementKind, Node};

impl Model {
    /// Applies `op`. On error the model is unchanged. An operation whose target is no longer in
    /// the tree does nothing.
    pub fn apply(&mut self, op: &Op) -> Result<(), ModelError> {
        match op {
            Op::Compound(_) => self.apply_with_inverse(op).map(drop),
            _ => self.apply_primitive(op, false).map(drop),
        }
    }

    /// Applies `op` and returns the operation that undoes it (the old value, the removed text),
    /// for history played backwards and for undo. On error the model is unchanged.
    pub fn apply_with_inverse(&mut self, op: &Op) -> Result<Op, ModelError> {
        match op {
            Op::Compound(ops) => {
                let mut inverses: Vec<Op> = Vec::with_capacity(ops.len());
                for inner in ops {
                    match self.apply_with_inverse(inner) {
                        Ok(inverse) => inverses.push(inverse),
                        Err(err) => {
                            // All or nothing: undo what this batch already did.
                            for inverse in inverses.iter().rev() {
                                let undone = self.apply_with_inverse(inverse);
                                debug_assert!(undone.is_ok(), "inverse failed: {undone:?}");
                            }
                            return Err(err);
                        }
                    }
                }
                inverses.reverse();
                Ok(Op::Compound(inverses))
            }
            _ => Ok(self.apply_primitive(op, true)?.unwrap_or_else(Op::noop)),
        }
    }

    /// Applies one primitive operation; returns its inverse when `want_inverse`.
    fn apply_primitive(&mut self, op: &Op, want_inverse: bool) -> Result<Option<Op>, ModelError> {
        let Some(id) = op.target() else {
            return Ok(None);
        };
        let Some(element) = self.elements.get_mut(&id) else {
            // The target left the tree through a concurrent operation: a no-op.
            return Ok(Some(Op::noop()));
        };
        let is_string_op = matches!(
            op,
            Op::StringInsert { .. }
                | Op::StringRemove { .. }
                | Op::StringSplice { .. }
                | Op::StringSet { .. }
        );
        if let (Data::String(rope), true) = (&mut element.data, is_string_op) {
            // Typing: one look-up, straight to the rope.
            return string_edit(rope, id, op, want_inverse);
        }
        let actual = element.data.kind();
        let expect = |expected: ElementKind| {
            if actual == expected {
                Ok(())
            } else {
                Err(ModelError::WrongType {
                    id,
                    expected,
                    actual,
                })
            }
        };
        match op {
            Op::StringInsert { .. }
            | Op::StringRemove { .. }
            | Op::StringSplice { .. }
            | Op::StringSet { .. } => {
                // Strings were handled above: the element is of another type.
                expect(ElementKind::String).map(|_| None)
            }
            Op::ArrayInsert { index, value, .. } => {
                expect(ElementKind::Array)?;
                let len = self.items(id).len();
                check_index(*index, len + 1)?;
                self.check_subtree(value, self.depth_of(id) + 1)?;
                let child = self.insert_subtree(value.clone(), Some(id));
                self.items_mut(id).insert(*index, child);
                Ok(want_inverse.then_some(Op::ArrayRemove { id, index: *index }))
            }
            Op::ArrayRemove { index, .. } => {
                expect(ElementKind::Array)?;
                check_index(*index, self.items(id).len())?;
                let child = self.items_mut(id).remove(*index);
                let old = self.detach(child, want_inverse);
                Ok(old.map(|value| Op::ArrayInsert {
                    id,
                    index: *index,
                    value,
                }))
            }
            Op::ArrayReplace { index, value, .. } => {
                expect(ElementKind::Array)?;
                check_index(*index, self.items(id).len())?;
                self.check_subtree(value, self.depth_of(id) + 1)?;
                let new_child = self.insert_subtree(value.clone(), Some(id));
                let old_child = std::mem::replace(&mut self.items_mut(id)[*index], new_child);
                let old = self.detach(old_child, want_inverse);
                Ok(old.map(|value| Op::ArrayReplace {
                    id,
                    index: *index,
                    value,
                }))
            }
            Op::ArrayMove { from, to, .. } => {
                expect(ElementKind::Array)?;
                let len = self.items(id).len();
                check_index(*from, len)?;
                check_index(*to, len)?;
                let items = self.items_mut(id);
                let child = items.remove(*from);
                items.insert(*to, child);
                Ok(want_inverse.then_some(Op::ArrayMove {
                    id,
                    from: *to,
                    to: *from,
                }))
            }
            Op::ArraySet { value, .. } => {
                expect(ElementKind::Array)?;
                self.check_children(value.iter(), id)?;
                let new: Vec<ElementId> = value
                    .iter()
                    .map(|n| self.insert_subtree(n.clone(), Some(id)))
                    .collect();
                let old_items = std::mem::replace(self.items_mut(id), new);
                let old: Vec<Option<Node>> = old_items
                    .into_iter()
                    .map(|c| self.detach(c, want_inverse))
                    .collect();
                Ok(want_inverse.then(|| Op::ArraySet {
                    id,
                    value: old.into_iter().flatten().collect(),
                }))
            }
            Op::ObjectAdd {
                key, value, before, ..
            } => {
                expect(ElementKind::Object)?;
                let props = self.props(id);
                if props.contains_key(key) {
                    return Err(ModelError::PropertyExists { key: key.clone() });
                }
                let position = before.iter().find_map(|k| props.get_index_of(k));
                self.check_subtree(value, self.depth_of(id) + 1)?;
                let child = self.insert_subtree(value.clone(), Some(id));
                let props = self.props_mut(id);
                match position {
                    Some(p) => {
                        props.shift_insert(p, key.clone(), child);
                    }
                    None => {
                        props.insert(key.clone(), child);
                    }
                }
                Ok(want_inverse.then(|| Op::ObjectRemove {
                    id,
                    key: key.clone(),
                }))
            }
            Op::ObjectSet { key, value, .. } => {
                expect(ElementKind::Object)?;
                if !self.props(id).contains_key(key) {
                    return Err(ModelError::NoSuchProperty { key: key.clone() });
                }
                self.check_subtree(value, self.depth_of(id) + 1)?;
                let new_child = self.insert_subtree(value.clone(), Some(id));
                let slot = self.props_mut(id).get_mut(key).expect("checked above");
                let old_child = std::mem::replace(slot, new_child);
                let old = self.detach(old_child, want_inverse);
                Ok(old.map(|value| Op::ObjectSet {
                    id,
                    key: key.clone(),
                    value,
                }))
            }
            Op::ObjectRemove { key, .. } => {
                expect(ElementKind::Object)?;
                let props = self.props_mut(id);
                let Some(position) = props.get_index_of(key) else {
                    return Err(ModelError::NoSuchProperty { key: key.clone() });
                };
                let next_key = props.get_index(position + 1).map(|(k, _)| k.clone());
                let (_, child) = props
                    .shift_remove_index(position)
                    .expect("index found above");
                let old = self.detach(child, want_inverse);
                Ok(old.map(|value| Op::ObjectAdd {
                    id,
                    key: key.clone(),
                    value,
                    before: next_key.into_iter().collect(),
                }))
            }
            Op::ObjectSetAll { value, .. } => {
                expect(ElementKind::Object)?;
                let mut keys = crate::maps::FastSet::default();
                if let Some((k, _)) = value.iter().find(|(k, _)| !keys.insert(k.as_str())) {
                    return Err(ModelError::PropertyExists { key: k.clone() });
                }
                self.check_children(value.iter().map(|(_, n)| n), id)?;
                let new = value
                    .iter()
                    .map(|(k, n)| (k.clone(), self.insert_subtree(n.clone(), Some(id))))
                    .collect();
                let old_props = std::mem::replace(self.props_mut(id), new);
                let old: Vec<(String, Option<Node>)> = old_props
                    .into_iter()
                    .map(|(k, c)| (k, self.detach(c, want_inverse)))
                    .collect();
                Ok(want_inverse.then(|| Op::ObjectSetAll {
                    id,
                    value: old.into_iter().filter_map(|(k, n)| Some((k, n?))).collect(),
                }))
            }
            Op::NumberAdd { delta, .. } => {
                expect(ElementKind::Number)?;
                let Data::Number(n) = &mut self.data_mut(id) else {
                    unreachable!()
                };
                let sum = *n + *delta;
                if !delta.is_finite() || !sum.is_finite() {
                    return Err(ModelError::NonFiniteNumber);
                }
                let old = std::mem::replace(n, sum);
                // Subtracting again commutes with concurrent additions (what undo wants), but
                // floating point may not give the old value back; then restore it exactly.
                let inverse = if sum - *delta == old {
                    Op::NumberAdd { id, delta: -*delta }
                } else {
                    Op::NumberSet { id, value: old }
                };
                Ok(want_inverse.then_some(inverse))
            }
            Op::NumberSet { value, .. } => {
                expect(ElementKind::Number)?;
                if !value.is_finite() {
                    return Err(ModelError::NonFiniteNumber);
                }
                let Data::Number(n) = &mut self.data_mut(id) else {
                    unreachable!()
                };
                let old = std::mem::replace(n, *value);
                Ok(want_inverse.then_some(Op::NumberSet { id, value: old }))
            }
            Op::BooleanSet { value, .. } => {
                expect(ElementKind::Boolean)?;
                let Data::Bool(b) = &mut self.data_mut(id) else {
                    unreachable!()
                };
                let old = std::mem::replace(b, *value);
                Ok(want_inverse.then_some(Op::BooleanSet { id, value: old }))
            }
            Op::DateSet { value, .. } => {
                expect(ElementKind::Date)?;
                let Data::Date(d) = &mut self.data_mut(id) else {
                    unreachable!()
                };
                let old = std::mem::replace(d, *value);
                Ok(want_inverse.then_some(Op::DateSet { id, value: old }))
            }
            Op::Compound(_) => unreachable!("compounds are handled by the caller"),
        }
    }

    /// Checks new children of `parent` together: each valid, and no id used twice among them.
    fn check_children<'a>(
        &self,
        children: impl Iterator<Item = &'a Node>,
        parent: ElementId,
    ) -> Result<(), ModelError> {
        let depth = self.depth_of(parent) + 1;
        let mut seen = crate::maps::FastSet::default();
        for child in children {
            self.check_subtree(child, depth)?;
            let mut dup = None;
            child.for_each(&mut |n| {
                if !seen.insert(n.id) {
                    dup = Some(n.id);
                }
            });
            if let Some(id) = dup {
                return Err(ModelError::DuplicateId(id));
            }
        }
        Ok(())
    }

    /// Drops the subtree at `child` (already unlinked), returning it when asked for.
    fn detach(&mut self, child: ElementId, keep: bool) -> Option<Node> {
        let node = if keep { self.node_of(child) } else { None };
        self.remove_subtree(child);
        node
    }

    fn data_mut(&mut self, id: ElementId) -> &mut Data {
        &mut self
            .elements
            .get_mut(&id)
            .expect("target checked by caller")
            .data
    }

    fn items(&self, id: ElementId) -> &Vec<ElementId> {
        match &self.elements[&id].data {
            Data::Array(items) => items,
            _ => unreachable!("type checked by caller"),
        }
    }

    fn items_mut(&mut self, id: ElementId) -> &mut Vec<ElementId> {
        match self.data_mut(id) {
            Data::Array(items) => items,
            _ => unreachable!("type checked by caller"),
        }
    }

    fn props(&self, id: ElementId) -> &crate::model::Props {
        match &self.elements[&id].data {
            Data::Object(props) => props,
            _ => unreachable!("type checked by caller"),
        }
    }

    fn props_mut(&mut self, id: ElementId) -> &mut crate::model::Props {
        match self.data_mut(id) {
            Data::Object(props) => props,
            _ => unreachable!("type checked by caller"),
        }
    }
}

/// Applies a string operation to its rope; returns the inverse when asked for. The hot path of
/// typing: no copies of the text unless an inverse is wanted.
fn string_edit(
    rope: &mut Utf16Rope,
    id: ElementId,
    op: &Op,
    want_inverse: bool,
) -> Result<Option<Op>, ModelError> {
    match op {
        Op::StringInsert { index, text, .. } => {
            rope.insert(*index, text)?;
            Ok(want_inverse.then(|| Op::StringRemove {
                id,
                index: *index,
                len: utf16_len(text),
            }))
        }
        Op::StringRemove { index, len, .. } if want_inverse => {
            let text = rope.remove(*index, *len)?;
            Ok(Some(Op::StringInsert {
                id,
                index: *index,
                text,
            }))
        }
        Op::StringRemove { index, len, .. } => rope.remove_discard(*index, *len).map(|_| None),
        Op::StringSplice {
            index,
            remove,
            text,
            ..
        } => {
            let removed = if want_inverse {
                Some(rope.remove(*index, *remove)?)
            } else {
                rope.remove_discard(*index, *remove)?;
                None
            };
            rope.insert(*index, text)?;
            Ok(removed.map(|removed| Op::StringSplice {
                id,
                index: *index,
                remove: utf16_len(text),
                text: removed,
            }))
        }
        Op::StringSet { value, .. } => {
            let old = want_inverse.then(|| rope.to_string());
            rope.set(value);
            Ok(old.map(|value| Op::StringSet { id, value }))
        }
        _ => unreachable!("only string operations are passed"),
    }
}

fn check_index(index: usize, len: usize) -> Result<(), ModelError> {
    if index < len {
        Ok(())
    } else {
        Err(ModelError::IndexOutOfRange { index, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::IdGenerator;
    use crate::testing::{random_op, Rng};
    use crate::value::{NodeValue, Value};
    use serde_json::json;

    fn model(json: serde_json::Value) -> Model {
        Model::from_value(Value::from_json(&json).unwrap(), &mut IdGenerator::new(1)).unwrap()
    }

    fn at(m: &Model, path: &[crate::model::PathSegment]) -> ElementId {
        m.element_at(path).unwrap()
    }

    #[test]
    fn every_random_operation_is_undone_by_its_inverse() {
        let mut rng = Rng::new(3);
        let mut ids = IdGenerator::new(50);
        let mut m =
            model(json!({"t": "héllo 😀", "a": [1, {"x": "y"}, [true]], "n": 2, "o": {"k": null}}));
        for _ in 0..5000 {
            let Some(op) = random_op(&m, &mut rng, &mut ids) else {
                continue;
            };
            let before = m.clone();
            let inverse = m
                .apply_with_inverse(&op)
                .unwrap_or_else(|e| panic!("{op:?}: {e}"));
            let after = m.clone();
            m.apply(&inverse)
                .unwrap_or_else(|e| panic!("inverse {inverse:?} of {op:?}: {e}"));
            assert_eq!(m.to_node(), before.to_node(), "inverse of {op:?}");
            m = after;
        }
    }

    #[test]
    fn a_failing_batch_changes_nothing() {
        let mut m = model(json!({"t": "abc", "n": 1, "a": [1, 2]}));
        let (t, n, a) = (
            at(&m, &["t".into()]),
            at(&m, &["n".into()]),
            at(&m, &["a".into()]),
        );
        let before = m.clone();
        let batch = Op::Compound(vec![
            Op::StringInsert {
                id: t,
                index: 1,
                text: "x".into(),
            },
            Op::NumberAdd { id: n, delta: 5.0 },
            Op::ArrayRemove { id: a, index: 0 },
            Op::ArrayRemove { id: a, index: 7 },
        ]);
        assert_eq!(
            m.apply(&batch),
            Err(ModelError::IndexOutOfRange { index: 7, len: 1 })
        );
        assert_eq!(m, before);
    }

    #[test]
    fn invalid_operations_are_refused_with_typed_errors() {
        let mut m = model(json!({"t": "a😀", "n": 1, "a": [1], "o": {"k": 1}}));
        let (t, n, a, o) = (
            at(&m, &["t".into()]),
            at(&m, &["n".into()]),
            at(&m, &["a".into()]),
            at(&m, &["o".into()]),
        );
        let before = m.clone();
        let node = |c| Node::new(ElementId::new(9, c), NodeValue::Null);
        let cases = [
            (Op::NumberAdd { id: t, delta: 1.0 }, "wrong_type"),
            (
                Op::StringInsert {
                    id: t,
                    index: 4,
                    text: "x".into(),
                },
                "index_out_of_range",
            ),
            (
                Op::StringInsert {
                    id: t,
                    index: 2,
                    text: "x".into(),
                },
                "splits_surrogate_pair",
            ),
            (
                Op::StringRemove {
                    id: t,
                    index: 0,
                    len: 2,
                },
                "splits_surrogate_pair",
            ),
            (
                Op::NumberAdd {
                    id: n,
                    delta: f64::INFINITY,
                },
                "non_finite_number",
            ),
            (
                Op::NumberAdd {
                    id: n,
                    delta: f64::MAX,
                },
                "ok",
            ),
            (
                Op::NumberSet {
                    id: n,
                    value: f64::NAN,
                },
                "non_finite_number",
            ),
            (
                Op::ArrayInsert {
                    id: a,
                    index: 2,
                    value: node(1),
                },
                "index_out_of_range",
            ),
            (
                Op::ArrayInsert {
                    id: a,
                    index: 0,
                    value: Node::new(t, NodeValue::Null),
                },
                "duplicate_id",
            ),
            (
                Op::ArrayMove {
                    id: a,
                    from: 0,
                    to: 1,
                },
                "index_out_of_range",
            ),
            (
                Op::ObjectAdd {
                    id: o,
                    key: "k".into(),
                    value: node(2),
                    before: vec![],
                },
                "property_exists",
            ),
            (
                Op::ObjectSet {
                    id: o,
                    key: "z".into(),
                    value: node(3),
                },
                "no_such_property",
            ),
            (
                Op::ObjectRemove {
                    id: o,
                    key: "z".into(),
                },
                "no_such_property",
            ),
            (
                Op::ObjectSetAll {
                    id: o,
                    value: vec![("d".into(), node(4)), ("d".into(), node(5))],
                },
                "property_exists",
            ),
        ];
        for (op, code) in cases {
            let mut copy = before.clone();
            match copy.apply(&op) {
                Err(e) => {
                    assert_eq!(e.code(), code, "{op:?}");
                    assert_eq!(copy, before, "{op:?} changed the model");
                }
                Ok(()) => assert_eq!(code, "ok", "{op:?} was accepted"),
            }
        }
        // f64::MAX + 1 is finite, f64::MAX twice is not.
        m.apply(&Op::NumberSet {
            id: n,
            value: f64::MAX,
        })
        .unwrap();
        assert_eq!(
            m.apply(&Op::NumberAdd {
                id: n,
                delta: f64::MAX
            }),
            Err(ModelError::NonFiniteNumber)
        );
    }

    #[test]
    fn operations_on_detached_elements_are_no_ops() {
        let mut m = model(json!({"a": [{"s": "text"}]}));
        let a = at(&m, &["a".into()]);
        let s = at(&m, &["a".into(), 0.into(), "s".into()]);
        m.apply(&Op::ArrayRemove { id: a, index: 0 }).unwrap();
        let before = m.clone();
        let inverse = m.apply_with_inverse(&Op::StringInsert {
            id: s,
            index: 99,
            text: "x".into(),
        });
        assert_eq!(inverse, Ok(Op::noop()));
        assert_eq!(m, before);
    }

    #[test]
    fn inserted_subtrees_keep_their_ids_and_nesting_is_bounded() {
        let mut m = model(json!({"a": []}));
        let a = at(&m, &["a".into()]);
        let mut ids = IdGenerator::new(7);
        let value = Value::from_json(&json!({"deep": ["x"]}))
            .unwrap()
            .into_node(&mut ids);
        let inner = match &value.value {
            NodeValue::Object(props) => props[0].1.id,
            _ => unreachable!(),
        };
        m.apply(&Op::ArrayInsert {
            id: a,
            index: 0,
            value,
        })
        .unwrap();
        assert_eq!(
            m.path_of(inner).unwrap(),
            vec!["a".into(), 0.into(), "deep".into()]
        );
        let mut deep = Node::new(ElementId::new(8, 0), NodeValue::Null);
        for i in 1..crate::model::MAX_DEPTH as u64 {
            deep = Node::new(ElementId::new(8, i), NodeValue::Array(vec![deep]));
        }
        let before = m.clone();
        assert!(matches!(
            m.apply(&Op::ArrayInsert {
                id: a,
                index: 0,
                value: deep
            }),
            Err(ModelError::TooDeep(_))
        ));
        assert_eq!(m, before);
    }
}

#[cfg(test)]
mod fuzz {
    use crate::protocol::encode_frame;
    use crate::testing::{check_apply, check_apply_bytes, fuzz_model, random_wild_op, Rng};

    #[test]
    fn arbitrary_operations_apply_all_or_nothing_and_invert_exactly() {
        let model = fuzz_model();
        let mut rng = Rng::new(21);
        for _ in 0..30_000 {
            check_apply(&model, &random_wild_op(&model, &mut rng));
        }
    }

    #[test]
    fn arbitrary_bytes_decoded_as_operations_never_panic_when_applied() {
        let model = fuzz_model();
        let mut rng = Rng::new(22);
        for _ in 0..20_000 {
            // Mutations of valid frames reach far more decodable operations than noise does.
            let mut frame = encode_frame(&random_wild_op(&model, &mut rng));
            for _ in 0..rng.below(4) {
                let at = rng.below(frame.len());
                frame[at] = rng.next_u64() as u8;
            }
            check_apply_bytes(&frame);
            let noise: Vec<u8> = (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect();
            check_apply_bytes(&noise);
        }
    }
}
