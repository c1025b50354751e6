//! Gather writes: `FastCGI` record headers and the application's own buffers go
//! out together without being copied into one framed buffer first.

use std::io::{self, IoSlice, Write};

/// Slices per `writev` (Linux's `IOV_MAX` is 1024; stay well below it).
const MAX_SLICES: usize = 512;
/// Block size of the copying fallback for streams without gather writes.
const COPY_BLOCK: usize = 256 * 1024;

/// Writes every slice in order with vectored writes, retrying partial writes.
pub fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = bufs.len().min(MAX_SLICES);
        match w.write_vectored(&bufs[..n]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the web server's end accepted no more bytes",
                ))
            }
            Ok(k) => IoSlice::advance_slices(&mut bufs, k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// For streams without gather writes (Windows pipes): copies the slices into
/// blocks of at most [`COPY_BLOCK`] bytes, so memory stays bounded whatever the
/// size of the response; a slice of a block or more is written as it is.
pub fn write_all_copying(
    write_all: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    bufs: &[IoSlice<'_>],
) -> io::Result<()> {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    let mut block = Vec::with_capacity(total.min(COPY_BLOCK));
    for b in bufs {
        if block.len() + b.len() > COPY_BLOCK && !block.is_empty() {
            write_all(&block)?;
            block.clear();
        }
        if b.len() >= COPY_BLOCK {
            write_all(b)?;
        } else {
            block.extend_from_slice(b);
        }
    }
    if !block.is_empty() {
        write_all(&block)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most 5 bytes per call, from the first two slices.
    struct Dribble(Vec<u8>);

    impl Write for Dribble {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut n = 0;
            for b in bufs.iter().take(2) {
                let take = b.len().min(5 - n);
                self.0.extend_from_slice(&b[..take]);
                n += take;
                if n == 5 {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_vectored_writes_are_resumed_in_order() {
        let parts: Vec<Vec<u8>> = (0..700u32)
            .map(|i| vec![(i % 251) as u8; (i % 7) as usize])
            .collect();
        let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut w = Dribble(Vec::new());
        write_all_vectored(&mut w, &mut slices).unwrap();
        assert_eq!(w.0, parts.concat());
    }

    #[test]
    fn copying_fallback_keeps_order_and_bounds_blocks() {
        let big = vec![7u8; COPY_BLOCK + 3];
        let parts: [&[u8]; 4] = [b"head", &big, b"mid", b"tail"];
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        write_all_copying(
            &mut |b: &[u8]| {
                sizes.push(b.len());
                out.extend_from_slice(b);
                Ok(())
            },
            &slices,
        )
        .unwrap();
        assert_eq!(out, parts.concat());
        assert!(sizes.iter().all(|&n| n <= COPY_BLOCK + 3));
    }
}
