//! Words as the search index knows them: text folded, cut into tokens, tokens turned into the
//! terms that are hashed into the index, and queries turned into the terms they look up.
//!
//! Folding: Unicode compatibility forms are unified (NFKC: full-width Latin, ligatures), then
//! outside Chinese, Japanese and Korean scripts letters lose their accents (NFD without
//! combining marks) and case (`ß` becomes `ss`). CJK characters are kept as they are: their
//! marks carry meaning (`が` is not `か`) and their syllables must not be decomposed.
//!
//! Tokens: runs of letters and digits; a run of CJK characters is its own token, since those
//! scripts do not separate words with spaces. Index terms of a word are its prefixes from
//! [`MIN_PREFIX`] to [`MAX_PREFIX`] characters (a two-character word is a term of its own), so
//! typing the start of a word finds it; a CJK run gives every character and every pair of
//! neighbouring characters (unigrams and bigrams), so any word inside it is found by its pairs.
//! Phone numbers in contact records also give their digit suffixes, so a number is found with
//! or without its country code.

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The shortest prefix of a word that finds it.
pub const MIN_PREFIX: usize = 3;
/// The longest prefix indexed; a longer query word is looked up by its first `MAX_PREFIX`
/// characters and checked against the text once opened.
pub const MAX_PREFIX: usize = 8;
/// The shortest digit suffix of a phone number that finds it.
const MIN_PHONE_SUFFIX: usize = 6;

/// Whether a character belongs to a script written without spaces between words (Han,
/// Hiragana, Katakana, Hangul): indexed by character n-grams.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x31F0..=0x31FF    // Katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x1100..=0x11FF    // Hangul Jamo
        | 0x3130..=0x318F    // Hangul compatibility Jamo
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0x20000..=0x2FA1F  // CJK extensions B–F, compatibility supplement
    )
}

/// Folds text for matching: compatibility forms unified, accents and case dropped outside CJK
/// scripts. Lengths may change; see [`tokens_with_spans`] for positions in the original.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkc() {
        fold_char(c, &mut out);
    }
    out
}

fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else if is_cjk(c) {
        out.push(c);
    } else {
        for d in std::iter::once(c).nfd().filter(|d| !is_combining_mark(*d)) {
            match d {
                'ß' | 'ẞ' => out.push_str("ss"),
                // Greek final sigma folds like the others.
                'ς' => out.push('σ'),
                _ => out.extend(d.to_lowercase()),
            }
        }
    }
}

/// A token of folded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Letters and digits of an alphabetic script.
    Word(String),
    /// A run of CJK characters.
    Cjk(String),
}

/// The tokens of already folded text, in order.
pub fn tokens(folded: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut cjk = false;
    for c in folded.chars() {
        let (word, is_c) = (c.is_alphanumeric(), is_cjk(c));
        if !word && !is_c {
            flush(&mut current, cjk, &mut out);
            continue;
        }
        if !current.is_empty() && is_c != cjk {
            flush(&mut current, cjk, &mut out);
        }
        cjk = is_c;
        current.push(c);
    }
    flush(&mut current, cjk, &mut out);
    out
}

fn flush(current: &mut String, cjk: bool, out: &mut Vec<Token>) {
    if current.is_empty() {
        return;
    }
    let text = std::mem::take(current);
    out.push(if cjk { Token::Cjk(text) } else { Token::Word(text) });
}

/// The index terms of a text (a message, a subject, a name): every word's prefixes and every
/// CJK run's unigrams and bigrams, each once.
pub fn index_terms(text: &str, into: &mut BTreeSet<String>) {
    for token in tokens(&fold(text)) {
        match token {
            Token::Word(word) => word_terms(&word, into),
            Token::Cjk(run) => {
                let chars: Vec<char> = run.chars().collect();
                for (i, c) in chars.iter().enumerate() {
                    into.insert(c.to_string());
                    if let Some(next) = chars.get(i + 1) {
                        into.insert([*c, *next].iter().collect());
                    }
                }
            }
        }
    }
}

