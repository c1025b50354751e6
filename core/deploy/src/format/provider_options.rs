//! `MSDeploy.MSDeployProviderOptions`: the blob Web Deploy writes for a
//! provider's settings (runCommand's `successReturnCodes`, `waitAttempts`, …).
//!
//! It is base64 of gzip of a .NET `BinaryFormatter` (MS-NRBF) stream of
//! `Microsoft.Web.Deployment.DeploymentProviderOptions`, whose four members are
//! `providerName` (string), `path` (string), `names` (string[]) and `values`
//! (string[]). The payload this module writes is byte-identical to what
//! msdeploy.exe writes for the same provider, path and settings (checked against
//! a blob msdeploy.exe produced; see the tests). Layout (integers are int32
//! little-endian; strings are a 7-bit varint length and UTF-8):
//!
//! ```text
//! 00 01 FFFFFFFF 01 00            SerializedStreamHeader (root 1, header -1, v1.0)
//! 0C 02 "Microsoft.web.deployment, Version=7.1.0.0, …"   BinaryLibrary 2
//! 05 01 "…DeploymentProviderOptions" 4 "providerName" "path" "names" "values"
//!       01 01 06 06 02            ClassWithMembersAndTypes 1 (String, String,
//!                                 StringArray, StringArray), library 2
//! 06 03 providerName              BinaryObjectString 3
//! 06 04 path                      BinaryObjectString 4
//! 09 05   09 06                   MemberReference to the two arrays
//! 11 05 N (06 id name)*N          ArraySingleString 5, ids from 7
//! 11 06 N (06 id value)*N         ArraySingleString 6
//! 0B                              MessageEnd
//! ```

use std::io::{Read, Write};

use base64::Engine as _;

/// The assembly name msdeploy.exe writes (Web Deploy V3 included).
pub const ASSEMBLY: &str =
    "Microsoft.web.deployment, Version=7.1.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35";
/// The serialized class.
pub const CLASS: &str = "Microsoft.Web.Deployment.DeploymentProviderOptions";
const MEMBERS: [&str; 4] = ["providerName", "path", "names", "values"];

/// A provider invocation and its settings, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderOptions {
    pub provider: String,
    pub path: String,
    pub settings: Vec<(String, String)>,
}

