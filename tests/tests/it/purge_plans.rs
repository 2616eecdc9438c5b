//! Each purge batch is cheap (CONTRACT §7: deliveries carry on while it runs): with a
//! table shaped like a running service's — 72 hours of rows, the oldest hour due — the
//! planner finds a batch through the indexes in `migrations/`, never by scanning a table.
//! Run with `--no-capture` to see the plans (copied into `docs/operations.md`).

use diesel::sql_types::Text;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use hookrelay_domain::webhooks::upkeep::{DELETE_OLD_ATTEMPTS, DELETE_OLD_WEBHOOKS};
use hookrelay_tests::TestEnv;
use hookrelay_worker::purge::BATCH_SIZE;

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text)]
    line: String,
}

/// EXPLAIN of one purge statement, with a 72-hour cutoff and the batch size filled in.
async fn plan(conn: &mut diesel_async::AsyncPgConnection, statement: &str) -> String {
    let sql = statement
        .replace("$1", "now() - interval '72 hours'")
        .replace("$2", &BATCH_SIZE.to_string());
    diesel::sql_query("SELECT pg_temp.plan($1) AS line")
        .bind::<Text, _>(sql)
        .load::<PlanLine>(conn)
        .await
        .expect("EXPLAIN")
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn each_purge_batch_is_found_through_an_index() {
    let env = TestEnv::new().await;
    let mut conn = env.db.pool().get().await.expect("a connection");
    // 73 hours of traffic, one hour past retention: ~1.4% of rows due, as with an hourly
    // purge. Finished deliveries everywhere but a few recent ones.
    conn.batch_execute(
        "INSERT INTO attempts SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'http://r.test/',
             now() - (g * interval '1 second') * 73 * 3600 / 100000, 1, 'Success', 200, NULL, 5, NULL, NULL
         FROM generate_series(1, 100000) g;
         INSERT INTO webhooks SELECT gen_random_uuid(), 'order.created', NULL, '\\x7b7d',
             now() - (g * interval '1 second') * 73 * 3600 / 50000
         FROM generate_series(1, 50000) g;
         INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts,
                                 last_status_code, updated_at, received_at)
         SELECT id, gen_random_uuid(), 'http://r.test/',
             CASE WHEN received_at > now() - interval '5 minutes' THEN 'pending' ELSE 'succeeded' END,
             1, 200, now(), received_at
         FROM webhooks;
         ANALYZE attempts; ANALYZE webhooks; ANALYZE deliveries;
         CREATE FUNCTION pg_temp.plan(statement text) RETURNS SETOF text LANGUAGE plpgsql AS $$
         BEGIN RETURN QUERY EXECUTE 'EXPLAIN ' || statement; END $$;",
    )
    .await
    .expect("seed");

    let attempts = plan(&mut conn, DELETE_OLD_ATTEMPTS).await;
    println!("-- attempts batch\n{attempts}\n");
    assert!(attempts.contains("attempts_timestamp_idx"), "{attempts}");
    assert!(!attempts.contains("Seq Scan"), "{attempts}");

    let webhooks = plan(&mut conn, DELETE_OLD_WEBHOOKS).await;
    println!("-- webhooks batch\n{webhooks}\n");
    assert!(webhooks.contains("webhooks_received_at_idx"), "{webhooks}");
    assert!(!webhooks.contains("Seq Scan"), "{webhooks}");
}
