//! Chat through a real relay: rooms, channels and direct chats, live events, history paging
//! across a relay restart, unread counts across two sessions of one user, every permission
//! rule, and bad input refused without changing anything.

mod common;
mod support;

use std::time::{Duration, Instant};

use tandem_core::protocol::{
    Auth, ChatEvent, ChatEventBody, ChatEventKind, ChatInfo, ChatKind, ChatRights, ErrorCode,
    PermissionTarget, Request, Response, SortDirection,
};
use tandem_relay::test_client::TestClient;

fn password(name: &str) -> Auth {
    Auth::Password {
        username: name.into(),
        password: "pw".into(),
    }
}

async fn chat(client: &mut TestClient, request: Request) -> ChatInfo {
    match client.request(request).await.expect("chat request") {
        Response::Chat(info) => info,
        other => panic!("unexpected {other:?}"),
    }
}

async fn send(client: &mut TestClient, chat_id: &str, text: &str) -> u64 {
    match client
        .request(Request::SendChatMessage {
            chat_id: chat_id.into(),
            text: text.into(),
        })
        .await
        .expect("send")
    {
        Response::ChatMessageSent { event_number, .. } => event_number,
        other => panic!("unexpected {other:?}"),
    }
}

async fn history(
    client: &mut TestClient,
    chat_id: &str,
    start: Option<u64>,
    direction: SortDirection,
    limit: u32,
    kinds: Vec<ChatEventKind>,
) -> Vec<ChatEvent> {
    match client
        .request(Request::GetChatHistory {
            chat_id: chat_id.into(),
            start_event: start,
            direction,
            limit,
            event_kinds: kinds,
        })
        .await
        .expect("history")
    {
        Response::ChatEvents { events } => events,
        other => panic!("unexpected {other:?}"),
    }
}

/// Pumps `client` until it has received a chat event matching `what`.
async fn wait_for(client: &mut TestClient, what: &str, done: impl Fn(&ChatEvent) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !client.chat_events.iter().any(&done) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            client.chat_events
        );
        client.pump(Duration::from_millis(20)).await.expect("pump");
    }
}

fn denied(result: Result<Response, tandem_relay::test_client::ClientFailure>) -> Option<ErrorCode> {
    result.expect_err("refused").code()
}

