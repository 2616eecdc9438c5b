//! A TCP proxy between the service and Postgres or Redis, for outage tests: it forwards
//! until told otherwise, and can fail in two ways. It also counts the bytes its target has
//! sent back ([`Proxy::bytes_from_target`]), so a test can wait until a client in front
//! of it (a CLI in front of the api, say) has had its first answer.
//!
//! - [`Proxy::cut`]: open connections are closed and new ones refused (a crash, a
//!   restart): the client sees errors at once.
//! - [`Proxy::freeze`]: open connections stay open but nothing more passes through them
//!   (a frozen host, a half-open socket after a failover: no RST, no error, ever), while
//!   new connections are forwarded as usual. Only a client that gives up on a silent
//!   connection and opens another gets going again.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct Proxy {
    pub port: u16,
    up: AtomicBool,
    /// Bytes read from the target (and so passed on to the client), over every connection.
    from_target: Arc<AtomicU64>,
    /// Cancelled to close the connections open now.
    close: Mutex<CancellationToken>,
    /// Cancelled to freeze the connections open now.
    freeze: Mutex<CancellationToken>,
    /// Ends everything when the proxy is dropped.
    stop: CancellationToken,
}

impl Proxy {
    /// Starts a proxy to `target` (`host:port`) on a free local port.
    pub async fn start(target: String) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let proxy = Arc::new(Proxy {
            port: listener.local_addr().expect("addr").port(),
            up: AtomicBool::new(true),
            from_target: Arc::default(),
            close: Mutex::new(CancellationToken::new()),
            freeze: Mutex::new(CancellationToken::new()),
            stop: CancellationToken::new(),
        });
        let this = Arc::clone(&proxy);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = this.stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut inbound, _)) = accepted else {
                    return;
                };
                if !this.up.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let close = this.close.lock().expect("lock").clone();
                let freeze = this.freeze.lock().expect("lock").clone();
                let stop = this.stop.clone();
                let target = target.clone();
                let from_target = Arc::clone(&this.from_target);
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let mut outbound = Counted {
                        stream: outbound,
                        read: from_target,
                    };
                    tokio::select! {
                        () = close.cancelled() => return,
                        () = stop.cancelled() => return,
                        () = freeze.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
                    }
                    // Frozen: hold both sockets open, pass nothing, until closed.
                    tokio::select! {
                        () = close.cancelled() => {}
                        () = stop.cancelled() => {}
                    }
                    drop((inbound, outbound));
                });
            }
        });
        proxy
    }

    /// `postgres://…@host:port/db` or `redis://host:port` with this proxy's address.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        let user = if user.is_empty() {
            String::new()
        } else {
            format!("{user}@")
        };
        format!("{scheme}://{user}127.0.0.1:{}{path}", self.port)
    }

    /// Closes every open connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut token = self.close.lock().expect("lock");
        token.cancel();
        *token = CancellationToken::new();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Freezes every open connection; new ones are forwarded.
    pub fn freeze(&self) {
        let mut token = self.freeze.lock().expect("lock");
        token.cancel();
        *token = CancellationToken::new();
    }

    /// How many bytes the target has sent back so far, over every connection.
    pub fn bytes_from_target(&self) -> u64 {
        self.from_target.load(Ordering::SeqCst)
    }
}

/// The connection to the target, counting what is read from it.
struct Counted {
    stream: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.read.fetch_add(read, Ordering::SeqCst);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
