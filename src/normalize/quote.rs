//! Keep only what the sender wrote in this message: quoted history ("On … wrote:",
//! "-----Original Message-----", Outlook "From:/Sent:" blocks in many languages, Chinese
//! "发件人:/发送时间:", Foxmail "原始邮件", Taiwanese "寄件者:", "> " lines), forwarded
//! messages, signatures (sign-offs, contact blocks, mobile footers) and legal disclaimers are
//! cut away.

/// Strip quotes, signature and disclaimer from a plain-text body. Every line the sender wrote
/// is kept wherever it stands: above the quoted history (top-posting), under it
/// (bottom-posting) or between quoted lines (inline replies).
pub fn own_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let kept = own_lines(&lines);
    let end = signature_start(&kept).unwrap_or(kept.len());
    let kept = &kept[..end];
    let end = disclaimer_start(kept).unwrap_or(kept.len());
    tidy(&kept[..end])
}

/// Is this line quoted ("> …", "｜…" is not)?
fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// The sender's own lines: quoted lines ("> …") are dropped; an attribution ("On … wrote:")
/// followed by quoted lines is dropped with them and what follows is kept; a separator or
/// header block ("-----Original Message-----", "From:/Sent:") or an attribution followed by
/// unmarked text opens history that runs to the end. Linear in the number of lines.
fn own_lines<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut kept = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if is_quoted(line) {
            i += 1;
            continue;
        }
        if line.trim().is_empty() {
            kept.push(line);
            i += 1;
            continue;
        }
        // A link wrapped out of the quoted line just above, or a line the client wrapped out
        // of a quoted paragraph (quoted lines right above and right below), belongs to the
        // quote.
        let after_quote = i > 0 && is_quoted(lines[i - 1]);
        // Clients wrap at about 72-78 columns: a long quoted line right above was wrapped.
        let wrapped_above = after_quote && lines[i - 1].trim().chars().count() >= 60;
        let before_quote = lines.get(i + 1).is_some_and(|l| is_quoted(l));
        if after_quote && (is_wrapped_link(line) || (wrapped_above && before_quote)) {
            i += 1;
            continue;
        }
        let next_quoted = |n: usize| {
            lines[i + n..]
                .iter()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| is_quoted(l))
        };
        if let Some(n) = attribution_at(lines, i) {
            if next_quoted(n) {
                i += n;
                continue;
            }
            break;
        }
        // "2011/4/7 Nathan <support@example.com>" counts only right before quoted lines.
        if is_bare_attribution(line) && next_quoted(1) {
            i += 1;
            continue;
        }
        if history_at(lines, i) {
            // Lines that lead into the block belong to it: "Message du : 12/12/2016 13:20",
            // a rule of "====".
            while let Some(last) = kept.last() {
                let t = last.trim();
                let rule = !t.is_empty() && t.chars().all(|c| "=-_—*".contains(c));
                let dated = header_name(last).is_some()
                    && t.chars().filter(char::is_ascii_digit).count() >= 4;
                if t.is_empty() || rule || dated {
                    kept.pop();
                } else {
                    break;
                }
            }
            break;
        }
        kept.push(line);
        i += 1;
    }
    kept
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
    "napisał(a):",
    "napisala:",
    "geschreven:",
    "đã viết:",
    "da viet:",
    "escribió :",
    "escreveu :",
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
    // "On Wed, 14 Nov 2018 08:14 John Doe <john@doe.com> wrote" (no colon)
    if p.starts_with("on ") && p.ends_with(" wrote") && p.contains('@') {
        return true;
    }
    // "---- Leo Zhao wrote ----", "---- On Mon, Leo wrote ----"
    let bare = p.trim_matches(|c: char| c == '-' || c == '=' || c.is_whitespace());
    if p.starts_with("--")
        && WROTE
            .iter()
            .any(|w| bare.ends_with(w.trim_end_matches([':', ' '])))
    {
        return true;
    }
    // "8 Jun 2026 10:00, Leo <leo@x.example> sent:" / "… 发送：" with a date or an address.
    if (p.ends_with("sent:") || p.ends_with("envió:") || p.ends_with("enviou:")) && p.contains('@')
    {
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

/// How many lines an attribution ("On Mon, 8 Jun 2026, Leo <leo@x> wrote:") starting at line
/// `i` takes, when one does: one line, or up to three when the client wrapped it.
fn attribution_at(lines: &[&str], i: usize) -> Option<usize> {
    let line = lines[i];
    if is_wrote_line(line) {
        return Some(1);
    }
    // Wrapped: "On Mon, 8 Jun 2026 at 10:00, Leo Zhao <" / "leo@x.example> wrote:". The first
    // line must open like an attribution (a date word, a name and '<', or an ISO date).
    let first = plain(line);
    let opener = opens_attribution(&first);
    let sentence_end = first
        .trim_end()
        .ends_with(['.', '?', '!', '。', '？', '！']);
    if !opener || sentence_end || first.chars().count() > 120 {
        return None;
    }
    // Up to five more lines, blank ones skipped (Polymail: "<" / "mailto:… <…>" / "> wrote:").
    let mut joined = line.trim_end().to_string();
    for (k, next) in lines.iter().enumerate().skip(i + 1).take(5) {
        let t = next.trim();
        if t.is_empty() {
            continue;
        }
        let closing = is_wrote_line(t) || plain(t).ends_with("wrote:") || t == ">:";
        if is_quoted(next) && !closing {
            return None;
        }
        // A line that is a whole attribution on its own starts one; this line is not part of it.
        if is_wrote_line(t) && opens_attribution(&plain(t)) {
            return None;
        }
        joined.push(' ');
        joined.push_str(t);
        if is_wrote_line(&joined) {
            return Some(k - i + 1);
        }
    }
    None
}

/// Does a (plain, lower-cased) line open like an attribution: a date word ("On", "El", "Am",
/// "W dniu", "在"), a name before a wrapped '<', or an ISO date?
fn opens_attribution(p: &str) -> bool {
    [
        "on ", "el ", "em ", "le ", "am ", "il ", "op ", "w dniu", "vào ", "в ", "在", "于", "於",
    ]
    .iter()
    .any(|o| p.starts_with(o))
        || p.ends_with('<')
        || p.chars().take(4).all(|c| c.is_ascii_digit()) && p.len() > 10
        // "tir. 18. apr. 2017 kl. 13:09 skrev …", "pe 20. lokakuuta 2017 klo 17.50 …": a date
        // (a four-digit year) near the start.
        || p.split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .take(4)
            .any(|n| n.len() == 4 && (n.starts_with("19") || n.starts_with("20")))
}

/// "2011/4/7 Nathan <support@example.com>" right before quoted lines: a date and an address
/// in angle brackets, nothing else after them.
fn is_bare_attribution(line: &str) -> bool {
    let t = line.trim();
    t.ends_with('>')
        && t.contains('<')
        && t.contains('@')
        && t.chars().count() < 200
        && t.chars().take(12).filter(char::is_ascii_digit).count() >= 4
}

/// A piece of a link the client wrapped out of a quoted line ("_nonce=3dd518)"): one word
/// with characters only query strings have ('=', '&', '%'); a short answer such as "Yes?" or
/// "50/50" is not one.
fn is_wrapped_link(line: &str) -> bool {
    let t = line.trim();
    t.chars().count() >= 6
        && !t.contains(' ')
        && t.chars().count() < 200
        && t.chars().any(|c| "=&%".contains(c))
}

/// Does quoted or forwarded history without '>' marks start at line `i` (a separator, a
/// header block)?
fn history_at(lines: &[&str], i: usize) -> bool {
    let line = lines[i];
    if is_separator(line) {
        return true;
    }
    // A rule of underscores (Outlook Web) right before a header block.
    let t = line.trim();
    if t.len() >= 10 && t.chars().all(|c| c == '_' || c == '-' || c == '—') {
        let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
        if next.is_some_and(|l| is_from_header(l) || is_block_header(l)) {
            return true;
        }
    }
    // "From: …" followed closely by another header line ("Sent:", "To:", "发送时间:").
    if is_from_header(line) {
        return lines[i + 1..].iter().take(5).any(|l| is_block_header(l));
    }
    // A header block without "From:" ("Date: …" / "To: …" / "Subject: …"): two header lines
    // in a row, one of them a date or sent line, with a value that names a time or an address.
    if is_block_header(line)
        && let Some(next) = lines.get(i + 1)
        && (is_block_header(next) || is_from_header(next))
    {
        let dated = [line, next]
            .iter()
            .any(|l| header_name(l).is_some_and(|n| DATE_NAMES.contains(&n.as_str())));
        let value = |l: &str| {
            plain(l)
                .split_once([':', '：'])
                .map(|(_, v)| v.contains('@') || v.chars().any(|c| c.is_ascii_digit()))
                .unwrap_or(false)
        };
        return dated && (value(line) || value(next));
    }
    false
}

/// Header names of a quoted block's date line.
const DATE_NAMES: &[&str] = &[
    "date",
    "sent",
    "fecha",
    "enviado",
    "data",
    "datum",
    "gesendet",
    "envoyé",
    "envoye",
    "дата",
    "отправлено",
    "tarih",
    "送信日時",
    "发送时间",
    "發送時間",
    "寄件日期",
    "日期",
    "التاريخ",
    "wysłano",
    "verzonden",
];

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
    MARKERS.iter().any(|m| p.contains(m)) || is_phone_line(&p)
}

