//! Identities: normalized email addresses, company domains and E.164 phones, and the
//! in-memory directory snapshot that turns them into customers.

use std::collections::HashMap;

use crate::directory::freemail::FreeMail;

pub use crate::address::{
    domain_and_parents, domain_of, normalize_domain, normalize_email, normalize_phone,
};

/// Who a domain identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainOwner {
    Customer(String),
    /// Several customers of one corporate group share this domain.
    Group(String),
}

/// An immutable snapshot of the directory used for matching: loaded once per ingest run.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    pub emails: HashMap<String, String>,
    pub domains: HashMap<String, DomainOwner>,
    pub phones: HashMap<String, String>,
    /// Phones shared by a corporate group → group id.
    pub group_phones: HashMap<String, String>,
    /// customer id → group id
    pub groups: HashMap<String, String>,
    pub freemail: FreeMail,
    /// Our own domains (normalized).
    pub team_domains: Vec<String>,
    /// Rep addresses → rep id.
    pub rep_emails: HashMap<String, String>,
    /// Rep WhatsApp numbers (E.164) → rep id.
    pub rep_phones: HashMap<String, String>,
    /// WhatsApp business-scoped user ids → customer (learned when a message carried both the
    /// user id and a known phone).
    pub chat_users: HashMap<String, String>,
    /// Skeletons of known company names (customer and team domains) and their one-deletion
    /// variants, for spotting lookalike domains. Built by `build_lookalikes`.
    lookalike: Lookalikes,
}

/// Index of known domain skeletons for lookalike detection.
#[derive(Debug, Default, Clone)]
struct Lookalikes {
    /// skeleton or one-deletion variant → is it a team skeleton?
    variants: HashMap<String, bool>,
    /// Team skeletons (for "contains our name" checks).
    team: Vec<String>,
    /// Customer skeletons of at least 8 characters (for "their name plus a short tag":
    /// `keystonehw-us` for `keystonehw`).
    customers: Vec<String>,
    /// Domains of customers' exact addresses: known, so never lookalikes.
    known: std::collections::HashSet<String>,
}

/// The distinctive label of a domain: the label before its public suffix, e.g.
/// `sakura-pkg` in `mail.sakura-pkg.co.jp`.
pub fn main_label(domain: &str) -> &str {
    const SECOND_LEVEL: &[&str] = &[
        "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "mil", "ltd", "plc",
    ];
    let labels: Vec<&str> = domain.split('.').collect();
    let mut i = labels.len().saturating_sub(2);
    while i > 0 && SECOND_LEVEL.contains(&labels[i]) {
        i -= 1;
    }
    labels.get(i).copied().unwrap_or(domain)
}

/// A label reduced to what a reader sees: no hyphens or digits that imitate letters.
fn skeleton(label: &str) -> String {
    label
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| match c {
            '0' => 'o',
            '1' | 'i' => 'l',
            '3' => 'e',
            '5' => 's',
            other => other,
        })
        .collect::<String>()
        .replace("rn", "m")
        .replace("vv", "w")
}

fn deletions(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    (0..chars.len())
        .map(|i| {
            chars
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| c)
                .collect()
        })
        .collect()
}

/// How a message was attached to its customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchReason {
    Address,
    Domain,
    Phone,
    None,
}

impl MatchReason {
    /// How a message matched a customer through one of its identities (`counterpart_identity`'s
    /// kinds: an exact address, else a phone number or chat user id).
    pub fn of_identity(kind: &str) -> MatchReason {
        if kind == "email" {
            MatchReason::Address
        } else {
            MatchReason::Phone
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MatchReason::Address => "address",
            MatchReason::Domain => "domain",
            MatchReason::Phone => "phone",
            MatchReason::None => "none",
        }
    }
}

/// The result of looking an address up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub customer: Option<String>,
    pub group: Option<String>,
    pub reason: MatchReason,
}

impl Match {
    pub fn none() -> Match {
        Match {
            customer: None,
            group: None,
            reason: MatchReason::None,
        }
    }
}

