//! The `carillon` binary end to end: every subcommand run as a process against a private PostgreSQL (one server per
//! test binary, one database per test), its JSON parsed and checked against what the database holds.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use carillon_sip::auth::{Ha1, HashFunction};
use carillon_sip::{Message, StatusCode};
use carillon_testkit::PostgresServer;
use serde_json::Value;

fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| PostgresServer::start().expect("start a private PostgreSQL"))
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON printed on standard output.
    fn json(&self) -> Value {
        assert!(self.success, "carillon failed: {}", self.stderr);
        serde_json::from_str(&self.stdout).expect("standard output is JSON")
    }

    /// Asserts the run failed as a user mistake should: status 1, one line on stderr, no panic; returns the line.
    fn failure_line(&self) -> String {
        assert_eq!(self.code, Some(1), "exit status of a failed command; stdout {:?}", self.stdout);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {:?}", self.stderr);
        assert!(lines[0].starts_with("carillon: "), "{:?}", lines[0]);
        assert!(!self.stderr.contains("panicked") && !self.stderr.contains("backtrace"), "{}", self.stderr);
        lines[0].to_owned()
    }
}

/// Runs `carillon` with `args`, with no database setting from the environment or a configuration file.
fn carillon_without_database(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_carillon"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("CARILLON_CONFIG", "/nonexistent/carillon-proxy.toml")
        .output()
        .expect("run carillon");
    Run {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `carillon --database-url URL args...`.
fn carillon(url: &str, args: &[&str]) -> Run {
    let mut all = vec!["--database-url", url];
    all.extend_from_slice(args);
    carillon_without_database(&all)
}

/// Runs `carillon --json ...` and parses its output, asserting success.
fn json(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    carillon(url, &all).json()
}

/// A new database of the shared server, not migrated.
fn empty_database() -> String {
    server().fresh_database().expect("create a database")
}

/// A new database with the schema applied by `carillon migrate`.
fn migrated_database() -> String {
    let url = empty_database();
    let run = carillon(&url, &["migrate"]);
    assert!(run.success, "migrate: {}", run.stderr);
    url
}

/// A migrated database with domain `uni.test`, class `staff` and user alice (4711, alice.cueba).
fn database_with_alice() -> String {
    let url = migrated_database();
    json(&url, &["domain", "add", "--name", "uni.test"]);
    json(&url, &["class", "add", "--name", "staff", "--may-call", "internal,campus,local"]);
    json(
        &url,
        &[
            "user",
            "add",
            "--name",
            "alice",
            "--display-name",
            "Alice Cueba",
            "--email",
            "alice@uni.test",
            "--department",
            "Physics",
            "--class",
            "staff",
            "--extension",
            "4711",
            "--alias",
            "alice.cueba",
        ],
    );
    url
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(future)
}

/// The stored credentials of line `username` in realm `realm`.
fn stored_line(url: &str, username: &str, realm: &str) -> carillon_db::LineCredentials {
    block_on(async {
        let pool = carillon_db::connect(url).await.expect("connect");
        carillon_db::line_credentials(&pool, username, realm).await.expect("query").expect("the line exists")
    })
}

fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("carillon-cli-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir.join(name)
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("{key} is a string in {value}"))
}

// ---------------------------------------------------------------------------------------------------------------

#[test]
fn migrate_applies_every_migration_and_status_reports_what_is_pending() {
    let url = empty_database();
    let before = json(&url, &["migrate", "--status"]);
    assert_eq!(before["version"], Value::Null);
    let latest = carillon_db::latest_schema_version();
    assert_eq!(before["latest"], latest);
    assert_eq!(before["pending"].as_array().map(Vec::len), Some(latest as usize));

    let applied = json(&url, &["migrate"]);
    assert_eq!(applied["version"], latest);
    assert_eq!(applied["applied"], latest);

    let again = json(&url, &["migrate"]);
    assert_eq!(again["applied"], 0, "a second migrate applies nothing");
    let after = json(&url, &["migrate", "--status"]);
    assert_eq!(after["version"], latest);
    assert_eq!(after["pending"], Value::Array(Vec::new()));
    assert!(carillon(&url, &["migrate", "--status"]).stdout.contains("up to date"));
}

#[test]
fn commands_on_an_unmigrated_database_say_to_migrate() {
    let url = empty_database();
    let line = carillon(&url, &["user", "list"]).failure_line();
    assert!(line.contains("carillon migrate"), "{line}");
}

#[test]
fn seed_demo_is_deterministic_and_a_second_run_changes_nothing() {
    let first_db = migrated_database();
    let second_db = migrated_database();
    let first_file = temp_path("first.csv");
    let second_file = temp_path("second.csv");
    let first_file_arg = first_file.to_str().expect("utf-8 path");
    let second_file_arg = second_file.to_str().expect("utf-8 path");

    let created = json(&first_db, &["seed-demo", "--users", "25", "--seed", "7", "--credentials", first_file_arg]);
    assert_eq!(created["created"], true);
    assert_eq!(created["users"], 25);
    json(&second_db, &["seed-demo", "--users", "25", "--seed", "7", "--credentials", second_file_arg]);
    let first_csv = std::fs::read_to_string(&first_file).expect("read credentials");
    assert_eq!(first_csv, std::fs::read_to_string(&second_file).expect("read credentials"), "same seed, same campus");
    assert_eq!(first_csv.lines().count(), 26, "header and one line per user");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&first_file).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "credentials readable by their owner only");

    // Idempotent: nothing changes, the file is kept.
    let again = json(&first_db, &["seed-demo", "--users", "25", "--seed", "99", "--credentials", first_file_arg]);
    assert_eq!(again["created"], false);
    assert_eq!(again["users"], 25);
    assert_eq!(std::fs::read_to_string(&first_file).expect("read credentials"), first_csv);
    assert_eq!(json(&first_db, &["user", "list"]).as_array().map(Vec::len), Some(25));

    // The file's passwords are the ones the database can verify.
    let row = first_csv.lines().nth(1).expect("a credentials row");
    let fields: Vec<&str> = row.split(',').collect();
    let (username, password) = (fields[0], fields[1]);
    let stored = stored_line(&first_db, username, carillon_db::DEMO_DOMAIN);
    assert_eq!(stored.ha1_md5, Ha1::compute(HashFunction::Md5, username, carillon_db::DEMO_DOMAIN, password));
}

