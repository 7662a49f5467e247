//! Text without a font: approximate widths, truncation by characters, and XML escaping.
//!
//! The layout cannot measure text (no fonts here, and the SVG names only generic
//! families), so widths are estimates per character class of a sans-serif face. They err on
//! the wide side, so labels fit their boxes in common fonts.

/// The approximate width in pixels of `s` set at `size` pixels.
pub(crate) fn width(s: &str, size: f64, bold: bool) -> f64 {
    let em: f64 = s.chars().map(char_em).sum();
    em * size * if bold { 1.07 } else { 1.0 }
}

/// The width of one character in ems.
fn char_em(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | '`' => 0.3,
        ' ' | 'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '{' | '}' | '/' | '\\' | '-' => 0.38,
        'm' | 'w' | 'M' | 'W' | '@' | '%' => 0.88,
        'A'..='Z' | '&' | '#' | '~' | '=' | '<' | '>' | '+' => 0.68,
        '\u{0}'..='\u{7f}' => 0.57,
        // East Asian wide characters and emoji take a full em.
        '\u{1100}'..='\u{115f}'
        | '\u{2e80}'..='\u{a4cf}'
        | '\u{ac00}'..='\u{d7a3}'
        | '\u{f900}'..='\u{faff}'
        | '\u{fe30}'..='\u{fe4f}'
        | '\u{ff00}'..='\u{ff60}'
        | '\u{ffe0}'..='\u{ffe6}'
        | '\u{1f300}'..='\u{1faff}'
        | '\u{20000}'..='\u{3fffd}' => 1.0,
        _ => 0.65,
    }
}

/// `s` cut to at most `max` characters, the last of them an ellipsis when it was cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `s` made safe for XML text and attribute values: the five markup characters become
/// entities, and characters XML 1.0 does not allow become U+FFFD.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A one-line version of `s`: every run of whitespace (line breaks included) becomes a space.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("短い名前です", 3), "短い…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 0), "…");
    }

    #[test]
    fn escaping_covers_markup_and_forbidden_characters() {
        assert_eq!(escape(r#"<a & 'b' "c">"#), "&lt;a &amp; &#39;b&#39; &quot;c&quot;&gt;");
        assert_eq!(escape("x\u{1}y"), "x\u{fffd}y");
    }

    #[test]
    fn wide_characters_are_wider() {
        assert!(width("ＡＢ", 13.0, false) > width("ab", 13.0, false));
        assert!(width("Mw", 13.0, true) > width("il", 13.0, true));
    }
}
