//! The `karvon` command line: parses arguments and hands over to the library.

use std::io::Read;

use clap::{Parser, Subcommand};
use karvon::config::{DatabaseConfig, LogFormat, ServeConfig};

#[derive(Parser)]
#[command(
    name = "karvon",
    version,
    about = "Case-management API for Migrant Resource Centres"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Parser)]
struct ServeOnly {
    #[command(flatten)]
    config: ServeConfig,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default): applies pending migrations, then listens on BIND.
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseConfig),
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Create a staff account; the password is read from stdin.
    CreateUser(CreateUserArgs),
    /// Add a demo centre with staff and realistic records (never on a production database).
    SeedDemo(SeedDemoArgs),
    /// Anonymise everyone with no open case and no activity for a period; prints counts only.
    Retention(RetentionArgs),
}

#[derive(clap::Args)]
struct RetentionArgs {
    #[command(flatten)]
    database: DatabaseConfig,
    /// How long without activity: `5y`, `18m` or `90d`.
    #[arg(long)]
    inactive_for: karvon::rights::retention::InactiveFor,
    /// Count who would be anonymised, change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
struct CreateUserArgs {
    #[command(flatten)]
    database: DatabaseConfig,
    #[arg(long)]
    username: String,
    #[arg(long, value_enum)]
    role: karvon::auth::roles::Role,
    /// Centre id (required for counsellors and supervisors).
    #[arg(long)]
    centre: Option<String>,
    #[arg(long, default_value = "")]
    full_name: String,
    #[arg(
        long,
        env = "KARVON_PASSWORD_HASHING",
        value_enum,
        default_value = "owasp"
    )]
    password_hashing: karvon::config::PasswordHashing,
}

