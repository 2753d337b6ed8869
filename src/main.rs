//! The binary's edge: parse arguments, load the profile (or start the simulator for
//! `--demo`), then run the console or a subcommand, and turn every error into one
//! sentence and a documented exit code.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use cordon::cli::CliError;
use cordon::cli::args::{Cli, CommandArgs, SimulateArgs};
use cordon::cli::commands::{self, Output};
use cordon_core::api::ScopeBook;
use cordon_core::api::client::{ClientOptions, MdeClient};
use cordon_core::audit::{AuditContext, AuditLog};
use cordon_core::config::{self, Profile};
use cordon_core::worker::{RateLimited, RateLimits, WorkerSettings};
use cordon_sim::{self as sim, SimConfig};

use cordon_core::timing::since_start_ms;

/// A panic anywhere (the console's thread, the worker, any task) ends the process: the
/// terminal is restored, one line says what happened, and cordon exits 101. Nothing keeps
/// running behind a restored terminal with a worker that is gone.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        cordon::tui::terminal::restore_if_entered();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(panic = %what, location = %at, "panic: exiting");
        eprintln!(
            "cordon: internal error, stopping: {}{at}. Requests already sent continue in Defender and are in the audit log; please report this.",
            cordon_core::sanitize::clean(&what)
        );
        std::process::exit(101);
    }));
}

fn main() -> ExitCode {
    cordon_core::timing::mark_start();
    install_panic_hook();
    // Before any secret or token is in memory: no core file can hold one.
    if let Err(e) = cordon_core::private_fs::disable_core_dumps() {
        eprintln!(
            "cordon: warning: cannot turn core dumps off ({e}); a crash could leave the token in a core file"
        );
    }
    // clap prints --help/--version and usage errors itself (usage errors exit 2).
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cordon: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(cli));
    // Do not wait for blocking tasks (stdin readers and the like) at exit.
    runtime.shutdown_timeout(Duration::from_millis(200));
    ExitCode::from(code)
}

async fn run(cli: Cli) -> u8 {
    match run_inner(cli).await {
        Ok(code) => code,
        Err(e) => {
            // Messages may quote the service: cleaned here, at the edge, whatever they hold.
            eprintln!("cordon: {}", cordon_core::sanitize::clean(&e.to_string()));
            e.exit_code()
        }
    }
}

/// Everything a session needs once the profile is known.
struct Session {
    profile: Profile,
    api: Arc<RateLimited<MdeClient>>,
    audit: AuditLog,
    worker_settings: WorkerSettings,
    keys: std::collections::BTreeMap<String, Vec<String>>,
    refresh_interval: Option<Duration>,
    /// `[ui] mouse`.
    mouse: bool,
    /// `[ui] columns`.
    columns: Option<Vec<String>>,
    /// Every profile of the config (`:profile`).
    profile_names: Vec<String>,
    /// Keeps the demo simulator alive for the session.
    _demo: Option<(sim::RunningSim, CancellationToken)>,
}

