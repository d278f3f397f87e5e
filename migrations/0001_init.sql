-- Users and their API tokens (tokens are stored as SHA-256 of 256-bit random values).
CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name        TEXT,
    is_admin    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE cards (
    id            INTEGER PRIMARY KEY,
    title         TEXT NOT NULL,
    owner_id      INTEGER REFERENCES users(id),
    status        TEXT NOT NULL DEFAULT 'open',
    created_at    TEXT NOT NULL,
    archive_code  TEXT NOT NULL UNIQUE,
    -- everyone | private (owner, users it is shared with, and admins)
    visibility    TEXT NOT NULL DEFAULT 'everyone'
);

CREATE TABLE card_shares (
    card_id  INTEGER NOT NULL REFERENCES cards(id),
    user_id  INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (card_id, user_id)
);

-- Codes replaced by a regeneration: never routed again, never reissued.
CREATE TABLE retired_codes (
    code        TEXT PRIMARY KEY,
    card_id     INTEGER NOT NULL REFERENCES cards(id),
    retired_at  TEXT NOT NULL
);

-- The durable ingest queue: one row per accepted message; raw bytes live in the
-- content-addressed spool under data_dir/spool.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    source       TEXT NOT NULL,
    mail_from    TEXT,
    helo         TEXT,
    peer         TEXT,
    received_at  TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued', -- queued | stored | done | failed | quarantined
    -- set when an admin released the message from quarantine
    released     INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX messages_pending ON messages(state, id) WHERE state IN ('queued', 'stored');

CREATE TABLE message_cards (
    message_id  INTEGER NOT NULL REFERENCES messages(id),
    card_id     INTEGER NOT NULL REFERENCES cards(id),
    rcpt        TEXT NOT NULL,
    PRIMARY KEY (message_id, card_id)
);

-- History entries. Email fields are JSON so the forward-unwrapping layer can add
-- to them without schema churn.
CREATE TABLE entries (
    id           INTEGER PRIMARY KEY,
    card_id      INTEGER NOT NULL REFERENCES cards(id),
    kind         TEXT NOT NULL,
    message_row  INTEGER REFERENCES messages(id),
    dedup_key    TEXT,
    subject      TEXT NOT NULL DEFAULT '',
    from_json    TEXT,
    to_json      TEXT NOT NULL DEFAULT '[]',
    cc_json      TEXT NOT NULL DEFAULT '[]',
    date         TEXT,
    occurred_at  INTEGER NOT NULL,
    body_text    TEXT NOT NULL DEFAULT '',
    message_id   TEXT,
    -- incoming | outgoing (email), NULL for other kinds
    direction    TEXT,
    -- forward metadata: forwarded_by, forwarded_at, forward_note, forward_chain,
    -- date_raw, date_is_fallback
    meta_json    TEXT NOT NULL DEFAULT '{}',
    created_at   TEXT NOT NULL,
    UNIQUE (card_id, dedup_key)
);
CREATE INDEX entries_card_time ON entries(card_id, occurred_at DESC, id DESC);

-- Documents (attachments and uploads); bytes are content-addressed under data_dir/blobs.
CREATE TABLE documents (
    id            INTEGER PRIMARY KEY,
    entry_id      INTEGER REFERENCES entries(id),
    card_id       INTEGER NOT NULL REFERENCES cards(id),
    filename      TEXT,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    -- text extracted for search, and how that went: ok | unsupported | failed: …
    text          TEXT,
    text_status   TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX documents_entry ON documents(entry_id);

-- Which entries each message produced or matched (a duplicate points at the
-- entry it duplicates), so a source can report what became of its message.
CREATE TABLE message_entries (
    message_id  INTEGER NOT NULL REFERENCES messages(id),
    entry_id    INTEGER NOT NULL REFERENCES entries(id),
    duplicate   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, entry_id)
);

-- How far each IMAP folder has been taken (UIDVALIDITY + last UID).
CREATE TABLE imap_cursors (
    account       TEXT NOT NULL,
    folder        TEXT NOT NULL,
    uid_validity  INTEGER NOT NULL,
    last_uid      INTEGER NOT NULL,
    PRIMARY KEY (account, folder)
);
