use std::ffi::OsString;
use std::path::Path;

use clap::CommandFactory;

use super::*;
use crate::cli::{Cli, Command, UpstreamCommand};

/// `guidepost <args>` with the settings file `file` (its text) under it.
fn parse(args: &[&str], file: &str) -> anyhow::Result<Cli> {
    let file = SettingsFile::from_toml(Path::new("test.toml"), file)?;
    let argv: Vec<OsString> = ["guidepost"]
        .iter()
        .chain(args)
        .map(OsString::from)
        .collect();
    file.parse(&argv)
}

fn serve_args(args: &[&str], file: &str) -> anyhow::Result<ServeArgs> {
    let cli = parse(&[&["serve"], args].concat(), file)?;
    let Command::Serve(serve) = cli.command else {
        unreachable!("parsed a serve command")
    };
    Ok(*serve)
}

fn settings(args: &[&str], file: &str) -> anyhow::Result<Settings> {
    serve_settings("sqlite:test.db".into(), &serve_args(args, file)?)
}

#[test]
fn a_file_value_applies_where_no_flag_is_given() {
    let file = "retention_days = 7\nlisten = \"0.0.0.0:9000\"\nupstream_confinement = \"off\"";
    let settings = settings(&[], file).unwrap();
    assert_eq!(
        settings.platform.retention,
        Duration::from_secs(7 * DAY_SECONDS)
    );
    assert_eq!(settings.listen, SocketAddr::from(([0, 0, 0, 0], 9000)));
    assert_eq!(
        settings.gateway.confinement.mode,
        guidepost_gateway::confine::Mode::Off
    );
}

#[test]
fn a_flag_beats_the_file() {
    let file = "retention_days = 7\nupstream_user = \"from-file\"";
    let settings = settings(&["--retention-days", "30"], file).unwrap();
    assert_eq!(
        settings.platform.retention,
        Duration::from_secs(30 * DAY_SECONDS)
    );
    assert_eq!(settings.gateway.confinement.user, "from-file");
}

#[test]
fn the_file_sets_the_same_setting_of_other_commands() {
    let cli = parse(
        &["upstream", "list", "--org", "org_1"],
        "node = \"/opt/node\"",
    )
    .unwrap();
    let Command::Upstream(upstream) = cli.command else {
        unreachable!("parsed an upstream command")
    };
    assert!(matches!(upstream.command, UpstreamCommand::List { .. }));
    assert_eq!(upstream.toolchain.node, Path::new("/opt/node"));
    let cli = parse(&["migrate"], "database_url = \"sqlite:from-file.db\"").unwrap();
    let here = std::env::current_dir().unwrap();
    assert_eq!(
        database_url(&cli.global),
        format!("sqlite:{}", here.join("from-file.db").display())
    );
    assert_eq!(
        database_url(&parse(&["migrate"], "").unwrap().global),
        format!("sqlite:{}", here.join("guidepost.db").display())
    );
}

#[test]
fn an_unknown_key_is_an_error_naming_it_and_the_file() {
    for text in ["listen_port = 80", "demo = true", "base-domain = \"x\""] {
        let error = format!("{:#}", parse(&["migrate"], text).unwrap_err());
        let key = text.split(' ').next().unwrap();
        assert!(error.contains(&format!("`{key}`")), "{error}");
        assert!(
            error.contains("test.toml") && error.contains("unknown key"),
            "{error}"
        );
    }
}

#[test]
fn a_bad_value_is_an_error_naming_its_key_and_the_file() {
    for (text, key) in [
        ("listen = \"nowhere\"", "listen"),
        ("max_server_tools = 2", "max_server_tools"),
        ("retention_days = [1, 2]", "retention_days"),
        ("[base_domain]\nx = 1", "base_domain"),
    ] {
        // A flag given does not hide a mistake in the file.
        let error = format!(
            "{:#}",
            parse(&["serve", "--listen=127.0.0.1:1"], text).unwrap_err()
        );
        assert!(
            error.contains("test.toml") && error.contains(&format!("`{key}`")),
            "{error}"
        );
    }
}

