//! Skip and sampling rules, decided on the worker once a record is made
//! (the decision needs the outcome: status, duration, abort).

use std::time::Duration;

use crate::record::{Outcome, Record, SampleRate};

/// Which requests get no record at all (health checks, metrics scrapes), and
/// what fraction of the ordinary ones is written.
///
/// Decided on the worker thread, never on the request path. Every request is
/// still counted: [`Stats::skipped`](crate::Stats::skipped) and
/// [`Stats::sampled_out`](crate::Stats::sampled_out). Records sampled out
/// still reach the sinks that count every request (the usage statistics
/// sink, see [`Sink::sees_sampled_out`](crate::sink::Sink::sees_sampled_out));
/// skipped requests reach no sink.
///
/// Always kept, whatever `keep` says: errors (status 400 and above, or no
/// response), aborted requests and slow requests (duration at or over
/// `slow`). Of the other requests (completed, below 400, fast) one in every
/// `1 / keep` is kept, by a counter: exactly `floor(n × keep)` of `n`, spread
/// evenly; each kept one carries `sample_rate` = `keep`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sampling {
    keep: Option<SampleRate>,
    slow: Option<Duration>,
    skip: Vec<Skip>,
}

impl Sampling {
    /// No skip rule, every request kept.
    pub fn new() -> Self {
        Sampling::default()
    }

    /// Keeps this fraction of the successful, fast requests.
    pub fn keep(mut self, rate: SampleRate) -> Self {
        self.keep = Some(rate);
        self
    }

    /// Requests that take at least this long are always kept.
    pub fn slow(mut self, threshold: Duration) -> Self {
        self.slow = Some(threshold);
        self
    }

    /// Adds a skip rule; a request that matches any rule gets no record.
    pub fn skip(mut self, rule: Skip) -> Self {
        self.skip.push(rule);
        self
    }

    /// Whether these rules keep every request.
    pub(crate) fn keeps_everything(&self) -> bool {
        self.skip.is_empty() && self.keep.is_none_or(SampleRate::is_one)
    }
}

/// One skip rule: a request matches when it matches every part set (a rule
/// with no part set matches nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skip {
    route: Option<String>,
    method: Option<http::Method>,
    status: Vec<u16>,
}

impl Skip {
    /// Requests whose route template is `route`, or whose path is `route` or
    /// below it (`/health` matches `/health` and `/health/live`, not `/healthz`).
    pub fn route(route: impl Into<String>) -> Self {
        Skip::default().and_route(route)
    }

    /// Requests with this method (`OPTIONS`).
    pub fn method(method: http::Method) -> Self {
        Skip::default().and_method(method)
    }

    /// Requests answered with one of these statuses.
    pub fn status(statuses: impl IntoIterator<Item = u16>) -> Self {
        Skip::default().and_status(statuses)
    }

    /// Also requires the route (see [`Skip::route`]).
    pub fn and_route(mut self, route: impl Into<String>) -> Self {
        self.route = Some(route.into());
        self
    }

    /// Also requires the method.
    pub fn and_method(mut self, method: http::Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Also requires one of these statuses.
    pub fn and_status(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.status = statuses.into_iter().collect();
        self
    }

    /// Whether no part is set (such a rule matches nothing).
    pub fn is_empty(&self) -> bool {
        self.route.is_none() && self.method.is_none() && self.status.is_empty()
    }

    fn matches(&self, r: &Record) -> bool {
        if self.is_empty() {
            return false;
        }
        if let Some(route) = &self.route {
            let template = r.route.as_deref() == Some(route.as_str());
            if !template && !under(&r.path, route) {
                return false;
            }
        }
        if self.method.as_ref().is_some_and(|m| m.as_str() != r.method) {
            return false;
        }
        if !self.status.is_empty() && !r.status.is_some_and(|s| self.status.contains(&s)) {
            return false;
        }
        true
    }
}

/// Whether `path` is `prefix` or below it, at a segment boundary.
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// What becomes of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No record, no sink.
    Skip,
    /// Only the sinks that count every request get it.
    SampledOut,
    /// Every sink gets it, with this `sample_rate`.
    Keep(Option<SampleRate>),
}

/// The worker's state for [`Sampling`]: the counter behind the fraction.
#[derive(Debug)]
pub(crate) struct Sampler {
    rules: Sampling,
    /// Millionths gathered since the last kept ordinary request.
    credit: u32,
}

