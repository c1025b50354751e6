//! Packaging for IIS: Web Deploy (MSDeploy) packages and WebPI feeds, built
//! natively on any OS (no msdeploy.exe, no fciv.exe).
//!
//! So far: the `MSDeploy.MSDeployProviderOptions` blob
//! ([`provider_options`]) and template expansion with Windows `expandvars`
//! semantics ([`expand`]).
#![forbid(unsafe_code)]

pub mod expand;
pub mod provider_options;
