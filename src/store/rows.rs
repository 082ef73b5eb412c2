//! Row mapping shared by both backends.

/// Declares a row struct and its `FromRow` for both backends, reading each column by the field's
/// name. (sqlx's derive would pull its whole macro stack into the build for this.)
macro_rules! row_struct {
    ($(#[$meta:meta])* $vis:vis struct $ty:ident { $($field:ident : $t:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis struct $ty { $(pub $field: $t),* }

        impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for $ty {
            fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row;
                Ok(Self { $($field: row.try_get(stringify!($field))?),* })
            }
        }

        impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for $ty {
            fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row;
                Ok(Self { $($field: row.try_get(stringify!($field))?),* })
            }
        }
    };
}
pub(crate) use row_struct;

/// One page of a list and the cursor of the next, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<uuid::Uuid>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: usize, id: impl Fn(&T) -> uuid::Uuid) -> Self {
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&id)
        } else {
            None
        };
        Self { items: rows, next_cursor }
    }
}

/// How a backend spells bind parameters in generated SQL. Bulk statements use SQLite's anonymous
/// `?` (bound in order): sqlx resolves every `$N` by name, which costs O(n²) in the number of
/// parameters of a statement, and bulk statements have hundreds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `($1, $2), ($3, $4)` (or `(?, ?), (?, ?)`) for `rows` tuples of `cols` values, numbered
    /// from `$first`.
    pub fn tuples(self, rows: usize, cols: usize, first: usize) -> String {
        let mut out = String::with_capacity(rows * cols * 5);
        for r in 0..rows {
            if r > 0 {
                out.push_str(", ");
            }
            out.push('(');
            out.push_str(&self.list(cols, first + r * cols));
            out.push(')');
        }
        out
    }

    /// `$first, …` — `n` parameters separated by commas.
    pub fn list(self, n: usize, first: usize) -> String {
        let mut out = String::with_capacity(n * 5);
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            match self {
                Self::Sqlite => out.push('?'),
                Self::Postgres => {
                    out.push('$');
                    out.push_str(&(first + i).to_string());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn tuples_number_placeholders_in_order() {
        assert_eq!(Dialect::Postgres.tuples(2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(Dialect::Postgres.tuples(1, 1, 4), "($4)");
        assert_eq!(Dialect::Sqlite.tuples(2, 2, 1), "(?, ?), (?, ?)");
    }
}
