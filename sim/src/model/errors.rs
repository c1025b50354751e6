//! IIS's error responses, pure: status and substatus, the Win32 status that
//! the W3C log records, the text IIS shows, and the page, detailed (module,
//! notification, handler, error code, as IIS's detailed error page lists
//! them) or custom (IIS's short page), as `<httpErrors errorMode>` decides.
//!
//! The `FastCGI` texts are IIS's (reference `iis-fastcgi.md` §1.6); where IIS's
//! wording was not found in a public source the text says what happened in
//! the same style, and `docs/SIMULATOR.md` lists which.

use std::fmt::Write as _;
/// Where an error arose, for the detailed page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IisError {
    pub status: u16,
    pub substatus: u16,
    /// The Win32 status of the W3C log's `sc-win32-status`.
    pub win32: u32,
    /// The HRESULT the detailed page shows as "Error Code".
    pub hresult: u32,
    pub module: &'static str,
    pub notification: &'static str,
    /// The handler's name (empty before a handler is chosen).
    pub handler: String,
    /// The one-line description.
    pub text: String,
    /// What the process wrote to STDERR, shown with `ReturnStdErrIn500`.
    pub detail: Option<String>,
}

const FASTCGI: &str = "FastCgiModule";
const EXECUTE: &str = "ExecuteRequestHandler";

impl IisError {
    fn fastcgi(handler: &str, text: String, hresult: u32, win32: u32) -> IisError {
        IisError {
            status: 500,
            substatus: 0,
            win32,
            hresult,
            module: FASTCGI,
            notification: EXECUTE,
            handler: handler.to_owned(),
            text,
            detail: None,
        }
    }

    /// No `<fastCgi><application>` has the handler's `scriptProcessor`.
    pub fn no_fastcgi_application(handler: &str, script_processor: &str) -> IisError {
        let mut e = IisError::fastcgi(
            handler,
            "<handler> scriptProcessor could not be found in <fastCGI> application configuration"
                .into(),
            0x8007_0585,
            1413,
        );
        e.detail = Some(format!("scriptProcessor=\"{script_processor}\""));
        e
    }

    /// The process ended during the request (or before answering).
    pub fn exited_unexpectedly(handler: &str, full_path: &str, exit_code: u32) -> IisError {
        IisError::fastcgi(
            handler,
            format!("{full_path} - The FastCGI process exited unexpectedly"),
            exit_code,
            109,
        )
    }

    /// The process could not be started.
    pub fn start_failed(handler: &str, full_path: &str, why: &str) -> IisError {
        let mut e = IisError::fastcgi(
            handler,
            format!("{full_path} - The FastCGI process failed to start"),
            0x8007_0002,
            2,
        );
        e.detail = Some(why.to_owned());
        e
    }

    pub fn activity_timeout(handler: &str, full_path: &str) -> IisError {
        IisError::fastcgi(
            handler,
            format!("{full_path} - The FastCGI process exceeded configured activity timeout"),
            0x8007_0102,
            258,
        )
    }

    pub fn request_timeout(handler: &str, full_path: &str) -> IisError {
        IisError::fastcgi(
            handler,
            format!("{full_path} - The FastCGI process exceeded configured request timeout"),
            0x8007_0102,
            258,
        )
    }

    pub fn rapid_fail(handler: &str, full_path: &str) -> IisError {
        IisError::fastcgi(
            handler,
            format!("{full_path} - The FastCGI process has failed frequently recently. Try the request again in a while"),
            0x8000_4005,
            0,
        )
    }

    /// The process sent something IIS does not accept (`ERROR_INVALID_DATA`).
    pub fn invalid_data(handler: &str, full_path: &str, what: &str) -> IisError {
        let mut e = IisError::fastcgi(
            handler,
            format!("{full_path} - The FastCGI process returned invalid data"),
            0x8007_000D,
            13,
        );
        e.detail = Some(what.to_owned());
        e
    }

    /// STDERR with `ReturnStdErrIn500`: the text is shown.
    pub fn stderr(handler: &str, stderr: &str) -> IisError {
        let mut e = IisError::fastcgi(handler, stderr.to_owned(), 0, 0);
        e.detail = Some(stderr.to_owned());
        e
    }

    /// STDERR with `ReturnGeneric500` or `TerminateProcess`.
    pub fn generic_500(handler: &str) -> IisError {
        IisError::fastcgi(
            handler,
            "The page cannot be displayed because an internal server error has occurred.".into(),
            0,
            0,
        )
    }

