//! The configuration file: the documented example loads, and mistakes are reported with the field they are in.

#![allow(clippy::expect_used, clippy::panic)] // test code: a failed expectation fails the test

use std::path::PathBuf;

use carillon_proxy::{Config, Error};
use carillon_sip::target::Transport;

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/carillon-proxy.example.toml")
}

fn example_text() -> String {
    std::fs::read_to_string(example_path()).expect("the documented example exists")
}

fn error_of(text: &str) -> String {
    match Config::from_toml(text) {
        Err(Error::Config(message)) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn the_documented_example_loads() {
    let config = Config::load(&example_path()).expect("the example is valid");
    assert_eq!(config.node.id, "sip1");
    assert_eq!(config.sip.domain, "campus.test");
    let listeners = config.listeners().expect("listeners");
    assert_eq!(listeners.len(), 2);
    assert_eq!(listeners[0].transport, Transport::Udp);
    assert_eq!(listeners[1].transport, Transport::Tcp);
    assert_eq!(listeners[0].addr, "127.0.0.1:5060".parse().expect("address"));
    assert_eq!(config.auth.nonce_lifetime_seconds, 300);
    assert_eq!(
        (config.registrar.min_expires, config.registrar.default_expires, config.registrar.max_expires),
        (60, 3600, 7200)
    );
    assert_eq!(config.dns.name_server, None);
    assert_eq!(config.log.level, "info");
    assert!(!config.database.migrate);
}

#[test]
fn an_unknown_field_is_named() {
    let text = example_text().replace("[registrar]\n", "[registrar]\nmax_expiry = 5\n");
    let message = error_of(&text);
    assert!(message.contains("max_expiry"), "{message}");
}

#[test]
fn a_missing_field_is_named() {
    let text = example_text().replace("domain = \"campus.test\"", "");
    let message = error_of(&text);
    assert!(message.contains("domain"), "{message}");
}

#[test]
fn a_wrong_type_is_named() {
    let text = example_text().replace("min_expires = 60", "min_expires = \"sixty\"");
    let message = error_of(&text);
    assert!(message.contains("min_expires"), "{message}");
}

#[test]
fn a_bad_value_is_named() {
    let text = example_text().replace("udp:127.0.0.1:5060", "udp:127.0.0.1");
    let message = error_of(&text);
    assert!(message.starts_with("sip.listen[0]"), "{message}");
    let text = example_text().replace("id = \"sip1\"", "id = \"sip 1\"");
    assert!(error_of(&text).starts_with("node.id"), "{}", error_of(&text));
}

#[test]
fn check_config_exits_2_on_a_bad_file_and_0_on_the_example() {
    let binary = env!("CARGO_BIN_EXE_carillon-proxy");
    let ok = std::process::Command::new(binary)
        .args(["--config", example_path().to_str().expect("utf-8 path"), "--check-config"])
        .output()
        .expect("run carillon-proxy");
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let dir = std::env::temp_dir().join(format!("carillon-proxy-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, example_text().replace("[log]\n", "[log]\ncolour = true\n")).expect("write");
    let out = std::process::Command::new(binary)
        .args(["--config", bad.to_str().expect("utf-8 path"), "--check-config"])
        .output()
        .expect("run carillon-proxy");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
