//! Which rows of the control-plane table name a user: asked for every
//! event by several rules, over a table of a hundred rows, so the rows are
//! found by a hash lookup of the name and a scan of the prefixes only.

use crate::fnv::FnvHashMap;
use crate::patterns::Prefix;

#[derive(Debug, Clone, Default)]
pub(super) struct UserIndex {
    /// Each exact name, with the rows naming it, in the table's order.
    exact: FnvHashMap<String, Vec<usize>>,
    /// Each prefix pattern (`system:node:` of `system:node:*`) and its row,
    /// in the table's order.
    prefixes: Vec<(Prefix, usize)>,
}

impl UserIndex {
    /// Row `row`'s user patterns, added after every earlier row's.
    pub(super) fn add<S: AsRef<str>>(&mut self, row: usize, users: &[S]) {
        for user in users {
            match user.as_ref().strip_suffix('*') {
                Some(prefix) => self.prefixes.push((Prefix::new(prefix), row)),
                None => {
                    let rows = self.exact.entry(user.as_ref().to_string()).or_default();
                    if rows.last() != Some(&row) {
                        rows.push(row);
                    }
                }
            }
        }
    }

    /// The rows naming `user`, in the table's order, each once.
    pub(super) fn rows(&self, user: &str) -> impl Iterator<Item = usize> {
        let exact = self.exact.get(user).map_or(&[][..], Vec::as_slice);
        let prefixed = self
            .prefixes
            .iter()
            .filter(move |(p, _)| p.starts(user))
            .map(|&(_, row)| row);
        InOrder {
            a: exact.iter().copied().peekable(),
            b: prefixed.peekable(),
            last: None,
        }
    }
}

/// Two ascending sequences of rows merged into one, without repeats.
struct InOrder<A: Iterator<Item = usize>, B: Iterator<Item = usize>> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
    last: Option<usize>,
}

impl<A: Iterator<Item = usize>, B: Iterator<Item = usize>> Iterator for InOrder<A, B> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            let next = match (self.a.peek(), self.b.peek()) {
                (Some(&a), Some(&b)) if a <= b => self.a.next(),
                (Some(_), Some(_)) => self.b.next(),
                (Some(_), None) => self.a.next(),
                (None, _) => self.b.next(),
            }?;
            if self.last != Some(next) {
                self.last = Some(next);
                return Some(next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UserIndex;

    #[test]
    fn rows_come_in_table_order_once_each() {
        let mut index = UserIndex::default();
        index.add(0, &["system:node:*"]);
        index.add(1, &["system:kube-proxy", "system:node:w1"]);
        index.add(2, &["system:node:w1", "system:node:*", "system:*"]);
        index.add(3, &["alice"]);
        let rows = |u: &str| index.rows(u).collect::<Vec<_>>();
        assert_eq!(rows("system:node:w1"), [0, 1, 2]);
        assert_eq!(rows("system:node:w2"), [0, 2]);
        assert_eq!(rows("system:kube-proxy"), [1, 2]);
        assert_eq!(rows("alice"), [3]);
        assert!(rows("bob").is_empty());
    }
}
