use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::layer::{Clock, PrivlogLayer, Shared};
use crate::limits::{DurationLimit, OutOfRange};
use crate::pipeline::{self, PipelineConfig, WorkerGuard};
use crate::policy::{CaptureConfig, CompiledPolicy, RatchetKey};
use crate::sanitize::Sanitizer;
use crate::sink::Sink;
use crate::{Fields, KeyError, MasterKey, Policy, PolicyError};

/// Starts building a privlog layer and its pipeline.
///
/// ```
/// use privlog::{MasterKey, Policy, sink::WriterSink};
///
/// let (layer, guard) = privlog::builder()
///     .key(MasterKey::from_bytes([42; 32]))
///     .policy(Policy::atlassian_connect())
///     .sink(WriterSink::stdout())
///     .build()?;
/// // let app = axum::Router::new().route(...).layer(layer);
/// drop(layer);
/// let report = guard.shutdown();
/// assert!(report.stats.is_balanced());
/// # Ok::<(), privlog::BuildError>(())
/// ```
pub fn builder() -> Builder {
    Builder::default()
}

/// `shutdown_timeout`: how long the guard may wait for the sinks.
pub(crate) const SHUTDOWN_TIMEOUT: DurationLimit =
    DurationLimit::new("shutdown_timeout", Duration::ZERO, Duration::from_secs(3600));

/// Configures the layer, the privacy policy and the sinks; see [`builder`].
#[must_use]
pub struct Builder {
    key: Option<MasterKey>,
    ratchet: Option<RatchetKey>,
    policy: Policy,
    sinks: Vec<Box<dyn Sink>>,
    config: PipelineConfig,
    shutdown_timeout: Duration,
    clock: Option<Clock>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            key: None,
            ratchet: None,
            policy: Policy::default(),
            sinks: Vec::new(),
            config: PipelineConfig::default(),
            shutdown_timeout: pipeline::DEFAULT_SHUTDOWN_TIMEOUT,
            clock: None,
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("key", &self.key.as_ref().map(MasterKey::id))
            .field("ratchet_key", &self.ratchet.as_ref().map(RatchetKey::id))
            .field("policy", &self.policy)
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name().to_owned()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// The master key pseudonyms are derived from.
    ///
    /// Defaults to a random key made at start-up, with a warning: pseudonyms
    /// then change at every restart. Never an unkeyed hash.
    pub fn key(mut self, key: MasterKey) -> Self {
        self.key = Some(key);
        self.ratchet = None;
        self
    }

    /// A forward-secure key pseudonyms are derived from, instead of a master
    /// key ([`Builder::key`]); its rotation replaces the policy's.
    ///
    /// The worker computes each epoch's keys from the key's state, moving it
    /// forward in memory as epochs pass (never backwards; the old state is
    /// zeroized). `privlog keys advance` never changes the keys of the
    /// current epoch or later ones, so a running service needs no reload
    /// after it; a restart on the advanced file writes the same pseudonyms.
    pub fn ratchet_key(mut self, key: RatchetKey) -> Self {
        self.ratchet = Some(key);
        self.key = None;
        self
    }

    /// The privacy policy. Defaults to [`Policy::default`], the secure baseline.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Adds a sink. Each sink gets its own thread and queue.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Adds a sink that receives only `fields` of each record (see
    /// [`Minimized`](crate::sink::Minimized)); the others reach it as `None`.
    ///
    /// ```
    /// use privlog::{Field, Fields, sink::MemorySink};
    ///
    /// let b = privlog::builder()
    ///     .sink(MemorySink::new())
    ///     .sink_with_fields(MemorySink::new(), Fields::all().without(Field::Account).without(Field::Tenant));
    /// # drop(b);
    /// ```
    pub fn sink_with_fields(self, sink: impl Sink, fields: Fields) -> Self {
        self.sink(crate::sink::Minimized::new(sink, fields))
    }

