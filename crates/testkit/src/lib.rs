//! Test support for Guidepost (dev-only, never published).
//!
//! Every test gets its own database, on every backend:
//!
//! - **SQLite** always: a fresh file in a unique temporary directory, removed on drop.
//! - **PostgreSQL** when `GUIDEPOST_TEST_POSTGRES_URL` is set (for example
//!   `postgres://postgres@127.0.0.1:5432/postgres`): a freshly created database with a
//!   unique name (`gp_test_…`) on that server, dropped (`WITH (FORCE)`) on drop. The
//!   server is never assumed to be empty, and nothing but the test's own database is
//!   touched.
//!
//! Write a test once and run it against each backend with [`backend_tests!`], which
//! gives one named test per backend (`name::sqlite`, `name::postgres`), so that test
//! runners list and parallelise them separately:
//!
//! ```ignore
//! use guidepost_testkit::{TestDatabase, backend_tests};
//!
//! async fn stores_a_server(db: &TestDatabase) {
//!     let store = guidepost_store::connect(&db.url).await.unwrap();
//!     // …
//! }
//!
//! backend_tests!(stores_a_server);
//! ```
//!
//! (or with the functions written inside `backend_tests! { … }`). Without the macro:
//! `for backend in backends() { let db = TestDatabase::create(backend).await; … }`.
//!
//! The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a
//! dev-dependency: the generated tests are `#[tokio::test]`s.
//!
//! Set `GUIDEPOST_TEST_KEEP_DB=1` to keep the databases after the tests (their URLs are
//! printed) for inspection.
//!
//! A test that needs something this machine may lack (PostgreSQL, Podman) asks
//! [`require_environment`] first: in CI, or with `GUIDEPOST_REQUIRE_ALL=1`, a missing
//! environment fails the test; elsewhere the skip is recorded and counted (see
//! [`environment`]). A test waits for what happens eventually with [`eventually`],
//! never asserting how fast.

pub mod environment;
pub mod eventually;
pub mod fuzz;

pub use environment::{all_environments_required, require_environment};
pub use eventually::{HANG_GUARD, eventually, within_hang_guard};

use std::path::PathBuf;
use std::time::Duration;

use rand::RngExt;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The environment variable naming the PostgreSQL server that tests may use.
pub const POSTGRES_URL_VAR: &str = "GUIDEPOST_TEST_POSTGRES_URL";

/// The environment variable that, when set to anything but `0`, keeps test databases.
pub const KEEP_DB_VAR: &str = "GUIDEPOST_TEST_KEEP_DB";

/// A database backend a test can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

impl TestBackend {
    pub fn name(self) -> &'static str {
        match self {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres => "postgres",
        }
    }

    /// Whether tests can run against this backend here.
    pub fn is_available(self) -> bool {
        match self {
            TestBackend::Sqlite => true,
            TestBackend::Postgres => postgres_url().is_some(),
        }
    }
}

impl std::fmt::Display for TestBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The backends available here: always SQLite; PostgreSQL too when
/// `GUIDEPOST_TEST_POSTGRES_URL` is set.
pub fn backends() -> Vec<TestBackend> {
    [TestBackend::Sqlite, TestBackend::Postgres]
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
}

/// The PostgreSQL server URL from `GUIDEPOST_TEST_POSTGRES_URL`, if set and not blank.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
}

/// One test's own, fresh, empty database (no migrations applied). It is deleted when
/// this value is dropped, also when the test panics.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to open it with: `sqlite:/tmp/…/guidepost.db` or `postgres://…/gp_test_…`.
    pub url: String,
    pub backend: TestBackend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite { dir: PathBuf },
    Postgres { server_url: String, name: String },
}

impl TestDatabase {
    /// Creates a fresh database on `backend`.
    ///
    /// # Panics
    /// When the database cannot be created, or when `backend` is PostgreSQL and
    /// `GUIDEPOST_TEST_POSTGRES_URL` is not set (check [`TestBackend::is_available`] or
    /// use [`TestDatabase::create_if_available`]).
    pub async fn create(backend: TestBackend) -> TestDatabase {
        match Self::create_if_available(backend).await {
            Some(db) => db,
            None => {
                panic!("cannot create a {backend} test database: {POSTGRES_URL_VAR} is not set")
            }
        }
    }

