//! dossier: an email-ingest and archive gateway. Mail forwarded to a card's
//! archive address arrives over SMTP, is stored byte-exact, parsed, put on the
//! card's history and indexed for full-text search over HTTP.

pub mod app;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod domain;
pub mod erase;
pub mod export;
pub mod extract;
pub mod http;
pub mod imap;
pub mod import;
pub mod ingest;
pub mod mail;
pub mod search;
pub mod smtp;
pub mod sources;
pub mod store;
pub mod web;
