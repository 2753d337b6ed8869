//! Command-line arguments (clap derive). Flags are global so `cordon --demo machines`
//! and `cordon machines --demo` both work.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use cordon_core::api::IsolationType;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  every requested action succeeded (or, without --wait, was accepted)
  1  an action failed, was refused, or was already in progress
  2  a usage or config error (nothing was sent)
  3  sign-in failed";

#[derive(Debug, Parser)]
#[command(
    name = "cordon",
    version,
    about = "Keyboard-driven console for Microsoft Defender for Endpoint device isolation",
    long_about = "Keyboard-driven console for Microsoft Defender for Endpoint device isolation.\n\nWith no subcommand, opens the console. `cordon --demo` runs everything against the embedded Defender simulator, with no account needed.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<CommandArgs>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file (default: the platform config dir's cordon/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Profile to use (default: the config's default_profile).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Run against the embedded Defender simulator (no account needed).
    #[arg(long, global = true)]
    pub demo: bool,
    /// Number of machines in the demo fleet.
    #[arg(long, global = true, value_name = "N", default_value_t = 250)]
    pub demo_machines: usize,
    /// Seconds per status step of simulated actions (Pending → InProgress → final).
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        default_value_t = 5.0,
        hide = true
    )]
    pub demo_step: f64,
    /// How the demo signs in: client-secret, certificate, device-code (shows the
    /// sign-in modal; approve at the URL it names) or workload-identity.
    #[arg(
        long,
        global = true,
        value_name = "METHOD",
        default_value = "client-secret"
    )]
    pub demo_auth: DemoAuth,
    /// No colours (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// No mouse in the console (clicks select, the wheel scrolls, a header click
    /// sorts); terminal text selection then works without Shift. Also `[ui] mouse`.
    #[arg(long, global = true)]
    pub no_mouse: bool,
    /// ASCII-only borders and glyphs.
    #[arg(long, global = true)]
    pub ascii: bool,
}

