//! The CLI commands.

mod admin;
mod backup;
mod bench;
mod bench_catalog;
mod bench_floor;
mod bench_gateway;
mod bench_load;
mod bench_pages;
mod bench_scan;
mod bench_seed;
mod bench_wire;
mod bench_write_turn;
mod catalog;
mod cpu_time;
mod demo;
mod flood;
mod serve;
mod target;
mod tools;
mod upstream;
mod walkthrough;
mod webhook;

use anyhow::Context;

use crate::cli::{Cli, Command, ServerCommand};
use crate::config::{self, SettingsFile};

/// Runs the command `cli`, whose settings already include the config `file`'s; commands
/// other than `serve` and `bench` read `serve`'s settings from it too.
pub async fn run(cli: Cli, file: SettingsFile) -> anyhow::Result<()> {
    let json = cli.global.json;
    match cli.command {
        Command::Serve(args) => {
            let url = config::database_url(&cli.global);
            serve::run(config::serve_settings(url, &args)?, args.demo, json).await
        }
        Command::Backup(args) => {
            backup::backup(&config::database_url(&cli.global), &args, json).await
        }
        Command::Restore(args) => {
            backup::restore(&config::database_url(&cli.global), &args, json).await
        }
        Command::Bench(args) if args.idle_sessions.is_some() => flood::run(&args, json).await,
        Command::Bench(args) if args.gateway.is_some() => {
            bench_gateway::run(&args, cli.global.database_url, json).await
        }
        Command::Bench(args) if args.scan => bench_scan::run(&args, json),
        Command::Bench(args) if args.catalog_search.is_some() => {
            bench_catalog::run(&args, cli.global.database_url, json).await
        }
        Command::Bench(args) if args.pages => {
            bench_pages::run(&args, cli.global.database_url, json).await
        }
        Command::Bench(args) => bench::run(args, cli.global.database_url, json).await,
        command => {
            let url = config::database_url(&cli.global);
            let serve = file.serve_args()?;
            let store = guidepost_store::connect(&url).await.with_context(|| {
                format!("opening the database {}", guidepost_store::redact(&url))
            })?;
            let resolver = match &command {
                Command::Server(ServerCommand::VerifyDomain { dns_resolver, .. }) => {
                    dns_resolver.clone()
                }
                _ => serve.dns_resolver.clone(),
            };
            let resolver = config::parse_dns_resolver(resolver)?;
            let config = config::offline_platform_config(&serve);
            let toolchain = match &command {
                Command::Upstream(args) => config::toolchain(&args.toolchain),
                _ => config::toolchain(&serve.toolchain),
            };
            let supervisor =
                guidepost_gateway::Supervisor::new(guidepost_gateway::GatewayOptions {
                    toolchain,
                    supervision: Default::default(),
                    http_allow_private: false,
                    container_socket: serve.container_socket.clone(),
                    deployment: config::deployment_of(&url),
                    confinement: config::confinement(&serve.confinement),
                });
            let (platform, writer) =
                admin::offline_platform(store, config, resolver, supervisor.clone());
            let result = match command {
                Command::Walkthrough(command) => walkthrough::run(command, &platform, json).await,
                Command::Upstream(args) => upstream::run(args.command, &platform, json).await,
                Command::Tools(command) => tools::run(command, &platform, json).await,
                Command::Catalog(command) => {
                    let settings = config::registry_settings(&serve.registries);
                    catalog::run(command, &platform, &settings, json).await
                }
                Command::Webhook(command) => webhook::run(command, &platform, json).await,
                command => admin::run(command, &platform, json).await,
            };
            supervisor.shutdown().await;
            writer.shutdown().await;
            result
        }
    }
}
