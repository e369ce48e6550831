//! The SQLite store's chats: rows of `chats`, `chat_members`, `chat_events` and `chat_seen`
//! (schema version 3). Events keep their body in the core's binary codec and their kind as the
//! wire tag, so that history filters by kind in SQL.

use rusqlite::{params, Connection, OptionalExtension};
use tandem_core::protocol::{
    decode_frame, encode_frame, ChatEvent, ChatEventBody, ChatEventKind, ChatKind, WireEnum,
};

use super::{backend, from_sql_u64, to_sql_u64, SqliteStore, STORED_LIMITS};
use crate::store::{ChatRecord, StoreError, StoreResult};

/// The schema these functions use, applied as migration 3.
pub const CHAT_SCHEMA: &str = r#"
CREATE TABLE chats (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    topic         TEXT NOT NULL,
    creator       TEXT NOT NULL,
    direct_key    TEXT UNIQUE,
    created_ms    INTEGER NOT NULL,
    last_event    INTEGER NOT NULL,
    last_event_ms INTEGER NOT NULL
);
CREATE TABLE chat_members (
    chat    TEXT NOT NULL REFERENCES chats(id),
    user_id TEXT NOT NULL,
    PRIMARY KEY (chat, user_id)
) WITHOUT ROWID;
CREATE INDEX chat_members_by_user ON chat_members (user_id, chat);
CREATE TABLE chat_events (
    chat         TEXT NOT NULL REFERENCES chats(id),
    number       INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    user_id      TEXT NOT NULL,
    kind         INTEGER NOT NULL,
    body         BLOB NOT NULL,
    PRIMARY KEY (chat, number)
) WITHOUT ROWID;
CREATE INDEX chat_events_by_kind ON chat_events (chat, kind, number);
CREATE TABLE chat_seen (
    chat    TEXT NOT NULL REFERENCES chats(id),
    user_id TEXT NOT NULL,
    event   INTEGER NOT NULL,
    PRIMARY KEY (chat, user_id)
) WITHOUT ROWID;
"#;

/// The columns of a chat row, in `ChatRecord` order.
const CHAT_COLUMNS: &str = "id, kind, name, topic, creator, created_ms, last_event, last_event_ms";

fn kind_key(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::Room => "room",
        ChatKind::Channel => "channel",
        ChatKind::Direct => "direct",
    }
}

fn kind_from_key(key: &str) -> StoreResult<ChatKind> {
    match key {
        "room" => Ok(ChatKind::Room),
        "channel" => Ok(ChatKind::Channel),
        "direct" => Ok(ChatKind::Direct),
        other => Err(StoreError::Corrupt(format!("unknown chat kind {other:?}"))),
    }
}

/// The kind of an event body, as stored (its wire tag).
fn event_kind(body: &ChatEventBody) -> i64 {
    body.wire_tag() as i64
}

fn kind_tag(kind: ChatEventKind) -> i64 {
    kind.wire_tag() as i64
}

/// A chat row's columns as read, before they are checked.
type ChatRow = (String, String, String, String, String, i64, i64, i64);

fn chat_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn chat_from_row(
    (id, kind, name, topic, creator, created_ms, last_event, last_event_ms): ChatRow,
) -> StoreResult<ChatRecord> {
    Ok(ChatRecord {
        id,
        kind: kind_from_key(&kind)?,
        name,
        topic,
        creator,
        created_ms,
        last_event: from_sql_u64(last_event, "chat event")?,
        last_event_ms,
    })
}

fn chat_where(conn: &Connection, column: &str, value: &str) -> StoreResult<Option<ChatRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {CHAT_COLUMNS} FROM chats WHERE {column} = ?1"
    ))
    .and_then(|mut s| s.query_row([value], chat_row).optional())
    .map_err(backend)?
    .map(chat_from_row)
    .transpose()
}

fn insert_event(
    conn: &Connection,
    chat: &str,
    number: u64,
    timestamp_ms: i64,
    user_id: &str,
    body: &ChatEventBody,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO chat_events (chat, number, timestamp_ms, user_id, kind, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            chat,
            i64::try_from(number).unwrap_or(i64::MAX),
            timestamp_ms,
            user_id,
            event_kind(body),
            encode_frame(body),
        ])
    })
    .map_err(backend)?;
    Ok(())
}

