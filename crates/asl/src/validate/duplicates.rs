//! Duplicate state names inside one `States` object. A parsed [`serde_json::Value`] keeps
//! only the last of two equal keys, so this check reads the definition's text.

use std::collections::HashSet;

use super::Diagnostic;

/// The `DUPLICATE_STATE_NAME` diagnostics of a definition given as (valid JSON) text.
pub(crate) fn duplicate_state_names(text: &str) -> Vec<Diagnostic> {
    let mut scanner = Scanner { text, pos: 0, found: Vec::new() };
    scanner.value("", None);
    scanner.found
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    found: Vec<Diagnostic>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// One value at `location`; `key` is the name of the member holding it.
    fn value(&mut self, location: &str, key: Option<&str>) {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(location, key == Some("States")),
            Some(b'[') => self.array(location),
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                let start = self.pos;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.pos += 1;
                }
                if self.pos == start {
                    self.pos += 1;
                }
            }
            None => {}
        }
    }

    fn object(&mut self, location: &str, states: bool) {
        self.pos += 1;
        let mut seen = HashSet::new();
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'"') => {
                    let key = self.string();
                    self.skip_whitespace();
                    if self.peek() == Some(b':') {
                        self.pos += 1;
                    }
                    let at = format!("{location}/{key}");
                    if !seen.insert(key.clone()) && states {
                        self.found.push(Diagnostic::new(
                            "DUPLICATE_STATE_NAME",
                            format!("Duplicate State name: {key}"),
                            at.clone(),
                        ));
                    }
                    self.value(&at, Some(&key));
                }
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return;
                }
                _ => return,
            }
        }
    }

    fn array(&mut self, location: &str) {
        self.pos += 1;
        let mut index = 0;
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return;
                }
                Some(b',') => {
                    self.pos += 1;
                    index += 1;
                }
                Some(_) => self.value(&format!("{location}[{index}]"), None),
                None => return,
            }
        }
    }

    /// A string token, decoded.
    fn string(&mut self) -> String {
        let start = self.pos;
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += if c == b'\\' { 2 } else { 1 };
            if c == b'"' {
                break;
            }
        }
        let end = self.pos.min(self.text.len());
        self.text.get(start..end).and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::duplicate_state_names;

    #[test]
    fn finds_duplicates_in_every_states_object() {
        let text = r#"{"StartAt": "A", "States": {
            "A": {"Type": "Parallel", "End": true, "Parameters": {"x": 1, "x": 2}, "Branches": [
                {"StartAt": "B", "States": {"B": {"Type": "Succeed"}, "B": {"Type": "Succeed"}}}]},
            "A\u0041": {"Type": "Succeed"}, "A": {"Type": "Succeed"}}}"#;
        let found: Vec<String> = duplicate_state_names(text)
            .into_iter()
            .map(|d| format!("{} at {}", d.message, d.location))
            .collect();
        assert_eq!(
            found,
            [
                "Duplicate State name: B at /States/A/Branches[0]/States/B",
                "Duplicate State name: A at /States/A",
            ]
        );
    }
}
