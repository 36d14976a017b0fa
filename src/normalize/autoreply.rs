//! What kind of mail this is: a person's message, an auto-reply, a bounce, bulk mail or spam.
//! Pure: decided from headers, subject and the opening of the text.

use serde::Serialize;

/// The class of a message. Only `Human` messages can count as contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    Human,
    AutoReply,
    Bounce,
    Bulk,
    Spam,
    /// From a team address, in a live mailbox's INBOX, with nothing to prove it came from us
    /// (see `normalize::sender`): kept, never contact, never ours.
    Spoof,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Human => "human",
            Class::AutoReply => "auto-reply",
            Class::Bounce => "bounce",
            Class::Bulk => "bulk",
            Class::Spam => "spam",
            Class::Spoof => "spoof",
        }
    }

    pub fn parse(s: &str) -> Class {
        match s {
            "auto-reply" => Class::AutoReply,
            "bounce" => Class::Bounce,
            "bulk" => Class::Bulk,
            "spam" => Class::Spam,
            "spoof" => Class::Spoof,
            _ => Class::Human,
        }
    }
}

/// The facts about a mail that classification looks at.
#[derive(Debug, Default, Clone)]
pub struct Signals<'a> {
    pub from: &'a str,
    pub from_name: &'a str,
    pub subject: &'a str,
    /// Text of the message (before quote stripping), used for its opening lines.
    pub text: &'a str,
    pub auto_submitted: Option<&'a str>,
    pub precedence: Option<&'a str>,
    pub x_autoreply: bool,
    pub list_headers: bool,
    pub x_spam_flag: bool,
    /// `multipart/report` with `report-type=delivery-status` (or any report).
    pub report: bool,
    pub report_type: Option<&'a str>,
    /// An attached `message/delivery-status` part.
    pub delivery_status_part: bool,
}

const AUTO_SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "automated response",
    "away from the office",
    "on vacation",
    "on holiday",
    "office closed",
    "自动回复",
    "自動回覆",
    "自動回复",
    "自动答复",
    "自動答覆",
    "自动应答",
    "休假",
    "不在办公室",
    "respuesta automática",
    "respuesta automatica",
    "fuera de la oficina",
    "fuera de oficina",
    "resposta automática",
    "resposta automatica",
    "ausente do escritório",
    "fora do escritório",
    "abwesenheitsnotiz",
    "automatische antwort",
    "abwesend",
    "außer haus",
    "réponse automatique",
    "reponse automatique",
    "absence du bureau",
    "absent du bureau",
    "risposta automatica",
    "fuori sede",
    "fuori ufficio",
    "автоматический ответ",
    "автоответ",
    "нет в офисе",
    "нет на месте",
    "в отпуске",
    "отсутствую",
    "ausência temporária",
    "ausencia temporal",
    "de vacaciones",
    "em férias",
    "estou ausente",
    "otomatik yanıt",
    "otomatik yanit",
    "ofis dışında",
    "自動応答",
    "自動返信",
    "不在のお知らせ",
    "رد تلقائي",
    "رد آلي",
    "خارج المكتب",
    "automatisch antwoord",
    "afwezig",
    "autosvar",
    "fraværende",
    "frånvarande",
    "odpowiedź automatyczna",
    "poza biurem",
];

const AUTO_OPENINGS: &[&str] = &[
    "i am out of the office",
    "i'm out of the office",
    "i am currently out of the office",
    "i'm currently out of the office",
    "i will be out of the office",
    "i am currently out of office",
    "i am out of office",
    "i'm out of office",
    "i am away",
    "i'm away",
    "i am currently away",
    "i'm currently away",
    "i am on vacation",
    "i'm on vacation",
    "i am on holiday",
    "i'm on holiday",
    "i am on annual leave",
    "i am on leave",
    "i am on summer holiday",
    "i am on business travel",
    "i am travelling",
    "i am currently travelling",
    "thank you for your email. this is an automated",
    "this is an automated response",
    "this is an automatic reply",
    "this is an auto-reply",
    "this is an automatic response",
    "this is an automated reply",
    "thank you for your message. this is an automatic",
    "we have received your email and will",
    "your message has been received",
    "我目前不在办公室",
    "我现在不在办公室",
    "本人休假",
    "我正在休假",
    "我将于",
    "我將於",
    "此为自动回复",
    "此邮件为自动回复",
    "本邮件为自动回复",
    "这是一封自动回复",
    "这是自动回复",
    "自動回覆",
    "自动回复",
    "本人出差",
    "我目前出差",
    "目前不在公司",
    "estoy fuera de la oficina",
    "estaré fuera de la oficina",
    "estoy de vacaciones",
    "me encuentro fuera",
    "en este momento no me encuentro",
    "estou fora do escritório",
    "estou de férias",
    "ich bin derzeit nicht im büro",
    "ich bin bis",
    "ich bin vom",
    "vielen dank für ihre e-mail. ich bin",
    "ich befinde mich",
    "je suis absent",
    "je serai absent",
    "je suis actuellement absent",
    "je suis en congé",
    "sono fuori ufficio",
    "sono in ferie",
    "я в отпуске",
    "меня нет в офисе",
    "в настоящее время я отсутствую",
    "я нахожусь в отпуске",
    "ofis dışındayım",
    "estou fora do escritório até",
    "я в отпуске до",
    "je suis absent jusqu",
    "ich bin bis zum",
    "izindeyim",
    "şu anda ofiste değilim",
    "不在にしております",
    "休暇中",
    "أنا خارج المكتب",
    "أنا في إجازة",
];

