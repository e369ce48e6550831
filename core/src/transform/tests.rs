//! Transformation tests: the rules of `docs/semantics.md` one by one, then exhaustive TP1 over
//! every pair of string edits on an 8-character string and every pair of array edits on a
//! 10-item array.

use super::transform;
use crate::id::ElementId;
use crate::model::Model;
use crate::op::Op;
use crate::value::{Node, NodeValue};

const S: ElementId = ElementId::new(1, 1);

/// Applies `b` then `a'`, and `a` then `b'`, asserting both succeed and agree (TP1).
fn converge(base: &Model, a: &Op, b: &Op) -> Model {
    let (a2, b2) = transform(a, b);
    let mut left = base.clone();
    left.apply(b).unwrap_or_else(|e| panic!("b {b:?}: {e}"));
    left.apply(&a2)
        .unwrap_or_else(|e| panic!("a' {a2:?} after b {b:?} (a {a:?}): {e}"));
    let mut right = base.clone();
    right.apply(a).unwrap_or_else(|e| panic!("a {a:?}: {e}"));
    right
        .apply(&b2)
        .unwrap_or_else(|e| panic!("b' {b2:?} after a {a:?} (b {b:?}): {e}"));
    assert_eq!(
        left.to_node(),
        right.to_node(),
        "TP1 fails for a = {a:?}, b = {b:?}"
    );
    left
}

fn string_model(text: &str) -> Model {
    let node = Node::new(
        ElementId::ROOT,
        NodeValue::Object(vec![(
            "s".into(),
            Node::new(S, NodeValue::String(text.into())),
        )]),
    );
    Model::new(node).unwrap()
}

fn text(m: &Model) -> String {
    m.string(S).unwrap().to_string()
}

fn ins(index: usize, t: &str) -> Op {
    Op::StringInsert {
        id: S,
        index,
        text: t.into(),
    }
}

fn rem(index: usize, len: usize) -> Op {
    Op::StringRemove { id: S, index, len }
}

/// Every string edit of `len` characters, inserting `mark` where it inserts.
fn all_string_ops(len: usize, mark: &str) -> Vec<Op> {
    let mut ops = vec![Op::StringSet {
        id: S,
        value: format!("{mark}{mark}"),
    }];
    for index in 0..=len {
        ops.push(ins(index, mark));
        for remove in 1..=len - index {
            ops.push(rem(index, remove));
            ops.push(Op::StringSplice {
                id: S,
                index,
                remove,
                text: mark.into(),
            });
        }
    }
    ops
}

#[test]
fn exhaustive_string_pairs_converge_and_keep_inserted_text() {
    let base = string_model("ABCDEFGH");
    let (a_ops, b_ops) = (all_string_ops(8, "x"), all_string_ops(8, "y"));
    let mut pairs = 0;
    for a in &a_ops {
        for b in &b_ops {
            let merged = text(&converge(&base, a, b));
            let is_set = |op: &Op| matches!(op, Op::StringSet { .. });
            if !is_set(a) && !is_set(b) {
                let inserts =
                    |op: &Op| matches!(op, Op::StringInsert { .. } | Op::StringSplice { .. });
                assert_eq!(
                    merged.matches('x').count(),
                    usize::from(inserts(a)),
                    "{a:?} {b:?}"
                );
                assert_eq!(
                    merged.matches('y').count(),
                    usize::from(inserts(b)),
                    "{a:?} {b:?}"
                );
            }
            pairs += 1;
        }
    }
    assert_eq!(pairs, a_ops.len() * b_ops.len());
    assert!(pairs > 5000);
}

#[test]
fn concurrent_inserts_at_one_position_keep_the_relay_order() {
    let m = converge(&string_model("ab"), &ins(1, "x"), &ins(1, "y"));
    assert_eq!(text(&m), "ayxb", "y was sequenced first");
}

