//! The CGI response head a `FastCGI` responder writes on `FCGI_STDOUT`, parsed
//! as a web server reads it: `Status:` gives the status line, other lines
//! are headers (repeated ones kept), a missing `Status:` means 200.

use iiswsgi_fastcgi::proto::ProtocolStatus;

/// A `FastCGI` response: the parsed head and body, and what the records carried.
#[derive(Debug, Default, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub stderr: Vec<u8>,
    pub app_status: u32,
    pub protocol_status: Option<ProtocolStatus>,
    /// Content lengths of the STDOUT records, in order (the last is the empty end).
    pub stdout_records: Vec<usize>,
    /// The raw STDOUT stream (head and body).
    pub raw: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Splits [`Response::raw`] into the head (status, headers) and the body.
    pub fn parse_head(&mut self) {
        let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            self.body = self.raw.clone();
            self.status = 200;
            return;
        };
        let head = parse_head(&self.raw[..end]);
        self.body = self.raw[end + 4..].to_vec();
        self.status = head.status;
        self.reason = head.reason;
        self.headers = head.headers;
    }
}

/// A parsed CGI head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    /// Headers other than `Status:`, in order, repeated ones kept.
    pub headers: Vec<(String, String)>,
}

/// Parses a CGI head (without its blank line) as IIS does: `Status: 404 Not
/// Found` gives the status, a `Location:` without `Status:` means 302, no
/// status means 200; lines without a colon are skipped.
pub fn parse_head(head: &[u8]) -> Head {
    let text = String::from_utf8_lossy(head);
    let mut out = Head::default();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        if k.trim().eq_ignore_ascii_case("Status") {
            let (code, reason) = v.split_once(' ').unwrap_or((&v, ""));
            out.status = code.trim().parse().unwrap_or(0);
            out.reason = reason.trim().to_string();
        } else {
            out.headers.push((k.trim().to_string(), v));
        }
    }
    if out.status == 0 {
        let redirect = out
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("Location"));
        out.status = if redirect { 302 } else { 200 };
    }
    out
}
