//! MAIL/RCPT parameters: smtp-proto parses every extension it knows, but a
//! client may only use the ones we advertised (RFC 5321 §4.1.1.11 → 555).

use smtp_proto::{
    MailFrom, RcptTo, MAIL_BODY_BINARYMIME, MAIL_BY_NOTIFY, MAIL_BY_RETURN, MAIL_BY_TRACE,
    MAIL_CONPERM, MAIL_REQUIRETLS, MAIL_RET_FULL, MAIL_RET_HDRS,
};

/// First MAIL parameter we did not advertise, if any. SIZE, BODY=7BIT/8BITMIME
/// and SMTPUTF8 are the supported ones.
pub(super) fn unsupported_mail_param(from: &MailFrom<String>) -> Option<&'static str> {
    let by_flags = MAIL_BY_NOTIFY | MAIL_BY_RETURN | MAIL_BY_TRACE;
    [
        (from.flags & MAIL_BODY_BINARYMIME != 0, "BODY=BINARYMIME"),
        (from.flags & (MAIL_RET_FULL | MAIL_RET_HDRS) != 0, "RET"),
        (from.env_id.is_some(), "ENVID"),
        (from.flags & MAIL_REQUIRETLS != 0, "REQUIRETLS"),
        (from.flags & MAIL_CONPERM != 0, "CONPERM"),
        (from.by != 0 || from.flags & by_flags != 0, "BY"),
        (from.hold_for != 0, "HOLDFOR"),
        (from.hold_until != 0, "HOLDUNTIL"),
        (from.trans_id.is_some(), "TRANSID"),
        (from.solicit.is_some(), "SOLICIT"),
        (from.mtrk.is_some(), "MTRK"),
        (from.auth.is_some(), "AUTH"),
        (from.mt_priority != 0, "MT-PRIORITY"),
    ]
    .into_iter()
    .find_map(|(present, name)| present.then_some(name))
}

/// RCPT takes no parameters here (NOTIFY/ORCPT are DSN, which is not offered).
pub(super) fn unsupported_rcpt_param(to: &RcptTo<String>) -> Option<&'static str> {
    [
        (to.flags != 0, "NOTIFY/CONNEG/RRVS"),
        (to.orcpt.is_some(), "ORCPT"),
        (to.rrvs != 0, "RRVS"),
    ]
    .into_iter()
    .find_map(|(present, name)| present.then_some(name))
}
