//! `guidepost walkthrough …`: content as code (import, export) and the authoring commands
//! that go with it (publish, list, assign). Files are read and written here; parsing,
//! rendering and the store work are in `guidepost_core::walkthroughs::content`.

use std::path::Path;

use anyhow::{Context, bail};
use guidepost_core::walkthroughs::authoring::{self, AssignWalkthrough};
use guidepost_core::walkthroughs::content::{self, FileRole, ImportReport};
use guidepost_core::{Caller, CoreError, Platform};
use guidepost_domain::{Cursor, Id, Limits, PageRequest, ServerId, Walkthrough, WalkthroughId};
use serde::Serialize;
use serde_json::json;

use super::admin::operator;
use crate::cli::WalkthroughCommand;
use crate::output;

pub async fn run(
    command: WalkthroughCommand,
    platform: &Platform,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        WalkthroughCommand::Import {
            dir,
            org,
            publish,
            key,
        } => import(platform, &operator(&org)?, &dir, key, publish, json).await,
        WalkthroughCommand::Export {
            org,
            id,
            out,
            force,
        } => {
            export(
                platform,
                &operator(&org)?,
                &walkthrough_id(&id)?,
                &out,
                force,
                json,
            )
            .await
        }
        WalkthroughCommand::Publish { org, id } => {
            publish(platform, &operator(&org)?, &walkthrough_id(&id)?, json).await
        }
        WalkthroughCommand::List { org } => list(platform, &operator(&org)?, json).await,
        WalkthroughCommand::Assign {
            org,
            server,
            id,
            display_order,
            disabled,
        } => {
            let server: ServerId = Id::parse(&server)
                .with_context(|| format!("{server:?} is not a server id (ms_…)"))?;
            let input = AssignWalkthrough {
                display_order,
                is_enabled: Some(!disabled),
            };
            let wt = walkthrough_id(&id)?;
            let assignment = authoring::assign(platform, &operator(&org)?, &server, &wt, input)
                .await
                .map_err(|e| core_error(e, "no such server or walkthrough in this organization"))?;
            output::print(json, &assignment, |a| {
                format!(
                    "Walkthrough {} is assigned to server {} (display order {}, {}).",
                    a.walkthrough_id,
                    a.server_id,
                    a.display_order,
                    if a.is_enabled { "enabled" } else { "disabled" }
                )
            });
            Ok(())
        }
    }
}

fn walkthrough_id(text: &str) -> anyhow::Result<WalkthroughId> {
    Id::parse(text).with_context(|| format!("{text:?} is not a walkthrough id (wt_…)"))
}

/// A service error for people: `NotFound` says what was not found.
fn core_error(error: CoreError, not_found: &str) -> anyhow::Error {
    match error {
        CoreError::NotFound => anyhow::anyhow!("{not_found}"),
        other => anyhow::Error::new(other),
    }
}

/// The files of a walkthrough directory that the importer reads, and the ones it skips.
struct DirFiles {
    files: Vec<(String, String)>,
    ignored: Vec<String>,
}

fn read_walkthrough_dir(dir: &Path) -> anyhow::Result<DirFiles> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading the walkthrough directory {}", dir.display()))?;
    let mut files = Vec::new();
    let mut ignored = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            ignored.push(entry.file_name().to_string_lossy().into_owned());
            continue;
        };
        let role = content::file_role(&name);
        let metadata =
            std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if role == FileRole::Ignored || !metadata.is_file() {
            ignored.push(if metadata.is_dir() {
                format!("{name}/")
            } else {
                name
            });
            continue;
        }
        let limit = content::max_file_bytes(role);
        if metadata.len() > limit {
            bail!(
                "{}: {} bytes; the limit is {limit}",
                path.display(),
                metadata.len()
            );
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))?;
        files.push((name, text));
    }
    files.sort();
    ignored.sort();
    Ok(DirFiles { files, ignored })
}

#[derive(Serialize)]
struct ImportOutput {
    #[serde(flatten)]
    report: ImportReport,
    /// Files in the directory that are not part of the walkthrough.
    ignored_files: Vec<String>,
}

async fn import(
    platform: &Platform,
    caller: &Caller,
    dir: &Path,
    key: Option<String>,
    publish: bool,
    json: bool,
) -> anyhow::Result<()> {
    let key = match key {
        Some(key) => key,
        None => {
            let absolute =
                std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
            let absolute = absolute.canonicalize().unwrap_or(absolute);
            absolute
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
                .with_context(|| {
                    format!(
                        "{} has no usable name to key the walkthrough by; pass --key",
                        dir.display()
                    )
                })?
        }
    };
    content::validate_key(&key)?;
    let found = read_walkthrough_dir(dir)?;
    let source = content::parse_walkthrough_dir(found.files).map_err(|error| {
        let at = match &error.file {
            Some(_) => dir.display().to_string() + "/",
            None => format!("{}: ", dir.display()),
        };
        anyhow::anyhow!("{at}{error}")
    })?;
    let report = content::import(platform, caller, &key, source, publish)
        .await
        .map_err(|e| core_error(e, &format!("no organization {}", caller.org())))?;
    for name in &found.ignored {
        if !json {
            output::note!("note: ignored {name} (not walkthrough.toml or an NN-name.md step file)");
        }
    }
    let result = ImportOutput {
        report,
        ignored_files: found.ignored,
    };
    output::print(json, &result, |r| {
        let r = &r.report;
        let mut text = if r.created {
            format!(
                "Created walkthrough {} (key {}) with {} steps.",
                r.walkthrough_id, r.external_key, r.step_count
            )
        } else if r.changed {
            format!(
                "Updated walkthrough {} (key {}): {} steps updated, {} added, {} deleted; {} steps now.",
                r.walkthrough_id,
                r.external_key,
                r.steps_updated,
                r.steps_added,
                r.steps_deleted,
                r.step_count
            )
        } else {
            format!(
                "Walkthrough {} (key {}) is up to date; nothing changed.",
                r.walkthrough_id, r.external_key
            )
        };
        match (r.published, r.published_version) {
            (true, Some(version)) => text.push_str(&format!("\nPublished version {version}.")),
            (false, Some(version)) if publish => text.push_str(&format!(
                "\nVersion {version} is already the newest; no new version."
            )),
            _ => {}
        }
        text
    });
    Ok(())
}

