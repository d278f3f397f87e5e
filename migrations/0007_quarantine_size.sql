-- The quarantine's total size is checked against quarantine.max_bytes before
-- mail from outside the team is accepted: keep that sum off the full table.
CREATE INDEX messages_quarantined_size ON messages(size) WHERE state = 'quarantined';
