//! Keep only what the sender wrote in this message: quoted history ("On … wrote:",
//! "-----Original Message-----", Outlook "From:/Sent:" blocks in many languages, Chinese
//! "发件人:/发送时间:", Foxmail "原始邮件", Taiwanese "寄件者:", "> " lines), forwarded
//! messages, signatures (sign-offs, contact blocks, mobile footers) and legal disclaimers are
//! cut away.

/// Strip quotes, signature and disclaimer from a plain-text body.
pub fn own_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let cut = quote_start(&lines).unwrap_or(lines.len());
    let kept: Vec<&str> = lines[..cut]
        .iter()
        .copied()
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect();
    let end = signature_start(&kept).unwrap_or(kept.len());
    let kept = &kept[..end];
    let end = disclaimer_start(kept).unwrap_or(kept.len());
    tidy(&kept[..end])
}

fn tidy(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank = false;
    for l in lines {
        let t = l.trim();
        if t.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank {
                out.push('\n');
            }
        }
        blank = false;
        out.push_str(t);
    }
    out
}

/// Lower-case and drop decorations (`*From:*`, `**Sent:**`, leading spaces) for header tests.
fn plain(line: &str) -> String {
    line.trim()
        .trim_start_matches(['*', '_', '\u{feff}'])
        .replace("**", "")
        .replace('*', "")
        .to_lowercase()
}

/// Suffixes of "<date> <person> wrote:" lines.
const WROTE: &[&str] = &[
    "wrote:",
    "wrote :",
    "writes:",
    "escribió:",
    "escribio:",
    "escreveu:",
    "a écrit :",
    "a écrit:",
    "a ecrit :",
    "schrieb:",
    "ha scritto:",
    "пишет:",
    "написал:",
    "написала:",
    "написал(а):",
    "yazdı:",
    "schreef:",
    "skrev:",
    "napisał:",
    "napisal:",
    "kirjoitti:",
    "写道：",
    "写道:",
    "寫道：",
    "寫道:",
    "のメッセージ:",
    "書きました:",
    "كتب:",
    "كتب :",
];

/// Separators that open quoted or forwarded history.
const SEPARATORS: &[&str] = &[
    "original message",
    "ursprüngliche nachricht",
    "mensaje original",
    "mensagem original",
    "message d'origine",
    "message d’origine",
    "messaggio originale",
    "исходное сообщение",
    "orijinal mesaj",
    "oorspronkelijk bericht",
    "元のメッセージ",
    "原始邮件",
    "原始郵件",
    "原邮件",
    "原始信件",
    "الرسالة الأصلية",
    "forwarded message",
    "begin forwarded message",
    "mensaje reenviado",
    "mensagem encaminhada",
    "weitergeleitete nachricht",
    "message transféré",
    "пересылаемое сообщение",
    "转发的邮件",
    "轉寄的郵件",
    "転送されたメッセージ",
    "iletilen mesaj",
    "reply above this line",
    "以下为原始邮件",
];

/// Header names that open an Outlook-style quoted header block ("From:").
const FROM_NAMES: &[&str] = &[
    "from",
    "de",
    "von",
    "от",
    "da",
    "van",
    "kimden",
    "od",
    "från",
    "fra",
    "差出人",
    "发件人",
    "發件人",
    "寄件者",
    "寄件人",
    "من",
    "送信者",
];

/// Header names that follow "From:" in a quoted header block.
const BLOCK_NAMES: &[&str] = &[
    "sent",
    "date",
    "to",
    "cc",
    "subject",
    "enviado",
    "enviada",
    "fecha",
    "para",
    "asunto",
    "assunto",
    "data",
    "datum",
    "gesendet",
    "an",
    "betreff",
    "envoyé",
    "envoye",
    "à",
    "a",
    "objet",
    "date ",
    "inviato",
    "oggetto",
    "отправлено",
    "дата",
    "кому",
    "тема",
    "gönderildi",
    "tarih",
    "kime",
    "konu",
    "送信日時",
    "宛先",
    "件名",
    "发送时间",
    "發送時間",
    "收件人",
    "收件者",
    "抄送",
    "主题",
    "主題",
    "主旨",
    "寄件日期",
    "日期",
    "时间",
    "時間",
    "التاريخ",
    "أرسل",
    "إلى",
    "الموضوع",
    "wysłano",
    "skickat",
    "sendt",
    "verzonden",
    "onderwerp",
    "aan",
];

/// If `line` is "Name:" something, return the lower-cased name.
fn header_name(line: &str) -> Option<String> {
    let p = plain(line);
    let idx = p.find([':', '：'])?;
    let name = p[..idx].trim();
    if name.is_empty() || name.chars().count() > 16 {
        return None;
    }
    Some(name.to_string())
}

