//! The request side of the small HTTP/1.1 gateways written inside tests: reads one
//! request (head and `Content-Length` body) off a keep-alive connection, so each test
//! gateway only decides what to answer. Knows nothing of agentstorm.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// One request as a test gateway sees it.
pub struct Request {
    pub method: String,
    pub path: String,
    /// The `Guid` header, in any letter case.
    pub guid: Option<String>,
    /// The `Cookie` header, in any letter case.
    pub cookie: Option<String>,
    pub body: String,
}

/// A connection's requests, read one after another.
pub struct Requests {
    sock: TcpStream,
    buf: Vec<u8>,
    chunk: Vec<u8>,
}

impl Requests {
    pub fn new(sock: TcpStream) -> Requests {
        Requests {
            sock,
            buf: Vec::new(),
            chunk: vec![0u8; 8192],
        }
    }

    /// The connection, to write the reply on.
    pub fn sock(&mut self) -> &mut TcpStream {
        &mut self.sock
    }

    /// The next request; None when the client closed the connection.
    pub async fn next(&mut self) -> Option<Request> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let mut length = 0usize;
        let mut guid = None;
        let mut cookie = None;
        for line in lines {
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("guid") {
                    guid = Some(v.trim().to_string());
                } else if k.eq_ignore_ascii_case("cookie") {
                    cookie = Some(v.trim().to_string());
                }
            }
        }
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        let body = String::from_utf8_lossy(&self.buf[head_end..head_end + length]).into_owned();
        self.buf.drain(..head_end + length);
        Some(Request {
            method,
            path,
            guid,
            cookie,
            body,
        })
    }

    async fn fill(&mut self) -> Option<()> {
        match self.sock.read(&mut self.chunk).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&self.chunk[..n]);
                Some(())
            }
        }
    }
}
