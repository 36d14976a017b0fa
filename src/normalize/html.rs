//! HTML → readable text, dropping quoted history that mail clients mark up in HTML
//! (`<blockquote>`, Gmail's `gmail_quote`, Outlook's `divRplyFwdMsg` / `appendonsend`,
//! Thunderbird's `moz-cite-prefix`, Yahoo's `yahoo_quoted`) along with `<head>`, `<style>`
//! and `<script>`.

/// Tags whose whole content is never text.
const SKIP_TAGS: &[&str] = &[
    "head", "style", "script", "title", "template", "xml", "noscript",
];

/// Tags that end a line.
const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "br",
    "tr",
    "li",
    "ul",
    "ol",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "blockquote",
    "pre",
    "section",
    "article",
    "header",
    "footer",
    "dd",
    "dt",
    "center",
];

/// Markers (in `class` or `id`) of a quoted-history container.
const QUOTE_MARKERS: &[&str] = &[
    "gmail_quote",
    "gmail_extra",
    "yahoo_quoted",
    "moz-cite-prefix",
    "protonmail_quote",
    "zmail_extra",
    "ms-outlook-mobile-reference-message",
];

/// Markers after which everything is quoted history (Outlook puts the quote after them, not
/// inside them).
const CUT_MARKERS: &[&str] = &[
    "divrplyfwdmsg",
    "appendonsend",
    "mail-editor-reference-message-container",
];

/// Convert HTML to text with quoted history removed.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let bytes = html.as_bytes();
    let mut i = 0;
    // Stack depth counters for skipped regions.
    let mut skip: Option<(String, usize)> = None; // (tag, nesting depth)
    let mut pre_depth = 0usize;
    // Set once a tag runs to the end of the input without its '>': no later '<' can open a
    // tag either, so they are text (a browser drops the rest of such a document). Without it,
    // each '<' would rescan to the end: quadratic on "<a<a<a…".
    let mut unterminated = false;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            // Comments and declarations.
            if html[i..].starts_with("<!--") {
                i = match html[i + 4..].find("-->") {
                    Some(end) => i + 4 + end + 3,
                    None => bytes.len(),
                };
                continue;
            }
            let end = match find_tag_end(bytes, i + 1, &mut unterminated) {
                Some(e) => e,
                None => {
                    // A lone '<' in text.
                    if skip.is_none() {
                        out.push('<');
                    }
                    i += 1;
                    continue;
                }
            };
            let inner = &html[i + 1..end];
            i = end + 1;
            let closing = inner.starts_with('/');
            let name = tag_name(inner.trim_start_matches('/'));
            if name.is_empty() {
                continue;
            }
            if let Some((ref tag, ref mut depth)) = skip {
                if name == *tag {
                    if closing {
                        *depth -= 1;
                        if *depth == 0 {
                            skip = None;
                            newline(&mut out);
                        }
                    } else if !inner.ends_with('/') {
                        *depth += 1;
                    }
                }
                continue;
            }
            if closing {
                if name == "pre" {
                    pre_depth = pre_depth.saturating_sub(1);
                }
                if BLOCK_TAGS.contains(&name.as_str()) {
                    newline(&mut out);
                }
                continue;
            }
            // The class and id values, lower-cased, read once per tag.
            let attrs = inner.to_ascii_lowercase();
            let tokens: Vec<&str> = ["class", "id"]
                .iter()
                .filter_map(|a| attr_value_in(&attrs, &attrs, a))
                .flat_map(|v| v.split(|c: char| c.is_whitespace()))
                .collect();
            let mentions = |marker: &str| tokens.iter().any(|t| t.starts_with(marker));
            if CUT_MARKERS.iter().any(|m| mentions(m)) {
                break;
            }
            let self_closing = inner.ends_with('/');
            if SKIP_TAGS.contains(&name.as_str())
                || name == "blockquote"
                || QUOTE_MARKERS.iter().any(|m| mentions(m))
            {
                if !self_closing && !is_void(&name) {
                    skip = Some((name, 1));
                }
                continue;
            }
            match name.as_str() {
                "pre" => {
                    pre_depth += 1;
                    newline(&mut out);
                }
                "td" | "th" if !out.ends_with(['\n', ' ', '\t']) && !out.is_empty() => {
                    out.push('\t');
                }
                "li" => {
                    newline(&mut out);
                    out.push_str("- ");
                }
                "img" => {
                    if let Some(alt) = attr_value(inner, "alt")
                        && !alt.trim().is_empty()
                    {
                        out.push_str(&decode_entities(alt.trim()));
                    }
                }
                n if BLOCK_TAGS.contains(&n) => newline(&mut out),
                _ => {}
            }
            continue;
        }
        // Text run up to the next tag.
        let next = html[i..].find('<').map(|p| i + p).unwrap_or(bytes.len());
        if skip.is_none() {
            let text = decode_entities(&html[i..next]);
            if pre_depth > 0 {
                out.push_str(&text);
            } else {
                push_collapsed(&mut out, &text);
            }
        }
        i = next;
    }
    tidy(&out)
}

