//! The parts of outbound webhooks (issue 23) that the API server (registering an endpoint) and
//! the workers (sending to it) share: the Standard Webhooks secret and signature, and the check
//! of an endpoint's address. Sending lives in `reelsmith_worker::webhooks`.

use std::net::IpAddr;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix Standard Webhooks secrets carry.
pub const SECRET_PREFIX: &str = "whsec_";
/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// The context a secret is sealed under, so a sealed secret cannot be moved to another endpoint.
pub fn secret_context(endpoint_id: &str) -> Vec<u8> {
    format!("webhook-secret:{endpoint_id}").into_bytes()
}

/// `v1,<base64 signature>` for one message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX)?)
        .ok()?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    ))
}

/// Why an endpoint address is refused, in words the API shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the address is not a valid absolute URL")]
    Invalid,
    #[error("the address must use https")]
    NotHttps,
    #[error("the address may not carry a user name or password")]
    Credentials,
    #[error("the address points at a loopback, private or reserved network")]
    NotPublic,
}

/// Check an endpoint address as given. Names are resolved only when sending (see
/// [`public_addresses`]); literal addresses are checked here already.
pub fn check_url(raw: &str, allow_insecure: bool) -> Result<url::Url, UrlError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| UrlError::Invalid)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => return Err(UrlError::NotHttps),
        _ => return Err(UrlError::Invalid),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    let Some(host) = url.host() else {
        return Err(UrlError::Invalid);
    };
    if !allow_insecure {
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(name) if name.eq_ignore_ascii_case("localhost") => {
                return Err(UrlError::NotPublic)
            }
            url::Host::Domain(_) => None,
        };
        if literal.is_some_and(|ip| !is_public(ip)) {
            return Err(UrlError::NotPublic);
        }
    }
    Ok(url)
}

/// Whether an address is on the public internet (not loopback, private, link-local, shared,
/// documentation, multicast or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}
