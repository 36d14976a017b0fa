//! Signatures and what follows the sender's words: sign-offs, contact blocks, mobile footers,
//! legal disclaimers.

use super::*;

/// Lines that close a message (sign-offs): strong ones always mark a signature.
pub(super) const SIGNOFFS: &[&str] = &[
    "regards",
    "best regards",
    "kind regards",
    "warm regards",
    "warmest regards",
    "best wishes",
    "with best regards",
    "with kind regards",
    "thanks and regards",
    "thanks & regards",
    "thanks and best regards",
    "many thanks and best regards",
    "br",
    "b.r.",
    "b. r.",
    "rgds",
    "sincerely",
    "yours sincerely",
    "sincerely yours",
    "yours faithfully",
    "yours truly",
    "respectfully",
    "best",
    "all the best",
    "cheers",
    "saludos",
    "un saludo",
    "saludos cordiales",
    "atentamente",
    "cordialmente",
    "reciba un cordial saludo",
    "un cordial saludo",
    "atenciosamente",
    "abraços",
    "abraço",
    "cumprimentos",
    "melhores cumprimentos",
    "att",
    "att.",
    "mit freundlichen grüßen",
    "mit freundlichen grüssen",
    "freundliche grüße",
    "viele grüße",
    "beste grüße",
    "liebe grüße",
    "mfg",
    "gruß",
    "grüße",
    "cordialement",
    "bien cordialement",
    "bien à vous",
    "salutations",
    "meilleures salutations",
    "sincères salutations",
    "cordiali saluti",
    "distinti saluti",
    "saluti",
    "с уважением",
    "всего доброго",
    "всего наилучшего",
    "saygılarımla",
    "saygilarimla",
    "iyi çalışmalar",
    "selamlar",
    "此致",
    "此致敬礼",
    "敬礼",
    "祝好",
    "顺祝商祺",
    "順祝商祺",
    "祝商祺",
    "顺颂商祺",
    "順頌商祺",
    "顺颂商安",
    "商祺",
    "顺祝",
    "順祝",
    "敬上",
    "敬具",
    "よろしくお願いいたします",
    "よろしくお願いします",
    "宜しくお願い致します",
    "宜しくお願いいたします",
    "مع تحياتي",
    "مع خالص التحيات",
    "تحياتي",
    "وتفضلوا بقبول فائق الاحترام",
    "met vriendelijke groet",
    "vriendelijke groeten",
    "med vänliga hälsningar",
    "vänliga hälsningar",
    "med venlig hilsen",
    "med vennlig hilsen",
    "vennlig hilsen",
    "pozdrawiam",
];

/// Weak sign-offs ("Thanks") only count near the end of the message.
pub(super) const WEAK_SIGNOFFS: &[&str] = &[
    "thanks",
    "thank you",
    "many thanks",
    "thanks a lot",
    "thx",
    "gracias",
    "muchas gracias",
    "obrigado",
    "obrigada",
    "danke",
    "vielen dank",
    "merci",
    "merci beaucoup",
    "grazie",
    "спасибо",
    "teşekkürler",
    "tesekkurler",
    "谢谢",
    "謝謝",
    "多谢",
    "多謝",
    "感谢",
    "感謝",
    "ありがとうございます",
    "شكرا",
    "شكراً",
    "bedankt",
    "tack",
];

/// Mobile and webmail footers.
pub(super) const FOOTERS: &[&str] = &[
    "sent from my",
    "sent from mail for windows",
    "get outlook for",
    "sent via",
    "enviado desde mi",
    "enviado do meu",
    "enviado de meu",
    "von meinem",
    "envoyé de mon",
    "envoyé depuis",
    "inviato da",
    "отправлено с",
    "iphone'umdan gönderildi",
    "发自我的",
    "發自我的",
    "来自我的",
    "來自我的",
    "从我的",
    "来自网易邮箱",
    "来自 outlook",
    "iphoneから送信",
];

pub(super) fn signoff_kind(line: &str) -> Option<bool> {
    let p = plain(line);
    let t = p
        .trim()
        .trim_end_matches(|c: char| ",.!;:，。！、 ~-".contains(c))
        .trim();
    if t.is_empty() || t.chars().count() > 60 {
        return None;
    }
    // "Best regards, John" / "Regards -- John"
    let head = t
        .split([',', '，'])
        .next()
        .unwrap_or(t)
        .trim()
        .trim_end_matches(|c: char| ".!;:。！ ".contains(c));
    if SIGNOFFS.contains(&t) || SIGNOFFS.contains(&head) {
        Some(true)
    } else if WEAK_SIGNOFFS.contains(&t) || WEAK_SIGNOFFS.contains(&head) {
        Some(false)
    } else {
        None
    }
}

pub(super) fn is_footer(line: &str) -> bool {
    let p = plain(line);
    p.chars().count() < 80 && FOOTERS.iter().any(|f| p.starts_with(f))
}

