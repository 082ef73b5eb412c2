-- The search index: keyed hashes of terms only (see the search module), never text.
-- A document is a message, a conversation's subject or a contact's details; its number orders
-- documents by time (the indexed thing's creation, in milliseconds, shifted left 16 bits, plus a
-- counter), so a term's entries read newest first. Deleting what a document indexes deletes the
-- document and its entries (erasure, retention, deleted conversations and contacts).
CREATE TABLE search_docs (
    doc BIGINT PRIMARY KEY,
    tenant_id UUID NOT NULL,
    kind TEXT NOT NULL,
    message_id UUID REFERENCES messages(id) ON DELETE CASCADE,
    conversation_id UUID REFERENCES conversations(id) ON DELETE CASCADE,
    contact_id UUID REFERENCES contacts(id) ON DELETE CASCADE,
    fingerprint BIGINT NOT NULL
);
CREATE UNIQUE INDEX search_docs_message ON search_docs(message_id);
CREATE UNIQUE INDEX search_docs_conversation ON search_docs(conversation_id);
CREATE UNIQUE INDEX search_docs_contact ON search_docs(contact_id);

CREATE TABLE search_terms (
    term BIGINT NOT NULL,
    doc BIGINT NOT NULL REFERENCES search_docs(doc) ON DELETE CASCADE,
    PRIMARY KEY (term, doc)
);
CREATE INDEX search_terms_doc ON search_terms(doc);

-- How far indexing what was stored before the index existed has come, per kind of document.
CREATE TABLE search_backfill (
    kind TEXT PRIMARY KEY,
    cursor UUID,
    done BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO event_consumers (name, seq, updated_at) SELECT 'search', COALESCE(MAX(seq), 0), 0 FROM outbox;
