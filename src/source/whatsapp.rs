//! WhatsApp Business Cloud API webhook bodies → chat events. Pure: bytes in, events out.
//!
//! One body may carry several entries, changes, messages and statuses. Customer messages
//! (`messages`), echoes of what the business sent from the WhatsApp Business app
//! (`smb_message_echoes`) and statuses of our own outbound messages (`statuses`) become events;
//! every other field is ignored (the raw body is kept by the caller). Unknown keys are ignored.

use serde::Deserialize;
use serde_json::Value;

pub use crate::address::phone_variants;
pub use crate::message::{ChatEvent, EventKind};

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

/// Parse a webhook body. Err: not JSON, or not an object with an `entry` list.
pub fn parse(body: &[u8]) -> Result<Vec<ChatEvent>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    if value.get("entry").is_some_and(|e| !e.is_array()) {
        return Err("`entry` is not a list".into());
    }
    let body: Body =
        serde_json::from_value(value).map_err(|e| format!("not a webhook body: {e}"))?;
    let mut out = Vec::new();
    for entry in body.entry {
        for change in entry.changes {
            let v = &change.value;
            let business = v
                .pointer("/metadata/display_phone_number")
                .and_then(Value::as_str)
                .map(str::to_string);
            // wa_id ↔ user_id ↔ profile name, from the contacts list.
            let contacts: Vec<(Option<&str>, Option<&str>, Option<&str>)> = v
                .get("contacts")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            (
                                c.get("wa_id").and_then(Value::as_str),
                                c.get("user_id").and_then(Value::as_str),
                                c.pointer("/profile/name").and_then(Value::as_str),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let contact = |wa: Option<&str>, user: Option<&str>| {
                contacts
                    .iter()
                    .find(|(w, u, _)| (wa.is_some() && *w == wa) || (user.is_some() && *u == user))
                    .or_else(|| (contacts.len() == 1).then(|| &contacts[0]))
                    .copied()
            };
            // One event from a message, echo or status object: who (`wa`, `user` keys), with
            // the contacts list filling in what the object leaves out (not for statuses).
            let event =
                |obj: &Value, kind: EventKind, wa: &str, user: &str, business: Option<String>| {
                    let wa = str_of(obj, wa);
                    let user = str_of(obj, user);
                    let status = kind == EventKind::Status;
                    let c = if status {
                        None
                    } else {
                        contact(wa.as_deref(), user.as_deref())
                    };
                    ChatEvent {
                        id: str_of(obj, "id").unwrap_or_default(),
                        kind,
                        wa_id: wa.or_else(|| c.and_then(|c| c.0).map(str::to_string)),
                        user_id: user.or_else(|| c.and_then(|c| c.1).map(str::to_string)),
                        name: c.and_then(|c| c.2).map(str::to_string),
                        business_number: business,
                        timestamp: timestamp(obj),
                        detail: str_of(obj, if status { "status" } else { "type" })
                            .unwrap_or_else(|| "unknown".into()),
                        text: if status {
                            String::new()
                        } else {
                            message_text(obj)
                        },
                        channel: "whatsapp".into(),
                        rep: None,
                        raw: obj.to_string(),
                    }
                };
            match change.field.as_str() {
                "messages" => {
                    for m in array(v, "messages") {
                        out.push(event(
                            m,
                            EventKind::Inbound,
                            "from",
                            "from_user_id",
                            business.clone(),
                        ));
                    }
                    for st in array(v, "statuses") {
                        out.push(event(
                            st,
                            EventKind::Status,
                            "recipient_id",
                            "recipient_user_id",
                            business.clone(),
                        ));
                    }
                }
                "smb_message_echoes" => {
                    for m in array(v, "message_echoes") {
                        let ours = str_of(m, "from").or_else(|| business.clone());
                        out.push(event(m, EventKind::Echo, "to", "to_user_id", ours));
                    }
                }
                _ => {}
            }
        }
    }
    out.retain(|e| !e.id.is_empty());
    Ok(out)
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Timestamps are strings of Unix seconds.
fn timestamp(v: &Value) -> i64 {
    str_of(v, "timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .map(|s| s * 1000)
        .unwrap_or(0)
}

/// The words of a message of any type: text, caption, the chosen reply, a location's name.
pub fn message_text(m: &Value) -> String {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
    let get = |p: &str| m.pointer(p).and_then(Value::as_str).unwrap_or("");
    let mut parts: Vec<String> = match kind {
        "text" => vec![get("/text/body").into()],
        "image" | "video" | "sticker" => vec![get(&format!("/{kind}/caption")).into()],
        "document" => vec![get("/document/caption").into()],
        "interactive" => vec![
            get("/interactive/button_reply/title").into(),
            get("/interactive/list_reply/title").into(),
            get("/interactive/list_reply/description").into(),
            get("/interactive/nfm_reply/body").into(),
        ],
        "button" => vec![get("/button/text").into()],
        "location" => vec![
            get("/location/name").into(),
            get("/location/address").into(),
        ],
        "contacts" => m
            .get("contacts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                c.pointer("/name/formatted_name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect(),
        "order" => vec![get("/order/text").into()],
        "system" => vec![get("/system/body").into()],
        "edit" => vec![
            get("/edit/message/text/body").into(),
            get("/edit/message/image/caption").into(),
        ],
        "reaction" | "audio" | "unsupported" | "revoke" => Vec::new(),
        _ => vec![get("/text/body").into()],
    };
    parts.retain(|p| !p.trim().is_empty());
    parts.join("\n")
}

/// The pipeline inputs of a webhook body's events. Each message is idempotent on its id;
/// each status on (id, status), so Meta's retries of a delivery store nothing twice.
pub fn inbound_of(events: Vec<ChatEvent>, received_at: i64) -> Vec<crate::message::Inbound> {
    events
        .into_iter()
        .map(|e| {
            let source_key = match e.kind {
                EventKind::Status => format!("wa:{}:{}", e.id, e.detail),
                _ => format!("wa:{}", e.id),
            };
            let mailbox = match &e.business_number {
                Some(b) => format!("whatsapp:+{b}"),
                None => "whatsapp".into(),
            };
            crate::message::Inbound {
                origin: crate::message::Origin {
                    source_key,
                    mailbox,
                    rep: None,
                    received_at,
                    verify_sender: false,
                },
                payload: crate::message::Payload::Chat(Box::new(e)),
            }
        })
        .collect()
}

/// `keepwarm ingest whatsapp PATH...`: saved webhook bodies (files, or directories of `*.json`)
/// through the same parser. A file that is not a webhook body is kept as a failure.
pub fn read_paths(paths: &[std::path::PathBuf]) -> std::io::Result<Vec<crate::message::Pending>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut in_dir: Vec<_> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            in_dir.sort();
            files.extend(in_dir);
        } else {
            files.push(p.clone());
        }
    }
    let now = crate::store::now_ms();
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f)?;
        match parse(&bytes) {
            Ok(events) => out.extend(
                inbound_of(events, now)
                    .into_iter()
                    .map(crate::message::Pending::ready),
            ),
            Err(why) => out.push(crate::message::Pending::ready(crate::message::Inbound {
                origin: crate::message::Origin {
                    source_key: format!("wa-file:{}", f.display()),
                    mailbox: "whatsapp".into(),
                    rep: None,
                    received_at: now,
                    verify_sender: false,
                },
                payload: crate::message::Payload::Unreadable(format!(
                    "not a WhatsApp webhook body: {why}"
                )),
            })),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"object":"whatsapp_business_account","entry":[
      {"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp",
        "metadata":{"display_phone_number":"8613957400001","phone_number_id":"9"},
        "contacts":[{"profile":{"name":"Ana"},"wa_id":"5511987654321","user_id":"BR.123"}],
        "messages":[
          {"from":"5511987654321","id":"wamid.A","timestamp":"1780000000","type":"text","text":{"body":"Preciso de amostras"}},
          {"from":"5511987654321","id":"wamid.B","timestamp":"1780000001","type":"image","image":{"id":"m","caption":"this one"}},
          {"from":"5511987654321","id":"wamid.C","timestamp":"1780000002","type":"reaction","reaction":{"message_id":"wamid.X","emoji":"👍"}},
          {"from_user_id":"BR.123","id":"wamid.D","timestamp":"1780000003","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"b","title":"Yes, confirm"}}},
          {"from":"5511987654321","id":"wamid.E","timestamp":"1780000004","type":"unsupported","errors":[{"code":131051}]}],
        "statuses":[{"id":"wamid.OUT","status":"read","timestamp":"1780000005","recipient_id":"5215512345678"}]}}]},
      {"id":"2","changes":[{"field":"smb_message_echoes","value":{"metadata":{"display_phone_number":"8613957400001"},
        "message_echoes":[{"from":"8613957400001","to":"4915112345678","id":"wamid.ECHO","timestamp":"1780000006","type":"text","text":{"body":"Sent from the app"}}]}},
        {"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}}]}]}"#;

    #[test]
    fn every_message_status_and_echo_of_a_body() {
        let events = parse(BODY.as_bytes()).unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "wamid.A",
                "wamid.B",
                "wamid.C",
                "wamid.D",
                "wamid.E",
                "wamid.OUT",
                "wamid.ECHO"
            ]
        );
        assert_eq!(events[0].text, "Preciso de amostras");
        assert_eq!(events[0].phone().as_deref(), Some("+5511987654321"));
        assert_eq!(events[0].user_id.as_deref(), Some("BR.123"));
        assert_eq!(events[0].name.as_deref(), Some("Ana"));
        assert_eq!(events[0].timestamp, 1_780_000_000_000);
        assert_eq!(events[1].text, "this one");
        assert_eq!(
            (events[2].detail.as_str(), events[2].text.as_str()),
            ("reaction", "")
        );
        // BSUID only: the contact list supplies the phone.
        assert_eq!(events[3].wa_id.as_deref(), Some("5511987654321"));
        assert_eq!(events[3].text, "Yes, confirm");
        assert_eq!(events[5].kind, EventKind::Status);
        assert!(events[5].status_counts());
        assert_eq!(events[6].kind, EventKind::Echo);
        assert_eq!(events[6].phone().as_deref(), Some("+4915112345678"));
    }

    #[test]
    fn malformed_bodies_are_errors_and_unknown_fields_are_ignored() {
        assert!(parse(b"{not json").is_err());
        assert!(parse(b"[1,2]").is_err());
        assert!(parse(br#"{"entry": 5}"#).is_err());
        assert_eq!(
            parse(br#"{"object":"x","entry":[],"extra":{"a":1}}"#).unwrap(),
            vec![]
        );
    }

    #[test]
    fn national_quirks_give_the_other_forms() {
        assert!(phone_variants("+5511987654321").contains(&"+551187654321".to_string()));
        assert!(phone_variants("+551187654321").contains(&"+5511987654321".to_string()));
        assert!(phone_variants("+5215512345678").contains(&"+525512345678".to_string()));
        assert!(phone_variants("+525512345678").contains(&"+5215512345678".to_string()));
        assert!(phone_variants("+5491123456789").contains(&"+541123456789".to_string()));
        assert_eq!(phone_variants("+14155550100"), ["+14155550100"]);
    }
}