    /// Adds a boxed sink.
    pub fn boxed_sink(mut self, sink: Box<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// How many records the hand-off queue holds before new ones are dropped
    /// (and counted). Defaults to [`DEFAULT_QUEUE_CAPACITY`](pipeline::DEFAULT_QUEUE_CAPACITY);
    /// at most 262 144.
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.config.queue_capacity = records;
        self
    }

    /// The most records per batch handed to the sinks. Defaults to
    /// [`DEFAULT_BATCH_SIZE`](pipeline::DEFAULT_BATCH_SIZE); at most 16 384.
    pub fn batch_size(mut self, records: usize) -> Self {
        self.config.batch_size = records;
        self
    }

    /// How many batches each sink's queue holds before batches are dropped for
    /// that sink only (and counted). Defaults to
    /// [`DEFAULT_SINK_QUEUE_BATCHES`](pipeline::DEFAULT_SINK_QUEUE_BATCHES); at most 4 096, and
    /// `batch_size` × this at most 1 048 576 records.
    pub fn sink_queue_batches(mut self, batches: usize) -> Self {
        self.config.sink_queue_batches = batches;
        self
    }

    /// The longest the worker sleeps between rounds. Defaults to
    /// [`DEFAULT_MAX_IDLE`](pipeline::DEFAULT_MAX_IDLE).
    /// Under load it sleeps about as long as the recent request rate takes to
    /// queue 128 captures (at least 1 ms, or this if shorter), so each round
    /// takes a batch worth its wake-ups; records reach the sinks within
    /// about this long. At most 1 s.
    pub fn max_idle(mut self, idle: Duration) -> Self {
        self.config.max_idle = idle;
        self
    }

    /// How long the guard's `Drop` waits for queued records to be written.
    /// Defaults to [`DEFAULT_SHUTDOWN_TIMEOUT`](pipeline::DEFAULT_SHUTDOWN_TIMEOUT); at most 1 h.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Skip and sampling rules (see [`Sampling`](crate::Sampling)), applied
    /// on the worker. Default: no skip rule, every record kept.
    pub fn sampling(mut self, sampling: crate::Sampling) -> Self {
        self.config.sampling = sampling;
        self
    }

    /// Where record timestamps (and so pseudonym epochs) come from. Defaults
    /// to the system clock; set it to test rotation or replay traffic.
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// A suppression file: accounts on it (erased, or objecting) are
    /// written without `account` and `account_src`, counted in
    /// [`Stats::suppressed`](crate::Stats::suppressed). Read at start and
    /// again when it changes (looked at once a second by the worker); a
    /// missing or unreadable file keeps the last list read, with a warning.
    /// Entries are added by `privlog subject erase --suppress FILE`.
    pub fn suppression_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config.suppression_file = Some(path.into());
        self
    }

    /// Starts the worker and sink threads and returns the layer and the guard
    /// that shuts them down.
    ///
    /// # Errors
    /// [`BuildError`] when there is no sink, the policy cannot work, a size
    /// or duration is out of range, no key was given and none could be
    /// generated, or a thread could not be started.
    pub fn build(self) -> Result<(PrivlogLayer, WorkerGuard), BuildError> {
        if self.sinks.is_empty() {
            return Err(BuildError::NoSink);
        }
        let policy = self.check()?;
        // The startup privacy lint: each setting that would keep raw text.
        for warning in self.policy.privacy_warnings() {
            tracing::warn!(target: "privlog", "privacy: {warning}");
        }
        if let Some(ratchet) = self.ratchet {
            let capture = policy.capture.clone();
            let sanitizer = Sanitizer::with_ratchet(policy, ratchet);
            return start(
                sanitizer,
                capture,
                self.config,
                self.sinks,
                self.clock,
                self.shutdown_timeout,
            );
        }
        let key = match self.key {
            Some(k) => k,
            None => {
                let k = MasterKey::generate().map_err(BuildError::Key)?;
                tracing::warn!(
                    target: "privlog",
                    kid = %k.id(),
                    "no privlog key configured: using a random key for this process only; \
                     pseudonyms will change at every restart (set a key from a secret store)"
                );
                k
            }
        };
        let capture = policy.capture.clone();
        let mut sanitizer = Sanitizer::new(policy, &key);
        if self.config.suppression_file.is_some() {
            sanitizer.suppress_with(crate::policy::SuppressionKey::new(&key));
        }
        drop(key);
        start(
            sanitizer,
            capture,
            self.config,
            self.sinks,
            self.clock,
            self.shutdown_timeout,
        )
    }
}

