//! The subcommands that work on the database.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use carillon_db::seal::SealKey;
use carillon_db::{CallPermissions, DEMO_DOMAIN, Domain, Error, Forwarding, MIGRATOR, RingTarget, User, UserListing};
use serde_json::{Value, json};
use sqlx::PgPool;
use zeroize::Zeroizing;

use crate::failure::Failure;
use crate::output::{Output, ago, cell, short_duration, table, unix_seconds};
use crate::secret::new_line_secret;
use crate::{
    ClassCommand, Cli, Command, DomainArg, DomainCommand, ForwardCommand, LineCommand, TrunkCommand, UserCommand,
    config,
};

/// A call category as typed in `--may-call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CallCategoryArg {
    Internal,
    Campus,
    Local,
    LongDistance,
    International,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnOff {
    On,
    Off,
}

/// Runs a database subcommand (every one but `ping`).
pub(crate) async fn run(cli: Cli) -> Result<Output, Failure> {
    let url = config::database_url(cli.database_url.as_deref(), &cli.config)?;
    let pool = carillon_db::connect(&url).await.map_err(|e| {
        let reason = match &e {
            Error::Connect(inner) => inner.to_string(),
            other => other.to_string(),
        };
        Failure::new(format!("cannot connect to the database at {}: {reason}", config::redacted(&url)))
    })?;
    if let Command::Migrate { status } = cli.command {
        return migrate(&pool, status).await;
    }
    require_current_schema(&pool).await?;
    match cli.command {
        Command::SeedDemo { users, seed, credentials } => seed_demo(&pool, users, seed, &credentials).await,
        Command::Domain(DomainCommand::Add { name, realm }) => domain_add(&pool, &name, realm.as_deref()).await,
        Command::Domain(DomainCommand::List) => domain_list(&pool).await,
        Command::Class(ClassCommand::Add { domain, name, may_call }) => {
            class_add(&pool, &domain, &name, &may_call).await
        }
        Command::Class(ClassCommand::List { domain }) => class_list(&pool, &domain).await,
        Command::User(UserCommand::Add { domain, name, display_name, email, department, class, extension, alias }) => {
            let new = NewUserArgs {
                name: &name,
                display_name: &display_name,
                email: email.as_deref(),
                department: department.as_deref(),
                class: &class,
                extension: &extension,
                aliases: &alias,
            };
            user_add(&pool, &domain, &new).await
        }
        Command::User(UserCommand::Remove { domain, user }) => user_remove(&pool, &domain, &user).await,
        Command::User(UserCommand::List { domain, search }) => {
            user_list(&pool, domain.as_deref(), search.as_deref()).await
        }
        Command::Line(LineCommand::Add { domain, user, username, device }) => {
            line_add(&pool, &domain, &user, username.as_deref(), device.as_deref()).await
        }
        Command::Line(LineCommand::RotateSecret { domain, line }) => line_rotate_secret(&pool, &domain, &line).await,
        Command::Forward(ForwardCommand::Set { domain, user, always, busy, no_answer, after, dnd }) => {
            let change = ForwardChange { always, busy, no_answer, after, dnd };
            forward_set(&pool, &domain, &user, &change).await
        }
        Command::Forward(ForwardCommand::Show { domain, user }) => forward_show(&pool, &domain, &user).await,
        Command::Trunk(TrunkCommand::SetPassword { trunk, username, password_stdin, seal_key_file }) => {
            let key_file = config::seal_key_file(seal_key_file.as_deref(), &cli.config)?;
            let source = if password_stdin { PasswordSource::Stdin } else { PasswordSource::Terminal };
            trunk_set_password(&pool, &trunk, username.as_deref(), source, &key_file).await
        }
        Command::Registrations { user, domain } => registrations(&pool, user.as_deref(), &domain).await,
        Command::Nodes => nodes(&pool).await,
        Command::Migrate { .. } | Command::Ping { .. } => Err(Failure::new("internal: command dispatched twice")),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Schema

async fn migrate(pool: &PgPool, status_only: bool) -> Result<Output, Failure> {
    let before = carillon_db::schema_version(pool).await?;
    let latest = carillon_db::latest_schema_version();
    if status_only {
        let pending: Vec<Value> = pending_migrations(before)
            .into_iter()
            .map(|(version, description)| json!({ "version": version, "description": description }))
            .collect();
        let human = match (before, pending.len()) {
            (Some(v), 0) => format!("schema at version {v} of {latest}: up to date"),
            (applied, n) => {
                let list: Vec<String> = pending_migrations(applied)
                    .into_iter()
                    .map(|(version, description)| format!("  {version:04} {description}"))
                    .collect();
                format!(
                    "schema at version {} of {latest}: {n} migration(s) pending (run carillon migrate)\n{}",
                    applied.map_or("none".to_owned(), |v| v.to_string()),
                    list.join("\n")
                )
            }
        };
        return Ok(Output::new(human, json!({ "version": before, "latest": latest, "pending": pending })));
    }
    carillon_db::migrate(pool).await?;
    let after = carillon_db::schema_version(pool).await?;
    let applied = pending_migrations(before).len() - pending_migrations(after).len();
    let human = if applied == 0 {
        format!("schema already at version {}: nothing to apply", after.unwrap_or(0))
    } else {
        format!("applied {applied} migration(s): schema at version {}", after.unwrap_or(0))
    };
    Ok(Output::new(human, json!({ "version": after, "latest": latest, "applied": applied })))
}

/// The up migrations of this build newer than `applied`, oldest first.
fn pending_migrations(applied: Option<i64>) -> Vec<(i64, String)> {
    let applied = applied.unwrap_or(0);
    let mut pending: Vec<(i64, String)> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && m.version > applied)
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    pending.sort();
    pending
}

async fn require_current_schema(pool: &PgPool) -> Result<(), Failure> {
    let latest = carillon_db::latest_schema_version();
    match carillon_db::schema_version(pool).await? {
        None => Err(Failure::new("the database has no Carillon schema yet: run carillon migrate")),
        Some(version) if version < latest => Err(Failure::new(format!(
            "the database schema is at version {version}, this carillon needs {latest}: run carillon migrate"
        ))),
        Some(_) => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Demo campus

async fn seed_demo(pool: &PgPool, users: u32, seed: u64, credentials: &Path) -> Result<Output, Failure> {
    if let Some(domain) = carillon_db::domain_by_name(pool, DEMO_DOMAIN).await? {
        let count = carillon_db::user_listing(pool, Some(domain.id), None).await?.len();
        let json = json!({
            "domain": DEMO_DOMAIN, "created": false, "users": count, "credentials": credentials.display().to_string(),
        });
        let output =
            Output::new(format!("the demo campus {DEMO_DOMAIN} exists already ({count} users): nothing changed"), json);
        return Ok(if credentials.exists() {
            output
        } else {
            output.with_warning(format!(
                "{} does not exist: the demo line passwords were written only when the campus was created; \
                 give a line a new one with carillon line rotate-secret --line EXTENSION",
                credentials.display()
            ))
        });
    }
    // Check the file can be written before creating passwords that exist nowhere else.
    let directory = credentials.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !directory.is_dir() {
        return Err(Failure::new(format!(
            "cannot write {}: {} is not a directory",
            credentials.display(),
            directory.display()
        )));
    }
    let campus = carillon_db::seed_demo(pool, users, seed).await?;
    campus.write_credentials(credentials).map_err(|e| {
        Failure::new(format!(
            "the demo campus was created but its passwords could not be written to {} ({e}); give lines new ones \
             with carillon line rotate-secret",
            credentials.display()
        ))
    })?;
    let n = campus.lines.len();
    Ok(Output::new(
        format!(
            "created the demo campus {DEMO_DOMAIN}: {n} users with extensions 4000-{}, one line each; line \
             credentials in {}",
            4000 + n.saturating_sub(1),
            credentials.display()
        ),
        json!({ "domain": DEMO_DOMAIN, "created": true, "users": n, "credentials": credentials.display().to_string() }),
    ))
}

// ---------------------------------------------------------------------------------------------------------------
// Domains and classes

async fn pick_domain(pool: &PgPool, arg: &DomainArg) -> Result<Domain, Failure> {
    if let Some(name) = &arg.domain {
        if let Some(domain) = carillon_db::domain_by_name(pool, name).await? {
            return Ok(domain);
        }
        let known = carillon_db::domains(pool).await?;
        return Err(Failure::new(format!(
            "no domain {name} (domains: {})",
            names_or_none(known.iter().map(|d| d.name.as_str()))
        )));
    }
    let mut domains = carillon_db::domains(pool).await?;
    match domains.len() {
        0 => Err(Failure::new("there is no domain yet: add one with carillon domain add, or carillon seed-demo")),
        1 => Ok(domains.remove(0)),
        _ => Err(Failure::new(format!(
            "there are several domains ({}): say which with --domain",
            names_or_none(domains.iter().map(|d| d.name.as_str()))
        ))),
    }
}

fn names_or_none<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

async fn domain_add(pool: &PgPool, name: &str, realm: Option<&str>) -> Result<Output, Failure> {
    let realm = realm.unwrap_or(name);
    let id = carillon_db::add_domain(pool, name, realm).await?;
    Ok(Output::new(format!("added domain {name} (realm {realm})"), json!({ "id": id, "name": name, "realm": realm })))
}

async fn domain_list(pool: &PgPool) -> Result<Output, Failure> {
    let domains = carillon_db::domains(pool).await?;
    let rows: Vec<Vec<String>> = domains.iter().map(|d| vec![d.name.clone(), d.realm.clone()]).collect();
    let json: Vec<Value> = domains.iter().map(|d| json!({ "id": d.id, "name": d.name, "realm": d.realm })).collect();
    Ok(Output::new(table(&["DOMAIN", "REALM"], &rows, "no domains"), Value::Array(json)))
}

fn permissions(categories: &[CallCategoryArg]) -> CallPermissions {
    CallPermissions {
        internal: categories.contains(&CallCategoryArg::Internal),
        campus: categories.contains(&CallCategoryArg::Campus),
        local: categories.contains(&CallCategoryArg::Local),
        long_distance: categories.contains(&CallCategoryArg::LongDistance),
        international: categories.contains(&CallCategoryArg::International),
    }
}

fn permission_names(p: &CallPermissions) -> Vec<&'static str> {
    [
        (p.internal, "internal"),
        (p.campus, "campus"),
        (p.local, "local"),
        (p.long_distance, "long-distance"),
        (p.international, "international"),
    ]
    .into_iter()
    .filter_map(|(allowed, name)| allowed.then_some(name))
    .collect()
}

async fn class_add(
    pool: &PgPool,
    domain: &DomainArg,
    name: &str,
    may_call: &[CallCategoryArg],
) -> Result<Output, Failure> {
    let domain = pick_domain(pool, domain).await?;
    let permissions = permissions(may_call);
    let id = carillon_db::add_user_class(pool, domain.id, name, permissions).await?;
    let may = permission_names(&permissions);
    Ok(Output::new(
        format!("added class {name} to {}: may call {} and emergency numbers", domain.name, may.join(", ")),
        json!({ "id": id, "domain": domain.name, "name": name, "may_call": may }),
    ))
}

async fn class_list(pool: &PgPool, domain: &DomainArg) -> Result<Output, Failure> {
    let domain = pick_domain(pool, domain).await?;
    let classes = carillon_db::user_classes(pool, domain.id).await?;
    let rows: Vec<Vec<String>> =
        classes.iter().map(|c| vec![c.name.clone(), permission_names(&c.permissions).join(",")]).collect();
    let json: Vec<Value> = classes
        .iter()
        .map(|c| json!({ "id": c.id, "domain": domain.name, "name": c.name, "may_call": permission_names(&c.permissions) }))
        .collect();
    Ok(Output::new(table(&["CLASS", "MAY CALL (and emergency)"], &rows, "no classes"), Value::Array(json)))
}

// ---------------------------------------------------------------------------------------------------------------
// Users

struct NewUserArgs<'a> {
    name: &'a str,
    display_name: &'a str,
    email: Option<&'a str>,
    department: Option<&'a str>,
    class: &'a str,
    extension: &'a str,
    aliases: &'a [String],
}

async fn find_user(pool: &PgPool, domain: &Domain, key: &str) -> Result<User, Failure> {
    carillon_db::find_user(pool, domain.id, key)
        .await?
        .ok_or_else(|| Failure::new(format!("no user, extension or alias {key} in {}", domain.name)))
}

/// "alice (Alice Cueba)", or "alice" without a display name.
fn user_label(user: &User) -> String {
    if user.display_name.is_empty() { user.name.clone() } else { format!("{} ({})", user.name, user.display_name) }
}

/// Who holds `alias` in `domain`, as "extension 4711 is taken by alice (Alice Cueba) in campus.test".
async fn alias_taken(pool: &PgPool, domain: &Domain, alias: &str) -> Result<Option<Failure>, Failure> {
    let Some(holder) = carillon_db::resolve_dialled(pool, &domain.name, alias).await? else { return Ok(None) };
    let what = if alias.bytes().all(|b| b.is_ascii_digit()) { "extension" } else { "alias" };
    Ok(Some(Failure::new(format!("{what} {alias} is taken by {} in {}", user_label(&holder.user), domain.name))))
}

async fn user_add(pool: &PgPool, domain: &DomainArg, new: &NewUserArgs<'_>) -> Result<Output, Failure> {
    let extension = new.extension;
    if extension.is_empty() || extension.len() > 15 || !extension.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Failure::new(format!("extension {extension:?} is not 1 to 15 digits")));
    }
    if let Some(alias) = new.aliases.iter().find(|a| !a.bytes().any(|b| b.is_ascii_alphabetic())) {
        return Err(Failure::new(format!("alias {alias:?} has no letter: give digits as --extension")));
    }
    let domain = pick_domain(pool, domain).await?;
    let classes = carillon_db::user_classes(pool, domain.id).await?;
    let Some(class) = classes.iter().find(|c| c.name.eq_ignore_ascii_case(new.class)) else {
        return Err(Failure::new(format!(
            "no class {} in {} (classes: {})",
            new.class,
            domain.name,
            names_or_none(classes.iter().map(|c| c.name.as_str()))
        )));
    };
    if let Some(existing) = carillon_db::find_user(pool, domain.id, new.name).await?
        && existing.name.eq_ignore_ascii_case(new.name)
    {
        return Err(Failure::new(format!("{} has a user named {} already", domain.name, existing.name)));
    }
    let aliases: Vec<&str> = std::iter::once(extension).chain(new.aliases.iter().map(String::as_str)).collect();
    for alias in &aliases {
        if let Some(taken) = alias_taken(pool, &domain, alias).await? {
            return Err(taken);
        }
    }

    let mut tx = pool.begin().await.map_err(Error::from)?;
    let user = carillon_db::NewUser {
        domain_id: domain.id,
        name: new.name,
        display_name: new.display_name,
        email: new.email,
        department: new.department,
        user_class_id: class.id,
    };
    let user_id = carillon_db::add_user(&mut *tx, &user).await.map_err(|e| match e.constraint() {
        Some("users_domain_name_key") => Failure::new(format!("{} has a user named {} already", domain.name, new.name)),
        _ => Failure::from(e),
    })?;
    let mut failed = None;
    for alias in &aliases {
        if let Err(e) = carillon_db::add_alias(&mut *tx, domain.id, user_id, alias).await {
            failed = Some((*alias, e));
            break;
        }
    }
    if let Some((alias, e)) = failed {
        drop(tx);
        return Err(match e.constraint() {
            // Taken between the check above and the insert.
            Some("aliases_domain_alias_key") => {
                alias_taken(pool, &domain, alias).await?.unwrap_or_else(|| Failure::from(e))
            }
            Some("aliases_not_emergency_number") => {
                Failure::new(format!("{alias} is an emergency number and cannot reach a user"))
            }
            _ => Failure::from(e),
        });
    }
    tx.commit().await.map_err(Error::from)?;
    let listing = listing_of(pool, domain.id, user_id, new.name).await?;
    Ok(Output::new(format!("added {}", user_line(&listing)), user_json(&listing)))
}

