//! What a person at a terminal sees while `integrator run` works: which candidate of how
//! many, and for how long verify has been running — one line rewritten in place every
//! second, ended with the time it took. The caller decides whether anyone is watching
//! (stderr a terminal, not `--quiet`/`--json`); off a terminal nothing is printed.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A line showing `label` and the seconds since it started, until dropped.
pub(super) struct Timer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// Start showing `label` with its running time on stderr.
pub(super) fn timer(label: String) -> Timer {
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || tick(&label, &flag));
    Timer { stop, thread: Some(thread) }
}

/// Rewrite the line every second until told to stop, then end it with the total time.
fn tick(label: &str, stop: &(Mutex<bool>, Condvar)) {
    let started = Instant::now();
    let show = |line: String| {
        let mut err = std::io::stderr().lock();
        // Carriage return and erase-line: the same terminal line, rewritten.
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
    };
    show(label.to_string());
    let (lock, wake) = stop;
    let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let next = Duration::from_secs(started.elapsed().as_secs() + 1).saturating_sub(started.elapsed());
        stopped = wake.wait_timeout(stopped, next).unwrap_or_else(|e| e.into_inner()).0;
        if *stopped {
            show(format!("{label} — {:.1} s\n", started.elapsed().as_secs_f64()));
            return;
        }
        show(format!("{label} … {} s", started.elapsed().as_secs()));
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