#[test]
fn seed_demo_refuses_more_users_than_extensions() {
    let url = migrated_database();
    let file = temp_path("too-many.csv");
    let line =
        carillon(&url, &["seed-demo", "--users", "301", "--credentials", file.to_str().expect("utf-8")]).failure_line();
    assert!(line.contains("4000-4299"), "{line}");
    assert!(!file.exists());
}

#[test]
fn domains_and_classes_are_added_and_listed() {
    let url = migrated_database();
    let domain = json(&url, &["domain", "add", "--name", "uni.test", "--realm", "Uni Realm"]);
    assert_eq!(domain["realm"], "Uni Realm");
    let class = json(&url, &["class", "add", "--name", "student", "--may-call", "internal,long-distance"]);
    assert_eq!(class["may_call"], serde_json::json!(["internal", "long-distance"]));
    let domains = json(&url, &["domain", "list"]);
    assert_eq!(domains[0]["name"], "uni.test");
    let classes = json(&url, &["class", "list"]);
    assert_eq!(classes[0]["name"], "student");

    let line = carillon(&url, &["domain", "add", "--name", "uni.test"]).failure_line();
    assert!(line.contains("exists already"), "{line}");
    json(&url, &["domain", "add", "--name", "other.test"]);
    let line = carillon(&url, &["class", "list"]).failure_line();
    assert!(line.contains("--domain") && line.contains("other.test"), "{line}");
    assert_eq!(json(&url, &["class", "list", "--domain", "other.test"]), Value::Array(Vec::new()));
}