fn find_tag_end(bytes: &[u8], mut i: usize, unterminated: &mut bool) -> Option<usize> {
    if *unterminated {
        return None;
    }
    // A tag must start with a letter, '/' or '!'.
    match bytes.get(i) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'/' || *c == b'!' || *c == b'?' => {}
        _ => return None,
    }
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => return Some(i),
            None => {}
        }
        i += 1;
    }
    *unterminated = true;
    None
}

fn tag_name(inner: &str) -> String {
    inner
        .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .trim_start_matches("o:")
        .to_string()
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "br" | "img" | "hr" | "meta" | "link" | "input" | "col" | "area" | "base" | "wbr"
    )
}

/// The value of attribute `name` (lower case) in a tag's inside.
fn attr_value<'a>(inner: &'a str, name: &str) -> Option<&'a str> {
    let lower = inner.to_ascii_lowercase();
    attr_value_in(inner, &lower, name)
}

/// `attr_value` with the lower-cased tag already at hand.
fn attr_value_in<'a>(inner: &'a str, lower: &str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(pos) = lower[from..].find(name) {
        let start = from + pos;
        from = start + name.len();
        let before_ok = start == 0
            || lower.as_bytes()[start - 1].is_ascii_whitespace()
            || lower.as_bytes()[start - 1] == b'"';
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let offset = inner.len() - rest.len() + 1;
        let value = inner[offset..].trim_start();
        return Some(match value.as_bytes().first() {
            Some(q @ (b'"' | b'\'')) => {
                let v = &value[1..];
                &v[..v.find(*q as char).unwrap_or(v.len())]
            }
            _ => {
                let end = value
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(value.len());
                &value[..end]
            }
        });
    }
    None
}

fn newline(out: &mut String) {
    while out.ends_with([' ', '\t']) {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn push_collapsed(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !out.is_empty() && !out.ends_with([' ', '\n', '\t']) {
                out.push(' ');
            }
        } else if c == '\u{a0}' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
}

/// Collapse runs of blank lines and trim lines.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let l = line.trim_end();
        if l.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank > 0 {
                out.push('\n');
            }
        }
        blank = 0;
        out.push_str(l.trim_start_matches(' '));
    }
    out
}

