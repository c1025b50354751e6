//! Name-value pairs: the body of PARAMS, `GET_VALUES` and `GET_VALUES_RESULT`.
//!
//! Each length is one byte when below 128, otherwise four bytes big-endian with
//! the high bit set. Names and values are bytes, never assumed to be UTF-8.

use crate::Error;

/// Largest length the 4-byte form can express.
pub const MAX_NV_LEN: usize = 0x7FFF_FFFF;

/// A decoded pair.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Decoded pairs in one buffer: no allocation per name or value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params {
    data: Vec<u8>,
    /// (name start, name end = value start, value end) in `data`.
    spans: Vec<(u32, u32, u32)>,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    #[allow(
        clippy::cast_possible_truncation,
        reason = "lengths are bounded by the PARAMS limit, far below 4 GiB"
    )]
    fn push(&mut self, name: &[u8], value: &[u8]) {
        let a = self.data.len();
        self.data.extend_from_slice(name);
        let b = self.data.len();
        self.data.extend_from_slice(value);
        let c = self.data.len();
        // Lengths are bounded by the PARAMS limit, far below 4 GiB.
        self.spans.push((a as u32, b as u32, c as u32));
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The pairs in the order received.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], &[u8])> + ExactSizeIterator + '_ {
        self.spans.iter().map(|&(a, b, c)| {
            (
                &self.data[a as usize..b as usize],
                &self.data[b as usize..c as usize],
            )
        })
    }

    /// The value of the last pair named `name`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Owned copies of the pairs.
    pub fn to_pairs(&self) -> Vec<Pair> {
        self.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut p = Params::new();
        for (n, v) in iter {
            p.push(n.as_ref(), v.as_ref());
        }
        p
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "each length is checked against its encoding's range just before the cast"
)]
fn push_len(out: &mut Vec<u8>, len: usize) -> Result<(), Error> {
    if len < 0x80 {
        // Checked just above: fits in 7 bits.
        out.push(len as u8);
        Ok(())
    } else if len <= MAX_NV_LEN {
        // Checked just above: fits in 31 bits.
        out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
        Ok(())
    } else {
        Err(Error::PairTooLong { len })
    }
}

/// Appends the encoding of one pair.
#[inline]
#[allow(
    clippy::cast_possible_truncation,
    reason = "both lengths are checked to fit in 7 bits just before the casts"
)]
pub fn encode_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<(), Error> {
    if name.len() < 0x80 && value.len() < 0x80 {
        // The common case, in one reservation: two one-byte lengths.
        out.reserve(2 + name.len() + value.len());
        out.extend_from_slice(&[name.len() as u8, value.len() as u8]);
        out.extend_from_slice(name);
        out.extend_from_slice(value);
        return Ok(());
    }
    push_len(out, name.len())?;
    push_len(out, value.len())?;
    out.extend_from_slice(name);
    out.extend_from_slice(value);
    Ok(())
}

/// Encodes a list of pairs into one buffer.
pub fn encode_pairs<N: AsRef<[u8]>, V: AsRef<[u8]>>(
    pairs: impl IntoIterator<Item = (N, V)>,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for (n, v) in pairs {
        encode_pair(&mut out, n.as_ref(), v.as_ref())?;
    }
    Ok(out)
}

/// Reads one length at `buf[pos..]`: `Some((len, bytes_used))`, or `None` if incomplete.
fn read_len(buf: &[u8]) -> Option<(usize, usize)> {
    let first = *buf.first()?;
    if first & 0x80 == 0 {
        Some((usize::from(first), 1))
    } else {
        let b = buf.get(..4)?;
        let len = u32::from_be_bytes([b[0] & 0x7F, b[1], b[2], b[3]]);
        Some((len as usize, 4))
    }
}

/// Parses one complete pair at the start of `buf`: its name and value ranges
/// and the bytes used. `Ok(None)` means `buf` holds only part of a pair.
#[allow(clippy::type_complexity)]
fn parse_pair(
    buf: &[u8],
    limit: usize,
) -> Result<Option<(std::ops::Range<usize>, std::ops::Range<usize>, usize)>, Error> {
    let Some((name_len, a)) = read_len(buf) else {
        return Ok(None);
    };
    let Some((value_len, b)) = read_len(&buf[a..]) else {
        return Ok(None);
    };
    if name_len.saturating_add(value_len) > limit {
        return Err(Error::ParamsTooLarge { limit });
    }
    let start = a + b;
    let end = start + name_len + value_len;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((start..start + name_len, start + name_len..end, end)))
}

/// Decodes a complete, self-contained body of pairs (`GET_VALUES` and its result).
pub fn decode_pairs(body: &[u8]) -> Result<Vec<Pair>, Error> {
    let mut p = PairStream::new(usize::MAX);
    p.feed(body)?;
    Ok(p.finish()?.to_pairs())
}

/// Incremental decoder for a stream of pairs whose records may split a pair
/// anywhere, even inside a length.
#[derive(Debug)]
pub struct PairStream {
    pending: Vec<u8>,
    pairs: Params,
    total: usize,
    limit: usize,
}

impl PairStream {
    /// A decoder that refuses streams longer than `limit` bytes in all.
    pub fn new(limit: usize) -> Self {
        PairStream {
            pending: Vec::new(),
            pairs: Params::new(),
            total: 0,
            limit,
        }
    }

    /// Feeds the content of one record.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), Error> {
        self.total = self.total.saturating_add(data.len());
        if self.total > self.limit {
            return Err(Error::ParamsTooLarge { limit: self.limit });
        }
        if self.pending.is_empty() {
            // Common case (a whole PARAMS block in one record): no copy into `pending`.
            let used = Self::parse_all(data, &mut self.pairs, self.limit)?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            self.pending.extend_from_slice(data);
            let used = Self::parse_all(&self.pending, &mut self.pairs, self.limit)?;
            self.pending.drain(..used);
        }
        Ok(())
    }

    fn parse_all(buf: &[u8], pairs: &mut Params, limit: usize) -> Result<usize, Error> {
        // The pairs take at most `buf`'s bytes; web servers' pairs average
        // over 20 bytes. One reservation instead of a dozen regrowths.
        pairs.data.reserve(buf.len());
        pairs.spans.reserve(buf.len() / 20 + 1);
        let mut pos = 0;
        while let Some((name, value, used)) = parse_pair(&buf[pos..], limit)? {
            let rest = &buf[pos..];
            pairs.push(&rest[name], &rest[value]);
            pos += used;
        }
        Ok(pos)
    }

    /// Ends the stream: every byte must have formed complete pairs.
    pub fn finish(self) -> Result<Params, Error> {
        if self.pending.is_empty() {
            Ok(self.pairs)
        } else {
            Err(Error::TruncatedPair {
                leftover: self.pending.len(),
            })
        }
    }
}
