//! Fuzz targets for the parsers of what organizations and operators write: a walkthrough
//! directory (content as code) and the operator's catalog. CI runs a few hundred cases
//! of each; `scripts/fuzz` runs each for ten minutes.

use guidepost_testkit::fuzz::{fuzz, mutated};
use proptest::prelude::*;

use crate::upstreams::catalog::Catalog;
use crate::walkthroughs::content::{parse_walkthrough_dir, render_walkthrough, sample_dir};

/// The sample directory with its files' names and texts mutated, some dropped.
fn walkthrough_dirs() -> impl Strategy<Value = Vec<(String, String)>> {
    let files: Vec<BoxedStrategy<Option<(String, String)>>> = sample_dir()
        .into_iter()
        .map(|(name, text)| {
            let name = prop_oneof![4 => Just(name.clone()), 1 => mutated(name)];
            prop::option::weighted(0.9, (name, mutated(text))).boxed()
        })
        .collect();
    files.prop_map(|files| files.into_iter().flatten().collect())
}

#[test]
fn fuzz_walkthrough_import() {
    fuzz("walkthrough import", walkthrough_dirs(), |files| {
        // Never a panic; what parses renders canonically and parses back the same.
        if let Ok(source) = parse_walkthrough_dir(files) {
            let rendered = render_walkthrough(&source);
            let again = parse_walkthrough_dir(rendered);
            prop_assert_eq!(
                again.as_ref().ok(),
                Some(&source),
                "{:?}",
                again.as_ref().err()
            );
        }
        Ok(())
    });
}

#[test]
fn fuzz_operator_catalog() {
    // The built-in entries under other ids: a valid operator catalog to start from.
    let operator = include_str!("upstreams/catalog.toml").replace("\nid = \"", "\nid = \"op-");
    assert!(
        Catalog::with_operator_entries(&operator).is_ok(),
        "the base is valid"
    );
    fuzz("operator catalog", mutated(operator), |text| {
        // Never a panic; an accepted catalog has entries with unique ids.
        if let Ok(catalog) = Catalog::with_operator_entries(&text) {
            let mut ids: Vec<&str> = catalog.entries().iter().map(|e| e.id.as_str()).collect();
            let count = ids.len();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), count, "duplicate ids accepted");
        }
        Ok(())
    });
}
