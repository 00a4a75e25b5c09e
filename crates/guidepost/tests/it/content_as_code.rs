//! Content as code: `guidepost walkthrough import|export|publish|
//! list|assign`, run as the real binary against the test database, and the import
//! service called directly where the test needs to count statements.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use guidepost::config::Settings;
use guidepost_core::Platform;
use guidepost_core::walkthroughs::content;
use guidepost_domain::{Id, OrgId, WalkthroughId};
use guidepost_store::{Store, StoreError};
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::Value;

use crate::helpers::{spawn_app, workspace_root};

fn sample_dir() -> PathBuf {
    workspace_root().join("examples/walkthroughs/getting-started")
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "gp-content-{}-{}",
            std::process::id(),
            guidepost_domain::random_token("")
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory created");
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// A copy of the sample walkthrough under its own name (its import key).
    fn with_sample_copy(&self) -> PathBuf {
        let copy = self.0.join("getting-started");
        std::fs::create_dir_all(&copy).unwrap();
        for (name, bytes) in tree(&sample_dir()) {
            std::fs::write(copy.join(name), bytes).unwrap();
        }
        copy
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every file under `dir` (relative path → bytes).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("directory readable") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut found = BTreeMap::new();
    walk(dir, dir, &mut found);
    found
}

/// Runs `guidepost --database-url … --json ARGS`; returns its JSON output, or its error
/// text when it fails.
async fn guidepost(db: &TestDatabase, args: &[&str]) -> Result<Value, String> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .args(["--database-url", &db.url, "--json"])
        .args(args)
        .env_remove("GUIDEPOST_CONFIG")
        .output()
        .await
        .expect("guidepost runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        Ok(serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("guidepost {args:?} printed no JSON ({e}):\n{stdout}")))
    } else {
        Err(stderr.into_owned())
    }
}

async fn cli(db: &TestDatabase, args: &[&str]) -> Value {
    guidepost(db, args)
        .await
        .unwrap_or_else(|stderr| panic!("guidepost {args:?} failed:\n{stderr}"))
}

async fn create_org(db: &TestDatabase) -> String {
    let created = cli(db, &["org", "create", "--name", "Skylark Labs"]).await;
    created["organization"]["id"].as_str().unwrap().to_owned()
}

async fn import(db: &TestDatabase, dir: &Path, org: &str, publish: bool) -> Value {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["walkthrough", "import", dir, "--org", org];
    if publish {
        args.push("--publish");
    }
    cli(db, &args).await
}

fn ids(org: &str, walkthrough: &Value) -> (OrgId, WalkthroughId) {
    (
        Id::parse(org).unwrap(),
        Id::parse(walkthrough.as_str().unwrap()).unwrap(),
    )
}

async fn step_ids(store: &Arc<dyn Store>, org: &OrgId, id: &WalkthroughId) -> Vec<String> {
    let steps = store.list_steps(org, id).await.unwrap();
    steps.into_iter().map(|s| s.id.to_string()).collect()
}

/// The sample directory goes in through `import` and comes out of `export` byte for
/// byte; `export` refuses to write into a non-empty directory unless forced.
async fn import_then_export_gives_the_same_files(db: &TestDatabase) {
    let org = create_org(db).await;
    let report = import(db, &sample_dir(), &org, true).await;
    assert_eq!(report["created"], true, "{report}");
    assert_eq!(report["changed"], true);
    assert_eq!(report["external_key"], "getting-started");
    assert_eq!(report["step_count"], 5);
    assert_eq!(report["published"], true);
    assert_eq!(report["published_version"], 1);
    assert_eq!(report["status"], "published");
    let id = report["walkthrough_id"].as_str().unwrap();

    let out = TempDir::new();
    let target = out.path().join("getting-started");
    let target_arg = target.to_str().unwrap();
    let exported = cli(
        db,
        &[
            "walkthrough",
            "export",
            "--org",
            &org,
            "--id",
            id,
            "--out",
            target_arg,
        ],
    )
    .await;
    assert_eq!(exported["step_count"], 5);
    assert_eq!(
        tree(&target),
        tree(&sample_dir()),
        "export after import gives the same files"
    );

    let refused = guidepost(
        db,
        &[
            "walkthrough",
            "export",
            "--org",
            &org,
            "--id",
            id,
            "--out",
            target_arg,
        ],
    )
    .await
    .expect_err("a non-empty directory is refused");
    assert!(refused.contains("is not empty; pass --force"), "{refused}");

    std::fs::write(target.join("09-stale-step.md"), "left over").unwrap();
    std::fs::write(target.join("NOTES.txt"), "mine").unwrap();
    cli(
        db,
        &[
            "walkthrough",
            "export",
            "--org",
            &org,
            "--id",
            id,
            "--out",
            target_arg,
            "--force",
        ],
    )
    .await;
    let mut expected = tree(&sample_dir());
    expected.insert("NOTES.txt".into(), b"mine".to_vec());
    assert_eq!(
        tree(&target),
        expected,
        "--force replaces the walkthrough files and keeps the others"
    );

    let listed = cli(db, &["walkthrough", "list", "--org", &org]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["title"], "Getting started with Skylark");
    assert_eq!(listed[0]["published_version"], 1);
}

