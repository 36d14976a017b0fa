//! Where messages come from: Maildir folders and mbox files (one-shot imports) and IMAP
//! accounts (the daemon's live source).

pub mod imap;
pub mod maildir;
pub mod mbox;
pub mod oauth;
pub mod utf7;
pub mod whatsapp;

/// Names mail clients and servers give their Sent folder (compared case-insensitively, also as
/// the last part of a path such as `INBOX.Sent` or `[Gmail]/Sent Mail`).
pub const SENT_NAMES: &[&str] = &[
    "Sent",
    "Sent Items",
    "Sent Messages",
    "Sent Mail",
    "[Gmail]/Sent Mail",
    "INBOX.Sent",
    "INBOX/Sent",
    "INBOX.Sent Items",
    "已发送",
    "已发送邮件",
    "已傳送郵件",
    "寄件備份",
    "Gesendet",
    "Gesendete Objekte",
    "Gesendete Elemente",
    "Enviados",
    "Elementos enviados",
    "Itens Enviados",
    "Envoyés",
    "Éléments envoyés",
    "Отправленные",
    "Posta inviata",
    "Gönderilmiş Öğeler",
    "Gönderilenler",
    "送信済みアイテム",
    "送信済み",
];

/// Is `name` (a folder path) a Sent folder by its name?
pub fn is_sent_name(name: &str) -> bool {
    let last = name.rsplit(['/', '.']).next().unwrap_or(name);
    SENT_NAMES
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name) || s.eq_ignore_ascii_case(last))
}