    /// A fresh PostgreSQL database for a test that exists only on PostgreSQL, or `None`
    /// (the skip recorded) when `GUIDEPOST_TEST_POSTGRES_URL` is not set and PostgreSQL
    /// may be missing here; see [`require_environment`].
    ///
    /// # Panics
    /// When PostgreSQL is missing and every environment is required, or when the
    /// database cannot be created.
    pub async fn require_postgres() -> Option<TestDatabase> {
        if !require_environment(
            "PostgreSQL",
            postgres_url().is_some(),
            &format!("{POSTGRES_URL_VAR} is not set"),
        ) {
            return None;
        }
        Some(Self::create(TestBackend::Postgres).await)
    }

    /// Creates a fresh database on `backend`, or `None` when that backend is not
    /// configured here (PostgreSQL without `GUIDEPOST_TEST_POSTGRES_URL`). Tests use
    /// [`TestDatabase::require_postgres`] instead, which counts the skip.
    ///
    /// # Panics
    /// When the backend is configured but the database cannot be created.
    pub async fn create_if_available(backend: TestBackend) -> Option<TestDatabase> {
        match backend {
            TestBackend::Sqlite => Some(Self::create_sqlite()),
            TestBackend::Postgres => {
                let server_url = postgres_url()?;
                Some(Self::create_postgres(server_url).await)
            }
        }
    }