impl Builder {
    /// Checks the policy and every size and duration, starting nothing: what
    /// [`Builder::build`] checks before it starts the pipeline (sinks aside).
    /// Returns the compiled policy: compiling is the policy's one check.
    pub(crate) fn check(&self) -> Result<CompiledPolicy, BuildError> {
        let policy = self.policy.compile().map_err(BuildError::Policy)?;
        self.config.validate().map_err(BuildError::OutOfRange)?;
        if self.ratchet.is_some() && self.config.suppression_file.is_some() {
            // Suppression marks must stay the same across epochs, and a
            // ratchet key's state changes (and is destroyed) every epoch.
            return Err(BuildError::Conflict(
                "a suppression file needs a master key: a ratchet key's state changes every epoch, so it cannot \
                 mark accounts for good; use a master key (`key`) or remove `suppression_file`",
            ));
        }
        SHUTDOWN_TIMEOUT
            .check(self.shutdown_timeout)
            .map_err(BuildError::OutOfRange)?;
        Ok(policy)
    }
}

/// Starts the pipeline with `sanitizer` and returns the layer and its guard.
fn start(
    sanitizer: Sanitizer,
    capture: CaptureConfig,
    config: PipelineConfig,
    sinks: Vec<Box<dyn Sink>>,
    clock: Option<Clock>,
    shutdown_timeout: Duration,
) -> Result<(PrivlogLayer, WorkerGuard), BuildError> {
    let pipeline = pipeline::spawn(config, sanitizer, sinks).map_err(BuildError::Spawn)?;
    let shared = Arc::new(Shared {
        handoff: pipeline.handoff.clone(),
        stats: pipeline.stats.clone(),
        capture,
        clock,
    });
    Ok((PrivlogLayer { shared }, WorkerGuard::new(pipeline, shutdown_timeout)))
}

