//! Name keys for search and duplicate detection across scripts and spelling variants.
//!
//! A migrant registered as "Гулру Джабборзода" in Dushanbe may be typed "Gulru Jabborzoda" from
//! a passport, or "Jabborzoda Gulru" by the next counsellor. Every name is reduced to tokens in
//! one canonical Latin spelling:
//! 1. Tajik and Russian Cyrillic are transliterated letter by letter (ҷ → j, ғ → gh, х → kh ...);
//! 2. anything else is folded to ASCII (diacritics dropped: "Şükrü" → "sukru");
//! 3. spelling variants that transliteration systems disagree on are merged (dzh/dj/zh → j,
//!    kh/x → h, gh → g, q → k, w → v, y → i, doubled letters once), so the Russian-style
//!    "Dzhabborzoda" and the Tajik-style "Jabborzoda" give the same key.
//!
//! Known limits: merging is phonetic guesswork for Central Asian names; names in Arabic script
//! are only folded by `deunicode`; typos are handled by similarity scoring, not by the key.

/// Transliteration of Tajik and Russian Cyrillic letters (lower case).
fn cyrillic_to_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'ғ' => "gh",
        'д' => "d",
        'е' => "e",
        'ё' => "yo",
        'ж' => "zh",
        'з' => "z",
        'и' | 'ӣ' | 'і' => "i",
        'й' => "y",
        'к' => "k",
        'қ' => "q",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' | 'ӯ' | 'ў' => "u",
        'ф' => "f",
        'х' => "kh",
        'ҳ' => "h",
        'ц' => "ts",
        'ч' => "ch",
        'ҷ' => "j",
        'ш' => "sh",
        'щ' => "shch",
        'ъ' | 'ь' => "",
        'ы' => "y",
        'э' => "e",
        'ю' => "yu",
        'я' => "ya",
        _ => return None,
    })
}

/// Spelling variants merged after transliteration, applied in order.
const VARIANTS: &[(&str, &str)] = &[
    ("dzh", "j"),
    ("dj", "j"),
    ("zh", "j"),
    ("kh", "h"),
    ("x", "h"),
    ("gh", "g"),
    ("q", "k"),
    ("w", "v"),
    ("yo", "o"),
    ("yu", "u"),
    ("ya", "a"),
    ("y", "i"),
    ("ou", "u"),
];

/// The canonical Latin spelling of one word.
pub fn canonical(word: &str) -> String {
    let mut latin = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        match cyrillic_to_latin(c) {
            Some(replacement) => latin.push_str(replacement),
            None => latin.push_str(&deunicode::deunicode_char(c).unwrap_or("").to_lowercase()),
        }
    }
    let mut key: String = latin.chars().filter(char::is_ascii_alphanumeric).collect();
    for (from, to) in VARIANTS {
        key = key.replace(from, to);
    }
    let mut collapsed = String::with_capacity(key.len());
    for c in key.chars() {
        if !collapsed.ends_with(c) {
            collapsed.push(c);
        }
    }
    collapsed
}

/// The distinct canonical tokens of one or more name fields.
pub fn tokens<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut tokens: Vec<String> = names
        .into_iter()
        .flat_map(|name| name.split(|c: char| c.is_whitespace() || c == '-' || c == '\''))
        .map(canonical)
        .filter(|token| !token.is_empty())
        .collect();
    tokens.sort();
    tokens.dedup();
    tokens
}

/// Upper bound (exclusive) of the keys that start with `prefix`, for an index range scan.
pub fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{7f}")
}

/// How alike two sets of name tokens are, in [0, 1], whatever the order of the names: each token
/// of the shorter list is paired with its most similar token of the other (Jaro-Winkler).
pub fn name_similarity(a: &[String], b: &[String]) -> f64 {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return 0.0;
    }
    let total: f64 = short
        .iter()
        .map(|token| {
            long.iter()
                .map(|other| strsim::jaro_winkler(token, other))
                .fold(0.0, f64::max)
        })
        .sum();
    total / short.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyrillic_and_latin_spellings_share_a_key() {
        assert_eq!(
            tokens(["Гулру", "Джабборзода"]),
            tokens(["Gulru", "Jabborzoda"])
        );
        assert_eq!(canonical("Ҷабборзода"), canonical("Jabborzoda"));
        assert_eq!(canonical("Хуршед"), canonical("Khurshed"));
        assert_eq!(canonical("Şükrü"), "sukru");
    }

    #[test]
    fn similarity_ignores_order_and_tolerates_typos() {
        let registered = tokens(["Gulru", "Jabborzoda"]);
        assert!(name_similarity(&registered, &tokens(["Jabborzoda", "Gulru"])) > 0.99);
        assert!(name_similarity(&registered, &tokens(["Gurlu", "Jabborzoda"])) > 0.9);
        assert!(name_similarity(&registered, &tokens(["Farhod", "Rahimov"])) < 0.7);
    }
}
