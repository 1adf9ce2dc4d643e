//! `carillon`: the administration command line of a Carillon installation, for IT staff and their scripts.
//!
//! Every subcommand but `ping` works on the shared PostgreSQL database, found by `--database-url`, else the
//! environment variable `DATABASE_URL`, else `[database] url` in the proxy's configuration file
//! (`/etc/carillon/carillon-proxy.toml`, or `--config`). Output is a table or a sentence for people, or JSON with
//! `--json` for scripts. A failure prints one line, `carillon: ...`, on standard error and exits with status 1.
//! `docs/admin-cli.md` shows every subcommand with an example.

mod commands;
mod config;
mod failure;
mod output;
mod ping;
mod secret;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::failure::Failure;
use crate::output::Output;

/// Administers a Carillon installation: schema, demo campus, users, lines, forwarding, trunk passwords,
/// registrations, nodes.
#[derive(Debug, Parser)]
#[command(name = "carillon", version)]
struct Cli {
    /// PostgreSQL connection string, postgres://USER:PASSWORD@HOST:PORT/DATABASE [default: [database] url of
    /// the configuration file]
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,

    /// The carillon-proxy configuration file whose [database] url is used when no URL is given.
    #[arg(long, global = true, env = "CARILLON_CONFIG", value_name = "FILE", default_value = config::DEFAULT_CONFIG)]
    config: PathBuf,

    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply every database migration not yet applied (or, with --status, show which are).
    Migrate {
        /// Only show the schema version and the pending migrations.
        #[arg(long)]
        status: bool,
    },
    /// Create the demo campus (domain campus.test) unless it exists, writing its line passwords to a file.
    SeedDemo {
        /// How many users, at most 300 (extensions 4000-4299).
        #[arg(long, default_value_t = 200)]
        users: u32,
        /// Seed of the random choices: the same seed gives the same campus and passwords.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write the line credentials (CSV, readable by its owner only).
        #[arg(long, value_name = "FILE")]
        credentials: PathBuf,
    },
    /// SIP domains.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// User classes: what groups of users may call.
    #[command(subcommand)]
    Class(ClassCommand),
    /// Users and their extensions and names.
    #[command(subcommand)]
    User(UserCommand),
    /// Lines: the SIP accounts phones register with.
    #[command(subcommand)]
    Line(LineCommand),
    /// Call forwarding and do-not-disturb.
    #[command(subcommand)]
    Forward(ForwardCommand),
    /// Trunks: PSTN gateways and providers' SIP trunks.
    #[command(subcommand)]
    Trunk(TrunkCommand),
    /// List the phones registered now.
    Registrations {
        /// Only the registrations of this user's lines (login name, extension or name alias).
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        domain: DomainArg,
    },
    /// List the Carillon servers that announced themselves.
    Nodes,
    /// Send OPTIONS over UDP to a SIP server and print its answer (exit status 0 for a 2xx answer).
    Ping {
        /// Where to send it, sip:HOST[:PORT].
        uri: String,
        /// How long to wait for an answer, in seconds (the request is retransmitted meanwhile).
        #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
        timeout: f64,
    },
}

/// `--domain`, optional when the database holds one domain only.
#[derive(Debug, Clone, Args)]
struct DomainArg {
    /// The SIP domain [default: the only domain in the database].
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,
}

#[derive(Debug, Subcommand)]
enum DomainCommand {
    /// Add a SIP domain.
    Add {
        /// The domain as in SIP URIs, e.g. campus.example.edu.
        #[arg(long)]
        name: String,
        /// The digest realm [default: the domain name].
        #[arg(long)]
        realm: Option<String>,
    },
    /// List the domains.
    List,
}