/// Makes `out` ready to receive a walkthrough: created if missing; if it holds anything,
/// only with `force`, and then its walkthrough files are removed first so that no stale
/// step file survives.
fn prepare_out_dir(out: &Path, force: bool) -> anyhow::Result<()> {
    if !out.exists() {
        return std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()));
    }
    if !out.is_dir() {
        bail!("{} exists and is not a directory", out.display());
    }
    let entries: Vec<_> = std::fs::read_dir(out)
        .with_context(|| format!("reading {}", out.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", out.display()))?;
    if entries.is_empty() {
        return Ok(());
    }
    if !force {
        bail!(
            "{} is not empty; pass --force to replace the walkthrough files in it",
            out.display()
        );
    }
    for entry in entries {
        let name = entry.file_name();
        let is_walkthrough_file = name
            .to_str()
            .is_some_and(|n| content::file_role(n) != FileRole::Ignored);
        if is_walkthrough_file && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

async fn export(
    platform: &Platform,
    caller: &Caller,
    id: &WalkthroughId,
    out: &Path,
    force: bool,
    json: bool,
) -> anyhow::Result<()> {
    let source = content::export(platform, caller, id).await.map_err(|e| {
        core_error(
            e,
            &format!("no walkthrough {id} in organization {}", caller.org()),
        )
    })?;
    let files = content::render_walkthrough(&source);
    prepare_out_dir(out, force)?;
    for (name, text) in &files {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let result = json!({
        "walkthrough_id": id,
        "dir": out,
        "files": files.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "step_count": source.steps.len(),
    });
    output::print(json, &result, |_| {
        format!(
            "Exported walkthrough {id} to {} ({} steps).",
            out.display(),
            source.steps.len()
        )
    });
    Ok(())
}

async fn publish(
    platform: &Platform,
    caller: &Caller,
    id: &WalkthroughId,
    json: bool,
) -> anyhow::Result<()> {
    let version = authoring::publish(platform, caller, id)
        .await
        .map_err(|e| {
            core_error(
                e,
                &format!("no walkthrough {id} in organization {}", caller.org()),
            )
        })?;
    let result = json!({
        "walkthrough_id": id,
        "version": version.version,
        "step_count": version.steps.len(),
    });
    output::print(json, &result, |_| {
        format!(
            "Published walkthrough {id} as version {} ({} steps).",
            version.version,
            version.steps.len()
        )
    });
    Ok(())
}

async fn list(platform: &Platform, caller: &Caller, json: bool) -> anyhow::Result<()> {
    let mut all: Vec<Walkthrough> = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: Limits::PAGE_SIZE_MAX,
    };
    loop {
        let found = authoring::list(platform, caller, &page).await?;
        all.extend(found.items);
        match found.next_cursor.as_deref().and_then(Cursor::decode) {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    output::print(json, &all, |all| {
        if all.is_empty() {
            return "No walkthroughs.".into();
        }
        all.iter()
            .map(|w| {
                let version = w
                    .published_version
                    .map_or_else(|| "-".to_owned(), |v| format!("v{v}"));
                format!(
                    "{}  {:<9} {:<4} {}",
                    w.id,
                    w.status.as_str(),
                    version,
                    w.title
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "gp-wt-cmd-{}-{name}-{}",
            std::process::id(),
            guidepost_domain::random_token("t")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn force_replaces_walkthrough_files_and_keeps_the_rest() {
        let dir = temp_dir("force");
        std::fs::write(dir.join("walkthrough.toml"), "old").unwrap();
        std::fs::write(dir.join("07-stale.md"), "old").unwrap();
        std::fs::write(dir.join("README.md"), "keep").unwrap();
        std::fs::create_dir(dir.join("images")).unwrap();
        let refused = prepare_out_dir(&dir, false).unwrap_err().to_string();
        assert!(refused.contains("is not empty; pass --force"), "{refused}");
        prepare_out_dir(&dir, true).unwrap();
        let mut left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["README.md", "images"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reading_skips_ignored_files_and_refuses_oversized_ones() {
        let dir = temp_dir("read");
        std::fs::write(dir.join("walkthrough.toml"), "title = \"T\"\n").unwrap();
        std::fs::write(dir.join(".DS_Store"), [0xff, 0xfe]).unwrap();
        std::fs::create_dir(dir.join("assets")).unwrap();
        let found = read_walkthrough_dir(&dir).unwrap();
        assert_eq!(found.files.len(), 1);
        assert_eq!(found.ignored, [".DS_Store", "assets/"]);
        std::fs::write(dir.join("01-big.md"), vec![b'x'; 200 * 1024]).unwrap();
        let refused = read_walkthrough_dir(&dir).err().unwrap().to_string();
        assert!(refused.contains("01-big.md: 204800 bytes"), "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
