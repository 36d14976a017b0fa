//! Addresses as keepwarm keys them: email addresses lower-cased with an IDNA domain, company
//! domains without `www.`, phone numbers in E.164. A leaf: the config, the parsers and the
//! directory all normalize with these, and it imports nothing of the crate.

/// What an address is: named in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Email,
    Domain,
    Phone,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Email => "email address",
            Kind::Domain => "domain",
            Kind::Phone => "phone number",
        })
    }
}

/// Why an email address, domain or phone number was refused (the input is quoted as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("empty {0}")]
    Empty(Kind),
    #[error("invalid {kind} of {len} bytes: at most {max}")]
    TooLong { kind: Kind, len: usize, max: usize },
    #[error("invalid {kind} {raw:?}{}", why.as_deref().map(|w| format!(": {w}")).unwrap_or_default())]
    Invalid {
        kind: Kind,
        raw: String,
        why: Option<String>,
    },
    #[error("unknown country code {0:?}")]
    UnknownCountry(String),
}

fn invalid(kind: Kind, raw: &str, why: Option<String>) -> AddressError {
    AddressError::Invalid {
        kind,
        raw: raw.to_string(),
        why,
    }
}

/// Lower-case an email address and IDNA-normalize its domain. Display names and angle brackets
/// are not accepted here: give the bare address.
pub fn normalize_email(raw: &str) -> Result<String, AddressError> {
    let s = raw.trim().trim_start_matches("mailto:");
    let s = s.trim_start_matches('<').trim_end_matches('>').trim();
    if s.is_empty() {
        return Err(AddressError::Empty(Kind::Email));
    }
    // RFC 5321: a path holds at most 256 octets (254 without the brackets).
    if s.len() > 254 {
        return Err(AddressError::TooLong {
            kind: Kind::Email,
            len: s.len(),
            max: 254,
        });
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == ';')
    {
        return Err(invalid(
            Kind::Email,
            raw,
            Some("contains a space or separator".into()),
        ));
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err(invalid(Kind::Email, raw, Some("no @".into())));
    };
    if local.is_empty() || local.contains('@') {
        return Err(invalid(Kind::Email, raw, None));
    }
    let domain =
        normalize_domain(domain).map_err(|e| invalid(Kind::Email, raw, Some(e.to_string())))?;
    Ok(format!("{}@{}", local.to_lowercase(), domain))
}

/// Lower-case and IDNA-normalize a domain (`Bücher.Example` → `xn--bcher-kva.example`).
/// Accepts a pasted URL or `@domain` and keeps only the host; strips a leading `www.`.
pub fn normalize_domain(raw: &str) -> Result<String, AddressError> {
    let mut s = raw.trim();
    for prefix in ["https://", "http://", "@"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    let s = s.split('/').next().unwrap_or("").trim_end_matches('.');
    if s.is_empty() {
        return Err(AddressError::Empty(Kind::Domain));
    }
    if s.len() > 253 {
        return Err(AddressError::TooLong {
            kind: Kind::Domain,
            len: s.len(),
            max: 253,
        });
    }
    if s.chars().any(|c| c.is_whitespace()) {
        return Err(invalid(Kind::Domain, raw, Some("contains a space".into())));
    }
    let ascii = idna::domain_to_ascii(s).map_err(|_| invalid(Kind::Domain, raw, None))?;
    let ascii = ascii
        .strip_prefix("www.")
        .map(str::to_string)
        .unwrap_or(ascii);
    if ascii.len() > 253 {
        return Err(invalid(
            Kind::Domain,
            raw,
            Some("longer than 253 bytes".into()),
        ));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.len() > 63) {
        return Err(invalid(
            Kind::Domain,
            raw,
            Some("needs at least two labels".into()),
        ));
    }
    if !ascii
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(invalid(Kind::Domain, raw, None));
    }
    Ok(ascii)
}

/// Parse a phone number as typed (national or international format) and return E.164.
/// `country` (ISO 3166 alpha-2) is the default region for national numbers.
pub fn normalize_phone(raw: &str, country: Option<&str>) -> Result<String, AddressError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(AddressError::Empty(Kind::Phone));
    }
    let region = match country {
        Some(c) if !c.is_empty() => Some(
            c.to_ascii_uppercase()
                .parse::<phonenumber::country::Id>()
                .map_err(|_| AddressError::UnknownCountry(c.to_string()))?,
        ),
        _ => None,
    };
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() < 6 {
        return Err(invalid(Kind::Phone, raw, Some("too few digits".into())));
    }
    // A number without "+" or "00" and no region cannot be placed; WhatsApp ids are like that
    // but always carry the country code, so try it as international.
    let candidate = if region.is_none() && !s.starts_with('+') && !s.starts_with("00") {
        format!("+{digits}")
    } else {
        s.to_string()
    };
    let number = match phonenumber::parse(region, &candidate) {
        Ok(n) => n,
        // "00" is the international prefix people type everywhere, even where the country's
        // real one differs (Thailand's is 001): read it as "+".
        Err(_) if candidate.starts_with("00") => {
            phonenumber::parse(None, format!("+{}", &digits[2..]))
                .map_err(|e| invalid(Kind::Phone, raw, Some(e.to_string())))?
        }
        Err(e) => return Err(invalid(Kind::Phone, raw, Some(e.to_string()))),
    };
    let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
    if e164.len() < 8 {
        return Err(invalid(Kind::Phone, raw, Some("too short".into())));
    }
    Ok(e164)
}

/// Parent domains of a domain, itself first: `a.b.example.com`, `b.example.com`, `example.com`.
pub fn domain_and_parents(domain: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(domain);
    std::iter::from_fn(move || {
        let cur = rest?;
        rest = cur
            .split_once('.')
            .map(|(_, r)| r)
            .filter(|r| r.contains('.'));
        Some(cur)
    })
}

/// The domain part of a normalized address.
pub fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// The numbers a WhatsApp id may be stored under: itself, plus the forms that the known
/// national quirks produce (Brazil's mobile ninth digit, Mexico's old "+521", Argentina's
/// mobile "9" after the country code). Each is E.164.
pub fn phone_variants(e164: &str) -> Vec<String> {
    let d = e164.trim_start_matches('+');
    let mut out = vec![format!("+{d}")];
    // Brazil: +55 AA 9XXXX XXXX (mobile, 13 digits) ↔ +55 AA XXXX XXXX (12 digits).
    if let Some(rest) = d.strip_prefix("55") {
        if rest.len() == 11 && rest.as_bytes()[2] == b'9' {
            out.push(format!("+55{}{}", &rest[..2], &rest[3..]));
        } else if rest.len() == 10 && matches!(rest.as_bytes()[2], b'6'..=b'9') {
            out.push(format!("+55{}9{}", &rest[..2], &rest[2..]));
        }
    }
    // Mexico: +52 1 XXXXXXXXXX ↔ +52 XXXXXXXXXX.
    if let Some(rest) = d.strip_prefix("52") {
        if rest.len() == 11 && rest.starts_with('1') {
            out.push(format!("+52{}", &rest[1..]));
        } else if rest.len() == 10 {
            out.push(format!("+521{rest}"));
        }
    }
    // Argentina: +54 9 XXXXXXXXXX (mobile) ↔ +54 XXXXXXXXXX.
    if let Some(rest) = d.strip_prefix("54") {
        if rest.len() == 11 && rest.starts_with('9') {
            out.push(format!("+54{}", &rest[1..]));
        } else if rest.len() == 10 {
            out.push(format!("+549{rest}"));
        }
    }
    out
}
