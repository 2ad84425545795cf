//! A lean HTTP/1.1 keep-alive client for the measured requests.
//!
//! The load generator shares the machine's two cores with the server, so
//! every microsecond it spends per request is one the server does not get.
//! A general-purpose client (reqwest over hyper) costs 25–30 µs of CPU a
//! request: its connection lives in a task of its own, so each request
//! crosses a channel and wakes two tasks, and the pool, the URL and the
//! header map are rebuilt each time. Here the task that sends a request owns
//! its connection for the whole exchange: one `write` of the prepared
//! request, `read`s until the response is complete, and the connection goes
//! back to an idle list. Only what the service sends is supported: plain
//! `http://`, `Content-Length` or chunked bodies, no pipelining.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    Connect,
    Timeout,
    /// The connection broke or closed mid-exchange.
    Io,
    /// The response is not HTTP/1.1 as this client reads it.
    Protocol,
}

impl Error {
    /// A short label, for error counts.
    pub fn kind(self) -> &'static str {
        match self {
            Error::Connect => "connect",
            Error::Timeout => "timeout",
            Error::Io => "io",
            Error::Protocol => "protocol",
        }
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One keep-alive connection and what it has read beyond the last response.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// The client of one server: its address and the idle connections.
pub struct Client {
    addr: SocketAddr,
    /// `host:port`, for the `Host` header.
    authority: String,
    /// Path prefix of the base URL ("" or "/something").
    prefix: String,
    timeout: Duration,
    idle: Mutex<Vec<Conn>>,
}

/// Largest response head accepted; the service's are a few hundred bytes.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 32;

impl Client {
    /// A client of the server at `base` (`http://host:port[/prefix]`).
    pub async fn new(base: &str, timeout: Duration) -> anyhow::Result<Client> {
        let rest = base.strip_prefix("http://").ok_or_else(|| {
            anyhow::anyhow!("{base:?}: only http:// URLs are supported (the service over loopback)")
        })?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let with_port = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{authority}: no address"))?;
        Ok(Client {
            addr,
            authority: authority.to_string(),
            prefix: prefix.to_string(),
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends one request (`path` below the base URL) and reads the whole
    /// response. `authorization` is the header's value, if any; a body is
    /// sent as JSON.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Response, Error> {
        let mut req = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
        req.extend_from_slice(method.as_bytes());
        req.push(b' ');
        req.extend_from_slice(self.prefix.as_bytes());
        req.extend_from_slice(path.as_bytes());
        req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        req.extend_from_slice(self.authority.as_bytes());
        if let Some(a) = authorization {
            req.extend_from_slice(b"\r\nAuthorization: ");
            req.extend_from_slice(a.as_bytes());
        }
        if let Some(b) = body {
            req.extend_from_slice(b"\r\nContent-Type: application/json\r\nContent-Length: ");
            req.extend_from_slice(b.len().to_string().as_bytes());
        }
        req.extend_from_slice(b"\r\n\r\n");
        if let Some(b) = body {
            req.extend_from_slice(b);
        }

        let attempt = async {
            let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            if let Some(mut conn) = pooled {
                match exchange(&mut conn, &req).await {
                    Ok((resp, keep)) => return Ok((resp, keep.then_some(conn))),
                    // A kept-alive connection the server closed while it was
                    // idle answers nothing: the request was not served, so it
                    // goes once more on a new connection (as hyper does).
                    Err(Error::Io) if conn.buf.is_empty() => {}
                    Err(e) => return Err(e),
                }
            }
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|_| Error::Connect)?;
            stream.set_nodelay(true).map_err(|_| Error::Connect)?;
            let mut conn = Conn {
                stream,
                buf: Vec::with_capacity(16 * 1024),
            };
            let (resp, keep) = exchange(&mut conn, &req).await?;
            Ok((resp, keep.then_some(conn)))
        };
        let (resp, conn) = tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| Error::Timeout)??;
        if let Some(c) = conn {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(c);
        }
        Ok(resp)
    }
}

/// Writes the request and reads its response.
async fn exchange(conn: &mut Conn, req: &[u8]) -> Result<(Response, bool), Error> {
    conn.stream.write_all(req).await.map_err(|_| Error::Io)?;
    read_response(conn).await
}

/// Reads more bytes into the connection's buffer; EOF is an error (a
/// response is never complete at a read that returns nothing).
async fn fill(conn: &mut Conn) -> Result<(), Error> {
    let len = conn.buf.len();
    if conn.buf.capacity() - len < 4096 {
        conn.buf.reserve(16 * 1024);
    }
    let n = conn
        .stream
        .read_buf(&mut conn.buf)
        .await
        .map_err(|_| Error::Io)?;
    if n == 0 {
        return Err(Error::Io);
    }
    debug_assert!(conn.buf.len() == len + n);
    Ok(())
}

/// Reads one response; also says whether the connection may be reused.
async fn read_response(conn: &mut Conn) -> Result<(Response, bool), Error> {
    loop {
        let head = parse_head(&conn.buf)?;
        if let Some(head) = head {
            conn.buf.drain(..head.len);
            let body = match head.framing {
                Framing::Length(n) => {
                    while conn.buf.len() < n {
                        fill(conn).await?;
                    }
                    let body = conn.buf[..n].to_vec();
                    conn.buf.drain(..n);
                    body
                }
                Framing::Chunked => read_chunked(conn).await?,
            };
            let resp = Response {
                status: head.status,
                body,
            };
            return Ok((resp, head.keep_alive));
        }
        if conn.buf.len() > MAX_HEAD {
            return Err(Error::Protocol);
        }
        fill(conn).await?;
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

#[derive(Debug, PartialEq, Eq)]
struct Head {
    /// Bytes of the head, blank line included.
    len: usize,
    status: u16,
    framing: Framing,
    keep_alive: bool,
}

/// The response head at the start of `buf`, or `None` if it is not all there.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(buf).map_err(|_| Error::Protocol)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = r.code.ok_or(Error::Protocol)?;
    let mut framing = None;
    let mut keep_alive = r.version == Some(1);
    for h in r.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or(Error::Protocol)?;
            framing = Some(Framing::Length(n));
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !h.value.eq_ignore_ascii_case(b"chunked") {
                return Err(Error::Protocol);
            }
            framing = Some(Framing::Chunked);
        } else if h.name.eq_ignore_ascii_case("connection") {
            keep_alive = !h.value.eq_ignore_ascii_case(b"close");
        }
    }
    // 1xx, 204 and 304 have no body; anything else without framing runs to
    // the end of the connection, which this client does not read.
    let framing = match framing {
        _ if status < 200 || status == 204 || status == 304 => Framing::Length(0),
        Some(f) => f,
        None => return Err(Error::Protocol),
    };
    Ok(Some(Head {
        len,
        status,
        framing,
        keep_alive,
    }))
}