async fn listing_of(pool: &PgPool, domain_id: i64, user_id: i64, name: &str) -> Result<UserListing, Failure> {
    carillon_db::user_listing(pool, Some(domain_id), Some(name))
        .await?
        .into_iter()
        .find(|l| l.user.id == user_id)
        .ok_or_else(|| Failure::new(format!("user {name} vanished while it was being read")))
}

/// One sentence about a user: "alice (Alice Cueba) in campus.test, class staff, extension 4711, alias alice.cueba".
fn user_line(listing: &UserListing) -> String {
    let mut text = format!("{} in {}, class {}", user_label(&listing.user), listing.domain, listing.class);
    if !listing.extensions.is_empty() {
        text.push_str(&format!(", extension {}", listing.extensions.join(", ")));
    }
    if !listing.names.is_empty() {
        text.push_str(&format!(", alias {}", listing.names.join(", ")));
    }
    text
}

fn user_json(listing: &UserListing) -> Value {
    let u = &listing.user;
    json!({
        "id": u.id,
        "domain": listing.domain,
        "name": u.name,
        "display_name": u.display_name,
        "email": u.email,
        "department": u.department,
        "class": listing.class,
        "extensions": listing.extensions,
        "aliases": listing.names,
        "lines": listing.lines,
    })
}

