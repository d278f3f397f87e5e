-- The card history beyond email: manual entries, tasks, card changes, documents,
-- contacts, labels, communication types, rights and the audit log.

-- Admin-managed communication types ("Quote sent", "Complaint", ...). Rules set
-- one at ingest: the plus-address tag equal to `code`, a sender domain, a
-- subject keyword.
CREATE TABLE communication_types (
    id                     INTEGER PRIMARY KEY,
    name                   TEXT NOT NULL UNIQUE COLLATE NOCASE,
    code                   TEXT NOT NULL UNIQUE COLLATE NOCASE,
    colour                 TEXT NOT NULL,
    log                    TEXT NOT NULL CHECK (log IN ('general', 'financial')),
    active                 INTEGER NOT NULL DEFAULT 1,
    sender_domains_json    TEXT NOT NULL DEFAULT '[]',
    subject_keywords_json  TEXT NOT NULL DEFAULT '[]',
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);

-- Who wrote an entry: a user, or 'ingest' (mail; author_id is then the team
-- member who forwarded it, when known) or 'system'.
ALTER TABLE entries ADD COLUMN author_kind TEXT NOT NULL DEFAULT 'ingest';
ALTER TABLE entries ADD COLUMN author_id INTEGER REFERENCES users(id);
ALTER TABLE entries ADD COLUMN comm_type_id INTEGER REFERENCES communication_types(id);
-- What another system says it sent: {"number", "url", "system"}.
ALTER TABLE entries ADD COLUMN reference_json TEXT;
-- Kind-specific details: call duration, field change old/new, ...
ALTER TABLE entries ADD COLUMN details_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE entries ADD COLUMN responsible_id INTEGER REFERENCES users(id);
-- Handled (for a task: closed) at / by.
ALTER TABLE entries ADD COLUMN handled_at TEXT;
ALTER TABLE entries ADD COLUMN handled_by INTEGER REFERENCES users(id);
-- Tasks: due date, open | done | failed, the comment given when closing.
ALTER TABLE entries ADD COLUMN due_at TEXT;
ALTER TABLE entries ADD COLUMN task_status TEXT;
ALTER TABLE entries ADD COLUMN close_comment TEXT;
ALTER TABLE entries ADD COLUMN updated_at TEXT;
-- A deleted entry stays as a tombstone: content cleared, these set.
ALTER TABLE entries ADD COLUMN deleted_at TEXT;
ALTER TABLE entries ADD COLUMN deleted_by INTEGER REFERENCES users(id);
ALTER TABLE entries ADD COLUMN delete_reason TEXT;
CREATE INDEX entries_type ON entries(comm_type_id) WHERE comm_type_id IS NOT NULL;
CREATE INDEX entries_open_tasks ON entries(card_id) WHERE kind = 'task' AND task_status = 'open';
CREATE INDEX entries_time ON entries(occurred_at DESC, id DESC);

-- Every edit of an entry keeps the fields as they were before it.
CREATE TABLE entry_revisions (
    id           INTEGER PRIMARY KEY,
    entry_id     INTEGER NOT NULL REFERENCES entries(id),
    revised_at   TEXT NOT NULL,
    revised_by   INTEGER REFERENCES users(id),
    change       TEXT NOT NULL,
    before_json  TEXT NOT NULL,
    after_json   TEXT NOT NULL
);
CREATE INDEX entry_revisions_entry ON entry_revisions(entry_id, id);

ALTER TABLE documents ADD COLUMN uploaded_by INTEGER REFERENCES users(id);
ALTER TABLE documents ADD COLUMN deleted_at TEXT;
ALTER TABLE documents ADD COLUMN deleted_by INTEGER REFERENCES users(id);
ALTER TABLE documents ADD COLUMN delete_reason TEXT;
CREATE INDEX documents_sha ON documents(sha256);

-- Tombstones are final: no change, no undelete, no removal.
CREATE TRIGGER documents_tombstone_final BEFORE UPDATE ON documents
WHEN OLD.deleted_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a deleted document is a tombstone and cannot be changed'); END;
CREATE TRIGGER documents_tombstone_kept BEFORE DELETE ON documents
WHEN OLD.deleted_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a deleted document is a tombstone and cannot be removed'); END;
CREATE TRIGGER entries_tombstone_final BEFORE UPDATE ON entries
WHEN OLD.deleted_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a deleted entry is a tombstone and cannot be changed'); END;
CREATE TRIGGER entries_tombstone_kept BEFORE DELETE ON entries
WHEN OLD.deleted_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a deleted entry is a tombstone and cannot be removed'); END;

