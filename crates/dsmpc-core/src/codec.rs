//! The wire codec: a small hand-written binary encoding with strict decoding.
//!
//! Integers are little-endian and fixed-width; byte strings and lists carry a `u32` length prefix;
//! party ids a `u8` length prefix. Decoding never trusts a length: a prefix longer than what is
//! left is [`CodecError::Truncated`], so a lying peer cannot make the decoder allocate. Decoding a
//! whole message ([`decode_exact`]) refuses trailing bytes, so every value has exactly one encoding.

use crate::field::Field;

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended early.
    #[error("truncated: needed {needed} more bytes for {what}, {remaining} left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        remaining: usize,
    },
    /// Bytes were left over after a complete message.
    #[error("{count} trailing bytes after the message")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The protocol version is not one this build speaks.
    #[error("unknown protocol version {0}")]
    UnknownVersion(u8),
    /// The message type code is unknown.
    #[error("unknown message type {0}")]
    UnknownMessageType(u8),
    /// A message of another type arrived where this one was expected.
    #[error("expected a {expected} message, got {got}")]
    UnexpectedMessageType {
        /// The expected type's name.
        expected: &'static str,
        /// The received type's name.
        got: &'static str,
    },
    /// A field held a value outside its domain.
    #[error("invalid {what}")]
    InvalidValue {
        /// What was invalid.
        what: &'static str,
    },
}

/// Appends encodings to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A little-endian two's-complement `i128`.
    pub fn i128(&mut self, v: i128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Fixed-length bytes, no prefix.
    pub fn fixed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// A `u32` length, then the bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.u32(len_u32(bytes.len()));
        self.buf.extend_from_slice(bytes);
    }

    /// A `u32` count, then each item.
    pub fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Writer, &T)) {
        self.u32(len_u32(items.len()));
        for item in items {
            each(self, item);
        }
    }

    /// A `u32` count, then the elements: packed at [`Field::PACKED_BITS`] bits each when the
    /// field has that (GF(2^31−1): 31 bits, GF(2^61−1): 61 bits, little-endian bit order, the
    /// last byte's unused bits zero), otherwise each in its canonical encoding.
    pub fn field_elements<F: Field>(&mut self, values: &[F]) {
        self.u32(len_u32(values.len()));
        match F::PACKED_BITS {
            Some(bits) => self.packed(values, bits),
            None => {
                let start = self.buf.len();
                self.buf.resize(start + values.len() * F::ENCODED_LEN, 0);
                for (v, out) in values
                    .iter()
                    .zip(self.buf[start..].chunks_exact_mut(F::ENCODED_LEN))
                {
                    v.write_bytes(out);
                }
            }
        }
    }

    /// `values` as consecutive `bits`-bit little-endian integers, the last byte zero-padded.
    fn packed<F: Field>(&mut self, values: &[F], bits: u32) {
        self.buf.reserve(packed_len(values.len(), bits));
        let mut acc: u128 = 0;
        let mut held = 0u32;
        for v in values {
            // Mersenne elements are below 2^bits, so to_u128 is always Some.
            acc |= v.to_u128().unwrap_or(0) << held;
            held += bits;
            while held >= 8 {
                self.buf.push(acc as u8);
                acc >>= 8;
                held -= 8;
            }
        }
        if held > 0 {
            self.buf.push(acc as u8);
        }
    }

    /// One element in its canonical encoding.
    pub fn field_element<F: Field>(&mut self, v: &F) {
        let start = self.buf.len();
        self.buf.resize(start + F::ENCODED_LEN, 0);
        v.write_bytes(&mut self.buf[start..]);
    }
}

/// Bytes of `count` packed `bits`-bit elements.
fn packed_len(count: usize, bits: u32) -> usize {
    count.saturating_mul(bits as usize).div_ceil(8)
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("lengths above 4 GiB are never encoded")
}

