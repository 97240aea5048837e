//! The order a followed Job's events reach a hook in: attempt by attempt, each attempt's
//! start, its log lines and pod problems, then its end. An attempt's end is held until every
//! log stream of that attempt reached its end (the kubelet ends a followed log when the
//! container stops), so a hook has all of an attempt's lines before it hears how it ended —
//! but no longer than [`END_GRACE`] after the end was seen: a log that lags further (a
//! kubelet slow to answer) no longer holds the end back, and its later lines still come,
//! after it. Later attempts wait while an earlier one is being told.

use std::time::Duration;

use tokio::time::Instant;

use super::follow::JobEvent;

/// How long a known end waits for its attempt's log streams to end.
pub const END_GRACE: Duration = Duration::from_secs(2);

/// Bytes of events held for all attempts together at most (by [`JobEvent::size`]); past it
/// they are handed on out of order rather than kept. Events are held while an earlier
/// attempt is still being told (a Job running pods in parallel), and log lines are up to
/// 64 KiB each: a count alone would let that grow to gigabytes.
const MAX_HELD_BYTES: usize = 1024 * 1024;

/// One attempt: a pod, or one run of a container restarted in place.
#[derive(Debug)]
pub struct Attempt {
    pub pod: String,
    /// The container restart count this run started at (0 for a new pod).
    pub run: i32,
    /// Containers whose log reader was started for this attempt.
    pub opened: std::collections::HashSet<String>,
    /// Log readers started and not yet done.
    readers: u32,
    /// Of those, readers whose log failed to open and that are trying again.
    failing: u32,
    /// Readers that opened their log and are reading.
    reading: u32,
    /// Events not handed on yet (its start, lines, problems).
    held: Vec<JobEvent>,
    /// Its end and when it was seen.
    ended: Option<(JobEvent, Instant)>,
    ended_told: bool,
}

impl Attempt {
    /// Whether later attempts wait for this one: its end is not told yet and it has a log
    /// being read or an end due.
    fn blocks(&self) -> bool {
        !self.ended_told && (self.readers > 0 || self.ended.is_some())
    }

    /// Whether its end may be told: its logs are read, or the grace ran out.
    fn end_due(&self, now: Instant) -> bool {
        self.ended
            .as_ref()
            .is_some_and(|(_, at)| self.readers == 0 || now.duration_since(*at) >= END_GRACE)
    }
}

/// A Job's attempts, in the order they were first seen.
#[derive(Debug, Default)]
pub struct Attempts {
    list: Vec<Attempt>,
    /// Bytes of the events in every attempt's `held`.
    held_bytes: usize,
}

impl Attempts {
    /// A new attempt of `pod` at restart count `run`; its `attempt-started` is queued.
    /// Returns its index.
    pub fn start(&mut self, pod: &str, run: i32, limit: Option<u32>) -> usize {
        let index = self.list.len();
        self.list.push(Attempt {
            pod: pod.to_string(),
            run,
            opened: Default::default(),
            readers: 0,
            failing: 0,
            reading: 0,
            held: Vec::new(),
            ended: None,
            ended_told: false,
        });
        let started = JobEvent::AttemptStarted {
            pod: pod.to_string(),
            index: index as u32 + 1,
            limit,
        };
        self.held_bytes += started.size();
        self.list[index].held.push(started);
        index
    }

    pub fn get(&self, i: usize) -> &Attempt {
        &self.list[i]
    }

    pub fn get_mut(&mut self, i: usize) -> &mut Attempt {
        &mut self.list[i]
    }

    /// Whether the last attempt's end is not known yet.
    pub fn last_unended(&self) -> bool {
        self.list
            .len()
            .checked_sub(1)
            .is_some_and(|i| !self.has_end(i))
    }

    /// Queue an event of attempt `i` (a line, a problem). Past the bound it goes to `out`
    /// at once.
    pub fn push(&mut self, i: usize, e: JobEvent, out: &mut Vec<JobEvent>) {
        let size = e.size();
        if self.held_bytes + size <= MAX_HELD_BYTES {
            self.held_bytes += size;
            self.list[i].held.push(e);
        } else {
            out.push(e);
        }
    }

    pub fn has_end(&self, i: usize) -> bool {
        let a = &self.list[i];
        a.ended.is_some() || a.ended_told
    }

    /// Attempt `i` ended (the first end seen counts).
    pub fn end(&mut self, i: usize, e: JobEvent) {
        let a = &mut self.list[i];
        if a.ended.is_none() && !a.ended_told {
            a.ended = Some((e, Instant::now()));
        }
    }

    pub fn reader_started(&mut self, i: usize) {
        self.list[i].readers += 1;
    }

    /// A reader opened its log; `recovered`: after failing to.
    pub fn reader_opened(&mut self, i: usize, recovered: bool) {
        let a = &mut self.list[i];
        a.reading += 1;
        if recovered {
            a.failing = a.failing.saturating_sub(1);
        }
    }

    pub fn reader_failing(&mut self, i: usize) {
        self.list[i].failing += 1;
    }

    /// A reader is done: its log ended, or it gave up (`failed`: while still failing).
    pub fn reader_done(&mut self, i: usize, failed: bool) {
        let a = &mut self.list[i];
        a.readers = a.readers.saturating_sub(1);
        if failed {
            a.failing = a.failing.saturating_sub(1);
        }
        a.reading = a.reading.min(a.readers);
    }

