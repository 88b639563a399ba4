//! SPIFFE IDs of peers (<https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md>):
//! `spiffe://<trust domain>/<kind>/<name>`, carried as the URI subject alternative name of an
//! X.509 certificate (X509-SVID). Agentry's: `spiffe://agentry/node/<name>` for nodes,
//! `spiffe://agentry/client/<name>` for clients.

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

/// Agentry's SPIFFE trust domain.
pub const TRUST_DOMAIN: &str = "agentry";
/// The `kind` of a node's SPIFFE ID.
pub const KIND_NODE: &str = "node";
/// The `kind` of a client's SPIFFE ID.
pub const KIND_CLIENT: &str = "client";

/// A SPIFFE ID `spiffe://<trust_domain>/<kind>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    /// The trust domain (`agentry` for certificates of `agentry certs dev`).
    pub trust_domain: String,
    /// The first path segment: `node` or `client`.
    pub kind: String,
    /// The rest of the path: the node's or client's name.
    pub name: String,
}

impl SpiffeId {
    /// Returns the ID `spiffe://agentry/node/<name>`.
    pub fn node(name: impl Into<String>) -> Self {
        Self { trust_domain: TRUST_DOMAIN.to_owned(), kind: KIND_NODE.to_owned(), name: name.into() }
    }

    /// Returns the ID `spiffe://agentry/client/<name>`.
    pub fn client(name: impl Into<String>) -> Self {
        Self { trust_domain: TRUST_DOMAIN.to_owned(), kind: KIND_CLIENT.to_owned(), name: name.into() }
    }

    /// Parses `spiffe://<trust domain>/<kind>/<name>`; `None` for another scheme, an empty
    /// trust domain, kind or name, a query or a fragment.
    pub fn parse(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("spiffe://")?;
        if rest.contains(['?', '#']) {
            return None;
        }
        let (trust_domain, path) = rest.split_once('/')?;
        let (kind, name) = path.split_once('/')?;
        if trust_domain.is_empty() || kind.is_empty() || name.is_empty() || name.ends_with('/') {
            return None;
        }
        Some(Self { trust_domain: trust_domain.to_owned(), kind: kind.to_owned(), name: name.to_owned() })
    }

    /// Returns whether this is the ID of the node `name` in Agentry's trust domain.
    pub fn is_node(&self, name: &str) -> bool {
        self.trust_domain == TRUST_DOMAIN && self.kind == KIND_NODE && self.name == name
    }
}

impl std::fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "spiffe://{}/{}/{}", self.trust_domain, self.kind, self.name)
    }
}

/// Returns the SPIFFE ID of the certificate `leaf`: its first URI subject alternative name,
/// when that is a SPIFFE ID. `None` for an unparsable certificate, no URI SAN, or a URI that is
/// no SPIFFE ID. The certificate is not verified here (the TLS handshake did that).
pub fn peer_spiffe_id(leaf: &CertificateDer<'_>) -> Option<SpiffeId> {
    let (_, certificate) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let names = certificate.subject_alternative_name().ok()??;
    let uri = names.value.general_names.iter().find_map(|name| match name {
        GeneralName::URI(uri) => Some(*uri),
        _ => None,
    })?;
    SpiffeId::parse(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_ids_parse_and_print() {
        let id = SpiffeId::parse("spiffe://agentry/node/n1").expect("parses");
        assert_eq!(id, SpiffeId::node("n1"));
        assert!(id.is_node("n1") && !id.is_node("n2"));
        assert_eq!(id.to_string(), "spiffe://agentry/node/n1");
        assert_eq!(SpiffeId::parse("spiffe://agentry/client/ci/bot").map(|id| id.name), Some("ci/bot".to_owned()));
        for bad in [
            "https://agentry/node/n1",
            "spiffe://agentry/node",
            "spiffe:///node/n1",
            "spiffe://agentry/node/",
            "spiffe://a/node/n?x",
        ] {
            assert_eq!(SpiffeId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn garbage_is_no_identity() {
        assert_eq!(peer_spiffe_id(&CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01])), None);
        assert_eq!(peer_spiffe_id(&CertificateDer::from(Vec::new())), None);
    }
}