#[test]
fn user_add_list_and_remove() {
    let url = database_with_alice();
    let users = json(&url, &["user", "list"]);
    let alice = &users[0];
    assert_eq!(str_of(alice, "name"), "alice");
    assert_eq!(str_of(alice, "display_name"), "Alice Cueba");
    assert_eq!(str_of(alice, "email"), "alice@uni.test");
    assert_eq!(str_of(alice, "department"), "Physics");
    assert_eq!(str_of(alice, "class"), "staff");
    assert_eq!(alice["extensions"], serde_json::json!(["4711"]));
    assert_eq!(alice["aliases"], serde_json::json!(["alice.cueba"]));

    json(&url, &["user", "add", "--name", "bob", "--class", "STAFF", "--extension", "4712"]);
    let found = json(&url, &["user", "list", "--search", "CUEBA"]);
    assert_eq!(found.as_array().map(Vec::len), Some(1), "search matches aliases ignoring case");
    assert_eq!(json(&url, &["user", "list", "--search", "%"]), Value::Array(Vec::new()), "wildcards are literal");
    let table = carillon(&url, &["user", "list"]).stdout;
    assert!(table.starts_with("NAME") && table.contains("alice") && table.contains("bob"), "{table}");

    let removed = json(&url, &["user", "remove", "--user", "4712"]);
    assert_eq!(removed["removed"]["name"], "bob");
    assert_eq!(json(&url, &["user", "list"]).as_array().map(Vec::len), Some(1));
    let line = carillon(&url, &["user", "remove", "--user", "bob"]).failure_line();
    assert!(line.contains("no user") && line.contains("bob"), "{line}");
}

#[test]
fn duplicate_extension_names_the_user_who_holds_it() {
    let url = database_with_alice();
    let run = carillon(&url, &["user", "add", "--name", "mallory", "--class", "staff", "--extension", "4711"]);
    let line = run.failure_line();
    assert!(line.contains("4711") && line.contains("alice (Alice Cueba)"), "{line}");
    let line = carillon(
        &url,
        &["user", "add", "--name", "m", "--class", "staff", "--extension", "1", "--alias", "ALICE.cueba"],
    )
    .failure_line();
    assert!(line.contains("alias ALICE.cueba is taken by alice"), "{line}");
    assert_eq!(json(&url, &["user", "list"]).as_array().map(Vec::len), Some(1), "nothing half-added");
}

