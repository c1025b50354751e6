//! Packaging for IIS: Web Deploy (`MSDeploy`) packages and `WebPI` feeds from a
//! `pyproject.toml`, built natively on any OS (no msdeploy.exe, no fciv.exe).
//!
//! * [`init::init`] writes the templates (`Manifest.xml.in`, `Parameters.xml`,
//!   `web.config.in`, `iis_install.stamp.in`);
//! * [`package::package`] validates them and builds `Manifest.xml`, the stamp
//!   and the reproducible package zip;
//! * [`feed::feed`] writes the `WebPI` feed for built packages;
//! * [`clean::clean_webpi`] removes `WebPI`'s cached copies;
//! * [`format`](mod@format) reads and writes the formats (manifest, parameters,
//!   provider-options blob, `WebPI` feed) as typed models.
#![forbid(unsafe_code)]

pub mod clean;
pub mod error;
pub mod expand;
pub mod feed;
pub mod files;
pub mod format;
pub mod init;
pub mod install;
pub mod manifest;
pub mod names;
pub mod package;
pub mod parameters;
pub mod project;
pub mod walk;
pub mod webconfig;
pub mod wheels;
pub mod zipname;

pub use error::DeployError;
pub use format::provider_options;
