//! Choosing the node's sandbox from its config, with probes of what works on this machine.

use std::sync::Arc;

use crate::{BwrapSandbox, DockerSandbox, LandlockSandbox, Sandbox, SandboxError, SandboxKind, Unconfined};

/// Returns the sandbox for `choice`: with `None`, bwrap where a probe sandbox starts, else
/// Landlock where the kernel enforces it fully; `Some(SandboxKind::None)` is the
/// [`Unconfined`] sandbox (the caller warns). Docker is only used when chosen; it runs
/// [`DockerSandbox::DEFAULT_IMAGE`].
///
/// Runs probe processes (`bwrap ... true`, `docker info`): call it once at startup.
///
/// Errors when the chosen sandbox cannot work here, naming the reason; with `None`, when
/// neither bwrap nor Landlock works, saying to install bubblewrap or set `sandbox = "none"`.
pub fn detect(choice: Option<SandboxKind>) -> Result<Arc<dyn Sandbox>, SandboxError> {
    match choice {
        Some(SandboxKind::None) => Ok(Arc::new(Unconfined)),
        Some(SandboxKind::Bwrap) => Ok(Arc::new(BwrapSandbox::probe()?)),
        Some(SandboxKind::Landlock) => Ok(Arc::new(LandlockSandbox::probe()?)),
        Some(SandboxKind::Docker) => Ok(Arc::new(DockerSandbox::probe(DockerSandbox::DEFAULT_IMAGE)?)),
        None => {
            let bwrap_error = match BwrapSandbox::probe() {
                Ok(bwrap) => return Ok(Arc::new(bwrap)),
                Err(error) => error,
            };
            tracing::info!(reason = %bwrap_error, "bubblewrap unavailable, trying landlock");
            match LandlockSandbox::probe() {
                Ok(landlock) => Ok(Arc::new(landlock)),
                Err(landlock_error) => Err(SandboxError(format!(
                    "no sandbox works here ({bwrap_error}; {landlock_error}); install bubblewrap, or set \
                     sandbox = \"none\" to run tool processes unconfined"
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_unconfined_and_the_default_is_a_real_sandbox_or_a_clear_error() {
        assert_eq!(detect(Some(SandboxKind::None)).unwrap().kind(), SandboxKind::None);
        match detect(None) {
            Ok(sandbox) => assert!(matches!(sandbox.kind(), SandboxKind::Bwrap | SandboxKind::Landlock)),
            Err(error) => assert!(error.to_string().contains("install bubblewrap"), "{error}"),
        }
    }

    #[test]
    fn docker_without_an_engine_names_the_reason() {
        if let Err(error) = detect(Some(SandboxKind::Docker)) {
            let message = error.to_string();
            assert!(message.contains("docker"), "{message}");
        }
    }
}