impl Directory {
    /// Index customer and team domains for `is_lookalike`. Call after loading identities.
    pub fn build_lookalikes(&mut self) {
        let mut idx = Lookalikes {
            known: self
                .emails
                .keys()
                .map(|e| domain_of(e).to_string())
                .collect(),
            ..Lookalikes::default()
        };
        let customer_domains = self.domains.keys().map(|d| (d.as_str(), false));
        let team_domains = self.team_domains.iter().map(|d| (d.as_str(), true));
        let email_domains = self.emails.keys().map(|e| (domain_of(e), false));
        for (domain, team) in team_domains.chain(customer_domains).chain(email_domains) {
            if self.freemail.contains(domain) {
                continue;
            }
            let sk = skeleton(main_label(domain));
            if sk.chars().count() < 5 {
                continue;
            }
            if team {
                idx.team.push(sk.clone());
            } else if sk.chars().count() >= 8 && !idx.customers.contains(&sk) {
                idx.customers.push(sk.clone());
            }
            if sk.chars().count() >= 7 {
                for d in deletions(&sk) {
                    idx.variants.entry(d).or_insert(team);
                }
            }
            idx.variants.insert(sk, team);
        }
        self.lookalike = idx;
    }

    /// Does this domain imitate one of ours or a customer's (`brightway-lighting.com` for
    /// `brightwaylighting.com`, `sinoexport-mail.com` for `sinoexport.example`)? Known domains
    /// and free-mail domains never do.
    pub fn is_lookalike(&self, domain: &str) -> bool {
        if domain.is_empty()
            || self.freemail.contains(domain)
            || self.is_team_domain(domain)
            || domain_and_parents(domain)
                .any(|d| self.domains.contains_key(d) || self.lookalike.known.contains(d))
        {
            return false;
        }
        let sk = skeleton(main_label(domain));
        if sk.chars().count() < 5 {
            return false;
        }
        if self
            .lookalike
            .team
            .iter()
            .any(|t| t.chars().count() >= 6 && sk.contains(t.as_str()))
        {
            return true;
        }
        if self.lookalike.variants.contains_key(&sk) {
            return true;
        }
        // A customer's name with a short tag before or after it ("-us", "inc", "mail").
        if self.lookalike.customers.iter().any(|c| {
            sk.len() > c.len()
                && sk.len() <= c.len() + 4
                && (sk.starts_with(c.as_str()) || sk.ends_with(c.as_str()))
        }) {
            return true;
        }
        sk.chars().count() >= 7
            && deletions(&sk)
                .iter()
                .any(|d| self.lookalike.variants.contains_key(d))
    }

    /// Is this address (or its domain) ours?
    pub fn is_team_address(&self, email: &str) -> bool {
        if self.rep_emails.contains_key(email) {
            return true;
        }
        self.is_team_domain(domain_of(email))
    }

    pub fn is_team_domain(&self, domain: &str) -> bool {
        domain_and_parents(domain).any(|d| self.team_domains.iter().any(|t| t == d))
    }

    pub fn rep_for(&self, email: &str) -> Option<&str> {
        self.rep_emails.get(email).map(String::as_str)
    }

    /// Exact address first, then the company domain or one of its parents (never free-mail).
    pub fn match_email(&self, email: &str) -> Match {
        if let Some(c) = self.emails.get(email) {
            return Match {
                group: self.groups.get(c).cloned(),
                customer: Some(c.clone()),
                reason: MatchReason::Address,
            };
        }
        let domain = domain_of(email);
        if domain.is_empty() || self.freemail.contains(domain) {
            return Match::none();
        }
        for d in domain_and_parents(domain) {
            match self.domains.get(d) {
                Some(DomainOwner::Customer(c)) => {
                    return Match {
                        group: self.groups.get(c).cloned(),
                        customer: Some(c.clone()),
                        reason: MatchReason::Domain,
                    };
                }
                Some(DomainOwner::Group(g)) => {
                    return Match {
                        customer: None,
                        group: Some(g.clone()),
                        reason: MatchReason::Domain,
                    };
                }
                None => {}
            }
        }
        Match::none()
    }

