//! Which URLs may carry a secret or a token: HTTPS, or plain HTTP to a loopback address
//! (the simulator and the tests), and never with a user name or password in the URL
//! (it would be sent as Basic auth, and it ends up in logs). One rule for the sign-in
//! authority, the API base and every other endpoint.

use std::net::IpAddr;

use url::{Host, Url};

/// Why a URL may not carry a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error(
        "{what} '{url}' is not https; plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost)"
    )]
    PlainHttp { what: String, url: String },
    #[error("{what} '{url}' uses the scheme '{scheme}'; use https")]
    Scheme {
        what: String,
        url: String,
        scheme: String,
    },
    #[error(
        "{what} has a user name or password in it; remove them (credentials never go in a URL)"
    )]
    UserInfo { what: String },
    #[error("{what} '{url}' has no host")]
    NoHost { what: String, url: String },
}

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

/// Check that `url` may carry a token. `what` names it in the error ("api_base").
/// The URL is shown without its query or credentials.
pub fn check_token_url(what: &str, url: &Url) -> Result<(), TransportError> {
    let shown = || {
        let mut u = url.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_query(None);
        crate::sanitize::clean(u.as_str()).into_owned()
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TransportError::UserInfo {
            what: what.to_string(),
        });
    }
    if url.host().is_none() {
        return Err(TransportError::NoHost {
            what: what.to_string(),
            url: shown(),
        });
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(TransportError::PlainHttp {
            what: what.to_string(),
            url: shown(),
        }),
        other => Err(TransportError::Scheme {
            what: what.to_string(),
            url: shown(),
            scheme: crate::sanitize::clean(other).into_owned(),
        }),
    }
}

/// The same rule as a short reason (no sentence), for callers that wrap it.
pub fn ensure_secure_transport(url: &Url) -> Result<(), String> {
    check_token_url("the URL", url).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<(), TransportError> {
        check_token_url("authority", &Url::parse(s).expect("url"))
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
            assert!(is_loopback(&Url::parse(s).expect("url")), "{s}");
        }
        for s in [
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://localhost.evil.com/",
            "http://a.localhost/",
            "http://[::2]/",
            "http://example.com/",
        ] {
            assert!(!is_loopback(&Url::parse(s).expect("url")), "{s}");
        }
    }

    #[test]
    fn https_anywhere_and_http_only_to_loopback() {
        assert!(check("https://login.microsoftonline.com").is_ok());
        assert!(check("http://127.0.0.1:8080").is_ok());
        assert!(check("http://127.5.6.7").is_ok());
        assert!(check("http://[::1]:9").is_ok());
        assert!(check("http://LOCALHOST:1").is_ok());
        assert!(matches!(
            check("http://10.0.0.1"),
            Err(TransportError::PlainHttp { .. })
        ));
        assert!(matches!(
            check("http://localhost.evil.com"),
            Err(TransportError::PlainHttp { .. })
        ));
        assert!(matches!(
            check("http://127.0.0.1.nip.io"),
            Err(TransportError::PlainHttp { .. })
        ));
        assert!(matches!(
            check("ftp://example.com"),
            Err(TransportError::Scheme { .. })
        ));
    }

    #[test]
    fn credentials_in_a_url_are_refused_and_never_shown() {
        for u in [
            "http://alice:hunter2@127.0.0.1:1",
            "https://alice@login.microsoftonline.com",
        ] {
            let e = check(u).expect_err("userinfo must be refused");
            assert!(matches!(e, TransportError::UserInfo { .. }));
            assert!(
                !e.to_string().contains("hunter2") && !e.to_string().contains("alice"),
                "{e}"
            );
        }
    }
}