#[derive(Debug, Subcommand)]
pub enum CommandArgs {
    /// List machines, streamed page by page: a table, JSON, JSON Lines or CSV.
    Machines {
        /// OData $filter, e.g. "healthStatus eq 'Active'".
        #[arg(long)]
        filter: Option<String>,
        #[command(flatten)]
        listing: ListingArgs,
    },
    /// Isolate machines (by device id or computer DNS name).
    #[command(after_help = EXIT_CODES_HELP)]
    Isolate {
        /// Machines to isolate: device ids or DNS names (a unique short name works).
        #[arg(required = true, value_name = "MACHINE")]
        machines: Vec<String>,
        /// Why (recorded by Defender with the action), e.g. a ticket id.
        #[arg(long)]
        comment: String,
        /// Full, Selective (some apps keep the network) or Unmanaged (contain an
        /// unmanaged device).
        #[arg(long = "type", value_enum, default_value_t = IsolationKind::Full)]
        isolation_type: IsolationKind,
        /// Poll until every action reaches a final state.
        #[arg(long)]
        wait: bool,
        /// Send even to machines that are already isolated (otherwise refused, exit 1).
        #[arg(long)]
        force: bool,
        /// For a protected profile or machine: the profile's name (for several
        /// machines, their number), typed to mean it.
        #[arg(long, value_name = "PROFILE|N")]
        confirm: Option<String>,
        /// Send nothing: resolve the machines, run every pre-check and print the exact
        /// requests (method, path, JSON body) that would be sent.
        #[arg(long)]
        dry_run: bool,
        /// Save that plan as JSON to FILE (implies --dry-run); `cordon apply FILE` sends it.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Print JSON: one entry per machine, the same shape whatever happened.
        #[arg(long)]
        json: bool,
    },
    /// Release machines from isolation.
    #[command(after_help = EXIT_CODES_HELP)]
    Unisolate {
        /// Machines to release: device ids or DNS names (a unique short name works).
        #[arg(required = true, value_name = "MACHINE")]
        machines: Vec<String>,
        /// Why (recorded by Defender with the action), e.g. a ticket id.
        #[arg(long)]
        comment: String,
        /// Poll until every action reaches a final state.
        #[arg(long)]
        wait: bool,
        /// Send even to machines that are not isolated (otherwise refused, exit 1).
        #[arg(long)]
        force: bool,
        /// For a protected profile or machine: the profile's name (for several
        /// machines, their number), typed to mean it.
        #[arg(long, value_name = "PROFILE|N")]
        confirm: Option<String>,
        /// Send nothing: resolve the machines, run every pre-check and print the exact
        /// requests (method, path, JSON body) that would be sent.
        #[arg(long)]
        dry_run: bool,
        /// Save that plan as JSON to FILE (implies --dry-run); `cordon apply FILE` sends it.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Print JSON: one entry per machine, the same shape whatever happened.
        #[arg(long)]
        json: bool,
    },
    /// List machine actions, streamed page by page (newest first with --limit).
    Actions {
        /// Only this machine's actions (a DNS name, short name or device id).
        #[arg(long, value_name = "MACHINE")]
        machine: Option<String>,
        /// Only actions created since: an RFC 3339 time (2026-11-30T08:00:00Z), a date
        /// (2026-11-30), or a span back from now (90m, 24h, 7d).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only these types, e.g. Isolate,Unisolate (repeat or separate with commas).
        #[arg(long = "type", value_name = "TYPE", value_delimiter = ',')]
        types: Vec<String>,
        /// Only these statuses, e.g. Pending,InProgress,Failed,TimeOut.
        #[arg(long, value_name = "STATUS", value_delimiter = ',')]
        status: Vec<String>,
        /// Only the newest N actions, newest first (every page is still read; only N
        /// are kept). Without it, actions are streamed in the service's order.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        #[command(flatten)]
        listing: ListingArgs,
    },
    /// Cancel a pending machine action.
    #[command(after_help = EXIT_CODES_HELP)]
    Cancel {
        /// The id of the Pending or InProgress action (see `cordon actions`).
        action_id: String,
        /// Why (recorded by Defender with the cancellation).
        #[arg(long)]
        comment: String,
        /// Print JSON: the same shape as isolate and unisolate.
        #[arg(long)]
        json: bool,
        /// For a protected profile or machine: the profile's name, typed to mean it.
        #[arg(long, value_name = "PROFILE")]
        confirm: Option<String>,
        /// Send nothing: print the request that would be sent.
        #[arg(long)]
        dry_run: bool,
        /// Save that plan as JSON to FILE (implies --dry-run).
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
    },
    /// Send a plan saved with --plan: shows it and asks once (or --yes); refuses a plan
    /// made for another profile or tenant, or older than --max-age.
    #[command(after_help = EXIT_CODES_HELP)]
    Apply {
        /// The plan file.
        file: PathBuf,
        /// Send without asking (needed when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
        /// Refuse a plan older than this: 30m, 2h, 1d.
        #[arg(long, value_name = "SPAN", default_value = "1h")]
        max_age: String,
        /// For a protected profile or machine: the profile's name (for several
        /// machines, their number).
        #[arg(long, value_name = "PROFILE|N")]
        confirm: Option<String>,
        /// Poll until every action reaches a final state.
        #[arg(long)]
        wait: bool,
        /// Print JSON: one entry per machine, as isolate does.
        #[arg(long)]
        json: bool,
    },
    /// Sign in as yourself for a device-code profile: prints a URL and a code (on
    /// stderr) to enter on any device, waits, and keeps the sign-in for later commands.
    Login,
    /// Forget the profile's stored sign-in.
    Logout,
    /// Who the profile acts as: the user or app, tenant, method, token expiry and the
    /// rights granted; exit 1 when Machine.Isolate is missing.
    Whoami {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the Defender simulator on its own and print a profile that points at it.
    /// The global options do not apply to it.
    Simulate(SimulateArgs),
    /// Print shell completions, e.g. `cordon completions bash > ~/.local/share/bash-completion/completions/cordon`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `cordon man > ~/.local/share/man/man1/cordon.1`.
    Man,
}

/// How `machines` and `actions` print: the same for both.
#[derive(Debug, Args)]
pub struct ListingArgs {
    /// table (fixed-width columns), json (one array), jsonl (one object per line) or
    /// csv (a header row, RFC 4180 quoting).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub output: Option<OutputFormat>,
    /// The same as --output json.
    #[arg(long)]
    pub json: bool,
    /// Only these fields, in this order, in every format: the API's names, e.g.
    /// id,computerDnsName,isolationState.
    #[arg(long, value_name = "FIELDS", value_delimiter = ',')]
    pub fields: Vec<String>,
}

impl ListingArgs {
    /// The format asked for (`--json` is `--output json`); a table by default.
    pub fn format(&self) -> OutputFormat {
        match (self.json, self.output) {
            (true, _) => OutputFormat::Json,
            (false, Some(f)) => f,
            (false, None) => OutputFormat::Table,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on (loopback unless you mean to share it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Fleet size (1,000,000 works).
    #[arg(long, default_value_t = 250)]
    pub machines: usize,
    /// Seconds per status step (Pending → InProgress → final).
    #[arg(long, default_value_t = 5.0)]
    pub step: f64,
    /// Chance (0..1) of a 500 answer on API calls.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Added latency per API call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Chance (0..1) that the connection is cut without a complete answer.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Chance (0..1) of a 200 with malformed JSON.
    #[arg(long, default_value_t = 0.0)]
    pub garbage_rate: f64,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 3599)]
    pub token_ttl: u64,
    /// Do not enforce 100 calls/min and 1,500 calls/hour per API.
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Add machines whose names and comments hold escape sequences and other hostile text.
    #[arg(long)]
    pub hostile: bool,
    /// Answer isolate and release with 403, as for an app without Machine.Isolate.
    #[arg(long)]
    pub forbid_writes: bool,
    /// Hold each isolate/release answer this many milliseconds after the action was
    /// created: a client killed or timed out meanwhile never hears of it (recovery).
    /// A share of faulted writes (--fail-rate, --drop-rate, --garbage-rate) also takes
    /// effect before its answer breaks: half of them.
    #[arg(long, default_value_t = 0)]
    pub write_hold_ms: u64,
    /// Seed of the fleet and the fault dice (the same seed, the same fleet).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Serve HTTPS with a certificate signed by the simulator's own CA (written to the
    /// data dir; the printed profiles name it in ca_file), as behind a TLS-inspecting
    /// proxy.
    #[arg(long)]
    pub tls: bool,
    /// Approve every device-code sign-in at once as this user (otherwise the code is
    /// entered at the simulator's /devicelogin page).
    #[arg(long, value_name = "UPN")]
    pub auto_approve: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoAuth {
    ClientSecret,
    Certificate,
    DeviceCode,
    WorkloadIdentity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationKind {
    Full,
    Selective,
    Unmanaged,
}

impl From<IsolationKind> for IsolationType {
    fn from(k: IsolationKind) -> Self {
        match k {
            IsolationKind::Full => IsolationType::Full,
            IsolationKind::Selective => IsolationType::Selective,
            IsolationKind::Unmanaged => IsolationType::UnManagedDevice,
        }
    }
}

#[cfg(test)]
mod help_tests {
    use super::*;
    use clap::CommandFactory;

    /// Issue 16: every option in every `--help` says what it does.
    #[test]
    fn every_option_of_every_command_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "cordon", &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:?}");
    }

    #[test]
    fn completions_and_the_man_page_come_from_the_cli_definition() {
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "cordon",
            &mut out,
        );
        let bash = String::from_utf8(out).expect("utf-8");
        assert!(bash.contains("isolate") && bash.contains("--comment"));
        let mut man = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut man)
            .expect("renders");
        let man = String::from_utf8(man).expect("utf-8");
        assert!(man.contains(".TH cordon 1") && man.contains("simulator"));
    }
}