async fn user_remove(pool: &PgPool, domain: &DomainArg, key: &str) -> Result<Output, Failure> {
    let domain = pick_domain(pool, domain).await?;
    let user = find_user(pool, &domain, key).await?;
    let listing = listing_of(pool, domain.id, user.id, &user.name).await?;
    if !carillon_db::remove_user(pool, user.id).await? {
        return Err(Failure::new(format!("user {} was removed meanwhile", user.name)));
    }
    Ok(Output::new(
        format!("removed {} with {} line(s)", user_line(&listing), listing.lines.len()),
        json!({ "removed": user_json(&listing) }),
    ))
}

async fn user_list(pool: &PgPool, domain: Option<&str>, search: Option<&str>) -> Result<Output, Failure> {
    let domain_id = match domain {
        Some(name) => Some(pick_domain(pool, &DomainArg { domain: Some(name.to_owned()) }).await?.id),
        None => None,
    };
    let users = carillon_db::user_listing(pool, domain_id, search).await?;
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|l| {
            vec![
                l.user.name.clone(),
                cell(Some(&l.user.display_name)),
                cell(Some(&l.extensions.join(","))),
                cell(Some(&l.names.join(","))),
                l.class.clone(),
                cell(l.user.department.as_deref()),
                cell(l.user.email.as_deref()),
                cell(Some(&l.lines.join(","))),
                l.domain.clone(),
            ]
        })
        .collect();
    let headers = ["NAME", "DISPLAY NAME", "EXTENSION", "ALIASES", "CLASS", "DEPARTMENT", "E-MAIL", "LINES", "DOMAIN"];
    Ok(Output::new(table(&headers, &rows, "no users"), Value::Array(users.iter().map(user_json).collect())))
}

