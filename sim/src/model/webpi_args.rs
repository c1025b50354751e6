//! `WebPI`'s command line, in iiswsgi's spelling (`list --feeds URL…`,
//! `install --products A,B --feeds URL… [--iis-express] [--param N=V…]
//! [--accept-eula] [--progress]`) and in WebPICmd.exe's (`/List /ListOption:Available
//! /Feeds:URL`, `/Install /Products:A,B /Feeds:URL /IISExpress /AcceptEULA`).

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    List,
    Install,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebpiArgs {
    pub action: Action,
    pub products: Vec<String>,
    pub feeds: Vec<String>,
    pub iis_express: bool,
    /// `--param NAME=VALUE`, in order.
    pub params: Vec<(String, String)>,
    pub accept_eula: bool,
    /// iiswsgi's own (`--progress`): show Web Deploy's sync, its runCommand
    /// and the installer's steps as they run, each with its time (`WebPICmd`
    /// shows only "Started installing" and "Install completed").
    pub progress: bool,
}

/// A command line `WebPI` would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebpiArgError {
    #[error("no command: use `list` or `install` (WebPICmd: /List or /Install)")]
    NoAction,
    #[error("unknown argument {0:?}")]
    Unknown(String),
    #[error("{0} needs a value")]
    NoValue(String),
    #[error("--param {0:?} is not NAME=VALUE")]
    BadParam(String),
    #[error("install needs --products ID[,ID…] (WebPICmd: /Products:ID)")]
    NoProducts,
    #[error("no feed: give --feeds URL (WebPICmd: /Feeds:URL); Microsoft's feeds are retired, so the simulator has no default feed")]
    NoFeeds,
}

fn list(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

const SWITCHES: [&str; 12] = [
    "list",
    "install",
    "products",
    "application",
    "feeds",
    "xml",
    "iisexpress",
    "accepteula",
    "listoption",
    "suppressreboot",
    "language",
    "log",
];

/// `--flag`, or one of `WebPICmd`'s `/Switch[:value]` (a host path such as
/// `/tmp/feed.xml` is not one).
fn is_switch(a: &str) -> bool {
    if a.starts_with("--") {
        return true;
    }
    a.strip_prefix('/').is_some_and(|b| {
        let name = b.split_once(':').map_or(b, |(n, _)| n);
        SWITCHES.iter().any(|s| s.eq_ignore_ascii_case(name))
    })
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<WebpiArgs, WebpiArgError> {
    let mut out = WebpiArgs {
        action: Action::List,
        products: Vec::new(),
        feeds: Vec::new(),
        iis_express: false,
        params: Vec::new(),
        accept_eula: false,
        progress: false,
    };
    let mut action = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        // WebPICmd's /Name:value.
        if let Some(body) = a.strip_prefix('/').filter(|_| is_switch(a)) {
            let (name, value) = body.split_once(':').unwrap_or((body, ""));
            match name.to_ascii_lowercase().as_str() {
                "list" => action = Some(Action::List),
                "install" => action = Some(Action::Install),
                "products" | "application" => out.products.extend(list(value)),
                "feeds" | "xml" => out.feeds.extend(list(value)),
                "iisexpress" => out.iis_express = true,
                "accepteula" => out.accept_eula = true,
                _ => {}
            }
            continue;
        }
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        // Values: the inline one, else the following words up to the next flag.
        let mut values = |multi: bool| -> Result<Vec<String>, WebpiArgError> {
            if let Some(v) = &inline {
                return Ok(vec![v.clone()]);
            }
            let mut vs = Vec::new();
            while i < args.len() && !is_switch(&args[i]) {
                vs.push(args[i].clone());
                i += 1;
                if !multi {
                    break;
                }
            }
            if vs.is_empty() {
                return Err(WebpiArgError::NoValue(flag.to_owned()));
            }
            Ok(vs)
        };
        match flag {
            "list" | "--list" => action = Some(Action::List),
            "install" | "--install" => action = Some(Action::Install),
            "--products" => {
                for v in values(true)? {
                    out.products.extend(list(&v));
                }
            }
            "--feeds" | "--feed" => {
                for v in values(true)? {
                    out.feeds.extend(list(&v));
                }
            }
            "--param" => {
                for v in values(false)? {
                    let (n, val) = v
                        .split_once('=')
                        .ok_or(WebpiArgError::BadParam(v.clone()))?;
                    out.params.push((n.to_owned(), val.to_owned()));
                }
            }
            "--iis-express" => out.iis_express = true,
            "--accept-eula" => out.accept_eula = true,
            "--progress" => out.progress = true,
            _ => return Err(WebpiArgError::Unknown(a.clone())),
        }
    }
    out.action = action.ok_or(WebpiArgError::NoAction)?;
    if out.feeds.is_empty() {
        return Err(WebpiArgError::NoFeeds);
    }
    if out.action == Action::Install && out.products.is_empty() {
        return Err(WebpiArgError::NoProducts);
    }
    Ok(out)
}
