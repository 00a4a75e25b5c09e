//! Both forms of `backend_tests!` expand to one named test per backend, each with a
//! fresh database of its own backend.

use guidepost_testkit::{TestBackend, TestDatabase, backend_tests};

fn check(db: &TestDatabase) {
    match db.backend {
        TestBackend::Sqlite => {
            assert!(db.url.starts_with("sqlite:/") && db.url.ends_with("/guidepost.db"))
        }
        TestBackend::Postgres => assert!(db.url.contains("/gp_test_"), "{}", db.url),
    }
}

backend_tests! {
    /// Written inside the macro.
    async fn inline_form(db: &TestDatabase) {
        check(db);
    }
}

async fn list_form(db: &TestDatabase) {
    check(db);
}

/// Ignored (so `cargo test` reports it as such): attributes reach the generated tests.
async fn ignored_in_list_form(db: &TestDatabase) {
    check(db);
}

backend_tests!(
    list_form,
    #[ignore = "checks that attributes reach the tests"]
    ignored_in_list_form
);
