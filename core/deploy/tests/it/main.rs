#![allow(clippy::unwrap_used)]
//! Packager tests: the provider-options blob against one msdeploy.exe wrote,
//! and template expansion.

mod expand;
mod provider_options;
