//! Team import: up to [`MAX_ROWS`] operators from a CSV file (`name,email,role`), validated row
//! by row — every problem reported with its line and field — and imported all together or not
//! at all. Each new operator gets an invitation mail (see [`crate::team::invitations`]).
//!
//! The file is RFC 4180 CSV: comma-separated, fields optionally in double quotes (a quote
//! inside doubled), CRLF or LF line ends. A first line `name,email,role` (any order, any case)
//! is a header; without one the columns are name, email, role.

use omnibridge_channel::{Address, AddressKind};
use serde::Serialize;
use uuid::Uuid;

use crate::privacy::Keyring;
use crate::store::{self, Db, OperatorRow, StoreError};

pub const MAX_ROWS: usize = 100;

/// One problem in the file: its line (1 is the first line of the file) and field.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub field: String,
    pub detail: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, {}: {}", self.line, self.field, self.detail)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has {} problem(s); nothing was imported", .0.len())]
    Invalid(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A valid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperator {
    pub line: usize,
    pub name: String,
    pub email: String,
    pub role: String,
}

/// Splits CSV text (RFC 4180, read by the `csv` crate) into records, each with the line it
/// starts on. Never fails: an unclosed quote runs to the end of the file (and the record is then
/// checked like any other); rows may have any number of fields (the checks name short ones).
pub fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    while let Ok(true) = reader.read_record(&mut record) {
        // The line a record starts on. The reader's position is where it began reading the
        // record: before the previous line break and any blank lines (its own line count skips
        // those), so step over them first.
        let mut start = record.position().map_or(0, |p| p.byte() as usize).min(text.len());
        while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let line = 1 + text.as_bytes()[..start].iter().filter(|b| **b == b'\n').count();
        out.push((line, record.iter().map(str::to_owned).collect()));
    }
    // Blank lines are no records.
    out.retain(|(_, r): &(usize, Vec<String>)| !(r.len() == 1 && r[0].trim().is_empty()));
    out
}

use crate::domain::is_email as valid_email;

