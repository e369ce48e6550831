//! Shared by the benchmarks and `examples/memory.rs`: loading editing traces and replaying them.
#![allow(dead_code)]

use std::io::Read;

use tandem_core::client::ClientModel;
use tandem_core::rope::Utf16Rope;
use tandem_core::{ElementId, IdGenerator, Model, Op, Value};

/// One edit of a trace, in UTF-16 code units: remove `remove` units at `index`, then insert
/// `text` there.
#[derive(Clone, Debug)]
pub struct Patch {
    pub index: usize,
    pub remove: usize,
    pub text: String,
}

/// An editing trace ready to replay.
pub struct Trace {
    pub name: &'static str,
    pub start: String,
    pub end: String,
    pub patches: Vec<Patch>,
}

/// The traces in `benches/data/`, by file stem.
pub const TRACES: &[&str] = &["rustcode", "sveltecomponent"];

/// Loads `benches/data/<name>.json.gz` (see `benches/data/README.md` for the format).
pub fn load(name: &'static str) -> Trace {
    let path = format!("{}/benches/data/{name}.json.gz", env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let data: serde_json::Value = serde_json::from_str(&json).expect("trace JSON");
    let start = data["startContent"]
        .as_str()
        .expect("startContent")
        .to_owned();
    let end = data["endContent"].as_str().expect("endContent").to_owned();
    let mut positions = Utf16Positions::new(&start);
    let mut patches = Vec::new();
    for txn in data["txns"].as_array().expect("txns") {
        for patch in txn["patches"].as_array().expect("patches") {
            let pos = patch[0].as_u64().expect("position") as usize;
            let del = patch[1].as_u64().expect("deleted count") as usize;
            let text = patch[2].as_str().expect("inserted text");
            let (index, remove) = positions.apply(pos, del, text);
            patches.push(Patch {
                index,
                remove,
                text: text.to_owned(),
            });
        }
    }
    assert_eq!(positions.chars, end.chars().count(), "{name}: final length");
    Trace {
        name,
        start,
        end,
        patches,
    }
}

/// Converts code-point positions to UTF-16 ones while a trace is walked: the document's length in
/// code points and where its characters outside the BMP (two UTF-16 units) are, in code points,
/// sorted. Each patch costs O(number of such characters), nothing for traces without any.
struct Utf16Positions {
    chars: usize,
    astral: Vec<usize>,
}

impl Utf16Positions {
    fn new(text: &str) -> Self {
        let mut this = Utf16Positions {
            chars: 0,
            astral: Vec::new(),
        };
        this.apply(0, 0, text);
        this
    }

    /// Applies a patch in code points; returns its position and removed length in UTF-16 units.
    fn apply(&mut self, pos: usize, del: usize, text: &str) -> (usize, usize) {
        assert!(pos + del <= self.chars, "patch past the end of the text");
        let before = self.astral.partition_point(|&p| p < pos);
        let inside = self.astral[before..].partition_point(|&p| p < pos + del);
        let index = pos + before;
        let remove = del + inside;
        // Drop the removed ones, shift the later ones, add the inserted ones.
        let inserted: Vec<usize> = text
            .chars()
            .enumerate()
            .filter(|(_, c)| c.len_utf16() == 2)
            .map(|(i, _)| pos + i)
            .collect();
        let added = text.chars().count();
        let mut tail: Vec<usize> = self.astral.split_off(before);
        tail.drain(..inside);
        self.astral.extend(inserted);
        self.astral
            .extend(tail.into_iter().map(|p| p - del + added));
        self.chars = self.chars - del + added;
        (index, remove)
    }
}

/// The whole trace applied to a bare rope.
pub fn apply_to_rope(rope: &mut Utf16Rope, patches: &[Patch]) {
    for p in patches {
        if p.remove > 0 {
            rope.remove_discard(p.index, p.remove).expect("remove");
        }
        if !p.text.is_empty() {
            rope.insert(p.index, &p.text).expect("insert");
        }
    }
}

/// A model whose root object holds one string property, `text`; returns it with the string's id.
pub fn text_model(text: &str) -> (Model, ElementId) {
    let value = Value::Object(vec![("text".to_owned(), Value::String(text.to_owned()))]);
    let model = Model::from_value(value, &mut IdGenerator::new(1)).expect("model");
    let id = model.element_at(&["text".into()]).expect("text property");
    (model, id)
}

/// The text of the `text` property of a model made by [`text_model`].
pub fn text_of(model: &Model) -> String {
    let id = model.element_at(&["text".into()]).expect("text property");
    model.string(id).expect("string").to_string()
}

/// The operation a patch becomes.
pub fn patch_op(id: ElementId, p: &Patch) -> Op {
    match (p.remove, p.text.is_empty()) {
        (0, _) => Op::StringInsert {
            id,
            index: p.index,
            text: p.text.clone(),
        },
        (len, true) => Op::StringRemove {
            id,
            index: p.index,
            len,
        },
        (remove, false) => Op::StringSplice {
            id,
            index: p.index,
            remove,
            text: p.text.clone(),
        },
    }
}

/// How many submissions a client lets pile up before the (simulated) relay acknowledges them all.
pub const ACK_EVERY: usize = 64;

/// Acknowledges every operation in flight, oldest first, as a relay sequencing them would.
pub fn ack_all(client: &mut ClientModel) {
    loop {
        let Some(seq) = client.unacked().next().map(|u| u.seq) else {
            break;
        };
        let version = client.version() + 1;
        client.on_ack(seq, version).expect("ack");
    }
}

/// Submits every operation to `client`, taking the outgoing batch and acknowledging all of it
/// after every [`ACK_EVERY`] submissions (a frame's worth of typing), and at the end.
pub fn submit_all(client: &mut ClientModel, ops: impl IntoIterator<Item = Op>) {
    for (i, op) in ops.into_iter().enumerate() {
        client.submit(op).expect("submit");
        if (i + 1) % ACK_EVERY == 0 {
            flush_and_ack(client);
        }
    }
    flush_and_ack(client);
}

/// Hands out the outgoing batch (as a transport encoding it would) and acknowledges it.
fn flush_and_ack(client: &mut ClientModel) {
    let sent = client.take_outgoing().ops.len();
    std::hint::black_box(sent);
    ack_all(client);
}

/// Patches per second of `run` (which replays `patches` patches on what `setup` built), the
/// median of `reps` runs. Neither `setup` nor dropping the result is timed.
pub fn median_rate<S, R>(
    reps: usize,
    patches: usize,
    mut setup: impl FnMut() -> S,
    mut run: impl FnMut(S) -> R,
) -> f64 {
    drop(run(setup()));
    let mut rates: Vec<f64> = (0..reps)
        .map(|_| {
            let input = setup();
            let started = std::time::Instant::now();
            let output = run(input);
            let elapsed = started.elapsed();
            drop(output);
            patches as f64 / elapsed.as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}