/// Why the layer could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// No sink was added.
    NoSink,
    /// The policy cannot work.
    Policy(PolicyError),
    /// A size, count or duration is outside its allowed range.
    OutOfRange(OutOfRange),
    /// No key was given and none could be generated.
    Key(KeyError),
    /// A worker or sink thread could not be started.
    Spawn(std::io::Error),
    /// Two settings that cannot work together; the message names both and
    /// the fix.
    Conflict(&'static str),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoSink => {
                f.write_str("no sink configured: add one with `.sink(...)`, e.g. `WriterSink::stdout()`")
            }
            BuildError::Policy(e) => write!(f, "invalid privacy policy: {e}"),
            BuildError::OutOfRange(e) => write!(f, "invalid pipeline setting: {e}"),
            BuildError::Key(e) => write!(f, "no key: {e}"),
            BuildError::Spawn(_) => f.write_str("cannot start the privlog worker thread"),
            BuildError::Conflict(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Policy(e) => Some(e),
            BuildError::OutOfRange(e) => Some(e),
            BuildError::Key(e) => Some(e),
            BuildError::Spawn(e) => Some(e),
            BuildError::NoSink | BuildError::Conflict(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;

    fn built(b: Builder) -> Result<(), BuildError> {
        b.sink(MemorySink::new())
            .build()
            .map(|(_, guard)| drop(guard.shutdown()))
    }

    #[test]
    fn a_suppression_file_with_a_ratchet_key_is_refused_naming_both() {
        let ratchet = crate::policy::RatchetKey::generate(crate::Rotation::Daily, time::OffsetDateTime::UNIX_EPOCH)
            .expect("a ratchet key");
        let err = built(
            builder()
                .ratchet_key(ratchet)
                .suppression_file("/nonexistent/suppressed"),
        )
        .expect_err("refused");
        assert!(matches!(err, BuildError::Conflict(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("suppression file") && msg.contains("ratchet key"), "{msg}");
        // Each alone builds.
        built(builder().suppression_file("/nonexistent/suppressed")).expect("master key and a suppression file");
    }

    #[test]
    fn building_warns_once_for_each_setting_that_keeps_raw_text() {
        use crate::policy::PathPolicy;
        use crate::{IpPolicy, QueryPolicy};
        let key = || MasterKey::from_bytes([7; 32]);
        let policy = Policy::atlassian_connect()
            .path_policy(PathPolicy::Scrub)
            .ip(IpPolicy::Keep)
            .query(QueryPolicy::drop_all().allow(["lic", "accountId", "user_name", "page"]));
        let text = crate::sanitize::warnings_of(|| {
            built(builder().key(key()).policy(policy)).expect("builds");
        });
        for (warning, count) in [
            ("path policy `scrub`", 1),
            ("ip policy `keep`", 1),
            ("query key \"accountId\"", 1),
            ("query key \"user_name\"", 1),
            ("query key \"lic\"", 0),
            ("query key \"page\"", 0),
        ] {
            assert_eq!(text.matches(warning).count(), count, "{warning}: {text}");
        }
        assert!(text.contains(" privlog: privacy:"), "{text}");
        let quiet = crate::sanitize::warnings_of(|| {
            built(builder().key(key()).policy(Policy::atlassian_connect())).expect("builds");
            built(builder().key(key())).expect("builds");
        });
        assert!(!quiet.contains("privacy"), "{quiet}");
    }

    #[test]
    fn sizes_at_their_bounds_build_and_one_past_is_refused_before_anything_is_allocated() {
        built(
            builder()
                .queue_capacity(262_144)
                .batch_size(16_384)
                .sink_queue_batches(64),
        )
        .expect("at the bounds");
        built(builder().batch_size(256).sink_queue_batches(4096)).expect("at the bounds");
        built(
            builder()
                .shutdown_timeout(Duration::from_secs(3600))
                .max_idle(Duration::from_secs(1)),
        )
        .expect("at the bounds");
        for (b, setting) in [
            (builder().queue_capacity(1_000_000_000_000_000_000), "queue_capacity"),
            (builder().queue_capacity(262_145), "queue_capacity"),
            (builder().queue_capacity(0), "queue_capacity"),
            (builder().batch_size(100_000_000), "batch_size"),
            (builder().batch_size(0), "batch_size"),
            (builder().sink_queue_batches(4097), "sink_queue_batches"),
            (builder().batch_size(512).sink_queue_batches(2049), "sink_queue_batches"),
            (
                builder().shutdown_timeout(Duration::from_secs(3601)),
                "shutdown_timeout",
            ),
            (builder().max_idle(Duration::from_millis(1001)), "max_idle"),
        ] {
            match built(b) {
                Err(BuildError::OutOfRange(e)) => assert_eq!(e.setting, setting, "{e}"),
                other => panic!("{setting}: {other:?}"),
            }
        }
        let e = built(builder().batch_size(512).sink_queue_batches(2049)).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "invalid pipeline setting: sink_queue_batches = 2049 is out of range; use a value from 1 to 2048 \
             (with batch_size 512, at most 1048576 records may wait for one sink)"
        );
    }

    #[test]
    fn shutdown_within_a_wait_longer_than_the_clock_holds_finishes_without_a_panic() {
        let (_layer, guard) = builder().sink(MemorySink::new()).build().expect("build");
        let report = guard.shutdown_within(Duration::MAX);
        assert!(report.complete);
    }
}