#[test]
fn a_file_value_that_conflicts_with_a_flag_given_is_left_out() {
    let dir = std::env::temp_dir().join(format!("gp-conflict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("master.key");
    let on_disk = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let in_file = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
    std::fs::write(&path, on_disk).unwrap();
    let file = format!("master_key = \"{in_file}\"");
    let args = ["--master-key-file", path.to_str().unwrap()];
    let id = |s: Settings| s.platform.master_key.map(|k| k.id().to_owned());
    let chosen = id(settings(&args, &file).unwrap());
    assert_eq!(
        chosen,
        id(settings(&["--master-key", on_disk], "").unwrap())
    );
    assert_ne!(chosen, id(settings(&[], &file).unwrap()));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn local_settings_are_the_declared_defaults() {
    let local = Settings::local("sqlite:test.db");
    let serve = settings(&[], "").unwrap();
    assert_eq!(
        format!("{:?}", local.platform),
        format!("{:?}", serve.platform)
    );
    assert_eq!(local.listen.ip(), serve.listen.ip());
    assert_eq!((local.listen.port(), serve.listen.port()), (0, 8080));
    assert_eq!(
        local.mcp.session_caps.per_node,
        guidepost_mcp::SessionCaps::default().per_node
    );
}

/// Each default is written once: where a flag declares one, its help does not repeat it
/// (clap shows the declared one), and `--help` shows defaults of other crates as they are.
#[test]
fn a_default_is_declared_once_and_help_shows_it() {
    let mut cli = Cli::command();
    cli.build();
    let serve = cli.find_subcommand("serve").unwrap();
    for arg in serve.get_arguments() {
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        if !arg.get_default_values().is_empty() {
            assert!(
                !help.contains("[default:"),
                "--{:?} says its default twice",
                arg.get_long()
            );
        }
    }
    let default_of = |id: &str| {
        let arg = serve.get_arguments().find(|a| a.get_id() == id).unwrap();
        arg.get_default_values()[0].to_string_lossy().into_owned()
    };
    assert_eq!(
        default_of("max_sessions"),
        SessionCaps::default().per_node.to_string()
    );
    assert_eq!(default_of("upstream_confinement"), "strict");
    assert_eq!(default_of("webhook_backoff_ms"), "30000");
    assert_eq!(default_of("mail_outbox"), "mail-outbox");
}

/// The configuration reference's promise: every setting's variable is `GUIDEPOST_` and its key in capitals.
#[test]
fn every_setting_has_its_variable() {
    let mut cli = Cli::command();
    cli.build();
    let serve = cli.find_subcommand("serve").unwrap();
    for arg in serve.get_arguments() {
        let Some(long) = arg.get_long().filter(|l| !["help", "json"].contains(l)) else {
            continue;
        };
        let expected = format!("GUIDEPOST_{}", long.replace('-', "_").to_ascii_uppercase());
        assert_eq!(
            arg.get_env().and_then(|e| e.to_str()),
            Some(expected.as_str()),
            "--{long}"
        );
    }
}

#[test]
fn a_boolean_flag_set_to_false_overrides_true_in_the_file() {
    let on_in_file = "enable_fixtures = true\ncimd_allow_private = true";
    let overridden = settings(
        &["--enable-fixtures=false", "--cimd-allow-private=false"],
        on_in_file,
    )
    .unwrap();
    assert!(!overridden.platform.enable_fixtures);
    assert!(!overridden.auth.cimd_allow_private);
    let from_file = settings(&[], on_in_file).unwrap();
    assert!(from_file.platform.enable_fixtures && from_file.auth.cimd_allow_private);
    let bare = settings(&["--enable-fixtures"], "").unwrap();
    assert!(bare.platform.enable_fixtures);
    assert!(!settings(&[], "").unwrap().platform.enable_fixtures);
}

#[test]
fn the_master_key_can_come_from_a_file() {
    let dir = std::env::temp_dir().join(format!("gp-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("master.key");
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    std::fs::write(&path, format!("{key}\n")).unwrap();
    let from_flag = settings(&["--master-key", key], "").unwrap();
    let from_file = settings(&["--master-key-file", path.to_str().unwrap()], "").unwrap();
    let id = |s: &Settings| s.platform.master_key.as_ref().map(|k| k.id().to_owned());
    assert!(id(&from_file).is_some());
    assert_eq!(id(&from_file), id(&from_flag));
    let missing = settings(&["--master-key-file", "/nonexistent/master.key"], "");
    assert!(format!("{:#}", missing.unwrap_err()).contains("/nonexistent/master.key"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn container_images_are_listed_by_flag_or_file_and_none_by_default() {
    let images =
        |args: &[&str], file: &str| settings(args, file).map(|s| s.platform.container_images);
    assert!(images(&[], "").unwrap().is_empty());
    let flags = [
        "--container-images",
        "a.example/x:1,b.example/y:2",
        "--container-images",
        "c:3",
    ];
    assert_eq!(
        images(&flags, "").unwrap(),
        ["a.example/x:1", "b.example/y:2", "c:3"]
    );
    let file = "container_images = [\"d.example/z:4\", \"e:5\"]";
    assert_eq!(images(&[], file).unwrap(), ["d.example/z:4", "e:5"]);
    assert_eq!(
        images(&["--container-images", "c:3"], file).unwrap(),
        ["c:3"],
        "the flag wins"
    );
    assert!(images(&["--container-images=-x"], "").is_err());
}

#[test]
fn registry_urls_are_repeatable_base_urls_without_credentials() {
    let args = [
        "--registry-url",
        "https://registry.example.com/,http://127.0.0.1:9000",
        "--registry-url",
        "https://registry.example.com",
        "--registry-sync-interval",
        "600",
    ];
    let given = settings(&args, "").unwrap();
    assert_eq!(
        given.platform.registries,
        ["https://registry.example.com", "http://127.0.0.1:9000"],
        "trailing slashes dropped, each once, in the order given"
    );
    assert_eq!(given.registries.interval, Duration::from_secs(600));
    assert!(!given.registries.allow_private);
    let defaults = settings(&[], "").unwrap();
    assert_eq!(defaults.registries.interval, Duration::from_secs(3600));
    assert!(defaults.platform.registries.is_empty());
    for bad in [
        "ftp://registry.example.com",
        "https://user:pw@registry.example.com",
        "https://registry.example.com/?page=1",
        "not a url",
    ] {
        let error = settings(&["--registry-url", bad], "").err().unwrap();
        assert!(
            error.to_string().contains("--registry-url"),
            "{bad}: {error}"
        );
    }
    assert!(settings(&["--registry-sync-interval", "1"], "").is_err());
}