#[derive(clap::Args)]
struct SeedDemoArgs {
    #[command(flatten)]
    database: DatabaseConfig,
    /// How many migrants to register, spread evenly over the centres (a third with a case).
    #[arg(long, default_value_t = 200)]
    migrants: usize,
    /// Consultations per migrant on average, over the last two years (one anonymous
    /// consultation is added for every ten migrants).
    #[arg(long, default_value_t = 2)]
    consultations_per_migrant: usize,
    /// How many demo centres to open, each with a supervisor and three counsellors.
    #[arg(long, default_value_t = 1)]
    centres: usize,
    /// The random seed: the same seed gives the same people and records (default: random,
    /// printed so the run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> std::process::ExitCode {
    keep_memory_small();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the cause chain on one line, without a backtrace.
            eprintln!("karvon: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Keeps resident memory to what is in use (bench/README.md has the measurements).
/// - Transparent huge pages would make 2 MiB resident for one touched byte.
/// - Two malloc arenas rather than one per thread: each arena holds on to what it freed, and
///   under steady load the arenas of the blocking threads kept growing.
/// - A fixed mmap threshold: blocks of 128 KiB and more (argon2id's 9 MiB, a large response)
///   are mapped for themselves and unmapped when freed. glibc's default raises the threshold
///   after the first such free, after which each login's block stayed in an arena.
fn keep_memory_small() {
    // SAFETY: prctl with PR_SET_THP_DISABLE and mallopt take plain integers, run before any
    // other thread exists, and only set this process's memory policy; a refusal leaves the
    // default, which is harmless.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn run() -> anyhow::Result<()> {
    // A missing .env is normal; a malformed one is reported.
    if let Err(error) = dotenvy::dotenv() {
        if !error.not_found() {
            anyhow::bail!(".env: {error}");
        }
    }
    let cli = Cli::parse();
    let command = match cli.command {
        Some(command) => command,
        // A bare `karvon` serves, configured from the environment.
        None => Command::Serve(Box::new(ServeOnly::parse_from(["karvon"]).config)),
    };
    match command {
        Command::Serve(config) => {
            // Log lines are written by a thread of their own, so a slow terminal or log
            // collector never holds up a request; none is dropped, and the rest are flushed
            // when `_flush_on_exit` goes. 16 384 lines absorb seconds of a busy server's log;
            // the default of 128 000 reserves 4 MiB for the queue.
            let (writer, _flush_on_exit) =
                tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .buffered_lines_limit(16_384)
                    .lossy(false)
                    .finish(std::io::stderr());
            karvon::telemetry::init(config.log_format, writer);
            actix_web::rt::System::new().block_on(serve(*config))
        }
        Command::Migrate(database) => {
            karvon::telemetry::init(LogFormat::Pretty, std::io::stderr);
            let pool = karvon::db::build_pool(
                &database.database_url,
                1,
                false,
                database.checkout_timeout(),
            );
            let mut conn = pool.get()?;
            let applied = karvon::db::run_migrations(&mut conn)?;
            println!(
                "{applied} migration(s) applied to {}",
                database.database_url
            );
            Ok(())
        }
        Command::Openapi => {
            println!("{}", karvon::startup::api_spec().to_pretty_json()?);
            Ok(())
        }
        Command::SeedDemo(args) => {
            karvon::telemetry::init(LogFormat::Pretty, std::io::stderr);
            actix_web::rt::System::new().block_on(seed_demo(args))
        }
        Command::Retention(args) => retention(args),
        Command::CreateUser(args) => {
            karvon::telemetry::init(LogFormat::Pretty, std::io::stderr);
            actix_web::rt::System::new().block_on(create_user(args))
        }
    }
}

async fn seed_demo(args: SeedDemoArgs) -> anyhow::Result<()> {
    let options = karvon::demo::SeedOptions {
        migrants: args.migrants,
        consultations_per_migrant: args.consultations_per_migrant,
        centres: args.centres,
        seed: args.seed.unwrap_or_else(rand::random),
    };
    let progress =
        indicatif::ProgressBar::new(0).with_style(indicatif::ProgressStyle::with_template(
            "{elapsed_precise} {wide_bar} {human_pos}/{human_len} migrants ({per_sec}, {eta} left)",
        )?);
    let started = std::time::Instant::now();
    let seed = options.seed;
    let seeded = karvon::demo::seed(&args.database, options, progress).await?;
    println!(
        "{} demo centre(s): {} migrants, {} consultations ({} anonymous), {} cases ({} open), \
         {} referrals, {} follow-ups, {} group sessions ({} registered and {} anonymous \
         attendances) in {:.1} s (--seed {seed})",
        seeded.centres.len(),
        seeded.migrants,
        seeded.consultations,
        seeded.anonymous_consultations,
        seeded.cases,
        seeded.open_cases,
        seeded.referrals,
        seeded.follow_ups,
        seeded.group_sessions,
        seeded.registered_attendances,
        seeded.anonymous_attendances,
        started.elapsed().as_secs_f64(),
    );
    let accounts: Vec<&str> = seeded
        .centres
        .iter()
        .flat_map(|centre| centre.usernames.iter().map(String::as_str))
        .collect();
    println!(
        "accounts (password `{}`): {}",
        karvon::demo::DEMO_PASSWORD,
        accounts.join(", ")
    );
    Ok(())
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    tracing::info!(
        bind = %config.bind,
        database = %config.database.database_url,
        "starting Karvon"
    );
    let app = karvon::startup::Application::build(config.clone()).await?;
    eprintln!(
        "Karvon serves on http://{}:{} (database {}); API docs at /docs",
        config.bind.ip(),
        app.port(),
        config.database.database_url
    );
    app.run().await?;
    Ok(())
}

fn retention(args: RetentionArgs) -> anyhow::Result<()> {
    karvon::telemetry::init(LogFormat::Pretty, std::io::stderr);
    let database = &args.database;
    let pool = karvon::db::build_pool(
        &database.database_url,
        1,
        false,
        database.checkout_timeout(),
    );
    let mut conn = pool.get()?;
    karvon::db::run_migrations(&mut conn)?;
    let report = karvon::rights::retention::run(&mut conn, args.inactive_for, args.dry_run)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let inactive = format!("inactive for {}: {}", args.inactive_for, report.inactive);
    if args.dry_run {
        println!("{inactive} (dry run: nothing changed)");
    } else {
        println!("{inactive}; anonymised: {}", report.anonymised);
    }
    Ok(())
}

async fn create_user(args: CreateUserArgs) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    let summary = karvon::users::cli::create_user(
        &args.database,
        args.password_hashing,
        karvon::users::cli::NewAccount {
            username: args.username,
            full_name: args.full_name,
            role: args.role,
            centre_id: args.centre,
            password,
        },
    )
    .await?;
    println!("{summary}");
    Ok(())
}
