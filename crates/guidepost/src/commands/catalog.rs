//! `guidepost catalog …`: the catalog's registry entries. `sync` syncs the
//! registries now, through the same fence as `serve`; `import` reads server.json files.

use anyhow::Context;
use guidepost_core::Platform;
use guidepost_core::upstreams::registry;

use crate::cli::CatalogCommand;
use crate::output;
use crate::registry_worker::{FencedFetch, RegistrySettings};

/// The largest file `import` reads.
const IMPORT_FILE_MAX: u64 = 64 * 1024 * 1024;

pub async fn run(
    command: CatalogCommand,
    platform: &Platform,
    settings: &RegistrySettings,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        CatalogCommand::Sync => {
            anyhow::ensure!(
                !platform.config.registries.is_empty(),
                "no registry to sync: give --registry-url to serve (GUIDEPOST_REGISTRY_URL or \
                 registry_url in the config file)"
            );
            let fetch = FencedFetch::new(settings);
            let reports = registry::sync(platform, &fetch, settings.interval, true).await?;
            output::print(json, &reports, |reports| {
                reports
                    .iter()
                    .map(|r| match (&r.error, r.synced) {
                        (Some(error), _) => format!("{}: failed: {error}", r.source),
                        (None, false) => format!("{}: another node is syncing it", r.source),
                        (None, true) => format!(
                            "{}: {} entries received in {} requests",
                            r.source, r.received, r.requests
                        ),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            if let Some(failed) = reports.iter().find(|r| r.error.is_some()) {
                anyhow::bail!("the sync of {} failed", failed.source);
            }
            Ok(())
        }
        CatalogCommand::Import { file } => {
            let size = std::fs::metadata(&file)
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            anyhow::ensure!(
                size <= IMPORT_FILE_MAX,
                "{} is over {IMPORT_FILE_MAX} bytes",
                file.display()
            );
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let report = registry::import(platform, &text)
                .await
                .with_context(|| format!("importing {}", file.display()))?;
            output::print(json, &report, |r| {
                format!("{} entries read, {} written", r.read, r.written)
            });
            Ok(())
        }
    }
}