// ---------------------------------------------------------------------------------------------------------------
// Lines

async fn line_add(
    pool: &PgPool,
    domain: &DomainArg,
    key: &str,
    username: Option<&str>,
    device: Option<&str>,
) -> Result<Output, Failure> {
    let domain = pick_domain(pool, domain).await?;
    let user = find_user(pool, &domain, key).await?;
    let username = match username {
        Some(username) => {
            if carillon_db::line_credentials(pool, username, &domain.realm).await?.is_some() {
                return Err(Failure::new(format!("{} has a line {username} already", domain.name)));
            }
            username.to_owned()
        }
        None => default_line_username(pool, &domain, &user).await?,
    };
    let label = device.map_or_else(|| format!("Line {username}"), str::to_owned);
    let password = new_line_secret();
    let mut tx = pool.begin().await.map_err(Error::from)?;
    let device_id = carillon_db::add_device(&mut *tx, domain.id, &label, None).await?;
    let line = carillon_db::NewLine { user_id: user.id, device_id, username: &username, password: &password };
    carillon_db::add_line(&mut *tx, &line).await.map_err(|e| match e.constraint() {
        Some("lines_domain_username_key") => Failure::new(format!("{} has a line {username} already", domain.name)),
        _ => Failure::from(e),
    })?;
    tx.commit().await.map_err(Error::from)?;
    Ok(secret_output(&format!("added line {username} for {}", user_label(&user)), &domain, &username, &password))
}

