-- Contacts' index terms get a namespace of their own (a contact search no longer walks the
-- messages that share a common name): their documents are dropped and indexed again by the
-- backfill at the next start.
DELETE FROM search_docs WHERE kind = 'contact';
DELETE FROM search_backfill WHERE kind = 'contact';
