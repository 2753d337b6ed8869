//! Tokens and secrets travel only over HTTPS, except to this machine (loopback), which
//! the demo simulator and the tests use.

use std::net::IpAddr;

use url::{Host, Url};

/// True when `url` names this machine: 127.0.0.0/8, ::1 (or an IPv4-mapped loopback),
/// or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => {
            // Only the exact name: `*.localhost` is left to DNS, which may not honour it.
            name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => {
            IpAddr::V6(ip).is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// Ok for `https://…`, and for `http://…` only when the host is loopback. The error is
/// a short reason (no sentence), to be wrapped by the caller.
pub fn ensure_secure_transport(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "plain http to {} would expose the token; use https",
            url.host_str().unwrap_or("?")
        )),
        other => Err(format!("the scheme '{other}' is not supported; use https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for s in [
            "http://127.0.0.1:8080/",
            "http://127.1.2.3/",
            "http://[::1]:9/",
            "http://localhost/",
            "http://LOCALHOST:1/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(is_loopback(&url(s)), "{s}");
        }
        for s in [
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://localhost.evil.com/",
            "http://a.localhost/",
            "http://[::2]/",
            "http://example.com/",
        ] {
            assert!(!is_loopback(&url(s)), "{s}");
        }
    }

    #[test]
    fn http_is_only_allowed_to_loopback() {
        assert!(ensure_secure_transport(&url("https://api.securitycenter.microsoft.com")).is_ok());
        assert!(ensure_secure_transport(&url("http://127.0.0.1:3000")).is_ok());
        assert!(ensure_secure_transport(&url("http://api.securitycenter.microsoft.com")).is_err());
        assert!(ensure_secure_transport(&url("ftp://127.0.0.1/")).is_err());
    }
}
