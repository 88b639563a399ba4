//! `agentry certs dev [--dir DIR] [--host NAME]... [--node NAME]... [--client NAME]...
//! [--force]`: a CA, a hub certificate and node and client certificates for local use
//! (`agentry_tls::dev::generate_with`, with rcgen), and the flags that use them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use agentry_sdk::tls::dev::{DevCerts, generate_with};

use crate::commands::DEFAULT_HUB_URL;
use crate::output::print_line;

/// Options of `agentry certs dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Directory to write the files to (created when missing).
    #[arg(long, default_value = ".agentry/certs", value_name = "DIR")]
    dir: PathBuf,
    /// Another DNS name or IP address for the hub certificate, besides localhost, 127.0.0.1 and
    /// ::1; repeat for several.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// A node to make a certificate for (SPIFFE ID `spiffe://agentry/node/NAME`; the node must
    /// join with `--name NAME`); repeat for several.
    #[arg(long = "node", value_name = "NAME")]
    nodes: Vec<String>,
    /// A client to make a certificate for (SPIFFE ID `spiffe://agentry/client/NAME`), for
    /// `--cert` and `--key`; repeat for several.
    #[arg(long = "client", value_name = "NAME")]
    clients: Vec<String>,
    /// Replace existing files. A new CA is made, so certificates signed by the old one stop
    /// being trusted.
    #[arg(long)]
    force: bool,
}

/// Writes the files and prints what was written and how to use it.
pub fn run(args: &DevArgs) -> anyhow::Result<()> {
    let certs = write(args)?;
    print_line(&summary(&certs, &args.hosts)).context("writing to stdout")
}

/// Writes the certificates of `args`; refuses to replace any file without `--force`.
fn write(args: &DevArgs) -> anyhow::Result<DevCerts> {
    let nodes = distinct(&args.nodes);
    let clients = distinct(&args.clients);
    let existing: Vec<PathBuf> =
        planned_files(&args.dir, &nodes, &clients).into_iter().filter(|path| path.exists()).collect();
    if let Some(first) = existing.first()
        && !args.force
    {
        anyhow::bail!(
            "{} already exists ({} of the files to write do); pass --force to replace them (a new CA: certificates \
             signed by the old one stop being trusted), or choose another --dir",
            first.display(),
            existing.len()
        );
    }
    let certs = generate_with(&args.dir, &args.hosts, &nodes, &clients, args.force)
        .with_context(|| format!("writing certificates to {}", args.dir.display()))?;
    Ok(certs)
}

/// Returns `names` without repeats, in their order.
fn distinct(names: &[String]) -> Vec<String> {
    let mut seen = Vec::with_capacity(names.len());
    for name in names {
        if !seen.contains(name) {
            seen.push(name.clone());
        }
    }
    seen
}

/// Returns the paths `generate` writes in `dir` (agentry-tls's file names).
fn planned_files(dir: &Path, nodes: &[String], clients: &[String]) -> Vec<PathBuf> {
    let mut names = vec!["ca.pem".to_owned(), "ca-key.pem".to_owned(), "hub.pem".to_owned(), "hub-key.pem".to_owned()];
    for (kind, list) in [("node", nodes), ("client", clients)] {
        for name in list {
            names.push(format!("{kind}-{name}.pem"));
            names.push(format!("{kind}-{name}-key.pem"));
        }
    }
    names.into_iter().map(|name| dir.join(name)).collect()
}

