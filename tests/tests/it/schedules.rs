//! Schedules (`/schedules`) through the real api and worker binaries: a cron schedule
//! observed minute by minute with two workers, a one-time schedule, trigger, pause and
//! resume, missed runs after downtime, a deleted subscription, workers killed while runs
//! fire, and the 422s.

use std::time::Duration;

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use hookrelay_tests::api::{json, text};
use hookrelay_tests::worker::WorkerProcess;
use hookrelay_tests::{Receiver, TestApi, TestEnv, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn create(api: &TestApi, body: &Value) -> (u16, Value) {
    json(api.post_json("/schedules", body).await).await
}

async fn schedule(api: &TestApi, id: &str) -> Value {
    let (status, body) = json(api.get(&format!("/schedules/{id}")).await).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The schedule's `last_webhook_id` once it has one.
async fn shown_webhook(api: &TestApi, id: &str) -> Option<String> {
    eventually(WAIT, "the schedule's last webhook", || async {
        schedule(api, id).await["last_webhook_id"]
            .as_str()
            .map(|w| Some(w.to_owned()))
    })
    .await
}

fn in_seconds(seconds: i64) -> String {
    hookrelay_shared::time::format(&(Utc::now() + chrono::Duration::seconds(seconds)))
}

/// Sets a schedule's next tick, as if the workers had been down since then.
async fn set_next_run_at(env: &TestEnv, id: &str, at: DateTime<Utc>) {
    use diesel_async::RunQueryDsl;
    let mut conn = env.db.pool().get().await.expect("a connection");
    diesel::sql_query("UPDATE schedules SET next_run_at = $1 WHERE id = $2::uuid")
        .bind::<diesel::sql_types::Timestamptz, _>(at)
        .bind::<diesel::sql_types::Text, _>(id)
        .execute(&mut conn)
        .await
        .expect("set next_run_at");
}

#[tokio::test]
async fn a_cron_schedule_runs_once_a_minute_with_two_workers() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _workers = [WorkerProcess::spawn(&env), WorkerProcess::spawn(&env)];
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let (status, created) = create(
        &api,
        &json!({"name": "every minute", "subscription_id": sub["id"], "event_type": "tick",
                "payload": {"hello": "world"}, "kind": "cron", "cron": "* * * * *"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = text(&created, "id");
    assert_eq!(created["is_active"], true);
    assert_eq!(created["run_count"], 0);

    // Two minutes: two runs, each in the first second of its minute, and not a second
    // run of the same tick (it would arrive within moments of the first).
    let mut runs = Vec::new();
    for _ in 0..2 {
        let got = receiver.next(Duration::from_secs(75)).await;
        assert_eq!(got.body.as_ref(), br#"{"hello":"world"}"#);
        assert_eq!(
            got.at.second(),
            0,
            "arrived at {}, more than a second after its minute",
            got.at
        );
        receiver
            .assert_quiet_for(Duration::from_secs(5), "a second run of the same tick")
            .await;
        runs.push(got);
    }
    assert_ne!(runs[0].at.minute(), runs[1].at.minute());
    let ids: Vec<_> = runs.iter().map(|r| r.header("webhook-id")).collect();
    assert_ne!(ids[0], ids[1]);

    let (_, listed) = json(api.get(&format!("/schedules/{id}/runs")).await).await;
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    for run in listed {
        let due = hookrelay_shared::time::parse(text(run, "scheduled_for")).expect("a time");
        let started = hookrelay_shared::time::parse(text(run, "started_at")).expect("a time");
        assert_eq!(due.second(), 0, "{run}");
        assert!(started - due < chrono::Duration::seconds(1), "{run}");
    }
    let shown = schedule(&api, id).await;
    assert_eq!(shown["run_count"], 2, "{shown}");
    assert_eq!(shown["last_webhook_id"], listed[0]["webhook_id"]);
    // Each run is an ordinary webhook: /status and GET /webhooks know it.
    let webhook = text(&listed[0], "webhook_id");
    eventually(WAIT, "the run's webhook to be delivered", || async {
        let (_, status) = json(api.get(&format!("/status/{webhook}")).await).await;
        (status["status"] == "delivered").then_some(())
    })
    .await;
    let (_, found) = json(api.get("/webhooks?event_type=tick").await).await;
    assert!(
        found
            .as_array()
            .expect("a list")
            .iter()
            .any(|w| w["webhook_id"] == webhook)
    );
}

#[tokio::test]
async fn a_once_schedule_runs_at_its_time_then_is_inactive() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = WorkerProcess::spawn(&env);
    let _sub = api
        .create_subscription(&json!({"target_url": receiver.url, "events": ["report.*"]}))
        .await;
    let run_at = in_seconds(3);
    let (status, created) = create(
        &api,
        &json!({"name": "once", "event_type": "report.ready", "payload": [1, 2],
                "kind": "once", "run_at": run_at}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["next_run_at"], created["run_at"]);
    let id = text(&created, "id");
    let got = receiver.next(WAIT).await;
    let due = hookrelay_shared::time::parse(&run_at).expect("a time");
    assert!(got.at >= due, "ran at {} before {due}", got.at);
    assert!(
        got.at - due < chrono::Duration::seconds(1),
        "ran at {}",
        got.at
    );
    assert_eq!(got.body.as_ref(), b"[1,2]");
    assert_eq!(
        got.header("webhook-id"),
        shown_webhook(&api, id).await.as_deref()
    );
    let shown = eventually(WAIT, "the schedule to be done", || async {
        let shown = schedule(&api, id).await;
        (shown["is_active"] == false).then_some(shown)
    })
    .await;
    assert_eq!(shown["run_count"], 1);
    assert_eq!(shown["next_run_at"], Value::Null);
    receiver
        .assert_quiet_for(Duration::from_secs(2), "a once schedule ran again")
        .await;
    // Its time has passed: it cannot be resumed.
    let (status, body) = json(
        api.post_json(&format!("/schedules/{id}/resume"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn trigger_pause_resume_and_a_deleted_subscription() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let _worker = WorkerProcess::spawn(&env);
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let (_, created) = create(
        &api,
        &json!({"name": "daily", "subscription_id": sub["id"], "payload": {"n": 1},
                "kind": "cron", "cron": "0 9 * * *", "timezone": "Europe/Paris"}),
    )
    .await;
    let id = text(&created, "id").to_owned();
    let path = |action: &str| format!("/schedules/{id}/{action}");

    let (status, triggered) = json(api.post_json(&path("trigger"), &json!({})).await).await;
    assert_eq!(status, 202, "{triggered}");
    let got = receiver.next(WAIT).await;
    assert_eq!(got.header("webhook-id"), triggered["webhook_id"].as_str());
    let shown = schedule(&api, &id).await;
    assert_eq!(shown["run_count"], 1);
    assert_eq!(shown["last_webhook_id"], triggered["webhook_id"]);
    assert_eq!(
        shown["next_run_at"], created["next_run_at"],
        "a trigger is outside the timetable"
    );

    let (status, paused) = json(api.post_json(&path("pause"), &json!({})).await).await;
    assert_eq!((status, paused["is_active"].clone()), (200, json!(false)));
    let (status, _) = json(api.post_json(&path("pause"), &json!({})).await).await;
    assert_eq!(status, 409);
    let (status, resumed) = json(api.post_json(&path("resume"), &json!({})).await).await;
    assert_eq!((status, resumed["is_active"].clone()), (200, json!(true)));
    let (status, _) = json(api.post_json(&path("resume"), &json!({})).await).await;
    assert_eq!(status, 409);

    // PATCH recomputes the next tick.
    let (status, patched) = json(
        api.patch_json(
            &format!("/schedules/{id}"),
            &json!({"cron": "30 14 * * *", "timezone": "UTC"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    let next = hookrelay_shared::time::parse(text(&patched, "next_run_at")).expect("a time");
    assert_eq!((next.hour(), next.minute()), (14, 30));

    // Its subscription deleted: a run ends failed, and the schedule keeps its timetable.
    let sub_id = text(&sub, "id");
    assert_eq!(
        api.delete(&format!("/subscriptions/{sub_id}"))
            .await
            .status(),
        204
    );
    let (_, triggered) = json(api.post_json(&path("trigger"), &json!({})).await).await;
    let webhook = text(&triggered, "webhook_id");
    let status = eventually(WAIT, "the run to fail", || async {
        let (_, status) = json(api.get(&format!("/status/{webhook}")).await).await;
        (status["status"] == "failed").then_some(status)
    })
    .await;
    assert_eq!(status["deliveries"][0]["error"], "subscription deleted");
    let shown = schedule(&api, &id).await;
    assert_eq!(
        (shown["is_active"].clone(), shown["next_run_at"].clone()),
        (json!(true), patched["next_run_at"].clone())
    );

    assert_eq!(api.delete(&format!("/schedules/{id}")).await.status(), 204);
    assert_eq!(api.get(&format!("/schedules/{id}")).await.status(), 404);
}

#[tokio::test]
async fn after_downtime_run_once_runs_one_missed_tick_and_skip_none() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let mut ids = Vec::new();
    for policy in ["run_once", "skip"] {
        let (status, created) = create(
            &api,
            &json!({"name": policy, "subscription_id": sub["id"], "payload": {"policy": policy},
                    "kind": "cron", "cron": "0 0 1 1 *", "missed_runs": policy}),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let id = text(&created, "id").to_owned();
        // No worker ran for two years: the last two New Year's runs went by, the newest
        // months ago.
        let two_years_ago =
            hookrelay_shared::time::parse(&format!("{}-01-01T00:00:00Z", Utc::now().year() - 2))
                .expect("a time");
        set_next_run_at(&env, &id, two_years_ago).await;
        ids.push(id);
    }
    let _worker = WorkerProcess::spawn(&env);
    let got = receiver.next(WAIT).await;
    assert_eq!(got.body.as_ref(), br#"{"policy":"run_once"}"#);
    receiver
        .assert_quiet_for(
            Duration::from_secs(2),
            "more than the one missed run was made up",
        )
        .await;
    for (id, runs) in ids.iter().zip([1, 0]) {
        let shown = eventually(WAIT, "the schedule to move on", || async {
            let shown = schedule(&api, id).await;
            let next = hookrelay_shared::time::parse(shown["next_run_at"].as_str()?).ok()?;
            (next > Utc::now()).then_some(shown)
        })
        .await;
        assert_eq!(shown["run_count"], runs, "{shown}");
    }
}

#[tokio::test]
async fn workers_killed_while_runs_fire_lose_and_double_nothing() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let api = env.spawn_api().await;
    let sub = api
        .create_subscription(&json!({"target_url": receiver.url}))
        .await;
    let count = 200;
    let run_at = in_seconds(10);
    for n in 0..count {
        let (status, body) = create(
            &api,
            &json!({"name": format!("s{n}"), "subscription_id": sub["id"], "payload": {"n": n},
                    "kind": "once", "run_at": run_at}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut first = WorkerProcess::spawn(&env);
    let _second = WorkerProcess::spawn(&env);
    // Kill one worker as the runs start firing (the first run is committed), then start
    // another.
    eventually(WAIT, "the first run to fire", || async {
        let fired = env
            .db
            .count("SELECT count(*) AS n FROM schedules WHERE run_count > 0")
            .await;
        (fired > 0).then_some(())
    })
    .await;
    first.kill().await;
    let _third = WorkerProcess::spawn(&env);
    // Every schedule ran once: one webhook each. A delivery the kill cut short may be
    // sent again (at least once), but only as the same webhook, never as a second run.
    let mut webhooks = std::collections::BTreeMap::new();
    while webhooks.len() < count {
        let got = receiver.next(WAIT).await;
        let body: Value = serde_json::from_slice(&got.body).expect("JSON");
        let n = body["n"].as_i64().expect("n");
        let webhook = got.header("webhook-id").expect("a webhook id").to_owned();
        let first = webhooks.entry(n).or_insert_with(|| webhook.clone());
        assert_eq!(*first, webhook, "schedule {n} ran twice");
    }
    let (_, listed) = json(api.get("/schedules?limit=1000").await).await;
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), count);
    for shown in listed {
        assert_eq!(
            (shown["run_count"].clone(), shown["is_active"].clone()),
            (json!(1), json!(false)),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn bad_schedules_are_422s_naming_the_field_and_unknown_subscriptions_404() {
    let mut env = TestEnv::new().await;
    env.set("MAX_PAYLOAD_BYTES", Some("64"));
    let api = env.spawn_api().await;
    let base =
        json!({"name": "n", "event_type": "e", "payload": {}, "kind": "cron", "cron": "* * * * *"});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (k, v) in extra.as_object().expect("an object") {
            body[k] = v.clone();
        }
        body
    };
    for (body, field) in [
        (with(json!({"cron": "* * * * * *"})), "cron"),
        (with(json!({"cron": "61 * * * *"})), "cron"),
        (with(json!({"cron": "* * 31 2 *"})), "cron"),
        (with(json!({"timezone": "Mars/Base"})), "timezone"),
        (
            with(json!({"kind": "once", "cron": null, "run_at": "2020-01-01T00:00:00Z"})),
            "run_at",
        ),
        (
            with(json!({"payload": {"text": "x".repeat(100)}})),
            "payload",
        ),
        (with(json!({"kind": "hourly"})), "kind"),
    ] {
        let (status, refused) = create(&api, &body).await;
        assert_eq!(status, 422, "{body} → {refused}");
        assert_eq!(
            refused["detail"][0]["loc"],
            json!(["body", field]),
            "{refused}"
        );
    }
    let (_, never) = create(&api, &with(json!({"cron": "* * 31 2 *"}))).await;
    assert!(
        text(&never["detail"][0], "msg").contains("never runs"),
        "{never}"
    );
    let (status, _) = create(
        &api,
        &with(json!({"subscription_id": uuid::Uuid::new_v4().to_string()})),
    )
    .await;
    assert_eq!(status, 404);
    let unknown = format!("/schedules/{}", uuid::Uuid::new_v4());
    assert_eq!(api.get(&unknown).await.status(), 404);
    assert_eq!(
        api.post_json(&format!("{unknown}/trigger"), &json!({}))
            .await
            .status(),
        404
    );
}
