//! The line an operator should look at when a Sigma file is refused: the
//! line a parser's message names, else the first line Sigma's own linter
//! marks as an error, else the line that names the failing rule.

use rsigma_parser::lint::{Severity, lint_yaml_str};

use super::load::Refusal;

/// A refusal of `text` for `message`, at the best line known.
pub(super) fn refusal(text: &str, message: &str) -> Refusal {
    // A condition's parser counts lines within the condition: the file's
    // line is the one holding that condition.
    let line = condition_line(text, message)
        .or_else(|| line_in_message(message))
        .or_else(|| named_line(text, message))
        .or_else(|| linted_line(text))
        .unwrap_or(1);
    Refusal {
        line,
        reason: one_line(message),
    }
}

/// A refusal of one rule of `text`, at the line holding `needle` (its
/// title) unless the message or the linter says better.
pub(super) fn rule_refusal(text: &str, needle: &str, message: &str) -> Refusal {
    let line = line_in_message(message)
        .or_else(|| named_line(text, message))
        .unwrap_or_else(|| line_of(text, needle));
    Refusal {
        line,
        reason: one_line(message),
    }
}

/// The first line of `text` containing `needle` (1 when none does).
pub fn line_of(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|l| !needle.is_empty() && l.contains(needle))
        .map_or(1, |i| i as u32 + 1)
}

/// The line of the `condition:` a condition parser's message quotes
/// (its excerpt line reads `1 | <condition>`).
fn condition_line(text: &str, message: &str) -> Option<u32> {
    if !message.starts_with("Condition") {
        return None;
    }
    let quoted = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("1 | "))
        .map(str::trim);
    let is_condition = |l: &str| {
        let l = l.trim_start().trim_start_matches("- ");
        l.starts_with("condition:") && quoted.is_none_or(|q| l.contains(q))
    };
    text.lines()
        .position(is_condition)
        .or_else(|| {
            text.lines()
                .position(|l| l.trim_start().starts_with("condition:"))
        })
        .map(|i| i as u32 + 1)
}

/// "... at line 7 column 3": the YAML parser's and the condition parser's
/// way of saying where.
fn line_in_message(message: &str) -> Option<u32> {
    let (_, after) = message.split_once("line ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|&n| n > 0)
}

/// The line of what the message names: the text after its last `: `
/// ("unknown detection identifier: selektion"), else its last quoted
/// word ("Unknown modifier 'containz'").
fn named_line(text: &str, message: &str) -> Option<u32> {
    let last = message.rsplit(": ").next().map(str::trim);
    let quoted = message
        .split(['\'', '"'])
        .skip(1)
        .step_by(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev();
    last.into_iter()
        .chain(quoted)
        .filter(|w| w.len() >= 2)
        .find_map(|w| text.lines().position(|l| l.contains(w)))
        .map(|i| i as u32 + 1)
}

fn linted_line(text: &str) -> Option<u32> {
    lint_yaml_str(text)
        .into_iter()
        .filter(|w| w.severity == Severity::Error)
        .find_map(|w| w.span)
        .map(|span| span.start_line + 1)
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_line_wins_then_the_needle() {
        assert_eq!(line_in_message("bad at line 7 column 3"), Some(7));
        assert_eq!(line_in_message("no where"), None);
        assert_eq!(line_of("a\nb title\nc", "title"), 2);
        assert_eq!(line_of("a\nb", "zzz"), 1);
        assert_eq!(
            refusal(
                "x: 1\n",
                "YAML parse error: mapping values are not allowed at line 3 column 9"
            )
            .line,
            3
        );
    }
}
