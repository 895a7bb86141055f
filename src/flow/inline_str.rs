//! Short strings kept inside the value: the flow record's `uid`, `history` and
//! `community_id` (one of each per record, two records per flow).
//!
//! [`InlineStr<N>`] holds up to `N` bytes in place and falls back to the heap only for
//! a longer string, so every record the table builds needs no allocation (a uid is 18
//! bytes, a Community ID 30, a TCP history at most 19).  It derefs to `&str`, compares
//! with `&str` and `String`, and serialises as a string, so readers of the record see
//! a string as before.

use arrayvec::ArrayString;
use serde::{Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// A string of up to `N` bytes stored in place (longer ones on the heap).  The
/// in-place form is `arrayvec`'s `ArrayString`, which keeps the UTF-8 invariant.
#[derive(Clone)]
pub struct InlineStr<const N: usize>(Repr<N>);

#[derive(Clone)]
enum Repr<const N: usize> {
    Inline(ArrayString<N>),
    Heap(Box<str>),
}

impl<const N: usize> InlineStr<N> {
    /// The empty string.
    #[inline]
    pub const fn new() -> Self {
        InlineStr(Repr::Inline(ArrayString::new_const()))
    }

    /// `bytes` as a string when they are all ASCII (`None` otherwise).
    #[inline]
    pub fn from_ascii(bytes: &[u8]) -> Option<Self> {
        if !bytes.is_ascii() {
            return None;
        }
        // ASCII is UTF-8: this cannot fail after the check above.
        std::str::from_utf8(bytes).ok().map(Self::from)
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(a) => a.as_str(),
            Repr::Heap(s) => s,
        }
    }

    /// Appends `s`, moving to the heap if it no longer fits.
    pub fn push_str(&mut self, s: &str) {
        match &mut self.0 {
            Repr::Inline(a) => {
                if a.try_push_str(s).is_err() {
                    let mut owned = String::with_capacity(a.len() + s.len());
                    owned.push_str(a);
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
        if let Repr::Inline(a) = &mut self.0 {
            if a.try_push(c).is_ok() {
                return;
            }
        }
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    /// Whether the string lives in place (tests: the common case never allocates).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(_))
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
        match ArrayString::from(s) {
            Ok(a) => InlineStr(Repr::Inline(a)),
            Err(_) => InlineStr(Repr::Heap(s.into())),
        }
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
