//! The `carillon-proxy` program and its start-up checks: it serves, exits 0 on SIGTERM, and refuses a database
//! whose schema is not the one it knows.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use carillon_proxy::{Error, Server};
use carillon_sip::StatusCode;
use common::{Campus, DOMAIN, Ua, WAIT, config, postgres};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_answers_options_and_exits_0_on_sigterm() {
    let campus = Campus::new().await;
    let port = common::free_udp_port();
    let cfg = config(&campus);
    let dir = cfg.auth.nonce_secret_file.parent().expect("a directory").to_owned();
    let text = format!(
        "[node]\nid = \"binary-test\"\n[sip]\ndomain = \"{DOMAIN}\"\nlisten = [\"udp:127.0.0.1:{port}\"]\n\
         [database]\nurl = \"{}\"\n[auth]\nnonce_secret_file = \"{}\"\n[dns]\nname_server = \"127.0.0.1:9\"\n\
         [shutdown]\ndrain_seconds = 2\n",
        campus.url,
        dir.join("secret").display()
    );
    let file = dir.join("carillon-proxy.toml");
    std::fs::write(&file, text).expect("write the configuration");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_carillon-proxy"))
        .arg("--config")
        .arg(&file)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start carillon-proxy");

    // Health check by OPTIONS, retried while the program starts.
    let proxy = format!("127.0.0.1:{port}").parse().expect("address");
    let mut probe = Ua::new(proxy, "monitor", "").await;
    let until = Instant::now() + WAIT;
    let uri = format!("sip:{DOMAIN}");
    loop {
        let call_id = format!("ping-{}", probe.unique());
        let options = probe.request("OPTIONS", &uri, &format!("<{uri}>"), &call_id, 1, &[]);
        probe.send(&options).await;
        let mut buf = vec![0u8; 65_535];
        if let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(300), probe.socket.recv_from(&mut buf)).await
        {
            let answer = carillon_sip::Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).expect("a response");
            assert_eq!(answer.status(), Some(StatusCode::OK), "{answer:?}");
            break;
        }
        assert!(Instant::now() < until, "carillon-proxy never answered OPTIONS");
    }

    let pid = child.id().expect("a running child");
    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT, child.wait()).await.expect("exits in time").expect("wait");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut pipe, &mut stderr).await;
    }
    assert_eq!(status.code(), Some(0), "clean shutdown on SIGTERM; stderr: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_the_schema_is_refused_unless_migration_is_asked_for() {
    let campus = Campus::new().await;
    let mut cfg = config(&campus);
    cfg.database.url = postgres().fresh_database().expect("an empty database");
    match Server::start(cfg.clone()).await {
        Err(e @ Error::Schema { found: None, .. }) => {
            assert!(e.to_string().contains("--migrate"), "the message says what to do: {e}");
            assert_eq!(e.exit_code(), 1);
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
    cfg.database.migrate = true;
    let server = Server::start(cfg).await.expect("starts after migrating");
    server.run(async {}).await.expect("stops at once");
}
