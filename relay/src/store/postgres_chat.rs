//! The PostgreSQL store's chats: rows of `chats`, `chat_members`, `chat_events` and
//! `chat_seen` (schema version 2), the same tables as the SQLite store's. Events keep their
//! body in the core's binary codec and their kind as the wire tag, so that history filters by
//! kind in SQL.

use deadpool_postgres::tokio_postgres::Row;
use deadpool_postgres::GenericClient;
use tandem_core::protocol::{
    encode_frame, ChatEvent, ChatEventBody, ChatEventKind, ChatKind, WireEnum,
};

use super::{
    backend, col, decode_blob, execute, from_sql_u64, query, query_one, query_opt, to_sql_u64,
    unique_or_backend, PostgresStore,
};
use crate::store::{ChatRecord, StoreError, StoreResult};

/// The schema these functions use, applied as migration 2.
pub const CHAT_SCHEMA: &str = r#"
CREATE TABLE chats (
    id            TEXT COLLATE "C" PRIMARY KEY,
    kind          TEXT COLLATE "C" NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    topic         TEXT COLLATE "C" NOT NULL,
    creator       TEXT COLLATE "C" NOT NULL,
    direct_key    TEXT COLLATE "C" UNIQUE,
    created_ms    BIGINT NOT NULL,
    last_event    BIGINT NOT NULL,
    last_event_ms BIGINT NOT NULL
);
CREATE TABLE chat_members (
    chat    TEXT COLLATE "C" NOT NULL REFERENCES chats(id),
    user_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (chat, user_id)
);
CREATE INDEX chat_members_by_user ON chat_members (user_id, chat);
CREATE TABLE chat_events (
    chat         TEXT COLLATE "C" NOT NULL REFERENCES chats(id),
    number       BIGINT NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    user_id      TEXT COLLATE "C" NOT NULL,
    kind         BIGINT NOT NULL,
    body         BYTEA NOT NULL,
    PRIMARY KEY (chat, number)
);
CREATE INDEX chat_events_by_kind ON chat_events (chat, kind, number);
CREATE TABLE chat_seen (
    chat    TEXT COLLATE "C" NOT NULL REFERENCES chats(id),
    user_id TEXT COLLATE "C" NOT NULL,
    event   BIGINT NOT NULL,
    PRIMARY KEY (chat, user_id)
);
"#;

/// The columns of a chat row, in `ChatRecord` order.
const CHAT_COLUMNS: &str = "id, kind, name, topic, creator, created_ms, last_event, last_event_ms";

/// A chat kind as stored.
fn kind_key(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::Room => "room",
        ChatKind::Channel => "channel",
        ChatKind::Direct => "direct",
    }
}

/// The inverse of [`kind_key`].
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

/// An event kind as stored (its wire tag).
fn kind_tag(kind: ChatEventKind) -> i64 {
    kind.wire_tag() as i64
}

/// Reads a chat row selected with `CHAT_COLUMNS`.
fn chat_from_row(row: &Row) -> StoreResult<ChatRecord> {
    let kind: String = col(row, 1)?;
    Ok(ChatRecord {
        id: col(row, 0)?,
        kind: kind_from_key(&kind)?,
        name: col(row, 2)?,
        topic: col(row, 3)?,
        creator: col(row, 4)?,
        created_ms: col(row, 5)?,
        last_event: from_sql_u64(col(row, 6)?, "chat event")?,
        last_event_ms: col(row, 7)?,
    })
}

/// The chat whose `column` (`id` or `direct_key`) is `value`; `lock` appends a row-lock
/// clause (e.g. `FOR NO KEY UPDATE`).
async fn chat_where<C: GenericClient>(
    client: &C,
    column: &str,
    value: &str,
    lock: &str,
) -> StoreResult<Option<ChatRecord>> {
    query_opt(
        client,
        &format!("SELECT {CHAT_COLUMNS} FROM chats WHERE {column} = $1 {lock}"),
        &[&value],
    )
    .await
    .map_err(backend)?
    .as_ref()
    .map(chat_from_row)
    .transpose()
}

