//! Keep only what the sender wrote in this message: quoted history ("On … wrote:",
//! "-----Original Message-----", Outlook "From:/Sent:" blocks in many languages, Chinese
//! "发件人:/发送时间:", Foxmail "原始邮件", Taiwanese "寄件者:", "> " lines), forwarded
//! messages, signatures (sign-offs, contact blocks, mobile footers) and legal disclaimers are
//! cut away.

mod history;
mod signature;

use history::*;
use signature::*;

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
