//! Free-mail providers: their domains never identify a company.

use std::collections::HashSet;

/// Built-in list: global and regional free-mail providers common in export trade.
const BUILTIN: &[&str] = &[
    // global
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.es",
    "hotmail.it",
    "hotmail.de",
    "live.com",
    "live.cn",
    "live.fr",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.es",
    "yahoo.de",
    "yahoo.it",
    "yahoo.com.br",
    "yahoo.com.mx",
    "yahoo.com.ar",
    "yahoo.co.jp",
    "yahoo.co.in",
    "yahoo.com.tw",
    "yahoo.com.hk",
    "yahoo.com.sg",
    "yahoo.com.au",
    "ymail.com",
    "rocketmail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "gmx.at",
    "gmx.ch",
    "web.de",
    "t-online.de",
    "freenet.de",
    "mail.com",
    "email.com",
    "zoho.com",
    "zohomail.com",
    "yandex.com",
    "yandex.ru",
    "ya.ru",
    "mail.ru",
    "bk.ru",
    "inbox.ru",
    "list.ru",
    "rambler.ru",
    "tutanota.com",
    "tuta.io",
    "fastmail.com",
    "hushmail.com",
    "inbox.com",
    "lycos.com",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "libero.it",
    "virgilio.it",
    "tiscali.it",
    "alice.it",
    "terra.com.br",
    "uol.com.br",
    "bol.com.br",
    "ig.com.br",
    "rediffmail.com",
    "naver.com",
    "hanmail.net",
    "daum.net",
    "nate.com",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
    "onet.pl",
    "abv.bg",
    "ukr.net",
    "i.ua",
    "mail.ua",
    "bigpond.com",
    "optusnet.com.au",
    "shaw.ca",
    "rogers.com",
    "sympatico.ca",
    "btinternet.com",
    "sky.com",
    "talktalk.net",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "cox.net",
    "earthlink.net",
    "juno.com",
    "mynet.com",
    "windowslive.com",
    // mainland China, Hong Kong, Taiwan
    "qq.com",
    "vip.qq.com",
    "foxmail.com",
    "163.com",
    "vip.163.com",
    "126.com",
    "vip.126.com",
    "yeah.net",
    "188.com",
    "sina.com",
    "sina.cn",
    "vip.sina.com",
    "sohu.com",
    "tom.com",
    "21cn.com",
    "139.com",
    "189.cn",
    "wo.cn",
    "aliyun.com",
    "netvigator.com",
    "hinet.net",
    "ms1.hinet.net",
    "pchome.com.tw",
    "seed.net.tw",
    "so-net.net.tw",
    // Middle East, Africa, South and Southeast Asia, Latin America
    "emirates.net.ae",
    "eim.ae",
    "yahoo.co.id",
    "yahoo.com.ph",
    "yahoo.com.vn",
    "yahoo.co.th",
    "gmail.com.br",
    "outlook.es",
    "outlook.fr",
    "outlook.de",
    "outlook.com.br",
    "prodigy.net.mx",
    "hotmail.com.ar",
    "hotmail.com.br",
    "live.com.mx",
    "live.com.ar",
    "arnet.com.ar",
    "speedy.com.ar",
    "fibertel.com.ar",
    "movistar.es",
    "telefonica.net",
    "sapo.pt",
    "netcabo.pt",
];

/// A set of free-mail domains: the built-in list plus the team's extras.
#[derive(Debug, Clone)]
pub struct FreeMail {
    domains: HashSet<String>,
}

impl Default for FreeMail {
    fn default() -> Self {
        FreeMail::new(std::iter::empty::<String>())
    }
}

impl FreeMail {
    pub fn new<I, S>(extra: I) -> FreeMail
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut domains: HashSet<String> = BUILTIN.iter().map(|d| d.to_string()).collect();
        domains.extend(extra.into_iter().map(|s| s.into().to_ascii_lowercase()));
        FreeMail { domains }
    }

    /// Is this domain, or a parent of it, a free-mail provider?
    pub fn contains(&self, domain: &str) -> bool {
        crate::directory::identity::domain_and_parents(domain).any(|d| self.domains.contains(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_and_extra_domains() {
        let f = FreeMail::new(["mail.example"]);
        for d in [
            "gmail.com",
            "qq.com",
            "163.com",
            "vip.qq.com",
            "sub.mail.example",
            "yahoo.com",
        ] {
            assert!(f.contains(d), "{d}");
        }
        for d in ["acme.example", "qqq.com", "mingguang.com.tw"] {
            assert!(!f.contains(d), "{d}");
        }
    }
}
