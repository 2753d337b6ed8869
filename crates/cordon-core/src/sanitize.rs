//! Strings from the API are untrusted. Before any of them reaches a terminal, escape
//! sequences (CSI, OSC, DCS, …), C0/C1 control characters and bidi overrides are removed,
//! so a machine named `\x1b]0;pwned\x07` cannot retitle the window or hide text.

use std::borrow::Cow;

/// Remove terminal escape sequences and control characters; keep printable text,
/// including non-Latin scripts and wide characters. Newlines and tabs become spaces,
/// so one value stays on one line.
pub fn clean(input: &str) -> Cow<'_, str> {
    if !input.chars().any(needs_work) {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI / OSC / DCS / SOS / PM / APC introducers (8-bit forms).
            '\u{9b}' => skip_csi_body(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string_body(&mut chars),
            '\n' | '\t' | '\r' => out.push(' '),
            // Shown, not dropped: two names that differ only by an invisible
            // character must not print identically.
            c if is_invisible(c) => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c if is_dangerous(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Clean and cut to at most `max_chars` characters (an ellipsis marks the cut).
pub fn clean_truncated(input: &str, max_chars: usize) -> String {
    let cleaned = clean(input);
    if cleaned.chars().count() <= max_chars {
        return cleaned.into_owned();
    }
    let mut s: String = cleaned.chars().take(max_chars.saturating_sub(1)).collect();
    s.push('…');
    s
}

fn needs_work(c: char) -> bool {
    c == '\u{1b}' || c == '\n' || c == '\t' || c == '\r' || is_dangerous(c) || is_invisible(c)
}

/// A character that must never be written to a terminal: a control character (it can
/// start an escape sequence) or a bidi control (it reorders what is shown).
pub fn is_terminal_unsafe(c: char) -> bool {
    is_dangerous(c)
}

/// A character a reader cannot see as itself: a control, a bidi control, or an
/// invisible formatting character. Comments with one are refused.
pub fn is_hidden(c: char) -> bool {
    is_dangerous(c) || is_invisible(c)
}

/// Characters that print as nothing (zero-width, soft hyphen, line and paragraph
/// separators, invisible fillers, tag characters): harmless to the terminal but able
/// to make two different names look the same.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200d}'     // zero-width space, non-joiner, joiner
        | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
        | '\u{00ad}'                // soft hyphen
        | '\u{034f}'                // combining grapheme joiner
        | '\u{180e}'                // Mongolian vowel separator
        | '\u{2028}' | '\u{2029}'    // line and paragraph separators
        | '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}' // Hangul fillers
        | '\u{e0000}'..='\u{e007f}' // tag characters
    )
}

/// Every line of a multi-line text cleaned, line breaks kept: the CLI's one path to
/// the terminal for plain output, whatever was formatted into it.
pub fn clean_lines(input: &str) -> Cow<'_, str> {
    if !input.chars().any(|c| c != '\n' && needs_work(c)) {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    for (i, line) in input.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&clean(line));
    }
    Cow::Owned(out)
}

/// JSON text with every control, bidi and invisible character outside ASCII written
/// as a `\uXXXX` escape. Such characters can only occur inside JSON strings, so the
/// result is the same JSON value, and no raw C1 or bidi character reaches a terminal
/// or a pager.
pub fn escape_json_text(json: &str) -> Cow<'_, str> {
    let risky = |c: char| !c.is_ascii() && (is_dangerous(c) || is_invisible(c));
    if !json.chars().any(risky) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if risky(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", u);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Control characters and the invisible formatting characters that can reorder or
/// hide text (bidi overrides and isolates, zero-width marks used for spoofing).
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{202a}'..='\u{202e}'   // LRE RLE PDF LRO RLO
            | '\u{2066}'..='\u{2069}' // LRI RLI FSI PDI
            | '\u{200e}' | '\u{200f}' // LRM RLM
            | '\u{061c}'              // ALM
            | '\u{feff}'              // BOM / ZWNBSP
        )
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi_body(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string_body(chars),
        // Two-character escapes (ESC 7, ESC c, ESC ( B …): the intermediate bytes
        // 0x20-0x2f are followed by one final byte.
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            chars.next();
        }
        _ => {}
    }
}

/// CSI: parameter and intermediate bytes, then one final byte in 0x40-0x7e.
fn skip_csi_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            return; // malformed: stop eating
        }
    }
}

/// OSC/DCS/etc: everything up to BEL, ST (ESC \) or the 8-bit ST.
fn skip_string_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{07}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(clean("WS-0042.contoso.com"), Cow::Borrowed(_)));
        assert_eq!(clean("Ünïcødé 東京 😀"), "Ünïcødé 東京 😀");
    }

    #[test]
    fn csi_and_osc_sequences_are_removed() {
        assert_eq!(clean("a\u{1b}[31mred\u{1b}[0mb"), "aredb");
        assert_eq!(clean("x\u{1b}]0;pwned\u{07}y"), "xy");
        assert_eq!(
            clean("x\u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\y"),
            "xlinky"
        );
        assert_eq!(clean("\u{9b}2Jz"), "z");
    }

    #[test]
    fn controls_and_bidi_overrides_are_removed() {
        assert_eq!(clean("a\u{0}b\u{7}c\u{8}d"), "abcd");
        assert_eq!(clean("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(clean("line1\nline2\ttab"), "line1 line2 tab");
    }

    #[test]
    fn invisible_characters_are_made_visible() {
        assert_eq!(clean("ws\u{200b}1"), "ws\\u{200b}1");
        assert_eq!(clean("a\u{ad}b\u{2028}c"), "a\\u{ad}b\\u{2028}c");
        assert_eq!(clean("x\u{e0041}"), "x\\u{e0041}");
        assert_ne!(clean("ws1"), clean("ws\u{2060}1"));
    }

    #[test]
    fn lines_keep_their_breaks_and_lose_escapes() {
        assert_eq!(
            clean_lines("a\u{1b}]52;c;eA==\u{7}b\nc\u{9b}2Jd\n"),
            "ab\ncd\n"
        );
        assert!(matches!(clean_lines("plain\ntext\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escapes_stay_valid_json() {
        let raw = serde_json::to_string(&serde_json::json!({
            "name": "a\u{9b}2J\u{202e}b\u{200b}c\u{e0041}é"
        }))
        .expect("json");
        let safe = escape_json_text(&raw);
        assert!(
            !safe.contains('\u{9b}') && !safe.contains('\u{202e}'),
            "{safe}"
        );
        assert!(
            safe.contains("\\u009b") && safe.contains("\\udb40\\udc41"),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back["name"], "a\u{9b}2J\u{202e}b\u{200b}c\u{e0041}é");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(clean_truncated("abcdef", 4), "abc…");
        assert_eq!(clean_truncated("abc", 4), "abc");
    }
}