    /// Whether some log is being read.
    pub fn reading(&self) -> bool {
        self.list.iter().any(|a| a.reading > 0)
    }

    /// Whether some log is failing to open, or not opened yet.
    pub fn opening(&self) -> bool {
        self.list
            .iter()
            .any(|a| a.failing > 0 || a.readers > a.reading + a.failing)
    }

    /// Hand on what may go, in attempt order: each attempt's queued events, then its end once
    /// due; stop at the first attempt still being told. With `all` (the outcome is being
    /// said), everything.
    pub fn flush(&mut self, now: Instant, all: bool, out: &mut Vec<JobEvent>) {
        for a in &mut self.list {
            self.held_bytes -= a.held.iter().map(JobEvent::size).sum::<usize>();
            out.append(&mut a.held);
            if !a.ended_told && (all || a.end_due(now)) {
                if let Some((e, _)) = a.ended.take() {
                    a.ended_told = true;
                    out.push(e);
                }
            }
            if a.blocks() && !all {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pod: &str, text: &str) -> JobEvent {
        JobEvent::Log {
            pod: pod.into(),
            container: "c".into(),
            text: text.into(),
        }
    }

    fn ended(pod: &str) -> JobEvent {
        JobEvent::AttemptEnded {
            pod: pod.into(),
            exit_code: Some(1),
            reason: "Error".into(),
            message: String::new(),
            succeeded: false,
        }
    }

    fn texts(events: &[JobEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                JobEvent::AttemptStarted { pod, index, .. } => format!("start {pod} {index}"),
                JobEvent::Log { text, .. } => text.clone(),
                JobEvent::AttemptEnded { pod, .. } => format!("end {pod}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn an_end_waits_for_its_attempts_log_to_end() {
        let mut a = Attempts::default();
        let mut out = Vec::new();
        let first = a.start("p", 0, Some(5));
        a.reader_started(first);
        a.reader_opened(first, false);
        a.push(first, line("p", "connecting"), &mut out);
        // The restart in place is seen before the run's last line was read.
        a.end(first, ended("p"));
        let second = a.start("p", 1, Some(5));
        a.push(second, line("p", "again"), &mut out);
        a.flush(Instant::now(), false, &mut out);
        assert_eq!(texts(&out), ["start p 1", "connecting"]);
        a.push(first, line("p", "lock timeout"), &mut out);
        a.reader_done(first, false);
        a.flush(Instant::now(), false, &mut out);
        assert_eq!(
            texts(&out),
            [
                "start p 1",
                "connecting",
                "lock timeout",
                "end p",
                "start p 2",
                "again"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_log_that_lags_past_the_grace_no_longer_holds_the_end() {
        let mut a = Attempts::default();
        let mut out = Vec::new();
        let first = a.start("p1", 0, None);
        a.reader_started(first);
        a.reader_failing(first);
        a.end(first, ended("p1"));
        let second = a.start("p2", 0, None);
        a.flush(Instant::now(), false, &mut out);
        assert_eq!(texts(&out), ["start p1 1"]);
        tokio::time::advance(END_GRACE).await;
        a.flush(Instant::now(), false, &mut out);
        assert_eq!(texts(&out), ["start p1 1", "end p1", "start p2 2"]);
        // A line read after that still comes, after the end.
        a.push(first, line("p1", "late"), &mut out);
        a.flush(Instant::now(), false, &mut out);
        assert_eq!(texts(&out).last().unwrap(), "late");
        assert!(!a.has_end(second));
    }

    #[tokio::test(start_paused = true)]
    async fn lines_held_behind_a_running_attempt_are_bounded_in_bytes() {
        // Two pods in parallel: the second's lines wait while the first is being read,
        // up to the byte bound; past it they are handed on at once.
        let mut a = Attempts::default();
        let mut out = Vec::new();
        let first = a.start("p1", 0, None);
        a.reader_started(first);
        a.reader_opened(first, false);
        let second = a.start("p2", 0, None);
        let long = "x".repeat(64 * 1024);
        for _ in 0..40 {
            a.push(second, line("p2", &long), &mut out);
        }
        let held = a.get(second).held.len();
        assert!(held > 1 && held < 17, "{held} events held");
        assert_eq!(out.len(), 41 - held, "the rest handed on at once");
        assert!(a.held_bytes <= MAX_HELD_BYTES);
        // Once the first attempt is told, the held ones follow and the count is back to 0.
        a.end(first, ended("p1"));
        a.reader_done(first, false);
        a.flush(Instant::now(), false, &mut out);
        assert_eq!(out.len(), 41 + 2);
        assert_eq!(a.held_bytes, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_outcome_tells_everything_in_attempt_order() {
        let mut a = Attempts::default();
        let mut out = Vec::new();
        let first = a.start("p1", 0, None);
        a.reader_started(first);
        a.end(first, ended("p1"));
        let second = a.start("p2", 0, None);
        a.push(second, line("p2", "done"), &mut out);
        a.flush(Instant::now(), true, &mut out);
        assert_eq!(texts(&out), ["start p1 1", "end p1", "start p2 2", "done"]);
    }
}
