//! `guidepost backup` and `guidepost restore`. The SQL is the store's
//! (`guidepost_store::backup`); this module moves files. A restore writes the checked copy
//! beside the database and renames it over the database (atomic on one file system), and
//! refuses while the database's write-ahead log is present: a serving Guidepost keeps it,
//! and a log left beside a restored file would be replayed into it.
//!
//! A SQLite database is two files, the database and its recorded calls beside it
//! (`FILE-analytics`); so is a backup, and a restore puts both in place. A copy from before
//! the recorded calls had a file of their own is one file: the restore removes the
//! replaced database's recorded calls, and the next start moves the copy's into a file.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use guidepost_store::analytics_file;
use guidepost_store::backup::{self, SchemaVersions};
use serde_json::json;

use crate::cli::{BackupArgs, RestoreArgs};

pub async fn backup(url: &str, args: &BackupArgs, json: bool) -> anyhow::Result<()> {
    let shown = guidepost_store::redact(url);
    if args.check {
        let versions = backup::schema_versions(url)
            .await
            .with_context(|| format!("reading the schema version of {shown}"))?;
        report(json, "checked", &shown, versions);
        return match versions.database {
            Some(v) if v == versions.binary => Ok(()),
            Some(v) if v > versions.binary => bail!(
                "the database's schema is at version {v}, newer than this Guidepost's ({}): \
                 run the newer Guidepost, or restore a backup made for this one",
                versions.binary
            ),
            Some(v) => bail!(
                "the database's schema is at version {v}, older than this Guidepost's ({}): \
                 `guidepost migrate` brings it up to date",
                versions.binary
            ),
            None => bail!("{shown} holds no Guidepost schema"),
        };
    }
    let Some(to) = &args.to else {
        bail!("--to FILE or --check is required");
    };
    let versions = backup::backup_sqlite(url, to)
        .await
        .with_context(|| format!("backing up {shown} to {}", to.display()))?;
    report(json, "backed up", &with_recorded_calls(to), versions);
    Ok(())
}

pub async fn restore(url: &str, args: &RestoreArgs, json: bool) -> anyhow::Result<()> {
    let target = backup::sqlite_path(url)?;
    let versions = backup::check_sqlite_copy(&args.from)
        .await
        .with_context(|| format!("checking the backup {}", args.from.display()))?;
    let analytics_target = analytics_file::beside(&target);
    for database in [&target, &analytics_target] {
        let wal = with_suffix(database, "-wal");
        if wal.exists() && !args.force {
            bail!(
                "{} exists: a Guidepost seems to be using {}. Stop it first (a restore \
                 replaces the file under it); pass --force only if it is stopped and the log \
                 is left from a crash",
                wal.display(),
                target.display()
            );
        }
    }
    // The recorded calls first: a restore cut short leaves the old database, which the
    // next restore replaces.
    let analytics_from = analytics_file::beside(&args.from);
    if analytics_from.is_file() {
        put_in_place(&analytics_from, &analytics_target)?;
    } else {
        // The replaced database's recorded calls, and their logs.
        remove_files(&analytics_target, &["", "-wal", "-shm"])?;
    }
    put_in_place(&args.from, &target)?;
    report(json, "restored", &with_recorded_calls(&target), versions);
    Ok(())
}

/// A database's file, and its recorded calls' file beside it where there is one.
fn with_recorded_calls(database: &Path) -> String {
    let analytics = analytics_file::beside(database);
    if analytics.is_file() {
        format!("{} and {}", database.display(), analytics.display())
    } else {
        database.display().to_string()
    }
}

/// Removes the files named `database` with each of `suffixes`, where they exist.
fn remove_files(database: &Path, suffixes: &[&str]) -> anyhow::Result<()> {
    for suffix in suffixes {
        let file = with_suffix(database, suffix);
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    Ok(())
}

/// Copies `from` beside `target`, syncs it, removes the old database's log files and
/// renames the copy over `target`.
fn put_in_place(from: &Path, target: &Path) -> anyhow::Result<()> {
    let staged = with_suffix(target, ".restoring");
    std::fs::copy(from, &staged)
        .with_context(|| format!("copying {} to {}", from.display(), staged.display()))?;
    std::fs::File::open(&staged)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("syncing {}", staged.display()))?;
    remove_files(target, &["-wal", "-shm"])?;
    std::fs::rename(&staged, target)
        .with_context(|| format!("moving {} to {}", staged.display(), target.display()))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable once the directory is synced (best effort where a
        // directory cannot be opened).
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn report(json: bool, what: &str, place: &str, versions: SchemaVersions) {
    let value = json!({"result": what, "path": place,
        "schema_version": versions.database, "binary_schema_version": versions.binary});
    crate::output::print(json, &value, |_| {
        let database = versions
            .database
            .map_or_else(|| "none".to_owned(), |v| v.to_string());
        format!(
            "{what} {place}: schema version {database} (this Guidepost: {})",
            versions.binary
        )
    });
}
