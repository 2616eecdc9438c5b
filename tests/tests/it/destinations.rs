//! Destinations beyond HTTP (CONTRACT §15), end to end: a subscription per type, a
//! webhook ingested through the api, and what arrived read back with the broker's own
//! client — the exact bytes, the metadata, and a signature that verifies. Then each
//! family of failure: a broker that is down, a message with nowhere to go, a broker
//! restarted mid-run, and configuration the api refuses.

use std::time::Duration;

use hookrelay_shared::signing;
use hookrelay_tests::api::json;
use hookrelay_tests::brokers::{
    AMQP_URL, MQTT_URL, NATS_URL, PrivateServer, free_port, header, tool, unique, verify,
};
use hookrelay_tests::worker::{WorkerProcess, attempts, finished_deliveries, spawn_worker};
use hookrelay_tests::{Receiver, TestEnv, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

/// A Redis stream entry: its id and its fields.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

/// A body whose bytes any re-serialisation would change.
const BODY: &str = "{ \"order\": 7,\n  \"note\": \"caf\u{e9}\" }";

/// Creates a subscription to `destination` with a fresh whsec_ secret; its id and secret.
async fn subscribe(api: &hookrelay_tests::api::TestApi, destination: Value) -> (String, String) {
    let secret = signing::generate_secret();
    let id = api
        .create_subscription_id(&json!({"destination": destination, "secret": secret}))
        .await;
    (id, secret)
}

/// Ingests [`BODY`] for subscription `id` with event type `order.paid`.
async fn send(api: &hookrelay_tests::api::TestApi, id: &str) -> Uuid {
    api.ingest_accepted(
        &format!("/ingest/{id}"),
        &[("x-event-type", "order.paid")],
        BODY,
    )
    .await
}

/// The delivery's attempts once it finished, asserting it succeeded in one attempt whose
/// `target_url` is `locator`; the ack the destination gave.
async fn delivered(env: &TestEnv, webhook_id: Uuid, locator: &str) -> String {
    let rows = finished_deliveries(env, webhook_id, WAIT).await;
    let tried = attempts(env, webhook_id).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].attempts),
        ("succeeded", 1),
        "{tried:?}"
    );
    assert_eq!(tried[0].target_url, locator);
    assert_eq!(tried[0].status_code, None);
    tried[0].response_body.clone().unwrap_or_default()
}

/// Subscribes to `destination`, sends one webhook, asserts its delivery ends `failed`, and
/// returns the first attempt's error.
async fn first_error_of_a_failed_delivery(
    env: &TestEnv,
    api: &hookrelay_tests::api::TestApi,
    destination: Value,
) -> String {
    let (id, _) = subscribe(api, destination).await;
    let lost = send(api, &id).await;
    assert_eq!(
        finished_deliveries(env, lost, WAIT).await[0].status,
        "failed"
    );
    attempts(env, lost).await[0]
        .error
        .clone()
        .unwrap_or_default()
}

/// The metadata every destination carries, checked against the webhook.
fn assert_metadata(headers: &[(String, String)], webhook_id: Uuid, secret: &str) {
    assert_eq!(
        header(headers, "webhook-id"),
        Some(webhook_id.to_string().as_str())
    );
    assert_eq!(header(headers, "x-event-type"), Some("order.paid"));
    assert_eq!(header(headers, "user-agent"), None, "HTTP only");
    verify(secret, BODY.as_bytes(), headers);
}