fn word_terms(word: &str, into: &mut BTreeSet<String>) {
    let chars: Vec<char> = word.chars().collect();
    match chars.len() {
        0 | 1 => {}
        2 => {
            into.insert(word.to_owned());
        }
        n => {
            for len in MIN_PREFIX..=n.min(MAX_PREFIX) {
                into.insert(chars[..len].iter().collect());
            }
        }
    }
}

/// The terms of a phone number: its digits' suffixes (so `+49 151 2345678`, `0151 2345678`
/// and `2345678` all find it), besides the words the number is made of.
pub fn phone_terms(number: &str, into: &mut BTreeSet<String>) {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    for start in 0..digits.len() {
        if digits.len() - start >= MIN_PHONE_SUFFIX && !digits[start..].starts_with('0') {
            into.insert(format!("tel:{}", &digits[start..]));
        }
    }
}

/// One term a query looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryTerm {
    /// The index term.
    pub lookup: String,
    /// For a word longer than [`MAX_PREFIX`]: the whole word, which some word of the text must
    /// start with (checked once the text is opened).
    pub word: Option<String>,
}

/// A parsed query: terms that must all be in a match, and phrases checked in the opened text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<QueryTerm>,
    /// Folded phrases (quoted in the query, or a CJK run longer than two characters) the text
    /// must contain as written.
    pub phrases: Vec<String>,
    /// Folded words and CJK runs of the query, for highlighting.
    pub highlights: Vec<String>,
    /// When the whole query is a phone number: the term contact records hold for it.
    pub phone: Option<String>,
}

impl Query {
    /// Parses what a person typed. Words of one letter are ignored; `"quoted words"` must
    /// appear together; a phone number (six digits or more, with the usual separators) is
    /// looked up as a number.
    pub fn parse(input: &str) -> Self {
        let mut query = Query { phone: phone_like(input).map(|n| format!("tel:{n}")), ..Query::default() };
        let mut rest = input;
        while let Some(open) = rest.find('"') {
            let (before, after) = rest.split_at(open);
            query.add_words(before);
            let after = &after[1..];
            let (phrase, tail) = match after.find('"') {
                Some(close) => (&after[..close], &after[close + 1..]),
                None => (after, ""),
            };
            query.add_words(phrase);
            let folded = normalize_spaces(&fold(phrase));
            if folded.contains(' ') || folded.chars().count() > 2 {
                query.phrases.push(folded);
            }
            rest = tail;
        }
        query.add_words(rest);
        query
    }

    fn add_words(&mut self, text: &str) {
        for token in tokens(&fold(text)) {
            match token {
                Token::Word(word) => {
                    let chars: Vec<char> = word.chars().collect();
                    match chars.len() {
                        0 | 1 => continue,
                        n if n <= MAX_PREFIX => self.push(QueryTerm { lookup: word.clone(), word: None }),
                        _ => self.push(QueryTerm { lookup: chars[..MAX_PREFIX].iter().collect(), word: Some(word.clone()) }),
                    }
                    self.highlights.push(word);
                }
                Token::Cjk(run) => {
                    let chars: Vec<char> = run.chars().collect();
                    if chars.len() == 1 {
                        self.push(QueryTerm { lookup: run.clone(), word: None });
                    }
                    for pair in chars.windows(2) {
                        self.push(QueryTerm { lookup: pair.iter().collect(), word: None });
                    }
                    if chars.len() > 2 {
                        self.phrases.push(run.clone());
                    }
                    self.highlights.push(run);
                }
            }
        }
    }

