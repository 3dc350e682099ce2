//! Filling a record again in its own buffers: the worker keeps its records,
//! so in steady state a record costs few allocations.

/// `dst = src`, in `dst`'s buffer.
#[inline]
pub(super) fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

/// `dst = src` for a short field that mostly holds `src` already (a record
/// refilled with the same epoch, key ID, method or protocol): comparing
/// costs less than copying.
#[inline(always)]
pub(super) fn set_unless_same(dst: &mut String, src: &str) {
    if !same_short(dst.as_bytes(), src.as_bytes()) {
        set(dst, src);
    }
}

/// `a == b`, comparing texts of up to 16 bytes as two overlapping
/// fixed-size pieces (inline, where `==` calls the C library's `bcmp`).
#[inline(always)]
pub(super) fn same_short(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        0 => true,
        1 => a.first() == b.first(),
        2..4 => a.first_chunk::<2>() == b.first_chunk::<2>() && a.last_chunk::<2>() == b.last_chunk::<2>(),
        4..8 => a.first_chunk::<4>() == b.first_chunk::<4>() && a.last_chunk::<4>() == b.last_chunk::<4>(),
        8..=16 => a.first_chunk::<8>() == b.first_chunk::<8>() && a.last_chunk::<8>() == b.last_chunk::<8>(),
        _ => a == b,
    }
}

/// `dst = src`, in `dst`'s buffer when it has one.
#[inline]
pub(super) fn set_opt(dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => set(d, s),
        (None, Some(s)) => *dst = Some(s.to_owned()),
        (_, None) => *dst = None,
    }
}

/// String buffers of optional record fields that were `None` in the last
/// record filled: a field that comes and goes from one record to the next
/// takes a buffer from here instead of allocating one.
#[derive(Default)]
pub(super) struct Spares(Vec<String>);

impl Spares {
    /// The most buffers kept.
    const MAX: usize = 16;

    /// `dst = None`, keeping its buffer.
    #[inline]
    pub(super) fn clear(&mut self, dst: &mut Option<String>) {
        if let Some(buf) = dst.take()
            && self.0.len() < Self::MAX
        {
            self.0.push(buf);
        }
    }

    /// `dst = src`, in `dst`'s buffer or a spare one.
    #[inline(always)]
    pub(super) fn set_opt(&mut self, dst: &mut Option<String>, src: Option<&str>) {
        match (dst.as_mut(), src) {
            (Some(d), Some(s)) => set(d, s),
            (None, Some(s)) => {
                let mut buf = self.0.pop().unwrap_or_default();
                set(&mut buf, s);
                *dst = Some(buf);
            }
            (_, None) => self.clear(dst),
        }
    }

    /// Sets `dst` to what `write` writes into an empty buffer (`dst`'s own or
    /// a spare one), or to `None` when `write` says there is nothing.
    #[inline]
    pub(super) fn fill_opt(&mut self, dst: &mut Option<String>, write: impl FnOnce(&mut String) -> bool) {
        let mut buf = dst.take().or_else(|| self.0.pop()).unwrap_or_default();
        buf.clear();
        if write(&mut buf) {
            *dst = Some(buf);
        } else if self.0.len() < Self::MAX {
            self.0.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn same_short_is_equality(
            a in "[a-c]{0,20}",
            other in "[a-c]{0,20}",
            at in any::<proptest::sample::Index>(),
            change in 0u8..3,
        ) {
            // Mostly `a` itself or `a` with one byte changed.
            let b = match change {
                0 => other,
                1 => a.clone(),
                _ if a.is_empty() => a.clone(),
                _ => {
                    let i = at.index(a.len());
                    format!("{}{}{}", &a[..i], if &a[i..=i] == "a" { "b" } else { "a" }, &a[i + 1..])
                }
            };
            prop_assert_eq!(same_short(a.as_bytes(), b.as_bytes()), a == b);
            let mut dst = a.clone();
            set_unless_same(&mut dst, &b);
            prop_assert_eq!(dst, b);
        }
    }

    #[test]
    fn a_field_that_comes_and_goes_keeps_its_buffer() {
        let mut spares = Spares::default();
        let mut field = Some(String::with_capacity(64));
        let buffer = field.as_ref().map(|f| f.as_ptr());
        spares.fill_opt(&mut field, |_| false);
        assert_eq!(field, None);
        spares.set_opt(&mut field, Some("lic=active"));
        assert_eq!(field.as_deref(), Some("lic=active"));
        assert_eq!(field.as_ref().map(|f| f.as_ptr()), buffer, "the same buffer again");
        for _ in 0..Spares::MAX * 2 {
            spares.clear(&mut Some(String::new()));
        }
        assert_eq!(spares.0.len(), Spares::MAX, "bounded");
    }
}