/// The user's first extension with no line of that name yet, else the user's login name.
async fn default_line_username(pool: &PgPool, domain: &Domain, user: &User) -> Result<String, Failure> {
    let listing = listing_of(pool, domain.id, user.id, &user.name).await?;
    let taken: HashSet<String> = carillon_db::user_listing(pool, Some(domain.id), None)
        .await?
        .into_iter()
        .flat_map(|l| l.lines)
        .map(|l| l.to_ascii_lowercase())
        .collect();
    listing
        .extensions
        .iter()
        .chain(std::iter::once(&user.name))
        .find(|candidate| !taken.contains(&candidate.to_ascii_lowercase()))
        .cloned()
        .ok_or_else(|| Failure::new(format!("the usual line usernames of {} are taken: give --username", user.name)))
}

fn secret_output(headline: &str, domain: &Domain, username: &str, password: &str) -> Output {
    Output::new(
        format!(
            "{headline} in {}\n  username: {username}\n  password: {password}\n  domain:   {}\n  realm:    {}",
            domain.name, domain.name, domain.realm
        ),
        json!({ "domain": domain.name, "realm": domain.realm, "username": username, "password": password }),
    )
    .with_warning(
        "the password is shown this once and stored nowhere (only its hashes are): configure the phone now; \
         carillon line rotate-secret makes a new one",
    )
}

