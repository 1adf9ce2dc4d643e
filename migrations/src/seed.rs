//! The demo campus: a domain full of users with extensions, name aliases and one line each, for trying Carillon
//! with real phones and for load tests.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};
use sqlx::PgPool;

use crate::provision::{
    NewLine, NewUser, add_alias, add_device, add_domain, add_emergency_number, add_line, add_outbound_route,
    add_route_trunk, add_trunk, add_user, add_user_class,
};
use crate::routes::{CallCategory, CallPermissions, Trunk, TrunkKind};
use crate::{Error, Result};

/// The demo domain, also its realm.
pub const DEMO_DOMAIN: &str = "campus.test";
/// The first extension; users get consecutive ones.
pub const FIRST_EXTENSION: u32 = 4000;
/// How many users the extension range 4000–4299 holds.
pub const MAX_DEMO_USERS: u32 = 300;

const FIRST_NAMES: [&str; 24] = [
    "alice", "bruno", "chen", "dana", "emeka", "fatima", "giulia", "hiro", "ines", "jonas", "kavya", "liam", "mara",
    "nils", "olga", "pedro", "quinn", "rosa", "sven", "tariq", "uma", "viktor", "wen", "yara",
];
const LAST_NAMES: [&str; 16] = [
    "cueba",
    "okafor",
    "lindqvist",
    "moreau",
    "tanaka",
    "novak",
    "haddad",
    "rossi",
    "schmidt",
    "silva",
    "kowalski",
    "nguyen",
    "dubois",
    "ivanova",
    "mendes",
    "ferreira",
];
/// Letters and digits without look-alikes (0/O, 1/l/I), so a password read off the file is typed right.
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const PASSWORD_LEN: usize = 16;

/// What [`seed_demo`] created.
#[derive(Clone, PartialEq, Eq)]
pub struct DemoCampus {
    /// The domain row id.
    pub domain_id: i64,
    /// One entry per user, by extension. Holds the line passwords, which exist nowhere else.
    pub lines: Vec<DemoLine>,
}

impl std::fmt::Debug for DemoCampus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoCampus").field("domain_id", &self.domain_id).field("lines", &self.lines.len()).finish()
    }
}

/// A demo user's line and how to register it.
#[derive(Clone, PartialEq, Eq)]
pub struct DemoLine {
    /// The user's extension, also the line's digest username.
    pub extension: String,
    /// The user's name alias, `first.last`.
    pub alias: String,
    /// Display name, `First Last`.
    pub display_name: String,
    /// The line's random password.
    pub password: String,
}

impl std::fmt::Debug for DemoLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoLine")
            .field("extension", &self.extension)
            .field("alias", &self.alias)
            .finish_non_exhaustive()
    }
}

impl DemoCampus {
    /// The credentials as CSV with a header: `username,password,extension,alias,display_name,domain,realm`.
    pub fn credentials_csv(&self) -> String {
        let mut csv = String::from("username,password,extension,alias,display_name,domain,realm\n");
        for line in &self.lines {
            // Writing to a String cannot fail; none of the fields contains a comma or a quote.
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{DEMO_DOMAIN},{DEMO_DOMAIN}",
                line.extension, line.password, line.extension, line.alias, line.display_name
            );
        }
        csv
    }

    /// Writes [`credentials_csv`](Self::credentials_csv) to `path`, readable by its owner only, replacing the file.
    pub fn write_credentials(&self, path: &Path) -> std::io::Result<()> {
        if path.exists() {
            fs::remove_file(path)?;
        }
        let mut file = File::options().write(true).create_new(true).mode(0o600).open(path)?;
        file.write_all(self.credentials_csv().as_bytes())
    }
}

