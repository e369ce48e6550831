//! Element identities that replicas create without coordinating.

use std::fmt;

/// Identifies one element of a model's tree for its whole life.
///
/// Operations target elements by id rather than by path, so an edit deep in the tree is unaffected
/// by concurrent edits elsewhere. An id is unique without coordination: `site` is a prefix the
/// relay hands to each client (unique per relay database) and `counter` is that client's local
/// counter.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct ElementId {
    /// The prefix the relay gave to the replica that created the element.
    pub site: u64,
    /// The creating replica's counter, unique within `site`.
    pub counter: u64,
}

impl ElementId {
    /// The id every model's root element has, so that clients can address it before they know
    /// anything else about the model.
    pub const ROOT: ElementId = ElementId {
        site: 0,
        counter: 0,
    };

    /// Builds an id from its two parts.
    pub const fn new(site: u64, counter: u64) -> Self {
        ElementId { site, counter }
    }
}

impl fmt::Display for ElementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.site, self.counter)
    }
}

/// Hands out fresh element ids for one replica.
///
/// Every replica that creates elements (a client, or the relay when it builds initial data)
/// owns one generator with a site prefix nobody else uses.
#[derive(Clone, Debug)]
pub struct IdGenerator {
    site: u64,
    next: u64,
}

impl IdGenerator {
    /// A generator for `site`, starting at counter 1 (0 is kept for the root on site 0).
    pub fn new(site: u64) -> Self {
        IdGenerator { site, next: 1 }
    }

    /// Resumes a generator whose ids up to `next - 1` were already handed out.
    pub fn resume(site: u64, next: u64) -> Self {
        IdGenerator {
            site,
            next: next.max(1),
        }
    }

    /// The site prefix of this generator.
    pub fn site(&self) -> u64 {
        self.site
    }

    /// The next counter value it will hand out (what a cache must store to resume).
    pub fn next_counter(&self) -> u64 {
        self.next
    }

    /// A fresh id.
    pub fn next_id(&mut self) -> ElementId {
        let id = ElementId::new(self.site, self.next);
        self.next += 1;
        id
    }
}
