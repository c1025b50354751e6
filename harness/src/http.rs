//! A small blocking HTTP/1.1 client for the tests and the benchmark:
//! keep-alive connections, `Content-Length` and chunked responses.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive connection.
pub struct HttpConn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

impl HttpConn {
    /// Connects to `base` (`http://host:port` or `host:port`).
    pub fn connect(base: &str) -> io::Result<HttpConn> {
        let addr = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_mins(2)))?;
        Ok(HttpConn {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// Sends a request head (and `body`, unless `body_later`).
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (k, v) in headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            && (method == "POST" || method == "PUT" || !body.is_empty())
        {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        head.push_str("\r\n");
        self.w.write_all(head.as_bytes())?;
        self.w.write_all(body)
    }

    /// Writes more body bytes.
    pub fn write_body(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.w.set_read_timeout(t)
    }

    /// Reads one response; `sink` gets the body (the returned body is empty
    /// when `keep_body` is false, to measure without storing).
    pub fn read(&mut self, keep_body: bool) -> io::Result<HttpResponse> {
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad(&format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.r.read_line(&mut line)? == 0 {
                return Err(bad("connection closed in the head"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.to_owned(), v.trim().to_owned()));
            }
        }
        let mut resp = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let chunked = resp
            .header("Transfer-Encoding")
            .is_some_and(|v| v.contains("chunked"));
        let len = resp
            .header("Content-Length")
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.r.read_line(&mut line)?;
                let n =
                    usize::from_str_radix(line.trim(), 16).map_err(|_| bad("bad chunk size"))?;
                if n == 0 {
                    line.clear();
                    self.r.read_line(&mut line)?;
                    break;
                }
                let mut chunk = vec![0; n + 2];
                self.r.read_exact(&mut chunk)?;
                if keep_body {
                    body.extend_from_slice(&chunk[..n]);
                }
            }
        } else if let Some(n) = len {
            let mut rest = n;
            let mut buf = vec![0; 64 * 1024];
            while rest > 0 {
                let want = buf.len().min(usize::try_from(rest).unwrap_or(usize::MAX));
                let got = self.r.read(&mut buf[..want])?;
                if got == 0 {
                    return Err(bad("connection closed in the body"));
                }
                if keep_body {
                    body.extend_from_slice(&buf[..got]);
                }
                rest -= got as u64;
            }
        } else {
            self.r.read_to_end(&mut body)?;
        }
        resp.body = body;
        Ok(resp)
    }

    /// One request and its response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<HttpResponse> {
        self.send(method, path, headers, body)?;
        self.read(true)
    }
}

/// One request on a new connection.
pub fn http(base: &str, method: &str, path: &str, body: &[u8]) -> io::Result<HttpResponse> {
    HttpConn::connect(base)?.request(method, path, &[], body)
}
