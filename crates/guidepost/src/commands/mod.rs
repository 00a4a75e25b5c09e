//! The CLI commands.

mod admin;
mod bench;
mod bench_floor;
mod bench_gateway;
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
use crate::config::{self, FileConfig};

pub async fn run(cli: Cli, file: FileConfig) -> anyhow::Result<()> {
    let json = cli.global.json;
    match cli.command {
        Command::Serve(args) => {
            serve::run(
                config::serve_settings(&cli.global, &args, &file)?,
                args.demo,
                json,
            )
            .await
        }
        Command::Bench(args) if args.idle_sessions.is_some() => flood::run(&args, json).await,
        Command::Bench(args) if args.gateway.is_some() => {
            bench_gateway::run(&args, &file, json).await
        }
        Command::Bench(args) => {
            let database_url = cli
                .global
                .database_url
                .clone()
                .or(file.database_url.clone());
            bench::run(args, database_url, json).await
        }
        command => {
            let url = config::database_url(&cli.global, &file);
            let store = guidepost_store::connect(&url).await.with_context(|| {
                format!("opening the database {}", guidepost_store::redact(&url))
            })?;
            let resolver = match &command {
                Command::Server(ServerCommand::VerifyDomain { dns_resolver, .. }) => {
                    dns_resolver.clone()
                }
                _ => None,
            };
            let resolver = config::parse_dns_resolver(resolver.or(file.dns_resolver.clone()))?;
            let config = config::offline_platform_config(&file);
            let toolchain = match &command {
                Command::Upstream(args) => config::toolchain(&args.toolchain, &file),
                _ => config::toolchain(&Default::default(), &file),
            };
            let supervisor =
                guidepost_gateway::Supervisor::new(guidepost_gateway::GatewayOptions {
                    toolchain,
                    supervision: Default::default(),
                    http_allow_private: false,
                    container_socket: std::env::var_os("GUIDEPOST_CONTAINER_SOCKET")
                        .map(Into::into)
                        .or_else(|| file.container_socket.clone()),
                    deployment: config::deployment_of(&url),
                    confinement: config::confinement(&Default::default(), &file),
                });
            let (platform, writer) =
                admin::offline_platform(store, config, resolver, supervisor.clone());
            let result = match command {
                Command::Walkthrough(command) => walkthrough::run(command, &platform, json).await,
                Command::Upstream(args) => upstream::run(args.command, &platform, json).await,
                Command::Tools(command) => tools::run(command, &platform, json).await,
                Command::Webhook(command) => webhook::run(command, &platform, json).await,
                command => admin::run(command, &platform, json).await,
            };
            supervisor.shutdown().await;
            writer.shutdown().await;
            result
        }
    }
}
