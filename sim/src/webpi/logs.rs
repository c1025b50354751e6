//! The install logs' folder and the lines that let `iiswsgi sim replay`
//! install the same again, in `WebPI`'s log style (`DownloadManager
//! Information: 0 : …`): the feeds, the products asked for (title and id),
//! the target, the parameters given, and the place in the install order.

use std::path::{Path, PathBuf};

/// The prefix of `WebPI`'s log lines.
pub const DM: &str = "DownloadManager Information: 0 : ";

/// What one install was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    pub feeds: Vec<String>,
    /// (title, product id), in the order asked.
    pub products: Vec<(String, String)>,
    pub iis_express: bool,
    /// The parameters given (`--param NAME=VALUE`), in order.
    pub params: Vec<(String, String)>,
    /// This product's place in the install order: (n, of).
    pub sequence: (usize, usize),
}

/// The lines written at the top of each product's install log.
pub fn replay_lines(r: &Recorded) -> Vec<String> {
    let mut out: Vec<String> = r
        .feeds
        .iter()
        .map(|f| format!("{DM}Loading product xml from: {f}"))
        .collect();
    out.extend(
        r.products
            .iter()
            .map(|(t, id)| format!("{DM}Adding product '{t}' ({id}) to cart")),
    );
    out.push(format!(
        "{DM}Install target: {}",
        if r.iis_express { "IIS Express" } else { "IIS" }
    ));
    out.extend(
        r.params
            .iter()
            .map(|(k, v)| format!("{DM}Parameter given: '{k}' = '{v}'")),
    );
    out.push(format!(
        "{DM}Install sequence: {} of {}",
        r.sequence.0, r.sequence.1
    ));
    out
}

/// Reads [`replay_lines`] back (other lines are passed over).
pub fn read_replay_lines(text: &str, r: &mut Recorded) {
    for line in text.lines() {
        let l = line.trim_end_matches('\r').trim_start_matches(DM);
        if let Some(f) = l.strip_prefix("Loading product xml from: ") {
            if !r.feeds.iter().any(|x| x == f) {
                r.feeds.push(f.to_owned());
            }
        } else if let Some((t, id)) = l
            .strip_prefix("Adding product '")
            .and_then(|l| l.strip_suffix(") to cart"))
            .and_then(|l| l.rsplit_once("' ("))
        {
            if !r.products.iter().any(|(_, x)| x == id) {
                r.products.push((t.to_owned(), id.to_owned()));
            }
        } else if let Some(t) = l.strip_prefix("Install target: ") {
            r.iis_express |= t.eq_ignore_ascii_case("IIS Express");
        } else if let Some((k, v)) = l
            .strip_prefix("Parameter given: '")
            .and_then(|p| p.strip_suffix('\''))
            .and_then(|p| p.split_once("' = '"))
        {
            if !r.params.iter().any(|(x, _)| x == k) {
                r.params.push((k.to_owned(), v.to_owned()));
            }
        } else if let Some((n, of)) = l
            .strip_prefix("Install sequence: ")
            .and_then(|s| s.split_once(" of "))
        {
            if let (Ok(n), Ok(of)) = (n.parse(), of.parse()) {
                r.sequence = (n, of);
            }
        }
    }
}

/// `logs\install\<time>`, a new folder for each install (`<time>-2`, … when
/// installs share a second or `SOURCE_DATE_EPOCH` fixes the time).
pub fn install_log_dir(cache: &Path, stamp: &str) -> PathBuf {
    let base = cache.join("logs").join("install");
    std::iter::once(stamp.to_owned())
        .chain((2..1000).map(|n| format!("{stamp}-{n}")))
        .map(|name| base.join(name))
        .find(|p| !p.exists())
        .unwrap_or_else(|| base.join(stamp))
}