    fn create_sqlite() -> TestDatabase {
        let dir = std::env::temp_dir().join(format!(
            "guidepost-test-{}-{}",
            std::process::id(),
            random_suffix()
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let url = format!("sqlite:{}", dir.join("guidepost.db").display());
        TestDatabase {
            url,
            backend: TestBackend::Sqlite,
            cleanup: Cleanup::Sqlite { dir },
        }
    }

    async fn create_postgres(server_url: String) -> TestDatabase {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let name = format!("gp_test_{}", random_suffix());
            match create_postgres_database(&server_url, &name).await {
                Ok(()) => {
                    let url = with_database(&server_url, &name);
                    return TestDatabase {
                        url,
                        backend: TestBackend::Postgres,
                        cleanup: Cleanup::Postgres { server_url, name },
                    };
                }
                // Concurrent CREATE DATABASE can fail transiently (e.g. the template
                // database busy); a few tries with fresh names ride that out.
                Err(e) if attempt < 5 => {
                    eprintln!(
                        "creating test database {name} failed (attempt {attempt}): {e}; retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => panic!(
                    "cannot create a PostgreSQL test database on {}: {e}",
                    redact(&server_url)
                ),
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::env::var(KEEP_DB_VAR).is_ok_and(|v| v != "0") {
            eprintln!("{KEEP_DB_VAR}: keeping test database {}", redact(&self.url));
            return;
        }
        match &self.cleanup {
            Cleanup::Sqlite { dir } => {
                // Open connections may still hold the files; on Unix removal works anyway.
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { server_url, name } => {
                drop_postgres_database(server_url.clone(), name.clone())
            }
        }
    }
}

async fn create_postgres_database(server_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect(server_url).await?;
    // `name` is ours: gp_test_ and lowercase alphanumerics, safe to quote as is.
    let created = sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    created.map(|_| ())
}

/// Drops the database from a thread of its own with its own runtime: `Drop` cannot be
/// async, and the test's runtime may be shutting down. Errors are reported, never
/// raised: a failed cleanup must not fail (or abort) a test.
fn drop_postgres_database(server_url: String, name: String) {
    let work = move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("cannot drop test database {name}: no runtime: {e}");
                return;
            }
        };
        runtime.block_on(async {
            let dropped = tokio::time::timeout(Duration::from_secs(30), async {
                let mut conn = PgConnection::connect(&server_url).await?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let result = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                let _ = conn.close().await;
                result.map(|_| ())
            })
            .await;
            match dropped {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("cannot drop test database {name}: {e}"),
                Err(_) => eprintln!("cannot drop test database {name}: timed out"),
            }
        });
    };
    match std::thread::Builder::new()
        .name("gp-test-dropdb".into())
        .spawn(work)
    {
        Ok(thread) => {
            let _ = thread.join();
        }
        Err(e) => eprintln!("cannot drop a test database: no thread: {e}"),
    }
}

/// Sixteen random lowercase alphanumerics.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `url` with its database (path) replaced by `database`, keeping any query string.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    format!("{}/{database}{query}", &base[..path])
}

/// A URL with any password hidden, safe to print.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let user = url[scheme_end + 3..at].split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Writes tests once and runs each against every backend.
///
/// Every test function `async fn name(db: &TestDatabase)` becomes a module `name` holding
/// two `#[tokio::test]`s, `name::sqlite` and `name::postgres`, each with its own fresh
/// database. When `GUIDEPOST_TEST_POSTGRES_URL` is unset the PostgreSQL test fails in CI
/// and skips (counted) elsewhere, as [`require_environment`] says. The
/// runtime is multi-threaded (two workers), so tests can exercise real concurrency.
///
/// Two forms. Either the functions inside the macro:
///
/// ```ignore
/// backend_tests! {
///     /// Attributes (`#[ignore]`, doc comments) go on both generated tests.
///     async fn pings(db: &TestDatabase) {
///         let store = guidepost_store::connect(&db.url).await.unwrap();
///         store.ping().await.unwrap();
///     }
/// }
/// ```
///
/// or ordinary functions, named in a list — rustfmt formats these, which it cannot do
/// inside a macro's braces, so prefer this form for long suites:
///
/// ```ignore
/// async fn pings(db: &TestDatabase) { /* … */ }
/// async fn lists(db: &TestDatabase) { /* … */ }
///
/// backend_tests!(pings, #[ignore] lists);
/// ```
///
/// Filter by backend with `cargo test -- ::sqlite` or
/// `cargo nextest run -E 'test(/::postgres$/)'`.
#[macro_export]
macro_rules! backend_tests {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($db:ident : $db_ty:ty) $body:block
    )*) => {$(
        async fn $name($db: $db_ty) $body

        $crate::__backend_test_modules!($(#[$meta])* $name);
    )*};
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        $crate::__backend_test_modules!($(#[$meta])* $name);
    )+};
}

/// The two tests of one backend test function; see [`backend_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_test_modules {
    ($(#[$meta:meta])* $name:ident) => {
        mod $name {
            $(#[$meta])*
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::TestDatabase::create($crate::TestBackend::Sqlite).await;
                super::$name(&db).await;
            }

            $(#[$meta])*
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::TestDatabase::require_postgres().await else {
                    return;
                };
                super::$name(&db).await;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_of_a_url() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/gp_test_x",
            ),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/gp_test_x?sslmode=disable",
            ),
            ("postgres://u@h:5432", "postgres://u@h:5432/gp_test_x"),
            (
                "postgresql://h?sslmode=disable",
                "postgresql://h/gp_test_x?sslmode=disable",
            ),
        ];
        for (server, expected) in cases {
            assert_eq!(with_database(server, "gp_test_x"), expected, "{server}");
        }
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }

    #[test]
    fn sqlite_is_always_a_backend() {
        assert_eq!(backends().first(), Some(&TestBackend::Sqlite));
        assert_eq!(
            backends().contains(&TestBackend::Postgres),
            postgres_url().is_some()
        );
    }

    #[tokio::test]
    async fn sqlite_databases_are_unique_and_removed_on_drop() {
        let a = TestDatabase::create(TestBackend::Sqlite).await;
        let b = TestDatabase::create(TestBackend::Sqlite).await;
        assert_ne!(a.url, b.url);
        assert!(
            a.url.starts_with("sqlite:/") && a.url.ends_with("/guidepost.db"),
            "{}",
            a.url
        );
        let Cleanup::Sqlite { dir } = &a.cleanup else {
            unreachable!()
        };
        let dir = dir.clone();
        assert!(dir.is_dir());
        drop(a);
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn postgres_databases_are_created_and_dropped() {
        let Some(db) = TestDatabase::require_postgres().await else {
            return;
        };
        let server_url = postgres_url().expect("set, since the database was created");
        let name = db.url.rsplit('/').next().unwrap().to_owned();
        assert!(name.starts_with("gp_test_"), "{}", db.url);
        let mut conn = PgConnection::connect(&db.url)
            .await
            .expect("the new database accepts connections");
        sqlx::raw_sql("CREATE TABLE t (x INT)")
            .execute(&mut conn)
            .await
            .unwrap();
        // Left open on purpose: dropping must force it closed.
        drop(db);
        let mut admin = PgConnection::connect(&server_url).await.unwrap();
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        assert!(!exists, "{name} should have been dropped");
        drop(conn);
    }
}
