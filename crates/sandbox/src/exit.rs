//! Waiting for any process to exit — a grandchild that left the process group, a server's
//! wrapper — on a pidfd (`pidfd_open(2)`, Linux ≥ 5.3), which becomes readable when the process
//! exits: an event to await rather than `/proc` to poll.

use std::io;

/// Returns once process `pid` has exited (a zombie counts: it runs no more), at once when there
/// is no such process.
///
/// Errors when the kernel has no pidfds or the descriptor cannot be watched.
pub async fn process_exit(pid: u32) -> io::Result<()> {
    let Some(pidfd) = crate::sys::pidfd_open(pid)? else {
        return Ok(());
    };
    let watched = crate::sys::watch(pidfd)?;
    let _ready = watched.readable().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_process_exit_is_awaited_and_a_missing_process_is_gone_already() {
        let mut child = tokio::process::Command::new("sleep").arg("0.2").spawn().unwrap();
        let pid = child.id().unwrap();
        tokio::time::timeout(Duration::from_secs(10), process_exit(pid)).await.unwrap().unwrap();
        assert!(child.try_wait().unwrap().is_some(), "the process has exited");
        process_exit(pid).await.unwrap();
    }
}
