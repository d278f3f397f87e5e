//! API tokens: 256 random bits shown once, stored only as SHA-256.
//!
//! A fast hash is enough here (unlike passwords): the input has 256 bits of
//! entropy, so there is nothing to brute-force.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "dsr_";

pub struct ApiToken(String);

impl ApiToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        ApiToken(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The secret, to show the user once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        Self::hash_str(&self.0)
    }

    pub fn hash_str(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_stably() {
        let a = ApiToken::generate();
        let b = ApiToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() >= PREFIX.len() + 43);
        assert_eq!(a.hash(), ApiToken::hash_str(a.expose()));
        assert_ne!(a.hash(), a.expose());
    }
}