/// Returns what was written, and the flags (and variables) of the hub, the nodes and the
/// client commands that use it.
fn summary(certs: &DevCerts, hosts: &[String]) -> String {
    let show = |path: &Path| path.display().to_string();
    let mut hub_names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    hub_names.extend(hosts.iter().cloned());
    let mut rows: Vec<(String, String)> = vec![
        (show(&certs.ca), "the CA certificate: what nodes and clients trust".to_owned()),
        (show(&certs.dir.join("ca-key.pem")), "the CA key: keep it private".to_owned()),
        (
            format!("{}, {}", show(&certs.hub_cert), show(&certs.hub_key)),
            format!("the hub, for {}", hub_names.join(", ")),
        ),
    ];
    for (name, cert, key) in &certs.nodes {
        rows.push((format!("{}, {}", show(cert), show(key)), format!("node {name} (spiffe://agentry/node/{name})")));
    }
    for (name, cert, key) in &certs.clients {
        rows.push((
            format!("{}, {}", show(cert), show(key)),
            format!("client {name} (spiffe://agentry/client/{name})"),
        ));
    }
    let width = rows.iter().map(|(files, _)| files.chars().count()).max().unwrap_or(0);
    let mut lines = vec![format!("wrote {}:", certs.dir.display())];
    lines.extend(rows.iter().map(|(files, what)| format!("  {files:<width$}   {what}")));

    let hub_url = DEFAULT_HUB_URL.replacen("http://", "https://", 1);
    let ca = show(&certs.ca);
    lines.push(String::new());
    lines.push(format!(
        "hub:    agentry hub serve --tls-cert {} --tls-key {} --tls-client-ca {ca}",
        show(&certs.hub_cert),
        show(&certs.hub_key)
    ));
    for (name, cert, key) in &certs.nodes {
        lines.push(format!(
            "node:   agentry node join --name {name} --hub {hub_url} --tls-ca {ca} --tls-cert {} --tls-key {}",
            show(cert),
            show(key)
        ));
    }
    if certs.nodes.is_empty() {
        lines.push(format!(
            "node:   agentry node join --hub {hub_url} --tls-ca {ca} (mutual TLS: make one with --node NAME)"
        ));
    }
    let client_certificate = certs
        .clients
        .first()
        .map(|(_, cert, key)| format!(" [--cert {} --key {}]", show(cert), show(key)))
        .unwrap_or_default();
    lines.push(format!("client: agentry ps --hub {hub_url} --ca {ca}{client_certificate}"));
    lines.push(format!("        or: export AGENTRY_HUB={hub_url} AGENTRY_CA={ca}"));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path, force: bool) -> DevArgs {
        DevArgs {
            dir: dir.to_path_buf(),
            hosts: vec!["hub.internal".to_owned()],
            nodes: vec!["n1".to_owned(), "n1".to_owned()],
            clients: vec!["alice".to_owned()],
            force,
        }
    }

    #[test]
    fn writes_every_file_and_says_how_to_use_them() {
        let directory = tempfile::tempdir().expect("tempdir");
        let dir = directory.path().join("certs");
        let certs = write(&args(&dir, false)).expect("written");
        for path in planned_files(&dir, &["n1".to_owned()], &["alice".to_owned()]) {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert!(text.starts_with("-----BEGIN "), "{} is PEM", path.display());
        }
        assert_eq!(certs.nodes.len(), 1, "a repeated --node makes one certificate");
        let text = summary(&certs, &["hub.internal".to_owned()]);
        let ca = dir.join("ca.pem").display().to_string();
        assert!(text.contains(&format!("--tls-client-ca {ca}")), "{text}");
        assert!(text.contains(&format!("--name n1 --hub https://127.0.0.1:7700 --tls-ca {ca}")), "{text}");
        assert!(text.contains(&format!("--tls-cert {}", dir.join("node-n1.pem").display())), "{text}");
        assert!(text.contains(&format!("--cert {}", dir.join("client-alice.pem").display())), "{text}");
        assert!(text.contains("::1, hub.internal"), "{text}");
    }

    #[test]
    fn existing_files_are_replaced_only_with_force() {
        let directory = tempfile::tempdir().expect("tempdir");
        let dir = directory.path().to_path_buf();
        write(&args(&dir, false)).expect("first time");
        let first_ca = std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem");
        let error = write(&args(&dir, false)).expect_err("files exist");
        assert!(error.to_string().contains("--force"), "{error}");
        assert_eq!(std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem"), first_ca, "left alone");
        write(&args(&dir, true)).expect("with --force");
        assert_ne!(std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem"), first_ca, "a new CA");
    }
}