async fn run_inner(cli: Cli) -> Result<u8, CliError> {
    match &cli.command {
        Some(CommandArgs::Simulate(args)) => return simulate(args).await,
        Some(CommandArgs::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "cordon", &mut out);
            return write_stdout(&out);
        }
        Some(CommandArgs::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut out)
                .map_err(|e| CliError::Failed(format!("cannot render the man page: {e}")))?;
            return write_stdout(&out);
        }
        _ => {}
    }
    let _log_guard = match cordon_core::logging::init(&config::log_path()) {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!("cordon: logging is off: {e}");
            None
        }
    };
    tracing::info!(ms = since_start_ms(), "start-up: logging ready");
    let session = open_session(&cli, None).await?;
    tracing::info!(ms = since_start_ms(), "start-up: session ready");
    let interrupt = CancellationToken::new();
    {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupt.cancel();
            }
        });
    }
    match cli.command {
        None => run_console(&cli, session).await,
        Some(CommandArgs::Machines { filter, listing }) => {
            let printing = printing_of(listing);
            let listing = commands::machines(
                session.api.as_ref(),
                filter,
                &printing,
                stdout_for_listing(),
                &interrupt,
            );
            finish_listing(&session, listing, "machines").await
        }
        Some(CommandArgs::Actions {
            machine,
            since,
            types,
            status,
            limit,
            listing,
        }) => {
            let query = commands::ActionsQuery {
                machine,
                since: since
                    .as_deref()
                    .map(|s| commands::parse_since(s, chrono::Utc::now()))
                    .transpose()?,
                types,
                statuses: status,
                limit,
            };
            let printing = printing_of(listing);
            let listing = commands::actions(
                session.api.as_ref(),
                query,
                &printing,
                stdout_for_listing(),
                &interrupt,
            );
            finish_listing(&session, listing, "actions").await
        }
        Some(CommandArgs::Isolate {
            machines,
            comment,
            isolation_type,
            wait,
            force,
            json,
            confirm,
            dry_run,
            plan,
        }) => {
            let mut tags = HashMap::new();
            let requests = commands::plan_isolation(
                session.api.as_ref(),
                &machines,
                &comment,
                Some(isolation_type.into()),
                &session.profile.comment_rule,
                &mut tags,
            )
            .await?;
            let (requests, refused) =
                commands::refuse_no_ops(session.api.as_ref(), requests, force).await?;
            let how = WriteHow {
                confirm,
                dry_run,
                plan,
                wait,
                json,
            };
            finish_write(session, requests, refused, &tags, how, interrupt).await
        }
        Some(CommandArgs::Unisolate {
            machines,
            comment,
            wait,
            force,
            json,
            confirm,
            dry_run,
            plan,
        }) => {
            let mut tags = HashMap::new();
            let requests = commands::plan_isolation(
                session.api.as_ref(),
                &machines,
                &comment,
                None,
                &session.profile.comment_rule,
                &mut tags,
            )
            .await?;
            let (requests, refused) =
                commands::refuse_no_ops(session.api.as_ref(), requests, force).await?;
            let how = WriteHow {
                confirm,
                dry_run,
                plan,
                wait,
                json,
            };
            finish_write(session, requests, refused, &tags, how, interrupt).await
        }
        Some(CommandArgs::Cancel {
            action_id,
            comment,
            json,
            confirm,
            dry_run,
            plan,
        }) => {
            let request = commands::plan_cancel(
                session.api.as_ref(),
                &action_id,
                &comment,
                &session.profile.comment_rule,
            )
            .await?;
            let tags = machine_tags(&session, std::slice::from_ref(&request)).await;
            let how = WriteHow {
                confirm,
                dry_run,
                plan,
                wait: false,
                json,
            };
            finish_write(session, vec![request], Vec::new(), &tags, how, interrupt).await
        }
        Some(CommandArgs::Apply {
            file,
            yes,
            max_age,
            confirm,
            wait,
            json,
        }) => {
            let max_age = cordon::cli::plan::parse_max_age(&max_age)?;
            let plan = cordon::cli::plan::load(&file, &session.profile, max_age)?;
            let requests = cordon::cli::plan::requests(&plan)?;
            eprint!(
                "{}",
                cordon::cli::commands::Output::terminal_safe_text(&cordon::cli::plan::show(&plan))
            );
            if requests.is_empty() {
                eprintln!("cordon: the plan sends nothing.");
                return Ok(0);
            }
            if !yes {
                use std::io::{BufRead, IsTerminal, Write};
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::Usage(
                        "apply asks before sending and stdin is not a terminal; add --yes to send without asking".into(),
                    ));
                }
                eprint!("Send {} request(s) now? [y/N] ", requests.len());
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("cordon: nothing was sent.");
                    return Ok(1);
                }
            }
            let tags = machine_tags(&session, &requests).await;
            let how = WriteHow {
                confirm,
                dry_run: false,
                plan: None,
                wait,
                json,
            };
            finish_write(session, requests, Vec::new(), &tags, how, interrupt).await
        }
        Some(CommandArgs::Login) => {
            let client = session.api.inner();
            print(cordon::cli::signin::login(client, &session.profile, &interrupt).await?)
        }
        Some(CommandArgs::Logout) => {
            print(cordon::cli::signin::logout(session.api.inner(), &session.profile).await?)
        }
        Some(CommandArgs::Whoami { json }) => {
            print(cordon::cli::signin::whoami(session.api.inner(), &session.profile, json).await?)
        }
        Some(CommandArgs::Simulate(_) | CommandArgs::Completions { .. } | CommandArgs::Man) => {
            Ok(0)
        }
    }
}

