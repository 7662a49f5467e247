//! Outbound safety for webhook targets: which resolved addresses a delivery may connect to.
//!
//! The delivery worker resolves a target's host name itself, asks [`NetGuard::check`] about
//! every address it would connect to, and connects only to allowed ones (so a DNS answer
//! cannot smuggle an internal address past a check made on the name). Redirects are never
//! followed, so the address checked is the address used.
//!
//! Rules, in order:
//!
//! 1. Cloud metadata addresses are always refused, whatever the lists say:
//!    `169.254.0.0/16` (IPv4 link-local, which holds `169.254.169.254`, the metadata service
//!    of AWS, GCP, Azure and others, and ECS's `169.254.170.2`), `fd00:ec2::254` (AWS's IPv6
//!    metadata), `100.100.100.200` (Alibaba Cloud) and `fe80::/10` (IPv6 link-local).
//! 2. Otherwise the most specific network (longest prefix) in the allow and deny lists that
//!    contains the address decides; a tie between an allowed and a denied network of the
//!    same length is a refusal. So `deny 10.0.0.0/8` with `allow 10.1.2.0/24` lets only that
//!    subnet through.
//! 3. An address in no listed network is allowed when the allow list is empty, and refused
//!    when it is not (an allow list is a whitelist).
//!
//! IPv4-mapped IPv6 addresses (`::ffff:169.254.169.254`) are checked as the IPv4 address
//! they carry, since that is where a connection to them goes; an address in NAT64's
//! well-known prefix (`64:ff9b::a9fe:a9fe`) is refused if the IPv4 address it carries is a
//! metadata address.
//!
//! **Invariant:** `std::net` only; no resolution, no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::{Error, Result};

/// An IP network: an address and a prefix length, with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `v6::addr/n`. A bare address is a network of one host.
    /// Host bits set below the prefix are an error (`10.0.0.1/8`): they usually mean a typo.
    pub fn parse(input: &str) -> Result<Self> {
        let err = |reason: &str| Error::Cidr { input: input.to_owned(), reason: reason.to_owned() };
        let text = input.trim();
        if text.is_empty() {
            return Err(err("empty"));
        }
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr = IpAddr::from_str(addr_text)
            .map_err(|_| err(&format!("{addr_text:?} is not an IPv4 or IPv6 address")))?;
        let max = max_prefix(addr);
        let prefix = match prefix_text {
            None => max,
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
                    return Err(err("the prefix length after '/' must be a number"));
                }
                let n: u16 = p.parse().map_err(|_| err("the prefix length must be a number"))?;
                if n > u16::from(max) {
                    return Err(err(&format!(
                        "the prefix length {n} is larger than {max}, the size of an {} address",
                        if addr.is_ipv4() { "IPv4" } else { "IPv6" }
                    )));
                }
                n as u8
            }
        };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(err(&format!(
                "host bits are set below the /{prefix} prefix; did you mean {}/{prefix}?",
                cidr.network()
            )));
        }
        Ok(cidr)
    }

    /// The network of `addr` with `prefix` bits, host bits cleared; `None` if the prefix is
    /// longer than the address.
    pub(crate) fn masked(addr: IpAddr, prefix: u8) -> Option<Self> {
        if prefix > max_prefix(addr) {
            return None;
        }
        let cidr = Cidr { addr, prefix };
        Some(Cidr { addr: cidr.network(), prefix })
    }

    /// The network's address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network. IPv4 and IPv6 networks never contain each other's
    /// addresses, except that an IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(mask_v4(u32::from(a), self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(mask_v6(u128::from(a), self.prefix))),
        }
    }

    const fn v4(a: [u8; 4], prefix: u8) -> Self {
        Cidr { addr: IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), prefix }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Self {
        let [a, b, c, d, e, f, g, h] = segments;
        Cidr { addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)), prefix }
    }
}

impl FromStr for Cidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Cidr::parse(s)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask_v4(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix.min(32))))
    }
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix.min(128))))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it reaches; anything else unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// The IPv4 address inside an address of NAT64's well-known prefix `64:ff9b::/96`, which a
/// NAT64 gateway forwards to that IPv4 address.
fn nat64_embedded(ip: IpAddr) -> Option<IpAddr> {
    let IpAddr::V6(v6) = ip else { return None };
    let bits = u128::from(v6);
    (bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000).then(|| IpAddr::V4(Ipv4Addr::from(bits as u32)))
}