#[derive(Debug, Subcommand)]
enum ClassCommand {
    /// Add a user class.
    Add {
        #[command(flatten)]
        domain: DomainArg,
        /// Its name, e.g. staff.
        #[arg(long)]
        name: String,
        /// What its users may call, comma-separated: internal, campus, local, long-distance, international
        /// (emergency numbers are always allowed).
        #[arg(long, value_delimiter = ',', value_name = "CATEGORIES", default_value = "internal,campus")]
        may_call: Vec<commands::CallCategoryArg>,
    },
    /// List the user classes of a domain.
    List {
        #[command(flatten)]
        domain: DomainArg,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user with an extension (and optionally name aliases).
    Add {
        #[command(flatten)]
        domain: DomainArg,
        /// Login name, e.g. alice.
        #[arg(long)]
        name: String,
        /// Name shown to callees, e.g. "Alice Cueba".
        #[arg(long, default_value = "")]
        display_name: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Organisational unit.
        #[arg(long)]
        department: Option<String>,
        /// The user class (what the user may call).
        #[arg(long)]
        class: String,
        /// The extension, digits only, e.g. 4711.
        #[arg(long)]
        extension: String,
        /// A name callers may dial, e.g. alice.cueba (repeat for several).
        #[arg(long)]
        alias: Vec<String>,
    },
    /// Remove a user with the user's aliases, lines, registrations and forwarding.
    Remove {
        #[command(flatten)]
        domain: DomainArg,
        /// Login name, extension or name alias.
        #[arg(long)]
        user: String,
    },
    /// List users.
    List {
        /// The SIP domain [default: every domain].
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// Only users whose name, display name, e-mail, department or an alias contains this text.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum LineCommand {
    /// Add a line with a new random secret, printed once.
    Add {
        #[command(flatten)]
        domain: DomainArg,
        /// The user (login name, extension or name alias).
        #[arg(long)]
        user: String,
        /// The line's digest username [default: the user's extension, or its name when that is taken].
        #[arg(long)]
        username: Option<String>,
        /// A label for the phone the line is provisioned on [default: "Line USERNAME"].
        #[arg(long, value_name = "LABEL")]
        device: Option<String>,
    },
    /// Give a line a new random secret, printed once; the old one stops working.
    RotateSecret {
        #[command(flatten)]
        domain: DomainArg,
        /// The line's digest username.
        #[arg(long, value_name = "USERNAME")]
        line: String,
    },
}

#[derive(Debug, Subcommand)]
enum TrunkCommand {
    /// Store a trunk's password sealed (encrypted with the seal key), for providers whose challenges the stored
    /// HA1 values cannot answer (a realm not known in advance, another algorithm). The password is read from the
    /// terminal without echo (asked twice), or from the first line of standard input; it is never printed.
    SetPassword {
        /// The trunk's name.
        #[arg(long)]
        trunk: String,
        /// The digest username the provider assigned [default: the trunk's current one].
        #[arg(long)]
        username: Option<String>,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// The 32-byte key file, the same as carillon-proxy's [trunks] seal_key_file (created if missing)
        /// [default: [trunks] seal_key_file of the configuration file].
        #[arg(long, value_name = "FILE")]
        seal_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ForwardCommand {
    /// Change a user's forwarding; what is not given stays as it is. A TARGET is an extension, a name, an
    /// outside number with its prefix or a SIP URI; "off" removes that forward.
    Set {
        #[command(flatten)]
        domain: DomainArg,
        /// The user (login name, extension or name alias).
        #[arg(long)]
        user: String,
        /// Forward every call, without ringing.
        #[arg(long, value_name = "TARGET")]
        always: Option<String>,
        /// Forward when every line is busy, or on do-not-disturb.
        #[arg(long, value_name = "TARGET")]
        busy: Option<String>,
        /// Forward when nobody answers in time.
        #[arg(long, value_name = "TARGET")]
        no_answer: Option<String>,
        /// How long the lines ring before the no-answer forward (1 to 600).
        #[arg(long, value_name = "SECONDS")]
        after: Option<u32>,
        /// Do-not-disturb: treat the user as busy without ringing.
        #[arg(long, value_name = "on|off")]
        dnd: Option<commands::OnOff>,
    },
    /// Show a user's forwarding.
    Show {
        #[command(flatten)]
        domain: DomainArg,
        /// The user (login name, extension or name alias).
        #[arg(long)]
        user: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are not failures; usage errors are, with the same status as any other.
            let _ = error.print();
            return if error.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    let json = cli.json;
    match run(cli) {
        Ok(output) => {
            output.print(json);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            failure.print();
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<Output, Failure> {
    if let Command::Ping { uri, timeout } = &cli.command {
        return ping::ping(uri, *timeout);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(commands::run(cli))
}