#[tokio::test]
async fn rabbitmq_gets_one_confirmed_message_and_unroutable_ones_fail() {
    use lapin::options::{BasicGetOptions, QueueDeclareOptions};
    use lapin::types::{AMQPValue, FieldTable};
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let amqp = lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (scripts/services.sh starts it)");
    let channel = amqp.create_channel().await.expect("a channel");
    let queue = unique("hookrelay-test");
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare the test's queue");
    let (id, secret) = subscribe(
        &api,
        json!({"type": "rabbitmq", "url": AMQP_URL, "routing_key": queue}),
    )
    .await;

    // Reads mask the password; target_url is null.
    let (_, got) = json(api.get(&format!("/subscriptions/{id}")).await).await;
    assert_eq!(got["target_url"], Value::Null);
    assert_eq!(
        got["destination"],
        json!({"type": "rabbitmq", "url": "amqp://guest:***@127.0.0.1:5672/%2f", "exchange": "", "routing_key": queue})
    );

    let webhook_id = send(&api, &id).await;
    let locator = format!("amqp://guest:***@127.0.0.1:5672/%2f//{queue}");
    let ack = delivered(&env, webhook_id, &locator).await;
    assert_eq!(ack, "confirmed by RabbitMQ");
    let message = channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
        .expect("the message is in the queue");
    let delivery = message.delivery;
    assert_eq!(delivery.data, BODY.as_bytes());
    let properties = &delivery.properties;
    assert_eq!(
        properties.message_id().as_ref().map(|m| m.as_str()),
        Some(webhook_id.to_string().as_str())
    );
    assert_eq!(
        properties.content_type().as_ref().map(|c| c.as_str()),
        Some("application/json")
    );
    let mut headers: Vec<(String, String)> = properties
        .headers()
        .as_ref()
        .expect("a headers table")
        .inner()
        .iter()
        .filter_map(|(name, value)| match value {
            AMQPValue::LongString(v) => Some((
                name.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        header(&headers, "content-type"),
        None,
        "a property, not a header"
    );
    assert_eq!(
        properties.timestamp().map(|t| t.to_string()),
        header(&headers, "webhook-timestamp").map(str::to_owned)
    );
    headers.push(("content-type".into(), "application/json".into()));
    assert_metadata(&headers, webhook_id, &secret);

    // The status API shows the same locator.
    let status = api.webhook_status(webhook_id).await;
    assert_eq!(status["deliveries"][0]["target_url"], json!(locator));

    // No queue bound to the routing key: the broker returns the message, a failed attempt.
    let (nowhere, _) = subscribe(
        &api,
        json!({"type": "rabbitmq", "url": AMQP_URL, "routing_key": unique("nobody-listens")}),
    )
    .await;
    let lost = send(&api, &nowhere).await;
    let rows = finished_deliveries(&env, lost, WAIT).await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("failed", 3));
    let tried = attempts(&env, lost).await;
    assert!(tried.iter().all(|a| a.status_code.is_none()));
    let error = tried[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("unroutable") && error.contains("NO_ROUTE"),
        "{error}"
    );
}

#[tokio::test]
async fn nats_jetstream_acks_one_message_per_webhook_with_its_msg_id() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let client = async_nats::connect(NATS_URL)
        .await
        .expect("NATS on 127.0.0.1:4222 (scripts/services.sh starts it)");
    let jetstream = async_nats::jetstream::new(client);
    let name = unique("hookrelay-test");
    let subject = format!("{name}.orders");
    let stream = jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .expect("create the test's stream");
    let (id, secret) = subscribe(
        &api,
        json!({"type": "nats", "url": NATS_URL, "subject": subject}),
    )
    .await;
    let webhook_id = send(&api, &id).await;
    let ack = delivered(&env, webhook_id, &format!("{NATS_URL}/{subject}")).await;
    assert_eq!(ack, format!("stream {name} seq 1"));
    let message = stream
        .get_last_raw_message_by_subject(&subject)
        .await
        .expect("the message is in the stream");
    assert_eq!(message.payload.as_ref(), BODY.as_bytes());
    let headers: Vec<(String, String)> = [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-event-type",
        "content-type",
        "Nats-Msg-Id",
    ]
    .iter()
    .filter_map(|name| {
        let value = message.headers.get(*name)?;
        Some(((*name).to_owned(), value.as_str().to_owned()))
    })
    .collect();
    assert_eq!(
        header(&headers, "Nats-Msg-Id"),
        Some(webhook_id.to_string().as_str())
    );
    assert_metadata(&headers, webhook_id, &secret);

    // A subject no stream captures: no PubAck, a failed attempt that says why.
    let error = first_error_of_a_failed_delivery(
        &env,
        &api,
        json!({"type": "nats", "url": NATS_URL, "subject": unique("no-stream")}),
    )
    .await;
    assert!(error.starts_with("NATS publish failed"), "{error}");
    jetstream.delete_stream(&name).await.expect("clean up");
}

#[tokio::test]
async fn kafka_gets_a_record_keyed_by_the_webhook_with_headers() {
    use rdkafka::Message as _;
    use rdkafka::consumer::{Consumer as _, StreamConsumer};
    use rdkafka::message::Headers as _;
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("librdkafka's mock cluster");
    let topic = unique("hookrelay-test");
    cluster
        .create_topic(&topic, 1, 1)
        .expect("create the topic");
    let brokers = cluster.bootstrap_servers();
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let (id, secret) = subscribe(
        &api,
        json!({"type": "kafka", "brokers": brokers.split(',').collect::<Vec<_>>(), "topic": topic}),
    )
    .await;
    let webhook_id = send(&api, &id).await;
    let ack = delivered(&env, webhook_id, &format!("kafka://{brokers}/{topic}")).await;
    assert_eq!(ack, "partition 0 offset 0");

    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("a consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let record = tokio::time::timeout(WAIT, consumer.recv())
        .await
        .expect("a record within the wait")
        .expect("a record");
    assert_eq!(record.payload(), Some(BODY.as_bytes()));
    assert_eq!(record.key(), Some(webhook_id.to_string().as_bytes()));
    let headers: Vec<(String, String)> = record
        .headers()
        .expect("record headers")
        .iter()
        .map(|h| {
            (
                h.key.to_owned(),
                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_metadata(&headers, webhook_id, &secret);
}

#[tokio::test]
async fn redis_streams_get_an_entry_and_test_sends_and_replays_work_too() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let mut redis = env.redis().await;
    let stream = unique("hookrelay-test-stream");
    let () = redis::cmd("XGROUP")
        .arg(&["CREATE", stream.as_str(), "readers", "$", "MKSTREAM"][..])
        .query_async(&mut redis)
        .await
        .expect("create the test's stream");
    let url = hookrelay_tests::redis_url();
    let (id, secret) =
        subscribe(&api, json!({"type": "redis", "url": url, "stream": stream})).await;
    let webhook_id = send(&api, &id).await;
    let ack = delivered(&env, webhook_id, &format!("{url}/{stream}")).await;
    assert!(ack.starts_with("stream entry "), "{ack}");

    let read = |redis: &mut redis::aio::MultiplexedConnection| {
        let stream = stream.clone();
        let mut redis = redis.clone();
        async move {
            let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
                .arg(&[stream.as_str(), "-", "+"][..])
                .query_async(&mut redis)
                .await
                .expect("XRANGE");
            entries
        }
    };
    let entries = read(&mut redis).await;
    assert_eq!(entries.len(), 1);
    let fields = &entries[0].1;
    assert_eq!(fields[0], ("body".to_owned(), BODY.as_bytes().to_vec()));
    let headers: Vec<(String, String)> = fields[1..]
        .iter()
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    assert_metadata(&headers, webhook_id, &secret);

    // The test send and a replay go the same way.
    let (status, _) = json(
        api.post_json(&format!("/subscriptions/{id}/test"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 202);
    let (status, body) = json(
        api.post_json(
            &format!("/webhooks/{webhook_id}/replay"),
            &json!({"include_succeeded": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let entries = eventually(WAIT, "the test send and the replay in the stream", || {
        let read = read(&mut redis);
        async move { Some(read.await).filter(|e| e.len() == 3) }
    })
    .await;
    let ids: Vec<String> = entries
        .iter()
        .map(|(_, fields)| {
            let id = fields.iter().find(|(n, _)| n == "webhook-id").expect("id");
            String::from_utf8_lossy(&id.1).into_owned()
        })
        .collect();
    assert_eq!(ids[0], webhook_id.to_string());
    assert_eq!(
        ids[2],
        webhook_id.to_string(),
        "the replay is the same webhook"
    );

    // A stream that does not exist is not created: a failed attempt.
    let missing = unique("hookrelay-test-missing");
    let error = first_error_of_a_failed_delivery(
        &env,
        &api,
        json!({"type": "redis", "url": url, "stream": missing}),
    )
    .await;
    assert!(error.contains("does not exist"), "{error}");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&missing)
        .query_async(&mut redis)
        .await
        .expect("EXISTS");
    assert_eq!(exists, 0);
    let () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut redis)
        .await
        .expect("clean up");
}

#[tokio::test]
async fn a_stock_rq_worker_runs_the_job_with_the_payload_and_headers() {
    let Some(rq) = tool("RQ", "rq", "--version") else {
        return;
    };
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let dir = std::env::temp_dir().join(unique("hookrelay-rq"));
    std::fs::create_dir_all(&dir).expect("a module directory");
    std::fs::write(
        dir.join("hookrelay_probe.py"),
        "import json, os\n\
         def handle(payload, headers):\n\
         \x20   with open(os.environ['PROBE_OUT'], 'w') as f:\n\
         \x20       json.dump({'payload': payload, 'headers': headers}, f)\n",
    )
    .expect("write the job's module");
    let queue = unique("hookrelay-test");
    let url = hookrelay_tests::redis_url();
    let (id, secret) = subscribe(
        &api,
        json!({"type": "rq", "url": url, "queue": queue, "function": "hookrelay_probe.handle"}),
    )
    .await;
    let webhook_id = send(&api, &id).await;
    let ack = delivered(&env, webhook_id, &format!("{url}/rq:queue:{queue}")).await;
    assert_eq!(ack, format!("job {webhook_id} queued on {queue}"));

    let out = dir.join("out.json");
    let status = tokio::process::Command::new(&rq)
        .args([
            "worker",
            "--burst",
            "--serializer",
            "rq.serializers.JSONSerializer",
        ])
        .args(["--url", url.as_str(), "--path"])
        .arg(&dir)
        .arg(&queue)
        .env("PROBE_OUT", &out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .expect("rq worker runs");
    assert!(status.success());
    let ran: Value =
        serde_json::from_slice(&std::fs::read(&out).expect("the job ran and wrote its file"))
            .expect("json");
    assert_eq!(ran["payload"], json!(BODY));
    let headers: Vec<(String, String)> = ran["headers"]
        .as_object()
        .expect("an object of headers")
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_metadata(&headers, webhook_id, &secret);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[tokio::test]
async fn s3_gets_an_object_with_the_metadata() {
    let Some(moto) = tool("MOTO_SERVER", "moto_server", "--help") else {
        return;
    };
    hookrelay_tests::ensure_crypto_provider();
    let s3 = PrivateServer::start(moto, &["-H", "127.0.0.1", "-p", "{port}"]).await;
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    let bucket = unique("hookrelay");
    let http = reqwest::Client::new();
    let made = http
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create the bucket");
    assert!(made.status().is_success(), "{}", made.status());
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let destination = json!({"type": "s3", "bucket": bucket, "prefix": "in/", "endpoint": endpoint,
        "access_key_id": "test", "secret_access_key": "not-shown"});
    let (id, secret) = subscribe(&api, destination).await;
    let (_, got) = json(api.get(&format!("/subscriptions/{id}")).await).await;
    assert_eq!(got["destination"]["secret_access_key"], json!("***"));
    assert_eq!(got["destination"]["region"], json!("us-east-1"));
    let webhook_id = send(&api, &id).await;
    let ack = delivered(&env, webhook_id, &format!("s3://{bucket}/in/")).await;
    assert!(
        ack.starts_with(&format!("object in/{webhook_id} stored")),
        "{ack}"
    );

    // Read back as any S3 client would, signed.
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_region("us-east-1")
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .expect("a reader");
    let object = object_store::ObjectStoreExt::get(
        &store,
        &object_store::path::Path::from(format!("in/{webhook_id}")),
    )
    .await
    .expect("GET the object");
    let mut headers: Vec<(String, String)> = object
        .attributes
        .iter()
        .filter_map(|(attribute, value)| match attribute {
            object_store::Attribute::Metadata(name) => Some((name.to_string(), value.to_string())),
            object_store::Attribute::ContentType => {
                Some(("content-type".to_owned(), value.to_string()))
            }
            _ => None,
        })
        .collect();
    headers.sort();
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(
        object.bytes().await.expect("the body").as_ref(),
        BODY.as_bytes()
    );
    assert_metadata(&headers, webhook_id, &secret);

    // A bucket that does not exist: a failed attempt, no bucket made.
    let destination = json!({"type": "s3", "bucket": unique("missing"), "endpoint": endpoint,
        "access_key_id": "test", "secret_access_key": "test"});
    let error = first_error_of_a_failed_delivery(&env, &api, destination).await;
    assert!(error.starts_with("S3 PUT failed"), "{error}");
}

#[tokio::test]
async fn mqtt_gets_a_qos1_publish_with_user_properties() {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let topic = format!("hookrelay/{}", unique("test"));
    let (reader, mut events) =
        AsyncClient::new(MqttOptions::new(unique("reader"), "127.0.0.1", 1883), 16);
    reader
        .subscribe(topic.clone(), QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    // Subscribed before anything is published (MQTT keeps nothing for later).
    loop {
        match tokio::time::timeout(WAIT, events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => {
                panic!("Mosquitto on 127.0.0.1:1883 (scripts/services.sh starts it): {other:?}")
            }
        }
    }
    let (id, secret) = subscribe(
        &api,
        json!({"type": "mqtt", "url": MQTT_URL, "topic": topic}),
    )
    .await;
    let webhook_id = send(&api, &id).await;
    let publish = loop {
        match tokio::time::timeout(WAIT, events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(publish)))) => break publish,
            Ok(Ok(_)) => {}
            other => panic!("no publish: {other:?}"),
        }
    };
    assert_eq!(publish.payload.as_ref(), BODY.as_bytes());
    assert_eq!(publish.qos, QoS::AtLeastOnce);
    let properties = publish.properties.expect("MQTT 5 properties");
    assert_eq!(properties.content_type.as_deref(), Some("application/json"));
    let mut headers = properties.user_properties.clone();
    headers.push(("content-type".into(), "application/json".into()));
    assert_metadata(&headers, webhook_id, &secret);
    let ack = delivered(&env, webhook_id, &format!("{MQTT_URL}/{topic}")).await;
    assert_eq!(ack, "PUBACK");
}

#[tokio::test]
async fn files_are_written_whole_under_the_root_and_the_log_gets_one_line() {
    let root = std::env::temp_dir().join(unique("hookrelay-files"));
    std::fs::create_dir_all(root.join("in")).expect("the root and a directory in it");
    let mut env = TestEnv::new().await;
    env.set("FILE_DESTINATION_ROOT", root.to_str());
    env.set("LOG_FORMAT", Some("json"));
    let api = env.spawn_api().await;
    let (_worker, mut stdout) = WorkerProcess::spawn_reading_stdout(&env);
    let (file, _) = subscribe(&api, json!({"type": "file", "path": "in"})).await;
    let (log, secret) = subscribe(&api, json!({"type": "log"})).await;

    let webhook_id = send(&api, &file).await;
    let ack = delivered(&env, webhook_id, "file:in").await;
    assert_eq!(ack, format!("{} bytes written and synced", BODY.len()));
    let written = std::fs::read(root.join("in").join(webhook_id.to_string())).expect("the file");
    assert_eq!(written, BODY.as_bytes(), "exactly the ingested bytes");
    let names: Vec<String> = std::fs::read_dir(root.join("in"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [webhook_id.to_string()],
        "no partial file left behind"
    );

    let logged = send(&api, &log).await;
    let line = eventually(WAIT, "the log line on the worker's stdout", || {
        let line = stdout.try_recv().ok();
        async move { line }
    });
    let mut line = line.await;
    while !line.contains("webhook-id") {
        line = tokio::time::timeout(WAIT, stdout.recv())
            .await
            .expect("a line within the wait")
            .expect("stdout open");
    }
    let fields: serde_json::Map<String, Value> =
        serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(fields["body"], json!(BODY));
    let headers: Vec<(String, String)> = fields
        .iter()
        .filter(|(n, _)| *n != "body")
        .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_metadata(&headers, logged, &secret);
    delivered(&env, logged, "log:").await;

    // A directory below the root that does not exist is not made: a failed attempt.
    let error =
        first_error_of_a_failed_delivery(&env, &api, json!({"type": "file", "path": "gone"})).await;
    assert!(error.contains("does not exist"), "{error}");
    assert!(!root.join("gone").exists());
    std::fs::remove_dir_all(&root).expect("clean up");
}

#[tokio::test]
async fn a_broker_that_is_down_fails_on_schedule_without_holding_up_others() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let mut receiver = Receiver::ok().await;
    let down = format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port());
    let secret = signing::generate_secret();
    for destination in [
        json!({"type": "rabbitmq", "url": down, "routing_key": "q"}),
        json!({"type": "http"}),
    ] {
        let mut body = json!({"destination": destination, "secret": secret, "events": ["order.*"]});
        if destination["type"] == "http" {
            body["target_url"] = json!(receiver.url);
        }
        api.create_subscription_id(&body).await;
    }
    let webhook_id = api
        .ingest_accepted("/ingest", &[("x-event-type", "order.paid")], BODY)
        .await;
    let started = std::time::Instant::now();
    let got = receiver.next(WAIT).await;
    assert_eq!(got.body.as_ref(), BODY.as_bytes());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the HTTP delivery waited"
    );

    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    let broker = rows
        .iter()
        .find(|d| d.target_url.starts_with("amqp://"))
        .expect("the broker's delivery");
    assert_eq!((broker.status.as_str(), broker.attempts), ("failed", 3));
    let tried: Vec<_> = attempts(&env, webhook_id)
        .await
        .into_iter()
        .filter(|a| a.target_url.starts_with("amqp://"))
        .collect();
    assert_eq!(tried.len(), 3, "every attempt of the schedule: {tried:?}");
    for attempt in &tried {
        assert_eq!(attempt.status_code, None);
        let error = attempt.error.as_deref().unwrap_or_default();
        assert!(error.contains("RabbitMQ connection failed"), "{error}");
        assert!(
            !error.contains("guest:guest"),
            "no secret in errors: {error}"
        );
    }
}

#[tokio::test]
async fn a_nats_restart_mid_run_loses_nothing() {
    let Some(nats) = tool("NATS_SERVER", "nats-server", "--version") else {
        return;
    };
    let store = std::env::temp_dir().join(unique("hookrelay-nats"));
    let store_arg = store.to_string_lossy().into_owned();
    let mut server = PrivateServer::start(
        nats,
        &["-a", "127.0.0.1", "-p", "{port}", "-js", "-sd", &store_arg],
    )
    .await;
    let url = format!("nats://127.0.0.1:{}", server.port);
    let name = unique("restart");
    let subject = format!("{name}.events");
    {
        let client = async_nats::connect(&url).await.expect("the private NATS");
        async_nats::jetstream::new(client)
            .create_stream(async_nats::jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![subject.clone()],
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .expect("a stream on disk");
    }
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some("500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s"));
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let (id, _) = subscribe(
        &api,
        json!({"type": "nats", "url": url, "subject": subject}),
    )
    .await;

    let mut sent = Vec::new();
    for _ in 0..5 {
        sent.push(send(&api, &id).await);
    }
    for webhook_id in &sent {
        finished_deliveries(&env, *webhook_id, WAIT).await;
    }
    server.kill().await;
    for _ in 0..5 {
        sent.push(send(&api, &id).await);
    }
    // Attempts fail while it is down, then the pooled connection is replaced.
    eventually(WAIT, "a failed attempt while NATS is down", || {
        let env = &env;
        let webhook_id = sent[5];
        async move {
            let tried = attempts(env, webhook_id).await;
            tried.first().filter(|a| a.error.is_some()).map(|_| ())
        }
    })
    .await;
    server.restart().await;
    for webhook_id in &sent {
        let rows = finished_deliveries(&env, *webhook_id, Duration::from_secs(30)).await;
        assert_eq!(rows[0].status, "succeeded", "{webhook_id}");
    }
    let client = async_nats::connect(&url).await.expect("NATS again");
    let mut stream = async_nats::jetstream::new(client)
        .get_stream(&name)
        .await
        .expect("the stream survived");
    let info = stream.info().await.expect("stream info");
    assert_eq!(info.state.messages, 10, "each webhook once");
    drop(server);
    let _ = std::fs::remove_dir_all(&store);
}

#[tokio::test]
async fn the_api_refuses_bad_destinations_inside_destination_and_keeps_masked_secrets() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let cases = [
        (
            json!({"destination": {"type": "pigeon"}}),
            vec![json!(["body", "destination", "type"])],
        ),
        (
            json!({"destination": {"type": "rabbitmq", "url": "http://mq"}, "target_url": "https://e.com"}),
            vec![
                json!(["body", "destination", "url"]),
                json!(["body", "target_url"]),
            ],
        ),
        (
            json!({"destination": {"type": "kafka", "brokers": [], "topic": "a b"}}),
            vec![
                json!(["body", "destination", "brokers"]),
                json!(["body", "destination", "topic"]),
            ],
        ),
        (
            json!({"destination": {"type": "file", "path": "x"}}),
            vec![json!(["body", "destination", "type"])],
        ),
        (
            json!({"destination": {"type": "mqtt", "url": "mqtt://m", "topic": "a/#", "qos": 2}}),
            vec![
                json!(["body", "destination", "topic"]),
                json!(["body", "destination", "qos"]),
            ],
        ),
    ];
    for (body, locs) in cases {
        let (status, got) = json(api.post_json("/subscriptions", &body).await).await;
        assert_eq!(status, 422, "{body}: {got}");
        let found: Vec<Value> = got["detail"]
            .as_array()
            .expect("detail")
            .iter()
            .map(|e| e["loc"].clone())
            .collect();
        assert_eq!(found, locs, "{body}");
    }

    // A *** sent back keeps the stored password: the delivery still authenticates.
    let _worker = spawn_worker(env.config()).await;
    let (id, _) = subscribe(
        &api,
        json!({"type": "rabbitmq", "url": AMQP_URL, "routing_key": "unused"}),
    )
    .await;
    let (_, got) = json(api.get(&format!("/subscriptions/{id}")).await).await;
    let mut destination = got["destination"].clone();
    destination["routing_key"] = json!(unique("still-nobody"));
    let (status, patched) = json(
        api.patch_json(
            &format!("/subscriptions/{id}"),
            &json!({"destination": destination}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["destination"]["url"],
        json!("amqp://guest:***@127.0.0.1:5672/%2f")
    );
    let webhook_id = send(&api, &id).await;
    let error = eventually(WAIT, "the first attempt", || {
        let env = &env;
        async move {
            attempts(env, webhook_id)
                .await
                .first()
                .and_then(|a| a.error.clone())
        }
    })
    .await;
    // Routed nowhere, but connected: the kept password was the right one.
    assert!(error.contains("unroutable"), "{error}");

    // Switching to HTTP needs a target_url; a target_url alone is for HTTP only.
    let path = format!("/subscriptions/{id}");
    let (status, _) = json(
        api.patch_json(&path, &json!({"target_url": "https://e.com/"}))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = json(
        api.patch_json(&path, &json!({"destination": {"type": "http"}}))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    let (status, back) = json(
        api.patch_json(
            &path,
            &json!({"destination": {"type": "http"}, "target_url": "https://e.com/"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(
        (&back["destination"], &back["target_url"]),
        (&json!({"type": "http"}), &json!("https://e.com/"))
    );
}

#[tokio::test]
async fn a_worker_that_may_not_reach_private_hosts_refuses_a_broker_on_one() {
    let mut env = TestEnv::new().await;
    // Saved where private targets are allowed, delivered by a worker where they are not
    // (a name may point somewhere else by the time it is used).
    let api = env.spawn_api().await;
    env.set("ALLOW_PRIVATE_TARGETS", Some("false"));
    let _worker = spawn_worker(env.config()).await;
    let url = hookrelay_tests::redis_url();
    let (id, _) = subscribe(
        &api,
        json!({"type": "redis", "url": url, "stream": unique("never")}),
    )
    .await;
    let webhook_id = send(&api, &id).await;
    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].attempts),
        ("failed", 1),
        "refused at once, without retries"
    );
    let error = attempts(&env, webhook_id).await[0]
        .error
        .clone()
        .unwrap_or_default();
    assert!(error.contains("non-global"), "{error}");
}

#[tokio::test]
async fn a_broker_that_stops_answering_is_bounded_by_the_timeout() {
    // Accepts connections and never says a word: an AMQP handshake that hangs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a silent server");
    let port = silent.local_addr().expect("its address").port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let mut env = TestEnv::new().await;
    env.set("RETRY_SCHEDULE", Some("100ms"));
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let secret = signing::generate_secret();
    let body = json!({"destination": {"type": "rabbitmq", "url": url, "routing_key": "q"},
        "secret": secret, "timeout_ms": 500});
    let id = api.create_subscription_id(&body).await;
    let started = std::time::Instant::now();
    let webhook_id = send(&api, &id).await;
    let rows = finished_deliveries(&env, webhook_id, WAIT).await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("failed", 2));
    for attempt in attempts(&env, webhook_id).await {
        let error = attempt.error.unwrap_or_default();
        assert!(
            error.starts_with("timed out after 500ms connecting")
                || error.contains("not tried again yet"),
            "{error}"
        );
        assert!(attempt.duration_ms <= 1_000, "{} ms", attempt.duration_ms);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    held.abort();
}