/// Every start settles what earlier runs left unfinished, listings too: a worker does
/// it beside the listing, which waits for it (at most `RECOVERY_WAIT`) before the
/// process ends. What it found goes to stderr, so stdout stays the listing.
async fn recovering_beside<T>(
    session: &Session,
    listing: impl std::future::Future<Output = T>,
) -> T {
    const RECOVERY_WAIT: Duration = Duration::from_secs(60);
    let cancel = CancellationToken::new();
    let mut handle = cordon_core::worker::spawn(
        session.api.clone(),
        session.audit.clone(),
        session.worker_settings.clone(),
        cancel.clone(),
    );
    let sent = handle
        .commands
        .send(cordon_core::worker::protocol::Command::Recover)
        .await
        .is_ok();
    let out = listing.await;
    if sent {
        let report = tokio::time::timeout(RECOVERY_WAIT, async {
            while let Some(event) = handle.events.recv().await {
                if let cordon_core::worker::protocol::WorkerEvent::Recovered { report } = event {
                    return Some(report);
                }
            }
            None
        })
        .await;
        match report {
            Ok(Some(report)) => {
                if let Some(sentence) = report.sentence() {
                    eprintln!("cordon: {}", cordon_core::sanitize::clean(&sentence));
                }
            }
            _ => tracing::warn!("recovery did not finish; it runs again at the next start"),
        }
    }
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), handle.join).await;
    out
}

/// The demo profile's sign-in for `--demo-auth`: the simulator knows the demo app's
/// certificate and federated token; they are written private to the data dir.
fn demo_auth(
    method: cordon::cli::args::DemoAuth,
    profile: &Profile,
) -> Result<config::Auth, CliError> {
    use cordon::cli::args::DemoAuth;
    let write = |name: &str, text: &str| {
        let path = config::data_dir().join(name);
        cordon_core::private_fs::write_private(&path, text.as_bytes())
            .map(|()| path)
            .map_err(|e| CliError::Failed(format!("cannot write the demo's {name}: {e}")))
    };
    Ok(match method {
        DemoAuth::ClientSecret => profile.auth.clone(),
        DemoAuth::Certificate => config::Auth::Certificate {
            file: write("demo-app-cert.pem", sim::identity::DEMO_CERTIFICATE_PEM)?,
            password_env: None,
        },
        DemoAuth::DeviceCode => config::Auth::DeviceCode,
        DemoAuth::WorkloadIdentity => config::Auth::WorkloadIdentity {
            token_file: Some(write(
                "demo-federated-token",
                sim::identity::DEMO_FEDERATED_TOKEN,
            )?),
        },
    })
}

/// Generated text (completions, the man page): a reader that stops early
/// (`cordon man | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<u8, CliError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(CliError::Failed(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

fn print(out: Output) -> Result<u8, CliError> {
    write_stdout(out.terminal_safe().as_bytes())?;
    Ok(out.exit_code)
}

/// How a write command was asked to end.
struct WriteHow {
    confirm: Option<String>,
    dry_run: bool,
    plan: Option<std::path::PathBuf>,
    wait: bool,
    json: bool,
}

/// The tags of the machines a write targets (for `protected_tags`); a machine that
/// cannot be read has none here, and the service answers for it when sent.
async fn machine_tags(
    session: &Session,
    requests: &[cordon_core::worker::protocol::WriteRequest],
) -> HashMap<String, Vec<String>> {
    let mut tags = HashMap::new();
    if session.profile.protected_tags.is_empty() {
        return tags;
    }
    for r in requests {
        if let Ok(m) =
            cordon_core::api::DefenderApi::get_machine(session.api.as_ref(), &r.machine_id).await
        {
            tags.insert(m.id.clone(), m.machine_tags);
        }
    }
    tags
}

/// A planned write: printed (`--dry-run`, `--plan`), or checked for protection and sent.
async fn finish_write(
    session: Session,
    requests: Vec<cordon_core::worker::protocol::WriteRequest>,
    refused: Vec<(
        cordon_core::worker::protocol::WriteRequest,
        commands::WriteResult,
    )>,
    tags: &HashMap<String, Vec<String>>,
    how: WriteHow,
    interrupt: CancellationToken,
) -> Result<u8, CliError> {
    let protection =
        commands::check_protection(&session.profile, &requests, tags, how.confirm.as_deref());
    if how.dry_run || how.plan.is_some() {
        let plan = cordon::cli::plan::make(&session.profile, &requests, &refused);
        let out = cordon::cli::plan::dry_run(&plan, how.json, how.plan.as_deref())?;
        // What sending it would still need, on stderr: stdout stays the plan.
        if let Err(e) = protection {
            eprintln!("cordon: note: {e}");
        }
        if session.profile.readonly {
            eprintln!(
                "cordon: note: profile {} is read-only: every write would be refused",
                session.profile.name
            );
        }
        return print(out);
    }
    protection?;
    write(session, requests, refused, how.wait, how.json, interrupt).await
}

