-- One-click unsubscribes are consent withdrawals in the consent ledger now.
DROP TABLE email_unsubscribes;
