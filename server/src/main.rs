//! `booket`: demo, serve, sim.

use clap::{Parser, Subcommand, ValueEnum};
use server::{booking, check, config::Config, web, Server};
#[cfg(feature = "sim")]
use server::{demo, sim};
#[cfg(feature = "sim")]
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "booket",
    version,
    about = "Booking element for citizen self-service forms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The Exchange simulator (Graph and EWS) with a demo organisation plus the server
    /// against it, with demo forms.
    #[cfg(feature = "sim")]
    Demo {
        /// Address of the demo server.
        #[arg(long, env = "BOOKET_LISTEN", default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Address of the Exchange simulator (Graph and EWS; port 0: any free port).
        #[arg(long, env = "BOOKET_SIM_LISTEN", default_value = "127.0.0.1:0")]
        sim_listen: SocketAddr,
        /// Built widget files (Trunk's dist/).
        #[arg(long, env = "BOOKET_ASSETS")]
        assets: Option<PathBuf>,
        /// How long picking a time reserves it, in seconds.
        #[arg(long, env = "BOOKET_HOLD_SECONDS", default_value_t = 900)]
        hold_seconds: u64,
        /// An origin allowed to embed the demo widget (repeat for more).
        #[arg(
            long = "allow-origin",
            env = "BOOKET_ALLOW_ORIGINS",
            value_delimiter = ','
        )]
        allow_origins: Vec<String>,
        /// Start the demo's clock at this instant (RFC 3339) instead of now; it then moves
        /// on in real time. The end-to-end suite pins a Monday morning, so what it sees
        /// does not depend on the day it runs.
        #[arg(long, env = "BOOKET_DEMO_CLOCK_START")]
        clock_start: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Which Exchange the demo books in: a Graph and an EWS calendar side by side, or
        /// everything on the EWS simulator.
        #[arg(long, value_enum, env = "BOOKET_DEMO_EXCHANGE", default_value_t = demo::DemoExchange::Both)]
        exchange: demo::DemoExchange,
    },
    /// Production: serve the configured forms against Exchange (Graph or EWS per calendar).
    Serve {
        #[arg(long, env = "BOOKET_CONFIG")]
        config: PathBuf,
        #[arg(long, env = "BOOKET_ASSETS")]
        assets: Option<PathBuf>,
    },
    /// Diagnoses every configured calendar and the mail setup; exit code 0 when all pass.
    Check {
        #[arg(long, env = "BOOKET_CONFIG")]
        config: PathBuf,
        /// Language of the report.
        #[arg(long, value_enum, default_value_t = LangArg::Da)]
        lang: LangArg,
        /// Instead: try the Graph (or, for an EWS mailbox, EWS) behaviours Booket relies on,
        /// on this scratch calendar (never one citizens book from); it makes test events
        /// there and deletes them.
        #[arg(long, value_name = "OUTLOOK_CALENDAR")]
        conformance: Option<String>,
        /// The scratch calendar's mailbox (default: the first Graph calendar's); a mailbox
        /// configured with api = "ews" is checked through EWS.
        #[arg(long, requires = "conformance")]
        owner: Option<String>,
        /// With --conformance: also send one mail from the sending mailbox to itself (Graph).
        #[arg(long, requires = "conformance")]
        send_mail: bool,
    },
    /// The Exchange simulator alone (Graph and EWS), seeded with the demo tenant.
    #[cfg(feature = "sim")]
    Sim {
        #[arg(long, env = "BOOKET_SIM_LISTEN", default_value = "127.0.0.1:3001")]
        listen: SocketAddr,
    },
}

/// `--lang` values (clap's side of [`check::Lang`]).
#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    Da,
    En,
}

impl From<LangArg> for check::Lang {
    fn from(l: LangArg) -> Self {
        match l {
            LangArg::Da => check::Lang::Da,
            LangArg::En => check::Lang::En,
        }
    }
}

