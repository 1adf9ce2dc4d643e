//! Where the database is: the command line, the environment, or the proxy's configuration file.

use std::path::{Path, PathBuf};

use crate::failure::Failure;

/// The configuration file `scripts/run` writes and `carillon-proxy` reads.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/carillon/carillon-proxy.toml";

/// The connection string: `given` (from `--database-url` or `DATABASE_URL`), else `[database] url` of the
/// configuration file at `config` when that file exists and is readable.
pub(crate) fn database_url(given: Option<&str>, config: &Path) -> Result<String, Failure> {
    if let Some(url) = given.filter(|url| !url.trim().is_empty()) {
        return Ok(url.trim().to_owned());
    }
    let missing = || {
        Failure::new(format!(
            "no database given: use --database-url, set DATABASE_URL, or set [database] url in {}",
            config.display()
        ))
    };
    let text = match std::fs::read_to_string(config) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => {
            return Err(Failure::new(format!(
                "no database given, and {} is not readable ({e}): use --database-url or DATABASE_URL",
                config.display()
            )));
        }
    };
    url_from_config(&text)
        .map_err(|reason| Failure::new(format!("{}: {reason}", config.display())))?
        .ok_or_else(missing)
}

/// The seal key file of trunk passwords: `given` (from `--seal-key-file`), else `[trunks] seal_key_file` of the
/// configuration file at `config`.
pub(crate) fn seal_key_file(given: Option<&Path>, config: &Path) -> Result<PathBuf, Failure> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    let missing = || {
        Failure::new(format!(
            "no seal key file given: use --seal-key-file, or set [trunks] seal_key_file in {}",
            config.display()
        ))
    };
    let text = std::fs::read_to_string(config).map_err(|_| missing())?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| Failure::new(format!("{}: not valid TOML: {}", config.display(), e.message())))?;
    let path = table.get("trunks").and_then(|t| t.get("seal_key_file")).ok_or_else(missing)?;
    path.as_str()
        .map(PathBuf::from)
        .ok_or_else(|| Failure::new(format!("{}: [trunks] seal_key_file is not a string", config.display())))
}

/// `[database] url` of a carillon-proxy configuration; `None` when it has none. Other tables are not checked
/// here: the proxy validates its own configuration.
fn url_from_config(text: &str) -> Result<Option<String>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| format!("not valid TOML: {}", e.message()))?;
    let Some(database) = table.get("database") else { return Ok(None) };
    let Some(url) = database.get("url") else { return Ok(None) };
    url.as_str().map(|url| Some(url.to_owned())).ok_or_else(|| "[database] url is not a string".to_owned())
}

/// `url` with its password replaced by `***`, for messages.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
    let Some((credentials, host)) = authority.rsplit_once('@') else { return url.to_owned() };
    let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
    let masked = if credentials.contains(':') { format!("{user}:***") } else { user.to_owned() };
    match tail {
        Some(tail) => format!("{scheme}://{masked}@{host}/{tail}"),
        None => format!("{scheme}://{masked}@{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_comes_from_the_database_table() {
        let config = "[node]\nid = \"sip1\"\n[database]\nurl = \"postgres://c:s@127.0.0.1:5433/carillon\"\n";
        assert_eq!(url_from_config(config), Ok(Some("postgres://c:s@127.0.0.1:5433/carillon".to_owned())));
        assert_eq!(url_from_config("[node]\nid = \"sip1\"\n"), Ok(None));
        assert!(url_from_config("[database]\nurl = 5\n").is_err());
        assert!(url_from_config("[database\n").is_err());
    }

    #[test]
    fn given_url_wins_over_the_file() {
        let url = database_url(Some("postgres://a@b/c"), Path::new("/nonexistent/carillon.toml"));
        assert_eq!(url.map_err(|f| f.message().to_owned()), Ok("postgres://a@b/c".to_owned()));
    }

    #[test]
    fn missing_file_without_url_names_every_way_to_give_one() {
        let failure = database_url(None, Path::new("/nonexistent/carillon.toml")).err().map(|f| f.message().to_owned());
        let message = failure.unwrap_or_default();
        assert!(message.contains("--database-url") && message.contains("DATABASE_URL"), "{message}");
    }

    #[test]
    fn redaction_hides_only_the_password() {
        assert_eq!(
            redacted("postgres://carillon:s3cret@127.0.0.1:5433/carillon"),
            "postgres://carillon:***@127.0.0.1:5433/carillon"
        );
        assert_eq!(redacted("postgres://carillon@127.0.0.1/carillon"), "postgres://carillon@127.0.0.1/carillon");
        assert_eq!(redacted("postgres://u:p:q@h"), "postgres://u:***@h");
    }
}