/// Cloud metadata and link-local networks: refused whatever the configuration says.
pub const ALWAYS_REFUSED: [Cidr; 4] = [
    Cidr::v4([169, 254, 0, 0], 16),
    Cidr::v4([100, 100, 100, 200], 32),
    Cidr::v6([0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254], 128),
    Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
];

/// Private, loopback and other internal networks, for operators who want deliveries to leave
/// the machine only for the public internet: put these in the deny list.
pub const INTERNAL_NETWORKS: [Cidr; 10] = [
    Cidr::v4([0, 0, 0, 0], 8),
    Cidr::v4([10, 0, 0, 0], 8),
    Cidr::v4([100, 64, 0, 0], 10),
    Cidr::v4([127, 0, 0, 0], 8),
    Cidr::v4([172, 16, 0, 0], 12),
    Cidr::v4([192, 168, 0, 0], 16),
    Cidr::v4([198, 18, 0, 0], 15),
    Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 127),
    Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
    Cidr::v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
];

/// Why an address was refused or allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The address may be connected to.
    Allowed,
    /// A cloud metadata or link-local address: never allowed.
    RefusedMetadata,
    /// The most specific matching network is in the deny list.
    RefusedDenied(Cidr),
    /// The allow list is not empty and no network in it contains the address.
    RefusedNotAllowed,
}

impl Verdict {
    /// Whether a connection may be made.
    pub fn is_allowed(self) -> bool {
        self == Verdict::Allowed
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Allowed => f.write_str("allowed"),
            Verdict::RefusedMetadata => {
                f.write_str("refused: cloud metadata and link-local addresses are never allowed")
            }
            Verdict::RefusedDenied(net) => write!(f, "refused: in the denied network {net}"),
            Verdict::RefusedNotAllowed => f.write_str("refused: not in any allowed network"),
        }
    }
}

/// The configured allow and deny lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetGuard {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
}

impl NetGuard {
    /// A guard from parsed lists.
    pub fn new(allow: Vec<Cidr>, deny: Vec<Cidr>) -> Self {
        NetGuard { allow, deny }
    }

    /// A guard from configuration text; the first bad entry is the error.
    pub fn parse<A: AsRef<str>, D: AsRef<str>>(allow: &[A], deny: &[D]) -> Result<Self> {
        let allow = allow.iter().map(|s| Cidr::parse(s.as_ref())).collect::<Result<_>>()?;
        let deny = deny.iter().map(|s| Cidr::parse(s.as_ref())).collect::<Result<_>>()?;
        Ok(NetGuard { allow, deny })
    }

