-- Who else is in a mail conversation: the `To` and `Cc` addresses of the contact's mail beyond
-- the channel's own, and addresses operators copied in. Replies go to the contact with every
-- participant in copy. The address is sealed under the conversation's contact's key; the blind
-- index finds a person's rows when they exercise their rights.
CREATE TABLE conversation_participants (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    conversation_id UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    address_index BYTEA NOT NULL,
    address BYTEA NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (conversation_id, address_index)
);
CREATE INDEX conversation_participants_address ON conversation_participants(tenant_id, address_index);

-- Everyone one outbound message goes to besides (or instead of) the contact: copies, blind
-- copies, the address a forward goes to; and whether the door let each of them have it.
CREATE TABLE message_recipients (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    message_id UUID NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    role TEXT NOT NULL,
    address_index BYTEA NOT NULL,
    address BYTEA NOT NULL,
    status TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX message_recipients_message ON message_recipients(message_id);
CREATE INDEX message_recipients_address ON message_recipients(tenant_id, address_index);

-- Operators' own closing lines under their mail replies.
ALTER TABLE operators ADD COLUMN signature TEXT;