async fn line_rotate_secret(pool: &PgPool, domain: &DomainArg, username: &str) -> Result<Output, Failure> {
    let domain = pick_domain(pool, domain).await?;
    let Some(line) = carillon_db::line_credentials(pool, username, &domain.realm).await? else {
        return Err(Failure::new(format!("no line {username} in {}", domain.name)));
    };
    let password = new_line_secret();
    carillon_db::set_line_password(pool, line.line_id, &password).await?;
    Ok(secret_output(&format!("new secret for line {}", line.username), &domain, &line.username, &password))
}

// ---------------------------------------------------------------------------------------------------------------
// Trunks

/// Where a trunk password is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PasswordSource {
    /// The controlling terminal, without echo, asked twice.
    Terminal,
    /// The first line of standard input.
    Stdin,
}

/// The password, read without echo and never printed; wiped from memory when dropped.
fn read_password(trunk: &str, source: PasswordSource) -> Result<Zeroizing<String>, Failure> {
    match source {
        PasswordSource::Stdin => {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::new(format!("cannot read the password from standard input: {e}")))?;
            let password = line.trim_end_matches(['\n', '\r']);
            Ok(Zeroizing::new(password.to_owned()))
        }
        PasswordSource::Terminal => {
            let no_terminal =
                |e: std::io::Error| Failure::new(format!("cannot prompt for the password ({e}): use --password-stdin"));
            let first = Zeroizing::new(
                rpassword::prompt_password(format!("password of trunk {trunk}: ")).map_err(no_terminal)?,
            );
            let again = Zeroizing::new(rpassword::prompt_password("the same again: ").map_err(no_terminal)?);
            if *first != *again {
                return Err(Failure::new("the two passwords differ: nothing changed"));
            }
            Ok(first)
        }
    }
}

