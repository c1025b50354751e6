//! `web.config.in` checks: well-formed after expansion, and every `FastCGI`
//! handler's `scriptProcessor` names a `<fastCgi><application>` of the same
//! file exactly (`fullPath|arguments`, as IIS keys its process pools). The
//! reading is the one IIS XML model's (`iiswsgi-iisconfig`).

use std::path::Path;

use iiswsgi_iisconfig::{FastCgiApplication, WebConfig, Wording};

use crate::error::DeployError;

/// Validates the expanded text; returns the `FastCGI` applications it declares.
pub fn validate(file: &Path, text: &str) -> Result<Vec<FastCgiApplication>, DeployError> {
    let config = WebConfig::parse_with(file, text, Wording::AFTER_EXPANSION)?;
    Ok(config.validate_handlers()?)
}