/// A chunked body, trailers skipped.
async fn read_chunked(conn: &mut Conn) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = conn.buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            if conn.buf.len() > MAX_HEAD {
                return Err(Error::Protocol);
            }
            fill(conn).await?;
        };
        let size_text = std::str::from_utf8(&conn.buf[..line_end]).map_err(|_| Error::Protocol)?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| Error::Protocol)?;
        conn.buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers, if any, then the blank line.
            loop {
                if let Some(i) = conn.buf.windows(2).position(|w| w == b"\r\n") {
                    conn.buf.drain(..i + 2);
                    if i == 0 {
                        return Ok(body);
                    }
                    continue;
                }
                fill(conn).await?;
            }
        }
        while conn.buf.len() < size + 2 {
            fill(conn).await?;
        }
        if &conn.buf[size..size + 2] != b"\r\n" {
            return Err(Error::Protocol);
        }
        body.extend_from_slice(&conn.buf[..size]);
        conn.buf.drain(..size + 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn heads_are_parsed_with_their_framing() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").unwrap();
        assert_eq!(
            h,
            Some(Head {
                len: 38,
                status: 200,
                framing: Framing::Length(5),
                keep_alive: true
            })
        );
        let h = parse_head(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (201, Framing::Chunked, false)
        );
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-len").unwrap(), None);
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n"), Err(Error::Protocol));
        assert_eq!(parse_head(b"garbage\r\n\r\n"), Err(Error::Protocol));
    }

    /// A server that answers each request on a connection with the next of
    /// `answers`, written in pieces to exercise the reads.
    async fn serve(answers: Vec<&'static [u8]>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/base", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for a in answers {
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut b = [0u8; 1024];
                    let n = s.read(&mut b).await.unwrap();
                    got.extend_from_slice(&b[..n]);
                }
                seen.push(String::from_utf8(got).unwrap());
                for piece in a.chunks(7) {
                    s.write_all(piece).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
            seen
        });
        (url, task)
    }

    #[tokio::test]
    async fn one_connection_carries_length_and_chunked_responses() {
        let (url, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world",
            b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n4\r\nnot \r\n5;x=y\r\nfound\r\n0\r\nX-T: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ])
        .await;
        let c = Client::new(&url, Duration::from_secs(5)).await.unwrap();
        let r = c
            .request("GET", "/a", Some("Bearer t"), None)
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello world"[..]));
        let r = c.request("PUT", "/b", None, Some(b"{}")).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"not found"[..]));
        let r = c.request("DELETE", "/c", None, None).await.unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
        let seen = server.await.unwrap();
        assert!(seen[0].starts_with("GET /base/a HTTP/1.1\r\nHost: 127.0.0.1:"));
        assert!(seen[0].contains("\r\nAuthorization: Bearer t\r\n"));
        assert!(seen[1].starts_with("PUT /base/b HTTP/1.1\r\n"));
        assert!(seen[1].contains("\r\nContent-Length: 2\r\n"));
        assert_eq!(c.idle.lock().unwrap().len(), 1, "the connection was kept");
    }

    #[tokio::test]
    async fn a_kept_connection_the_server_closed_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            // Two connections, each answering one request and then closing.
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b).await.unwrap();
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                drop(s);
            }
        });
        let c = Client::new(&url, Duration::from_secs(5)).await.unwrap();
        for _ in 0..2 {
            let r = c.request("GET", "/", None, None).await.unwrap();
            assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
            // Let the server's close reach this side before the next request.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_closed_connection_is_an_error_not_a_hang() {
        let (url, server) =
            serve(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort"]).await;
        let c = Client::new(&url, Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            c.request("GET", "/", None, None).await.unwrap_err(),
            Error::Io
        );
        server.await.unwrap();
        assert!(
            c.idle.lock().unwrap().is_empty(),
            "a broken connection is dropped"
        );
        assert!(Client::new("https://x", Duration::from_secs(1))
            .await
            .is_err());
    }
}
