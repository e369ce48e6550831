//! Three people edit one document at the same time through the relay's sequencer, with
//! messages delivered late and out of step; everyone ends on the same data.
//!
//! `cargo run --release -p tandem-core --example demo`

use std::collections::VecDeque;

use tandem_core::client::ClientModel;
use tandem_core::protocol::{encode_client, ClientMessage};
use tandem_core::server::{Accepted, Sequencer};
use tandem_core::{IdGenerator, Model, Op, PathSegment, Value};

fn main() {
    let json = serde_json::json!({"title": "Shopping", "items": ["milk", "eggs"], "done": 0});
    let model =
        Model::from_value(Value::from_json(&json).unwrap(), &mut IdGenerator::new(1)).unwrap();
    let title = model.element_at(&[PathSegment::from("title")]).unwrap();
    let items = model.element_at(&["items".into()]).unwrap();
    let done = model.element_at(&["done".into()]).unwrap();

    let mut relay = Sequencer::new(model.clone(), 0);
    let names = ["ada", "bob", "cyd"];
    let mut clients: Vec<ClientModel> = (0..3)
        .map(|i| ClientModel::new(model.clone(), 0, 10 + i))
        .collect();
    let mut ids: Vec<IdGenerator> = (0..3).map(|i| IdGenerator::new(10 + i)).collect();
    let mut inbox: Vec<VecDeque<(u64, u64, u64, Op)>> = vec![VecDeque::new(); 3];
    let mut bytes_sent = 0;

    // Everyone edits at once, on version 0, before hearing from anyone else.
    let edits = [
        (
            0,
            Op::StringInsert {
                id: title,
                index: 8,
                text: " list".into(),
            },
        ),
        (
            1,
            Op::StringInsert {
                id: title,
                index: 8,
                text: " for Sunday".into(),
            },
        ),
        (
            2,
            Op::ArrayInsert {
                id: items,
                index: 1,
                value: Value::String("bread".into()).into_node(&mut ids[2]),
            },
        ),
        (
            0,
            Op::ArrayMove {
                id: items,
                from: 0,
                to: 1,
            },
        ),
        (
            1,
            Op::NumberAdd {
                id: done,
                delta: 1.0,
            },
        ),
        (
            2,
            Op::NumberAdd {
                id: done,
                delta: 1.0,
            },
        ),
        (
            1,
            Op::ArrayRemove {
                id: items,
                index: 1,
            },
        ),
    ];
    let mut submissions = Vec::new();
    for (who, op) in edits {
        clients[who].submit(op).unwrap();
        for sent in clients[who].take_outgoing().ops {
            let frame = encode_client(&ClientMessage::SubmitOp {
                model: 1,
                origin: 0,
                seq: sent.seq,
                context_version: sent.context_version,
                op: sent.op.clone(),
            });
            bytes_sent += frame.len();
            submissions.push((who, sent.clone()));
        }
    }
    for (i, c) in clients.iter().enumerate() {
        println!("{} sees {}", names[i], c.model().to_json());
    }

    // The relay sequences them in arrival order and fans them out.
    for (who, s) in submissions {
        let origin = clients[who].origin();
        if let Accepted::Sequenced(done) = relay
            .submit(origin, s.seq, s.context_version, s.op)
            .unwrap()
        {
            // In order on every connection: the sender's own operation arrives as its ack.
            for queue in inbox.iter_mut() {
                queue.push_back((done.version, origin, done.seq, done.op.clone()));
            }
        }
    }
    for (i, queue) in inbox.iter_mut().enumerate() {
        while let Some((version, origin, seq, op)) = queue.pop_front() {
            clients[i].on_remote(version, origin, seq, op).unwrap();
        }
    }

    println!(
        "\nafter every operation is delivered (version {}):",
        relay.version()
    );
    for (i, c) in clients.iter().enumerate() {
        println!("{} sees {}", names[i], c.model().to_json());
        assert_eq!(c.model().to_json(), relay.model().to_json());
    }
    println!("relay has {}", relay.model().to_json());
    println!("\nall replicas converged; {bytes_sent} bytes of operations on the wire");
}