const BOUNCE_SENDERS: &[&str] = &["mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"];

const BOUNCE_SUBJECTS: &[&str] = &[
    "undelivered mail returned to sender",
    "delivery status notification (failure)",
    "delivery status notification (delay)",
    "mail delivery failed",
    "mail delivery failure",
    "undeliverable:",
    "undeliverable mail",
    "returned mail",
    "delivery failure",
    "failure notice",
    "delivery has failed",
    "message not delivered",
    "non remis",
    "unzustellbar",
    "no se puede entregar",
    "não entregue",
    "系统退信",
    "退信",
    "投递失败",
    "未能送达",
    "無法傳遞",
    "無法送達",
    "недоставленное сообщение",
    "iletilemedi",
];

/// Decide the class. Order: bounce, auto-reply, bulk, spam flag, then human.
pub fn classify(s: &Signals<'_>) -> Class {
    let from_local = s.from.split('@').next().unwrap_or("").to_ascii_lowercase();
    let subject = s.subject.to_lowercase();
    let name = s.from_name.to_lowercase();

    let report_is_dsn = s.report
        && s.report_type
            .is_none_or(|t| t.eq_ignore_ascii_case("delivery-status"));
    let bounce_sender = BOUNCE_SENDERS.iter().any(|b| from_local == *b)
        || name.contains("mail delivery")
        || name.contains("mailer-daemon");
    let bounce_subject = BOUNCE_SUBJECTS.iter().any(|b| subject.contains(b));
    if report_is_dsn
        || s.delivery_status_part
        || (bounce_sender && (bounce_subject || s.report))
        || (bounce_sender && s.from.is_empty())
    {
        return Class::Bounce;
    }
    if bounce_sender && bounce_subject {
        return Class::Bounce;
    }

    let auto_header = s
        .auto_submitted
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"))
        || s.x_autoreply;
    let precedence = s.precedence.map(|p| p.trim().to_ascii_lowercase());
    let subject_auto = AUTO_SUBJECTS.iter().any(|a| subject.contains(a));
    let opening: String = s.text.chars().take(400).collect::<String>().to_lowercase();
    let opening_auto = opening_auto_reply(&opening);
    if auto_header || precedence.as_deref() == Some("auto_reply") {
        // Mailing-list software sets Auto-Submitted too: a list header wins for bulk.
        if s.list_headers && !subject_auto {
            return Class::Bulk;
        }
        return Class::AutoReply;
    }
    if subject_auto || opening_auto {
        return Class::AutoReply;
    }
    if s.list_headers || matches!(precedence.as_deref(), Some("bulk" | "list" | "junk")) {
        return Class::Bulk;
    }
    if s.x_spam_flag {
        return Class::Spam;
    }
    Class::Human
}

/// Words that an absence notice uses next to its opening: a return date or a deputy for urgent
/// matters.
const ABSENCE_MARKERS: &[&str] = &[
    "until",
    "till",
    "return",
    "back on",
    "urgent",
    "hasta",
    "regres",
    "urgente",
    "até",
    "retorno",
    "bis ",
    "zurück",
    "dringend",
    "jusqu",
    "de retour",
    "fino al",
    "до ",
    "срочн",
    "вернусь",
    "kadar",
    "acil",
    "返回",
    "回来",
    "回來",
    "紧急",
    "緊急",
    "急事",
    "まで",
    "حتى",
];

fn opening_auto_reply(opening_lower: &str) -> bool {
    // Skip a greeting line ("Hello," / "Dear sender,") before the opening sentence.
    let mut lines = opening_lower
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let second = lines.next().unwrap_or("");
    let third = lines.next().unwrap_or("");
    if [first, second, third]
        .iter()
        .any(|l| AUTO_OPENINGS.iter().any(|a| l.starts_with(a)))
    {
        return true;
    }
    // "Thank you for your mail. I am on leave until 12 June, for urgent matters …": the absence
    // sentence right after a thank-you, in a short text that names a return date or a deputy.
    let head: String = opening_lower.chars().take(200).collect();
    opening_lower.chars().count() < 400
        && AUTO_OPENINGS.iter().any(|a| head.contains(a))
        && ABSENCE_MARKERS.iter().any(|m| opening_lower.contains(m))
}

