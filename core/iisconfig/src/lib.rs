//! One IIS XML model, read and written: the checked XML reader, `web.config`
//! and `applicationHost.config`.
//!
//! Every XML file iiswsgi reads (web.config, applicationHost.config, Web
//! Deploy manifests and parameters, `WebPI` feeds) goes through [`Document`]:
//! well-formedness checked with the file and line in each error, DOCTYPEs
//! refused, and written back with untouched parts byte-identical.

pub mod apphost;
pub mod dom;
pub mod error;
pub mod fastcgi;
pub mod io;
pub mod vars;
pub mod webconfig;

pub use apphost::{
    AppPool, Application, ApplicationHost, Binding, SectionDecl, Site, VirtualDirectory,
};
pub use dom::{Document, Element, Node, Wording};
pub use error::{chain as error_chain, line_of, ConfigError, ErrorKind};
pub use fastcgi::{FastCgiApplication, Handler, Protocol, StderrMode};
pub use vars::{env_var, expand_percent};
pub use webconfig::{find_web_config, AppSetting, WebConfig};
