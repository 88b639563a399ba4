//! The network policy of one `fetch` call: which hosts the manifest's [`NetworkAccess`] allows,
//! which addresses are refused unless their host is listed, a DNS resolver that checks every
//! address it hands to the connector, and a redirect policy that checks every hop.
//!
//! The connector only dials addresses this resolver returned, and the resolver runs for every
//! new connection, so a name that re-resolves to a private address later (DNS rebinding) is
//! refused as well. Literal IP hosts never reach a resolver: [`NetworkPolicy::check_url`]
//! checks them, for the first URL and for each redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;

use agentry_sandbox::NetworkAccess;

/// Most redirects followed by one call.
pub(super) const MAX_REDIRECTS: usize = 5;

/// Why the policy refused a request; the text is shown to the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(super) struct Refused(pub(super) String);

/// The network policy of one call, from the tool's effective manifest.
#[derive(Debug, Clone)]
pub(super) struct NetworkPolicy {
    network: NetworkAccess,
}

impl NetworkPolicy {
    pub(super) fn new(network: NetworkAccess) -> Self {
        Self { network }
    }

    /// Checks a URL before it is requested: its scheme, its host against the manifest and, for
    /// a literal IP, the address (names are checked when they are resolved).
    pub(super) fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!("scheme {:?} is not http or https", url.scheme())));
        }
        let host = url_host(url).ok_or_else(|| Refused(format!("url {url} has no host")))?;
        self.check_host(&host)?;
        if let Ok(address) = host.parse::<IpAddr>() {
            self.check_address(&host, address)?;
        }
        Ok(())
    }

    /// Returns a redirect policy following at most [`MAX_REDIRECTS`] hops, each passing
    /// [`Self::check_url`].
    pub(super) fn redirect_policy(&self) -> redirect::Policy {
        let policy = self.clone();
        redirect::Policy::custom(move |attempt| {
            // `previous` starts with the first URL, which is not a redirect.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(Refused(format!("more than {MAX_REDIRECTS} redirects")));
            }
            match policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(refused) => {
                    let reason = Refused(format!("redirect to {}: {refused}", attempt.url()));
                    attempt.error(reason)
                }
            }
        })
    }

    fn check_host(&self, host: &str) -> Result<(), Refused> {
        match &self.network {
            NetworkAccess::None => Err(Refused("the tool's manifest allows no network access".to_owned())),
            NetworkAccess::Any => Ok(()),
            NetworkAccess::Hosts(_) if self.is_listed(host) => Ok(()),
            NetworkAccess::Hosts(_) => Err(Refused(format!("host {host} is not in the tool's network allowlist"))),
        }
    }

    fn check_address(&self, host: &str, address: IpAddr) -> Result<(), Refused> {
        let Some(range) = blocked_range(address) else {
            return Ok(());
        };
        if self.is_listed(host) {
            return Ok(());
        }
        let subject =
            if host.parse::<IpAddr>() == Ok(address) { host.to_owned() } else { format!("{host} ({address})") };
        Err(Refused(format!(
            "{subject} is a {range} address, reachable only when its host is listed in the tool's network allowlist"
        )))
    }

    /// Returns whether `host` (a name, or an IP without brackets) matches an entry of a `Hosts`
    /// list: the same name or address, or a name under a `*.suffix` entry.
    fn is_listed(&self, host: &str) -> bool {
        let NetworkAccess::Hosts(entries) = &self.network else {
            return false;
        };
        let host = normalize(host);
        let host_address = host.parse::<IpAddr>().ok().map(|address| address.to_canonical());
        entries.iter().any(|entry| {
            let entry = normalize(entry);
            if let Some(suffix) = entry.strip_prefix("*.") {
                return host_address.is_none()
                    && host.strip_suffix(suffix).is_some_and(|label| label.len() > 1 && label.ends_with('.'));
            }
            match (entry.parse::<IpAddr>(), host_address) {
                (Ok(entry_address), Some(address)) => entry_address.to_canonical() == address,
                _ => entry == host,
            }
        })
    }
}

impl Resolve for NetworkPolicy {
    /// Resolves `name` and refuses it when the manifest does not allow it or any of its
    /// addresses is blocked (one bad address refuses the name: the connector may try any).
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            policy.check_host(&host)?;
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|error| format!("could not resolve {host}: {error}"))?
                .collect();
            if addresses.is_empty() {
                return Err(format!("could not resolve {host}: no addresses").into());
            }
            for address in &addresses {
                policy.check_address(&host, address.ip())?;
            }
            let addresses: Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// Returns the host of `url` without IPv6 brackets.
fn url_host(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let host = host.strip_prefix('[').and_then(|inner| inner.strip_suffix(']')).unwrap_or(host);
    Some(host.to_owned())
}

/// Returns a host or list entry lowercased, without IPv6 brackets or a trailing dot.
fn normalize(host: &str) -> String {
    let host = host.trim();
    let host = host.strip_prefix('[').and_then(|inner| inner.strip_suffix(']')).unwrap_or(host);
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Returns the name of the blocked range holding `address`, if any: addresses that reach the
/// node itself or its private networks rather than the internet.
pub(super) fn blocked_range(address: IpAddr) -> Option<&'static str> {
    match address.to_canonical() {
        IpAddr::V4(address) => blocked_v4(address),
        IpAddr::V6(address) => blocked_v6(address),
    }
}

