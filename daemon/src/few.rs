//! [`Few`]: a list that nearly always holds one item, kept inline then.
//!
//! The daemon keeps some lists per check or per real server (a check's
//! probes, a real server's checkers) that almost always hold one item. A
//! `Vec` of one is a heap block with the allocator's header beside the
//! list's 24 bytes; at 10,000 checks those were tenths of a MiB in each
//! process that keeps them (issue 18).

/// One item inline, or any number (none too) in a box of exactly their
/// size. Reads as a slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Few<T> {
    One(T),
    Many(Box<[T]>),
}

impl<T> Default for Few<T> {
    /// Empty: no allocation.
    fn default() -> Self {
        Few::Many(Box::default())
    }
}

impl<T> Few<T> {
    /// Adds `item` at the end (each push past the first reallocates: for
    /// lists built once, as a configuration is read).
    pub fn push(&mut self, item: T) {
        let mut v = Vec::from(std::mem::take(self));
        v.push(item);
        *self = v.into();
    }
}

impl<T> From<Vec<T>> for Few<T> {
    fn from(mut v: Vec<T>) -> Self {
        if v.len() == 1
            && let Some(one) = v.pop()
        {
            return Few::One(one);
        }
        Few::Many(v.into_boxed_slice())
    }
}

impl<T> From<Few<T>> for Vec<T> {
    fn from(f: Few<T>) -> Self {
        match f {
            Few::One(one) => vec![one],
            Few::Many(many) => many.into_vec(),
        }
    }
}

impl<T> FromIterator<T> for Few<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<_>>().into()
    }
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Few::One(one) => std::slice::from_ref(one),
            Few::Many(many) => many,
        }
    }
}

impl<T> std::ops::DerefMut for Few<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Few::One(one) => std::slice::from_mut(one),
            Few::Many(many) => many,
        }
    }
}

impl<'a, T> IntoIterator for &'a Few<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut Few<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::Few;

    /// None, one and several read back as pushed or collected; only a list
    /// of one is held inline, and an empty one allocates nothing.
    #[test]
    fn a_few_reads_as_the_list_it_was_given() {
        let mut f: Few<String> = Few::default();
        assert!(f.is_empty() && matches!(&f, Few::Many(m) if m.is_empty()));
        for (n, word) in ["a", "b", "c"].into_iter().enumerate() {
            f.push(word.to_string());
            assert_eq!(f.len(), n + 1);
            assert_eq!(matches!(f, Few::One(_)), n == 0);
        }
        assert_eq!(&*f, ["a", "b", "c"]);
        for s in &mut f {
            s.push('!');
        }
        assert_eq!(Vec::from(f.clone()), ["a!", "b!", "c!"]);
        let one: Few<u8> = std::iter::once(7).collect();
        assert_eq!((one.len(), one[0]), (1, 7));
        assert!(matches!(one, Few::One(7)));
        assert_eq!(Few::from(Vec::<u8>::new()), Few::default());
        assert_eq!(Few::from(vec![1, 2]), [1, 2].into_iter().collect());
    }
}