#[test]
fn text_inserted_inside_a_removed_range_survives() {
    let m = converge(&string_model("abcdef"), &ins(3, "XY"), &rem(1, 4));
    assert_eq!(text(&m), "aXYf");
    let m = converge(&string_model("abcdef"), &rem(1, 4), &ins(3, "XY"));
    assert_eq!(text(&m), "aXYf");
}

#[test]
fn overlapping_removals_remove_the_union() {
    let m = converge(&string_model("abcdef"), &rem(1, 3), &rem(2, 3));
    assert_eq!(text(&m), "af");
}

#[test]
fn a_string_set_wins_over_edits_and_the_later_set_wins() {
    let set = |v: &str| Op::StringSet {
        id: S,
        value: v.into(),
    };
    assert_eq!(
        text(&converge(&string_model("abc"), &ins(1, "x"), &set("new"))),
        "new"
    );
    assert_eq!(
        text(&converge(&string_model("abc"), &set("new"), &ins(1, "x"))),
        "new"
    );
    assert_eq!(
        text(&converge(
            &string_model("abc"),
            &set("later"),
            &set("first")
        )),
        "later"
    );
}

#[test]
fn surrogate_pairs_stay_whole_through_transformation() {
    let base = string_model("a😀b");
    let m = converge(&base, &ins(3, "x"), &rem(1, 2));
    assert_eq!(text(&m), "axb");
    let m = converge(&base, &ins(1, "😎"), &ins(3, "y"));
    assert_eq!(text(&m), "a😎😀yb");
}

// ----- arrays -----

const A: ElementId = ElementId::new(1, 1);

fn item(n: u64) -> Node {
    Node::new(ElementId::new(2, n), NodeValue::Number(n as f64))
}

fn array_model(len: u64) -> Model {
    let items = (0..len).map(item).collect();
    let node = Node::new(
        ElementId::ROOT,
        NodeValue::Object(vec![("a".into(), Node::new(A, NodeValue::Array(items)))]),
    );
    Model::new(node).unwrap()
}

fn items(m: &Model) -> Vec<u64> {
    m.array_items(A)
        .unwrap()
        .iter()
        .map(|id| id.counter)
        .collect()
}

/// Every array edit on `len` items; new items get counters from `fresh` upwards.
fn all_array_ops(len: usize, fresh: u64) -> Vec<Op> {
    let mut next = fresh;
    let mut new_item = || {
        next += 1;
        item(next)
    };
    let mut ops = vec![Op::ArraySet {
        id: A,
        value: vec![new_item(), new_item()],
    }];
    for index in 0..=len {
        ops.push(Op::ArrayInsert {
            id: A,
            index,
            value: new_item(),
        });
    }
    for index in 0..len {
        ops.push(Op::ArrayRemove { id: A, index });
        ops.push(Op::ArrayReplace {
            id: A,
            index,
            value: new_item(),
        });
        for to in 0..len {
            ops.push(Op::ArrayMove {
                id: A,
                from: index,
                to,
            });
        }
    }
    ops
}

/// The items an operation creates, and the original item it removes (replace removes too).
fn created_and_removed(op: &Op, base: &Model) -> (Vec<u64>, Option<u64>) {
    let at = |i: usize| base.array_items(A).unwrap()[i].counter;
    match op {
        Op::ArrayInsert { value, .. } => (vec![value.id.counter], None),
        Op::ArrayReplace { value, index, .. } => (vec![value.id.counter], Some(at(*index))),
        Op::ArrayRemove { index, .. } => (vec![], Some(at(*index))),
        _ => (vec![], None),
    }
}

