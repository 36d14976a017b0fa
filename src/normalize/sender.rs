//! Is a mail that says it is from one of us really ours? Anyone can write `From:
//! bob@our-domain` into a mail sent to Alice's inbox. In a live mailbox's INBOX, a team From
//! counts as ours only when the receiving side proves it:
//!
//! - an `Authentication-Results` header (RFC 8601) of a server we trust (those named in
//!   `[team] authserv_ids`; without that list, the topmost one, which the receiving server
//!   adds above anything the sender wrote) reporting `dmarc=pass` for our domain, `dkim=pass`
//!   with a signing domain of ours aligned with the From domain, `spf=pass` for an envelope
//!   sender of ours, or `auth=pass` (an authenticated submission); or
//! - a `Received` path that never left our own servers: read from the top (the receiving
//!   server's own header) while each hop was received by one of our hosts; an authenticated
//!   submission (`with ESMTPSA`/`ESMTPA`, "Authenticated sender") on that path, or a path that
//!   ends there coming from a loopback or private address, proves it. The first hop from an
//!   outside address ends the trust: what lies below it the sender could have written.
//!
//! Pure: header values in, a verdict out.

use std::net::IpAddr;

/// The headers the check reads, top first (as they sit in the mail).
#[derive(Debug, Default, Clone)]
pub struct Trail<'a> {
    pub authentication_results: Vec<&'a str>,
    pub received: Vec<&'a str>,
}

/// How a team sender was proven, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An Authentication-Results header of a trusted server says so.
    Authenticated(&'static str),
    /// The Received path stayed on our servers.
    OwnServers,
    /// Nothing proves it: a spoof until shown otherwise.
    Unproven,
}

impl Verdict {
    pub fn proven(self) -> bool {
        !matches!(self, Verdict::Unproven)
    }
}

/// Is `domain` one of ours (equal to or under a team domain)?
fn ours(domain: &str, team: &[String]) -> bool {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    !d.is_empty()
        && team
            .iter()
            .any(|t| d == *t || d.strip_suffix(t.as_str()).is_some_and(|p| p.ends_with('.')))
}

/// The domain of an address or of a bare domain (`@d`, `user@d`, `d`).
fn domain_part(v: &str) -> &str {
    let v = v.trim().trim_matches(['<', '>', '"']);
    v.rsplit_once('@').map(|(_, d)| d).unwrap_or(v)
}

/// Verify the sender of a mail whose From is `from_domain`, one of `team` (normalized team
/// domains).
pub fn verify(
    from_domain: &str,
    team: &[String],
    authserv_ids: &[String],
    trail: &Trail,
) -> Verdict {
    // Only the headers of servers we trust; without a list, the receiving server's (topmost).
    let trusted: Vec<&str> = if authserv_ids.is_empty() {
        trail
            .authentication_results
            .iter()
            .take(1)
            .copied()
            .collect()
    } else {
        trail
            .authentication_results
            .iter()
            .copied()
            .filter(|h| {
                let id = authserv_id(h);
                authserv_ids.iter().any(|t| t.eq_ignore_ascii_case(id))
            })
            .collect()
    };
    for header in trusted {
        if let Some(how) = authenticated(header, from_domain, team) {
            return Verdict::Authenticated(how);
        }
    }
    if own_path(&trail.received, team) {
        return Verdict::OwnServers;
    }
    Verdict::Unproven
}

/// The authserv-id: the header's first token, before any `;`.
fn authserv_id(header: &str) -> &str {
    header
        .split(';')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next()
        .unwrap_or("")
}

/// Remove `( … )` comments (RFC 5322), which may hold anything.
fn uncomment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Does one Authentication-Results header prove the sender? Its method results are
/// `;`-separated: `dkim=pass header.d=example.com`.
fn authenticated(header: &str, from_domain: &str, team: &[String]) -> Option<&'static str> {
    let text = uncomment(header).to_ascii_lowercase();
    // The first part is the authserv-id, unless the server left it out (Microsoft 365 writes
    // "spf=pass (…) smtp.mailfrom=…; dkim=…"): then it is a result too.
    let skip = usize::from(!text.split(';').next().unwrap_or("").contains('='));
    for result in text.split(';').skip(skip) {
        let mut words = result.split_whitespace();
        let Some((method, outcome)) = words.next().and_then(|w| w.split_once('=')) else {
            continue;
        };
        if outcome != "pass" {
            continue;
        }
        let props: Vec<(&str, &str)> = words.filter_map(|w| w.split_once('=')).collect();
        let prop = |name: &str| props.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let from_is_ours = ours(from_domain, team);
        match method {
            "dmarc" => {
                let d = prop("header.from").map(domain_part).unwrap_or(from_domain);
                if ours(d, team) && from_is_ours {
                    return Some("dmarc");
                }
            }
            "dkim" => {
                let d = prop("header.d")
                    .or_else(|| prop("header.i").map(domain_part))
                    .unwrap_or("");
                // Relaxed alignment: the signing domain is the From domain or a parent of it.
                let aligned = from_domain == d
                    || from_domain
                        .strip_suffix(d)
                        .is_some_and(|p| p.ends_with('.'));
                if ours(d, team) && aligned {
                    return Some("dkim");
                }
            }
            "spf" => {
                let d = prop("smtp.mailfrom")
                    .map(domain_part)
                    .or_else(|| prop("smtp.helo"))
                    .unwrap_or("");
                if ours(d, team) && from_is_ours {
                    return Some("spf");
                }
            }
            "auth" if from_is_ours => return Some("auth"),
            _ => {}
        }
    }
    None
}

