-- Team import, teams, daily summaries, contact merges.

-- An invitation to set a password, mailed to an imported operator. Only a hash of the link's
-- token is kept; the token is made when the mail goes out (sent_at), so an unsent invitation
-- holds no secret. used_at makes the link single-use.
CREATE TABLE operator_invitations (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    operator_id UUID NOT NULL,
    token_hash BYTEA UNIQUE,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    expires_at BIGINT,
    used_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX operator_invitations_operator ON operator_invitations(operator_id);
CREATE INDEX operator_invitations_unsent ON operator_invitations(sent_at, created_at);

-- Addresses that asked not to be invited again, as a keyed hash (HMAC under the tenant's
-- blind-index key): an import naming one is refused without the address being stored.
CREATE TABLE invitation_suppressions (
    tenant_id UUID NOT NULL,
    email_index BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, email_index)
);

-- Teams: automatic assignment of a channel's conversations stays among its team's members.
CREATE TABLE teams (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE TABLE team_members (
    team_id UUID NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    operator_id UUID NOT NULL,
    PRIMARY KEY (team_id, operator_id)
);
CREATE TABLE team_channels (
    channel_id UUID PRIMARY KEY,
    team_id UUID NOT NULL REFERENCES teams(id) ON DELETE CASCADE
);

-- The daily summary mail, for operators who opted in; the day (UTC, YYYY-MM-DD) it last went.
ALTER TABLE operators ADD COLUMN daily_summary BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE operators ADD COLUMN summary_sent_on TEXT;

-- Contact merges, undoable: the merged contact stays (hidden, merged_into set) with its data key,
-- and the merge records exactly what moved so an unmerge moves exactly that back.
ALTER TABLE contacts ADD COLUMN merged_into UUID;
CREATE TABLE contact_merges (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    contact_id UUID NOT NULL,
    other_id UUID NOT NULL,
    reason TEXT NOT NULL,
    merged_by TEXT NOT NULL,
    moved TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    undone_at BIGINT,
    undone_by TEXT
);
CREATE INDEX contact_merges_contact ON contact_merges(tenant_id, contact_id);

-- A claimed address (typed into a form) that another contact holds verified: the two are
-- probably one person; operators decide.
CREATE TABLE merge_suggestions (
    tenant_id UUID NOT NULL,
    contact_id UUID NOT NULL,
    other_id UUID NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, other_id)
);
