//! `{{var}}` placeholders: splitting a prompt, listing and filling its variables.

use super::MAX_VAR_NAME_BYTES;
use super::TemplateError;

/// What variable names are made of.
pub(super) const VAR_NAME_RULE: &str = "1-64 characters of A-Z a-z 0-9 _ - .";

/// Returns whether `name` is a variable name: 1-64 characters of `A-Z a-z 0-9 _ - .`.
pub fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_VAR_NAME_BYTES
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
}

/// One piece of a prompt: text, or a placeholder's variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// Splits `text` into text and `{{ variable }}` placeholders (whitespace inside the braces is
/// allowed). Errors name an unclosed `{{` or a placeholder that is not a variable name.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let offset = text.len() - rest.len() + open;
        pieces.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(format!("prompt: {{{{ at byte {offset} is not closed with }}}}"));
        };
        let variable = after[..close].trim();
        if !is_var_name(variable) {
            return Err(format!(
                "prompt: placeholder {{{{{}}}}} at byte {offset} is not a variable name ({VAR_NAME_RULE})",
                &after[..close]
            ));
        }
        pieces.push(Piece::Variable(variable));
        rest = &after[close + 2..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

/// Returns the variables of the placeholders of `text`, in order (repeats included).
pub(super) fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    Ok(pieces(text)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Variable(variable) => Some(variable),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Returns `text` of template `template` with each `{{variable}}` replaced by `value(variable)`.
///
/// Errors: [`TemplateError::MissingVariable`] for the first variable without a value;
/// [`TemplateError::Invalid`] for a malformed placeholder.
pub fn render<'v>(
    template: &str,
    text: &str,
    value: impl Fn(&str) -> Option<&'v String>,
) -> Result<String, TemplateError> {
    let pieces = pieces(text).map_err(|reason| TemplateError::invalid(template, reason))?;
    let mut rendered = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(text) => rendered.push_str(text),
            Piece::Variable(variable) => match value(variable) {
                Some(value) => rendered.push_str(value),
                None => {
                    return Err(TemplateError::MissingVariable {
                        template: template.to_owned(),
                        variable: variable.to_owned(),
                    });
                }
            },
        }
    }
    Ok(rendered)
}
