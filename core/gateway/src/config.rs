//! wfastcgi-compatible settings: `<appSettings>` of the application's
//! `web.config` (read through the one IIS XML model, `iiswsgi-iisconfig`), and
//! `%VAR%` expansion.

use std::path::Path;

pub use iiswsgi_iisconfig::{find_web_config, ConfigError};

/// The `<configuration><appSettings>` entries of a `web.config`, in order, with
/// `<remove>` and `<clear>` applied.
pub fn read_app_settings(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    iiswsgi_iisconfig::WebConfig::load(path)?.app_settings()
}

/// Expands `%VAR%` from the environment as wfastcgi does for `PYTHONPATH`;
/// unknown variables are left as they are.
pub fn expand_percent_vars(s: &str) -> String {
    iiswsgi_iisconfig::expand_percent(s, &|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_vars() {
        std::env::set_var("IISWSGI_TEST_VAR", "v");
        assert_eq!(expand_percent_vars("a%IISWSGI_TEST_VAR%b"), "avb");
        assert_eq!(expand_percent_vars("%NOPE_NOT_SET%;%"), "%NOPE_NOT_SET%;%");
        assert_eq!(expand_percent_vars("100%"), "100%");
    }
}