#[test]
fn user_mistakes_are_one_line_errors() {
    let url = database_with_alice();
    let cases: [(&[&str], &str); 7] = [
        (&["user", "add", "--name", "alice", "--class", "staff", "--extension", "1"], "user named alice"),
        (&["user", "add", "--name", "x", "--class", "nope", "--extension", "1"], "no class nope"),
        (&["user", "add", "--name", "x", "--class", "staff", "--extension", "12a"], "not 1 to 15 digits"),
        (&["user", "add", "--name", "bad name", "--class", "staff", "--extension", "1"], "user name is"),
        (&["user", "add", "--name", "x", "--class", "staff", "--extension", "1", "--email", "nope"], "e-mail"),
        (
            &["user", "add", "--name", "x", "--domain", "nowhere.test", "--class", "staff", "--extension", "1"],
            "no domain",
        ),
        (&["forward", "show", "--user", "nobody"], "no user, extension or alias nobody"),
    ];
    for (args, expected) in cases {
        let line = carillon(&url, args).failure_line();
        assert!(line.contains(expected), "{args:?}: {line}");
    }
    // A usage mistake caught by the argument parser also exits with 1, without a backtrace.
    let run = carillon(&url, &["user", "add", "--name"]);
    assert_eq!(run.code, Some(1));
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn line_add_prints_a_secret_that_verifies_against_the_stored_ha1() {
    let url = database_with_alice();
    let run = carillon(&url, &["--json", "line", "add", "--user", "alice.cueba"]);
    let line = run.json();
    assert!(run.stderr.is_empty(), "the JSON mode leaves stderr to errors: {}", run.stderr);
    let (username, password, realm) = (str_of(&line, "username"), str_of(&line, "password"), str_of(&line, "realm"));
    assert_eq!(username, "4711", "the extension is the default username");
    assert!(password.len() >= 16, "{password}");
    let stored = stored_line(&url, username, realm);
    for hash in [HashFunction::Md5, HashFunction::Sha256, HashFunction::Sha512_256] {
        assert_eq!(stored.ha1(hash), Some(&Ha1::compute(hash, username, realm, password)), "{hash:?}");
    }

    // People get the secret once, with a warning.
    let human = carillon(&url, &["line", "add", "--user", "alice", "--username", "alice-soft", "--device", "Laptop"]);
    assert!(human.success, "{}", human.stderr);
    assert!(human.stdout.contains("password: "), "{}", human.stdout);
    assert!(human.stderr.contains("shown this once"), "{}", human.stderr);
    assert_eq!(json(&url, &["user", "list"])[0]["lines"], serde_json::json!(["4711", "alice-soft"]));

    let line = carillon(&url, &["line", "add", "--user", "alice", "--username", "ALICE-SOFT"]).failure_line();
    assert!(line.contains("has a line ALICE-SOFT already"), "{line}");
}

#[test]
fn rotate_secret_replaces_the_stored_ha1() {
    let url = database_with_alice();
    let first = json(&url, &["line", "add", "--user", "alice"]);
    let old = str_of(&first, "password").to_owned();
    let rotated = json(&url, &["line", "rotate-secret", "--line", "4711"]);
    let new = str_of(&rotated, "password");
    assert_ne!(new, old);
    let stored = stored_line(&url, "4711", "uni.test");
    assert_eq!(stored.ha1_md5, Ha1::compute(HashFunction::Md5, "4711", "uni.test", new));
    assert_ne!(stored.ha1_md5, Ha1::compute(HashFunction::Md5, "4711", "uni.test", &old));
    let line = carillon(&url, &["line", "rotate-secret", "--line", "9999"]).failure_line();
    assert!(line.contains("no line 9999"), "{line}");
}

#[test]
fn forward_set_changes_only_what_is_given_and_off_removes() {
    let url = database_with_alice();
    let none = json(&url, &["forward", "show", "--user", "alice"]);
    assert_eq!(none["always"], Value::Null);
    assert_eq!(none["do_not_disturb"], false);

    json(
        &url,
        &["forward", "set", "--user", "4711", "--busy", "4000", "--no-answer", "sip:vm@uni.test", "--after", "15"],
    );
    let set = json(&url, &["forward", "set", "--user", "alice.cueba", "--dnd", "on", "--always", "0015551234"]);
    assert_eq!(set["busy"], "4000");
    assert_eq!(set["no_answer"], "sip:vm@uni.test");
    assert_eq!(set["no_answer_after_seconds"], 15);
    assert_eq!(set["always"], "0015551234");
    assert_eq!(set["do_not_disturb"], true);
    assert_eq!(json(&url, &["forward", "show", "--user", "alice"]), set, "show reads back what set wrote");

    let cleared = json(&url, &["forward", "set", "--user", "alice", "--always", "off", "--dnd", "off"]);
    assert_eq!(cleared["always"], Value::Null);
    assert_eq!(cleared["do_not_disturb"], false);
    assert_eq!(cleared["busy"], "4000");

    assert!(carillon(&url, &["forward", "set", "--user", "alice"]).failure_line().contains("nothing to change"));
    assert!(carillon(&url, &["forward", "set", "--user", "alice", "--after", "0"]).failure_line().contains("1 to 600"));
    assert!(
        carillon(&url, &["forward", "set", "--user", "alice", "--busy", ""]).failure_line().contains("not a target")
    );
}

#[test]
fn registrations_and_nodes_are_listed() {
    let url = database_with_alice();
    json(&url, &["user", "add", "--name", "bob", "--class", "staff", "--extension", "4712"]);
    json(&url, &["line", "add", "--user", "alice"]);
    json(&url, &["line", "add", "--user", "bob"]);
    assert_eq!(json(&url, &["registrations"]), Value::Array(Vec::new()));
    assert_eq!(json(&url, &["nodes"]), Value::Array(Vec::new()));

    let now = SystemTime::now();
    block_on(async {
        let pool = carillon_db::connect(&url).await.expect("connect");
        let node = carillon_db::Node {
            id: "sip1".to_owned(),
            version: "0.1.0".to_owned(),
            schema_version: carillon_db::latest_schema_version(),
            address: "sip:127.0.0.1:5060".to_owned(),
            started_at: now,
            heartbeat_at: now,
        };
        carillon_db::upsert_node(&pool, &node).await.expect("node");
        for (username, port) in [("4711", 40000), ("4712", 40001)] {
            let line = carillon_db::line_credentials(&pool, username, "uni.test").await.expect("query").expect("line");
            let registration = carillon_db::Registration {
                binding_id: u64::from(port),
                registered_at: now,
                line_id: line.line_id,
                aor: format!("sip:{username}@uni.test"),
                contact_uri: format!("sip:{username}@127.0.0.1:{port}"),
                q_thousandths: None,
                received: SocketAddr::from(([127, 0, 0, 1], port)),
                transport: carillon_sip::target::Transport::Udp,
                local: SocketAddr::from(([127, 0, 0, 1], 5060)),
                path: Vec::new(),
                instance_id: None,
                reg_id: None,
                call_id: format!("call-{username}"),
                cseq: 1,
                expires_at: now + Duration::from_secs(3600),
                user_agent: Some("baresip".to_owned()),
                node_id: Some("sip1".to_owned()),
            };
            carillon_db::upsert_registration(&pool, &registration).await.expect("register");
        }
    });

    let all = json(&url, &["registrations"]);
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let mine = json(&url, &["registrations", "--user", "alice"]);
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "only alice's lines");
    assert_eq!(mine[0]["aor"], "sip:4711@uni.test");
    assert_eq!(mine[0]["contact"], "sip:4711@127.0.0.1:40000");
    assert_eq!(mine[0]["received"], "127.0.0.1:40000");
    assert_eq!(mine[0]["transport"], "UDP");
    assert_eq!(mine[0]["user_agent"], "baresip");
    assert_eq!(mine[0]["node"], "sip1");
    let expires_in = mine[0]["expires_in_seconds"].as_u64().expect("a number");
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");
    let table = carillon(&url, &["registrations"]).stdout;
    let header = table.lines().next().unwrap_or_default();
    for column in ["AOR", "CONTACT", "RECEIVED", "TRANSPORT", "USER AGENT", "EXPIRES", "NODE"] {
        assert!(header.contains(column), "{header}");
    }

    let nodes = json(&url, &["nodes"]);
    assert_eq!(nodes[0]["id"], "sip1");
    assert_eq!(nodes[0]["address"], "sip:127.0.0.1:5060");
    assert!(carillon(&url, &["nodes"]).stdout.contains("sip1"));

    // Removing a user takes the registrations of the user's lines with it.
    json(&url, &["user", "remove", "--user", "bob"]);
    assert_eq!(json(&url, &["registrations"]).as_array().map(Vec::len), Some(1));
}

