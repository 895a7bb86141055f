//! Short strings kept inside the value: the flow record's `uid`, `history` and
//! `community_id` (one of each per record, two records per flow).
//!
//! [`InlineStr<N>`] holds up to `N` bytes in place and falls back to the heap only for
//! a longer string, so every record the table builds needs no allocation (a uid is 18
//! bytes, a Community ID 30, a TCP history at most 19).  It derefs to `&str`, compares
//! with `&str` and `String`, and serialises as a string, so readers of the record see
//! a string as before.  Guarantee: the contents are always valid UTF-8 (every
//! constructor takes a `&str` or checks ASCII).

use serde::{Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// A string of up to `N` bytes stored in place (longer ones on the heap).  `N` must
/// be below 256.
#[derive(Clone)]
pub struct InlineStr<const N: usize>(Repr<N>);

#[derive(Clone)]
enum Repr<const N: usize> {
    /// `buf[..len]` is valid UTF-8.
    Inline {
        len: u8,
        buf: [u8; N],
    },
    Heap(Box<str>),
}

impl<const N: usize> InlineStr<N> {
    const FITS_U8: () = assert!(N < 256, "InlineStr capacity must fit a u8 length");

    /// The empty string.
    #[inline]
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::FITS_U8;
        InlineStr(Repr::Inline {
            len: 0,
            buf: [0; N],
        })
    }

    /// `bytes` as a string when they are all ASCII (`None` otherwise).
    #[inline]
    pub fn from_ascii(bytes: &[u8]) -> Option<Self> {
        if !bytes.is_ascii() {
            return None;
        }
        if bytes.len() > N {
            // ASCII is UTF-8: the check above is the whole validation.
            return std::str::from_utf8(bytes).ok().map(Self::from);
        }
        let mut buf = [0u8; N];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(InlineStr(Repr::Inline {
            len: bytes.len() as u8,
            buf,
        }))
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, buf } => {
                let b = buf.get(..usize::from(*len)).unwrap_or_default();
                // SAFETY: `buf[..len]` is only ever filled from a `&str`, a `char`'s
                // UTF-8 encoding or bytes checked to be ASCII (the invariant on
                // `Repr::Inline`), so it is valid UTF-8.  Checking again on every read
                // was what this type exists to avoid.
                unsafe { std::str::from_utf8_unchecked(b) }
            }
            Repr::Heap(s) => s,
        }
    }

    /// The in-place buffer (zero past the end) and the length, `None` for a string on
    /// the heap: a writer can copy the whole fixed-size block, which compiles to a few
    /// moves instead of a `memcpy` call, and trim it to the length.
    #[inline]
    pub fn padded(&self) -> Option<(&[u8; N], usize)> {
        match &self.0 {
            Repr::Inline { len, buf } => Some((buf, usize::from(*len))),
            Repr::Heap(_) => None,
        }
    }

    /// Appends `s`, moving to the heap if it no longer fits.
    pub fn push_str(&mut self, s: &str) {
        match &mut self.0 {
            Repr::Inline { len, buf } => {
                let at = usize::from(*len);
                let end = at + s.len();
                if let Some(dst) = buf.get_mut(at..end) {
                    dst.copy_from_slice(s.as_bytes());
                    *len = end as u8;
                } else {
                    let mut owned = String::with_capacity(end);
                    owned.push_str(self.as_str());
                    owned.push_str(s);
                    self.0 = Repr::Heap(owned.into_boxed_str());
                }
            }
            Repr::Heap(h) => {
                let mut owned = String::from(std::mem::take(h));
                owned.push_str(s);
                *h = owned.into_boxed_str();
            }
        }
    }

    #[inline]
    pub fn push(&mut self, c: char) {
        if let Repr::Inline { len, buf } = &mut self.0 {
            let at = usize::from(*len);
            if c.is_ascii() && at < N {
                buf[at] = c as u8;
                *len += 1;
                return;
            }
        }
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    /// Whether the string lives in place (tests: the common case never allocates).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Deref for InlineStr<N> {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<str> for InlineStr<N> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> Borrow<str> for InlineStr<N> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> From<&str> for InlineStr<N> {
    fn from(s: &str) -> Self {
        let mut out = Self::new();
        if s.len() <= N {
            out.push_str(s);
        } else {
            out.0 = Repr::Heap(s.into());
        }
        out
    }
}

impl<const N: usize> From<String> for InlineStr<N> {
    fn from(s: String) -> Self {
        if s.len() <= N {
            Self::from(s.as_str())
        } else {
            InlineStr(Repr::Heap(s.into_boxed_str()))
        }
    }
}

impl<const N: usize> Extend<char> for InlineStr<N> {
    fn extend<I: IntoIterator<Item = char>>(&mut self, iter: I) {
        for c in iter {
            self.push(c);
        }
    }
}

impl<const N: usize> PartialEq for InlineStr<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<const N: usize> Eq for InlineStr<N> {}

impl<const N: usize> PartialEq<str> for InlineStr<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for InlineStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<const N: usize> PartialEq<String> for InlineStr<N> {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<const N: usize> PartialEq<InlineStr<N>> for str {
    fn eq(&self, other: &InlineStr<N>) -> bool {
        self == other.as_str()
    }
}

impl<const N: usize> PartialEq<InlineStr<N>> for &str {
    fn eq(&self, other: &InlineStr<N>) -> bool {
        *self == other.as_str()
    }
}

impl<const N: usize> Hash for InlineStr<N> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> Serialize for InlineStr<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_stay_inline_and_long_ones_move_to_the_heap() {
        let mut s = InlineStr::<4>::from("ab");
        assert!(s.is_inline());
        s.push('c');
        s.push('d');
        assert_eq!(s, "abcd");
        assert!(s.is_inline());
        s.push('é');
        assert_eq!(s, "abcdé");
        assert!(!s.is_inline());
        s.push_str("xy");
        assert_eq!(s.as_str(), "abcdéxy");
        let long = InlineStr::<4>::from(String::from("abcdefgh"));
        assert!(!long.is_inline());
        assert_eq!(long, "abcdefgh");
        // A multi-byte char that would straddle the end goes to the heap whole.
        let mut m = InlineStr::<4>::from("abc");
        m.push('€');
        assert_eq!(m, "abc€");
    }

    #[test]
    fn ascii_bytes_only_and_serialises_as_a_string() {
        assert_eq!(InlineStr::<18>::from_ascii(b"C123").unwrap(), "C123");
        assert!(InlineStr::<18>::from_ascii(&[b'C', 0xff]).is_none());
        assert_eq!(InlineStr::<2>::from_ascii(b"abc").unwrap(), "abc");
        let s = InlineStr::<8>::from("a\"b");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""a\"b""#);
        assert_eq!(format!("{s:?}"), r#""a\"b""#);
        assert_eq!(InlineStr::<8>::default(), "");
        assert!(InlineStr::<8>::new().is_empty());
    }
}
