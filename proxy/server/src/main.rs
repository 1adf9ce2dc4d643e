//! `carillon-proxy --config <FILE> [--check-config] [--migrate]`: the proxy/registrar service.
//!
//! Exit status: 0 after a clean shutdown (SIGTERM or SIGINT), 2 for a bad configuration or command line, 1 for
//! any other failure. Logs go to stderr; the level comes from `RUST_LOG` when set, else from `[log] level`.
//! SIGHUP reads the `[tls]` files again (certificate, key, CA bundle) without a restart.

use std::path::PathBuf;
use std::process::ExitCode;

use carillon_proxy::Config;

/// mimalloc gives memory back to the system once it is free: a registration storm (a campus reboot) leaves tens
/// of thousands of answered transactions for 32 s, and with the system allocator the process kept their pages
/// for good. It is also faster than the system allocator on this workload.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: carillon-proxy --config <FILE> [--check-config] [--migrate]

  --config <FILE>   the configuration file (TOML; see docs/carillon-proxy.example.toml)
  --check-config    validate the configuration and exit (0 when valid, 2 otherwise)
  --migrate         apply pending database migrations before starting
";

struct Args {
    config: PathBuf,
    check_only: bool,
    migrate: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut config = None;
    let mut check_only = false;
    let mut migrate = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = Some(args.next().ok_or("--config needs a file")?),
            "--check-config" => check_only = true,
            "--migrate" => migrate = true,
            "--help" | "-h" => return Err(String::new()),
            other => match other.strip_prefix("--config=") {
                Some(path) => config = Some(path.to_owned()),
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    let config = config.ok_or("--config <FILE> is required")?;
    Ok(Args { config: PathBuf::from(config), check_only, migrate })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("carillon-proxy: {message}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(if message.is_empty() { 0 } else { 2 });
        }
    };
    let mut config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("carillon-proxy: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    if args.check_only {
        println!("{}: configuration is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        config.database.url = url;
    }
    config.database.migrate |= args.migrate;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .or_else(|| tracing_subscriber::EnvFilter::try_new(&config.log.level).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("carillon-proxy: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "carillon-proxy failed");
            eprintln!("carillon-proxy: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Starts the service and serves until SIGTERM or SIGINT, reloading the `[tls]` files on SIGHUP.
async fn serve(config: Config) -> Result<(), carillon_proxy::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    // Taken before anything else: from here on a SIGHUP (the default action of which ends the process) only
    // ever means "reload".
    let hangups = signal(SignalKind::hangup())
        .map_err(|source| carillon_proxy::Error::Io { what: "cannot handle SIGHUP".to_owned(), source })?;
    let server = carillon_proxy::Server::start(config).await?;
    tokio::spawn(reload_on_hangup(hangups, server.tls_files()));
    server.run(shutdown_signal()).await
}

/// Reloads the `[tls]` files on every SIGHUP (with nothing to reload without a `tls:` listener).
async fn reload_on_hangup(mut hangups: tokio::signal::unix::Signal, files: Option<carillon_proxy::TlsFiles>) {
    while hangups.recv().await.is_some() {
        match &files {
            Some(files) => match files.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS files reloaded"),
                Err(e) => tracing::warn!(error = %e, "SIGHUP: TLS files not (all) reloaded"),
            },
            None => tracing::info!("SIGHUP: no tls: listener, nothing to reload"),
        }
    }
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("signal received");
}