#[test]
fn exhaustive_array_pairs_converge_and_lose_or_duplicate_nothing() {
    let base = array_model(10);
    let (a_ops, b_ops) = (all_array_ops(10, 100), all_array_ops(10, 1000));
    for a in &a_ops {
        for b in &b_ops {
            let merged = items(&converge(&base, a, b));
            // A move that leaves its item in place changes nothing, whatever is concurrent.
            for (in_place, other) in [(a, b), (b, a)] {
                if matches!(in_place, Op::ArrayMove { from, to, .. } if from == to) {
                    let mut alone = base.clone();
                    alone.apply(other).unwrap();
                    assert_eq!(merged, items(&alone), "{in_place:?} with {other:?}");
                }
            }
            if matches!(a, Op::ArraySet { .. }) || matches!(b, Op::ArraySet { .. }) {
                continue;
            }
            let (a_new, a_gone) = created_and_removed(a, &base);
            let (b_new, b_gone) = created_and_removed(b, &base);
            // Every original item not removed is there exactly once (moves lose nothing and
            // duplicate nothing).
            for original in 0..10 {
                let expected = usize::from(Some(original) != a_gone && Some(original) != b_gone);
                let found = merged.iter().filter(|c| **c == original).count();
                assert_eq!(
                    found, expected,
                    "item {original} for a = {a:?}, b = {b:?}: {merged:?}"
                );
            }
            // Inserted items survive; a replacement survives unless the same item was removed
            // or replaced later.
            for new in a_new.iter().chain(&b_new) {
                let removed_by_other = match (a, b) {
                    (Op::ArrayReplace { index: i, .. }, Op::ArrayRemove { index: j, .. })
                    | (Op::ArrayRemove { index: j, .. }, Op::ArrayReplace { index: i, .. }) => {
                        i == j
                    }
                    (Op::ArrayReplace { index: i, .. }, Op::ArrayReplace { index: j, .. }) => {
                        i == j && b_new.contains(new)
                    }
                    _ => false,
                };
                let found = merged.iter().filter(|c| *c == new).count();
                assert_eq!(
                    found,
                    usize::from(!removed_by_other),
                    "{new} for {a:?} vs {b:?}"
                );
            }
        }
    }
}

#[test]
fn concurrent_array_inserts_at_one_index_keep_the_relay_order() {
    let a = Op::ArrayInsert {
        id: A,
        index: 1,
        value: item(50),
    };
    let b = Op::ArrayInsert {
        id: A,
        index: 1,
        value: item(60),
    };
    assert_eq!(
        items(&converge(&array_model(3), &a, &b)),
        vec![0, 60, 50, 1, 2]
    );
}

#[test]
fn two_moves_that_leave_their_items_in_place_change_nothing() {
    let a = Op::ArrayMove {
        id: A,
        from: 1,
        to: 1,
    };
    let b = Op::ArrayMove {
        id: A,
        from: 2,
        to: 2,
    };
    assert_eq!(items(&converge(&array_model(4), &a, &b)), vec![0, 1, 2, 3]);
    assert_eq!(items(&converge(&array_model(4), &b, &a)), vec![0, 1, 2, 3]);
    assert_eq!(transform(&a, &b), (Op::noop(), Op::noop()));
}

#[test]
fn a_move_transformed_to_end_where_it_starts_becomes_a_no_op() {
    // b moves item 1 after item 2; a moves item 2 before item 1: after b it is already there.
    let a = Op::ArrayMove {
        id: A,
        from: 2,
        to: 1,
    };
    let b = Op::ArrayMove {
        id: A,
        from: 1,
        to: 2,
    };
    let (a2, _) = transform(&a, &b);
    assert!(
        !matches!(a2, Op::ArrayMove { from, to, .. } if from == to),
        "no in-place move survives: {a2:?}"
    );
    converge(&array_model(4), &a, &b);
}

#[test]
fn moves_of_one_item_resolve_to_the_later_move() {
    let a = Op::ArrayMove {
        id: A,
        from: 1,
        to: 4,
    };
    let b = Op::ArrayMove {
        id: A,
        from: 1,
        to: 0,
    };
    assert_eq!(
        items(&converge(&array_model(5), &a, &b)),
        vec![0, 2, 3, 4, 1]
    );
    assert_eq!(
        items(&converge(&array_model(5), &b, &a)),
        vec![1, 0, 2, 3, 4]
    );
}