    /// Decides whether a delivery may connect to `ip` (see the module's rules).
    pub fn check(&self, ip: IpAddr) -> Verdict {
        let ip = canonical(ip);
        let nat64 = nat64_embedded(ip);
        if ALWAYS_REFUSED
            .iter()
            .any(|net| net.contains(ip) || nat64.is_some_and(|v4| net.contains(v4)))
        {
            return Verdict::RefusedMetadata;
        }
        let best_allow = self.allow.iter().filter(|n| n.contains(ip)).map(|n| n.prefix).max();
        let best_deny = self.deny.iter().filter(|n| n.contains(ip)).max_by_key(|n| n.prefix);
        match (best_allow, best_deny) {
            (Some(a), Some(d)) if a > d.prefix => Verdict::Allowed,
            (_, Some(d)) => Verdict::RefusedDenied(*d),
            (Some(_), None) => Verdict::Allowed,
            (None, None) if self.allow.is_empty() => Verdict::Allowed,
            (None, None) => Verdict::RefusedNotAllowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_v4_and_v6_networks() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert_eq!(c.prefix(), 8);
        assert_eq!(Cidr::parse(" 192.168.1.7 ").unwrap().to_string(), "192.168.1.7/32");
        assert_eq!(Cidr::parse("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert_eq!(Cidr::parse("::1").unwrap().to_string(), "::1/128");
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().prefix(), 0);
        assert_eq!(Cidr::parse("::/0").unwrap().prefix(), 0);
        assert_eq!("fd00::/8".parse::<Cidr>().unwrap().prefix(), 8);
    }

    #[test]
    fn refuses_bad_networks_with_clear_errors() {
        let cases = [
            ("", "empty"),
            ("10.0.0.0/", "must be a number"),
            ("10.0.0.0/x", "must be a number"),
            ("10.0.0.0/-1", "must be a number"),
            ("10.0.0.0/33", "larger than 32"),
            ("::/129", "larger than 128"),
            ("10.0.0.0/99999", "must be a number"),
            ("10.0.0/8", "not an IPv4 or IPv6 address"),
            ("example.com/8", "not an IPv4 or IPv6 address"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
            ("2001:db8::1/32", "did you mean 2001:db8::/32"),
            ("10.0.0.0/8/8", "must be a number"),
        ];
        for (input, want) in cases {
            let err = Cidr::parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn containment() {
        let net = Cidr::parse("10.0.0.0/24").unwrap();
        assert!(net.contains(ip("10.0.0.0")));
        assert!(net.contains(ip("10.0.0.255")));
        assert!(!net.contains(ip("10.0.1.0")));
        assert!(!net.contains(ip("::1")));
        assert!(net.contains(ip("::ffff:10.0.0.9")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("255.255.255.255")));
        assert!(!all.contains(ip("2001:db8::1")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
    }

    #[test]
    fn metadata_is_always_refused() {
        let open =
            NetGuard::parse(&["0.0.0.0/0", "::/0", "169.254.169.254"], &[] as &[&str]).unwrap();
        for addr in [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.0.1",
            "100.100.100.200",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::100.100.100.200",
        ] {
            assert_eq!(open.check(ip(addr)), Verdict::RefusedMetadata, "{addr}");
            assert_eq!(NetGuard::default().check(ip(addr)), Verdict::RefusedMetadata, "{addr}");
        }
        assert!(open.check(ip("100.100.100.201")).is_allowed());
        assert!(open.check(ip("fd00:ec2::253")).is_allowed());
        assert!(open.check(ip("64:ff9b::808:808")).is_allowed());
        assert!(open.check(ip("64:ff9b:1::a9fe:a9fe")).is_allowed());
    }

    #[test]
    fn empty_lists_allow_everything_else() {
        let g = NetGuard::default();
        for addr in ["127.0.0.1", "10.1.2.3", "8.8.8.8", "::1", "2001:db8::1"] {
            assert_eq!(g.check(ip(addr)), Verdict::Allowed, "{addr}");
        }
    }

    #[test]
    fn most_specific_rule_wins_and_ties_refuse() {
        let g = NetGuard::parse(&["10.1.2.0/24"], &["10.0.0.0/8", "127.0.0.0/8"]).unwrap();
        assert_eq!(g.check(ip("10.1.2.3")), Verdict::Allowed);
        assert_eq!(
            g.check(ip("10.1.3.3")),
            Verdict::RefusedDenied(Cidr::parse("10.0.0.0/8").unwrap())
        );
        assert_eq!(g.check(ip("8.8.8.8")), Verdict::RefusedNotAllowed);
        assert!(!g.check(ip("127.0.0.1")).is_allowed());

        let tie = NetGuard::parse(&["10.0.0.0/8"], &["10.0.0.0/8"]).unwrap();
        assert!(!tie.check(ip("10.0.0.1")).is_allowed());

        let deny_only = NetGuard::parse(&[] as &[&str], &["192.168.0.0/16"]).unwrap();
        assert!(deny_only.check(ip("8.8.8.8")).is_allowed());
        assert!(!deny_only.check(ip("192.168.1.1")).is_allowed());
        assert!(!deny_only.check(ip("::ffff:192.168.1.1")).is_allowed());
    }

    #[test]
    fn internal_networks_can_be_denied() {
        let g = NetGuard::new(vec![], INTERNAL_NETWORKS.to_vec());
        for addr in ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.0.1", "::1", "fd12::1"] {
            assert!(!g.check(ip(addr)).is_allowed(), "{addr}");
        }
        assert!(g.check(ip("93.184.216.34")).is_allowed());
        assert!(g.check(ip("2606:2800:220:1::1")).is_allowed());
        for net in INTERNAL_NETWORKS.iter().chain(ALWAYS_REFUSED.iter()) {
            assert_eq!(Cidr::parse(&net.to_string()).unwrap(), *net);
        }
    }

    #[test]
    fn verdicts_explain_themselves() {
        assert!(Verdict::RefusedMetadata.to_string().contains("metadata"));
        let denied = Verdict::RefusedDenied(Cidr::parse("10.0.0.0/8").unwrap());
        assert_eq!(denied.to_string(), "refused: in the denied network 10.0.0.0/8");
    }
}