/// Phrases of fraud and phishing mail that reaches sales inboxes. Only applied to senders that
/// are not customers, so a customer's real words are never discarded.
const SCAM_PHRASES: &[&str] = &[
    "verify your account",
    "verify your mailbox",
    "mailbox quota",
    "quota exceeded",
    "your mailbox is full",
    "account will be suspended",
    "account will be deactivated",
    "re-validate your",
    "revalidate your",
    "confirm your password",
    "password expires",
    "updated bank details",
    "update our bank details",
    "new bank details",
    "changed our bank",
    "change of bank account",
    "new bank account",
    "bank account has changed",
    "代开发票",
    "发票代开",
    "代开各类发票",
    "各类发票",
    "代开增值税",
    "開發票",
    "代開發票",
    "your parcel is on hold",
    "claim your prize",
    "you have won",
];

/// Is this (non-customer) mail fraud or phishing by its wording?
pub fn scam_wording(subject: &str, text: &str) -> bool {
    let s = subject.to_lowercase();
    let opening: String = text.chars().take(2000).collect::<String>().to_lowercase();
    let invoice_fraud = |t: &str| {
        (t.contains("代开") || t.contains("代開")) && (t.contains("发票") || t.contains("發票"))
    };
    SCAM_PHRASES
        .iter()
        .any(|p| s.contains(p) || opening.contains(p))
        || invoice_fraud(&s)
        || invoice_fraud(&opening)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig<'a>(from: &'a str, subject: &'a str, text: &'a str) -> Signals<'a> {
        Signals {
            from,
            subject,
            text,
            ..Default::default()
        }
    }

    #[test]
    fn headers_decide_first() {
        let mut s = sig("a@b.example", "Re: order", "We confirm the order.");
        assert_eq!(classify(&s), Class::Human);
        s.auto_submitted = Some("auto-replied");
        assert_eq!(classify(&s), Class::AutoReply);
        s.auto_submitted = Some("no");
        assert_eq!(classify(&s), Class::Human);
        s.x_autoreply = true;
        assert_eq!(classify(&s), Class::AutoReply);
        let mut s = sig("a@b.example", "news", "x");
        s.precedence = Some("auto_reply");
        assert_eq!(classify(&s), Class::AutoReply);
        s.precedence = Some("bulk");
        assert_eq!(classify(&s), Class::Bulk);
        let mut s = sig("a@b.example", "weekly digest", "x");
        s.list_headers = true;
        assert_eq!(classify(&s), Class::Bulk);
    }

    #[test]
    fn subjects_and_openings_in_many_languages() {
        for subject in [
            "Out of Office: Re: Samples",
            "Automatic reply: PO 123",
            "自动回复：报价",
            "自動回覆: 樣品",
            "Respuesta automática: pedido",
            "Abwesenheitsnotiz: Angebot",
            "Réponse automatique : devis",
            "Автоматический ответ: заказ",
        ] {
            assert_eq!(
                classify(&sig("a@b.example", subject, "x")),
                Class::AutoReply,
                "{subject}"
            );
        }
        for text in [
            "Dear sender,\nI am out of the office until 12 December.",
            "您好，\n我将于12月12日返回办公室。",
            "Estoy fuera de la oficina hasta el 12 de diciembre.",
            "Obrigado pela mensagem. Estou fora do escritório até 12/12. Para assuntos urgentes fale com Ana.",
            "Спасибо за письмо. Я в отпуске до 12.12. По срочным вопросам обращайтесь к Ивану.",
        ] {
            assert_eq!(
                classify(&sig("a@b.example", "Re: x", text)),
                Class::AutoReply,
                "{text}"
            );
        }
        // Mentioning an absence later in a real message is not an auto-reply.
        let text =
            "Hi Leo,\nPlease send the PI today.\nNext week I am out of the office, so hurry.";
        assert_eq!(classify(&sig("a@b.example", "PI", text)), Class::Human);
    }

    #[test]
    fn bounces() {
        let mut s = sig(
            "MAILER-DAEMON@mx1.sinoexport.example",
            "Undelivered Mail Returned to Sender",
            "x",
        );
        assert_eq!(classify(&s), Class::Bounce);
        s.auto_submitted = Some("auto-replied");
        assert_eq!(
            classify(&s),
            Class::Bounce,
            "a bounce with Auto-Submitted is a bounce"
        );
        let mut s = sig(
            "postmaster@outlook.example",
            "Undeliverable: price list",
            "x",
        );
        assert_eq!(classify(&s), Class::Bounce);
        s = sig("someone@x.example", "report", "x");
        s.report = true;
        s.report_type = Some("delivery-status");
        assert_eq!(classify(&s), Class::Bounce);
        // A person called Postmaster writing normally is not a bounce without a bounce subject.
        assert_eq!(
            classify(&sig("postmaster@acme.example", "Re: order 55", "ok")),
            Class::Human
        );
    }

    #[test]
    fn scam_wording_detects_fraud() {
        assert!(scam_wording("Updated bank details for the credit note", ""));
        assert!(scam_wording("【优惠】各类发票代开，急用可加急", ""));
        assert!(scam_wording("代开各地增值税发票", ""));
        assert!(scam_wording(
            "Mailbox quota exceeded - verify your account",
            ""
        ));
        assert!(!scam_wording(
            "Re: price for 500 pcs",
            "Please send your bank details for the deposit."
        ));
    }
}
