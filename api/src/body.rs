//! Reading request bodies, for every route that reads one (ingest and the JSON routes):
//! chunk by chunk, within one deadline for the whole body.
//!
//! actix bounds the time to receive a request's head (`client_request_timeout`) but not
//! its body, so a client trickling a body (one byte a second) would hold its connection
//! and its handler forever. Past [`READ_TIMEOUT`] the request is answered 408 and actix
//! closes the connection, since the body was not read to its end.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use tokio::time::Instant;

use crate::error::ApiError;

/// The longest the whole of a request body may take to arrive, from the moment its
/// handler starts reading it (documented in `docs/ingest.md`).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A request body being read against its deadline.
pub struct BodyReader<S> {
    chunks: S,
    timeout: Duration,
    deadline: Instant,
}

impl<S, E> BodyReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    /// Starts the [`READ_TIMEOUT`] clock now.
    pub fn new(chunks: S) -> Self {
        Self::with_timeout(chunks, READ_TIMEOUT)
    }

    pub fn with_timeout(chunks: S, timeout: Duration) -> Self {
        Self {
            chunks,
            timeout,
            deadline: Instant::now() + timeout,
        }
    }

    /// The next chunk, `None` at the end of the body; 408 past the deadline, 400 when the
    /// body breaks off. Payload errors are the client's (a reset connection, a bad chunk);
    /// their text is not useful to show, so they get one fixed message.
    pub async fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        match tokio::time::timeout_at(self.deadline, self.chunks.next()).await {
            Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
            Ok(Some(Err(_))) => Err(ApiError::BadRequest("Could not read the request body.")),
            Ok(None) => Ok(None),
            Err(_) => Err(ApiError::RequestTimeout(format!(
                "The request body did not arrive within {:?}.",
                self.timeout
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_that_stops_arriving_is_a_408() {
        let trickle = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"{"))])
            .chain(futures::stream::pending());
        let mut reader = BodyReader::with_timeout(trickle, Duration::from_millis(50));
        assert_eq!(
            reader.next().await.ok().flatten().as_deref(),
            Some(&b"{"[..])
        );
        let error = reader.next().await.expect_err("no more chunks in time");
        assert_eq!(actix_web::ResponseError::status_code(&error).as_u16(), 408);
    }
}
