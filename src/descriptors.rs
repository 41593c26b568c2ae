//! The process's open-files limit: raised at start from the soft to the hard limit, so a
//! flood of connections on one listener meets the listeners' caps before the kernel's
//! `EMFILE` (issue 12, item 7).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit and returns the limit in force
/// afterwards (`None` when unlimited). A refusal by the kernel keeps the old limit; the
/// figure returned is then the old soft limit.
pub fn raise_open_files() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return limit.current;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-files limit");
            limit.current
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_ends_at_the_hard_limit() {
        let after = raise_open_files();
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(limit.current, limit.maximum);
        assert_eq!(after, limit.current);
    }
}
