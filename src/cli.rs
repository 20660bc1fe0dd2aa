//! The command line: `serve`, `migrate`, `user …`, `token …`, `demo-data`, `sync …`, `sim`.
//! Global flags (`--data-dir`, `--config`, `--log-format`) apply to every subcommand,
//! so all of them act on the same database as `serve`.

use crate::auth::{tokens, users, Role};
use crate::{AppState, Db, Settings};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "hivematrix", version, about = "MSP back office in one binary")]
pub struct Cli {
    /// Data directory (SQLite file, uploads, secrets). Default ./hivematrix-data
    #[arg(long, global = true, env = "HIVEMATRIX_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "HIVEMATRIX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web application and API.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage local user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Fill the database with a realistic, deterministic MSP dataset.
    DemoData(crate::demo::DemoArgs),
    /// Serve the vendor simulators (Freshservice, Datto RMM) for tests, demos and benchmarks.
    Sim(SimArgs),
    /// Run a sync now, in the foreground, with progress and a summary (exit code 1 on
    /// failure, also when another node is already running the same sync).
    #[command(subcommand)]
    Sync(crate::sync::cli::SyncCommand),
}

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:5099")]
    pub listen: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 40)]
    pub companies: usize,
    #[arg(long, default_value_t = 400)]
    pub contacts: usize,
    #[arg(long, default_value_t = 12)]
    pub agents: usize,
    #[arg(long, default_value_t = 2000)]
    pub tickets: usize,
    #[arg(long, default_value_t = 1200)]
    pub devices: usize,
    /// Multiply the vendors' documented per-minute budgets (benchmarks use > 1).
    #[arg(long, default_value_t = 1.0)]
    pub scale_limits: f64,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on (default 127.0.0.1:5010).
    #[arg(long)]
    pub listen: Option<String>,
    /// Run the built-in vendor simulators, sync from them at start, and create
    /// admin@demo.local with a printed password (for the large benchmark dataset use
    /// `demo-data` on an empty database instead).
    #[arg(long)]
    pub demo: bool,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Account number of the company (required for client users).
        #[arg(long)]
        company: Option<String>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Change a user's role.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        company: Option<String>,
    },
    /// Disable a user (ends their sessions; tokens stop working).
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled user.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Set a new password, read from standard input.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token; it is printed once, as the last line.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        expires_days: Option<i64>,
    },
    /// List tokens (never their secret).
    List {
        #[arg(long)]
        email: Option<String>,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "role must be admin, technician, billing or client".into())
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A foreground sync reports through its progress line and summary; info-level
    // logs would only break up that line.
    let default_filter = match cli.command {
        Command::Sync(_) => "warn",
        _ => "info,sqlx=warn",
    };
    init_tracing(cli.log_format, default_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HIVEMATRIX_LOG")
        .or_else(|_| EnvFilter::try_from_env("LOG_LEVEL"))
        .unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

async fn open(cli: &Cli) -> anyhow::Result<(Settings, Db)> {
    let settings = Settings::load(cli.config.as_deref(), cli.data_dir.as_deref())?;
    let db = Db::connect(&settings).await?;
    db.migrate().await?;
    Ok((settings, db))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Sim(args) = &cli.command {
        // The simulators need no database.
        return sim(args).await;
    }
    let (settings, db) = open(&cli).await?;
    match cli.command {
        Command::Sim(_) => unreachable!("handled above"),
        Command::Serve(args) => serve(settings, db, args).await,
        Command::Migrate => {
            println!(
                "database is up to date ({} migrations known)",
                crate::db::MIGRATIONS.len()
            );
            Ok(())
        }
        Command::User(cmd) => user(&db, cmd).await,
        Command::Token(cmd) => token(&db, cmd).await,
        Command::Sync(cmd) => crate::sync::cli::run(&db, &settings, cmd).await,
        Command::DemoData(args) => {
            let report = crate::demo::generate(&db, &args).await?;
            println!("{report}");
            Ok(())
        }
    }
}

async fn sim(args: &SimArgs) -> anyhow::Result<()> {
    use crate::sim::{DatasetSize, Sim, SimConfig, SimLimits};
    if !(args.scale_limits > 0.0 && args.scale_limits <= 1000.0) {
        anyhow::bail!("--scale-limits must be above 0 and at most 1000");
    }
    let defaults = SimLimits::default();
    let scale = |n: u32| ((n as f64) * args.scale_limits).round().max(1.0) as u32;
    let config = SimConfig {
        seed: args.seed,
        size: DatasetSize {
            companies: args.companies,
            contacts: args.contacts,
            agents: args.agents,
            tickets: args.tickets,
            devices: args.devices,
        },
        limits: SimLimits {
            freshservice_per_minute: scale(defaults.freshservice_per_minute),
            datto_per_minute: scale(defaults.datto_per_minute),
            superops_per_minute: scale(defaults.superops_per_minute),
            ..defaults
        },
        credentials: Default::default(),
    };
    let addr: std::net::SocketAddr = args
        .listen
        .parse()
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", args.listen))?;
    let sim = Sim::new(config);
    let bound = sim.serve(addr).await?;
    let c = &sim.config.credentials;
    println!("vendor simulators on http://{bound}");
    println!(
        "  freshservice: url = \"http://{bound}/freshservice\", api_key = \"{}\" ({} requests/min)",
        c.freshservice_api_key, sim.config.limits.freshservice_per_minute
    );
    println!(
        "  datto:        url = \"http://{bound}/datto\", api_key = \"{}\", api_secret = \"{}\" ({} requests/min)",
        c.datto_api_key, c.datto_api_secret, sim.config.limits.datto_per_minute
    );
    println!(
        "  superops:     url = \"http://{bound}/superops/msp\", api_token = \"{}\", subdomain = \"{}\" ({} requests/min; PSA and RMM)",
        c.superops_api_token, c.superops_subdomain, sim.config.limits.superops_per_minute
    );
    println!("  faults: POST http://{bound}/_sim/faults; counters: GET http://{bound}/_sim/stats");
    shutdown_signal().await;
    Ok(())
}

async fn serve(mut settings: Settings, db: Db, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(l) = args.listen {
        settings.listen = l;
    }
    let mut live_demo = None;
    if args.demo {
        crate::demo_live::check_database(&db).await?;
        let plans = crate::demo::write_plans_only(&db).await?;
        let demo = crate::demo_live::start(&mut settings).await?;
        println!(
            "demo: simulated Freshservice and Datto RMM on http://{} ({} new billing plans); \
             the first sync starts now (see /codex/admin/sync-jobs)",
            demo.addr, plans
        );
        live_demo = Some(demo);
        let password = crate::auth::random_hex(8);
        match users::find_by_email(&db, "admin@demo.local").await? {
            Some(u) => users::reset_password(&db, u.id, &password).await?,
            None => {
                users::create(
                    &db,
                    users::NewUser {
                        email: "admin@demo.local",
                        name: "Demo Admin",
                        role: Role::Admin,
                        company_id: None,
                        password: Some(&password),
                    },
                )
                .await?;
            }
        }
        println!("demo login: admin@demo.local / {password}");
    }
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, settings = ?settings, "serving");
    println!("HiveMatrix listening on http://{addr}");
    // A malformed provider or sign-on section stops the start with the reason.
    crate::sync::connectors_from_settings(&settings)?;
    if let Some(o) = &settings.oidc {
        crate::auth::oidc::OidcClient::new(o.clone())?;
    }
    let state = AppState::new(db, settings);
    // Provider settings stored over the API overlay the file's; a stored set that no
    // longer builds clients is reported and the file's alone are used.
    if let Err(e) = state.sync.reload(&state.db, &state.settings).await {
        tracing::error!(error = %e, "stored provider settings are not usable; using hivematrix.toml's alone");
    }
    let _settings_watcher = state
        .sync
        .spawn_settings_watcher(state.db.clone(), state.settings.clone());
    // This node's sync worker: recovers jobs a previous run left, then runs queued ones.
    let _worker = state.sync.spawn_worker(state.db.clone());
    let _scheduler = state.sync.spawn_scheduler(state.db.clone());
    let _first_syncs = live_demo
        .as_ref()
        .map(|_| crate::demo_live::spawn_first_syncs(&state));
    // Ledger's bulk-acceptance jobs and monthly schedule.
    let _ledger = crate::ledger::jobs::spawn_worker(state.db.clone());
    let app = crate::build_app(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if !from_stdin {
        anyhow::bail!("pass --password-stdin and write the password to standard input");
    }
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let line = s.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(line)
}

async fn company_id(db: &Db, account: Option<&str>) -> anyhow::Result<Option<i64>> {
    match account {
        None => Ok(None),
        Some(a) => match crate::codex::companies::find(db, a)
            .await
            .map_err(app_err)?
        {
            Some(c) => Ok(Some(c.id)),
            None => anyhow::bail!("no company with account number {a}"),
        },
    }
}

fn app_err(e: crate::error::AppError) -> anyhow::Error {
    match e {
        crate::error::AppError::Validation(fields) => anyhow::anyhow!(
            "invalid input: {}",
            fields
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        crate::error::AppError::Internal(e) => e,
        other => anyhow::anyhow!("{other}"),
    }
}

async fn user(db: &Db, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            email,
            name,
            role,
            company,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let company_id = company_id(db, company.as_deref()).await?;
            let u = users::create(
                db,
                users::NewUser {
                    email: &email,
                    name: &name,
                    role,
                    company_id,
                    password: Some(&password),
                },
            )
            .await
            .map_err(app_err)?;
            println!("created user {} ({}, id {})", u.email, u.role, u.id);
        }
        UserCommand::List => {
            println!(
                "{:<6} {:<36} {:<11} {:<8} {:<10} NAME",
                "ID", "EMAIL", "ROLE", "STATUS", "COMPANY"
            );
            for u in users::list(db).await.map_err(app_err)? {
                println!(
                    "{:<6} {:<36} {:<11} {:<8} {:<10} {}",
                    u.id,
                    u.email,
                    u.role,
                    if u.disabled { "disabled" } else { "active" },
                    u.company_id
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".into()),
                    u.name
                );
            }
        }
        UserCommand::SetRole {
            email,
            role,
            company,
        } => {
            let u = users::require_by_email(db, &email).await.map_err(app_err)?;
            let company_id = company_id(db, company.as_deref()).await?;
            let u = users::set_role(db, u.id, role, company_id.or(u.company_id))
                .await
                .map_err(app_err)?;
            println!("{} is now {}", u.email, u.role);
        }
        UserCommand::Disable { email } => {
            let u = users::require_by_email(db, &email).await.map_err(app_err)?;
            users::set_disabled(db, u.id, true).await.map_err(app_err)?;
            println!("disabled {}; their sessions were ended", u.email);
        }
        UserCommand::Enable { email } => {
            let u = users::require_by_email(db, &email).await.map_err(app_err)?;
            users::set_disabled(db, u.id, false)
                .await
                .map_err(app_err)?;
            println!("enabled {}", u.email);
        }
        UserCommand::ResetPassword {
            email,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let u = users::require_by_email(db, &email).await.map_err(app_err)?;
            users::reset_password(db, u.id, &password)
                .await
                .map_err(app_err)?;
            println!("password of {} reset; their sessions were ended", u.email);
        }
    }
    Ok(())
}

