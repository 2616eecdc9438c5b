//! A webhook receiver for tests: an HTTP server on port 0 that hands every request over a
//! channel and answers as the test's `respond` function says (status, delay, body) — or,
//! with [`Receiver::raw`], writes the response bytes itself, for answers no well-behaved
//! server sends (a body trickling in slower than the worker's timeout, one cut short).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The headers as a map, for verifiers (`standardwebhooks`) that take one.
    pub fn header_map(&self) -> reqwest::header::HeaderMap {
        use reqwest::header::{HeaderName, HeaderValue};
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in &self.headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        map
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            body: String::new(),
            headers: Vec::new(),
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A response written byte by byte: pieces in order, each after its delay. The
/// connection closes after the last piece.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub pieces: Vec<(Duration, Vec<u8>)>,
}

impl RawReply {
    /// The status line and headers: `content-length` as given (which the body that
    /// follows may fall short of) and `connection: close`, since the receiver closes
    /// each connection after its reply.
    pub fn head(status: u16, content_length: usize) -> Self {
        let head = format!(
            "HTTP/1.1 {status} \r\ncontent-length: {content_length}\r\nconnection: close\r\n\r\n"
        );
        Self {
            pieces: vec![(Duration::ZERO, head.into_bytes())],
        }
    }

    /// Writes `bytes` after `delay`.
    pub fn then(mut self, delay: Duration, bytes: impl Into<Vec<u8>>) -> Self {
        self.pieces.push((delay, bytes.into()));
        self
    }

    /// Writes `bytes` one at a time, each `every` after the one before.
    pub fn dribble(mut self, bytes: &[u8], every: Duration) -> Self {
        self.pieces
            .extend(bytes.iter().map(|byte| (every, vec![*byte])));
        self
    }
}

type Respond<R> = Arc<dyn Fn(usize, &Received) -> R + Send + Sync>;

/// What both kinds of receiver share: the test's `respond`, the request count and the
/// channel requests go over.
struct Shared<R> {
    respond: Respond<R>,
    count: AtomicUsize,
    tx: mpsc::UnboundedSender<Received>,
}

impl<R> Shared<R> {
    fn new(
        respond: impl Fn(usize, &Received) -> R + Send + Sync + 'static,
    ) -> (Self, mpsc::UnboundedReceiver<Received>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Self {
            respond: Arc::new(respond),
            count: AtomicUsize::new(0),
            tx,
        };
        (shared, rx)
    }

    /// The answer to `received`, which is handed over to the test.
    fn answer(&self, received: Received) -> R {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        let reply = (self.respond)(n, &received);
        let _ = self.tx.send(received);
        reply
    }
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`
    pub url: String,
    rx: mpsc::UnboundedReceiver<Received>,
    server: Server,
}

enum Server {
    Actix(actix_web::dev::ServerHandle),
    Raw(tokio::task::AbortHandle),
}

impl Receiver {
    /// Answers 204 to everything.
    pub async fn ok() -> Self {
        Self::start(|_, _| Reply::status(204)).await
    }

    /// `respond(n, request)` decides the answer to the n-th request (0-based).
    pub async fn start(
        respond: impl Fn(usize, &Received) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let (shared, rx) = Shared::new(respond);
        let shared = web::Data::new(shared);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a receiver");
        let port = listener.local_addr().expect("local addr").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            rx,
            server: Server::Actix(handle),
        }
    }

    /// A receiver that writes its responses itself: `respond(n, request)` gives the bytes
    /// of the answer to the n-th request (0-based).
    pub async fn raw(
        respond: impl Fn(usize, &Received) -> RawReply + Send + Sync + 'static,
    ) -> Self {
        let (shared, rx) = Shared::new(respond);
        let shared = Arc::new(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a receiver");
        let port = listener.local_addr().expect("local addr").port();
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve_raw(socket, Arc::clone(&shared)));
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            rx,
            server: Server::Raw(accept.abort_handle()),
        }
    }

    /// The next request, or panics after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Received {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no request reached {} within {timeout:?}", self.url))
            .expect("receiver channel open")
    }

    /// The next request if one arrives within `timeout`.
    pub async fn try_next(&mut self, timeout: Duration) -> Option<Received> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Asserts that no request arrives within `window`, for checks that something is *not*
    /// sent (a second copy, a retry that must not come): the window is the claim, so the
    /// wait is bounded by design. `unexpected` says what a request would mean.
    pub async fn assert_quiet_for(&mut self, window: Duration, unexpected: &str) {
        if let Some(extra) = self.try_next(window).await {
            panic!(
                "{unexpected}: a request reached {} within {window:?}: {} {} webhook-id {:?}",
                self.url,
                extra.method,
                extra.path,
                extra.header("webhook-id")
            );
        }
    }

    /// Every request received so far, without waiting.
    pub fn drain(&mut self) -> Vec<Received> {
        std::iter::from_fn(|| self.rx.try_recv().ok()).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        match &self.server {
            Server::Actix(server) => {
                let server = server.clone();
                tokio::spawn(async move { server.stop(false).await });
            }
            Server::Raw(accept) => accept.abort(),
        }
    }
}

/// Reads one request from `socket`, hands it over, writes the raw reply and closes.
async fn serve_raw(mut socket: tokio::net::TcpStream, shared: Arc<Shared<RawReply>>) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if !read_more(&mut socket, &mut buf).await {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (method, path) = (request_line.next(), request_line.next());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        if !read_more(&mut socket, &mut buf).await {
            return;
        }
    }
    let received = Received {
        method: method.unwrap_or_default().to_owned(),
        path: path.unwrap_or_default().to_owned(),
        headers,
        body: Bytes::copy_from_slice(&buf[head_end..head_end + length]),
        at: chrono::Utc::now(),
    };
    for (delay, bytes) in shared.answer(received).pieces {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // The client may give up (that is what some tests wait for).
        if socket.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = socket.shutdown().await;
}

/// Appends what the socket has to `buf`; `false` when it closed.
async fn read_more(socket: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0; 4096];
    match socket.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

async fn handle(req: HttpRequest, body: Bytes, shared: web::Data<Shared<Reply>>) -> HttpResponse {
    let received = Received {
        method: req.method().to_string(),
        path: req.uri().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        at: chrono::Utc::now(),
    };
    let reply = shared.answer(received);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(reply.status).expect("a valid status"),
    );
    for (name, value) in &reply.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.body(reply.body)
}

/// A receiver's program that answers 503 to the first request of each webhook (by its
/// `webhook-id`) and 204 to the rest: every webhook needs exactly one retry.
pub fn fail_first_attempts() -> impl Fn(usize, &Received) -> Reply + Send + Sync + 'static {
    let seen = std::sync::Mutex::new(std::collections::HashSet::new());
    move |_, request| {
        let id = request.header("webhook-id").unwrap_or_default().to_owned();
        let first = seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id);
        Reply::status(if first { 503 } else { 204 })
    }
}
