-- A contact's identities by tenant, contact and kind: the address to reach a contact on a
-- channel kind, and a page of contacts' identities. Without it SQLite's planner picks the
-- (tenant_id, kind, address_index) index for these lookups and reads every identity of the
-- tenant, one table lookup each.
CREATE INDEX identities_tenant_contact ON identities(tenant_id, contact_id, kind);
