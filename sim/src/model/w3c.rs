//! IIS's W3C log, pure: the file name (`u_exYYMMDD.log`), the header, and
//! one line per request with IIS's default fields. Times are UTC as IIS
//! writes them; spaces in a field become `+`, empty fields `-`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// IIS's default W3C fields.
pub const FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";

/// One request as the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub time: SystemTime,
    pub server_ip: String,
    pub method: String,
    pub uri_stem: String,
    pub uri_query: String,
    pub port: u16,
    pub username: String,
    pub client_ip: String,
    pub user_agent: String,
    pub referer: String,
    pub status: u16,
    pub substatus: u16,
    pub win32: u32,
    pub time_taken: Duration,
}

/// `(year, month, day, hour, minute, second)` in UTC.
pub fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
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

fn field(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.replace(' ', "+")
    }
}

impl Entry {
    /// The log line, CRLF-terminated.
    pub fn line(&self) -> String {
        let (y, mo, d, h, mi, s) = civil(self.time);
        format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} {} {} {} {} {} {} {} {} {} {} {} {} {}\r\n",
            field(&self.server_ip),
            field(&self.method),
            field(&self.uri_stem),
            field(&self.uri_query),
            self.port,
            field(&self.username),
            field(&self.client_ip),
            field(&self.user_agent),
            field(&self.referer),
            self.status,
            self.substatus,
            self.win32,
            self.time_taken.as_millis(),
        )
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
            server_ip: "127.0.0.1".into(),
            method: "GET".into(),
            uri_stem: "/hello".into(),
            uri_query: String::new(),
            port: 80,
            username: String::new(),
            client_ip: "127.0.0.1".into(),
            user_agent: "curl 8".into(),
            referer: String::new(),
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