#[test]
fn removal_wins_over_move_and_replace_of_the_same_item() {
    let remove = Op::ArrayRemove { id: A, index: 2 };
    let mv = Op::ArrayMove {
        id: A,
        from: 2,
        to: 0,
    };
    let replace = Op::ArrayReplace {
        id: A,
        index: 2,
        value: item(70),
    };
    for (x, y) in [
        (&remove, &mv),
        (&mv, &remove),
        (&remove, &replace),
        (&replace, &remove),
    ] {
        assert_eq!(items(&converge(&array_model(4), x, y)), vec![0, 1, 3]);
    }
}

#[test]
fn edits_inside_a_removed_or_replaced_item_become_no_ops() {
    let inner = ElementId::new(3, 1);
    let node = Node::new(
        ElementId::ROOT,
        NodeValue::Object(vec![(
            "a".into(),
            Node::new(
                A,
                NodeValue::Array(vec![Node::new(inner, NodeValue::String("abc".into()))]),
            ),
        )]),
    );
    let base = Model::new(node).unwrap();
    let edit = Op::StringInsert {
        id: inner,
        index: 1,
        text: "x".into(),
    };
    for container_op in [
        Op::ArrayRemove { id: A, index: 0 },
        Op::ArrayReplace {
            id: A,
            index: 0,
            value: item(9),
        },
        Op::ArraySet {
            id: A,
            value: vec![],
        },
    ] {
        let m = converge(&base, &edit, &container_op);
        assert!(!m.contains(inner));
        let m = converge(&base, &container_op, &edit);
        assert!(!m.contains(inner));
    }
}

// ----- objects -----

const O: ElementId = ElementId::new(1, 1);

fn object_model() -> Model {
    let props = ["p", "q", "r"]
        .iter()
        .enumerate()
        .map(|(i, k)| (k.to_string(), item(i as u64)))
        .collect();
    let node = Node::new(
        ElementId::ROOT,
        NodeValue::Object(vec![("o".into(), Node::new(O, NodeValue::Object(props)))]),
    );
    Model::new(node).unwrap()
}

fn all_object_ops(fresh: u64) -> Vec<Op> {
    let mut ops = vec![Op::ObjectSetAll {
        id: O,
        value: vec![("z".into(), item(fresh))],
    }];
    for (i, key) in ["new", "mine", "other"].iter().enumerate() {
        let key = if *key == "mine" {
            format!("k{fresh}")
        } else {
            key.to_string()
        };
        ops.push(Op::ObjectAdd {
            id: O,
            key,
            value: item(fresh + 1 + i as u64),
            before: vec![],
        });
    }
    for (i, key) in ["p", "q", "r"].iter().enumerate() {
        ops.push(Op::ObjectSet {
            id: O,
            key: key.to_string(),
            value: item(fresh + 10 + i as u64),
        });
        ops.push(Op::ObjectRemove {
            id: O,
            key: key.to_string(),
        });
    }
    ops
}

fn keys(m: &Model) -> Vec<String> {
    m.object_props(O)
        .unwrap()
        .map(|(k, _)| k.to_owned())
        .collect()
}

#[test]
fn exhaustive_object_pairs_converge_including_property_order() {
    let base = object_model();
    for a in &all_object_ops(100) {
        for b in &all_object_ops(200) {
            converge(&base, a, b);
        }
    }
}

#[test]
fn properties_added_concurrently_follow_the_relay_order_everywhere() {
    let base = object_model();
    let add = |k: &str, n| Op::ObjectAdd {
        id: O,
        key: k.into(),
        value: item(n),
        before: vec![],
    };
    let m = converge(&base, &add("later", 50), &add("first", 60));
    assert_eq!(keys(&m), ["p", "q", "r", "first", "later"]);
    // The same key added twice: the later value wins.
    let m = converge(&base, &add("k", 50), &add("k", 60));
    assert_eq!(
        m.value_of(m.object_props(O).unwrap().last().unwrap().1)
            .unwrap(),
        crate::Value::Number(50.0)
    );
    // A pending add followed by more local adds: the relay's add goes before all of them.
    let local = Op::Compound(vec![
        add("x", 70),
        add("y", 71),
        Op::ObjectRemove {
            id: O,
            key: "x".into(),
        },
    ]);
    let m = converge(&base, &local, &add("s", 80));
    assert_eq!(keys(&m), ["p", "q", "r", "s", "y"]);
}