    fn push(&mut self, term: QueryTerm) {
        if !self.terms.contains(&term) {
            self.terms.push(term);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether opened text really matches: every long word is the start of a word of the text,
    /// every phrase is in it.
    pub fn confirms(&self, text: &str) -> bool {
        let needs_words = self.terms.iter().any(|t| t.word.is_some());
        if !needs_words && self.phrases.is_empty() {
            return true;
        }
        let folded = fold(text);
        if needs_words {
            let words: Vec<String> = tokens(&folded).into_iter().map(|t| match t {
                Token::Word(w) | Token::Cjk(w) => w,
            }).collect();
            for long in self.terms.iter().filter_map(|t| t.word.as_deref()) {
                if !words.iter().any(|w| w.starts_with(long)) {
                    return false;
                }
            }
        }
        let spaced = normalize_spaces(&folded);
        self.phrases.iter().all(|p| spaced.contains(p.as_str()))
    }
}

/// Digits of a phone number as typed (`+49 (151) 234-5678`), without trunk zeros; `None` for
/// anything else.
fn phone_like(text: &str) -> Option<String> {
    let text = text.trim();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let only_number = text.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if digits.len() < MIN_PHONE_SUFFIX || !only_number || !text.chars().any(|c| " +-()".contains(c)) && digits.len() < 9 {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    (trimmed.len() >= MIN_PHONE_SUFFIX).then(|| trimmed.to_owned())
}

/// Words separated by single spaces, punctuation dropped (for phrase matching).
fn normalize_spaces(folded: &str) -> String {
    tokens(folded)
        .into_iter()
        .map(|t| match t {
            Token::Word(w) | Token::Cjk(w) => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A stretch of the original text, marked when it matched the query.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = HighlightFragment)]
pub struct Fragment {
    pub text: String,
    /// Whether this stretch matched.
    #[serde(rename = "match")]
    pub matched: bool,
}

/// A short excerpt of `text` around its first match, with every matching word marked (for a
/// result list). At most about `width` characters.
pub fn highlight(text: &str, query: &Query, width: usize) -> Vec<Fragment> {
    // Spans (byte ranges in `text`) of its words whose folded form matches.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut start: Option<usize> = None;
    let mut kind_cjk = false;
    let check = |s: usize, e: usize, spans: &mut Vec<(usize, usize)>| {
        let folded = fold(&text[s..e]);
        for needle in &query.highlights {
            if let Some(first) = needle.chars().next() {
                if is_cjk(first) {
                    // Mark every occurrence inside the run.
                    let mut offset = 0;
                    let original = &text[s..e];
                    while let Some(found) = original[offset..].find(needle.as_str()) {
                        spans.push((s + offset + found, s + offset + found + needle.len()));
                        offset += found + needle.len();
                    }
                } else if folded.starts_with(needle.as_str()) {
                    spans.push((s, e));
                }
            }
        }
    };
    for (i, c) in text.char_indices() {
        let is_c = is_cjk(c);
        let word = c.is_alphanumeric() || is_c;
        match start {
            Some(s) if !word || is_c != kind_cjk => {
                check(s, i, &mut spans);
                start = word.then_some(i);
            }
            None if word => start = Some(i),
            _ => {}
        }
        if word {
            kind_cjk = is_c;
        }
    }
    if let Some(s) = start {
        check(s, text.len(), &mut spans);
    }
    spans.sort();
    spans.dedup();
    // A window around the first match, cut at character boundaries.
    let first = spans.first().map(|s| s.0).unwrap_or(0);
    let lead = width / 3;
    let mut from = text[..first].char_indices().rev().nth(lead.saturating_sub(1)).map(|(i, _)| i).unwrap_or(0);
    if first - from < lead.min(first) {
        from = 0;
    }
    let to = text[from..].char_indices().nth(width).map(|(i, _)| from + i).unwrap_or(text.len());
    let mut out = Vec::new();
    if from > 0 {
        out.push(Fragment { text: "…".into(), matched: false });
    }
    let mut at = from;
    for (s, e) in spans.into_iter().filter(|(s, e)| *s >= from && *e <= to) {
        if s < at {
            continue;
        }
        if s > at {
            out.push(Fragment { text: text[at..s].to_owned(), matched: false });
        }
        out.push(Fragment { text: text[s..e].to_owned(), matched: true });
        at = e;
    }
    if at < to {
        out.push(Fragment { text: text[at..to].to_owned(), matched: false });
    }
    if to < text.len() {
        out.push(Fragment { text: "…".into(), matched: false });
    }
    // Neighbouring plain fragments join (the leading ellipsis stays apart).
    let mut joined: Vec<Fragment> = Vec::with_capacity(out.len());
    for f in out {
        match joined.last_mut() {
            Some(last) if !last.matched && !f.matched && last.text != "…" => last.text.push_str(&f.text),
            _ => joined.push(f),
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        index_terms(text, &mut set);
        set
    }

    #[test]
    fn folding_drops_case_and_accents_but_keeps_cjk_marks() {
        assert_eq!(fold("Crème BRÛLÉE Straße"), "creme brulee strasse");
        assert_eq!(fold("ＡＢＣ１２３"), "abc123");
        assert_eq!(fold("Ёлка Привет"), "елка привет");
        assert_eq!(fold("がっこう"), "がっこう");
        assert_eq!(fold("ΟΔΟΣ"), "οδοσ");
    }

    #[test]
    fn words_give_prefixes_and_cjk_gives_ngrams() {
        let t = terms("Invoice ok, x");
        for expected in ["inv", "invo", "invoi", "invoic", "invoice", "ok"] {
            assert!(t.contains(expected), "{expected} in {t:?}");
        }
        assert!(!t.contains("x") && !t.contains("in"));
        let long = terms("internationalization");
        assert!(long.contains("internat") && !long.contains("internati"));
        let ja = terms("東京の天気");
        for expected in ["東", "東京", "京の", "天気", "気"] {
            assert!(ja.contains(expected), "{expected} in {ja:?}");
        }
        let ru = terms("Счёт оплачен");
        assert!(ru.contains("счет") && ru.contains("опл") && ru.contains("оплачен"));
    }

    #[test]
    fn queries_look_up_prefixes_and_check_long_words() {
        let q = Query::parse("Invo receipt");
        assert_eq!(q.terms.iter().map(|t| t.lookup.as_str()).collect::<Vec<_>>(), ["invo", "receipt"]);
        let long = Query::parse("Internationalisation");
        assert_eq!(long.terms[0].lookup, "internat");
        assert!(long.confirms("about internationalisation today"));
        assert!(!long.confirms("about internationally known"));
        let ja = Query::parse("東京都");
        assert_eq!(ja.terms.iter().map(|t| t.lookup.as_str()).collect::<Vec<_>>(), ["東京", "京都"]);
        assert!(ja.confirms("私は東京都に住む") && !ja.confirms("東京と京都"));
        let phrase = Query::parse("\"late delivery\" refund");
        assert!(phrase.confirms("A LATE delivery, so: refund?") && !phrase.confirms("delivery was late, refund"));
        assert!(Query::parse("a").is_empty());
        assert_eq!(Query::parse("48213").phone, None);
        assert_eq!(Query::parse("order 0151 23456789").phone, None);
    }

    #[test]
    fn phone_numbers_are_found_with_or_without_country_code() {
        let mut t = BTreeSet::new();
        phone_terms("+49 151 23456789", &mut t);
        for typed in ["+49 151 23456789", "0151 23456789", "015123456789", "(151) 234-56789"] {
            let phone = Query::parse(typed).phone.expect(typed);
            assert!(t.contains(&phone), "{typed}: {phone} not in {t:?}");
        }
    }

    #[test]
    fn highlights_mark_the_matching_words_of_the_original() {
        let q = Query::parse("invoice");
        let h = highlight("Your Invoice #12 and the invoices", &q, 80);
        let marked: Vec<&str> = h.iter().filter(|f| f.matched).map(|f| f.text.as_str()).collect();
        assert_eq!(marked, ["Invoice", "invoices"]);
        assert_eq!(h.iter().map(|f| f.text.as_str()).collect::<String>(), "Your Invoice #12 and the invoices");
        let ja = highlight("今日の東京の天気", &Query::parse("天気"), 80);
        assert!(ja.iter().any(|f| f.matched && f.text == "天気"));
        let long = "word ".repeat(100) + "target " + &"tail ".repeat(100);
        let cut = highlight(&long, &Query::parse("target"), 60);
        assert_eq!(cut.first().map(|f| f.text.as_str()), Some("…"));
        assert!(cut.iter().any(|f| f.matched && f.text == "target"));
        assert!(cut.iter().map(|f| f.text.chars().count()).sum::<usize>() < 70);
    }
}
