-- How many times the hub sent a message again after its provider reported a failure (an
-- automatic retry of a transient failure, an operator's retry): the attempt number a send is
-- idempotent on, so a repeat of one attempt never reaches the person twice while a new attempt
-- does.
ALTER TABLE messages ADD COLUMN resends BIGINT NOT NULL DEFAULT 0;
