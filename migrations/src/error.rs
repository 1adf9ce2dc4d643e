//! The crate's one error type.

use std::fmt;

/// Why a database operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be reached or refused the login.
    Connect(sqlx::Error),
    /// A migration failed (it was rolled back) or the applied migrations do not match this build's.
    Migrate(sqlx::migrate::MigrateError),
    /// The database refused a write that breaks a rule of the schema: the value taken (an extension already in
    /// use), out of shape (an HA1 that is not hex), or a reference to a row that does not exist.
    Constraint {
        /// Which kind of rule.
        kind: ConstraintKind,
        /// The constraint's name in the schema, e.g. `aliases_domain_alias_key`.
        constraint: String,
        /// PostgreSQL's message.
        message: String,
    },
    /// Any other failure of a query: the connection was lost, the pool timed out, a statement failed.
    Query(sqlx::Error),
    /// A row read back breaks a promise of the schema (for example an HA1 column that does not hold hex): the
    /// database was changed behind this crate's back.
    CorruptRow {
        /// The table read.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The key file of sealed trunk passwords could not be read or created, or does not hold exactly 32 bytes.
    SealKey {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A sealed trunk password could not be unsealed: the envelope is not one this version writes, or its
    /// authentication tag does not verify (it was sealed with another key, or changed since).
    Unseal {
        /// What is wrong.
        reason: &'static str,
    },
    /// The caller passed a value the schema cannot hold, caught before it reached the database.
    InvalidInput {
        /// Which argument.
        what: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

/// The kinds of schema rule a write can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConstraintKind {
    /// A unique key (also: an alias equal to an emergency number, which triggers report the same way).
    Unique,
    /// A foreign key: the row referred to does not exist, or is still referred to.
    ForeignKey,
    /// A CHECK constraint: the value is out of shape or range.
    Check,
    /// A required column was NULL.
    NotNull,
}

impl Error {
    /// The constraint broken, when this is [`Error::Constraint`].
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Error::Constraint { constraint, .. } => Some(constraint),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Error {
        let sqlx::Error::Database(db) = &error else { return Error::Query(error) };
        let kind = match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => ConstraintKind::Unique,
            sqlx::error::ErrorKind::ForeignKeyViolation => ConstraintKind::ForeignKey,
            sqlx::error::ErrorKind::CheckViolation => ConstraintKind::Check,
            sqlx::error::ErrorKind::NotNullViolation => ConstraintKind::NotNull,
            _ => return Error::Query(error),
        };
        Error::Constraint {
            kind,
            constraint: db.constraint().unwrap_or_default().to_owned(),
            message: db.message().to_owned(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(e) => write!(f, "cannot connect to the database: {e}"),
            Error::Migrate(e) => write!(f, "migration failed: {e}"),
            Error::Constraint { kind, constraint, message } => {
                write!(f, "refused by the schema ({kind:?} constraint {constraint}): {message}")
            }
            Error::Query(e) => write!(f, "database query failed: {e}"),
            Error::CorruptRow { table, reason } => write!(f, "unexpected row in {table}: {reason}"),
            Error::InvalidInput { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::SealKey { path, reason } => write!(f, "seal key file {}: {reason}", path.display()),
            Error::Unseal { reason } => write!(f, "the sealed password cannot be unsealed: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(e) | Error::Query(e) => Some(e),
            Error::Migrate(e) => Some(e),
            _ => None,
        }
    }
}