fn is_from_header(line: &str) -> bool {
    header_name(line).is_some_and(|n| FROM_NAMES.contains(&n.as_str()))
}

fn is_block_header(line: &str) -> bool {
    header_name(line).is_some_and(|n| BLOCK_NAMES.contains(&n.as_str()))
}

fn is_wrote_line(line: &str) -> bool {
    let p = plain(line);
    let p = p.trim_end();
    if p.chars().count() > 400 {
        return false;
    }
    if WROTE.iter().any(|w| p.ends_with(w)) {
        return true;
    }
    // Japanese and some webmails: "2026年6月8日(月) 10:00 Leo <leo@x.example>:"
    p.ends_with(">:") && p.contains('@') && p.chars().any(|c| c.is_ascii_digit())
}

fn is_separator(line: &str) -> bool {
    let p = plain(line);
    let t =
        p.trim_matches(|c: char| c == '-' || c == '_' || c == '=' || c.is_whitespace() || c == '—');
    if t.is_empty() {
        return false;
    }
    let decorated =
        p.starts_with("--") || p.starts_with("——") || p.starts_with("==") || p.starts_with("__");
    SEPARATORS
        .iter()
        .any(|s| t == *s || (decorated && t.contains(s)))
        || (t.starts_with("begin forwarded message") && t.len() < 30)
        || (t.starts_with("on ") && t.ends_with("wrote:"))
}

/// Index of the first line of quoted or forwarded history, if any.
pub fn quote_start(lines: &[&str]) -> Option<usize> {
    for i in 0..lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            continue;
        }
        if is_separator(line) || is_wrote_line(line) {
            return Some(i);
        }
        // "On Mon, 8 Jun 2026 at 10:00, Leo Zhao <leo@x>\nwrote:" wrapped over two lines.
        if let Some(next) = lines.get(i + 1) {
            let starts = plain(line);
            let joined = format!("{} {}", line.trim_end(), next.trim());
            let opener = ["on ", "el ", "em ", "le ", "am ", "il ", "在", "于", "於"]
                .iter()
                .any(|o| starts.starts_with(o));
            if opener && is_wrote_line(&joined) {
                return Some(i);
            }
        }
        // A rule of underscores (Outlook Web) right before a header block.
        let t = line.trim();
        if t.len() >= 10 && t.chars().all(|c| c == '_' || c == '-' || c == '—') {
            let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
            if next.is_some_and(|l| is_from_header(l) || is_block_header(l)) {
                return Some(i);
            }
        }
        // "From: …" followed closely by another header line ("Sent:", "To:", "发送时间:").
        if is_from_header(line) {
            let follow = lines[i + 1..]
                .iter()
                .take(5)
                .filter(|l| is_block_header(l))
                .count();
            if follow >= 1 {
                return Some(i);
            }
        }
    }
    None
}

