//! Certificates for local use (`agentry certs dev`): a CA, a hub certificate, and node and
//! client certificates with SPIFFE IDs, generated with rcgen (ECDSA P-256, SHA-256). Not for
//! production: the CA's key lies next to the certificates it signed.
//!
//! Files written to the directory (keys mode 0600):
//! `ca.pem ca-key.pem hub.pem hub-key.pem node-<name>.pem node-<name>-key.pem
//! client-<name>.pem client-<name>-key.pem`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};

use crate::error::{Result, TlsError};
use crate::identity::SpiffeId;

/// How long the generated certificates are valid, from the moment they are made.
pub const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// How far before now their validity starts, for clocks slightly behind.
const BACKDATE: Duration = Duration::from_secs(3600);
/// The CA's common name.
pub const CA_COMMON_NAME: &str = "agentry dev CA";
/// Subject alternative names of every hub certificate, before the configured hosts.
pub const HUB_DEFAULT_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// The files [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevCerts {
    /// The directory.
    pub dir: PathBuf,
    /// The CA certificate (`ca.pem`); its key is `ca-key.pem`.
    pub ca: PathBuf,
    /// The hub's certificate (`hub.pem`).
    pub hub_cert: PathBuf,
    /// The hub's key (`hub-key.pem`).
    pub hub_key: PathBuf,
    /// Each node's name, certificate (`node-<name>.pem`) and key (`node-<name>-key.pem`).
    pub nodes: Vec<(String, PathBuf, PathBuf)>,
    /// Each client's name, certificate (`client-<name>.pem`) and key
    /// (`client-<name>-key.pem`).
    pub clients: Vec<(String, PathBuf, PathBuf)>,
}

/// Generates a CA and, signed by it, a hub certificate (SANs `localhost`, `127.0.0.1`, `::1`
/// and `hosts`; server authentication), a certificate per node (SAN URI
/// `spiffe://agentry/node/<name>`, DNS `<name>`, `localhost`, `127.0.0.1`; client and server
/// authentication, the latter for its metrics listener) and per client (SAN URI
/// `spiffe://agentry/client/<name>`; client authentication), all valid for [`VALIDITY`], and
/// writes them to `dir` (created if missing).
///
/// Errors when `dir` already holds a `ca.pem` (see [`generate_with`]), a host or name is
/// unusable, or a file cannot be written (naming it).
pub fn generate(dir: &Path, hosts: &[String], nodes: &[String], clients: &[String]) -> Result<DevCerts> {
    generate_with(dir, hosts, nodes, clients, false)
}

/// As [`generate`]; `overwrite` replaces the files of an earlier generation (a new CA: the
/// certificates it signed are no longer trusted).
pub fn generate_with(
    dir: &Path,
    hosts: &[String],
    nodes: &[String],
    clients: &[String],
    overwrite: bool,
) -> Result<DevCerts> {
    let ca_path = dir.join("ca.pem");
    if !overwrite && ca_path.exists() {
        return Err(TlsError::invalid(
            &ca_path,
            "exists: refusing to replace a CA (certificates it signed would no longer be trusted); \
             choose another directory or ask to overwrite",
        ));
    }
    for name in nodes.iter().chain(clients) {
        check_name(name)?;
    }
    let mut files: Vec<(PathBuf, String, bool)> = Vec::new();
    let ca_key = new_key()?;
    let ca_params = ca_params()?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(|error| rcgen_error("the CA", &error))?;
    files.push((ca_path.clone(), ca_cert.pem(), false));
    files.push((dir.join("ca-key.pem"), ca_key.serialize_pem(), true));
    let issuer = Issuer::new(ca_params, ca_key);

    let mut hub_hosts: Vec<String> = HUB_DEFAULT_HOSTS.iter().map(|host| (*host).to_owned()).collect();
    for host in hosts {
        if !hub_hosts.contains(host) {
            hub_hosts.push(host.clone());
        }
    }
    let hub_sans = hub_hosts.iter().map(|host| dns_or_ip(host)).collect::<Result<Vec<_>>>()?;
    let (hub_cert, hub_key) = leaf(&issuer, "agentry hub", hub_sans, &[ExtendedKeyUsagePurpose::ServerAuth])?;
    let (hub_cert_path, hub_key_path) = (dir.join("hub.pem"), dir.join("hub-key.pem"));
    files.push((hub_cert_path.clone(), hub_cert, false));
    files.push((hub_key_path.clone(), hub_key, true));

    let mut node_files = Vec::new();
    for name in nodes {
        let sans = vec![
            uri(&SpiffeId::node(name.as_str()))?,
            dns_or_ip(name)?,
            dns_or_ip("localhost")?,
            dns_or_ip("127.0.0.1")?,
        ];
        let usages = [ExtendedKeyUsagePurpose::ClientAuth, ExtendedKeyUsagePurpose::ServerAuth];
        let (cert, key) = leaf(&issuer, &format!("agentry node {name}"), sans, &usages)?;
        let (cert_path, key_path) = (dir.join(format!("node-{name}.pem")), dir.join(format!("node-{name}-key.pem")));
        files.push((cert_path.clone(), cert, false));
        files.push((key_path.clone(), key, true));
        node_files.push((name.clone(), cert_path, key_path));
    }
    let mut client_files = Vec::new();
    for name in clients {
        let sans = vec![uri(&SpiffeId::client(name.as_str()))?];
        let (cert, key) =
            leaf(&issuer, &format!("agentry client {name}"), sans, &[ExtendedKeyUsagePurpose::ClientAuth])?;
        let (cert_path, key_path) =
            (dir.join(format!("client-{name}.pem")), dir.join(format!("client-{name}-key.pem")));
        files.push((cert_path.clone(), cert, false));
        files.push((key_path.clone(), key, true));
        client_files.push((name.clone(), cert_path, key_path));
    }

    std::fs::create_dir_all(dir).map_err(|error| TlsError::read(dir, &error))?;
    for (path, pem, secret) in &files {
        write(path, pem, *secret)?;
    }
    Ok(DevCerts {
        dir: dir.to_owned(),
        ca: ca_path,
        hub_cert: hub_cert_path,
        hub_key: hub_key_path,
        nodes: node_files,
        clients: client_files,
    })
}

fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|error| rcgen_error("the CA", &error))?;
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params);
    Ok(params)
}

/// Returns the PEM certificate and key of a new leaf signed by `issuer`.
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    subject_alt_names: Vec<SanType>,
    usages: &[ExtendedKeyUsagePurpose],
) -> Result<(String, String)> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.subject_alt_names = subject_alt_names;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = usages.to_vec();
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params);
    let key = new_key()?;
    let certificate = params.signed_by(&key, issuer).map_err(|error| rcgen_error(common_name, &error))?;
    Ok((certificate.pem(), key.serialize_pem()))
}

fn set_validity(params: &mut CertificateParams) {
    let since_epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_before = now - BACKDATE;
    params.not_after = now + VALIDITY;
}

fn new_key() -> Result<KeyPair> {
    KeyPair::generate().map_err(|error| rcgen_error("a key", &error))
}

fn dns_or_ip(host: &str) -> Result<SanType> {
    if let Ok(address) = host.parse() {
        return Ok(SanType::IpAddress(address));
    }
    let name = host.try_into().map_err(|error| TlsError::Config(format!("host {host:?} is no DNS name: {error}")))?;
    Ok(SanType::DnsName(name))
}

fn uri(id: &SpiffeId) -> Result<SanType> {
    let text = id.to_string();
    let value = text.as_str().try_into().map_err(|error| TlsError::Config(format!("{text}: {error}")))?;
    Ok(SanType::URI(value))
}

/// Checks that a node or client name fits a SPIFFE ID path segment and a DNS name.
fn check_name(name: &str) -> Result<()> {
    let fits = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.' || byte == b'_');
    if fits {
        Ok(())
    } else {
        Err(TlsError::Config(format!("name {name:?}: use 1-63 letters, digits, '.', '_' or '-'")))
    }
}

fn rcgen_error(what: &str, error: &rcgen::Error) -> TlsError {
    TlsError::Config(format!("generating the certificate of {what}: {error}"))
}

/// Writes `pem` to `path`; `secret`: readable by the owner only (0600).
fn write(path: &Path, pem: &str, secret: bool) -> Result<()> {
    let mode = if secret { 0o600 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|error| TlsError::read(path, &error))?;
    // `mode` applies to new files only: narrow an existing one too.
    file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|error| TlsError::read(path, &error))?;
    file.write_all(pem.as_bytes()).map_err(|error| TlsError::read(path, &error))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::pem::{read_certificates, read_private_key};

    #[test]
    fn writes_the_files_and_refuses_to_replace_a_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = generate(dir.path(), &["hub.example".into()], &["n1".into()], &["ci".into()]).expect("generated");
        assert_eq!(certs.nodes[0].1, dir.path().join("node-n1.pem"));
        assert_eq!(certs.clients[0].2, dir.path().join("client-ci-key.pem"));
        let node_leaf = &read_certificates(&certs.nodes[0].1).expect("node cert")[0];
        assert_eq!(crate::peer_spiffe_id(node_leaf), Some(SpiffeId::node("n1")));
        let client_leaf = &read_certificates(&certs.clients[0].1).expect("client cert")[0];
        assert_eq!(crate::peer_spiffe_id(client_leaf), Some(SpiffeId::client("ci")));
        assert_eq!(crate::peer_spiffe_id(&read_certificates(&certs.hub_cert).expect("hub")[0]), None);
        read_private_key(&certs.hub_key).expect("hub key");
        let mode = std::fs::metadata(&certs.hub_key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let first_ca = std::fs::read(&certs.ca).expect("ca");
        let error = generate(dir.path(), &[], &[], &[]).unwrap_err();
        assert_eq!(error.path(), Some(certs.ca.as_path()));
        assert_eq!(std::fs::read(&certs.ca).expect("ca"), first_ca, "refused: the CA is kept");
        let again = generate_with(dir.path(), &[], &[], &[], true).expect("overwritten");
        assert_ne!(std::fs::read(&again.ca).expect("ca"), first_ca);
    }

    #[test]
    fn unusable_names_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = generate(dir.path(), &[], &["a b".into()], &[]).unwrap_err();
        assert!(error.to_string().contains("\"a b\""), "{error}");
        assert!(!dir.path().join("ca.pem").exists(), "nothing written");
    }
}