/// A blob that is not a `DeploymentProviderOptions` record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlobError {
    #[error("MSDeployProviderOptions is not valid base64: {0}")]
    Base64(String),
    #[error("MSDeployProviderOptions is not gzip data: {0}")]
    Gzip(String),
    #[error("MSDeployProviderOptions payload is malformed at byte {offset}: {what}")]
    Payload { offset: usize, what: String },
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "masked to 7 bits just before"
)]
fn push_string(out: &mut Vec<u8>, s: &str) {
    let mut n = s.len();
    loop {
        let byte = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(s.as_bytes());
}

fn push_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Ids are int32 in the format; a provider never has 2^31 settings.
fn id(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl ProviderOptions {
    pub fn new(provider: &str, path: &str, settings: &[(&str, &str)]) -> Self {
        ProviderOptions {
            provider: provider.into(),
            path: path.into(),
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }

    /// The `BinaryFormatter` payload (before gzip and base64).
    pub fn to_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.path.len());
        // SerializedStreamHeader
        out.push(0x00);
        push_i32(&mut out, 1);
        push_i32(&mut out, -1);
        push_i32(&mut out, 1);
        push_i32(&mut out, 0);
        // BinaryLibrary
        out.push(0x0C);
        push_i32(&mut out, 2);
        push_string(&mut out, ASSEMBLY);
        // ClassWithMembersAndTypes
        out.push(0x05);
        push_i32(&mut out, 1);
        push_string(&mut out, CLASS);
        push_i32(&mut out, 4);
        for m in MEMBERS {
            push_string(&mut out, m);
        }
        out.extend_from_slice(&[0x01, 0x01, 0x06, 0x06]);
        push_i32(&mut out, 2);
        // Member values
        out.push(0x06);
        push_i32(&mut out, 3);
        push_string(&mut out, &self.provider);
        out.push(0x06);
        push_i32(&mut out, 4);
        push_string(&mut out, &self.path);
        out.push(0x09);
        push_i32(&mut out, 5);
        out.push(0x09);
        push_i32(&mut out, 6);
        // The two arrays
        let n = self.settings.len();
        let mut next = 7;
        for (array, pick) in [(5, 0usize), (6, 1usize)] {
            out.push(0x11);
            push_i32(&mut out, array);
            push_i32(&mut out, id(n));
            for (name, value) in &self.settings {
                out.push(0x06);
                push_i32(&mut out, id(next));
                push_string(&mut out, if pick == 0 { name } else { value });
                next += 1;
            }
        }
        out.push(0x0B);
        out
    }

    /// The attribute value: base64 of gzip (mtime 0, like msdeploy.exe's) of the payload.
    pub fn to_attribute(&self) -> String {
        let payload = self.to_payload();
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(0)
            .write(Vec::new(), flate2::Compression::fast());
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(&payload);
        let compressed = gz.finish().unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(compressed)
    }

    /// Decodes an attribute value.
    pub fn from_attribute(value: &str) -> Result<Self, BlobError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|e| BlobError::Base64(e.to_string()))?;
        let mut payload = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut payload)
            .map_err(|e| BlobError::Gzip(e.to_string()))?;
        Self::from_payload(&payload)
    }

    /// Decodes a `BinaryFormatter` payload of this exact shape.
    pub fn from_payload(payload: &[u8]) -> Result<Self, BlobError> {
        let mut r = Reader { b: payload, pos: 0 };
        r.expect_bytes(&[0x00], "SerializedStreamHeader")?;
        r.expect_i32(1, "root id 1")?;
        r.expect_i32(-1, "header id -1")?;
        r.expect_i32(1, "major version 1")?;
        r.expect_i32(0, "minor version 0")?;
        r.expect_bytes(&[0x0C], "BinaryLibrary")?;
        r.expect_i32(2, "library id 2")?;
        let assembly = r.string()?;
        if !assembly.starts_with("Microsoft.web.deployment,")
            && !assembly.starts_with("Microsoft.Web.Deployment,")
        {
            return Err(r.fail(format!("unexpected assembly {assembly:?}")));
        }
        r.expect_bytes(&[0x05], "ClassWithMembersAndTypes")?;
        r.expect_i32(1, "object id 1")?;
        let class = r.string()?;
        if class != CLASS {
            return Err(r.fail(format!("class {class:?} is not {CLASS}")));
        }
        r.expect_i32(4, "4 members")?;
        for m in MEMBERS {
            let got = r.string()?;
            if got != m {
                return Err(r.fail(format!("member {got:?} where {m:?} was expected")));
            }
        }
        r.expect_bytes(
            &[0x01, 0x01, 0x06, 0x06],
            "member types String, String, StringArray, StringArray",
        )?;
        r.expect_i32(2, "library id 2")?;
        let provider = r.object_string()?;
        let path = r.object_string()?;
        r.expect_bytes(&[0x09], "MemberReference to names")?;
        let names_id = r.i32()?;
        r.expect_bytes(&[0x09], "MemberReference to values")?;
        let values_id = r.i32()?;
        let mut arrays: Vec<(i32, Vec<String>)> = Vec::new();
        for _ in 0..2 {
            r.expect_bytes(&[0x11], "ArraySingleString")?;
            let array_id = r.i32()?;
            let len = r.i32()?;
            let len =
                usize::try_from(len).map_err(|_| r.fail(format!("negative array length {len}")))?;
            if len > payload.len() {
                return Err(r.fail(format!("array length {len} exceeds the payload")));
            }
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(r.object_string()?);
            }
            arrays.push((array_id, items));
        }
        r.expect_bytes(&[0x0B], "MessageEnd")?;
        if r.pos != payload.len() {
            return Err(r.fail(format!("{} bytes after MessageEnd", payload.len() - r.pos)));
        }
        let take = |id: i32| {
            arrays
                .iter()
                .find(|(a, _)| *a == id)
                .map(|(_, v)| v.clone())
        };
        let (Some(names), Some(values)) = (take(names_id), take(values_id)) else {
            return Err(BlobError::Payload {
                offset: payload.len(),
                what: "the member references do not name the two arrays".into(),
            });
        };
        if names.len() != values.len() {
            return Err(BlobError::Payload {
                offset: payload.len(),
                what: format!("{} names but {} values", names.len(), values.len()),
            });
        }
        Ok(ProviderOptions {
            provider,
            path,
            settings: names.into_iter().zip(values).collect(),
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn fail(&self, what: String) -> BlobError {
        BlobError::Payload {
            offset: self.pos,
            what,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], BlobError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        match end {
            Some(end) => {
                let s = &self.b[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.fail(format!("truncated: {what}"))),
        }
    }

    fn expect_bytes(&mut self, want: &[u8], what: &str) -> Result<(), BlobError> {
        let at = self.pos;
        let got = self.take(want.len(), what)?;
        if got != want {
            return Err(BlobError::Payload {
                offset: at,
                what: format!("expected {what} ({want:02X?}), found {got:02X?}"),
            });
        }
        Ok(())
    }

    fn i32(&mut self) -> Result<i32, BlobError> {
        let b = self.take(4, "int32")?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn expect_i32(&mut self, want: i32, what: &str) -> Result<(), BlobError> {
        let at = self.pos;
        let got = self.i32()?;
        if got != want {
            return Err(BlobError::Payload {
                offset: at,
                what: format!("expected {what}, found {got}"),
            });
        }
        Ok(())
    }

    fn string(&mut self) -> Result<String, BlobError> {
        let mut len = 0usize;
        for shift in (0..35).step_by(7) {
            let b = self.take(1, "string length")?[0];
            len |= usize::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                let bytes = self.take(len, "string")?.to_vec();
                return String::from_utf8(bytes)
                    .map_err(|e| self.fail(format!("string is not UTF-8: {e}")));
            }
        }
        Err(self.fail("string length longer than 5 bytes".into()))
    }

    fn object_string(&mut self) -> Result<String, BlobError> {
        self.expect_bytes(&[0x06], "BinaryObjectString")?;
        self.i32()?;
        self.string()
    }
}