async fn trunk_set_password(
    pool: &PgPool,
    trunk: &str,
    username: Option<&str>,
    source: PasswordSource,
    key_file: &Path,
) -> Result<Output, Failure> {
    let exists: Option<(String,)> = sqlx::query_as("SELECT name FROM trunks WHERE lower(name) = lower($1)")
        .bind(trunk)
        .fetch_optional(pool)
        .await
        .map_err(Error::from)?;
    let Some((name,)) = exists else { return Err(Failure::new(format!("no trunk named {trunk}"))) };
    let loaded = SealKey::load_or_create(key_file)?;
    let password = read_password(&name, source)?;
    let sealed = loaded.key.seal(&password)?;
    drop(password);
    let Some(username) = carillon_db::set_trunk_sealed_password(pool, &name, username, &sealed).await? else {
        return Err(Failure::new(format!("no trunk named {trunk}")));
    };
    let mut output = Output::new(
        format!(
            "sealed the password of trunk {name} (username {username}) with the key in {}; its HA1 values and realm \
             were removed",
            key_file.display()
        ),
        json!({ "trunk": name, "username": username, "seal_key_file": key_file.display().to_string() }),
    );
    if loaded.created {
        output = output.with_warning(format!(
            "{} did not exist and now holds a new key: every carillon-proxy node needs this same file as \
             [trunks] seal_key_file",
            key_file.display()
        ));
    }
    Ok(output)
}

// ---------------------------------------------------------------------------------------------------------------
// Forwarding

struct ForwardChange {
    always: Option<String>,
    busy: Option<String>,
    no_answer: Option<String>,
    after: Option<u32>,
    dnd: Option<OnOff>,
}

/// A forward target as typed: `off` removes the forward.
fn forward_target(flag: &str, text: &str) -> Result<Option<String>, Failure> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Failure::new(format!(
            "{flag} {text:?} is not a target: give an extension, a name, a number or a SIP URI, or off"
        )));
    }
    Ok(Some(text.to_owned()))
}

async fn forward_set(pool: &PgPool, domain: &DomainArg, key: &str, change: &ForwardChange) -> Result<Output, Failure> {
    if change.always.is_none()
        && change.busy.is_none()
        && change.no_answer.is_none()
        && change.after.is_none()
        && change.dnd.is_none()
    {
        return Err(Failure::new("nothing to change: give --always, --busy, --no-answer, --after or --dnd"));
    }
    let domain = pick_domain(pool, domain).await?;
    let user = find_user(pool, &domain, key).await?;
    let mut forwarding = carillon_db::forwarding(pool, user.id).await?;
    if let Some(target) = &change.always {
        forwarding.unconditional_target = forward_target("--always", target)?;
    }
    if let Some(target) = &change.busy {
        forwarding.busy_target = forward_target("--busy", target)?;
    }
    if let Some(target) = &change.no_answer {
        forwarding.no_answer_target = forward_target("--no-answer", target)?;
    }
    if let Some(seconds) = change.after {
        if !(1..=600).contains(&seconds) {
            return Err(Failure::new(format!("--after {seconds}: the no-answer delay is 1 to 600 seconds")));
        }
        forwarding.no_answer_delay = Duration::from_secs(u64::from(seconds));
    }
    if let Some(dnd) = change.dnd {
        forwarding.do_not_disturb = dnd == OnOff::On;
    }
    carillon_db::set_forwarding(pool, user.id, &forwarding).await?;
    Ok(forwarding_output(&domain, &user, &forwarding))
}

async fn forward_show(pool: &PgPool, domain: &DomainArg, key: &str) -> Result<Output, Failure> {
    let domain = pick_domain(pool, domain).await?;
    let user = find_user(pool, &domain, key).await?;
    let forwarding = carillon_db::forwarding(pool, user.id).await?;
    Ok(forwarding_output(&domain, &user, &forwarding))
}

