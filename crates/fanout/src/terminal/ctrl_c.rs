//! Ctrl-C while `print_response` runs — and only then. Tokio's `ctrl_c` would take SIGINT over for
//! the rest of the process, leaving a long-running host that printed one response unkillable by
//! Ctrl-C. Here SIGINT is caught while a [`CtrlC`] exists; with none, it does what it does by
//! default: end the process.
//!
//! The handler cannot be removed again without `unsafe` code (which fanout forbids), so it stays
//! installed and, when no `print_response` runs, emulates the default action. A program with a
//! Ctrl-C handler of its own turns this off with `PrintResponse::handle_ctrl_c(false)`.

use std::time::Duration;

/// How often a pending Ctrl-C is looked for: as often as frames are drawn.
const POLL: Duration = Duration::from_millis(50);

/// Ctrl-C is caught, not fatal, while this lives.
#[derive(Debug)]
pub(crate) struct CtrlC {
    _private: (),
}

#[cfg(unix)]
mod imp {
    use std::io;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};

    use signal_hook::consts::SIGINT;

    struct Handler {
        /// Set by SIGINT; taken by the `print_response` that acts on it.
        pressed: Arc<AtomicBool>,
        /// True when no `print_response` runs: SIGINT then ends the process.
        idle: Arc<AtomicBool>,
        active: Mutex<usize>,
    }

    static HANDLER: OnceLock<Handler> = OnceLock::new();

    fn handler() -> io::Result<&'static Handler> {
        if let Some(handler) = HANDLER.get() {
            return Ok(handler);
        }
        let handler = Handler {
            pressed: Arc::new(AtomicBool::new(false)),
            idle: Arc::new(AtomicBool::new(true)),
            active: Mutex::new(0),
        };
        // Installed once per process, whichever thread gets here first.
        let mut result = Ok(());
        let installed = HANDLER.get_or_init(|| {
            result = signal_hook::flag::register(SIGINT, Arc::clone(&handler.pressed))
                .and_then(|_| {
                    signal_hook::flag::register_conditional_default(SIGINT, Arc::clone(&handler.idle))
                })
                .map(drop);
            handler
        });
        result.map(|()| installed)
    }

    pub(super) fn catch() -> io::Result<()> {
        let handler = handler()?;
        let mut active = handler.active.lock().unwrap_or_else(|p| p.into_inner());
        if *active == 0 {
            handler.pressed.store(false, Ordering::SeqCst);
            handler.idle.store(false, Ordering::SeqCst);
        }
        *active += 1;
        Ok(())
    }

    pub(super) fn release() {
        let Some(handler) = HANDLER.get() else { return };
        let mut active = handler.active.lock().unwrap_or_else(|p| p.into_inner());
        *active = active.saturating_sub(1);
        if *active == 0 {
            handler.idle.store(true, Ordering::SeqCst);
        }
    }

    pub(super) async fn pressed() {
        loop {
            if HANDLER.get().is_some_and(|h| h.pressed.swap(false, Ordering::SeqCst)) {
                return;
            }
            tokio::time::sleep(super::POLL).await;
        }
    }
}

#[cfg(not(unix))]
mod imp {
    //! Elsewhere tokio's handler is used: it stays installed once the first `print_response` ran.

    pub(super) fn catch() -> std::io::Result<()> {
        Ok(())
    }

    pub(super) fn release() {}

    pub(super) async fn pressed() {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl CtrlC {
    /// Start catching Ctrl-C.
    pub(crate) fn catch() -> std::io::Result<Self> {
        imp::catch()?;
        Ok(CtrlC { _private: () })
    }

    /// Resolves when Ctrl-C is pressed.
    pub(crate) async fn pressed(&self) {
        imp::pressed().await;
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        imp::release();
    }
}

/// Read one line from stdin on a blocking thread, giving up when `cancelled` is set: the thread
/// waits for input in short slices, so a prompt abandoned by Ctrl-C leaves no reader behind to
/// swallow the next line (nor keeps the runtime from shutting down). `None` when cancelled.
pub(crate) fn read_line(cancelled: &std::sync::atomic::AtomicBool) -> std::io::Result<Option<String>> {
    use std::io::BufRead;
    use std::sync::atomic::Ordering;
    let stdin = std::io::stdin();
    loop {
        if cancelled.load(Ordering::SeqCst) {
            return Ok(None);
        }
        if readable(&stdin)? {
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            return Ok(Some(line));
        }
    }
}

#[cfg(unix)]
fn readable(stdin: &std::io::Stdin) -> std::io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let timeout = Timespec { tv_sec: 0, tv_nsec: POLL.as_nanos() as _ };
    let mut fds = [PollFd::new(stdin, PollFlags::IN)];
    match poll(&mut fds, Some(&timeout)) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

#[cfg(not(unix))]
fn readable(_stdin: &std::io::Stdin) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;
    use std::time::Duration;

    use signal_hook::consts::SIGINT;

    use super::CtrlC;

    const CHILD: &str = "FANOUT_CTRL_C_CHILD";

    /// In a child process (SIGINT would end the test runner): a Ctrl-C during `print_response`
    /// is caught; after it, Ctrl-C ends the process as it did before.
    #[test]
    fn ctrl_c_is_caught_while_printing_and_fatal_again_afterwards() {
        if std::env::var_os(CHILD).is_some() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            runtime.block_on(async {
                let ctrl_c = CtrlC::catch().unwrap_or_else(|e| panic!("{e}"));
                signal_hook::low_level::raise(SIGINT).unwrap_or_else(|e| panic!("{e}"));
                let caught = tokio::time::timeout(Duration::from_secs(10), ctrl_c.pressed()).await;
                assert!(caught.is_ok(), "Ctrl-C was not seen");
            });
            println!("caught while printing");
            let _ = signal_hook::low_level::raise(SIGINT);
            // Still alive: SIGINT was swallowed. Exit so the parent can tell.
            std::process::exit(3);
        }
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
        let status = Command::new(exe)
            .args([
                "--exact",
                "--nocapture",
                "terminal::ctrl_c::tests::ctrl_c_is_caught_while_printing_and_fatal_again_afterwards",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stdout = String::from_utf8_lossy(&status.stdout);
        assert!(stdout.contains("caught while printing"), "{stdout}");
        assert_eq!(
            status.status.signal(),
            Some(SIGINT),
            "the child should end by SIGINT after printing: {:?}\n{}",
            status.status,
            stdout
        );
    }
}
