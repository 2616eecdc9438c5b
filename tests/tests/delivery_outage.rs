//! A Postgres outage pauses delivery without losing anything, and delivery resumes by
//! itself (issue: "A Postgres outage pauses work without losing it and resumes by
//! itself"). The worker reaches Postgres through a TCP proxy the test can cut.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hookrelay_tests::worker::{enqueue, finished_deliveries, insert_subscription, spawn_worker};
use hookrelay_tests::{Receiver, TestEnv};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Forwards connections to Postgres until cut; while cut, new connections are closed at
/// once and the existing ones are dropped.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: std::sync::Mutex<CancellationToken>,
}

impl Proxy {
    async fn start(target: String) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let proxy = Arc::new(Proxy {
            port: listener.local_addr().expect("addr").port(),
            up: Arc::new(AtomicBool::new(true)),
            connections: std::sync::Mutex::new(CancellationToken::new()),
        });
        let this = Arc::clone(&proxy);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !this.up.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let cut = this.connections.lock().expect("lock").clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        () = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        proxy
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut token = self.connections.lock().expect("lock");
        token.cancel();
        *token = CancellationToken::new();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_postgres_outage_pauses_delivery_and_it_resumes_by_itself() {
    let mut env = TestEnv::new().await;
    // postgres://user@host:port/name → the same URL through the proxy.
    let url = env.db.url.clone();
    let (head, rest) = url.split_once('@').expect("a user in the URL");
    let (address, database) = rest.split_once('/').expect("a database in the URL");
    let proxy = Proxy::start(address.to_owned()).await;
    let proxied = format!("{head}@127.0.0.1:{}/{database}", proxy.port);
    env.set("DATABASE_URL", Some(&proxied));

    let mut receiver = Receiver::ok().await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    let before = enqueue(&env, Some(sub.id), None, b"{}").await;
    receiver.next(Duration::from_secs(10)).await;
    finished_deliveries(&env, before, Duration::from_secs(10)).await;

    proxy.cut();
    let during: Vec<_> = {
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(enqueue(&env, Some(sub.id), None, format!("[{n}]").as_bytes()).await);
        }
        ids
    };
    // Nothing is sent while the webhooks cannot be stored (they are stored before sending).
    assert!(
        receiver.try_next(Duration::from_secs(2)).await.is_none(),
        "delivered without storing"
    );

    proxy.restore();
    for id in &during {
        let rows = finished_deliveries(&env, *id, Duration::from_secs(40)).await;
        assert_eq!(rows[0].status, "succeeded", "webhook {id}");
    }
}