async fn token(db: &Db, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            email,
            name,
            expires_days,
        } => {
            let u = users::require_by_email(db, &email).await.map_err(app_err)?;
            if u.disabled {
                anyhow::bail!("{} is disabled", u.email);
            }
            let (t, plain) = tokens::create(db, u.id, &name, expires_days)
                .await
                .map_err(app_err)?;
            println!(
                "created token {} \"{}\" for {} (expires {}); it is shown once:",
                t.id,
                t.name,
                u.email,
                t.expires_at.as_deref().unwrap_or("never")
            );
            println!("{plain}");
        }
        TokenCommand::List { email } => {
            let owner = match email {
                Some(e) => Some(users::require_by_email(db, &e).await.map_err(app_err)?.id),
                None => None,
            };
            println!(
                "{:<6} {:<30} {:<12} {:<10} {:<28} NAME",
                "ID", "USER", "PREFIX", "STATUS", "EXPIRES"
            );
            for t in tokens::list(db, owner).await.map_err(app_err)? {
                println!(
                    "{:<6} {:<30} {:<12} {:<10} {:<28} {}",
                    t.id,
                    t.user_email,
                    t.prefix,
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                    t.expires_at.as_deref().unwrap_or("never"),
                    t.name
                );
            }
        }
        TokenCommand::Revoke { id } => {
            tokens::revoke(db, id, None).await.map_err(app_err)?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}
