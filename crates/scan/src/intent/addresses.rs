//! Addresses in a clause: a host, a mailbox, a resource. What is sent there, or read from
//! there, is for the rules (mood.rs, combine.rs) to judge.

/// Words of a recipient added beside the one asked for (`Redirect` hits).
pub(super) const ADDED: &[&str] = &[
    "also",
    "as well",
    "additional",
    "copy",
    "cc",
    "zusatzlich",
    "kopie",
    "anche",
    "copia",
    "copie",
    "aussi",
    "tambien",
    "tambem",
    "ещ",
    "копи",
];
/// What, just before a mailbox, makes it an example, a sender or a contact.
const NOT_A_RECIPIENT: &[&str] = &[
    "e.g",
    "eg ",
    "example",
    "such as",
    "like ",
    "from ",
    "z.b",
    "ex.",
    "por ejemplo",
    "par exemple",
    "per esempio",
    "contact",
    "support",
    "feedback",
    "questions",
    "reply to",
    "kontakt",
    "contacte",
    "contatt",
    "contacto",
    "contato",
];

/// A fixed mailbox in a clause (`records@partner.example`; normalized, so a `-` is a
/// space), as offsets into `clause`: a word, `@`, and a domain whose last word has a dot,
/// not introduced as an example, a sender or a contact.
pub(super) fn fixed_mailbox(clause: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(at) = clause[from..].find('@').map(|i| i + from) {
        from = at + 1;
        let local = clause[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        let Some(domain_len) = domain_after(&clause[at + 1..]) else {
            continue;
        };
        let start = clause[..at].rfind(' ').map_or(0, |i| i + 1);
        let lead = clause[..start]
            .char_indices()
            .rev()
            .nth(24)
            .map_or(0, |(i, _)| i);
        let before = &clause[lead..start];
        if local && !NOT_A_RECIPIENT.iter().any(|w| before.contains(w)) {
            return Some((start, at + 1 + domain_len));
        }
    }
    None
}

/// The length of the domain that opens `rest`: up to four words, the last with a dot
/// before a top-level domain of letters (`partner audit.example`).
fn domain_after(rest: &str) -> Option<usize> {
    let mut offset = 0;
    for word in rest.split(' ').take(4) {
        let word_end = word
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '.'))
            .unwrap_or(word.len());
        let token = word[..word_end].trim_end_matches('.');
        if let Some((_, tld)) = token.rsplit_once('.') {
            let letters = tld.len() >= 2 && tld.chars().all(|ch| ch.is_ascii_alphabetic());
            return letters.then_some(offset + token.len());
        }
        if word_end < word.len() || token.is_empty() {
            return None;
        }
        offset += word.len() + 1;
    }
    None
}

/// Whether a clause names a destination by its address: a link, or a host of three
/// labels or more (`collect.example.net`; a file name, `config.json`, has two).
pub(super) fn names_host(clause: &str) -> bool {
    clause.contains("://")
        || clause.split_whitespace().any(|token| {
            let token = token.trim_matches(|ch: char| !ch.is_alphanumeric());
            let labels: Vec<&str> = token.split('.').collect();
            labels.len() >= 3
                && labels.iter().all(|l| {
                    !l.is_empty() && l.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
                })
                && labels.last().is_some_and(|tld| {
                    tld.len() >= 2 && tld.chars().all(|ch| ch.is_ascii_alphabetic())
                })
        })
}

/// Words of a resource's path that say it is kept from others (normalized).
const CONFIDENTIAL: &[&str] = &[
    "confidential",
    "restricted",
    "secret",
    "secrets",
    "private",
    "credential",
    "credentials",
    "password",
    "passwords",
    "vertraulich",
    "geheim",
    "confidentiel",
    "confidentielle",
    "confidentiels",
    "riservato",
    "riservata",
    "riservati",
    "confidenziale",
    "confidencial",
    "secreto",
    "secretos",
    "sigiloso",
    "privado",
    "segredo",
    "секрет",
    "секреты",
];

/// A resource addressed by a scheme other than the web's (`crm://restricted/floor`,
/// `file:///etc/secrets`) whose path names it confidential, as offsets into `clause`.
pub(super) fn confidential_resource(clause: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(at) = clause[from..].find("://").map(|i| i + from) {
        from = at + 3;
        let start = clause[..at]
            .rfind(|ch: char| !ch.is_alphanumeric())
            .map_or(0, |i| i + 1);
        let scheme = &clause[start..at];
        if scheme.is_empty() || ["http", "https", "ws", "wss", "ftp", "ftps"].contains(&scheme) {
            continue;
        }
        let path_end = clause[at + 3..]
            .find(|ch: char| ch.is_whitespace() || "\"'()<>,;`".contains(ch))
            .map_or(clause.len(), |i| at + 3 + i);
        let path = &clause[at + 3..path_end];
        if path
            .split(|ch: char| !ch.is_alphanumeric())
            .any(|w| CONFIDENTIAL.contains(&w))
        {
            return Some((start, path_end));
        }
    }
    None
}
