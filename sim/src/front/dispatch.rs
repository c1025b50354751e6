//! One HTTP request through IIS's pipeline: binding → site → application →
//! configuration in effect → request filtering → handler → `FastCgiModule` or
//! `StaticFileModule`; errors as IIS's pages; one W3C log line.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use iiswsgi_iisconfig::{Application, Handler, Site};

use super::{FrontState, Listener};
use crate::host::exchange::{Event, Job};
use crate::host::relay::{relay, Receiver};
use crate::model::errors::IisError;
use crate::model::routing::{
    application_root, physical_path, select_application, select_binding, select_handler,
};
use crate::model::vars::{encoded_server_variables, RequestVars};
use crate::model::w3c;

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A `FastCGI` exchange in progress, polled by whoever holds it: the request
/// handler until the head is released, then the response body (so a
/// request costs no task of its own). Dropped unfinished (the client went
/// away), it is spawned to finish, so that its process goes back to the pool.
struct Exchange(Option<Driver>);

impl Exchange {
    fn poll_drive(&mut self, cx: &mut Context<'_>) {
        if let Some(f) = &mut self.0 {
            if f.as_mut().poll(cx).is_ready() {
                self.0 = None;
            }
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(f);
            }
        }
    }
}

/// The response body of a `FastCGI` request: what the exchange releases.
struct ChannelBody {
    rx: Receiver<Event>,
    exchange: Exchange,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.exchange.poll_drive(cx);
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Event::Data(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Event::Failed(e))) => {
                Poll::Ready(Some(Err(std::io::Error::other(e.text))))
            }
            Poll::Ready(Some(Event::Head(_))) => {
                Poll::Ready(Some(Err(std::io::Error::other("a second head"))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

pub fn full_body(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response and what the log records of it.
pub struct Outcome {
    pub response: Response<Body>,
    pub substatus: u16,
    pub win32: u32,
}

impl Outcome {
    pub fn new(response: Response<Body>) -> Outcome {
        Outcome {
            response,
            substatus: 0,
            win32: 0,
        }
    }
}

/// One request, borrowed from hyper's parsed head.
struct Ctx<'a> {
    peer: SocketAddr,
    /// The client's address as text (once per connection).
    peer_ip: &'a str,
    method: &'a str,
    path: std::borrow::Cow<'a, str>,
    query: &'a str,
    /// The request headers in arrival order (hyper's lower-case names).
    headers: Vec<(&'a str, &'a [u8])>,
    host: &'a str,
    version: hyper::Version,
}

impl Ctx<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Decodes `%XX` in a URL path as IIS does before routing.
fn percent_decode(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('%') {
        return s.into();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && s.is_char_boundary(i + 3) {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned().into()
}

fn error_response(e: &IisError, detailed: bool, url: &str, physical: &str) -> Outcome {
    if e.status >= 500 || e.status == 413 {
        tracing::warn!("{url}: {}", e.log_line());
    }
    let page = e.page(detailed, url, physical);
    let response = Response::builder()
        .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("Content-Type", "text/html")
        .header("Server", "Microsoft-IIS/10.0")
        .body(full_body(page))
        .unwrap_or_else(|_| Response::new(full_body("")));
    Outcome {
        response,
        substatus: e.substatus,
        win32: e.win32,
    }
}

fn protocol(v: hyper::Version) -> &'static str {
    match v {
        hyper::Version::HTTP_09 => "HTTP/0.9",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_2 => "HTTP/2.0",
        hyper::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Serves one request.
pub(crate) async fn handle(
    st: Arc<FrontState>,
    li: Arc<Listener>,
    (peer, peer_ip): (SocketAddr, Arc<str>),
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let ctx = Ctx {
        peer,
        peer_ip: &peer_ip,
        method: parts.method.as_str(),
        path: percent_decode(parts.uri.path()),
        query: parts.uri.query().unwrap_or_default(),
        host: parts
            .headers
            .get(hyper::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect(),
        version: parts.version,
    };
    let ah = st.config.apphost();
    let site = select_binding(&st.bindings, &li.protocol, li.port, ctx.host)
        .and_then(|b| ah.sites.iter().find(|s| s.id == b.site_id));
    let Some(site) = site else {
        let resp = Response::builder()
            .status(400)
            .body(full_body("<h1>Bad Request (Invalid Hostname)</h1>"))
            .unwrap_or_else(|_| Response::new(full_body("")));
        return Ok(resp);
    };
    let out = route(&st, &li, &ah, site, &ctx, body).await;
    let entry = w3c::Entry {
        time: SystemTime::now(),
        server_ip: &li.ip,
        method: ctx.method,
        uri_stem: &ctx.path,
        uri_query: ctx.query,
        port: li.port,
        username: "",
        client_ip: ctx.peer_ip,
        user_agent: ctx.header("User-Agent").unwrap_or_default(),
        referer: ctx.header("Referer").unwrap_or_default(),
        status: out.response.status().as_u16(),
        substatus: out.substatus,
        win32: out.win32,
        time_taken: started.elapsed(),
    };
    st.logs.write(site.id, &entry);
    Ok(out.response)
}

/// `PATH_TRANSLATED`: the application's folder joined lexically with the
/// rest of the URL (no disk lookup per request).
fn translated(app_physical: &str, rest: &str) -> String {
    let rest = rest.trim_start_matches('/');
    let mut out = String::with_capacity(app_physical.len() + rest.len() + 1);
    out.push_str(app_physical);
    if !app_physical.is_empty() && !app_physical.ends_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    out
}

/// The server variables of a `FastCGI` request, encoded as PARAMS content
/// (`None`, logged, if they cannot be: a name or value past 2 GiB).
fn params(
    st: &FrontState,
    li: &Listener,
    (site, app): (&Site, &Application),
    ctx: &Ctx<'_>,
    handler: &Handler,
    content_length: Option<u64>,
) -> Option<Vec<u8>> {
    let app_physical = application_root(app)
        .map(|w| st.paths.get(&st.machine, &w))
        .unwrap_or_default();
    let rest = ctx
        .path
        .get(app.path.trim_end_matches('/').len()..)
        .unwrap_or_default();
    let path_translated = translated(&app_physical, rest);
    let vars = RequestVars {
        site_id: site.id,
        app_path: app.path.trim_end_matches('/'),
        app_physical: &app_physical,
        path_translated: &path_translated,
        method: ctx.method,
        path: &ctx.path,
        query: ctx.query,
        https: li.protocol == "https",
        local_addr: &li.ip,
        server_port: li.port,
        server_name: ctx.host.rsplit_once(':').map_or(ctx.host, |(h, _)| h),
        remote_addr: ctx.peer_ip,
        remote_port: ctx.peer.port(),
        protocol: protocol(ctx.version),
        headers: &ctx.headers,
        content_length,
        allow_path_info: handler.allow_path_info,
    };
    encoded_server_variables(&vars)
        .map_err(|e| tracing::warn!("{}: the server variables cannot be encoded: {e}", ctx.path))
        .ok()
}

async fn route(
    st: &Arc<FrontState>,
    li: &Listener,
    ah: &super::state::Apphost,
    site: &Site,
    ctx: &Ctx<'_>,
    body: Incoming,
) -> Outcome {
    let detailed_default = ctx.peer.ip().is_loopback();
    let Some(app) = select_application(site, &ctx.path) else {
        return error_response(&IisError::not_found(""), detailed_default, &ctx.path, "");
    };
    let effective = st.config.effective(ah, site, &ctx.path);
    let detailed = effective
        .error_mode
        .detailed_for(ctx.peer.ip().is_loopback());
    // The Windows physical path, for error pages and static files only.
    let win_physical = || {
        st.machine
            .expand(&physical_path(app, &ctx.path).unwrap_or_default())
    };
    let failed = |e: &IisError| error_response(e, detailed, &ctx.path, &win_physical());
    let content_length = ctx
        .header_str("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if content_length.is_some_and(|n| n > effective.max_allowed_content_length) {
        return failed(&IisError::content_length_too_large(
            effective.max_allowed_content_length,
        ));
    }
    let Some(handler) = select_handler(&effective.handlers, &ctx.path, ctx.method) else {
        let mut e = IisError::not_found("");
        e.substatus = 4;
        return failed(&e);
    };
    if handler.is_fastcgi() {
        let chunked = content_length.is_none()
            && ctx
                .header_str("Transfer-Encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let content_length = if chunked {
            None
        } else {
            Some(content_length.unwrap_or(0))
        };
        let Some(params) = params(st, li, (site, app), ctx, handler, content_length) else {
            return failed(&IisError::generic_500(&handler.name));
        };
        let job = Job {
            params,
            body: Some(body),
            content_length,
            max_body: effective.max_allowed_content_length,
            buffer_limit: handler.response_buffer_limit,
            stderr_mode: iiswsgi_iisconfig::StderrMode::default(),
        };
        return fastcgi(st, ah, handler, job, &failed).await;
    }
    if handler
        .modules
        .to_ascii_lowercase()
        .contains("staticfilemodule")
    {
        let win_physical = win_physical();
        let host_physical = st.machine.host_path(&win_physical).unwrap_or_default();
        return super::files::serve(ctx.method, &ctx.path, &host_physical, &effective, handler)
            .await
            .unwrap_or_else(|e| error_response(&e, detailed, &ctx.path, &win_physical));
    }
    let mut e = IisError::not_found(&handler.name);
    e.substatus = 4;
    failed(&e)
}

async fn fastcgi(
    st: &Arc<FrontState>,
    ah: &super::state::Apphost,
    handler: &Handler,
    mut job: Job,
    failed: &(dyn Fn(&IisError) -> Outcome + Sync),
) -> Outcome {
    let apps = &ah.fastcgi;
    let Some(app) = apps
        .iter()
        .find(|a| a.matches_script_processor(&handler.script_processor))
    else {
        let e = IisError::no_fastcgi_application(&handler.name, &handler.script_processor);
        return failed(&e);
    };
    job.stderr_mode = app.stderr_mode;
    let pool = st.host.pool(app);
    let (tx, mut rx) = relay();
    let name = handler.name.clone();
    let mut exchange = Exchange(Some(Box::pin(async move {
        if let Err(e) = pool.serve(&name, job, &tx).await {
            tx.send(Event::Failed(e)).await;
        }
    })));
    let first = std::future::poll_fn(|cx| {
        exchange.poll_drive(cx);
        rx.poll_recv(cx)
    })
    .await;
    match first {
        Some(Event::Head(head)) => {
            let mut response = Response::new(ChannelBody { rx, exchange }.boxed_unsync());
            *response.status_mut() = head.status;
            *response.headers_mut() = head.headers;
            Outcome {
                response,
                substatus: 0,
                win32: 0,
            }
        }
        Some(Event::Failed(e)) => failed(&e),
        _ => failed(&IisError::generic_500(&handler.name)),
    }
}