/// Reads encodings from a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), CodecError> {
        match self.buf.len() {
            0 => Ok(()),
            count => Err(CodecError::TrailingBytes { count }),
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        if n > self.buf.len() {
            return Err(CodecError::Truncated {
                what,
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(1, what)?[0])
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A little-endian `i128`.
    pub fn i128(&mut self, what: &'static str) -> Result<i128, CodecError> {
        Ok(i128::from_le_bytes(self.array(what)?))
    }

    /// A `u32`-prefixed byte string.
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], CodecError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    /// A `u32`-counted list; `each` decodes one item. The count is checked against the bytes
    /// left (every item takes at least `min_item_len` bytes) before anything is allocated.
    pub fn list<T>(
        &mut self,
        what: &'static str,
        min_item_len: usize,
        mut each: impl FnMut(&mut Reader<'a>) -> Result<T, CodecError>,
    ) -> Result<Vec<T>, CodecError> {
        let count = self.u32(what)? as usize;
        let needed = count.saturating_mul(min_item_len.max(1));
        if needed > self.buf.len() {
            return Err(CodecError::Truncated {
                what,
                needed,
                remaining: self.buf.len(),
            });
        }
        // Sized once: the count is bounded by the bytes left, and a vector grown by doubling
        // would hold up to twice its length (lists of a million ids are common).
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(each(self)?);
        }
        Ok(items)
    }

    /// A `u32`-counted vector of canonical field elements.
    pub fn field_elements<F: Field>(&mut self, what: &'static str) -> Result<Vec<F>, CodecError> {
        let count = self.u32(what)? as usize;
        let invalid = |_| CodecError::InvalidValue { what };
        match F::PACKED_BITS {
            Some(bits) => {
                let raw = self.take(packed_len(count, bits), what)?;
                unpack(raw, count, bits, what)?
                    .into_iter()
                    .map(|v| F::read_bytes(&v.to_le_bytes()[..F::ENCODED_LEN]).map_err(invalid))
                    .collect()
            }
            None => {
                let raw = self.take(count.saturating_mul(F::ENCODED_LEN), what)?;
                raw.chunks_exact(F::ENCODED_LEN)
                    .map(|c| F::read_bytes(c).map_err(invalid))
                    .collect()
            }
        }
    }

    /// One canonical field element.
    pub fn field_element<F: Field>(&mut self, what: &'static str) -> Result<F, CodecError> {
        let raw = self.take(F::ENCODED_LEN, what)?;
        F::read_bytes(raw).map_err(|_| CodecError::InvalidValue { what })
    }
}

/// `count` integers of `bits` bits (at most 64) from `raw`, which must be exactly as long as they
/// need, with the padding bits of its last byte zero.
fn unpack(raw: &[u8], count: usize, bits: u32, what: &'static str) -> Result<Vec<u64>, CodecError> {
    let mask = (1u128 << bits) - 1;
    let mut out = Vec::with_capacity(count);
    let mut acc: u128 = 0;
    let mut held = 0u32;
    let mut bytes = raw.iter();
    for _ in 0..count {
        while held < bits {
            let Some(b) = bytes.next() else {
                return Err(CodecError::InvalidValue { what });
            };
            acc |= u128::from(*b) << held;
            held += 8;
        }
        out.push((acc & mask) as u64);
        acc >>= bits;
        held -= bits;
    }
    if acc != 0 || bytes.next().is_some() {
        return Err(CodecError::InvalidValue { what });
    }
    Ok(out)
}

/// A value with a canonical encoding.
pub trait Encode {
    /// Appends the encoding.
    fn encode(&self, w: &mut Writer);

    /// The encoding as a new buffer.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }
}

/// A value that decodes strictly.
pub trait Decode: Sized {
    /// Reads one value, leaving the reader after it.
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError>;
}

/// Decodes `bytes` as exactly one `T`: truncation and trailing bytes are errors.
pub fn decode_exact<T: Decode>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut r = Reader::new(bytes);
    let value = T::decode(&mut r)?;
    r.finish()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{M31, M61, Ristretto};
    use proptest::prelude::*;

    fn packed_round_trip<F: Field>(values: &[F]) -> Vec<u8> {
        let mut w = Writer::new();
        w.field_elements(values);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.field_elements::<F>("v").unwrap(), values);
        r.finish().unwrap();
        bytes
    }

    proptest! {
        #[test]
        fn packed_vectors_round_trip_at_their_bit_width(raw in proptest::collection::vec(any::<u64>(), 0..70)) {
            let m31: Vec<M31> = raw.iter().map(|v| M31::from_u64(*v)).collect();
            let m61: Vec<M61> = raw.iter().map(|v| M61::from_u64(*v)).collect();
            prop_assert_eq!(packed_round_trip(&m31).len(), 4 + (raw.len() * 31).div_ceil(8));
            prop_assert_eq!(packed_round_trip(&m61).len(), 4 + (raw.len() * 61).div_ceil(8));
        }
    }

    #[test]
    fn extremes_pack_and_ristretto_stays_plain() {
        packed_round_trip(&[-M31::ONE, M31::ZERO, -M31::ONE]);
        packed_round_trip(&[-M61::ONE; 9]);
        let bytes = packed_round_trip(&[Ristretto::ONE, -Ristretto::ONE]);
        assert_eq!(bytes.len(), 4 + 64);
    }

    fn packed_m31(words: &[u64]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(words.len() as u32);
        let mut acc: u128 = 0;
        let mut held = 0;
        let mut out = Vec::new();
        for v in words {
            acc |= u128::from(*v) << held;
            held += 31;
            while held >= 8 {
                out.push(acc as u8);
                acc >>= 8;
                held -= 8;
            }
        }
        if held > 0 {
            out.push(acc as u8);
        }
        w.fixed(&out);
        w.into_bytes()
    }

    #[test]
    fn packed_vectors_refuse_non_canonical_padding_and_truncation() {
        let fine = packed_m31(&[5, (1 << 31) - 2]);
        assert_eq!(
            Reader::new(&fine).field_elements::<M31>("v").unwrap(),
            vec![M31::from_u64(5), -M31::ONE]
        );
        // p itself fits in 31 bits but is not a canonical element.
        let unreduced = packed_m31(&[5, (1 << 31) - 1]);
        assert!(matches!(
            Reader::new(&unreduced).field_elements::<M31>("v"),
            Err(CodecError::InvalidValue { what: "v" })
        ));
        // 62 bits in 8 bytes: the last byte's top two bits are padding and must be zero.
        let mut padded = fine.clone();
        *padded.last_mut().unwrap() |= 0x80;
        assert!(matches!(
            Reader::new(&padded).field_elements::<M31>("v"),
            Err(CodecError::InvalidValue { what: "v" })
        ));
        assert!(matches!(
            Reader::new(&fine[..fine.len() - 1]).field_elements::<M31>("v"),
            Err(CodecError::Truncated { what: "v", .. })
        ));
    }

    #[test]
    fn integers_and_strings_round_trip() {
        let mut w = Writer::new();
        w.u8(7);
        w.u32(0xdead_beef);
        w.u64(u64::MAX);
        w.i128(-5);
        w.bytes(b"hello");
        w.field_elements(&[M61::from_u64(3), -M61::ONE]);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u32("b").unwrap(), 0xdead_beef);
        assert_eq!(r.u64("c").unwrap(), u64::MAX);
        assert_eq!(r.i128("d").unwrap(), -5);
        assert_eq!(r.bytes("e").unwrap(), b"hello");
        assert_eq!(
            r.field_elements::<M61>("f").unwrap(),
            vec![M61::from_u64(3), -M61::ONE]
        );
        r.finish().unwrap();
    }

    #[test]
    fn lying_lengths_are_truncation_not_allocation() {
        let mut w = Writer::new();
        w.u32(u32::MAX);
        let bytes = w.into_bytes();
        assert!(matches!(
            Reader::new(&bytes).bytes("blob"),
            Err(CodecError::Truncated { what: "blob", .. })
        ));
        assert!(matches!(
            Reader::new(&bytes).list("items", 1, |r| r.u8("x")),
            Err(CodecError::Truncated { what: "items", .. })
        ));
        assert!(matches!(
            Reader::new(&bytes).field_elements::<M61>("v"),
            Err(CodecError::Truncated { what: "v", .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let r = Reader::new(&[1, 2]);
        assert_eq!(r.finish(), Err(CodecError::TrailingBytes { count: 2 }));
    }

    #[test]
    fn non_canonical_field_elements_are_refused() {
        let mut w = Writer::new();
        w.u32(1);
        w.fixed(&u64::MAX.to_le_bytes());
        let bytes = w.into_bytes();
        assert_eq!(
            Reader::new(&bytes).field_elements::<M61>("share"),
            Err(CodecError::InvalidValue { what: "share" })
        );
    }
}
