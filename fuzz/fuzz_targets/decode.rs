//! Feeds arbitrary bytes, in arbitrary pieces, to both sides of the codec.
#![no_main]

use iiswsgi_fastcgi::app::{AppConfig, AppConnection};
use iiswsgi_fastcgi::server::ServerConnection;
use iiswsgi_fastcgi::proto::Role;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (step, bytes) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s).max(1), rest),
        None => return,
    };
    let mut app = AppConnection::new(AppConfig::single_request());
    'app: for piece in bytes.chunks(step) {
        app.read_buf().extend(piece);
        loop {
            match app.poll() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => break 'app,
            }
        }
    }
    let mut server = ServerConnection::new();
    server.begin_request(&mut Vec::new(), 1, Role::Responder, true);
    server.read_buf().extend(bytes);
    while let Ok(Some(_)) = server.poll() {}
});