fn create(kind: ChatKind, id: &str, members: Vec<String>) -> Request {
    Request::CreateChat {
        kind,
        chat_id: Some(id.into()),
        name: "Name".into(),
        topic: "Topic".into(),
        members,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_channels_and_direct_chats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = common::start(common::config(dir.path())).await;
    let mut ann = TestClient::anonymous(&relay.url, "Ann")
        .await
        .expect("connect");
    let mut bob = TestClient::anonymous(&relay.url, "Bob")
        .await
        .expect("connect");
    let mut cat = TestClient::anonymous(&relay.url, "Cat")
        .await
        .expect("connect");
    let (ann_id, bob_id, cat_id) = (
        ann.welcome.user.user_id.clone(),
        bob.welcome.user.user_id.clone(),
        cat.welcome.user.user_id.clone(),
    );

    // A room's members are whoever is in it now.
    let room = chat(&mut ann, create(ChatKind::Room, "lobby", vec![])).await;
    assert!(room.members.is_empty() && !room.joined);
    chat(
        &mut ann,
        Request::JoinChat {
            chat_id: "lobby".into(),
        },
    )
    .await;
    let joined = chat(
        &mut bob,
        Request::JoinChat {
            chat_id: "lobby".into(),
        },
    )
    .await;
    assert_eq!(joined.members.len(), 2);
    send(&mut bob, "lobby", "hello room").await;
    wait_for(&mut ann, "Bob's message", |e| {
        e.body
            == ChatEventBody::Message {
                text: "hello room".into(),
            }
            && e.user_id == bob_id
    })
    .await;
    let refused = cat
        .request(Request::SendChatMessage {
            chat_id: "lobby".into(),
            text: "hi".into(),
        })
        .await;
    assert_eq!(
        denied(refused),
        Some(ErrorCode::InvalidRequest),
        "only those in the room send"
    );
    bob.close().await;
    wait_for(&mut ann, "Bob leaving with his session", |e| {
        e.body
            == ChatEventBody::UserLeft {
                user_id: bob_id.clone(),
            }
    })
    .await;
    assert_eq!(
        chat(
            &mut ann,
            Request::GetChat {
                chat_id: "lobby".into()
            }
        )
        .await
        .members,
        vec![ann_id.clone()]
    );

    // A channel keeps its members; public by default; private once the world may not join.
    let channel = chat(
        &mut ann,
        create(ChatKind::Channel, "news", vec![cat_id.clone()]),
    )
    .await;
    let mut expected = vec![ann_id.clone(), cat_id.clone()];
    expected.sort();
    assert_eq!(channel.members, expected);
    send(&mut ann, "news", "first").await;
    wait_for(&mut cat, "the channel's message", |e| {
        e.chat_id == "news"
            && e.body
                == ChatEventBody::Message {
                    text: "first".into(),
                }
    })
    .await;
    let mut dan = TestClient::anonymous(&relay.url, "Dan")
        .await
        .expect("connect");
    let dan_id = dan.welcome.user.user_id.clone();
    assert!(
        chat(
            &mut dan,
            Request::JoinChat {
                chat_id: "news".into()
            }
        )
        .await
        .joined
    );
    assert_eq!(
        dan.request(Request::LeaveChat {
            chat_id: "news".into()
        })
        .await
        .expect("leave"),
        Response::Done
    );
    ann.request(Request::SetChatPermissions {
        chat_id: "news".into(),
        target: PermissionTarget::World,
        rights: Some(ChatRights {
            leave: true,
            send: true,
            ..ChatRights::default()
        }),
    })
    .await
    .expect("private");
    assert_eq!(
        denied(
            dan.request(Request::JoinChat {
                chat_id: "news".into()
            })
            .await
        ),
        Some(ErrorCode::PermissionDenied)
    );
    assert_eq!(
        denied(
            dan.request(Request::GetChat {
                chat_id: "news".into()
            })
            .await
        ),
        Some(ErrorCode::PermissionDenied),
        "a private channel is invisible to outsiders"
    );
    ann.request(Request::AddChatMember {
        chat_id: "news".into(),
        user_id: dan_id.clone(),
    })
    .await
    .expect("add");
    wait_for(&mut dan, "being added", |e| {
        e.body
            == ChatEventBody::UserAdded {
                user_id: dan_id.clone(),
            }
    })
    .await;
    send(&mut dan, "news", "thanks").await;
    ann.request(Request::RemoveChatMember {
        chat_id: "news".into(),
        user_id: dan_id.clone(),
    })
    .await
    .expect("remove");
    wait_for(&mut dan, "being removed", |e| {
        e.body
            == ChatEventBody::UserRemoved {
                user_id: dan_id.clone(),
            }
    })
    .await;
    assert_eq!(
        denied(
            dan.request(Request::SendChatMessage {
                chat_id: "news".into(),
                text: "x".into()
            })
            .await
        ),
        Some(ErrorCode::InvalidRequest)
    );

    // A direct chat: the same users get the same chat, whoever asks.
    let direct = chat(
        &mut ann,
        Request::GetDirectChat {
            user_ids: vec![cat_id.clone()],
        },
    )
    .await;
    assert_eq!(direct.kind, ChatKind::Direct);
    assert_eq!(
        chat(
            &mut cat,
            Request::GetDirectChat {
                user_ids: vec![ann_id.clone(), cat_id.clone()]
            }
        )
        .await
        .chat_id,
        direct.chat_id
    );
    send(&mut cat, &direct.chat_id, "psst").await;
    wait_for(&mut ann, "the direct message", |e| {
        e.chat_id == direct.chat_id
    })
    .await;
    assert_eq!(
        denied(
            dan.request(Request::GetChat {
                chat_id: direct.chat_id.clone()
            })
            .await
        ),
        Some(ErrorCode::PermissionDenied)
    );
    assert_eq!(
        denied(
            dan.request(Request::JoinChat {
                chat_id: direct.chat_id.clone()
            })
            .await
        ),
        Some(ErrorCode::InvalidRequest)
    );
    assert_eq!(
        denied(
            ann.request(Request::GetDirectChat {
                user_ids: vec!["nobody".into()]
            })
            .await
        ),
        Some(ErrorCode::UserNotFound)
    );

    // Joined chats; removing a chat deletes it for everyone.
    match cat.request(Request::GetJoinedChats).await.expect("joined") {
        Response::Chats { chats } => {
            let mut ids: Vec<_> = chats.iter().map(|c| c.chat_id.clone()).collect();
            ids.sort();
            let mut want = vec![direct.chat_id.clone(), "news".to_owned()];
            want.sort();
            assert_eq!(ids, want);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        denied(
            cat.request(Request::RemoveChat {
                chat_id: "news".into()
            })
            .await
        ),
        Some(ErrorCode::PermissionDenied)
    );
    ann.request(Request::RemoveChat {
        chat_id: "news".into(),
    })
    .await
    .expect("remove");
    wait_for(&mut cat, "the removal", |e| {
        e.chat_id == "news" && e.body == ChatEventBody::Removed
    })
    .await;
    assert_eq!(
        denied(
            cat.request(Request::GetChat {
                chat_id: "news".into()
            })
            .await
        ),
        Some(ErrorCode::ChatNotFound)
    );

    // Bad input changes nothing.
    assert_eq!(
        denied(ann.request(create(ChatKind::Room, "lobby", vec![])).await),
        Some(ErrorCode::ChatExists)
    );
    assert_eq!(
        denied(
            ann.request(Request::SendChatMessage {
                chat_id: "lobby".into(),
                text: "x".repeat(20_000)
            })
            .await
        ),
        Some(ErrorCode::InvalidRequest)
    );
    assert_eq!(
        denied(
            ann.request(Request::SendChatMessage {
                chat_id: "lobby".into(),
                text: String::new()
            })
            .await
        ),
        Some(ErrorCode::InvalidRequest)
    );
    assert_eq!(
        denied(
            ann.request(Request::SendChatMessage {
                chat_id: "nope".into(),
                text: "x".into()
            })
            .await
        ),
        Some(ErrorCode::ChatNotFound)
    );
    assert_eq!(
        denied(ann.request(create(ChatKind::Direct, "d", vec![])).await),
        Some(ErrorCode::InvalidRequest)
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_across_a_restart_and_unread_counts_follow_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = common::start(common::config(dir.path())).await;
    support::create_user(relay.addr, "una", "pw").await;
    support::create_user(relay.addr, "vic", "pw").await;
    let una = TestClient::connect(&relay.url, password("una"))
        .await
        .expect("connect");
    let mut vic = TestClient::connect(&relay.url, password("vic"))
        .await
        .expect("connect");
    let una_id = una.welcome.user.user_id.clone();
    chat(
        &mut vic,
        create(ChatKind::Channel, "log", vec![una_id.clone()]),
    )
    .await;
    for i in 1..=25 {
        send(&mut vic, "log", &format!("m{i}")).await;
    }
    vic.request(Request::SetChatTopic {
        chat_id: "log".into(),
        topic: "history".into(),
    })
    .await
    .expect("topic");
    relay.stop().await;

    let relay = common::start(common::config(dir.path())).await;
    let mut una = TestClient::connect(&relay.url, password("una"))
        .await
        .expect("reconnect");
    let mut una2 = TestClient::connect(&relay.url, password("una"))
        .await
        .expect("second session");
    let numbers = |events: &[ChatEvent]| events.iter().map(|e| e.event_number).collect::<Vec<_>>();
    // Event 1 created the channel, 2..=26 are the messages, 27 the topic.
    let newest = history(&mut una, "log", None, SortDirection::Descending, 10, vec![]).await;
    assert_eq!(numbers(&newest), (18..=27).rev().collect::<Vec<_>>());
    let older = history(
        &mut una,
        "log",
        Some(17),
        SortDirection::Descending,
        10,
        vec![],
    )
    .await;
    assert_eq!(numbers(&older), (8..=17).rev().collect::<Vec<_>>());
    let forward = history(
        &mut una,
        "log",
        Some(5),
        SortDirection::Ascending,
        3,
        vec![],
    )
    .await;
    assert_eq!(numbers(&forward), vec![5, 6, 7]);
    let topics = history(
        &mut una,
        "log",
        None,
        SortDirection::Descending,
        100,
        vec![ChatEventKind::TopicChanged, ChatEventKind::Created],
    )
    .await;
    assert_eq!(numbers(&topics), vec![27, 1]);
    assert_eq!(
        forward[0].body,
        ChatEventBody::Message { text: "m4".into() }
    );

    // Unread counts belong to the user, across sessions.
    let unread = |r: Response| match r {
        Response::UnreadCounts { counts } => counts,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        unread(una.request(Request::GetUnreadCounts).await.expect("counts")),
        vec![("log".to_owned(), 25)]
    );
    una2.request(Request::MarkChatSeen {
        chat_id: "log".into(),
        event_number: 21,
    })
    .await
    .expect("seen");
    assert_eq!(
        unread(una.request(Request::GetUnreadCounts).await.expect("counts")),
        vec![("log".to_owned(), 5)]
    );
    una2.request(Request::MarkChatSeen {
        chat_id: "log".into(),
        event_number: 10,
    })
    .await
    .expect("an older mark changes nothing");
    let info = chat(
        &mut una,
        Request::GetChat {
            chat_id: "log".into(),
        },
    )
    .await;
    assert_eq!(
        (
            info.max_seen_event,
            info.last_event_number,
            info.topic.as_str()
        ),
        (21, 27, "history")
    );
    una2.request(Request::MarkChatSeen {
        chat_id: "log".into(),
        event_number: 1_000,
    })
    .await
    .expect("seen all");
    assert!(unread(una.request(Request::GetUnreadCounts).await.expect("counts")).is_empty());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chat_permission_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = common::start(common::config(dir.path())).await;
    support::create_user(relay.addr, "owner", "pw").await;
    let guest_id = support::create_user(relay.addr, "guest", "pw").await;
    let mut owner = TestClient::connect(&relay.url, password("owner"))
        .await
        .expect("connect");
    let mut guest = TestClient::connect(&relay.url, password("guest"))
        .await
        .expect("connect");
    chat(
        &mut owner,
        create(ChatKind::Channel, "rules", vec![guest_id.clone()]),
    )
    .await;
    let id = || "rules".to_owned();
    let grant = |rights: ChatRights| Request::SetChatPermissions {
        chat_id: id(),
        target: PermissionTarget::User {
            user_id: guest_id.clone(),
        },
        rights: Some(rights),
    };

    // Defaults for a member who is not the creator: send and leave, nothing else.
    send(&mut guest, "rules", "allowed").await;
    let attempts = |who_id: String| {
        vec![
            (
                "set name",
                Request::SetChatName {
                    chat_id: id(),
                    name: "n".into(),
                },
            ),
            (
                "set topic",
                Request::SetChatTopic {
                    chat_id: id(),
                    topic: "t".into(),
                },
            ),
            (
                "add member",
                Request::AddChatMember {
                    chat_id: id(),
                    user_id: who_id.clone(),
                },
            ),
            (
                "remove member",
                Request::RemoveChatMember {
                    chat_id: id(),
                    user_id: who_id,
                },
            ),
            (
                "get permissions",
                Request::GetChatPermissions { chat_id: id() },
            ),
            (
                "set permissions",
                Request::SetChatPermissions {
                    chat_id: id(),
                    target: PermissionTarget::World,
                    rights: None,
                },
            ),
            ("remove chat", Request::RemoveChat { chat_id: id() }),
        ]
    };
    for (what, request) in attempts(guest_id.clone()) {
        assert_eq!(
            denied(guest.request(request).await),
            Some(ErrorCode::PermissionDenied),
            "{what}"
        );
    }

    // Each right, granted alone, allows exactly its requests.
    owner
        .request(grant(ChatRights {
            send: false,
            leave: true,
            ..ChatRights::default()
        }))
        .await
        .expect("grant");
    assert_eq!(
        denied(
            guest
                .request(Request::SendChatMessage {
                    chat_id: id(),
                    text: "x".into()
                })
                .await
        ),
        Some(ErrorCode::PermissionDenied),
        "send revoked"
    );
    owner
        .request(grant(ChatRights {
            set_name_topic: true,
            ..ChatRights::default()
        }))
        .await
        .expect("grant");
    guest
        .request(Request::SetChatName {
            chat_id: id(),
            name: "renamed".into(),
        })
        .await
        .expect("set name");
    guest
        .request(Request::SetChatTopic {
            chat_id: id(),
            topic: "topic".into(),
        })
        .await
        .expect("set topic");
    assert_eq!(
        denied(guest.request(Request::LeaveChat { chat_id: id() }).await),
        Some(ErrorCode::PermissionDenied),
        "leave not granted"
    );
    owner
        .request(grant(ChatRights {
            manage_members: true,
            ..ChatRights::default()
        }))
        .await
        .expect("grant");
    let owner_id = owner.welcome.user.user_id.clone();
    guest
        .request(Request::RemoveChatMember {
            chat_id: id(),
            user_id: owner_id.clone(),
        })
        .await
        .expect("remove member");
    guest
        .request(Request::AddChatMember {
            chat_id: id(),
            user_id: owner_id.clone(),
        })
        .await
        .expect("add member");
    owner
        .request(grant(ChatRights {
            manage: true,
            ..ChatRights::default()
        }))
        .await
        .expect("grant");
    guest
        .request(Request::GetChatPermissions { chat_id: id() })
        .await
        .expect("get permissions");
    guest
        .request(grant(ChatRights {
            remove: true,
            ..ChatRights::default()
        }))
        .await
        .expect("manage: grants itself remove");
    assert_eq!(
        denied(
            guest
                .request(Request::GetChatPermissions { chat_id: id() })
                .await
        ),
        Some(ErrorCode::PermissionDenied),
        "gave up manage"
    );
    guest
        .request(Request::RemoveChat { chat_id: id() })
        .await
        .expect("remove chat");
    relay.stop().await;
}
