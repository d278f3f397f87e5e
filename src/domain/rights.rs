//! Rights: who may delete documents and entries, reopen tasks and edit other
//! people's entries. Admins set one rule per action; the server enforces it on
//! every route and tells clients what the caller may do (`can`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The actions a policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    DeleteDocument,
    DeleteEntry,
    ReopenTask,
    EditOthersEntry,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::DeleteDocument,
        Action::DeleteEntry,
        Action::ReopenTask,
        Action::EditOthersEntry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::DeleteDocument => "delete_document",
            Action::DeleteEntry => "delete_entry",
            Action::ReopenTask => "reopen_task",
            Action::EditOthersEntry => "edit_others_entry",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Who may do an action. Admins are included in every choice but `nobody`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    Nobody,
    Admins,
    /// The item's author or uploader (for a task: who created it).
    Author,
    /// The owner of the card the item is on.
    CardOwner,
    /// Every user who can see the card.
    Everyone,
}

impl Who {
    pub fn as_str(self) -> &'static str {
        match self {
            Who::Nobody => "nobody",
            Who::Admins => "admins",
            Who::Author => "author",
            Who::CardOwner => "card_owner",
            Who::Everyone => "everyone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Who::Nobody,
            Who::Admins,
            Who::Author,
            Who::CardOwner,
            Who::Everyone,
        ]
        .into_iter()
        .find(|w| w.as_str() == s)
    }
}

/// The longest `within_days` an admin can set (about 100 years).
pub const MAX_WITHIN_DAYS: u32 = 36_500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub who: Who,
    /// Only within this many days of the item's creation (for everyone,
    /// admins included); `None`: no time limit.
    #[serde(default)]
    pub within_days: Option<u32>,
}

/// The rule of every action, as `GET/PUT /api/admin/policies` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    pub delete_document: Rule,
    pub delete_entry: Rule,
    pub reopen_task: Rule,
    pub edit_others_entry: Rule,
}

impl Default for Policies {
    /// Conservative until an admin decides otherwise (the same as the migration).
    fn default() -> Self {
        let admins = Rule {
            who: Who::Admins,
            within_days: None,
        };
        Policies {
            delete_document: admins,
            delete_entry: admins,
            reopen_task: admins,
            edit_others_entry: admins,
        }
    }
}

impl Policies {
    pub fn rule(&self, action: Action) -> Rule {
        match action {
            Action::DeleteDocument => self.delete_document,
            Action::DeleteEntry => self.delete_entry,
            Action::ReopenTask => self.reopen_task,
            Action::EditOthersEntry => self.edit_others_entry,
        }
    }

    pub fn set(&mut self, action: Action, rule: Rule) {
        match action {
            Action::DeleteDocument => self.delete_document = rule,
            Action::DeleteEntry => self.delete_entry = rule,
            Action::ReopenTask => self.reopen_task = rule,
            Action::EditOthersEntry => self.edit_others_entry = rule,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for action in Action::ALL {
            if let Some(d) = self.rule(action).within_days {
                if !(1..=MAX_WITHIN_DAYS).contains(&d) {
                    return Err(format!(
                        "{}.within_days must be null or between 1 and {MAX_WITHIN_DAYS}",
                        action.as_str()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Who is acting.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub user_id: i64,
    pub is_admin: bool,
}

/// What a rule needs to know about the item acted on.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub author_id: Option<i64>,
    pub card_owner_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl Rule {
    pub fn allows(&self, actor: Actor, item: Item, now: DateTime<Utc>) -> bool {
        let by_who = match self.who {
            Who::Nobody => false,
            Who::Admins => actor.is_admin,
            Who::Author => actor.is_admin || item.author_id == Some(actor.user_id),
            Who::CardOwner => actor.is_admin || item.card_owner_id == Some(actor.user_id),
            Who::Everyone => true,
        };
        let in_time = self
            .within_days
            .is_none_or(|d| now - item.created_at <= chrono::Duration::days(i64::from(d)));
        by_who && in_time
    }

    /// Why `allows` said no, for the 403 message.
    pub fn refusal(&self, action: Action) -> String {
        let who = match self.who {
            Who::Nobody => "nobody may".to_owned(),
            Who::Admins => "only admins may".to_owned(),
            Who::Author => "only its author and admins may".to_owned(),
            Who::CardOwner => "only the card's owner and admins may".to_owned(),
            Who::Everyone => "everyone may".to_owned(),
        };
        let when = self
            .within_days
            .map(|d| format!(" within {d} days of its creation"))
            .unwrap_or_default();
        format!("the {} policy says {who} do this{when}", action.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days_ago: i64) -> Item {
        Item {
            author_id: Some(1),
            card_owner_id: Some(2),
            created_at: Utc::now() - chrono::Duration::days(days_ago),
        }
    }

    const AUTHOR: Actor = Actor {
        user_id: 1,
        is_admin: false,
    };
    const OWNER: Actor = Actor {
        user_id: 2,
        is_admin: false,
    };
    const OTHER: Actor = Actor {
        user_id: 3,
        is_admin: false,
    };
    const ADMIN: Actor = Actor {
        user_id: 9,
        is_admin: true,
    };

    #[test]
    fn each_choice_admits_exactly_its_people() {
        let now = Utc::now();
        let table = [
            (Who::Nobody, [false, false, false, false]),
            (Who::Admins, [false, false, false, true]),
            (Who::Author, [true, false, false, true]),
            (Who::CardOwner, [false, true, false, true]),
            (Who::Everyone, [true, true, true, true]),
        ];
        for (who, expect) in table {
            let rule = Rule {
                who,
                within_days: None,
            };
            let got = [AUTHOR, OWNER, OTHER, ADMIN].map(|a| rule.allows(a, at(0), now));
            assert_eq!(got, expect, "{who:?}");
        }
    }

    #[test]
    fn within_days_binds_everyone_admins_included() {
        let now = Utc::now();
        let rule = Rule {
            who: Who::Everyone,
            within_days: Some(7),
        };
        assert!(rule.allows(OTHER, at(6), now));
        assert!(!rule.allows(OTHER, at(8), now));
        assert!(!rule.allows(ADMIN, at(8), now));
        assert!(rule.refusal(Action::DeleteEntry).contains("within 7 days"));
    }

    #[test]
    fn policies_round_trip_the_pinned_shape() {
        let json = serde_json::json!({
            "delete_document": {"who": "author", "within_days": 30},
            "delete_entry": {"who": "nobody", "within_days": null},
            "reopen_task": {"who": "card_owner", "within_days": null},
            "edit_others_entry": {"who": "everyone", "within_days": null},
        });
        let p: Policies = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(p.delete_document.who, Who::Author);
        assert_eq!(serde_json::to_value(p).unwrap(), json);
        assert!(serde_json::from_value::<Policies>(
            serde_json::json!({"delete_document": {"who": "root"}})
        )
        .is_err());
        let mut bad = p;
        bad.delete_entry.within_days = Some(0);
        assert!(bad.validate().is_err());
    }
}
