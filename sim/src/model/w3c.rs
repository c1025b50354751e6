//! IIS's W3C log, pure: the file name (`u_exYYMMDD.log`), the header, and
//! one line per request with IIS's default fields. Times are UTC as IIS
//! writes them; spaces in a field become `+`, empty fields `-`.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// IIS's default W3C fields.
pub const FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";

/// One request as the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub time: SystemTime,
    pub server_ip: &'a str,
    pub method: &'a str,
    pub uri_stem: &'a str,
    pub uri_query: &'a str,
    pub port: u16,
    pub username: &'a str,
    pub client_ip: &'a str,
    pub user_agent: &'a [u8],
    pub referer: &'a [u8],
    pub status: u16,
    pub substatus: u16,
    pub win32: u32,
    pub time_taken: Duration,
}

/// The UTC day number of `t` (days since 1970-01-01): one log file each.
pub fn day(t: SystemTime) -> i64 {
    unix_secs(t).div_euclid(86_400)
}

#[allow(
    clippy::cast_possible_wrap,
    reason = "seconds since 1970 fit in i64 for the next 292 billion years"
)]
fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `(year, month, day, hour, minute, second)` in UTC.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "Hinnant's algorithm: each value is in its field's range by construction"
)]
pub fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = unix_secs(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// The log file's name for a day: `u_exYYMMDD.log`.
pub fn file_name(t: SystemTime) -> String {
    let (y, m, d, ..) = civil(t);
    format!("u_ex{:02}{m:02}{d:02}.log", y.rem_euclid(100))
}

/// The header IIS writes at the top of a file.
pub fn header(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}\r\n#Fields: {FIELDS}\r\n")
}

/// A field: spaces as `+`, empty as `-`.
fn field(out: &mut Vec<u8>, s: &[u8]) {
    if s.is_empty() {
        out.push(b'-');
    } else {
        out.extend(s.iter().map(|&b| if b == b' ' { b'+' } else { b }));
    }
    out.push(b' ');
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(super::decimal(n, &mut [0u8; 20]));
    out.push(b' ');
}

/// The `date time` prefix of log lines, formatted once per second.
#[derive(Debug, Default)]
pub struct LineClock {
    secs: Option<i64>,
    text: Vec<u8>,
}

impl LineClock {
    fn write(&mut self, out: &mut Vec<u8>, t: SystemTime) {
        let secs = unix_secs(t);
        if self.secs != Some(secs) {
            let (y, mo, d, h, mi, s) = civil(t);
            self.text.clear();
            let _ = write!(self.text, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} ");
            self.secs = Some(secs);
        }
        out.extend_from_slice(&self.text);
    }
}

impl Entry<'_> {
    /// Appends the log line, CRLF-terminated, to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>, clock: &mut LineClock) {
        clock.write(out, self.time);
        field(out, self.server_ip.as_bytes());
        field(out, self.method.as_bytes());
        field(out, self.uri_stem.as_bytes());
        field(out, self.uri_query.as_bytes());
        number(out, self.port.into());
        field(out, self.username.as_bytes());
        field(out, self.client_ip.as_bytes());
        field(out, self.user_agent);
        field(out, self.referer);
        number(out, self.status.into());
        number(out, self.substatus.into());
        number(out, self.win32.into());
        let ms = u64::try_from(self.time_taken.as_millis()).unwrap_or(u64::MAX);
        out.extend_from_slice(super::decimal(ms, &mut [0u8; 20]));
        out.extend_from_slice(b"\r\n");
    }

    /// The log line, CRLF-terminated.
    pub fn line(&self) -> String {
        let mut out = Vec::with_capacity(160);
        self.write_line(&mut out, &mut LineClock::default());
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_lines() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(civil(t), (2023, 11, 14, 22, 13, 20));
        assert_eq!(file_name(t), "u_ex231114.log");
        let e = Entry {
            time: t,
            server_ip: "127.0.0.1",
            method: "GET",
            uri_stem: "/hello",
            uri_query: "",
            port: 80,
            username: "",
            client_ip: "127.0.0.1",
            user_agent: b"curl 8",
            referer: b"",
            status: 200,
            substatus: 0,
            win32: 0,
            time_taken: Duration::from_millis(15),
        };
        assert_eq!(
            e.line(),
            "2023-11-14 22:13:20 127.0.0.1 GET /hello - 80 - 127.0.0.1 curl+8 - 200 0 0 15\r\n"
        );
    }
}
