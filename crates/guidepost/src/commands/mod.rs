//! The CLI commands.

mod admin;
mod backup;
mod bench;
mod bench_catalog;
mod bench_floor;
mod bench_gateway;
mod bench_load;
mod bench_pages;
mod bench_report;
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
            let config = config::offline_platform_config(&serve)?;
            let mut gateway = config::gateway_options(&serve, &url);
            if let Command::Upstream(args) = &command {
                gateway.toolchain = config::toolchain(&args.toolchain);
            }
            // Upstreams tried here stay off the platform's ports as `serve`'s do.
            gateway.confinement.platform_ports =
                crate::app::platform_ports(serve.listen.port(), &url);
            let supervisor = guidepost_gateway::Supervisor::new(gateway);
            let (platform, writer) =
                admin::offline_platform(store, config, &serve, resolver, supervisor.clone());
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
