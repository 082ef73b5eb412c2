//! Opt-out keywords, the same on every channel without commands of its own (SMS, WhatsApp,
//! Messenger, Instagram): the words carriers and Twilio act on (Twilio's default opt-out
//! handling on long codes and toll-free numbers; CTIA: HELP and STOP must always work). Only a
//! message that is the keyword alone counts: "stop" is an opt-out, "please don't stop" is not.

/// What a keyword asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Withdraw: no more messages to this number.
    OptOut,
    /// Opt back in after an opt-out.
    OptIn,
    /// Ask for the program's help text.
    Help,
}

pub const OPT_OUT: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"];
pub const OPT_IN: &[&str] = &["START", "YES", "UNSTOP"];
pub const HELP: &[&str] = &["HELP", "INFO"];

/// The keyword a message body is, if it is one, with its normalized spelling. Surrounding
/// whitespace and punctuation ("Stop." "STOP!") are ignored; case does not matter.
pub fn classify(body: &str) -> Option<(Keyword, &'static str)> {
    let word = body.trim().trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    if word.is_empty() || word.len() > 16 || word.contains(char::is_whitespace) {
        return None;
    }
    let upper = word.to_ascii_uppercase();
    [(Keyword::OptOut, OPT_OUT), (Keyword::OptIn, OPT_IN), (Keyword::Help, HELP)]
        .into_iter()
        .find_map(|(keyword, list)| list.iter().find(|k| **k == upper).map(|k| (keyword, *k)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_words_in_any_case_are_keywords() {
        assert_eq!(classify("STOP"), Some((Keyword::OptOut, "STOP")));
        assert_eq!(classify("  stop \n"), Some((Keyword::OptOut, "STOP")));
        assert_eq!(classify("Unsubscribe."), Some((Keyword::OptOut, "UNSUBSCRIBE")));
        assert_eq!(classify("optout"), Some((Keyword::OptOut, "OPTOUT")));
        assert_eq!(classify("Start"), Some((Keyword::OptIn, "START")));
        assert_eq!(classify("unstop!"), Some((Keyword::OptIn, "UNSTOP")));
        assert_eq!(classify("yes"), Some((Keyword::OptIn, "YES")));
        assert_eq!(classify("help"), Some((Keyword::Help, "HELP")));
        assert_eq!(classify("Info?"), Some((Keyword::Help, "INFO")));
    }

    #[test]
    fn sentences_and_other_words_are_not() {
        for text in ["please stop", "stop it", "STOP STOP", "stopp", "", "  ", "st op", "¡STOP", "yes please"] {
            assert_eq!(classify(text), None, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn anything_with_a_space_inside_is_never_a_keyword(a in "[A-Za-z]{1,8}", b in "[A-Za-z]{1,8}") {
            let text = format!("{a} {b}");
            prop_assert_eq!(classify(&text), None);
        }

        #[test]
        fn any_text_is_classified_without_panicking(text in "\\PC{0,40}") {
            let _ = classify(&text);
        }
    }
}
