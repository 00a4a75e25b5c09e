//! Every path setting made absolute once, at start, against the directory Guidepost was
//! started in. Upstream processes run in directories of their own, so a relative
//! `--upstream-cache` handed to them would name a different place; resolving here means
//! no later code has to remember which directory a path was relative to.

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command, ToolchainArgs, WalkthroughCommand};

impl Cli {
    /// Rewrites every relative path setting (and a `sqlite:` database file) to the same
    /// place under `start_dir`. Bare program names (`node`) stay as they are: they are
    /// looked up in `PATH`, not in a directory.
    pub fn resolve_paths(&mut self, start_dir: &Path) {
        let global = &mut self.global;
        if let Some(url) = &global.database_url {
            global.database_url = Some(absolute_database_url(url, start_dir));
        }
        absolute_in(&mut global.config, start_dir);
        match &mut self.command {
            Command::Serve(serve) => {
                absolute_in(&mut serve.catalog, start_dir);
                absolute_in(&mut serve.master_key_file, start_dir);
                absolute_in(&mut serve.operator_interceptors, start_dir);
                absolute_in(&mut serve.container_socket, start_dir);
                serve.mail_outbox = absolute(&serve.mail_outbox, start_dir);
                resolve_toolchain(&mut serve.toolchain, start_dir);
            }
            Command::Bench(bench) => {
                absolute_in(&mut bench.catalog, start_dir);
                resolve_toolchain(&mut bench.toolchain, start_dir);
            }
            Command::Upstream(upstream) => resolve_toolchain(&mut upstream.toolchain, start_dir),
            Command::Walkthrough(WalkthroughCommand::Import { dir, .. }) => {
                *dir = absolute(dir, start_dir);
            }
            Command::Walkthrough(WalkthroughCommand::Export { out, .. }) => {
                *out = absolute(out, start_dir);
            }
            _ => {}
        }
    }
}

fn resolve_toolchain(toolchain: &mut ToolchainArgs, start_dir: &Path) {
    toolchain.upstream_cache = absolute(&toolchain.upstream_cache, start_dir);
    toolchain.upstream_data = absolute(&toolchain.upstream_data, start_dir);
    for program in [
        &mut toolchain.node,
        &mut toolchain.npm,
        &mut toolchain.python,
    ] {
        if program.components().count() > 1 {
            *program = absolute(program, start_dir);
        }
    }
}

fn absolute_in(path: &mut Option<PathBuf>, start_dir: &Path) {
    if let Some(path) = path {
        *path = absolute(path, start_dir);
    }
}

/// `path` under `start_dir` unless it is absolute already. Lexical only: the path need
/// not exist yet (the cache directory is made on first install).
fn absolute(path: &Path, start_dir: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        start_dir.join(path)
    }
}

/// A `sqlite:` URL's file made absolute (`sqlite:guidepost.db?mode=rwc` →
/// `sqlite:/srv/guidepost.db?mode=rwc`); other URLs, and in-memory databases, unchanged.
pub fn absolute_database_url(url: &str, start_dir: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_owned();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (file, query) = match rest.split_once('?') {
        Some((file, query)) => (file, Some(query)),
        None => (rest, None),
    };
    if file.is_empty() || file == ":memory:" || Path::new(file).is_absolute() {
        return url.to_owned();
    }
    let file = absolute(Path::new(file), start_dir);
    match query {
        Some(query) => format!("sqlite:{}?{query}", file.display()),
        None => format!("sqlite:{}", file.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_files_move_under_the_start_directory() {
        let dir = Path::new("/srv/gp");
        assert_eq!(
            absolute_database_url("sqlite:guidepost.db", dir),
            "sqlite:/srv/gp/guidepost.db"
        );
        assert_eq!(
            absolute_database_url("sqlite://data/g.db?mode=rwc", dir),
            "sqlite:/srv/gp/data/g.db?mode=rwc"
        );
        for unchanged in [
            "sqlite:/var/g.db",
            "sqlite::memory:",
            "sqlite:///var/g.db",
            "postgres://u@h/db",
        ] {
            assert_eq!(absolute_database_url(unchanged, dir), unchanged);
        }
    }

    #[test]
    fn path_flags_become_absolute_and_bare_programs_stay_names() {
        use clap::Parser;
        let mut cli = Cli::try_parse_from([
            "guidepost",
            "--database-url",
            "sqlite:g.db",
            "serve",
            "--catalog",
            "cat.toml",
            "--node",
            "tools/node",
        ])
        .unwrap();
        cli.resolve_paths(Path::new("/start"));
        assert_eq!(
            cli.global.database_url.as_deref(),
            Some("sqlite:/start/g.db")
        );
        let Command::Serve(serve) = &cli.command else {
            panic!("serve")
        };
        assert_eq!(serve.catalog.as_deref(), Some(Path::new("/start/cat.toml")));
        assert_eq!(serve.mail_outbox, Path::new("/start/mail-outbox"));
        let toolchain = &serve.toolchain;
        assert_eq!(
            toolchain.upstream_cache,
            Path::new("/start/guidepost-cache")
        );
        assert_eq!(toolchain.upstream_data, Path::new("/start/guidepost-data"));
        assert_eq!(toolchain.node, Path::new("/start/tools/node"));
        assert_eq!(toolchain.npm, Path::new("npm"), "looked up in PATH");
    }
}