/// Creates the demo campus in one transaction: domain and realm `campus.test`; user classes `faculty` (may call
/// everything), `staff` (everything but international) and `student` (internal, campus and local); `n_users`
/// users (at most 300) with extensions from 4000, name aliases `first.last`, one device and one line each (digest
/// username = extension, a random 16-character password stored only as HA1 values); a PSTN gateway
/// `demo-gateway` at 127.0.0.1:5080 over UDP with routes for local, long-distance (`1`) and international (`011`)
/// numbers; and emergency numbers 911, 9911 and 933 to that gateway.
///
/// Everything, passwords included, is a function of `rng_seed`: the same seed gives the same campus.
pub async fn seed_demo(pool: &PgPool, n_users: u32, rng_seed: u64) -> Result<DemoCampus> {
    if n_users > MAX_DEMO_USERS {
        return Err(Error::InvalidInput {
            what: "n_users",
            reason: format!("{n_users} users do not fit extensions 4000-4299"),
        });
    }
    let mut rng = ChaCha20Rng::seed_from_u64(rng_seed);
    let mut tx = pool.begin().await?;
    let domain_id = add_domain(&mut *tx, DEMO_DOMAIN, DEMO_DOMAIN).await?;
    let all = CallPermissions { internal: true, campus: true, local: true, long_distance: true, international: true };
    let classes = [
        add_user_class(&mut *tx, domain_id, "faculty", all).await?,
        add_user_class(&mut *tx, domain_id, "staff", CallPermissions { international: false, ..all }).await?,
        add_user_class(
            &mut *tx,
            domain_id,
            "student",
            CallPermissions { long_distance: false, international: false, ..all },
        )
        .await?,
    ];

    // Every (first, last) pair once, in an order drawn from the seed.
    let mut names: Vec<(&str, &str)> =
        FIRST_NAMES.iter().flat_map(|first| LAST_NAMES.iter().map(move |last| (*first, *last))).collect();
    for i in (1..names.len()).rev() {
        names.swap(i, rng.random_range(0..=i));
    }

    let mut lines = Vec::with_capacity(n_users as usize);
    for (index, (first, last)) in names.into_iter().take(n_users as usize).enumerate() {
        let extension = (FIRST_EXTENSION + index as u32).to_string();
        let alias = format!("{first}.{last}");
        let display_name = format!("{} {}", capitalise(first), capitalise(last));
        let password: String = (0..PASSWORD_LEN)
            .map(|_| char::from(PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())]))
            .collect();
        let email = format!("{alias}@{DEMO_DOMAIN}");
        let user_id = add_user(
            &mut *tx,
            &NewUser {
                domain_id,
                name: &alias,
                display_name: &display_name,
                email: Some(&email),
                department: Some(["Physics", "History", "Library", "IT Services", "Admissions"][index % 5]),
                user_class_id: classes[rng.random_range(0..classes.len())],
            },
        )
        .await?;
        add_alias(&mut *tx, domain_id, user_id, &extension).await?;
        add_alias(&mut *tx, domain_id, user_id, &alias).await?;
        let device_id = add_device(&mut *tx, domain_id, &format!("Demo phone {extension}"), None).await?;
        add_line(&mut *tx, &NewLine { user_id, device_id, username: &extension, password: &password }).await?;
        lines.push(DemoLine { extension, alias, display_name, password });
    }

    let gateway = add_trunk(
        &mut *tx,
        &Trunk {
            name: "demo-gateway".to_owned(),
            kind: TrunkKind::Gateway,
            host: "127.0.0.1".to_owned(),
            port: Some(5080),
            transport: Some(carillon_sip::target::Transport::Udp),
            auth_username: None,
            auth_realm: None,
            auth_ha1_md5: None,
            auth_ha1_sha256: None,
            auth_password_sealed: None,
        },
    )
    .await?;
    for (prefix, category, description) in [
        ("", CallCategory::Local, "local numbers"),
        ("1", CallCategory::LongDistance, "long distance (NANP)"),
        ("011", CallCategory::International, "international"),
    ] {
        let route = add_outbound_route(&mut *tx, prefix, category, description).await?;
        add_route_trunk(&mut *tx, route, gateway, 0, 0, 0, "").await?;
    }
    for (number, description) in
        [("911", "emergency"), ("9911", "emergency after the outside-line prefix"), ("933", "address test")]
    {
        let dial_as = if number == "9911" { "911" } else { number };
        add_emergency_number(&mut *tx, number, gateway, dial_as, description).await?;
    }
    tx.commit().await?;
    Ok(DemoCampus { domain_id, lines })
}

fn capitalise(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}
