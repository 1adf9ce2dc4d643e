//! Why a command failed, as the one line the administrator reads.

use carillon_db::{ConstraintKind, Error};

/// A failed command: one line saying what is wrong, printed as `carillon: ...` on standard error.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure { message: message.into() }
    }

    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn print(&self) {
        // Database and network errors can carry line breaks; a script reading stderr expects one line.
        let line: String =
            self.message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned();
        eprintln!("carillon: {line}");
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::new(describe(&error))
    }
}

/// What a database error means for the administrator: schema rules broken by a write are named in words.
pub(crate) fn describe(error: &Error) -> String {
    let Error::Constraint { kind, constraint, message } = error else { return error.to_string() };
    let rule = match constraint.as_str() {
        "domains_name_key" => "a domain of that name exists already",
        "domains_realm_key" => "another domain has that realm already",
        "domains_name_shape" => "a domain name is lower-case letters, digits, '.' and '-'",
        "domains_realm_shape" => "a realm is not empty and has no '\"' or '\\'",
        "user_classes_domain_name_key" => "the domain has a class of that name already",
        "user_classes_name_not_empty" => "a class needs a name",
        "users_domain_name_key" => "the domain has a user of that name already",
        "users_name_shape" => {
            "a user name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        }
        "users_display_name_shape" => "a display name is at most 128 characters without control characters",
        "users_email_shape" => "an e-mail address looks like name@host",
        "aliases_domain_alias_key" => "the domain has that alias already",
        "aliases_alias_shape" => {
            "an alias is up to 15 digits (an extension) or up to 64 letters, digits, '.', '_' or '-' with at least \
             one letter (a name)"
        }
        "aliases_not_emergency_number" => "an emergency number cannot be an alias",
        "lines_domain_username_key" => "the domain has a line with that username already",
        "lines_username_shape" => {
            "a line username is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        }
        "trunks_credentials_complete" => "a trunk with a password needs a digest username: give --username",
        "trunks_auth_username_not_empty" => "a trunk's digest username cannot be empty",
        "forwarding_no_answer_delay_range" => "the no-answer delay is 1 to 600 seconds",
        "forwarding_unconditional_not_empty" | "forwarding_busy_not_empty" | "forwarding_no_answer_not_empty" => {
            "a forward target cannot be empty"
        }
        _ => {
            let kind = match kind {
                ConstraintKind::Unique => "already exists",
                ConstraintKind::ForeignKey => "refers to something missing, or is still in use",
                ConstraintKind::Check => "is out of shape",
                ConstraintKind::NotNull => "is missing a value",
                _ => "breaks a rule of the schema",
            };
            return format!("refused by the database: the value {kind} ({message})");
        }
    };
    format!("refused by the database: {rule}")
}