    /// Match an E.164 phone.
    pub fn match_phone(&self, e164: &str) -> Match {
        if let Some(c) = self.phones.get(e164) {
            return Match {
                group: self.groups.get(c).cloned(),
                customer: Some(c.clone()),
                reason: MatchReason::Phone,
            };
        }
        match self.group_phones.get(e164) {
            Some(g) => Match {
                customer: None,
                group: Some(g.clone()),
                reason: MatchReason::Phone,
            },
            None => Match::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_idna_normalized() {
        let cases = [
            (
                "Mike.Ross@BrightwayLighting.com",
                "mike.ross@brightwaylighting.com",
            ),
            ("<a@b.example>", "a@b.example"),
            ("info@Bücher.example", "info@xn--bcher-kva.example"),
            (" x@y.example ", "x@y.example"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_email(input).unwrap(), want, "{input}");
        }
        for bad in ["", "no-at", "a b@c.example", "a@", "@c.example", "a@nodot"] {
            assert!(normalize_email(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn domains_accept_urls_and_strip_www() {
        assert_eq!(
            normalize_domain("https://www.Example.COM/about").unwrap(),
            "example.com"
        );
        assert_eq!(
            normalize_domain("@Sub.Example.com").unwrap(),
            "sub.example.com"
        );
        assert_eq!(normalize_domain("例え.jp").unwrap(), "xn--r8jz45g.jp");
        assert!(normalize_domain("localhost").is_err());
        assert!(normalize_domain("bad domain.com").is_err());
    }

    #[test]
    fn phones_use_the_row_country_for_national_formats() {
        let cases = [
            ("(415) 555-0100", Some("US"), "+14155550100"),
            ("07700 900123", Some("GB"), "+447700900123"),
            ("0049 30 1234567", Some("DE"), "+49301234567"),
            ("06 12 34 56 78", Some("FR"), "+33612345678"),
            ("0912 345 678", Some("TW"), "+886912345678"),
            ("0066 978430631", Some("TH"), "+66978430631"),
            ("+52 81 8123 4567", Some("MX"), "+528181234567"),
            ("+7 (495) 123-45-67", None, "+74951234567"),
            ("8613957400001", None, "+8613957400001"),
        ];
        for (raw, country, want) in cases {
            assert_eq!(normalize_phone(raw, country).unwrap(), want, "{raw}");
        }
        assert!(normalize_phone("12", Some("US")).is_err());
        assert!(normalize_phone("0912 345 678", Some("ZZ")).is_err());
    }

    #[test]
    fn parent_domains() {
        let v: Vec<&str> = domain_and_parents("a.b.example.com").collect();
        assert_eq!(v, vec!["a.b.example.com", "b.example.com", "example.com"]);
        let v: Vec<&str> = domain_and_parents("example.com").collect();
        assert_eq!(v, vec!["example.com"]);
    }

    fn dir() -> Directory {
        let mut d = Directory::default();
        d.emails.insert("buyer@gmail.com".into(), "C2".into());
        d.emails.insert("boss@acme.example".into(), "C1".into());
        d.domains
            .insert("acme.example".into(), DomainOwner::Customer("C1".into()));
        d.domains
            .insert("group.example".into(), DomainOwner::Group("G1".into()));
        d.domains
            .insert("gmail.com".into(), DomainOwner::Customer("C9".into()));
        d.groups.insert("C1".into(), "G1".into());
        d.team_domains.push("sinoexport.example".into());
        d
    }

    #[test]
    fn matching_order_address_then_domain_never_freemail() {
        let d = dir();
        assert_eq!(
            d.match_email("boss@acme.example").reason,
            MatchReason::Address
        );
        let m = d.match_email("new.person@eu.acme.example");
        assert_eq!(
            (m.customer.as_deref(), m.reason),
            (Some("C1"), MatchReason::Domain)
        );
        assert_eq!(m.group.as_deref(), Some("G1"));
        assert_eq!(
            d.match_email("buyer@gmail.com").customer.as_deref(),
            Some("C2")
        );
        // a free-mail domain never identifies a company, even if someone stored it as one
        assert_eq!(d.match_email("stranger@gmail.com"), Match::none());
        let g = d.match_email("x@group.example");
        assert_eq!((g.customer, g.group.as_deref()), (None, Some("G1")));
        assert!(d.is_team_address("anyone@mx1.sinoexport.example"));
        assert!(!d.is_team_address("it@sinoexport-mail.com"));
    }

    #[test]
    fn lookalike_domains() {
        let mut d = dir();
        d.domains.insert(
            "brightwaylighting.com".into(),
            DomainOwner::Customer("C5".into()),
        );
        d.domains.insert(
            "sakura-pkg.co.jp".into(),
            DomainOwner::Customer("C6".into()),
        );
        d.build_lookalikes();
        for bad in [
            "brightway-lighting.com",
            "brightwayllghting.com",
            "brlghtwaylighting.com",
            "sinoexport-mail.com",
            "mail.sinoexport-support.net",
            "sakurapkg.co.jp",
            "brightwaylightings.com",
            "brightwaylighting-us.com",
            "brightwaylightinginc.com",
        ] {
            assert!(d.is_lookalike(bad), "{bad}");
        }
        for good in [
            "brightwaylighting.com",
            "eu.brightwaylighting.com",
            "acme.example",
            "gmail.com",
            "mingguang.com.tw",
            "sino.example",
            "lighting.com",
            "brightwaylighting-europe.com",
        ] {
            assert!(!d.is_lookalike(good), "{good}");
        }
    }
}
