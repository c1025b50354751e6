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

/// The header lines of a CGI head (without its blank line) as IIS reads
/// them: `(name, value, line)`, name and value trimmed; lines without a
/// colon are skipped. Both parses of a head walk it with this.
pub fn head_fields(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8], &[u8])> {
    head.split(|&c| c == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&c| c == b':')?;
        Some((
            line[..colon].trim_ascii(),
            line[colon + 1..].trim_ascii(),
            line,
        ))
    })
}

/// The status code and reason a `Status:` value gives (code 0 when it
/// gives none).
pub fn status_value(value: &[u8]) -> (u16, &[u8]) {
    let (code, reason) = match value.iter().position(|&c| c == b' ') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &b""[..]),
    };
    let code = std::str::from_utf8(code.trim_ascii())
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, reason.trim_ascii())
}

/// The status of a head that gives none: a `Location:` means 302, else 200.
pub fn default_status(has_location: bool) -> u16 {
    if has_location {
        302
    } else {
        200
    }
}

/// Parses a CGI head (without its blank line) as IIS does: `Status: 404 Not
/// Found` gives the status, a `Location:` without `Status:` means 302, no
/// status means 200; lines without a colon are skipped.
pub fn parse_head(head: &[u8]) -> Head {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut out = Head::default();
    for (name, value, _) in head_fields(head) {
        if name.eq_ignore_ascii_case(b"Status") {
            let (code, reason) = status_value(value);
            out.status = code;
            out.reason = text(reason);
        } else {
            out.headers.push((text(name), text(value)));
        }
    }
    if out.status == 0 {
        let location = out
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("Location"));
        out.status = default_status(location);
    }
    out
}