/// Parses and checks the rows on their own (not against the database).
pub fn parse(text: &str) -> Result<Vec<NewOperator>, Vec<RowError>> {
    let mut records = records(text);
    let mut errors = Vec::new();
    let err = |line: usize, field: &str, detail: String| RowError { line, field: field.into(), detail };
    let mut columns = [0usize, 1, 2];
    if let Some((_, first)) = records.first() {
        let names: Vec<String> = first.iter().map(|f| f.trim().to_ascii_lowercase()).collect();
        if names.iter().any(|n| n == "email") {
            for (i, wanted) in ["name", "email", "role"].iter().enumerate() {
                match names.iter().position(|n| n == wanted) {
                    Some(at) => columns[i] = at,
                    None => errors.push(err(records[0].0, wanted, format!("the header has no {wanted:?} column"))),
                }
            }
            records.remove(0);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if records.is_empty() {
        return Err(vec![err(1, "file", "no operators in the file".into())]);
    }
    if records.len() > MAX_ROWS {
        return Err(vec![err(records[MAX_ROWS].0, "file", format!("at most {MAX_ROWS} operators per import; split the file"))]);
    }
    let width = columns.iter().max().map_or(3, |m| m + 1);
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut rows = Vec::new();
    for (line, record) in records {
        if record.len() < width {
            errors.push(err(line, "row", format!("expected {width} fields (name, email, role), found {}", record.len())));
            continue;
        }
        let name = record[columns[0]].trim().to_owned();
        let email = record[columns[1]].trim().to_lowercase();
        let role = record[columns[2]].trim().to_ascii_lowercase();
        let before = errors.len();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            errors.push(err(line, "name", "must be 1 to 200 characters".into()));
        }
        if !valid_email(&email) {
            errors.push(err(line, "email", format!("{:?} is not an email address", record[columns[1]].trim())));
        } else if let Some(first) = seen.get(&email) {
            errors.push(err(line, "email", format!("also on line {first}")));
        } else {
            seen.insert(email.clone(), line);
        }
        if !["admin", "agent"].contains(&role.as_str()) {
            errors.push(err(line, "role", format!("{:?}: must be admin or agent", record[columns[2]].trim())));
        }
        if errors.len() == before {
            rows.push(NewOperator { line, name, email, role });
        }
    }
    if errors.is_empty() { Ok(rows) } else { Err(errors) }
}

/// Checks the rows against the tenant: addresses already in the team, and addresses that asked
/// not to be invited.
async fn check_against(db: &Db, keyring: &Keyring, tenant_id: Uuid, rows: &[NewOperator]) -> Result<Vec<RowError>, StoreError> {
    let emails: Vec<String> = rows.iter().map(|r| r.email.clone()).collect();
    let taken = store::invitations::taken_emails(db, tenant_id, &emails).await?;
    let mut errors = Vec::new();
    for row in rows {
        if taken.contains(&row.email) {
            errors.push(RowError { line: row.line, field: "email".into(), detail: "already an operator of this tenant".into() });
        } else if store::invitations::is_suppressed(db, tenant_id, &suppression_index(keyring, tenant_id, &row.email)).await? {
            errors.push(RowError { line: row.line, field: "email".into(), detail: "this address asked not to be invited".into() });
        }
    }
    Ok(errors)
}

/// The keyed hash an address is suppressed under.
pub fn suppression_index(keyring: &Keyring, tenant_id: Uuid, email: &str) -> Vec<u8> {
    keyring.blind_index(tenant_id, &Address::new(AddressKind::Email, email))
}

/// Imports the file: every operator and their invitation in one transaction, or nothing.
pub async fn import(db: &Db, keyring: &Keyring, tenant_id: Uuid, text: &str) -> Result<Vec<OperatorRow>, ImportError> {
    let rows = parse(text).map_err(ImportError::Invalid)?;
    let errors = check_against(db, keyring, tenant_id, &rows).await?;
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }
    let mut tx = db.begin().await?;
    let mut created = Vec::with_capacity(rows.len());
    for row in &rows {
        let operator = store::keys::insert_operator(&mut tx, tenant_id, &row.name, Some(&row.email), &row.role).await?;
        store::invitations::insert(&mut tx, tenant_id, operator.id).await?;
        created.push(operator);
    }
    tx.commit().await?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        let text = "name,email,role\r\n\"Doe, Jane \"\"JD\"\"\",jane@example.com,agent\n\"Two\nLines\",x@example.com,admin\nLast,last@example.com,agent";
        let records = records(text);
        assert_eq!(records[1], (2, vec!["Doe, Jane \"JD\"".to_owned(), "jane@example.com".into(), "agent".into()]));
        assert_eq!(records[2].0, 3);
        assert_eq!(records[2].1[0], "Two\nLines");
        assert_eq!(records[3].0, 5, "the record after a two-line field starts on line 5");
    }

    #[test]
    fn every_problem_is_reported_with_its_line_and_field() {
        let text = "name,email,role\nAda,ada@example.com,agent\nBob,not-an-address,boss\n\nAda Again,ADA@example.com,admin\nShort,s@example.com\n";
        let errors = parse(text).unwrap_err();
        let at: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(at, vec![(3, "email"), (3, "role"), (5, "email"), (6, "row")]);
        assert!(errors[2].detail.contains("line 2"));
    }

    #[test]
    fn columns_follow_the_header_and_a_file_without_one() {
        let rows = parse("role,name,email\nagent,Ada,ada@example.com\n").unwrap();
        assert_eq!(rows[0].name, "Ada");
        let rows = parse("Ada,ada@example.com,Admin\n").unwrap();
        assert_eq!((rows[0].line, rows[0].role.as_str()), (1, "admin"));
    }

    #[test]
    fn more_than_a_hundred_rows_are_refused() {
        let text: String = (0..=MAX_ROWS).map(|i| format!("N{i},n{i}@example.com,agent\n")).collect();
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors[0].line, MAX_ROWS + 1);
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_without_panicking(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }
    }
}
