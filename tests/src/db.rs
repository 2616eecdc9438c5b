//! One database per test, cloned from a template that is migrated once per set of
//! migrations (its name carries a hash of `migrations/`), and dropped when the test ends.

use std::path::Path;

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use hookrelay_shared::db::{DbPool, run_migrations};
use sha2::{Digest, Sha256};

pub struct TestDb {
    pub name: String,
    pub url: String,
    pool: std::sync::OnceLock<DbPool>,
}

fn migrations_hash() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(
            file.strip_prefix(&dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update(std::fs::read(&file).unwrap_or_default());
    }
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path))
        } else {
            out.push(path)
        }
    }
    out
}

/// Connects to the server's maintenance database, waiting briefly.
async fn admin() -> AsyncPgConnection {
    let url = format!("{}/postgres", crate::postgres_server());
    AsyncPgConnection::establish(&url)
        .await
        .unwrap_or_else(|e| panic!("Postgres at {url} is unreachable (is it running?): {e}"))
}

/// Creates the template for the current migrations unless it exists. An advisory lock
/// serialises the test processes that race to create it.
async fn ensure_template(admin: &mut AsyncPgConnection) -> String {
    let template = format!("hookrelay_template_{}", migrations_hash());
    admin
        .batch_execute("SELECT pg_advisory_lock(7270736)")
        .await
        .expect("advisory lock");
    let exists: bool = {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{template}')"
        )))
        .get_result(admin)
        .await
        .expect("query pg_database")
    };
    if !exists {
        let building = format!("{template}_building");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
            .await
            .expect("drop stale template");
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await
            .expect("create template");
        let url = format!("{}/{building}", crate::postgres_server());
        tokio::task::spawn_blocking(move || run_migrations(&url))
            .await
            .expect("migration task")
            .expect("migrate the template");
        admin
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .await
            .expect("publish template");
    }
    admin
        .batch_execute("SELECT pg_advisory_unlock(7270736)")
        .await
        .expect("advisory unlock");
    template
}

impl TestDb {
    pub async fn create() -> Self {
        let mut admin = admin().await;
        let template = ensure_template(&mut admin).await;
        let name = format!("hookrelay_test_{}", uuid::Uuid::new_v4().simple());
        // Cloning fails while another session is connected to the template; that is only
        // ever another test's clone finishing, so try again briefly.
        let mut tries = 0;
        while let Err(e) = admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
        {
            tries += 1;
            assert!(tries < 50, "cannot clone the template database: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let url = format!("{}/{name}", crate::postgres_server());
        Self {
            name,
            url,
            pool: std::sync::OnceLock::new(),
        }
    }

    /// A pool onto this test's database, for inspecting and seeding rows.
    pub fn pool(&self) -> &DbPool {
        self.pool
            .get_or_init(|| hookrelay_shared::db::pool(&self.url, 4).expect("a pool"))
    }

    /// Runs `sql` (one statement or several) in this test's database; panics with the
    /// error and the SQL.
    pub async fn execute_sql(&self, sql: &str) {
        let mut conn = self.pool().get().await.expect("a connection");
        conn.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }

    /// The `n` of a query that selects one row with a bigint column `n`
    /// (`SELECT count(*) AS n FROM …`).
    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.pool().get().await.expect("a connection");
        diesel::sql_query(sql)
            .get_result::<Count>(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"))
            .n
    }
}

/// The row [`TestDb::count`] reads.
#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = format!("{}/postgres", crate::postgres_server());
        let name = self.name.clone();
        // Drop runs inside the test's runtime; the blocking wrapper needs its own thread.
        let _ = std::thread::spawn(move || {
            if let Ok(mut conn) =
                <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
            {
                let _ = diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                );
            }
        })
        .join();
    }
}
