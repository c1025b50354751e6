use iiswsgi_deploy::provider_options::{BlobError, ProviderOptions};
use proptest::prelude::*;

/// `MSDeploy.MSDeployProviderOptions` of `examples/sample.msdeploy/Manifest.xml`
/// in rpatterson/iiswsgi at commit 39c5722, written by msdeploy.exe (Web Deploy
/// V3) for `-source:runCommand="…",successReturnCodes=0x0`.
const MSDEPLOY_BLOB: &str = "H4sIAAAAAAAEAOy9B2AcSZYlJi9tynt/SvVK1+B0oQiAYBMk2JBAEOzBiM3mkuwdaUcjKasqgcplVmVdZhZAzO2dvPfee++999577733ujudTif33/8/XGZkAWz2zkrayZ4hgKrIHz9+fB8/In6NX/PX+DV+jf/7//6//2/8xP9+o1/r1/g1fo3vfVFM66qpztvxVT4Zz/JVWV0v8mU7Sn8yr5uiWn72YLw73hnvjNKTddmu6/yzZb5u66wcpS/Xk7KY/l759Zvqbb787N7u5Pzewf1Ps9m9T/fze/d/XfS05zr4LnXw1Hbg/fqyri6LWV5/uWqpw+bX+TV+jV/jN1rpZy+yRf7rrLJ2/usus0Xe/HqXWbnOm1/z1/z1fj2g/+v92r/Gr/FrJPV6eVItFtly9uvh3Wcnj37fl9ftvFruPfh9V/zLOH+Xp9vr1P/m9bQuVm3z+xZFc9VcFL+/jH274Y/Hq+sf+3V/jV/j1/ixX+/X+DV+jd8cv4Fsv96v/2v8Gr/Gb9Gsp9O8aV7lRA3qeJY3vzlaga6/3m/wa/wav8avvfNu5zf8fwIAAP//tTFCT28BAAA=";

const SAMPLE_PATH: &str = r"C:\Python27\python.exe -u C:\Python27\Scripts\iiswsgi_deploy-script.py";

fn gunzip(attr: &str) -> Vec<u8> {
    use base64::Engine as _;
    use std::io::Read as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(attr)
        .unwrap();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn decodes_the_blob_msdeploy_wrote() {
    let opts = ProviderOptions::from_attribute(MSDEPLOY_BLOB).unwrap();
    assert_eq!(
        opts,
        ProviderOptions::new("runCommand", SAMPLE_PATH, &[("successReturnCodes", "0x0")])
    );
}

#[test]
fn payload_is_byte_identical_to_msdeploys() {
    let ours = ProviderOptions::new("runCommand", SAMPLE_PATH, &[("successReturnCodes", "0x0")]);
    let theirs = gunzip(MSDEPLOY_BLOB);
    assert_eq!(theirs.len(), 367);
    assert_eq!(ours.to_payload(), theirs);
    // And our attribute decodes to the same payload.
    assert_eq!(gunzip(&ours.to_attribute()), theirs);
}

#[test]
fn empty_settings_have_empty_arrays() {
    let p = ProviderOptions::new("runCommand", "cmd", &[]).to_payload();
    let tail: &[u8] = &[
        0x11, 5, 0, 0, 0, 0, 0, 0, 0, 0x11, 6, 0, 0, 0, 0, 0, 0, 0, 0x0B,
    ];
    assert!(p.ends_with(tail), "{p:02X?}");
}

#[test]
fn malformed_blobs_are_errors() {
    assert!(matches!(
        ProviderOptions::from_attribute("not base64 !"),
        Err(BlobError::Base64(_))
    ));
    assert!(matches!(
        ProviderOptions::from_attribute("AAAA"),
        Err(BlobError::Gzip(_))
    ));
    let mut p = ProviderOptions::new("runCommand", "x", &[("a", "b")]).to_payload();
    p.pop();
    assert!(matches!(
        ProviderOptions::from_payload(&p),
        Err(BlobError::Payload { .. })
    ));
    p.push(0x0B);
    p.push(0x00);
    assert!(matches!(
        ProviderOptions::from_payload(&p),
        Err(BlobError::Payload { .. })
    ));
}

proptest! {
    #[test]
    fn round_trip(
        provider in "[a-zA-Z]{1,20}",
        path in "\\PC{0,300}",
        settings in proptest::collection::vec(("[a-zA-Z]{1,30}", "\\PC{0,200}"), 0..6),
    ) {
        let opts = ProviderOptions { provider, path, settings };
        prop_assert_eq!(ProviderOptions::from_attribute(&opts.to_attribute()).unwrap(), opts.clone());
        prop_assert_eq!(ProviderOptions::from_payload(&opts.to_payload()).unwrap(), opts);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = ProviderOptions::from_payload(&bytes);
    }
}
