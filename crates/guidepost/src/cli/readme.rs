//! The configuration reference's tables of `serve`'s and the global flags
//! (docs/operator/configuration.md) name every flag there is, no other, and each declared
//! default: a flag added without its line fails here. And no recipe of the documents
//! puts the master key on a command line.

use std::collections::BTreeMap;

use clap::CommandFactory;

const CONFIGURATION: &str = include_str!("../../../../docs/operator/configuration.md");

/// The documents that give recipes with the master key.
const RECIPES: [&str; 4] = [
    include_str!("../../../../README.md"),
    CONFIGURATION,
    include_str!("../../../../docs/operator/security-model.md"),
    include_str!("../../../../docs/user/connect-a-client.md"),
];

/// Each flag a table row names, with the row's default cell.
fn readme_rows() -> BTreeMap<String, String> {
    let section = CONFIGURATION
        .split_once("`guidepost serve` options:")
        .expect("configuration.md has the section of serve's options")
        .1;
    let section = section.split_once("Example `guidepost.toml`").unwrap().0;
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `--")) {
        // "\|" is a '|' inside a cell.
        let cells: Vec<String> = line
            .replace("\\|", "/")
            .split('|')
            .map(|cell| cell.trim().to_owned())
            .collect();
        let (flags, default) = (&cells[1], &cells[2]);
        for flag in flags.split('`').filter_map(|code| code.strip_prefix("--")) {
            let name = flag.split(' ').next().unwrap().to_owned();
            rows.insert(name, default.clone());
        }
    }
    rows
}

/// How the reference writes a declared default: in backticks, a boolean's false as "off".
fn written(default: &str) -> String {
    match default {
        "false" => "off".into(),
        other => format!("`{other}`"),
    }
}

#[test]
fn the_readme_tables_name_every_flag_of_serve_with_its_default() {
    let mut cli = super::Cli::command();
    cli.build();
    let serve = cli.find_subcommand("serve").unwrap();
    let mut rows = readme_rows();
    let mut mistakes = Vec::new();
    for arg in serve.get_arguments() {
        let Some(flag) = arg.get_long().filter(|&l| l != "help") else {
            continue;
        };
        let Some(default_cell) = rows.remove(flag) else {
            mistakes.push(format!("no row for --{flag}"));
            continue;
        };
        for default in arg.get_default_values() {
            let default = written(&default.to_string_lossy());
            if !default_cell.contains(&default) {
                mistakes.push(format!("--{flag}: default {default_cell:?}, not {default}"));
            }
        }
    }
    mistakes.extend(rows.keys().map(|flag| format!("--{flag}: no such flag")));
    assert!(
        mistakes.is_empty(),
        "docs/operator/configuration.md's tables of flags are not the flags:\n{}",
        mistakes.join("\n")
    );
}

/// Every local user reads a process's command line (`ps`), so no recipe of the documents
/// gives the master key as `--master-key VALUE`; the flag's own table row names it.
#[test]
fn no_readme_recipe_puts_the_master_key_on_a_command_line() {
    let given_on_a_command_line: Vec<&str> = RECIPES
        .iter()
        .flat_map(|text| text.lines())
        .filter(|line| !line.starts_with("| `--master-key"))
        .filter(|line| {
            line.match_indices("--master-key")
                .any(|(at, flag)| matches!(line[at + flag.len()..].chars().next(), Some(' ' | '=')))
        })
        .collect();
    assert!(
        given_on_a_command_line.is_empty(),
        "recommend --master-key-file or GUIDEPOST_MASTER_KEY instead:\n{}",
        given_on_a_command_line.join("\n")
    );
}
