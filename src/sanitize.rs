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
    c == '\u{1b}' || c == '\n' || c == '\t' || c == '\r' || is_dangerous(c)
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
    fn truncation_marks_the_cut() {
        assert_eq!(clean_truncated("abcdef", 4), "abc…");
        assert_eq!(clean_truncated("abc", 4), "abc");
    }
}