/// Importing an unchanged directory again writes nothing: same walkthrough, same steps,
/// no new version, `updated_at` untouched, and only the reads run.
async fn a_second_import_changes_nothing(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let store = app.store.clone();
    let org = create_org(db).await;
    let first = import(db, &sample_dir(), &org, true).await;
    let (org_id, id) = ids(&org, &first["walkthrough_id"]);
    let before = store.get_walkthrough(&org_id, &id).await.unwrap();
    let steps_before = store.list_steps(&org_id, &id).await.unwrap();

    let second = import(db, &sample_dir(), &org, true).await;
    assert_eq!(second["walkthrough_id"], first["walkthrough_id"]);
    assert_eq!(second["created"], false, "{second}");
    assert_eq!(second["changed"], false);
    assert_eq!(second["published"], false, "no new version");
    assert_eq!(second["published_version"], 1);
    for counter in ["steps_added", "steps_updated", "steps_deleted"] {
        assert_eq!(second[counter], 0, "{counter}");
    }

    let after = store.get_walkthrough(&org_id, &id).await.unwrap();
    assert_eq!(after.updated_at, before.updated_at, "updated_at unchanged");
    assert_eq!(after.published_version, Some(1));
    assert!(matches!(
        store.get_version(&org_id, &id, 2).await,
        Err(StoreError::NotFound)
    ));
    let steps_after = store.list_steps(&org_id, &id).await.unwrap();
    let pairs = |steps: &[guidepost_domain::Step]| {
        steps
            .iter()
            .map(|s| (s.id.to_string(), s.content.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&steps_after), pairs(&steps_before));

    // Statement level, on a store of its own so that nothing else adds to its count:
    // an unchanged import only reads (the walkthrough by key, its steps, and with
    // --publish its newest version).
    let own: Arc<dyn Store> = guidepost_store::connect(&db.url).await.unwrap();
    let (platform, writer) = Platform::new(
        own.clone(),
        Settings::local(db.url.clone()).platform,
        Arc::new(guidepost_auth::IdentityProviders::new(false)),
        Arc::new(guidepost::dns::Dns::new(None)),
        guidepost_gateway::Supervisor::new(Settings::local("").gateway),
        Arc::new(guidepost_auth::UpstreamAuthorizer::new(false)),
    );
    let files = tree(&sample_dir())
        .into_iter()
        .map(|(name, bytes)| (name, String::from_utf8(bytes).unwrap()))
        .collect();
    let source = content::parse_walkthrough_dir(files).unwrap();
    for (publish, reads) in [(false, 2), (true, 3)] {
        let start = own.statements_executed();
        let report = content::import(
            &platform,
            &crate::helpers::operator(&org_id),
            "getting-started",
            source.clone(),
            publish,
        )
        .await
        .unwrap();
        assert!(!report.changed && !report.published);
        assert_eq!(
            own.statements_executed() - start,
            reads,
            "an unchanged import (publish: {publish}) runs only its {reads} reads"
        );
    }
    writer.shutdown().await;
    assert_eq!(
        store
            .get_walkthrough(&org_id, &id)
            .await
            .unwrap()
            .updated_at,
        before.updated_at
    );
}

/// Editing one step file updates that step in place (same id) and `--publish` makes
/// version 2, leaving version 1 as it was. Renaming a file without changing its title
/// changes nothing, since the name is only for people.
async fn editing_a_step_updates_it_in_place(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let store = app.store.clone();
    let org = create_org(db).await;
    let work = TempDir::new();
    let dir = work.with_sample_copy();
    let first = import(db, &dir, &org, true).await;
    let (org_id, id) = ids(&org, &first["walkthrough_id"]);
    let ids_before = step_ids(&store, &org_id, &id).await;
    let v1 = store.get_version(&org_id, &id, 1).await.unwrap();

    let file = dir.join("03-authenticate-and-link-your-project.md");
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("skylark whoami", "skylark status");
    std::fs::write(&file, &edited).unwrap();
    let second = import(db, &dir, &org, true).await;
    assert_eq!(second["changed"], true, "{second}");
    assert_eq!(second["steps_updated"], 1);
    assert_eq!(second["steps_added"], 0);
    assert_eq!(second["steps_deleted"], 0);
    assert_eq!(second["published"], true);
    assert_eq!(second["published_version"], 2);

    assert_eq!(
        step_ids(&store, &org_id, &id).await,
        ids_before,
        "step ids are stable"
    );
    let steps = store.list_steps(&org_id, &id).await.unwrap();
    assert!(steps[2].content.contains("skylark status"));
    let v2 = store.get_version(&org_id, &id, 2).await.unwrap();
    assert!(v2.steps[2].content.contains("skylark status"));
    assert_eq!(v2.steps[2].id, ids_before[2]);
    assert_eq!(
        store.get_version(&org_id, &id, 1).await.unwrap().steps,
        v1.steps,
        "the published version 1 is untouched"
    );
    for i in [0, 1, 3, 4] {
        assert_eq!(v2.steps[i], v1.steps[i], "step {} is the same", i + 1);
    }

    std::fs::rename(&file, dir.join("03-log-in.md")).unwrap();
    let third = import(db, &dir, &org, true).await;
    assert_eq!(third["changed"], false, "{third}");
    assert_eq!(third["published_version"], 2);
}

/// A step file added or removed in the middle, or retitled, leaves every other step its id
/// (ids are stable while the step exists; the funnel counts by id), and the list
/// stays whole. Called through the service.
async fn step_files_added_removed_or_retitled_in_the_middle_leave_the_others_their_ids(
    db: &TestDatabase,
) {
    let app = spawn_app(db).await;
    let platform = &app.app.platform;
    let store = app.store.clone();
    let tenant = app.create_tenant("Skylark Labs").await;
    let org: OrgId = tenant.org.clone();
    let work = TempDir::new();
    let dir = work.with_sample_copy();
    let import_dir = async |dir: &Path| {
        let files = tree(dir)
            .into_iter()
            .map(|(name, bytes)| (name, String::from_utf8(bytes).unwrap()))
            .collect();
        let source = content::parse_walkthrough_dir(files).unwrap();
        let operator = crate::helpers::operator(&org);
        content::import(platform, &operator, "getting-started", source, false)
            .await
            .unwrap()
    };
    let counts = |r: &content::ImportReport| (r.steps_added, r.steps_updated, r.steps_deleted);

    let first = import_dir(&dir).await;
    assert!(first.created && first.published_version.is_none());
    let id = first.walkthrough_id;
    let o = step_ids(&store, &org, &id).await;
    assert_eq!(o.len(), 5);

    // Numbered 10, 20, … so that a step fits between two, as a team would renumber.
    let mut names: Vec<String> = tree(&dir)
        .into_keys()
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    for (k, name) in names.iter().enumerate() {
        let renamed = format!("{}0-{}", k + 1, name.split_once('-').unwrap().1);
        std::fs::rename(dir.join(name), dir.join(renamed)).unwrap();
    }
    std::fs::write(
        dir.join("25-invite-your-team.md"),
        "---\ntitle = \"Invite your team\"\nsection = \"First data\"\n---\n\nOpen **Settings → Members**.\n",
    )
    .unwrap();
    let inserted = import_dir(&dir).await;
    assert_eq!(counts(&inserted), (1, 0, 0));
    let six = step_ids(&store, &org, &id).await;
    assert_eq!(six.len(), 6);
    assert_eq!(
        [&six[..2], &six[3..]].concat(),
        o,
        "the new step between the second and third: {six:?}"
    );
    assert!(!o.contains(&six[2]));

    // The second step's file removed, the fourth one retitled.
    let second = tree(&dir)
        .into_keys()
        .find(|n| n.starts_with("20-"))
        .unwrap();
    std::fs::remove_file(dir.join(second)).unwrap();
    let fourth = tree(&dir)
        .into_keys()
        .find(|n| n.starts_with("40-"))
        .unwrap();
    let text = std::fs::read_to_string(dir.join(&fourth)).unwrap();
    let (front, rest) = text.split_once("\n---\n").unwrap();
    let retitled: String = front
        .lines()
        .map(|l| {
            if l.starts_with("title = ") {
                "title = \"Send an event\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join(&fourth), format!("{retitled}\n---\n{rest}")).unwrap();
    let changed = import_dir(&dir).await;
    assert_eq!(counts(&changed), (0, 1, 1));
    assert_eq!(
        step_ids(&store, &org, &id).await,
        [
            o[0].clone(),
            six[2].clone(),
            o[2].clone(),
            o[3].clone(),
            o[4].clone()
        ]
    );

    // The draft exports as what is left in the directory, step by step, in its order.
    let exported = content::render_walkthrough(
        &content::export(platform, &crate::helpers::operator(&org), &id)
            .await
            .unwrap(),
    );
    let in_dir: Vec<String> = tree(&dir)
        .into_values()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    let out: Vec<String> = exported
        .into_iter()
        .collect::<BTreeMap<String, String>>()
        .into_values()
        .collect();
    assert_eq!(out, in_dir);
}

/// A directory with a broken file is refused with the file and line named, and nothing
/// is written.
async fn parse_errors_name_the_file(db: &TestDatabase) {
    let org = create_org(db).await;
    let work = TempDir::new();
    let dir = work.with_sample_copy();
    let dir_arg = dir.to_str().unwrap();
    let broken = dir.join("02-install-the-skylark-cli.md");
    std::fs::write(&broken, "---\ntitle = Install the CLI\n---\n\nBody\n").unwrap();
    let error = guidepost(db, &["walkthrough", "import", dir_arg, "--org", &org])
        .await
        .expect_err("a broken step file is refused");
    let expected = format!("{}:2: invalid TOML", broken.display());
    assert!(
        error.contains(&expected),
        "expected {expected:?} in {error:?}"
    );

    std::fs::write(&broken, "# Install the CLI\n").unwrap();
    let error = guidepost(db, &["walkthrough", "import", dir_arg, "--org", &org])
        .await
        .unwrap_err();
    assert!(
        error.contains("02-install-the-skylark-cli.md:1: missing front matter"),
        "{error}"
    );

    std::fs::write(&broken, "---\ntitle = \"Install\"\n---\n\nBody\n").unwrap();
    std::fs::write(dir.join("2-typo.md"), "x").unwrap();
    let error = guidepost(db, &["walkthrough", "import", dir_arg, "--org", &org])
        .await
        .unwrap_err();
    assert!(
        error.contains("2-typo.md: step files are named NN-name.md"),
        "{error}"
    );
    std::fs::remove_file(dir.join("2-typo.md")).unwrap();

    std::fs::write(
        dir.join("002-again.md"),
        "---\ntitle = \"Again\"\n---\n\nBody\n",
    )
    .unwrap();
    let error = guidepost(db, &["walkthrough", "import", dir_arg, "--org", &org])
        .await
        .unwrap_err();
    assert!(
        error.contains("step number 2 is also used by 002-again.md"),
        "{error}"
    );

    let listed = cli(db, &["walkthrough", "list", "--org", &org]).await;
    assert_eq!(listed, Value::Array(vec![]), "nothing was imported");
}

/// `publish` and `assign` from the command line; an import without `--publish` leaves a
/// draft, and re-importing it with `--publish` publishes exactly once.
async fn publish_and_assign_from_the_command_line(db: &TestDatabase) {
    let org = create_org(db).await;
    let server = cli(
        db,
        &[
            "server",
            "create",
            "--org",
            &org,
            "--name",
            "Docs",
            "--slug",
            "skylark-docs",
        ],
    )
    .await;
    let server_id = server["id"].as_str().unwrap();
    let draft = import(db, &sample_dir(), &org, false).await;
    assert_eq!(draft["status"], "draft", "{draft}");
    assert_eq!(draft["published_version"], Value::Null);
    let id = draft["walkthrough_id"].as_str().unwrap();

    let published = import(db, &sample_dir(), &org, true).await;
    assert_eq!(published["changed"], false, "the draft already matched");
    assert_eq!(published["published"], true, "never published before");
    assert_eq!(published["published_version"], 1);

    let again = cli(db, &["walkthrough", "publish", "--org", &org, "--id", id]).await;
    assert_eq!(again["version"], 2);
    assert_eq!(again["step_count"], 5);

    let assigned = cli(
        db,
        &[
            "walkthrough",
            "assign",
            "--org",
            &org,
            "--server",
            server_id,
            "--id",
            id,
            "--display-order",
            "3",
        ],
    )
    .await;
    assert_eq!(assigned["is_enabled"], true, "{assigned}");
    assert_eq!(assigned["display_order"], 3);
    let disabled = cli(
        db,
        &[
            "walkthrough",
            "assign",
            "--org",
            &org,
            "--server",
            server_id,
            "--id",
            id,
            "--disabled",
        ],
    )
    .await;
    assert_eq!(disabled["is_enabled"], false);
    assert_eq!(disabled["display_order"], 3, "an absent order is kept");

    let other_org = create_org(db).await;
    let error = guidepost(
        db,
        &["walkthrough", "publish", "--org", &other_org, "--id", id],
    )
    .await
    .unwrap_err();
    assert!(error.contains("no walkthrough"), "{error}");
}

backend_tests!(
    import_then_export_gives_the_same_files,
    a_second_import_changes_nothing,
    editing_a_step_updates_it_in_place,
    step_files_added_removed_or_retitled_in_the_middle_leave_the_others_their_ids,
    parse_errors_name_the_file,
    publish_and_assign_from_the_command_line,
);
