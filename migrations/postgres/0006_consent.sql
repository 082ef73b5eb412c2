-- One-click unsubscribes are consent withdrawals in the consent ledger now.
DROP TABLE email_unsubscribes;

-- Operators flag contacts under the minimum age for marketing (GDPR Art. 8); they get none.
ALTER TABLE contacts ADD COLUMN under_minimum_age BOOLEAN NOT NULL DEFAULT FALSE;
