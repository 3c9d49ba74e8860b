//! Settings most items leave unset, held in a box made only when one is
//! set: one pointer per item otherwise. The parent keeps the model for the
//! life of the daemon, one real server and check per checked server, so
//! room for rare settings inline was most of what it kept per server at
//! 10,000 (issue 18).

/// A type whose every setting may be unset, with one shared value that has
/// them all unset (what a [`Lean`] without a box reads as).
pub trait Unset: Clone + Default + PartialEq + 'static {
    fn unset() -> &'static Self;
}

/// `T` boxed while anything in it is set. Reads see [`Unset::unset`] when
/// there is no box; the first write through `DerefMut` makes it; a clone
/// (`Config::compact`) and [`Lean::of`] leave it out when it holds only
/// unset values.
#[derive(Debug)]
pub struct Lean<T: Unset>(Option<Box<T>>);

impl<T: Unset> Lean<T> {
    pub fn of(t: T) -> Self {
        Lean((t != *T::unset()).then(|| Box::new(t)))
    }

    /// The settings to change in place when there are any: unlike
    /// `DerefMut`, an unset one stays without a box.
    pub fn existing_mut(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut()
    }

    /// Whether a box is held (something was set).
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    pub fn into_inner(self) -> T {
        self.0.map(|b| *b).unwrap_or_default()
    }
}

impl<T: Unset> Default for Lean<T> {
    fn default() -> Self {
        Lean(None)
    }
}

/// By value: a box holding only unset values equals no box (a reload must
/// not see a change where a parser wrote a default).
impl<T: Unset> PartialEq for Lean<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Unset> Clone for Lean<T> {
    fn clone(&self) -> Self {
        match &self.0 {
            Some(t) => Lean::of(T::clone(t)),
            None => Lean(None),
        }
    }
}

impl<T: Unset> std::ops::Deref for Lean<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or(T::unset())
    }
}

impl<T: Unset> std::ops::DerefMut for Lean<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, Default, PartialEq)]
    struct Two {
        a: Option<u32>,
        b: Option<String>,
    }

    static NONE: Two = Two { a: None, b: None };

    impl Unset for Two {
        fn unset() -> &'static Self {
            &NONE
        }
    }

    /// A box is made by the first write and dropped by a clone once its
    /// settings are unset again; equality is by value either way.
    #[test]
    fn a_box_is_held_only_while_something_is_set() {
        let mut l: Lean<Two> = Lean::default();
        assert!(!l.is_set() && l.a.is_none() && l.existing_mut().is_none());
        l.a = Some(3);
        assert!(l.is_set());
        assert_eq!(l.clone().a, Some(3));
        l.a = None;
        assert!(l.is_set(), "written, so boxed");
        assert!(!l.clone().is_set(), "a clone leaves the empty box out");
        assert_eq!(l, Lean::default());
        assert!(!Lean::of(Two::default()).is_set());
        let set = Lean::of(Two {
            a: None,
            b: Some("x".into()),
        });
        assert!(set.is_set() && set != Lean::default());
        assert_eq!(set.into_inner().b.as_deref(), Some("x"));
    }
}
