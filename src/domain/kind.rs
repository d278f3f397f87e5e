//! What a history entry is: the kinds of interaction a card's history holds.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Email,
    Note,
    Call,
    Sms,
    Whatsapp,
    Meeting,
    Task,
    StatusChange,
    FieldChange,
    Document,
}

impl EntryKind {
    pub const ALL: [EntryKind; 10] = [
        EntryKind::Email,
        EntryKind::Note,
        EntryKind::Call,
        EntryKind::Sms,
        EntryKind::Whatsapp,
        EntryKind::Meeting,
        EntryKind::Task,
        EntryKind::StatusChange,
        EntryKind::FieldChange,
        EntryKind::Document,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Email => "email",
            EntryKind::Note => "note",
            EntryKind::Call => "call",
            EntryKind::Sms => "sms",
            EntryKind::Whatsapp => "whatsapp",
            EntryKind::Meeting => "meeting",
            EntryKind::Task => "task",
            EntryKind::StatusChange => "status_change",
            EntryKind::FieldChange => "field_change",
            EntryKind::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds a user types in ("New history"); their author may edit them.
    pub fn is_manual(self) -> bool {
        matches!(
            self,
            EntryKind::Note
                | EntryKind::Call
                | EntryKind::Sms
                | EntryKind::Whatsapp
                | EntryKind::Meeting
                | EntryKind::Task
        )
    }

    /// Kinds `POST /api/cards/{id}/entries` creates: the manual ones but tasks
    /// (which have their own route), and email for other systems' logs.
    pub fn is_postable(self) -> bool {
        self.is_manual() && self != EntryKind::Task || self == EntryKind::Email
    }

    /// Kinds with a direction (incoming / outgoing).
    pub fn has_direction(self) -> bool {
        matches!(
            self,
            EntryKind::Email | EntryKind::Call | EntryKind::Sms | EntryKind::Whatsapp
        )
    }
}

/// Parses a comma-separated list of kinds (`kind=note,call`).
pub fn parse_kinds(list: &str) -> Result<Vec<EntryKind>, String> {
    let mut out = Vec::new();
    for k in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let kind = EntryKind::parse(k).ok_or_else(|| {
            let known: Vec<&str> = EntryKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown kind {k:?} (known: {})", known.join(", "))
        })?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_back_and_lists_are_checked() {
        for k in EntryKind::ALL {
            assert_eq!(EntryKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            parse_kinds("note, call,note").unwrap(),
            [EntryKind::Note, EntryKind::Call]
        );
        assert!(parse_kinds("note,fax").unwrap_err().contains("fax"));
        assert!(EntryKind::Email.is_postable() && !EntryKind::Task.is_postable());
        assert!(!EntryKind::StatusChange.is_postable());
    }
}
