//! Per-identity state over a sliding time window, bounded twice: at most
//! `max_identities` identities (the least recently seen forgotten first),
//! and an identity whose newest entry has left the window forgotten as
//! time moves on. The rules that count what one identity does in a window
//! keep their entries in one of these.

use crate::lru::Lru;

/// What an identity's entries tell the window: the time of the newest.
pub trait Windowed {
    /// Milliseconds since the epoch of the newest entry; `None` when empty.
    fn newest(&self) -> Option<i64>;
}

pub struct IdentityWindows<V> {
    window_ms: i64,
    by_user: Lru<String, V>,
}

impl<V: Windowed> IdentityWindows<V> {
    pub fn new(window_ms: i64, max_identities: usize) -> Self {
        IdentityWindows {
            window_ms,
            by_user: Lru::new(max_identities),
        }
    }

    /// Identities tracked now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.by_user.len()
    }

    /// Move the window's end to `now` (the latest event time seen),
    /// forgetting the identities with nothing left inside it; returns the
    /// window's length.
    pub fn advance_to(&mut self, now: i64) -> i64 {
        let oldest_kept = now - self.window_ms;
        self.by_user
            .expire(|v| v.newest().is_none_or(|last| last < oldest_kept));
        self.window_ms
    }

    /// The entries of `user`, created with `new` when missing.
    pub fn entry(&mut self, user: &String, new: impl FnOnce() -> V) -> &mut V {
        self.by_user.entry(user, new)
    }

    pub fn get_mut(&mut self, user: &String) -> Option<&mut V> {
        self.by_user.get_mut(user)
    }
}