/// `--output` and `--fields` as the listing writer takes them.
fn printing_of(listing: cordon::cli::args::ListingArgs) -> commands::Printing {
    commands::Printing {
        format: listing.format(),
        fields: listing.fields,
    }
}

/// Run a listing beside start-up recovery and turn how it ended into the exit code.
async fn finish_listing(
    session: &Session,
    listing: impl std::future::Future<Output = Result<commands::Ended, CliError>>,
    noun: &str,
) -> Result<u8, CliError> {
    let ended = recovering_beside(session, listing).await?;
    Ok(listing_exit(ended, noun))
}

/// Standard output for a streamed listing: large writes (stdout alone flushes every
/// line), flushed by the listing after each page.
fn stdout_for_listing() -> std::io::BufWriter<std::io::Stdout> {
    std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout())
}

/// Exit 0 for a complete listing and for a reader that stopped early (`| head`); 130,
/// the shell's code for Ctrl-C, for an interrupted one.
fn listing_exit(ended: commands::Ended, noun: &str) -> u8 {
    match ended {
        commands::Ended::Complete { .. } | commands::Ended::ReaderGone => 0,
        commands::Ended::Interrupted { records } => {
            eprintln!(
                "cordon: interrupted: {records} {noun} written, each one whole; the listing is incomplete."
            );
            130
        }
    }
}

async fn write(
    session: Session,
    requests: Vec<cordon_core::worker::protocol::WriteRequest>,
    refused: Vec<(
        cordon_core::worker::protocol::WriteRequest,
        commands::WriteResult,
    )>,
    wait: bool,
    json: bool,
    interrupt: CancellationToken,
) -> Result<u8, CliError> {
    let mut results = commands::run_writes(
        session.api.clone(),
        session.audit.clone(),
        session.worker_settings.clone(),
        requests,
        wait,
        interrupt,
    )
    .await;
    results.extend(refused);
    print(commands::report_writes(&results, wait, json))
}