-- Card fields: status and title are columns; campaign and source too (the
-- central view filters by them); anything else is a free-form field.
ALTER TABLE cards ADD COLUMN campaign TEXT;
ALTER TABLE cards ADD COLUMN source TEXT;
ALTER TABLE cards ADD COLUMN fields_json TEXT NOT NULL DEFAULT '{}';

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY,
    card_id     INTEGER NOT NULL REFERENCES cards(id),
    name        TEXT NOT NULL,
    phone       TEXT,
    role        TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX contacts_card ON contacts(card_id);

CREATE TABLE contact_emails (
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    email       TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (contact_id, email)
);
CREATE INDEX contact_emails_email ON contact_emails(email);

-- Who took part in an email (from, to, cc), lowercased, for contact history.
CREATE TABLE entry_addresses (
    entry_id  INTEGER NOT NULL REFERENCES entries(id),
    address   TEXT NOT NULL COLLATE NOCASE,
    role      TEXT NOT NULL,
    PRIMARY KEY (entry_id, address, role)
);
CREATE INDEX entry_addresses_address ON entry_addresses(address);
INSERT OR IGNORE INTO entry_addresses (entry_id, address, role)
    SELECT id, lower(json_extract(from_json, '$.address')), 'from' FROM entries
    WHERE from_json IS NOT NULL AND json_extract(from_json, '$.address') IS NOT NULL;
INSERT OR IGNORE INTO entry_addresses (entry_id, address, role)
    SELECT e.id, lower(json_extract(j.value, '$.address')), 'to' FROM entries e, json_each(e.to_json) j
    WHERE json_extract(j.value, '$.address') IS NOT NULL;
INSERT OR IGNORE INTO entry_addresses (entry_id, address, role)
    SELECT e.id, lower(json_extract(j.value, '$.address')), 'cc' FROM entries e, json_each(e.cc_json) j
    WHERE json_extract(j.value, '$.address') IS NOT NULL;

-- Contacts a manual entry (a call, a meeting) was with.
CREATE TABLE entry_contacts (
    entry_id    INTEGER NOT NULL REFERENCES entries(id),
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (entry_id, contact_id)
);
CREATE INDEX entry_contacts_contact ON entry_contacts(contact_id);

-- Admin-managed labels: traits on contacts, actions on cards.
CREATE TABLE labels (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('trait', 'action')),
    name        TEXT NOT NULL,
    code        TEXT NOT NULL,
    colour      TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (kind, code COLLATE NOCASE),
    UNIQUE (kind, name COLLATE NOCASE)
);

CREATE TABLE card_labels (
    card_id   INTEGER NOT NULL REFERENCES cards(id),
    label_id  INTEGER NOT NULL REFERENCES labels(id),
    added_at  TEXT NOT NULL,
    added_by  INTEGER REFERENCES users(id),
    PRIMARY KEY (card_id, label_id)
);
CREATE INDEX card_labels_label ON card_labels(label_id);

CREATE TABLE contact_labels (
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    label_id    INTEGER NOT NULL REFERENCES labels(id),
    added_at    TEXT NOT NULL,
    added_by    INTEGER REFERENCES users(id),
    PRIMARY KEY (contact_id, label_id)
);
CREATE INDEX contact_labels_label ON contact_labels(label_id);

-- Rights, per action: who (nobody | admins | author | card_owner | everyone)
-- and, optionally, only within N days of the item's creation.
CREATE TABLE policies (
    action       TEXT PRIMARY KEY,
    who          TEXT NOT NULL,
    within_days  INTEGER,
    updated_at   TEXT,
    updated_by   INTEGER REFERENCES users(id)
);
INSERT INTO policies (action, who) VALUES
    ('delete_document', 'admins'),
    ('delete_entry', 'admins'),
    ('reopen_task', 'admins'),
    ('edit_others_entry', 'admins');

-- Append-only: triggers refuse every UPDATE and DELETE.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    actor_id      INTEGER REFERENCES users(id),
    action        TEXT NOT NULL,
    target        TEXT NOT NULL,
    target_id     INTEGER,
    card_id       INTEGER,
    details_json  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_action ON audit_log(action, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Files and index documents a deletion still has to remove. Written in the
-- deletion's transaction and worked off right after it (and at start-up, if a
-- crash came in between), so nothing deleted survives a crash.
CREATE TABLE pending_erasures (
    id         INTEGER PRIMARY KEY,
    what       TEXT NOT NULL CHECK (what IN ('blob', 'spool', 'index', 'wal')),
    sha256     TEXT,
    entry_id   INTEGER,
    created_at TEXT NOT NULL
);

-- What an API caller said about a message it logged (author, communication
-- type, reference, external id); the worker applies it to the entries.
ALTER TABLE messages ADD COLUMN annotations_json TEXT;