/// Runs `carillon --database-url URL args...` with `input` on standard input.
fn carillon_with_input(url: &str, args: &[&str], input: &str) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_carillon"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("CARILLON_CONFIG", "/nonexistent/carillon-proxy.toml")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run carillon");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write the input");
    let output = child.wait_with_output().expect("carillon ends");
    Run {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The username, sealed password and HA1 columns of trunk `name`.
fn stored_trunk(url: &str, name: &str) -> (Option<String>, Option<Vec<u8>>, Option<String>, Option<String>) {
    block_on(async {
        let pool = carillon_db::connect(url).await.expect("connect");
        sqlx::query_as(
            "SELECT auth_username, auth_password_sealed, auth_realm, auth_ha1_md5 FROM trunks WHERE name = $1",
        )
        .bind(name)
        .fetch_one(&pool)
        .await
        .expect("the trunk")
    })
}

#[test]
fn trunk_set_password_seals_it_with_the_key_file_and_never_prints_it() {
    let url = migrated_database();
    block_on(async {
        let pool = carillon_db::connect(&url).await.expect("connect");
        let trunk = carillon_db::Trunk {
            name: "ITSP".into(),
            kind: carillon_db::TrunkKind::Provider,
            host: "sip.provider.example".into(),
            port: None,
            transport: None,
            auth_username: Some("acct-17".into()),
            auth_realm: Some("old.realm".into()),
            auth_ha1_md5: Some(Ha1::compute(HashFunction::Md5, "acct-17", "old.realm", "old")),
            auth_ha1_sha256: None,
            auth_password_sealed: None,
        };
        carillon_db::add_trunk(&pool, &trunk).await.expect("trunk added");
    });
    let key_file = temp_path("seal-key");
    let config = temp_path("carillon-proxy.toml");
    std::fs::write(&config, format!("[trunks]\nseal_key_file = \"{}\"\n", key_file.display())).expect("config");

    let args = ["--config", config.to_str().expect("UTF-8"), "trunk", "set-password", "--trunk", "itsp"];
    let args: Vec<&str> = args.into_iter().chain(["--password-stdin", "--username", "acct-99"]).collect();
    let run = carillon_with_input(&url, &args, "Tr0ub4dor&3\n");
    assert!(run.success, "{}", run.stderr);
    assert!(run.stdout.contains("sealed the password of trunk ITSP (username acct-99)"), "{}", run.stdout);
    assert!(run.stderr.contains("new key"), "a created key file is announced: {}", run.stderr);
    assert!(!run.stdout.contains("Tr0ub4dor") && !run.stderr.contains("Tr0ub4dor"), "never echoed");

    let (username, sealed, realm, ha1) = stored_trunk(&url, "ITSP");
    assert_eq!(username.as_deref(), Some("acct-99"));
    assert_eq!((realm, ha1), (None, None), "HA1 values of the old password are gone");
    let key = carillon_db::seal::SealKey::load_or_create(&key_file).expect("the key file");
    assert!(!key.created, "the CLI created it");
    let sealed = sealed.expect("a sealed password");
    assert_eq!(key.key.unseal(&sealed).expect("unsealed").as_str(), "Tr0ub4dor&3", "no line end kept");

    // Again with JSON, the same key: the username stays.
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(&args[..6]);
    with_json.push("--password-stdin");
    let run = carillon_with_input(&url, &with_json, "second\r\n");
    let value: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!((str_of(&value, "trunk"), str_of(&value, "username")), ("ITSP", "acct-99"));
    assert!(run.stderr.is_empty(), "the key existed: {}", run.stderr);
    let (_, sealed, _, _) = stored_trunk(&url, "ITSP");
    assert_eq!(key.key.unseal(&sealed.expect("sealed")).expect("unsealed").as_str(), "second");

    let args = ["trunk", "set-password", "--trunk", "nope", "--password-stdin", "--seal-key-file"];
    let mut args: Vec<&str> = args.to_vec();
    args.push(key_file.to_str().expect("UTF-8"));
    assert!(carillon_with_input(&url, &args, "x\n").failure_line().contains("no trunk named nope"));
    args[3] = "ITSP";
    let empty = carillon_with_input(&url, &args, "\n").failure_line();
    assert!(empty.contains("trunk password") && empty.contains("empty"), "{empty}");
    let run = carillon(&url, &args[..4]);
    assert!(run.failure_line().contains("no seal key file"), "no key file named, no configuration file");
}

#[test]
fn database_url_comes_from_the_configuration_file() {
    let url = migrated_database();
    let config = temp_path("carillon-proxy.toml");
    std::fs::write(&config, format!("[node]\nid = \"sip1\"\n\n[database]\nurl = \"{url}\"\n")).expect("write config");
    let config_arg = config.to_str().expect("utf-8");
    let run = carillon_without_database(&["--config", config_arg, "--json", "migrate", "--status"]);
    assert_eq!(run.json()["version"], carillon_db::latest_schema_version());

    let line = carillon_without_database(&["user", "list"]).failure_line();
    assert!(line.contains("--database-url") && line.contains("DATABASE_URL"), "{line}");
}

#[test]
fn unreachable_database_is_a_one_line_error_without_the_password() {
    let closed = UdpSocket::bind("127.0.0.1:0").expect("find a port").local_addr().expect("address").port();
    let url = format!("postgres://carillon:hunter2@127.0.0.1:{closed}/carillon");
    let line = carillon(&url, &["user", "list"]).failure_line();
    assert!(line.contains("cannot connect to the database"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}

// ---------------------------------------------------------------------------------------------------------------
// ping: OPTIONS over UDP (RFC 3261 §11) to a responder on loopback.

/// What a responder saw: the method of the first request and how many requests (retransmissions included).
type Seen = (Option<String>, usize);

/// Answers the first request it receives with `status` and ends; when `None`, stays silent for two seconds
/// (keeping its port open, so retransmissions meet a socket rather than a closed port).
fn responder(status: Option<u16>) -> (SocketAddr, std::thread::JoinHandle<Seen>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a responder");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    let address = socket.local_addr().expect("responder address");
    let handle = std::thread::spawn(move || {
        let mut buffer = vec![0u8; 65535];
        let Ok((n, from)) = socket.recv_from(&mut buffer) else { return (None, 0) };
        let Ok(request) = Message::parse(Bytes::copy_from_slice(&buffer[..n])) else { return (None, 1) };
        let method = request.method().map(ToString::to_string);
        let mut count = 1;
        match status.and_then(StatusCode::new) {
            Some(status) => {
                let response = Message::response_to(&request, status).to_tag("resp").header("Server", "test-responder");
                let response = response.build().expect("build the response");
                socket.send_to(&response.to_bytes(), from).expect("send the response");
            }
            None => {
                socket.set_read_timeout(Some(Duration::from_secs(2))).expect("read timeout");
                while socket.recv_from(&mut buffer).is_ok() {
                    count += 1;
                }
            }
        }
        (method, count)
    });
    (address, handle)
}

#[test]
fn ping_prints_a_2xx_answer() {
    let (address, handle) = responder(Some(200));
    let run = carillon_without_database(&["--json", "ping", &format!("sip:{address}")]);
    let answer = run.json();
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["server"], "test-responder");
    assert_eq!(answer["from"], address.to_string());
    assert_eq!(handle.join().expect("responder").0.as_deref(), Some("OPTIONS"));
}

#[test]
fn ping_fails_on_an_error_answer_and_on_silence() {
    let (address, handle) = responder(Some(503));
    let line = carillon_without_database(&["ping", &format!("sip:{address}")]).failure_line();
    assert!(line.contains("503"), "{line}");
    handle.join().expect("responder");

    let (address, handle) = responder(None);
    let started = std::time::Instant::now();
    let line = carillon_without_database(&["ping", "--timeout", "0.6", &format!("sip:{address}")]).failure_line();
    assert!(line.contains("no answer"), "{line}");
    assert!(started.elapsed() < Duration::from_secs(5), "the timeout bounds the wait");
    let (_, requests) = handle.join().expect("responder");
    // RFC 3261 §17.1.2.2: without an answer the request is sent again after T1 (500 ms).
    assert_eq!(requests, 2, "the first request and one retransmission within 0.6 s");

    let line = carillon_without_database(&["ping", "sips:127.0.0.1"]).failure_line();
    assert!(line.contains("TLS"), "{line}");
}