/// Load the profile (`--profile`, or `profile` after `:profile`), sign-in client, audit
/// log and worker settings of a session.
async fn open_session(cli: &Cli, profile: Option<&str>) -> Result<Session, CliError> {
    let g = &cli.global;
    let wanted = profile.or(g.profile.as_deref());
    let (profile, keys, ui, demo, profile_names) = if g.demo {
        let cfg = SimConfig {
            machines: g.demo_machines,
            step: Duration::from_secs_f64(g.demo_step.max(0.05)),
            ..SimConfig::default()
        };
        let cancel = CancellationToken::new();
        let running = sim::serve(
            sim::Simulator::new(cfg.clone()),
            "127.0.0.1:0"
                .parse()
                .map_err(|_| CliError::Usage("bad address".into()))?,
            cancel.clone(),
        )
        .await
        .map_err(|e| CliError::Failed(format!("cannot start the demo simulator: {e}")))?;
        let mut profile = sim::demo_profile(&running, &cfg);
        profile.auth = demo_auth(g.demo_auth, &profile)?;
        (
            profile,
            Default::default(),
            config::UiSettings::default(),
            Some((running, cancel)),
            Vec::new(),
        )
    } else {
        let settings = config::load(g.config.as_deref(), wanted)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        for w in &settings.warnings {
            eprintln!("cordon: warning: {w}");
        }
        (
            settings.profile,
            settings.keys,
            settings.ui,
            None,
            settings.profile_names,
        )
    };
    tracing::info!(ms = since_start_ms(), "start-up: profile loaded");
    // A missing secret variable is a set-up error (exit 2), found before any network.
    if let config::Auth::ClientSecret(config::SecretSource::Env(var)) = &profile.auth
        && std::env::var_os(var).is_none_or(|v| v.is_empty())
    {
        return Err(CliError::Usage(
            cordon_core::auth::AuthError::SecretEnvMissing { var: var.clone() }.to_string(),
        ));
    }
    let audit_path = if g.demo {
        config::demo_audit_log_path()
    } else {
        config::audit_log_path()
    };
    // Full or Selective of the isolations earlier runs sent: the service does not
    // say it, the audit log does. An unreadable log only loses that detail.
    let scopes = ScopeBook::new(cordon_core::audit::known_scopes(
        &AuditLog::read_all(&audit_path).unwrap_or_default(),
        &profile.name,
    ));
    let options = ClientOptions {
        scopes,
        ..ClientOptions::default()
    };
    let client = MdeClient::new(&profile, options).map_err(|e| CliError::Usage(e.to_string()))?;
    tracing::info!(ms = since_start_ms(), "start-up: HTTP client built");
    let audit = AuditLog::open(
        &audit_path,
        AuditContext {
            user: cordon_core::audit::os_user(),
            profile: profile.name.clone(),
            tenant: profile.tenant_id.clone(),
        },
    )
    .map_err(|e| CliError::Failed(format!("{e}; set CORDON_DATA_DIR to a writable directory")))?
    .with_principal(client.token_provider().principal_slot());
    let limits = RateLimits::default();
    let worker_settings = WorkerSettings {
        poll_interval: Duration::from_secs(u64::from(ui.poll_interval_secs.max(1))),
        write_deadline: Duration::from_secs(u64::from(ui.write_deadline_secs)),
        readonly: profile.readonly,
        profile_name: profile.name.clone(),
        limits: limits.clone(),
    };
    let refresh_interval = (ui.refresh_interval_secs > 0)
        .then(|| Duration::from_secs(u64::from(ui.refresh_interval_secs)));
    Ok(Session {
        api: Arc::new(RateLimited::new(client, limits)),
        profile,
        audit,
        worker_settings,
        keys,
        refresh_interval,
        mouse: ui.mouse,
        columns: ui.columns.clone(),
        profile_names,
        _demo: demo,
    })
}

async fn run_console(cli: &Cli, first: Session) -> Result<u8, CliError> {
    use cordon::tui::{self, KeyMap, TuiContext};
    let no_color =
        cli.global.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    // Workers of profiles left with `:profile`: they keep following their actions in
    // flight (and auditing them) until cordon exits. Holding a command sender keeps
    // each one's loop alive without a console.
    let mut earlier: Vec<(
        CancellationToken,
        tokio::task::JoinHandle<()>,
        tokio::sync::mpsc::Sender<cordon_core::worker::protocol::Command>,
    )> = Vec::new();
    let mut session = first;
    let outcome = loop {
        let keymap =
            KeyMap::from_config(&session.keys).map_err(|e| CliError::Usage(e.to_string()))?;
        let ctx = TuiContext {
            profile: session.profile.name.clone(),
            tenant: session.profile.tenant_id.clone(),
            cloud: session.profile.cloud.as_str().to_string(),
            api_base: session.profile.api_base.clone(),
            readonly: session.profile.readonly,
            protected: session.profile.protected,
            protected_tags: session.profile.protected_tags.clone(),
            comment_rule: session.profile.comment_rule.clone(),
            comment_template: session.profile.comment_template.clone(),
            profiles: session.profile_names.clone(),
            color: session.profile.color.clone(),
            ascii: cli.global.ascii,
            no_color,
            refresh_interval: session.refresh_interval,
            mouse: session.mouse && !cli.global.no_mouse,
            columns: session.columns.clone(),
            audit_path: Some(session.audit.path().to_path_buf()),
        };
        let cancel = CancellationToken::new();
        let handle = cordon_core::worker::spawn(
            session.api.clone(),
            session.audit.clone(),
            session.worker_settings.clone(),
            cancel.clone(),
        );
        // Settle what an earlier run left unfinished (killed mid-request, or quit while
        // actions were running). The worker does it in the background: the first frame
        // never waits on the network.
        let _ = handle
            .commands
            .send(cordon_core::worker::protocol::Command::Recover)
            .await;
        let keep_alive = handle.commands.clone();
        let console = tui::run(ctx, keymap, handle.commands, handle.events, cancel.clone());
        // Test hook, compiled into debug builds only (the end-to-end tests run one): a
        // panic in a background task mid-session, to prove it ends the process and
        // restores the terminal.
        #[cfg(debug_assertions)]
        let result = match std::env::var("CORDON_TEST_PANIC_AFTER_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            None => console.await,
            Some(ms) => {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    panic!("test panic requested by CORDON_TEST_PANIC_AFTER_MS")
                });
                console.await
            }
        };
        #[cfg(not(debug_assertions))]
        let result = console.await;
        match result {
            Ok(exit) if exit.switch_to.is_some() => {
                let name = exit.switch_to.unwrap_or_default();
                tracing::info!(from = %session.profile.name, to = %name, "switching profile");
                earlier.push((cancel, handle.join, keep_alive));
                match open_session(cli, Some(&name)).await {
                    Ok(next) => session = next,
                    Err(e) => break (Err(e), session.audit.path().to_path_buf(), 0),
                }
            }
            other => {
                // Ordered shutdown: stop the worker (an in-flight POST finishes and is
                // audited), then report. The terminal is already restored by tui::run.
                cancel.cancel();
                drop(keep_alive);
                let _ = tokio::time::timeout(Duration::from_secs(5), handle.join).await;
                let in_flight = other.as_ref().map_or(0, |e| e.in_flight);
                break (
                    other
                        .map(|_| 0)
                        .map_err(|e| CliError::Failed(e.to_string())),
                    session.audit.path().to_path_buf(),
                    in_flight,
                );
            }
        }
    };
    for (cancel, join, keep_alive) in earlier {
        cancel.cancel();
        drop(keep_alive);
        let _ = tokio::time::timeout(Duration::from_secs(5), join).await;
    }
    let (result, audit_path, in_flight) = outcome;
    if in_flight > 0 {
        println!(
            "cordon: {in_flight} action(s) still in flight continue in Defender; the audit log is at {}",
            audit_path.display()
        );
    }
    result
}

