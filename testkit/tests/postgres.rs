//! The PostgreSQL harness itself: private, loopback-only, restartable, and gone after drop or after its test
//! process dies.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use carillon_testkit::{Error, PostgresServer};

fn process_exists(pid: u32) -> bool {
    // A zombie is not a running server: look at the state, not only at /proc/PID.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_secs(1)).is_ok()
}

fn process_uid(pid: u32) -> u32 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read process status");
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).expect("status has a Uid line");
    uid_line.split_whitespace().nth(1).expect("real uid").parse().expect("numeric uid")
}

#[test]
fn a_started_server_is_private_fast_and_reachable_by_its_url() {
    let server = PostgresServer::start().expect("start PostgreSQL");
    let url = server.url();
    assert!(url.starts_with("postgres://carillon:"), "{url}");
    assert!(url.contains(&format!("@127.0.0.1:{}/carillon", server.port())), "{url}");

    let settings = server
        .psql(
            "carillon",
            "SELECT current_setting('listen_addresses'), current_setting('fsync'), current_user, current_database()",
        )
        .expect("query settings");
    assert_eq!(settings.trim(), "127.0.0.1|off|carillon|carillon");
    let superuser =
        server.psql("carillon", "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").expect("role");
    assert_eq!(superuser.trim(), "t");
    // Loopback TCP needs the password; only the socket in the private directory is trusted.
    let host_auth = server
        .psql("carillon", "SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type = 'host'")
        .expect("read pg_hba rules");
    assert_eq!(host_auth.trim(), "scram-sha-256");
    let socket_dir = server.psql("carillon", "SHOW unix_socket_directories").expect("socket dir");
    assert_eq!(PathBuf::from(socket_dir.trim()), server.data_dir().parent().expect("data dir has a parent"));

    let pid = server.pid().expect("running server has a pid");
    let expected_uid = if process_uid(std::process::id()) == 0 {
        let passwd = fs::read_to_string("/etc/passwd").expect("read passwd");
        let line = passwd.lines().find(|l| l.starts_with("postgres:")).expect("postgres user exists");
        line.split(':').nth(2).expect("uid field").parse().expect("numeric uid")
    } else {
        process_uid(std::process::id())
    };
    assert_eq!(process_uid(pid), expected_uid, "the server never runs as root");
}

#[test]
fn fresh_databases_are_distinct_and_unsafe_names_are_refused() {
    let server = PostgresServer::start().expect("start PostgreSQL");
    let first = server.fresh_database().expect("first database");
    let second = server.fresh_database().expect("second database");
    assert_ne!(first, second);
    let database = second.rsplit_once('/').expect("url has a path").1.split('?').next().expect("name");
    let found = server.psql(database, "SELECT current_database()").expect("connect to the new database");
    assert_eq!(found.trim(), database);

    for name in ["Upper", "x; DROP DATABASE carillon", "", "1abc"] {
        assert!(matches!(server.create_database(name), Err(Error::InvalidArgument(_))), "{name:?} accepted");
    }
}

#[test]
fn stop_refuses_connections_and_start_again_keeps_port_and_data() {
    let mut server = PostgresServer::start().expect("start PostgreSQL");
    let port = server.port();
    let url = server.url();
    server.psql("carillon", "CREATE TABLE survives (x int); INSERT INTO survives VALUES (42)").expect("write");
    let first_pid = server.pid().expect("pid");

    server.stop().expect("stop");
    assert_eq!(server.pid(), None);
    assert!(!process_exists(first_pid), "postmaster {first_pid} still running after stop");
    assert!(!accepts_connections(port), "port {port} still accepts connections after stop");
    assert!(server.psql("carillon", "SELECT 1").is_err());
    server.stop().expect("stopping a stopped server does nothing");

    server.start_again().expect("start again");
    assert_eq!(server.port(), port);
    assert_eq!(server.url(), url);
    assert_eq!(server.psql("carillon", "SELECT x FROM survives").expect("read").trim(), "42");
}

#[test]
fn drop_stops_the_server_and_removes_its_directory() {
    let server = PostgresServer::start().expect("start PostgreSQL");
    let pid = server.pid().expect("pid");
    let port = server.port();
    let root = server.data_dir().parent().expect("private directory").to_owned();
    assert!(root.join("data/PG_VERSION").is_file());
    drop(server);
    assert!(!process_exists(pid), "postmaster {pid} outlived drop");
    assert!(!root.exists(), "{} outlived drop", root.display());
    assert!(!accepts_connections(port));
}

#[test]
fn two_servers_run_side_by_side_on_different_ports() {
    let a = PostgresServer::start().expect("start the first");
    let b = PostgresServer::start().expect("start the second");
    assert_ne!(a.port(), b.port());
    a.psql("carillon", "CREATE TABLE only_in_a (x int)").expect("write to a");
    let in_b = b.psql("carillon", "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").expect("read b");
    assert_eq!(in_b.trim(), "0");
}

const ABANDON_ENV: &str = "CARILLON_TESTKIT_ABANDON_SERVER";

/// Run only as a child process by the next test: starts a server, prints where it is, and exits without
/// dropping it, as a test process that panics with `abort` or is killed would.
#[test]
#[ignore = "started as a child process by the_watchdog_cleans_up_after_a_test_process_that_dies"]
fn abandon_a_server() {
    if std::env::var_os(ABANDON_ENV).is_none() {
        return;
    }
    let server = PostgresServer::start().expect("start PostgreSQL");
    println!("ABANDONED {} {} {}", server.pid().expect("pid"), server.port(), server.data_dir().display());
    std::process::exit(0);
}

#[test]
fn the_watchdog_cleans_up_after_a_test_process_that_dies() {
    let output = Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", "abandon_a_server", "--ignored", "--nocapture", "--test-threads=1"])
        .env(ABANDON_ENV, "1")
        .output()
        .expect("run the abandoning child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.split_once("ABANDONED ").map(|(_, rest)| rest)).unwrap_or_else(|| {
        panic!("child did not report its server:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr))
    });
    let mut fields = line.split(' ');
    let pid: u32 = fields.next().expect("pid").parse().expect("numeric pid");
    let port: u16 = fields.next().expect("port").parse().expect("numeric port");
    let data_dir = PathBuf::from(fields.next().expect("data dir"));
    let root = data_dir.parent().expect("private directory").to_owned();

    let deadline = Instant::now() + Duration::from_secs(30);
    while (process_exists(pid) || root.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!process_exists(pid), "abandoned postmaster {pid} still running");
    assert!(!root.exists(), "abandoned directory {} still there", root.display());
    assert!(!accepts_connections(port));
}