/// Inserts one event row.
async fn insert_event<C: GenericClient>(
    client: &C,
    chat: &str,
    number: u64,
    timestamp_ms: i64,
    user_id: &str,
    body: &ChatEventBody,
) -> StoreResult<()> {
    let number = to_sql_u64(number, "chat event")?;
    execute(
        client,
        "INSERT INTO chat_events (chat, number, timestamp_ms, user_id, kind, body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &chat,
            &number,
            &timestamp_ms,
            &user_id,
            &event_kind(body),
            &encode_frame(body),
        ],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// Adds (idempotently) or removes a stored member.
async fn set_member<C: GenericClient>(
    client: &C,
    chat: &str,
    user_id: &str,
    present: bool,
) -> StoreResult<()> {
    let sql = if present {
        "INSERT INTO chat_members (chat, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM chat_members WHERE chat = $1 AND user_id = $2"
    };
    execute(client, sql, &[&chat, &user_id])
        .await
        .map_err(backend)?;
    Ok(())
}

impl PostgresStore {
    pub(super) async fn create_chat_rows(
        &self,
        chat: &ChatRecord,
        direct_key: Option<&str>,
        members: &[String],
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let taken = chat_where(&tx, "id", &chat.id, "").await?.is_some()
            || match direct_key {
                Some(key) => chat_where(&tx, "direct_key", key, "").await?.is_some(),
                None => false,
            };
        if taken {
            return Err(StoreError::Exists(format!("chat {}", chat.id)));
        }
        execute(
            &tx,
            "INSERT INTO chats (id, kind, name, topic, creator, direct_key, created_ms, \
             last_event, last_event_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $7)",
            &[
                &chat.id,
                &kind_key(chat.kind),
                &chat.name,
                &chat.topic,
                &chat.creator,
                &direct_key,
                &chat.created_ms,
            ],
        )
        .await
        .map_err(|e| unique_or_backend(e, || format!("chat {}", chat.id)))?;
        if chat.kind != ChatKind::Room {
            for member in members {
                set_member(&tx, &chat.id, member, true).await?;
            }
        }
        let created = ChatEventBody::Created {
            kind: chat.kind,
            name: chat.name.clone(),
            topic: chat.topic.clone(),
            members: members.to_vec(),
        };
        insert_event(&tx, &chat.id, 1, chat.created_ms, &chat.creator, &created).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn chat_by(
        &self,
        column: &'static str,
        value: &str,
    ) -> StoreResult<Option<ChatRecord>> {
        let client = self.client().await?;
        chat_where(&client, column, value, "").await
    }

    pub(super) async fn append_chat_event_row(
        &self,
        chat: &str,
        user_id: &str,
        timestamp_ms: i64,
        body: &ChatEventBody,
    ) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // The row lock orders events of one chat, across relays.
        let record = chat_where(&tx, "id", chat, "FOR NO KEY UPDATE")
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("chat {chat}")))?;
        let number = record.last_event + 1;
        insert_event(&tx, chat, number, timestamp_ms, user_id, body).await?;
        match body {
            ChatEventBody::NameChanged { name } => {
                execute(
                    &tx,
                    "UPDATE chats SET name = $1 WHERE id = $2",
                    &[name, &chat],
                )
                .await
                .map_err(backend)?;
            }
            ChatEventBody::TopicChanged { topic } => {
                execute(
                    &tx,
                    "UPDATE chats SET topic = $1 WHERE id = $2",
                    &[topic, &chat],
                )
                .await
                .map_err(backend)?;
            }
            ChatEventBody::UserJoined { user_id: who }
            | ChatEventBody::UserAdded { user_id: who }
                if record.kind == ChatKind::Channel =>
            {
                set_member(&tx, chat, who, true).await?;
            }
            ChatEventBody::UserLeft { user_id: who }
            | ChatEventBody::UserRemoved { user_id: who }
                if record.kind == ChatKind::Channel =>
            {
                set_member(&tx, chat, who, false).await?;
            }
            _ => {}
        }
        let last = to_sql_u64(number, "chat event")?;
        execute(
            &tx,
            "UPDATE chats SET last_event = $1, last_event_ms = $2 WHERE id = $3",
            &[&last, &timestamp_ms, &chat],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(number)
    }

    pub(super) async fn chat_event_rows(
        &self,
        chat: &str,
        start: Option<u64>,
        descending: bool,
        limit: u64,
        kinds: &[ChatEventKind],
    ) -> StoreResult<Vec<ChatEvent>> {
        let kinds: Vec<i64> = kinds.iter().map(|k| kind_tag(*k)).collect();
        let start = match start {
            Some(n) => to_sql_u64(n, "chat event")?,
            None if descending => i64::MAX,
            None => 0,
        };
        let limit = to_sql_u64(limit, "limit")?;
        let (compare, order) = if descending {
            ("<=", "DESC")
        } else {
            (">=", "ASC")
        };
        let client = self.client().await?;
        let rows = if kinds.is_empty() {
            query(
                &client,
                &format!(
                    "SELECT number, timestamp_ms, user_id, body FROM chat_events \
                     WHERE chat = $1 AND number {compare} $2 ORDER BY number {order} LIMIT $3"
                ),
                &[&chat, &start, &limit],
            )
            .await
        } else {
            query(
                &client,
                &format!(
                    "SELECT number, timestamp_ms, user_id, body FROM chat_events \
                     WHERE chat = $1 AND number {compare} $2 AND kind = ANY($4) \
                     ORDER BY number {order} LIMIT $3"
                ),
                &[&chat, &start, &limit, &kinds],
            )
            .await
        }
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(ChatEvent {
                    chat_id: chat.to_owned(),
                    event_number: from_sql_u64(col(row, 0)?, "chat event")?,
                    timestamp_ms: col(row, 1)?,
                    user_id: col(row, 2)?,
                    body: decode_blob(col(row, 3)?, "chat event")?,
                })
            })
            .collect()
    }

    pub(super) async fn delete_chat_rows(&self, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Lock the chat first: an event being appended finishes before its rows go.
        chat_where(&tx, "id", id, "FOR UPDATE").await?;
        for sql in [
            "DELETE FROM chat_events WHERE chat = $1",
            "DELETE FROM chat_members WHERE chat = $1",
            "DELETE FROM chat_seen WHERE chat = $1",
            "DELETE FROM grants WHERE scope_kind = 'chat' AND scope_id = $1",
        ] {
            execute(&tx, sql, &[&id]).await.map_err(backend)?;
        }
        let deleted = execute(&tx, "DELETE FROM chats WHERE id = $1", &[&id])
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(deleted > 0)
    }

    pub(super) async fn mark_chat_seen_row(
        &self,
        chat: &str,
        user_id: &str,
        event: u64,
    ) -> StoreResult<()> {
        let event = to_sql_u64(event, "chat event")?;
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO chat_seen (chat, user_id, event) VALUES ($1, $2, $3) \
             ON CONFLICT (chat, user_id) \
             DO UPDATE SET event = GREATEST(chat_seen.event, excluded.event)",
            &[&chat, &user_id, &event],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    pub(super) async fn chat_seen_row(&self, chat: &str, user_id: &str) -> StoreResult<u64> {
        let client = self.client().await?;
        let seen: i64 = match query_opt(
            &client,
            "SELECT event FROM chat_seen WHERE chat = $1 AND user_id = $2",
            &[&chat, &user_id],
        )
        .await
        .map_err(backend)?
        {
            Some(row) => col(&row, 0)?,
            None => 0,
        };
        from_sql_u64(seen, "chat event")
    }

    pub(super) async fn unread_count_rows(
        &self,
        user_id: &str,
        chats: &[String],
    ) -> StoreResult<Vec<(String, u64)>> {
        let message = kind_tag(ChatEventKind::Message);
        let client = self.client().await?;
        let mut counts = Vec::with_capacity(chats.len());
        for chat in chats {
            let row = query_one(
                &client,
                "SELECT COUNT(*) FROM chat_events WHERE chat = $1 AND kind = $2 \
                 AND user_id <> $3 AND number > \
                 COALESCE((SELECT event FROM chat_seen WHERE chat = $1 AND user_id = $3), 0)",
                &[chat, &message, &user_id],
            )
            .await
            .map_err(backend)?;
            counts.push((chat.clone(), from_sql_u64(col(&row, 0)?, "count")?));
        }
        Ok(counts)
    }
}