fn forwarding_output(domain: &Domain, user: &User, f: &Forwarding) -> Output {
    let delay = f.no_answer_delay.as_secs();
    let no_answer = match &f.no_answer_target {
        Some(target) => format!("{target} after {delay} s"),
        None => format!("- (lines ring {delay} s)"),
    };
    let mut human = format!(
        "forwarding of {} in {}\n  do not disturb: {}\n  always:         {}\n  busy:           {}\n  no answer:      {}",
        user_label(user),
        domain.name,
        if f.do_not_disturb { "on" } else { "off" },
        cell(f.unconditional_target.as_deref()),
        cell(f.busy_target.as_deref()),
        no_answer,
    );
    let steps: Vec<Value> = f
        .sequential_ring
        .iter()
        .map(|step| {
            let target = match &step.target {
                RingTarget::OwnLines => None,
                RingTarget::Forward(target) => Some(target.as_str()),
            };
            json!({ "target": target, "ring_seconds": step.ring_for.as_secs() })
        })
        .collect();
    if !f.sequential_ring.is_empty() {
        let list: Vec<String> = f
            .sequential_ring
            .iter()
            .map(|step| match &step.target {
                RingTarget::OwnLines => format!("own lines {} s", step.ring_for.as_secs()),
                RingTarget::Forward(target) => format!("{target} {} s", step.ring_for.as_secs()),
            })
            .collect();
        human.push_str(&format!("\n  rings in turn:  {}", list.join(", then ")));
    }
    Output::new(
        human,
        json!({
            "domain": domain.name,
            "user": user.name,
            "do_not_disturb": f.do_not_disturb,
            "always": f.unconditional_target,
            "busy": f.busy_target,
            "no_answer": f.no_answer_target,
            "no_answer_after_seconds": delay,
            "sequential_ring": steps,
        }),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Registrations and nodes

async fn registrations(pool: &PgPool, user: Option<&str>, domain: &DomainArg) -> Result<Output, Failure> {
    let now = SystemTime::now();
    let mut registrations = carillon_db::unexpired_registrations(pool, now).await?;
    if let Some(key) = user {
        let domain = pick_domain(pool, domain).await?;
        let user = find_user(pool, &domain, key).await?;
        let lines: HashSet<i64> = carillon_db::user_lines(pool, user.id).await?.into_iter().map(|l| l.id).collect();
        registrations.retain(|r| lines.contains(&r.line_id));
    } else if domain.domain.is_some() {
        let domain = pick_domain(pool, domain).await?;
        let suffix = format!("@{}", domain.name);
        registrations.retain(|r| r.aor.to_ascii_lowercase().ends_with(&suffix));
    }
    let rows: Vec<Vec<String>> = registrations
        .iter()
        .map(|r| {
            vec![
                r.aor.clone(),
                r.contact_uri.clone(),
                r.received.to_string(),
                r.transport.as_str().to_owned(),
                cell(r.user_agent.as_deref()),
                format!("in {}", short_duration(r.expires_at.duration_since(now).unwrap_or_default())),
                cell(r.node_id.as_deref()),
            ]
        })
        .collect();
    let json: Vec<Value> = registrations
        .iter()
        .map(|r| {
            json!({
                "aor": r.aor,
                "contact": r.contact_uri,
                "received": r.received.to_string(),
                "transport": r.transport.as_str(),
                "local": r.local.to_string(),
                "user_agent": r.user_agent,
                "expires_at": unix_seconds(r.expires_at),
                "expires_in_seconds": r.expires_at.duration_since(now).unwrap_or_default().as_secs(),
                "node": r.node_id,
                "line_id": r.line_id,
                "instance_id": r.instance_id,
                "reg_id": r.reg_id,
                "path": r.path,
                "call_id": r.call_id,
                "cseq": r.cseq,
            })
        })
        .collect();
    let headers = ["AOR", "CONTACT", "RECEIVED", "TRANSPORT", "USER AGENT", "EXPIRES", "NODE"];
    Ok(Output::new(table(&headers, &rows, "no registrations"), Value::Array(json)))
}

async fn nodes(pool: &PgPool) -> Result<Output, Failure> {
    let now = SystemTime::now();
    let nodes = carillon_db::nodes(pool).await?;
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.id.clone(),
                n.address.clone(),
                n.version.clone(),
                n.schema_version.to_string(),
                ago(n.started_at, now),
                ago(n.heartbeat_at, now),
            ]
        })
        .collect();
    let json: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "address": n.address,
                "version": n.version,
                "schema_version": n.schema_version,
                "started_at": unix_seconds(n.started_at),
                "heartbeat_at": unix_seconds(n.heartbeat_at),
            })
        })
        .collect();
    let headers = ["NODE", "ADDRESS", "VERSION", "SCHEMA", "STARTED", "HEARTBEAT"];
    Ok(Output::new(table(&headers, &rows, "no nodes have announced themselves"), Value::Array(json)))
}