fn set_member(conn: &Connection, chat: &str, user_id: &str, present: bool) -> StoreResult<()> {
    let sql = if present {
        "INSERT OR IGNORE INTO chat_members (chat, user_id) VALUES (?1, ?2)"
    } else {
        "DELETE FROM chat_members WHERE chat = ?1 AND user_id = ?2"
    };
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params![chat, user_id]))
        .map_err(backend)?;
    Ok(())
}

fn strings(conn: &Connection, sql: &str, value: &str) -> StoreResult<Vec<String>> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_map([value], |r| r.get(0))?.collect())
        .map_err(backend)
}

impl SqliteStore {
    pub(super) async fn create_chat_rows(
        &self,
        chat: &ChatRecord,
        direct_key: Option<&str>,
        members: &[String],
    ) -> StoreResult<()> {
        let chat = chat.clone();
        let direct_key = direct_key.map(str::to_owned);
        let members = members.to_vec();
        self.write(move |conn| {
            let taken = chat_where(conn, "id", &chat.id)?.is_some()
                || match &direct_key {
                    Some(key) => chat_where(conn, "direct_key", key)?.is_some(),
                    None => false,
                };
            if taken {
                return Err(StoreError::Exists(format!("chat {}", chat.id)));
            }
            conn.prepare_cached(
                "INSERT INTO chats (id, kind, name, topic, creator, direct_key, created_ms, \
                 last_event, last_event_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    chat.id,
                    kind_key(chat.kind),
                    chat.name,
                    chat.topic,
                    chat.creator,
                    direct_key,
                    chat.created_ms,
                ])
            })
            .map_err(backend)?;
            if chat.kind != ChatKind::Room {
                for member in &members {
                    set_member(conn, &chat.id, member, true)?;
                }
            }
            let created = ChatEventBody::Created {
                kind: chat.kind,
                name: chat.name.clone(),
                topic: chat.topic.clone(),
                members: members.clone(),
            };
            insert_event(conn, &chat.id, 1, chat.created_ms, &chat.creator, &created)
        })
        .await
    }

    pub(super) async fn chat_by(
        &self,
        column: &'static str,
        value: &str,
    ) -> StoreResult<Option<ChatRecord>> {
        let value = value.to_owned();
        self.read(move |conn| chat_where(conn, column, &value))
            .await
    }

    pub(super) async fn chat_strings(
        &self,
        sql: &'static str,
        value: &str,
    ) -> StoreResult<Vec<String>> {
        let value = value.to_owned();
        self.read(move |conn| strings(conn, sql, &value)).await
    }

    pub(super) async fn append_chat_event_row(
        &self,
        chat: &str,
        user_id: &str,
        timestamp_ms: i64,
        body: &ChatEventBody,
    ) -> StoreResult<u64> {
        let (chat, user_id, body) = (chat.to_owned(), user_id.to_owned(), body.clone());
        self.write(move |conn| {
            let record = chat_where(conn, "id", &chat)?
                .ok_or_else(|| StoreError::NotFound(format!("chat {chat}")))?;
            let number = record.last_event + 1;
            insert_event(conn, &chat, number, timestamp_ms, &user_id, &body)?;
            let update = |sql: &str, value: &str| {
                conn.prepare_cached(sql)
                    .and_then(|mut s| s.execute(params![value, chat]))
                    .map_err(backend)
            };
            match &body {
                ChatEventBody::NameChanged { name } => {
                    update("UPDATE chats SET name = ?1 WHERE id = ?2", name)?;
                }
                ChatEventBody::TopicChanged { topic } => {
                    update("UPDATE chats SET topic = ?1 WHERE id = ?2", topic)?;
                }
                ChatEventBody::UserJoined { user_id: who }
                | ChatEventBody::UserAdded { user_id: who }
                    if record.kind == ChatKind::Channel =>
                {
                    set_member(conn, &chat, who, true)?;
                }
                ChatEventBody::UserLeft { user_id: who }
                | ChatEventBody::UserRemoved { user_id: who }
                    if record.kind == ChatKind::Channel =>
                {
                    set_member(conn, &chat, who, false)?;
                }
                _ => {}
            }
            let last = to_sql_u64(number, "chat event")?;
            conn.prepare_cached(
                "UPDATE chats SET last_event = ?1, last_event_ms = ?2 WHERE id = ?3",
            )
            .and_then(|mut s| s.execute(params![last, timestamp_ms, chat]))
            .map_err(backend)?;
            Ok(number)
        })
        .await
    }

    pub(super) async fn chat_event_rows(
        &self,
        chat: &str,
        start: Option<u64>,
        descending: bool,
        limit: u64,
        kinds: &[ChatEventKind],
    ) -> StoreResult<Vec<ChatEvent>> {
        let chat = chat.to_owned();
        let kinds: Vec<i64> = kinds.iter().map(|k| kind_tag(*k)).collect();
        let start = match start {
            Some(n) => to_sql_u64(n, "chat event")?,
            None if descending => i64::MAX,
            None => 0,
        };
        let limit = to_sql_u64(limit, "limit")?;
        self.read(move |conn| {
            let (compare, order) = if descending {
                ("<=", "DESC")
            } else {
                (">=", "ASC")
            };
            let filter = if kinds.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = kinds.iter().map(i64::to_string).collect();
                format!(" AND kind IN ({})", list.join(","))
            };
            let sql = format!(
                "SELECT number, timestamp_ms, user_id, body FROM chat_events \
                 WHERE chat = ?1 AND number {compare} ?2{filter} ORDER BY number {order} LIMIT ?3"
            );
            let rows: Vec<(i64, i64, String, Vec<u8>)> = conn
                .prepare(&sql)
                .and_then(|mut s| {
                    s.query_map(params![chat, start, limit], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect()
                })
                .map_err(backend)?;
            rows.into_iter()
                .map(|(number, timestamp_ms, user_id, body)| {
                    Ok(ChatEvent {
                        chat_id: chat.clone(),
                        event_number: from_sql_u64(number, "chat event")?,
                        timestamp_ms,
                        user_id,
                        body: decode_frame(&body, &STORED_LIMITS)
                            .map_err(|e| StoreError::Corrupt(format!("chat event: {e}")))?,
                    })
                })
                .collect()
        })
        .await
    }

    pub(super) async fn delete_chat_rows(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| {
            for sql in [
                "DELETE FROM chat_events WHERE chat = ?1",
                "DELETE FROM chat_members WHERE chat = ?1",
                "DELETE FROM chat_seen WHERE chat = ?1",
                "DELETE FROM grants WHERE scope_kind = 'chat' AND scope_id = ?1",
            ] {
                conn.prepare_cached(sql)
                    .and_then(|mut s| s.execute([&id]))
                    .map_err(backend)?;
            }
            let deleted = conn
                .prepare_cached("DELETE FROM chats WHERE id = ?1")
                .and_then(|mut s| s.execute([&id]))
                .map_err(backend)?;
            Ok(deleted > 0)
        })
        .await
    }

    pub(super) async fn mark_chat_seen_row(
        &self,
        chat: &str,
        user_id: &str,
        event: u64,
    ) -> StoreResult<()> {
        let (chat, user_id) = (chat.to_owned(), user_id.to_owned());
        let event = to_sql_u64(event, "chat event")?;
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO chat_seen (chat, user_id, event) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (chat, user_id) DO UPDATE SET event = max(event, excluded.event)",
            )
            .and_then(|mut s| s.execute(params![chat, user_id, event]))
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn chat_seen_row(&self, chat: &str, user_id: &str) -> StoreResult<u64> {
        let (chat, user_id) = (chat.to_owned(), user_id.to_owned());
        self.read(move |conn| {
            let seen: Option<i64> = conn
                .prepare_cached("SELECT event FROM chat_seen WHERE chat = ?1 AND user_id = ?2")
                .and_then(|mut s| s.query_row(params![chat, user_id], |r| r.get(0)).optional())
                .map_err(backend)?;
            from_sql_u64(seen.unwrap_or(0), "chat event")
        })
        .await
    }

    pub(super) async fn unread_count_rows(
        &self,
        user_id: &str,
        chats: &[String],
    ) -> StoreResult<Vec<(String, u64)>> {
        let (user_id, chats) = (user_id.to_owned(), chats.to_vec());
        let message = kind_tag(ChatEventKind::Message);
        self.read(move |conn| {
            let mut counts = Vec::with_capacity(chats.len());
            for chat in chats {
                let count: i64 = conn
                    .prepare_cached(
                        "SELECT COUNT(*) FROM chat_events WHERE chat = ?1 AND kind = ?2 \
                         AND user_id <> ?3 AND number > \
                         COALESCE((SELECT event FROM chat_seen WHERE chat = ?1 AND user_id = ?3), 0)",
                    )
                    .and_then(|mut s| s.query_row(params![chat, message, user_id], |r| r.get(0)))
                    .map_err(backend)?;
                counts.push((chat, from_sql_u64(count, "count")?));
            }
            Ok(counts)
        })
        .await
    }
}