    /// The pool's queue (`queueLength`) is full.
    pub fn queue_full(handler: &str, full_path: &str) -> IisError {
        let mut e = IisError::fastcgi(
            handler,
            format!("{full_path} - The FastCGI queue has been exceeded"),
            0x8007_0018,
            24,
        );
        e.status = 503;
        e
    }

    pub fn not_found(handler: &str) -> IisError {
        IisError {
            status: 404,
            substatus: 0,
            win32: 2,
            hresult: 0x8007_0002,
            module: "IIS Web Core",
            notification: "MapRequestHandler",
            handler: handler.to_owned(),
            text: "The resource you are looking for has been removed, had its name changed, or is temporarily unavailable.".into(),
            detail: None,
        }
    }

    /// `Content-Length` above `maxAllowedContentLength`.
    pub fn content_length_too_large(limit: u64) -> IisError {
        IisError {
            status: 404,
            substatus: 13,
            win32: 0,
            hresult: 0,
            module: "RequestFilteringModule",
            notification: "BeginRequest",
            handler: String::new(),
            text: "The request filtering module is configured to deny a request that exceeds the request content length.".into(),
            detail: Some(format!("maxAllowedContentLength=\"{limit}\"")),
        }
    }

    /// A chunked body that grew past `maxAllowedContentLength` while it was sent.
    pub fn entity_too_large(handler: &str, limit: u64) -> IisError {
        IisError {
            status: 413,
            substatus: 0,
            win32: 0,
            hresult: 0,
            module: "RequestFilteringModule",
            notification: EXECUTE,
            handler: handler.to_owned(),
            text: "The page was not displayed because the request entity is too large.".into(),
            detail: Some(format!("maxAllowedContentLength=\"{limit}\"")),
        }
    }

    pub fn method_not_allowed(handler: &str) -> IisError {
        IisError {
            status: 405,
            substatus: 0,
            win32: 1,
            hresult: 0x8007_0001,
            module: "StaticFileModule",
            notification: EXECUTE,
            handler: handler.to_owned(),
            text: "The page you are looking for cannot be displayed because an invalid method (HTTP verb) is being used.".into(),
            detail: None,
        }
    }

    /// The status line's reason phrase.
    pub fn reason(&self) -> &'static str {
        match self.status {
            404 => "Not Found",
            405 => "Method Not Allowed",
            413 => "Request Entity Too Large",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    /// The line the simulator logs (what IIS would only show in a page or
    /// the event log).
    pub fn log_line(&self) -> String {
        let mut s = format!(
            "{}.{} {} ({}, 0x{:08x}): {}",
            self.status, self.substatus, self.module, self.notification, self.hresult, self.text
        );
        if let Some(d) = &self.detail {
            if *d != self.text {
                let _ = write!(s, " [{}]", d.trim());
            }
        }
        s
    }

    /// The page IIS sends: detailed or custom.
    pub fn page(&self, detailed: bool, url: &str, physical: &str) -> String {
        let title = format!(
            "HTTP Error {}.{} - {}",
            self.status,
            self.substatus,
            self.reason()
        );
        if !detailed {
            return format!(
                "<!DOCTYPE html>\r\n<html><head><title>{code} - {r}</title></head><body><h2>{code} - {r}.</h2>\r\n<h3>There is a problem with the resource you are looking for, and it cannot be displayed.</h3></body></html>\r\n",
                code = self.status,
                r = self.reason()
            );
        }
        let detail = self
            .detail
            .as_deref()
            .map(|d| format!("<pre>{}</pre>\r\n", html(d)))
            .unwrap_or_default();
        format!(
            "<!DOCTYPE html>\r\n<html><head><title>IIS 10.0 Detailed Error - {status}.{sub} - {reason}</title></head><body>\r\n<h1>{title}</h1>\r\n<h3>{text}</h3>\r\n{detail}<table>\r\n<tr><th>Module</th><td>{module}</td></tr>\r\n<tr><th>Notification</th><td>{notif}</td></tr>\r\n<tr><th>Handler</th><td>{handler}</td></tr>\r\n<tr><th>Error Code</th><td>0x{hr:08x}</td></tr>\r\n<tr><th>Requested URL</th><td>{url}</td></tr>\r\n<tr><th>Physical Path</th><td>{phys}</td></tr>\r\n</table></body></html>\r\n",
            status = self.status,
            sub = self.substatus,
            reason = self.reason(),
            text = html(&self.text),
            module = self.module,
            notif = self.notification,
            handler = html(&self.handler),
            hr = self.hresult,
            url = html(url),
            phys = html(physical),
        )
    }
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