fn blocked_v4(address: Ipv4Addr) -> Option<&'static str> {
    let [first, second, ..] = address.octets();
    if first == 0 {
        Some("unspecified")
    } else if address.is_loopback() {
        Some("loopback")
    } else if address.is_private() {
        Some("private")
    } else if address.is_link_local() {
        // 169.254.169.254, the cloud metadata service, is here.
        Some("link-local")
    } else if first == 100 && (second & 0xc0) == 64 {
        // 100.64.0.0/10: carrier-grade NAT, also used for some clouds' metadata services.
        Some("shared (carrier-grade NAT)")
    } else if address.is_broadcast() || address.is_multicast() || first >= 240 {
        Some("non-unicast or reserved")
    } else {
        None
    }
}

fn blocked_v6(address: Ipv6Addr) -> Option<&'static str> {
    if address.is_unspecified() {
        Some("unspecified")
    } else if address.is_loopback() {
        Some("loopback")
    } else if address.is_unicast_link_local() {
        Some("link-local")
    } else if address.is_unique_local() {
        Some("unique-local")
    } else if (address.segments()[0] & 0xffc0) == 0xfec0 {
        Some("site-local")
    } else if address.is_multicast() {
        Some("multicast")
    } else {
        embedded_v4(address).and_then(blocked_v4)
    }
}

/// Returns the IPv4 address carried by an IPv4-compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::/48`) address, which can reach that IPv4
/// address through a gateway. IPv4-mapped addresses are handled by `to_canonical`.
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = address.segments();
    let from = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    if segments[..6] == [0; 6] || (segments[..2] == [0x64, 0xff9b] && segments[2..6] == [0; 4]) {
        Some(from(segments[6], segments[7]))
    } else if segments[0] == 0x2002 {
        Some(from(segments[1], segments[2]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> NetworkPolicy {
        NetworkPolicy::new(NetworkAccess::Hosts(entries.iter().map(|entry| entry.to_string()).collect()))
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test url parses")
    }

    #[test]
    fn blocked_ranges_cover_local_and_private_addresses() {
        let blocked = [
            ("0.0.0.0", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.100.100.200", "shared (carrier-grade NAT)"),
            ("255.255.255.255", "non-unicast or reserved"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("fd00::1", "unique-local"),
            ("fec0::1", "site-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a00:1", "private"),
            ("2002:a9fe:a9fe::1", "link-local"),
        ];
        for (address, range) in blocked {
            let parsed: IpAddr = address.parse().expect("test address parses");
            assert_eq!(blocked_range(parsed), Some(range), "{address}");
        }
        for address in ["93.184.216.34", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "64:ff9b::101:101"]
        {
            let parsed: IpAddr = address.parse().expect("test address parses");
            assert_eq!(blocked_range(parsed), None, "{address}");
        }
    }

    #[test]
    fn hosts_match_exactly_or_under_a_wildcard() {
        let policy = hosts(&["api.example.com", "*.corp.example", "127.0.0.1", "[::1]", "Upper.Example."]);
        for host in [
            "api.example.com",
            "API.example.com",
            "a.corp.example",
            "a.b.corp.example",
            "127.0.0.1",
            "::1",
            "upper.example",
        ] {
            assert!(policy.is_listed(host), "{host} is listed");
        }
        for host in ["example.com", "www.api.example.com", "corp.example", "evilcorp.example", "127.0.0.2", "0:0::2"] {
            assert!(!policy.is_listed(host), "{host} is not listed");
        }
        assert!(hosts(&["::ffff:127.0.0.1"]).is_listed("127.0.0.1"));
    }

    #[test]
    fn urls_are_checked_against_the_manifest() {
        let any = NetworkPolicy::new(NetworkAccess::Any);
        assert_eq!(any.check_url(&url("https://93.184.216.34/")), Ok(()));
        assert_eq!(any.check_url(&url("https://example.com/")), Ok(()), "names are checked when resolved");
        for blocked in
            ["http://127.0.0.1/", "http://[::1]:8080/", "http://169.254.169.254/latest", "http://2130706433/"]
        {
            let refused = any.check_url(&url(blocked)).expect_err(blocked);
            assert!(refused.0.contains("address"), "{blocked}: {refused}");
        }
        let refused = any.check_url(&url("ftp://example.com/")).unwrap_err();
        assert!(refused.0.contains("not http or https"), "{refused}");

        let none = NetworkPolicy::new(NetworkAccess::None);
        assert!(none.check_url(&url("https://example.com/")).unwrap_err().0.contains("no network"));

        let listed = hosts(&["127.0.0.1", "*.example.com"]);
        assert_eq!(listed.check_url(&url("http://127.0.0.1:9/")), Ok(()));
        assert_eq!(listed.check_url(&url("http://www.example.com/")), Ok(()));
        let refused = listed.check_url(&url("http://example.org/")).unwrap_err();
        assert_eq!(refused.0, "host example.org is not in the tool's network allowlist");
    }
}