async fn simulate(args: &SimulateArgs) -> Result<u8, CliError> {
    let cfg = SimConfig {
        machines: args.machines,
        seed: args.seed,
        step: Duration::from_secs_f64(args.step.max(0.0)),
        fail_rate: args.fail_rate,
        latency: Duration::from_millis(args.latency_ms),
        write_hold: Duration::from_millis(args.write_hold_ms),
        drop_rate: args.drop_rate,
        garbage_rate: args.garbage_rate,
        token_ttl: Duration::from_secs(args.token_ttl),
        enforce_rate_limits: !args.no_rate_limits,
        hostile_names: args.hostile,
        forbid_writes: args.forbid_writes,
        auto_approve_user: args.auto_approve.clone(),
        ..SimConfig::default()
    };
    for (name, rate) in [
        ("--fail-rate", cfg.fail_rate),
        ("--drop-rate", cfg.drop_rate),
        ("--garbage-rate", cfg.garbage_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(CliError::Usage(format!(
                "{name} must be between 0 and 1, not {rate}."
            )));
        }
    }
    let cancel = CancellationToken::new();
    let simulator = sim::Simulator::new(cfg.clone());
    let running = if args.tls {
        sim::serve_tls(simulator, args.listen, cancel.clone()).await
    } else {
        sim::serve(simulator, args.listen, cancel.clone()).await
    }
    .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    // The demo app's certificate, for a `certificate` profile: private to this user.
    let certificate = config::data_dir().join("sim-app-cert.pem");
    let certificate = cordon_core::private_fs::write_private(
        &certificate,
        sim::identity::DEMO_CERTIFICATE_PEM.as_bytes(),
    )
    .ok()
    .map(|()| certificate);
    let mut snippet = sim::profile_snippet(&running, &cfg, certificate.as_deref());
    if args.tls {
        // Its CA, for the profiles' ca_file: without it cordon refuses the certificate.
        let ca = config::data_dir().join("sim-ca.pem");
        if cordon_core::private_fs::write_private(&ca, sim::SIM_CA_PEM.as_bytes()).is_ok() {
            let line = format!("authority = \"{}\"\n", running.base_url);
            snippet = snippet.replace(&line, &format!("{line}ca_file = \"{}\"\n", ca.display()));
        }
    }
    println!("{snippet}");
    println!(
        "Simulator listening on {} — Ctrl-C stops it.",
        running.base_url
    );
    wait_for_termination().await;
    cancel.cancel();
    Ok(0)
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let term_fut = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term_fut => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