/// Does this line look like part of a contact block (phone, mail, web, address)?
pub(super) fn is_contact_line(line: &str) -> bool {
    let p = plain(line);
    if p.chars().count() > 100 {
        return false;
    }
    const MARKERS: &[&str] = &[
        "tel:",
        "tel.",
        "tel ",
        "phone",
        "mobile",
        "mob:",
        "mob.",
        "cell",
        "fax",
        "whatsapp",
        "wechat",
        "skype",
        "e-mail:",
        "email:",
        "mail:",
        "www.",
        "http://",
        "https://",
        "add:",
        "address:",
        "手机",
        "電話",
        "电话",
        "手機",
        "微信",
        "传真",
        "傳真",
        "邮箱",
        "郵箱",
        "地址",
        "网址",
        "網址",
        "teléfono",
        "telefone",
        "telefon",
        "móvil",
        "celular",
        "тел",
        "моб",
        "факс",
        "هاتف",
        "جوال",
        "電話番号",
        "携帯",
        "cep:",
        "gsm",
    ];
    MARKERS.iter().any(|m| p.contains(m)) || is_phone_line(&p)
}

/// A short line that is mostly a phone number ("O: (312) 555-0147", "+86 139 5740 0002",
/// "T 021 555 0192").
pub(super) fn is_phone_line(p: &str) -> bool {
    let t = p.trim();
    if t.chars().count() > 40 {
        return false;
    }
    let digits = t.chars().filter(char::is_ascii_digit).count();
    let numberish = t
        .chars()
        .filter(|c| c.is_ascii_digit() || " +-().,/".contains(*c))
        .count();
    let letters = t.chars().filter(|c| c.is_alphabetic()).count();
    digits >= 7 && letters <= 8 && numberish * 10 >= t.chars().count() * 6
}

pub(super) fn is_sentence(line: &str) -> bool {
    let t = line.trim();
    t.chars().count() > 50 || t.ends_with('?') || t.ends_with('？')
}

/// Index where the signature begins, if one is found. Linear in the number of lines.
pub fn signature_start(lines: &[&str]) -> Option<usize> {
    let first_content = lines.iter().position(|l| !l.trim().is_empty());
    let content_before = |i: usize| first_content.is_some_and(|f| f < i);
    // From the end: how many non-empty lines follow each line (counted up to 9, all a weak
    // sign-off needs), and whether a sentence follows it.
    let mut after = vec![(0u8, false); lines.len() + 1];
    for i in (0..lines.len()).rev() {
        let (n, sentence) = after[i + 1];
        let filled = !lines[i].trim().is_empty();
        after[i] = (
            n.saturating_add(u8::from(filled)).min(9),
            sentence || (filled && is_sentence(lines[i])),
        );
    }
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_end();
        if (t == "--" || t == "-- " || t == "—" || t == "__") && content_before(i) {
            return Some(i);
        }
        if is_footer(line) && content_before(i) {
            return Some(i);
        }
        match signoff_kind(line) {
            Some(true) if content_before(i) => return Some(i),
            Some(false) if content_before(i) => {
                let (rest, sentence) = after[i + 1];
                if rest <= 8 && !sentence {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    contact_block_start(lines)
}

/// A trailing block (after a blank line) of short lines holding contact details.
pub(super) fn contact_block_start(lines: &[&str]) -> Option<usize> {
    // Blocks separated by blank lines.
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, l) in lines.iter().enumerate() {
        match (l.trim().is_empty(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                blocks.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        blocks.push((s, lines.len()));
    }
    if blocks.len() < 2 {
        return None;
    }
    // Look at the last three blocks, earliest first, skipping the first block of the message.
    let first_candidate = blocks.len().saturating_sub(3).max(1);
    for &(s, e) in &blocks[first_candidate..] {
        let block = &lines[s..e];
        let short = block.iter().all(|l| l.trim().chars().count() <= 80);
        let contacts = block.iter().filter(|l| is_contact_line(l)).count();
        if short && contacts >= 1 && block.len() <= 12 {
            return Some(s);
        }
    }
    None
}

/// Words that make a trailing paragraph a legal disclaimer.
pub(super) const DISCLAIMER_WORDS: &[&str] = &[
    "confidential",
    "intended recipient",
    "intended solely",
    "privileged",
    "disclaimer",
    "机密",
    "機密",
    "保密",
    "免责",
    "免責",
    "confidencial",
    "vertraulich",
    "confidentiel",
    "riservat",
    "конфиденциальн",
    "gizli",
    "سرية",
    "秘密",
    "unauthorized",
    "prohibited",
];

/// Index of a legal disclaimer paragraph after the message body. Linear in the text.
pub fn disclaimer_start(lines: &[&str]) -> Option<usize> {
    let mut para_start = None;
    // Has any paragraph come before the current one?
    let mut content_before = false;
    let mut seen_content = false;
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            para_start = None;
            continue;
        }
        if para_start.is_none() {
            para_start = Some(i);
            content_before = seen_content;
        }
        seen_content = true;
        if !content_before {
            continue;
        }
        let p = l.to_lowercase();
        if DISCLAIMER_WORDS.iter().any(|w| p.contains(w)) {
            return para_start;
        }
    }
    None
}
