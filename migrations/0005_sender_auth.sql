-- Sender authentication (SPF, DKIM, DMARC) results, kept beside the message
-- so the raw bytes stay exactly as received. Written once, on the message's
-- first processing; reprocessing (crash recovery, release) reuses them.
CREATE TABLE message_auth (
    message_id    INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    spf           TEXT NOT NULL,
    dkim          TEXT NOT NULL,
    dmarc         TEXT NOT NULL,
    aligned       INTEGER NOT NULL,
    -- the whole domain::AuthResults (details, policy, how it was obtained)
    details_json  TEXT NOT NULL,
    checked_at    TEXT NOT NULL
);

-- A permanently deleted message leaves nothing about its sender behind.
CREATE TRIGGER message_auth_erased AFTER UPDATE OF state ON messages
WHEN NEW.state = 'erased'
BEGIN
    DELETE FROM message_auth WHERE message_id = NEW.id;
END;