#[test]
fn removal_wins_over_a_set_of_the_same_property() {
    let set = Op::ObjectSet {
        id: O,
        key: "q".into(),
        value: item(9),
    };
    let remove = Op::ObjectRemove {
        id: O,
        key: "q".into(),
    };
    assert_eq!(keys(&converge(&object_model(), &set, &remove)), ["p", "r"]);
    assert_eq!(keys(&converge(&object_model(), &remove, &set)), ["p", "r"]);
}

// ----- scalars -----

#[test]
fn number_adds_commute_and_sets_win() {
    let n = ElementId::new(1, 1);
    let base = Model::new(Node::new(
        ElementId::ROOT,
        NodeValue::Array(vec![Node::new(n, NodeValue::Number(10.0))]),
    ))
    .unwrap();
    let value = |m: &Model| m.value_of(n).unwrap();
    let add = |d| Op::NumberAdd { id: n, delta: d };
    let set = |v| Op::NumberSet { id: n, value: v };
    assert_eq!(
        value(&converge(&base, &add(1.0), &add(2.0))),
        crate::Value::Number(13.0)
    );
    assert_eq!(
        value(&converge(&base, &add(1.0), &set(5.0))),
        crate::Value::Number(5.0)
    );
    assert_eq!(
        value(&converge(&base, &set(5.0), &add(1.0))),
        crate::Value::Number(5.0)
    );
    assert_eq!(
        value(&converge(&base, &set(7.0), &set(5.0))),
        crate::Value::Number(7.0)
    );
}

#[test]
fn concurrent_boolean_and_date_sets_resolve_to_the_later() {
    let (bo, da) = (ElementId::new(1, 1), ElementId::new(1, 2));
    let base = Model::new(Node::new(
        ElementId::ROOT,
        NodeValue::Array(vec![
            Node::new(bo, NodeValue::Bool(false)),
            Node::new(da, NodeValue::Date(0)),
        ]),
    ))
    .unwrap();
    let m = converge(
        &base,
        &Op::BooleanSet {
            id: bo,
            value: true,
        },
        &Op::BooleanSet {
            id: bo,
            value: false,
        },
    );
    assert_eq!(m.value_of(bo).unwrap(), crate::Value::Bool(true));
    let m = converge(
        &base,
        &Op::DateSet { id: da, value: 5 },
        &Op::DateSet { id: da, value: 9 },
    );
    assert_eq!(m.value_of(da).unwrap(), crate::Value::Date(5));
}

// ----- compounds -----

#[test]
fn compound_against_compound_converges() {
    let base = string_model("ABCDEFGH");
    let a_ops = all_string_ops(8, "x");
    let b_ops = all_string_ops(8, "y");
    let mut rng = crate::testing::Rng::new(7);
    for _ in 0..3000 {
        // Two edits in a row on one state: the second must be valid after the first, so build
        // them against a scratch copy.
        let build = |rng: &mut crate::testing::Rng, ops: &[Op]| {
            let mut scratch = base.clone();
            let mut batch = Vec::new();
            for _ in 0..rng.below(3) + 1 {
                let op = &ops[rng.below(ops.len())];
                if scratch.apply(op).is_ok() {
                    batch.push(op.clone());
                }
            }
            Op::Compound(batch)
        };
        let a = build(&mut rng, &a_ops);
        let b = build(&mut rng, &b_ops);
        converge(&base, &a, &b);
    }
}