impl Sampler {
    pub(crate) fn new(rules: Sampling) -> Self {
        Sampler { rules, credit: 0 }
    }

    pub(crate) fn decide(&mut self, r: &Record) -> Verdict {
        if self.rules.skip.iter().any(|s| s.matches(r)) {
            return Verdict::Skip;
        }
        let Some(rate) = self.rules.keep.filter(|k| !k.is_one()) else {
            return Verdict::Keep(None);
        };
        let error = r.outcome != Outcome::Completed || r.status.is_none_or(|s| s >= 400);
        let slow = self
            .rules
            .slow
            .is_some_and(|t| u128::from(r.duration_us) >= t.as_micros());
        if error || slow {
            return Verdict::Keep(None);
        }
        self.credit += rate.millionths();
        if self.credit >= SampleRate::ONE_IN_MILLIONTHS {
            self.credit -= SampleRate::ONE_IN_MILLIONTHS;
            Verdict::Keep(Some(rate))
        } else {
            Verdict::SampledOut
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::OffsetDateTime;

    use super::*;

    fn record(path: &str, status: u16, duration_us: u64) -> Record {
        let mut r = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", path);
        r.status = Some(status);
        r.duration_us = duration_us;
        r
    }

    #[test]
    fn skip_rules_match_route_template_path_prefix_method_and_status() {
        let mut s = Sampler::new(
            Sampling::new()
                .skip(Skip::route("/health"))
                .skip(Skip::method(http::Method::OPTIONS))
                .skip(Skip::status([404]).and_route("/static/")),
        );
        assert_eq!(s.decide(&record("/health", 200, 1)), Verdict::Skip);
        assert_eq!(s.decide(&record("/health/live", 200, 1)), Verdict::Skip);
        assert_eq!(s.decide(&record("/healthz", 200, 1)), Verdict::Keep(None));
        let mut templated = record("/items/{id}", 200, 1);
        templated.route = Some("/health".to_owned());
        assert_eq!(s.decide(&templated), Verdict::Skip);
        let mut options = record("/api", 204, 1);
        options.method = "OPTIONS".to_owned();
        assert_eq!(s.decide(&options), Verdict::Skip);
        assert_eq!(s.decide(&record("/static/a.css", 404, 1)), Verdict::Skip);
        assert_eq!(s.decide(&record("/static/a.css", 200, 1)), Verdict::Keep(None));
        assert_eq!(s.decide(&record("/api", 404, 1)), Verdict::Keep(None));
        // A rule with nothing set skips nothing.
        let mut s = Sampler::new(Sampling::new().skip(Skip::default()));
        assert_eq!(s.decide(&record("/", 200, 1)), Verdict::Keep(None));
    }

    #[test]
    fn errors_aborts_and_slow_requests_are_always_kept() {
        let rate = SampleRate::new(0.000_001).expect("rate");
        let mut s = Sampler::new(Sampling::new().keep(rate).slow(Duration::from_secs(1)));
        assert_eq!(s.decide(&record("/", 500, 1)), Verdict::Keep(None));
        assert_eq!(s.decide(&record("/", 404, 1)), Verdict::Keep(None));
        assert_eq!(s.decide(&record("/", 200, 1_000_000)), Verdict::Keep(None));
        let mut aborted = record("/", 200, 1);
        aborted.outcome = Outcome::Aborted;
        assert_eq!(s.decide(&aborted), Verdict::Keep(None));
        let mut no_response = record("/", 200, 1);
        no_response.status = None;
        assert_eq!(s.decide(&no_response), Verdict::Keep(None));
        assert_eq!(s.decide(&record("/", 200, 999_999)), Verdict::SampledOut);
    }

    proptest! {
        #[test]
        fn of_n_ordinary_requests_exactly_floor_n_times_keep_are_kept(m in 1u32..=1_000_000, n in 0usize..5000) {
            let rate = SampleRate::new(f64::from(m) / 1e6).expect("rate");
            let mut s = Sampler::new(Sampling::new().keep(rate));
            let r = record("/", 200, 1);
            let kept = (0..n).filter(|_| s.decide(&r) != Verdict::SampledOut).count();
            let expected = (n as u64 * u64::from(rate.millionths())) / 1_000_000;
            prop_assert_eq!(kept as u64, expected);
        }
    }
}
