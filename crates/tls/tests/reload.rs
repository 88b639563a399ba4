//! Certificates rotate without a restart: new handshakes see the new certificate after
//! `reload()` and, by themselves, with `spawn_reloader`; broken files keep the old one.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentry_tls::dev::{self, DevCerts};
use agentry_tls::{ServerTls, ServerTlsFiles, TlsError};
use tokio_util::sync::CancellationToken;

/// How long the reloader may take to pick up a change.
const RELOAD_DEADLINE: Duration = Duration::from_secs(10);

/// Two CAs with a hub certificate each, and the directory the server reads: a copy of the
/// first pair.
struct Rotation {
    _dirs: Vec<tempfile::TempDir>,
    first: DevCerts,
    second: DevCerts,
    files: ServerTlsFiles,
}

impl Rotation {
    fn new() -> Self {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
        let first = dev::generate(dirs[0].path(), &[], &[], &[]).expect("first");
        let second = dev::generate(dirs[1].path(), &[], &[], &[]).expect("second");
        let files = ServerTlsFiles {
            cert: dirs[2].path().join("hub.pem"),
            key: dirs[2].path().join("hub-key.pem"),
            client_ca: None,
        };
        copy(&first.hub_cert, &files.cert);
        copy(&first.hub_key, &files.key);
        Self { _dirs: dirs, first, second, files }
    }

    fn cas(&self) -> [&Path; 2] {
        [&self.first.ca, &self.second.ca]
    }

    /// Puts the second pair in place of the first, by renaming over the files as rotation
    /// tools do.
    fn rotate(&self) {
        for (from, to) in [(&self.second.hub_cert, &self.files.cert), (&self.second.hub_key, &self.files.key)] {
            let staged = to.with_extension("staged");
            copy(from, &staged);
            std::fs::rename(&staged, to).expect("rename");
        }
    }
}

fn copy(from: &Path, to: &PathBuf) {
    std::fs::copy(from, to).expect("copy");
}

#[tokio::test]
async fn reload_uses_new_files_and_keeps_the_old_config_when_they_are_broken() {
    let rotation = Rotation::new();
    let tls = ServerTls::load(rotation.files.clone()).expect("loaded");
    let server = common::serve(&tls).await;
    let first_leaf = common::leaf_of(&rotation.first.hub_cert);
    let second_leaf = common::leaf_of(&rotation.second.hub_cert);
    assert_ne!(first_leaf, second_leaf);
    assert_eq!(common::handshake_leaf(server.address, &rotation.cas()).await.expect("handshake"), first_leaf);

    rotation.rotate();
    assert_eq!(
        common::handshake_leaf(server.address, &rotation.cas()).await.expect("handshake"),
        first_leaf,
        "nothing changes before a reload"
    );
    tls.reload().expect("reloaded");
    assert_eq!(common::handshake_leaf(server.address, &rotation.cas()).await.expect("handshake"), second_leaf);

    std::fs::write(&rotation.files.key, "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
        .expect("break the key");
    let error = tls.reload().expect_err("a broken key is refused");
    assert!(matches!(&error, TlsError::Invalid { path, .. } if *path == rotation.files.key), "{error:?}");
    assert!(error.to_string().contains("hub-key.pem"), "{error}");
    assert_eq!(
        common::handshake_leaf(server.address, &rotation.cas()).await.expect("handshake"),
        second_leaf,
        "the config in use is kept"
    );

    copy(&rotation.first.hub_key, &rotation.files.key);
    let error = tls.reload().expect_err("a key of another certificate is refused");
    assert!(error.to_string().contains("does not fit the certificate"), "{error}");
    assert_eq!(error.path(), Some(rotation.files.key.as_path()));
}

#[tokio::test]
async fn the_reloader_picks_up_rotated_files_by_itself() {
    let rotation = Rotation::new();
    let tls = ServerTls::load(rotation.files.clone()).expect("loaded");
    let stop = CancellationToken::new();
    let _stop_reloader = stop.clone().drop_guard();
    tls.spawn_reloader(Duration::from_millis(20), stop);
    let server = common::serve(&tls).await;
    let second_leaf = common::leaf_of(&rotation.second.hub_cert);

    // Half a rotation (the new certificate, the old key) makes no valid pair: whenever the
    // reloader looks, it keeps the config in use.
    let first_leaf = common::leaf_of(&rotation.first.hub_cert);
    copy(&rotation.second.hub_cert, &rotation.files.cert);
    assert!(tls.reload().is_err(), "a mismatched pair is refused");
    let leaf = common::handshake_leaf(server.address, &rotation.cas()).await.expect("handshakes keep working");
    assert_eq!(leaf, first_leaf, "a mismatched pair is never served");
    rotation.rotate();
    let deadline = tokio::time::Instant::now() + RELOAD_DEADLINE;
    loop {
        let leaf = common::handshake_leaf(server.address, &rotation.cas()).await.expect("handshakes keep working");
        if leaf == second_leaf {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the new certificate was not picked up in {RELOAD_DEADLINE:?}");
        // Each probe is a full handshake; yielding lets the reloader's timer run between them.
        tokio::task::yield_now().await;
    }
}