#[test]
fn object_compounds_converge() {
    let base = object_model();
    let mut rng = crate::testing::Rng::new(11);
    let keys = ["p", "q", "r", "s", "t"];
    let mut fresh = 500;
    for _ in 0..20000 {
        let mut build = |rng: &mut crate::testing::Rng| {
            let mut scratch = base.clone();
            let mut batch = Vec::new();
            for _ in 0..rng.below(3) + 1 {
                let key = rng.pick(&keys).to_string();
                fresh += 1;
                let present = scratch.object_props(O).unwrap().any(|(k, _)| k == key);
                let op = if !present {
                    Op::ObjectAdd {
                        id: O,
                        key,
                        value: item(fresh),
                        before: vec![],
                    }
                } else if rng.chance(0.5) {
                    Op::ObjectRemove { id: O, key }
                } else {
                    Op::ObjectSet {
                        id: O,
                        key,
                        value: item(fresh),
                    }
                };
                scratch.apply(&op).unwrap();
                batch.push(op);
            }
            Op::Compound(batch)
        };
        let a = build(&mut rng);
        let b = build(&mut rng);
        converge(&base, &a, &b);
    }
}

#[test]
fn a_property_added_again_keeps_the_relay_order() {
    let base = object_model();
    let add = |k: &str, n| Op::ObjectAdd {
        id: O,
        key: k.into(),
        value: item(n),
        before: vec![],
    };
    let local = Op::Compound(vec![
        add("x", 51),
        add("y", 52),
        Op::ObjectRemove {
            id: O,
            key: "x".into(),
        },
        add("x", 53),
    ]);
    let m = converge(&base, &local, &add("b", 54));
    assert_eq!(keys(&m), ["p", "q", "r", "b", "y", "x"]);
}

#[test]
fn transform_never_panics_on_arbitrary_operations() {
    let model = crate::testing::fuzz_model();
    let mut rng = crate::testing::Rng::new(5);
    let huge = [0, 1, 7, usize::MAX / 2, usize::MAX - 1, usize::MAX];
    let widen = |op: Op, rng: &mut crate::testing::Rng| -> Op {
        let mut pick = || *rng.pick(&huge);
        match op {
            Op::StringSplice { id, text, .. } => Op::StringSplice {
                id,
                index: pick(),
                remove: pick(),
                text,
            },
            Op::StringRemove { id, .. } => Op::StringRemove {
                id,
                index: pick(),
                len: pick(),
            },
            Op::ArrayMove { id, .. } => Op::ArrayMove {
                id,
                from: pick(),
                to: pick(),
            },
            Op::ArrayInsert { id, value, .. } => Op::ArrayInsert {
                id,
                index: pick(),
                value,
            },
            op => op,
        }
    };
    for _ in 0..50_000 {
        let a = crate::testing::random_wild_op(&model, &mut rng);
        let b = crate::testing::random_wild_op(&model, &mut rng);
        let (a, b) = if rng.chance(0.5) {
            (widen(a, &mut rng), widen(b, &mut rng))
        } else {
            (a, b)
        };
        // Only the absence of panics (and of arithmetic overflow, in debug builds) is checked.
        let _ = transform(&a, &b);
    }
}

#[test]
fn a_batch_of_any_length_transforms_without_call_depth() {
    // 100,000 pushes in one compound against a concurrent push, and the other way round, on a
    // thread with a small stack: the recursive form overflowed at about 10,000 members.
    let batch = Op::Compound(
        (0..100_000)
            .map(|i| Op::ArrayInsert {
                id: A,
                index: 3 + i,
                value: item(10_000 + i as u64),
            })
            .collect(),
    );
    let push = Op::ArrayInsert {
        id: A,
        index: 3,
        value: item(99),
    };
    let base = array_model(3);
    let merged = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            let left = items(&converge(&base, &batch, &push));
            let right = items(&converge(&base, &push, &batch));
            (left, right)
        })
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(merged.0.len(), 100_004);
    assert_eq!(merged.1.len(), 100_004);
    assert_eq!(merged.0.iter().filter(|c| **c == 99).count(), 1);
}