/// A Received header's `from` part: the HELO name and the connecting address our server saw
/// (`from helo (rdns [1.2.3.4])`), and its `by` host.
fn hop(received: &str) -> (Option<IpAddr>, bool, String) {
    // One line, words separated by single spaces (the header is folded over lines).
    let lower = format!(
        " {}",
        received
            .to_ascii_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    let by_at = lower.find(" by ");
    // The address in square brackets after "from", as the receiving server recorded it.
    let from_part = lower
        .find(" from ")
        .filter(|f| by_at.is_none_or(|b| *f < b))
        .map(|f| &lower[f..by_at.unwrap_or(lower.len())])
        .unwrap_or("");
    let ip = from_part
        .split(['[', ']'])
        .skip(1)
        .step_by(2)
        .find_map(|s| s.trim_start_matches("ipv6:").parse::<IpAddr>().ok());
    let by = by_at
        .and_then(|b| lower[b + 4..].split_whitespace().next())
        .unwrap_or("")
        .trim_end_matches([';', ')'])
        .to_string();
    (ip, !from_part.is_empty(), by)
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
    }
}

/// Did the mail stay on our servers (see the module comment)?
fn own_path(received: &[&str], team: &[String]) -> bool {
    if received.is_empty() {
        return false;
    }
    for (i, header) in received.iter().enumerate() {
        let (ip, from, by) = hop(header);
        // A hop not received by one of our hosts: nothing from here down can be trusted.
        let by_ours =
            ours(&by, team) || by == "localhost" || by.parse::<IpAddr>().is_ok_and(is_internal);
        if !by_ours {
            return false;
        }
        let lower = header.to_ascii_lowercase();
        let submission = lower.contains("with esmtpsa")
            || lower.contains("with esmtpa")
            || lower.contains("with asmtp")
            || lower.contains("with lmtpsa")
            || lower.contains("authenticated sender:")
            || lower.contains("(authenticated as ")
            || lower.contains("(authenticated user");
        if submission {
            return true;
        }
        // Local delivery (the MTA handing the mail to the mailbox server over LMTP, or a
        // local pickup "from userid 1000") is a hop inside our server.
        let local = lower.contains("with lmtp")
            || lower.contains("with local")
            || lower.contains("from userid");
        let internal_source = match ip {
            Some(ip) => is_internal(ip),
            // No address recorded: a hop that names only a host is not proven.
            None => !from || local,
        };
        if !internal_source {
            return false;
        }
        if i + 1 == received.len() {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> Vec<String> {
        vec!["sinoexport.example".into()]
    }

    fn trail<'a>(ar: &[&'a str], rcv: &[&'a str]) -> Trail<'a> {
        Trail {
            authentication_results: ar.to_vec(),
            received: rcv.to_vec(),
        }
    }

    #[test]
    fn authentication_results_of_the_receiving_server() {
        let t = team();
        let v =
            |ar: &[&str], ids: &[String]| verify("sinoexport.example", &t, ids, &trail(ar, &[]));
        assert_eq!(
            v(
                &[
                    "mx.google.com; dkim=pass header.i=@sinoexport.example header.s=s1; spf=pass (google.com: domain of bob@sinoexport.example designates 1.2.3.4 as permitted sender) smtp.mailfrom=bob@sinoexport.example; dmarc=pass (p=NONE) header.from=sinoexport.example"
                ],
                &[]
            ),
            Verdict::Authenticated("dkim")
        );
        assert_eq!(
            v(
                &["mx.sinoexport.example; dmarc=pass header.from=sinoexport.example"],
                &[]
            ),
            Verdict::Authenticated("dmarc")
        );
        assert_eq!(
            v(
                &["mx.sinoexport.example; spf=pass smtp.mailfrom=sinoexport.example"],
                &[]
            ),
            Verdict::Authenticated("spf")
        );
        assert_eq!(
            v(&["mx.sinoexport.example; auth=pass smtp.auth=bob"], &[]),
            Verdict::Authenticated("auth")
        );
        // Failures, and passes for somebody else's domain, prove nothing.
        assert_eq!(
            v(
                &[
                    "mx.sinoexport.example; dkim=fail header.d=sinoexport.example; spf=softfail smtp.mailfrom=sinoexport.example; dmarc=fail header.from=sinoexport.example"
                ],
                &[]
            ),
            Verdict::Unproven
        );
        assert_eq!(
            v(
                &[
                    "mx.sinoexport.example; dkim=pass header.d=attacker.example; spf=pass smtp.mailfrom=attacker.example; dmarc=pass header.from=attacker.example"
                ],
                &[]
            ),
            Verdict::Unproven
        );
        // A pass hidden in a comment is not a result.
        assert_eq!(
            v(
                &["mx.sinoexport.example; spf=none (dkim=pass header.d=sinoexport.example)"],
                &[]
            ),
            Verdict::Unproven
        );
        // Without a list of trusted servers only the topmost header counts: one the sender
        // wrote further down does not.
        assert_eq!(
            v(
                &[
                    "mx.sinoexport.example; dkim=none",
                    "mx.sinoexport.example; dkim=pass header.d=sinoexport.example"
                ],
                &[]
            ),
            Verdict::Unproven
        );
        // With a list, only the listed servers' headers count, wherever they sit.
        let ids = vec!["mx.sinoexport.example".to_string()];
        assert_eq!(
            v(
                &["forged.example; dmarc=pass header.from=sinoexport.example"],
                &ids
            ),
            Verdict::Unproven
        );
        assert_eq!(
            v(
                &[
                    "relay.example; none",
                    "mx.sinoexport.example; dmarc=pass header.from=sinoexport.example"
                ],
                &ids
            ),
            Verdict::Authenticated("dmarc")
        );
        // Microsoft 365 leaves the authserv-id out.
        assert_eq!(
            v(
                &[
                    "spf=pass (sender IP is 40.107.1.1) smtp.mailfrom=sinoexport.example; dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=sinoexport.example;"
                ],
                &[]
            ),
            Verdict::Authenticated("spf")
        );
        // A subdomain of ours aligns with a parent signature.
        assert_eq!(
            verify(
                "sales.sinoexport.example",
                &t,
                &[],
                &trail(&["mx; dkim=pass header.d=sinoexport.example"], &[])
            ),
            Verdict::Authenticated("dkim")
        );
    }

    #[test]
    fn a_received_path_on_our_own_servers() {
        let t = team();
        let v = |rcv: &[&str]| verify("sinoexport.example", &t, &[], &trail(&[], rcv));
        // Submitted with authentication to our server, delivered locally.
        assert_eq!(
            v(&[
                "from mail.sinoexport.example by mail.sinoexport.example with LMTP id x; Mon, 8 Jun 2026 10:00:00 +0000",
                "from [203.0.113.9] (unknown [203.0.113.9]) (Authenticated sender: bob) by mail.sinoexport.example (Postfix) with ESMTPSA id ABC; Mon, 8 Jun 2026 10:00:00 +0000",
            ]),
            Verdict::OwnServers
        );
        // Internal relay from a private address, the whole path ours.
        assert_eq!(
            v(&[
                "from app1.sinoexport.example (app1.sinoexport.example [10.0.0.5]) by mail.sinoexport.example with ESMTP id Q; Mon, 8 Jun 2026"
            ]),
            Verdict::OwnServers
        );
        // From the internet to our MX: the sender's own Received lines below do not count.
        assert_eq!(
            v(&[
                "from mail.attacker.example (mail.attacker.example [198.51.100.7]) by mx.sinoexport.example with ESMTP id Z; Mon, 8 Jun 2026",
                "from [10.0.0.5] (Authenticated sender: bob) by mail.sinoexport.example with ESMTPSA id F; Mon, 8 Jun 2026",
            ]),
            Verdict::Unproven
        );
        // A HELO claiming our name from an outside address is not ours.
        assert_eq!(
            v(&[
                "from mail.sinoexport.example (unknown [198.51.100.7]) by mx.sinoexport.example with ESMTP"
            ]),
            Verdict::Unproven
        );
        // Folded over lines, as generated by Postfix.
        assert_eq!(
            v(&[
                "from mx.sinoexport.example\n\tby mail.sinoexport.example with LMTP\n\tid Abc\n\t(envelope-from <bob@sinoexport.example>)\n\tfor <alice@sinoexport.example>; Mon, 8 Jun 2026",
                "from [192.168.4.7] (unknown [203.0.113.50])\n\tby mx.sinoexport.example (Postfix) with ESMTPSA id 4Q;\n\tMon, 8 Jun 2026",
            ]),
            Verdict::OwnServers
        );
        // "by " inside a name is not the by-clause.
        assert_eq!(
            v(&[
                "from standby.attacker.example (standby.attacker.example [198.51.100.7]) by mx.sinoexport.example with ESMTP"
            ]),
            Verdict::Unproven
        );
        // Received by somebody else's server first.
        assert_eq!(
            v(&["from [10.0.0.5] by mx.google.com with ESMTPSA id x"]),
            Verdict::Unproven
        );
        assert_eq!(v(&[]), Verdict::Unproven);
    }
}