/// A short line that is mostly a phone number ("O: (312) 555-0147", "+86 139 5740 0002",
/// "T 021 555 0192").
fn is_phone_line(p: &str) -> bool {
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
    fn replies_keep_every_line_the_sender_wrote() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "bottom-posted",
                "On Mon, Jun 8, 2026 at 10:00 AM Leo Zhao <leo@sinoexport.example> wrote:\n> Our price is USD 3.20\n> Best, Leo\n\nToo high for us, can you do 3.00?\n",
                "Too high for us, can you do 3.00?",
            ),
            (
                "wrapped quoted paragraph",
                "Fine by us.\n\nOn 8 Jun 2026, Leo <leo@x.example> wrote:\n> We can offer the same model in black or white, with a two-year warranty and\nfree spare parts\n> for the first order.",
                "Fine by us.",
            ),
            (
                "inline",
                "> Quantity?\n500 pcs.\n> Colour?\nBlack, please.\n> Delivery?\nBefore May.",
                "500 pcs.\nBlack, please.\nBefore May.",
            ),
            (
                "top and bottom",
                "See my answers below.\n\nOn 8 Jun 2026, Leo wrote:\n> Which port?\nNingbo.",
                "See my answers below.\n\nNingbo.",
            ),
            (
                "thunderbird spanish bottom-posted",
                "El 08/06/2026 a las 10:00, Leo Zhao escribió:\n> Precio USD 3,20\n\nNecesitamos muestras.",
                "Necesitamos muestras.",
            ),
            (
                "wrapped over three lines",
                "Agreed.\n\nOn Mon, Jun 8, 2026 at 10:00 AM, Leo Zhao <\nleo@sinoexport.example> wrote:\n\n> old",
                "Agreed.",
            ),
            (
                "wrapped name then address",
                "Fine.\n\nOn 8 Jun 2026 10:00, Somebody Long-Name <\nsomebody@example.com> wrote:\nold unquoted history",
                "Fine.",
            ),
            (
                "polish",
                "Zgoda.\n\nW dniu 8.06.2026 o 10:00, Leo Zhao użytkownik <leo@x.example> napisał:\n> stare",
                "Zgoda.",
            ),
            (
                "dutch",
                "Akkoord.\n\nOp 8 jun. 2026 om 10:00 heeft Leo Zhao <leo@x.example> het volgende geschreven:\n> oud",
                "Akkoord.",
            ),
            (
                "vietnamese",
                "Đồng ý.\n\nVào 10:00 Th 2, 8 thg 6, 2026 Leo Zhao <leo@x.example> đã viết:\n> cũ",
                "Đồng ý.",
            ),
            (
                "russian android",
                "Согласны.\n\n8 июня 2026 г. 10:00 пользователь Leo Zhao <leo@x.example> написал:\n> старое",
                "Согласны.",
            ),
            (
                "iso date",
                "OK.\n\n2014-10-17 11:28 GMT+03:00 Leo Zhao <\nleo@x.example>:\n> old",
                "OK.",
            ),
            (
                "dashes wrote",
                "Noted.\n\n---- Leo Zhao wrote ----\nold history",
                "Noted.",
            ),
            (
                "sent attribution",
                "Yes.\n\n8 Jun 2026 10:00, Leo Zhao <leo@x.example> sent:\nold history",
                "Yes.",
            ),
            (
                "a sentence opening like an attribution is text",
                "El catálogo muestra también una versión de 300D; ¿tiene certificado?\n\nSaludos, Lucía\n\nEl jue, 4 jun 2026 a las 20:15, William Li (<w@x.example>) escribió:\n> viejo",
                "El catálogo muestra también una versión de 300D; ¿tiene certificado?",
            ),
            (
                "norwegian date first, address wrapped",
                "Ok.\n\ntir. 18. apr. 2017 kl. 13:09 skrev Test user <test@example.com\n>:\n\n> old",
                "Ok.",
            ),
            (
                "short inline answers",
                "> Can you ship on Friday?\nYes?\n> Split the payment?\n50/50\n",
                "Yes?\n50/50",
            ),
            (
                "a dated line with an address, then text",
                "Meeting notes\n2026-06-08 Leo Zhao <leo@x.example>\nWe agreed on FOB Ningbo.",
                "Meeting notes\n2026-06-08 Leo Zhao <leo@x.example>\nWe agreed on FOB Ningbo.",
            ),
            (
                "header block without from",
                "Please proceed.\n\nDate: Mon, 8 Jun 2026 10:00\nTo: buyer@x.example\nSubject: PI\n\nold",
                "Please proceed.",
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(own_text(input), *want, "case {name}");
        }
    }

    #[test]
    fn a_subject_line_in_the_text_is_not_a_header_block() {
        let t = "Subject: the new range\nTo be honest we need a lower price.";
        assert_eq!(own_text(t), t);
    }

    #[test]
    fn a_slogan_after_a_phone_line_is_signature() {
        let t = "Please quote 2000 pcs.\n\nJames Hall\nHall Lighting Inc. | 12 W Lake St, Chicago, IL 60607\nO: (312) 555-0147\nQuality you can see.";
        assert_eq!(own_text(t), "Please quote 2000 pcs.");
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