/// Decode HTML character references (named ones that mail uses, and numeric ones).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        // An entity is short: look at most 13 bytes ahead (not to the next terminator,
        // which may be far away on every '&').
        let end = rest.as_bytes()[1..]
            .iter()
            .take(13)
            .position(|&c| c == b';' || c == b'&' || c.is_ascii_whitespace() || c == b'<')
            .map(|e| e + 1);
        let (entity, consumed) = match end {
            Some(e) if rest.as_bytes()[e] == b';' && e <= 12 => (&rest[1..e], e + 1),
            _ => ("", 0),
        };
        let decoded = if let Some(num) = entity.strip_prefix('#') {
            let code = if let Some(hex) = num.strip_prefix(['x', 'X']) {
                u32::from_str_radix(hex, 16).ok()
            } else {
                num.parse::<u32>().ok()
            };
            code.and_then(char::from_u32).map(|c| c.to_string())
        } else {
            named_entity(entity).map(str::to_string)
        };
        match decoded {
            Some(d) if consumed > 0 => {
                out.push_str(&d);
                rest = &rest[consumed..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "apos" => "'",
        "nbsp" => " ",
        "ensp" | "emsp" | "thinsp" => " ",
        "zwnj" | "zwj" | "shy" => "",
        "ndash" => "–",
        "mdash" => "—",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        "laquo" => "«",
        "raquo" => "»",
        "hellip" => "…",
        "bull" => "•",
        "middot" => "·",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "deg" => "°",
        "plusmn" => "±",
        "times" => "×",
        "divide" => "÷",
        "frac12" => "½",
        "sect" => "§",
        "para" => "¶",
        "iexcl" => "¡",
        "iquest" => "¿",
        "aacute" => "á",
        "eacute" => "é",
        "iacute" => "í",
        "oacute" => "ó",
        "uacute" => "ú",
        "Aacute" => "Á",
        "Eacute" => "É",
        "Iacute" => "Í",
        "Oacute" => "Ó",
        "Uacute" => "Ú",
        "ntilde" => "ñ",
        "Ntilde" => "Ñ",
        "agrave" => "à",
        "egrave" => "è",
        "ograve" => "ò",
        "ugrave" => "ù",
        "acirc" => "â",
        "ecirc" => "ê",
        "ocirc" => "ô",
        "ucirc" => "û",
        "atilde" => "ã",
        "otilde" => "õ",
        "ccedil" => "ç",
        "Ccedil" => "Ç",
        "auml" => "ä",
        "ouml" => "ö",
        "uuml" => "ü",
        "Auml" => "Ä",
        "Ouml" => "Ö",
        "Uuml" => "Ü",
        "szlig" => "ß",
        "euml" => "ë",
        "iuml" => "ï",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_entities() {
        let t = html_to_text(
            "<html><head><style>p{color:red}</style><title>x</title></head><body>\
             <p>Hello&nbsp;there,</p><p>we need <b>best</b> pri<span>ce</span> &amp; terms.<br>Thanks</p>\
             <table><tr><td>A</td><td>B</td></tr></table></body></html>",
        );
        assert_eq!(t, "Hello there,\nwe need best price & terms.\nThanks\nA\tB");
    }

    #[test]
    fn drops_gmail_quote_and_blockquote() {
        let t = html_to_text(
            "<div dir=\"ltr\">New text here</div><br><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon wrote:</div>\
             <blockquote class=\"gmail_quote\">old <div>nested</div> text</blockquote></div>",
        );
        assert_eq!(t, "New text here");
        let t = html_to_text(
            "<p>Mine</p><blockquote type=\"cite\"><p>theirs</p><blockquote>deeper</blockquote></blockquote><p>after</p>",
        );
        assert_eq!(t, "Mine\nafter");
    }

    #[test]
    fn cuts_at_outlook_reply_marker() {
        let t = html_to_text(
            "<div>Please send the PI.</div><div id=\"appendonsend\"></div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> x</div><div>old price</div>",
        );
        assert_eq!(t, "Please send the PI.");
    }

    #[test]
    fn numeric_entities_and_stray_brackets() {
        assert_eq!(
            html_to_text("a &#20215;&#x683C; 3 < 4 &bogus; &"),
            "a 价格 3 < 4 &bogus; &"
        );
        assert_eq!(decode_entities("&lt;b&gt;"), "<b>");
    }
}