/// Lines that close a message (sign-offs): strong ones always mark a signature.
const SIGNOFFS: &[&str] = &[
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
const WEAK_SIGNOFFS: &[&str] = &[
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
const FOOTERS: &[&str] = &[
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

fn signoff_kind(line: &str) -> Option<bool> {
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

fn is_footer(line: &str) -> bool {
    let p = plain(line);
    p.chars().count() < 80 && FOOTERS.iter().any(|f| p.starts_with(f))
}

/// Does this line look like part of a contact block (phone, mail, web, address)?
fn is_contact_line(line: &str) -> bool {
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
    MARKERS.iter().any(|m| p.contains(m))
}

fn is_sentence(line: &str) -> bool {
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
fn contact_block_start(lines: &[&str]) -> Option<usize> {
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
const DISCLAIMER_WORDS: &[&str] = &[
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_quote_styles() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "gmail",
                "Can you do 5% less?\n\nOn Mon, Jun 8, 2026 at 10:00 AM Leo Zhao <zhao.lei@sinoexport.example> wrote:\n> Our best price is USD 3.20\n",
                "Can you do 5% less?",
            ),
            (
                "gmail wrapped",
                "OK for us.\n\nOn Mon, Jun 8, 2026 at 10:00 AM Leo Zhao <zhao.lei@sinoexport.example>\nwrote:\n\n> samples\n",
                "OK for us.",
            ),
            (
                "outlook original message",
                "Please confirm.\n\n-----Original Message-----\nFrom: Leo\nSent: Monday\nSubject: price\n\nold text",
                "Please confirm.",
            ),
            (
                "outlook header block",
                "Thanks, noted.\r\n\r\nFrom: Leo Zhao <zhao.lei@sinoexport.example>\r\nSent: Monday, June 8, 2026 10:00 AM\r\nTo: Mike\r\nSubject: RE: quote\r\n\r\nold",
                "Thanks, noted.",
            ),
            (
                "outlook web underscores",
                "Fine.\n\n________________________________\nDe: Leo Zhao\nEnviado: lunes\nPara: Ana\nAsunto: precio\n\nviejo",
                "Fine.",
            ),
            (
                "spanish outlook",
                "Necesitamos 500 unidades.\n\nDe: Leo Zhao [mailto:zhao.lei@sinoexport.example]\nEnviado el: lunes, 8 de junio de 2026 10:00\nPara: Ana\nAsunto: RE: precio\n\nviejo",
                "Necesitamos 500 unidades.",
            ),
            (
                "russian outlook",
                "Согласны.\n\nОт: Leo Zhao\nОтправлено: 8 июня 2026 г. 10:00\nКому: Иван\nТема: цена\n\nстарый",
                "Согласны.",
            ),
            (
                "chinese outlook",
                "好的，收到。\n\n发件人: 赵磊 <zhao.lei@sinoexport.example>\n发送时间: 2026年6月8日 10:00\n收件人: 王先生\n主题: 报价\n\n旧的",
                "好的，收到。",
            ),
            (
                "foxmail",
                "请尽快发货。\n\n------------------ 原始邮件 ------------------\n发件人: \"赵磊\"<zhao.lei@sinoexport.example>;\n发送时间: 2026年6月8日\n\n旧的",
                "请尽快发货。",
            ),
            (
                "traditional",
                "請提供樣品。\n\n寄件者: Leo Zhao\n寄件日期: 2026年6月8日 上午 10:00\n收件者: 陳先生\n主旨: 報價\n\n舊的",
                "請提供樣品。",
            ),
            (
                "coremail",
                "同意。\n\n在 2026-06-08 10:00:00，\"赵磊\" <zhao.lei@sinoexport.example> 写道：\n> 旧的\n",
                "同意。",
            ),
            (
                "french",
                "D'accord.\n\nLe lun. 8 juin 2026 à 10:00, Leo Zhao <zhao.lei@sinoexport.example> a écrit :\n> vieux",
                "D'accord.",
            ),
            (
                "german",
                "Passt.\n\nAm 08.06.2026 um 10:00 schrieb Leo Zhao <zhao.lei@sinoexport.example>:\n> alt",
                "Passt.",
            ),
            (
                "inline > lines only",
                "> your price is high\nWe agree now.",
                "We agree now.",
            ),
            (
                "forward",
                "FYI see below\n\n---------- Forwarded message ---------\nFrom: someone\nDate: x\n\ntext",
                "FYI see below",
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(own_text(input), *want, "case {name}");
        }
    }

    #[test]
    fn a_from_line_inside_the_text_is_not_a_quote() {
        let t = "From: our side we can accept FOB.\nPlease send the PI.";
        assert_eq!(
            own_text(t),
            "From: our side we can accept FOB.\nPlease send the PI."
        );
    }

    #[test]
    fn signatures_and_slogans_are_cut() {
        let t = "Please quote 2000 pcs.\n\nBest regards,\nJohn Smith\nPurchasing Manager\nQuality first, best price always";
        assert_eq!(own_text(t), "Please quote 2000 pcs.");
        let t = "请报价。\n\n张三\n采购部\n手机: 13800138000\n品质第一，客户至上";
        assert_eq!(own_text(t), "请报价。");
        let t = "Need it fast.\n--\nJohn | Tel +1 555 0100";
        assert_eq!(own_text(t), "Need it fast.");
        let t = "Confirmado.\n\nEnviado desde mi iPhone";
        assert_eq!(own_text(t), "Confirmado.");
        let t = "Mit freundlichen Grüßen\nHans";
        assert_eq!(
            own_text(t),
            "Mit freundlichen Grüßen\nHans",
            "no content before: keep"
        );
    }

    #[test]
    fn thanks_in_the_middle_is_not_a_signature() {
        let t = "Hi Leo,\nThanks!\nWe compared three suppliers and yours is 20% higher than the others. Can you match the price?\nWe also need samples by Friday, is that possible?";
        assert_eq!(own_text(t), t);
    }

    #[test]
    fn disclaimers_are_cut() {
        let t = "Please send samples.\n\nJohn\n\nThis e-mail and any attachments are confidential and intended solely for the addressee.";
        assert_eq!(own_text(t), "Please send samples.\n\nJohn");
    }
}
