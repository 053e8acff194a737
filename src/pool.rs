//! How many replay workers a page runs, and how many of them start before its first replay.
//!
//! The page's script only reads what it is given (the machine's core count, the `workers` attribute or
//! `?workers=`) and starts the workers this plan names (`workerPlan` in `web`); the rule lives here,
//! once, and is tested natively.

use serde::Serialize;

/// The most workers a page starts, whatever the machine: each is one more model load and one more wasm
/// instance's memory. (Only 1 and 2 workers have been measured, on 2 cores; the cap is the page's
/// long-standing one, not a measured optimum.)
pub const MAX_WORKERS: u32 = 4;

/// A page's replay workers: `count` in all (the primary and its helpers), `first` of them started
/// before the page's first replay; the rest start once that replay is done (or has failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerPlan {
    /// Every worker the page runs (1–[`MAX_WORKERS`]).
    pub count: u32,
    /// Those started before the first replay (1–`count`).
    pub first: u32,
}

impl WorkerPlan {
    /// The plan for a machine of `cores` cores (`navigator.hardwareConcurrency`; 0 when the browser
    /// does not say, read as 1) and the count asked for, if any (the `workers` attribute or
    /// `?workers=`, as written: a positive number is a request, rounded down; anything else is not).
    ///
    /// - One worker per core, at most [`MAX_WORKERS`], unless a count was asked for (also capped).
    /// - On two cores or fewer, where no count was asked for, the first replay runs on the primary
    ///   alone: a first open there is CPU-bound (the wasm compiler's threads, the page and the workers
    ///   share the two cores), and a helper's own model load and its inflate of the whole gzip file
    ///   cost more than half the replay saves (measured: docs/performance.md, issue 16's seventh step).
    pub fn for_page(cores: u32, asked: Option<&str>) -> WorkerPlan {
        let asked = asked.and_then(parse_count);
        let cores = cores.max(1);
        let count = asked.unwrap_or(cores).min(MAX_WORKERS);
        let first = if asked.is_some() || cores > 2 {
            count
        } else {
            1
        };
        WorkerPlan { count, first }
    }
}

/// A worker count as a page writes it (`"2"`, `" 3 "`, `"2.7"`): a positive number, rounded down; `None`
/// for anything else (empty, zero, negative, not a number), which leaves the choice to the plan.
fn parse_count(text: &str) -> Option<u32> {
    let n = text.trim().parse::<f64>().ok()?.floor();
    (n >= 1.0).then(|| n.min(f64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cores: u32, asked: Option<&str>) -> (u32, u32) {
        let p = WorkerPlan::for_page(cores, asked);
        (p.count, p.first)
    }

    #[test]
    fn two_cores_or_fewer_start_the_primary_alone() {
        assert_eq!(plan(2, None), (2, 1));
        assert_eq!(plan(1, None), (1, 1));
        // A browser that does not say how many cores it has is taken as one.
        assert_eq!(plan(0, None), (1, 1));
    }

    #[test]
    fn more_cores_start_every_worker_at_once_up_to_the_cap() {
        assert_eq!(plan(3, None), (3, 3));
        assert_eq!(plan(4, None), (4, 4));
        assert_eq!(plan(16, None), (MAX_WORKERS, MAX_WORKERS));
    }

    #[test]
    fn a_count_asked_for_starts_at_once_and_is_capped() {
        assert_eq!(plan(2, Some("2")), (2, 2));
        assert_eq!(plan(2, Some("1")), (1, 1));
        assert_eq!(plan(8, Some("1")), (1, 1));
        assert_eq!(plan(2, Some("9")), (MAX_WORKERS, MAX_WORKERS));
        assert_eq!(plan(2, Some(" 3.9 ")), (3, 3));
    }

    #[test]
    fn anything_but_a_positive_number_is_not_a_request() {
        for text in ["", "0", "0.5", "-2", "two", "NaN", "inf-"] {
            assert_eq!(plan(2, Some(text)), (2, 1), "{text:?}");
            assert_eq!(plan(8, Some(text)), (4, 4), "{text:?}");
        }
        // A huge request is a request, capped.
        assert_eq!(plan(2, Some("1e30")), (MAX_WORKERS, MAX_WORKERS));
    }
}
