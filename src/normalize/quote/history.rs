//! Quoted history: reply attributions ("On … wrote:" in many languages, wrapped over lines),
//! separators ("-----Original Message-----", "原始邮件"), forwarded header blocks.

use super::*;

/// Suffixes of "<date> <person> wrote:" lines.
pub(super) const WROTE: &[&str] = &[
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
pub(super) const SEPARATORS: &[&str] = &[
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
pub(super) const FROM_NAMES: &[&str] = &[
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
pub(super) const BLOCK_NAMES: &[&str] = &[
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
pub(super) fn header_name(line: &str) -> Option<String> {
    let p = plain(line);
    let idx = p.find([':', '：'])?;
    let name = p[..idx].trim();
    if name.is_empty() || name.chars().count() > 16 {
        return None;
    }
    Some(name.to_string())
}

pub(super) fn is_from_header(line: &str) -> bool {
    header_name(line).is_some_and(|n| FROM_NAMES.contains(&n.as_str()))
}

pub(super) fn is_block_header(line: &str) -> bool {
    header_name(line).is_some_and(|n| BLOCK_NAMES.contains(&n.as_str()))
}

pub(super) fn is_wrote_line(line: &str) -> bool {
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

pub(super) fn is_separator(line: &str) -> bool {
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
pub(super) fn attribution_at(lines: &[&str], i: usize) -> Option<usize> {
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
pub(super) fn opens_attribution(p: &str) -> bool {
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
pub(super) fn is_bare_attribution(line: &str) -> bool {
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
pub(super) fn is_wrapped_link(line: &str) -> bool {
    let t = line.trim();
    t.chars().count() >= 6
        && !t.contains(' ')
        && t.chars().count() < 200
        && t.chars().any(|c| "=&%".contains(c))
}

/// Does quoted or forwarded history without '>' marks start at line `i` (a separator, a
/// header block)?
pub(super) fn history_at(lines: &[&str], i: usize) -> bool {
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
pub(super) const DATE_NAMES: &[&str] = &[
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
