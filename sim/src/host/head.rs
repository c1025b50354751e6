//! The CGI head of a `FastCGI` response, parsed straight into what the HTTP
//! front sends: the status and a [`HeaderMap`]. The rules are IIS's and
//! shared with [`crate::model::cgi::parse_head`] (the simulated clients'
//! parse, into strings): the same field walker and status rules; this one
//! skips the intermediate strings and drops what the front must set itself
//! (`Transfer-Encoding`, `Connection`, `Keep-Alive`).
//!
//! A line hyper cannot send (a name that is not an HTTP token, a value with
//! a control character) is left out and reported. IIS passes such lines on
//! as they are (unverified); the simulator cannot put them on the wire.

use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, LOCATION, SERVER};
use hyper::StatusCode;

use crate::model::cgi::{default_status, head_fields, status_value};

/// A response head as the front sends it.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Header lines left out because HTTP cannot carry them.
    pub skipped: Vec<String>,
}

impl ResponseHead {
    /// The head's `Content-Length`, when it gives a number.
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Parses a CGI head (without its blank line).
pub fn parse_response_head(head: &[u8]) -> ResponseHead {
    let mut headers = HeaderMap::with_capacity(8);
    let mut skipped = Vec::new();
    let mut status = 0u16;
    for (name, value, line) in head_fields(head) {
        match name.len() {
            6 if name.eq_ignore_ascii_case(b"Status") => {
                status = status_value(value).0;
                continue;
            }
            10 if name.eq_ignore_ascii_case(b"Connection")
                || name.eq_ignore_ascii_case(b"Keep-Alive") =>
            {
                continue;
            }
            17 if name.eq_ignore_ascii_case(b"Transfer-Encoding") => continue,
            _ => {}
        }
        match (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            (Ok(n), Ok(v)) => {
                headers.append(n, v);
            }
            _ => skipped.push(String::from_utf8_lossy(line).into_owned()),
        }
    }
    if status == 0 {
        status = default_status(headers.contains_key(LOCATION));
    }
    if !headers.contains_key(SERVER) {
        headers.insert(SERVER, HeaderValue::from_static("Microsoft-IIS/10.0"));
    }
    ResponseHead {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        headers,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cgi::parse_head;
    use proptest::prelude::*;

    #[test]
    fn status_location_and_defaults() {
        let h = parse_response_head(b"Status: 404 Not Found\r\nContent-Type: text/plain");
        assert_eq!(h.status, StatusCode::NOT_FOUND);
        assert_eq!(h.headers["content-type"], "text/plain");
        assert_eq!(h.headers[SERVER], "Microsoft-IIS/10.0");
        let h = parse_response_head(b"Location: /x\r\nServer: mine");
        assert_eq!(h.status, StatusCode::FOUND);
        assert_eq!(h.headers[SERVER], "mine");
        let h = parse_response_head(b"no colon here\r\nX-A: 1\r\nX-A: 2");
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.headers.get_all("x-a").iter().count(), 2);
        let h =
            parse_response_head(b"Status: abc\r\nConnection: close\r\nTransfer-Encoding: chunked");
        assert_eq!(h.status, StatusCode::OK);
        assert!(h.headers.get("connection").is_none());
        assert!(h.headers.get("transfer-encoding").is_none());
    }

    #[test]
    fn lines_http_cannot_carry_are_reported() {
        let h = parse_response_head(b"Bad Name: x\r\nX-Ok: 1\r\nX-Ctl: a\x01b");
        assert_eq!(h.headers["x-ok"], "1");
        assert_eq!(h.skipped, vec!["Bad Name: x", "X-Ctl: a\u{1}b"]);
    }

    proptest! {
        /// For heads HTTP can carry, this parse and the simulated clients'
        /// parse agree on the status and on every header, in order.
        #[test]
        fn agrees_with_the_cgi_parse(
            lines in proptest::collection::vec(
                prop_oneof![
                    ("[A-Za-z][A-Za-z0-9-]{0,12}", " ?", "[ -~&&[^:]]{0,20}")
                        .prop_map(|(k, s, v)| format!("{k}:{s}{v}")),
                    "(Status|status|STATUS): ?[0-9]{1,4}( [A-Za-z ]{0,10})?",
                    "[a-z ]{0,10}",
                    Just("Location: /elsewhere".to_owned()),
                ],
                0..8,
            ),
            crlf in any::<bool>(),
        ) {
            let text = lines.join(if crlf { "\r\n" } else { "\n" });
            let fast = parse_response_head(text.as_bytes());
            let slow = parse_head(text.as_bytes());
            let want = StatusCode::from_u16(slow.status).unwrap_or(StatusCode::OK);
            prop_assert_eq!(fast.status, want);
            let slow_headers: Vec<(String, String)> = slow
                .headers
                .iter()
                .filter(|(k, _)| {
                    !["transfer-encoding", "connection", "keep-alive"]
                        .contains(&k.to_ascii_lowercase().as_str())
                })
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            let mut fast_headers: Vec<(String, String)> = Vec::new();
            for name in fast.headers.keys() {
                for v in fast.headers.get_all(name) {
                    fast_headers.push((name.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()));
                }
            }
            if !slow_headers.iter().any(|(k, _)| k == "server") {
                // The front adds IIS's Server header when the app sends none.
                prop_assert!(fast_headers.contains(&("server".into(), "Microsoft-IIS/10.0".into())));
                fast_headers.retain(|(k, _)| k != "server");
            }
            // HeaderMap groups a repeated name at its first position.
            let mut grouped: Vec<(String, String)> = Vec::new();
            for (k, _) in &slow_headers {
                if grouped.iter().any(|(g, _)| g == k) {
                    continue;
                }
                grouped.extend(slow_headers.iter().filter(|(o, _)| o == k).cloned());
            }
            prop_assert_eq!(fast_headers, grouped);
            prop_assert!(fast.skipped.is_empty());
        }
    }
}
