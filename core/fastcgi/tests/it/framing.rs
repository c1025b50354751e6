//! Framing a stream whose content lies in several buffers: the gather-write
//! pieces, the buffered copy and the one-buffer writer agree byte for byte.

use iiswsgi_fastcgi::app::{AppConfig, AppConnection, AppEvent};
use iiswsgi_fastcgi::proto::{self, FramedStream, ProtocolStatus, RecordType, Role, WRITE_CHUNK};
use iiswsgi_fastcgi::server::{ServerConnection, ServerEvent};
use proptest::prelude::*;

fn parts_of(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        out.push(data[at..c].to_vec());
        at = c;
    }
    out.push(data[at..].to_vec());
    out
}

proptest! {
    #[test]
    fn pieces_and_buffered_parts_match_the_one_buffer_writer(
        len in prop_oneof![0usize..300, (WRITE_CHUNK - 10)..(WRITE_CHUNK + 10), 0usize..(3 * WRITE_CHUNK)],
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        id in 1u16..=u16::MAX,
    ) {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let owned = parts_of(&data, &cuts);
        let parts: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let mut expect = Vec::new();
        proto::write_stream(&mut expect, RecordType::Stdout, id, &data);

        let mut buffered = Vec::new();
        proto::write_stream_parts(&mut buffered, RecordType::Stdout, id, &parts);
        prop_assert_eq!(&buffered, &expect);

        let framed = FramedStream::new(RecordType::Stdout, id, len);
        let mut gathered = Vec::new();
        let mut pieces = 0;
        framed.pieces(&parts, |p| {
            pieces += 1;
            gathered.extend_from_slice(p);
        });
        prop_assert_eq!(&gathered, &expect);
        prop_assert!(pieces <= framed.piece_count(parts.len()));
    }
}

#[test]
fn finish_response_ends_the_stream_and_the_request() {
    let mut wire = Vec::new();
    let mut server = ServerConnection::new();
    server.begin_request(&mut wire, 5, Role::Responder, false);
    server.params(&mut wire, 5, [("A", "b")], None).unwrap();
    server.stdin(&mut wire, 5, b"xy");
    let mut app = AppConnection::new(AppConfig::single_request());
    app.read_buf().extend(&wire);
    assert!(matches!(app.poll().unwrap(), Some(AppEvent::Request(_))));
    assert!(matches!(app.poll().unwrap(), Some(AppEvent::Stdin { .. })));
    assert!(!app.body_complete(5));
    let mut end = Vec::new();
    server.stdin_end(&mut end, 5);
    app.read_buf().extend(&end);
    assert_eq!(
        app.poll().unwrap(),
        Some(AppEvent::StdinEnd { request_id: 5 })
    );
    assert!(app.body_complete(5));
    assert!(!app.body_complete(6));

    let mut out = Vec::new();
    let close = app.finish_response(&mut out, 5, 3);
    assert!(close, "no FCGI_KEEP_CONN: the connection closes");
    assert_eq!(app.active_request(), None);
    assert!(!app.body_complete(5), "an ended request has no state");
    server.read_buf().extend(&out);
    assert_eq!(
        server.poll().unwrap(),
        Some(ServerEvent::Stdout {
            request_id: 5,
            data: b""
        })
    );
    assert_eq!(
        server.poll().unwrap(),
        Some(ServerEvent::EndRequest {
            request_id: 5,
            app_status: 3,
            protocol_status: ProtocolStatus::RequestComplete
        })
    );
}