/// Logs go to stdout; `BOOKET_LOG` filters them (default `info`), `BOOKET_LOG_FORMAT=json`
/// makes them one JSON object per line (with the request id of the request's span).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BOOKET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if std::env::var("BOOKET_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Ctrl-C, or SIGTERM (what systemd, docker and Kubernetes send to stop a service).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => tracing::warn!("cannot listen for SIGTERM: {e}"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_tracing();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("booket: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        #[cfg(feature = "sim")]
        Command::Demo {
            listen,
            sim_listen,
            assets,
            hold_seconds,
            allow_origins,
            clock_start,
            exchange,
        } => {
            let clock = match clock_start {
                Some(start) => booking::clock_from(start.with_timezone(&chrono::Utc)),
                None => booking::system_clock(),
            };
            let simulator = sim::Simulator::demo(clock(), sim::model::SimOptions::default());
            let sim_addr = simulator.spawn(sim_listen).await?;
            let mut config = demo::demo_config(&simulator, listen);
            config.exchange.hold = std::time::Duration::from_secs(hold_seconds.max(10));
            config.server.allowed_origins = allow_origins;
            if exchange == demo::DemoExchange::Ews {
                demo::all_on_ews(&mut config);
            }
            let assets = assets.unwrap_or_else(web::default_assets_dir);
            check_assets(&assets);
            let server = Server::build(config, None, assets, clock, Some(simulator)).await?;
            server.booket.resolve_calendars().await;
            let addr = server.local_addr()?;
            println!("Booket demo: http://{addr}/  (simulated Outlook: http://{addr}/simulator, Graph at http://{sim_addr}, EWS at http://{sim_addr}/EWS/Exchange.asmx)");
            server.run(shutdown_signal()).await?;
        }
        Command::Serve { config, assets } => {
            let config = Config::load(&config)?;
            let assets = assets.unwrap_or_else(web::default_assets_dir);
            check_assets(&assets);
            let server = Server::build(config, None, assets, booking::system_clock(), None).await?;
            server.booket.resolve_calendars().await;
            tracing::info!("Booket serving on http://{}", server.local_addr()?);
            if let Some(private) = &server.private_listener {
                tracing::info!(
                    "private listener (healthz, readyz, metrics) on http://{}",
                    private.local_addr()?
                );
            }
            server.run(shutdown_signal()).await?;
        }
        Command::Check {
            config,
            lang,
            conformance,
            owner,
            send_mail,
        } => {
            let lang = check::Lang::from(lang);
            let report = match (Config::load(&config), conformance) {
                (Ok(c), Some(calendar)) => {
                    let req = check::ConformanceRequest {
                        calendar,
                        owner,
                        send_mail,
                    };
                    check::run_conformance(&c, &req, lang, chrono::Utc::now())
                        .await
                        .0
                }
                (Ok(c), None) => check::run(&c, lang, chrono::Utc::now()).await,
                (Err(e), _) => check::invalid_config(lang, &e),
            };
            print!("{}", report.render());
            if !report.all_ok() {
                return Err(anyhow::anyhow!(match lang {
                    check::Lang::Da => "mindst én kontrol fejlede",
                    check::Lang::En => "at least one check failed",
                }));
            }
        }
        #[cfg(feature = "sim")]
        Command::Sim { listen } => {
            let simulator =
                sim::Simulator::demo(chrono::Utc::now(), sim::model::SimOptions::default());
            let addr = simulator.spawn(listen).await?;
            println!(
                "Exchange simulator: graph_base_url = \"http://{addr}/v1.0\", login_base_url = \"http://{addr}\"; \
                 tenant {}, client {}, owner {}",
                sim::seed::DEMO_TENANT,
                sim::seed::DEMO_CLIENT_ID,
                sim::seed::DEMO_OWNER
            );
            shutdown_signal().await;
        }
    }
    Ok(())
}

fn check_assets(dir: &std::path::Path) {
    if !dir.join("booket.js").exists() {
        tracing::warn!(
            "the widget is not built ({}/booket.js missing): run scripts/demo.sh or `trunk build --release`",
            dir.display()
        );
    }
}
