#!/usr/bin/env bash
# Measures GET /webhooks's queries (api/src/webhooks.rs) on a table of millions: creates a
# scratch database, migrates it, fills it with generate_series SQL (WEBHOOKS webhooks,
# about 2 deliveries each: 5 spaces, 20 event types, 50 subscriptions, 80 % fan-out, ~2 %
# failed, the newest ones in flight, 1 % with no subscriber, and one rare subscription
# that gets one webhook in 5,000), runs every query shape with
# EXPLAIN (ANALYZE, BUFFERS), prints a table of timings, then drops the database.
# Full plans go to target/explain-webhook-search.txt.
#
#   scripts/explain-webhook-search.sh            # 1,000,000 webhooks
#   WEBHOOKS=100000 scripts/explain-webhook-search.sh
#
# The query text below is the shape api/src/webhooks.rs builds (filters present only,
# status as EXISTS / NOT EXISTS on deliveries, statuses written as literals, a
# subscription's webhooks walked from its deliveries: `@at` in a shape is the column
# the window and the order are on, `@id` the webhook id the probes use).
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
export PGHOST PGUSER
WEBHOOKS=${WEBHOOKS:-1000000}
DB=hookrelay_explain_$$
OUT=target/explain-webhook-search.txt
mkdir -p target
psql() { command psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

createdb "$DB"
[ -n "${KEEP_DB:-}" ] || trap 'dropdb --if-exists "$DB"' EXIT
for up in migrations/*/up.sql; do psql -f "$up" >/dev/null; done

echo "filling $DB with $WEBHOOKS webhooks…" >&2
psql <<SQL
SELECT setseed(0.42);
CREATE TEMP TABLE spaces AS
  SELECT n, CASE WHEN n = 0 THEN NULL ELSE md5('tenant' || n)::uuid END AS tenant_id
  FROM generate_series(0, 4) n;
CREATE TEMP TABLE subs AS
  SELECT n, md5('sub' || n)::uuid AS id FROM generate_series(0, 49) n;
-- i = 1 is the oldest; one webhook a second.
INSERT INTO webhooks (id, event_type, subscription_id, payload, received_at, tenant_id)
SELECT md5('wh' || i)::uuid,
       'event.' || abs(hashint4(i) % 20),
       CASE WHEN i % 5 = 0 THEN (SELECT id FROM subs WHERE n = i % 50) END,
       '\x7b7d'::bytea,
       timestamptz '2026-11-01 00:00:00Z' + i * interval '1 second',
       (SELECT tenant_id FROM spaces WHERE n = i % 5)
FROM generate_series(1, $WEBHOOKS) i;
-- Targeted: one delivery; fan-out: 2 (3 for every fourth), none for 1 %.
INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts,
                        updated_at, next_retry_at, received_at)
SELECT md5('wh' || i)::uuid, s.id, 'http://127.0.0.1/', st.status,
       CASE WHEN st.status = 'pending' THEN 0 ELSE 1 END,
       timestamptz '2026-11-01 00:00:00Z' + i * interval '1 second',
       CASE WHEN st.status = 'retrying' THEN now() END,
       timestamptz '2026-11-01 00:00:00Z' + i * interval '1 second'
FROM generate_series(1, $WEBHOOKS) i
CROSS JOIN LATERAL generate_series(0,
  CASE WHEN i % 5 = 0 THEN 0 WHEN i % 100 = 1 THEN -1 WHEN i % 4 = 0 THEN 2 ELSE 1 END) k
JOIN subs s ON s.n = CASE WHEN i % 5 = 0 THEN abs(hashint4(i) % 50)
                          ELSE (abs(hashint4(i + 7)) + k * 17) % 50 END
CROSS JOIN LATERAL (SELECT CASE
    WHEN i > $WEBHOOKS - 2000 THEN (ARRAY['pending', 'retrying', 'succeeded'])[1 + (i + k) % 3]
    WHEN random() < 0.013 THEN 'failed'
    ELSE 'succeeded' END AS status) st;
-- The rare subscription: every 5,000th fan-out webhook as well, ~2 % failed.
INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts,
                        updated_at, received_at)
SELECT md5('wh' || i)::uuid, md5('rare')::uuid, 'http://127.0.0.1/',
       CASE WHEN i % 250000 = 3 THEN 'failed' ELSE 'succeeded' END, 1,
       timestamptz '2026-11-01 00:00:00Z' + i * interval '1 second',
       timestamptz '2026-11-01 00:00:00Z' + i * interval '1 second'
FROM generate_series(1, $WEBHOOKS - 2000) i WHERE i % 5000 = 3;
-- What the log writer marks when it stores a webhook without deliveries.
UPDATE webhooks w SET no_subscribers = true
WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id);
VACUUM ANALYZE webhooks;
VACUUM ANALYZE deliveries;
SQL
psql -Atc "SELECT 'webhooks: ' || count(*) FROM webhooks" >&2
psql -Atc "SELECT 'deliveries: ' || count(*) || ', failed: ' || count(*) FILTER (WHERE status = 'failed') || ', unfinished: ' || count(*) FILTER (WHERE status IN ('pending', 'retrying')) FROM deliveries" >&2

TENANT="'$(psql -Atc "SELECT md5('tenant1')::uuid")'"
SUB="'$(psql -Atc "SELECT md5('sub7')::uuid")'"
RARE="'$(psql -Atc "SELECT md5('rare')::uuid")'"
EVENT="'event.3'"
SINCE="'2026-11-04 00:00:00Z'"
UNTIL="'2026-11-06 00:00:00Z'"
sub="s.subscription_id = $SUB"
rare="s.subscription_id = $RARE"
failed="EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = @id AND d.status IN ('failed')) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = @id AND d.status NOT IN ('succeeded', 'failed'))"
delivered="EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = @id AND d.status IN ('succeeded')) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = @id AND d.status NOT IN ('succeeded'))"
delivering="EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = @id AND d.status IN ('pending', 'retrying'))"
none="w.no_subscribers AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = @id)"
window="@at >= $SINCE AND @at < $UNTIL"

# name|condition|skip; a condition on s walks that subscription's deliveries.
shapes=(
  "none|TRUE"
  "tenant|w.tenant_id = $TENANT"
  "event_type|w.event_type = $EVENT"
  "status=failed|$failed"
  "status=delivered|$delivered"
  "status=delivering|$delivering"
  "status=no_subscribers|$none"
  "subscription_id|$sub"
  "subscription_id (rare)|$rare"
  "since|@at >= $SINCE"
  "until|@at < $UNTIL"
  "since+until|$window"
  "status=failed+subscription_id|$sub AND $failed"
  "status=failed+subscription_id (rare)|$rare AND $failed"
  "status=no_subscribers+tenant|w.tenant_id = $TENANT AND $none"
  "status=no_subscribers+event_type|w.event_type = $EVENT AND $none"
  "event_type+since+until|w.event_type = $EVENT AND $window"
  "subscription_id+since+until|$sub AND $window"
  "all filters|$sub AND w.event_type = $EVENT AND $window AND $failed"
  "tenant+event_type|w.tenant_id = $TENANT AND w.event_type = $EVENT"
  "tenant+status=failed|w.tenant_id = $TENANT AND $failed"
  "tenant+status=failed+subscription_id|$sub AND w.tenant_id = $TENANT AND $failed"
  "tenant+all filters|$sub AND w.tenant_id = $TENANT AND w.event_type = $EVENT AND $window AND $failed"
  "none, skip 10000|TRUE|10000"
)

: >"$OUT"
printf '%-40s %8s %10s %6s\n' "query shape (limit 100)" "ms" "buffers" "rows"
for shape in "${shapes[@]}"; do
  IFS='|' read -r name where skip <<<"$shape"
  if [[ $where == *s.subscription_id* ]]; then
    from="deliveries s JOIN webhooks w ON w.id = s.webhook_id" at=s.received_at id=s.webhook_id
  else
    from="webhooks w" at=w.received_at id=w.id
  fi
  where=${where//@at/$at} where=${where//@id/$id}
  sql="SELECT w.id, w.tenant_id, w.event_type, w.received_at, w.subscription_id,
         ARRAY(SELECT d.status FROM deliveries d WHERE d.webhook_id = w.id) AS statuses
       FROM $from WHERE $where
       ORDER BY $at DESC, $id DESC OFFSET ${skip:-0} LIMIT 100"
  # As api/src/webhooks.rs runs it: without parallel workers.
  serial="SET max_parallel_workers_per_gather = 0;"
  psql -Atc "$serial $sql" >/dev/null # warm the cache as a running service has it
  plan=$(psql -Atc "$serial EXPLAIN (ANALYZE, BUFFERS) $sql")
  { echo "== $name"; echo "$plan"; echo; } >>"$OUT"
  ms=$(sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p' <<<"$plan")
  buffers=$(sed -n '0,/Buffers: shared/s/.*Buffers: shared hit=\([0-9]*\).*/\1/p' <<<"$plan" | head -1)
  rows=$(sed -n '1s/.*actual time=[0-9.]*\.\.[0-9.]* rows=\([0-9]*\).*/\1/p' <<<"$plan")
  printf '%-40s %8s %10s %6s\n' "$name" "$ms" "${buffers:-?}" "${rows:-?}"
done
echo "plans: $OUT" >&2
