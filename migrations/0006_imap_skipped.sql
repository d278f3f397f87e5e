-- IMAP messages larger than their account's max_message_bytes: never fetched, so no
-- bytes and no `messages` row. Each is listed in GET /api/admin/failed (account, folder,
-- UID, size and what its header said) until an admin has it fetched after raising the
-- limit (state 'retry', done by the poller's next pass) or dismisses it.
CREATE TABLE imap_skipped (
    id            INTEGER PRIMARY KEY,
    account       TEXT NOT NULL,
    folder        TEXT NOT NULL,
    uid_validity  INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    -- the account's limit when the message was skipped
    max_bytes     INTEGER NOT NULL,
    subject       TEXT,
    sender        TEXT,
    message_id    TEXT,
    skipped_at    TEXT NOT NULL,
    -- skipped | retry (an admin asked for it) | gone (no longer on the server)
    state         TEXT NOT NULL DEFAULT 'skipped',
    -- what the last retry found
    note          TEXT,
    UNIQUE (account, folder, uid_validity, uid)
);
