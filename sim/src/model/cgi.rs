//! The CGI response head a FastCGI responder writes on FCGI_STDOUT, parsed
//! as a web server reads it: `Status:` gives the status line, other lines
//! are headers (repeated ones kept), a missing `Status:` means 200.

use iiswsgi_fastcgi::proto::ProtocolStatus;

/// A FastCGI response: the parsed head and body, and what the records carried.
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
            return;
        };
        let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
        self.body = self.raw[end + 4..].to_vec();
        for line in head.split("\r\n") {
            if let Some((k, v)) = line.split_once(':') {
                let v = v.trim().to_string();
                if k.eq_ignore_ascii_case("Status") {
                    let (code, reason) = v.split_once(' ').unwrap_or((&v, ""));
                    self.status = code.parse().unwrap_or(0);
                    self.reason = reason.to_string();
                } else {
                    self.headers.push((k.to_string(), v));
                }
            }
        }
        if self.status == 0 {
            self.status = 200;
        }
    }
}
