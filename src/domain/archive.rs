//! Archive codes: the unguessable local part of a card's archive address.

use std::fmt;

use rand::Rng;

/// Crockford's base32 alphabet in lowercase: no i, l, o or u, so a code read aloud
/// or retyped from a printout cannot be confused.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// 16 symbols of 5 bits = 80 bits from the OS CSPRNG.
pub const ARCHIVE_CODE_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchiveCode(String);

impl ArchiveCode {
    pub fn generate() -> Self {
        // ThreadRng is a ChaCha CSPRNG reseeded from the OS.
        let mut rng = rand::rng();
        let code = (0..ARCHIVE_CODE_LEN)
            .map(|_| ALPHABET[rng.random_range(0..32)] as char)
            .collect();
        ArchiveCode(code)
    }

    /// Parses a code typed by a person: case-insensitive, and the look-alikes
    /// Crockford maps (o→0, i/l→1) are folded so a misread code still routes.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != ARCHIVE_CODE_LEN {
            return None;
        }
        let mut out = String::with_capacity(ARCHIVE_CODE_LEN);
        for c in s.chars() {
            let c = match c.to_ascii_lowercase() {
                'o' => '0',
                'i' | 'l' => '1',
                c => c,
            };
            if !ALPHABET.contains(&(c as u8)) || !c.is_ascii() {
                return None;
            }
            out.push(c);
        }
        Some(ArchiveCode(out))
    }

    /// Extracts the code from `code@domain` or `anything+code@domain`; the domain
    /// must be the archive domain (case-insensitive).
    pub fn from_address(address: &str, domain: &str) -> Option<Self> {
        let address = address.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, dom) = address.rsplit_once('@')?;
        if !dom.eq_ignore_ascii_case(domain) {
            return None;
        }
        let code = local.rsplit_once('+').map_or(local, |(_, c)| c);
        Self::parse(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn address(&self, domain: &str) -> String {
        format!("{}@{}", self.0, domain)
    }
}

impl fmt::Display for ArchiveCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_distinct_and_parse_back() {
        let a = ArchiveCode::generate();
        let b = ArchiveCode::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), ARCHIVE_CODE_LEN);
        assert_eq!(ArchiveCode::parse(a.as_str()), Some(a.clone()));
        assert_eq!(ArchiveCode::parse(&a.as_str().to_uppercase()), Some(a));
    }

    #[test]
    fn addresses_route_by_code_plus_form_and_domain() {
        let d = "archive.localhost";
        let code = "0123456789abcdef";
        let want = ArchiveCode::parse(code).unwrap();
        assert_eq!(
            ArchiveCode::from_address(&format!("{code}@{d}"), d),
            Some(want.clone())
        );
        assert_eq!(
            ArchiveCode::from_address(
                &format!("<Quote+{}@ARCHIVE.localhost>", code.to_uppercase()),
                d
            ),
            Some(want.clone())
        );
        assert_eq!(
            ArchiveCode::from_address("O123456789abcdef@archive.localhost", d),
            Some(want)
        );
        assert_eq!(
            ArchiveCode::from_address(&format!("{code}@other.example"), d),
            None
        );
        assert_eq!(
            ArchiveCode::from_address("short@archive.localhost", d),
            None
        );
        assert_eq!(
            ArchiveCode::from_address("0123456789abcdeü@archive.localhost", d),
            None
        );
        assert_eq!(ArchiveCode::from_address("no-at-sign", d), None);
    }
}
