//! Header-block labels as mail clients write them, per language.
//!
//! Outlook writes the labels in the sender's UI language; Gmail localizes only
//! "From" (`Von:`/`De :`/`Van:`) and keeps Date/Subject/To in English; Apple,
//! Thunderbird, Yahoo, GMX and the webmailers localize all of them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    From,
    Date,
    To,
    Cc,
    Subject,
    /// Bcc, Reply-To, Importance, Attachments…: part of the block, value unused.
    Other,
}

use Field::*;

/// (lowercase label, field, language when the label is specific to one).
/// The language only breaks ties (Croatian month names, Finnish `VS:`).
const LABELS: &[(&str, Field, &str)] = &[
    // English
    ("from", From, ""),
    ("sent", Date, ""),
    ("date", Date, ""),
    ("to", To, ""),
    ("cc", Cc, ""),
    ("bcc", Other, ""),
    ("subject", Subject, ""),
    ("reply-to", Other, ""),
    ("importance", Other, ""),
    ("attachments", Other, ""),
    // German
    ("von", From, "de"),
    ("gesendet", Date, "de"),
    ("datum", Date, ""),
    ("an", To, "de"),
    ("betreff", Subject, "de"),
    ("wichtigkeit", Other, "de"),
    ("anlagen", Other, "de"),
    ("antwort an", Other, "de"),
    // French
    ("de", From, ""),
    ("envoyé", Date, "fr"),
    ("envoyé le", Date, "fr"),
    ("à", To, "fr"),
    ("objet", Subject, "fr"),
    ("cci", Other, "fr"),
    ("répondre à", Other, "fr"),
    ("importance élevée", Other, "fr"),
    ("pièces jointes", Other, "fr"),
    // Dutch
    ("van", From, "nl"),
    ("verzonden", Date, "nl"),
    ("aan", To, "nl"),
    ("onderwerp", Subject, "nl"),
    ("bijlagen", Other, "nl"),
    // Romanian
    ("de la", From, "ro"),
    ("trimis", Date, "ro"),
    ("către", To, "ro"),
    ("catre", To, "ro"),
    ("subiect", Subject, "ro"),
    ("data", Date, ""),
    // Spanish
    ("enviado el", Date, "es"),
    ("enviado", Date, ""),
    ("fecha", Date, "es"),
    ("para", To, ""),
    ("asunto", Subject, "es"),
    ("cco", Other, ""),
    ("datos adjuntos", Other, "es"),
    // Italian
    ("da", From, "it"),
    ("inviato", Date, "it"),
    ("a", To, "it"),
    ("oggetto", Subject, "it"),
    ("ccn", Other, "it"),
    ("allegati", Other, "it"),
    // Portuguese
    ("enviada", Date, "pt"),
    ("enviada em", Date, "pt"),
    ("enviado em", Date, "pt"),
    ("assunto", Subject, "pt"),
    ("anexos", Other, ""),
    // Polish
    ("od", From, ""),
    ("wysłano", Date, "pl"),
    ("wysłane", Date, "pl"),
    ("do", To, "pl"),
    ("dw", Cc, "pl"),
    ("temat", Subject, "pl"),
    ("załączniki", Other, "pl"),
    // Czech
    ("odesláno", Date, "cs"),
    ("komu", To, ""),
    ("kopie", Cc, ""),
    ("předmět", Subject, "cs"),
    ("přílohy", Other, "cs"),
    // Slovak
    ("odoslané", Date, "sk"),
    ("predmet", Subject, ""),
    ("kópia", Cc, "sk"),
    ("dátum", Date, ""),
    // Hungarian
    ("feladó", From, "hu"),
    ("elküldve", Date, "hu"),
    ("küldve", Date, "hu"),
    ("címzett", To, "hu"),
    ("másolatot kap", Cc, "hu"),
    ("másolat", Cc, "hu"),
    ("tárgy", Subject, "hu"),
    // Danish / Norwegian
    ("fra", From, ""),
    ("sendt", Date, ""),
    ("til", To, ""),
    ("emne", Subject, ""),
    ("kopi", Cc, ""),
    ("dato", Date, ""),
    // Swedish
    ("från", From, "sv"),
    ("skickat", Date, "sv"),
    ("till", To, "sv"),
    ("kopia", Cc, "sv"),
    ("ämne", Subject, "sv"),
    // Finnish
    ("lähettäjä", From, "fi"),
    ("lähetetty", Date, "fi"),
    ("päivämäärä", Date, "fi"),
    ("vastaanottaja", To, "fi"),
    ("kopio", Cc, "fi"),
    ("aihe", Subject, "fi"),
    // Russian
    ("от", From, "ru"),
    ("отправлено", Date, "ru"),
    ("дата", Date, "ru"),
    ("кому", To, "ru"),
    ("копия", Cc, "ru"),
    ("тема", Subject, "ru"),
    // Turkish
    ("kimden", From, "tr"),
    ("gönderildi", Date, "tr"),
    ("tarih", Date, "tr"),
    ("kime", To, "tr"),
    ("bilgi", Cc, "tr"),
    ("konu", Subject, "tr"),
    // Croatian
    ("šalje", From, "hr"),
    ("poslano", Date, "hr"),
    ("prima", To, "hr"),
    ("kopija", Cc, "hr"),
];

/// Recognizes `label` (as written before the colon).
pub(crate) fn lookup(label: &str) -> Option<(Field, &'static str)> {
    if label.is_empty() || label.chars().count() > 24 {
        return None;
    }
    let norm = label
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    LABELS
        .iter()
        .find(|(l, _, _)| *l == norm)
        .map(|&(_, f, lang)| (f, lang))
}

/// Splits `Label: value` (also `*Label:*`, French `De :`, full-width colon).
pub(crate) fn split_line(line: &str) -> Option<(Field, &'static str, &str)> {
    let t = line.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '*');
    let (pos, colon_len) = t
        .char_indices()
        .take(30)
        .find(|&(_, c)| c == ':' || c == '：')
        .map(|(i, c)| (i, c.len_utf8()))?;
    let label = t[..pos].trim_matches(|c: char| c.is_whitespace() || c == '*');
    let (field, lang) = lookup(label)?;
    let value = t[pos + colon_len..]
        .trim_start_matches('*')
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    Some((field, lang, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_in_many_languages() {
        assert_eq!(split_line("From: A <a@x>"), Some((From, "", "A <a@x>")));
        assert_eq!(split_line("De\u{a0}: Jean"), Some((From, "", "Jean")));
        assert_eq!(split_line("*Von:* Hans"), Some((From, "de", "Hans")));
        assert_eq!(split_line("Enviado el: lunes"), Some((Date, "es", "lunes")));
        assert_eq!(split_line("De la: Ion"), Some((From, "ro", "Ion")));
        assert_eq!(split_line("Subject: \tOffer"), Some((Subject, "", "Offer")));
        assert_eq!(split_line("Šalje: Ivan"), Some((From, "hr", "Ivan")));
        assert_eq!(
            split_line("Отправлено: 3 июня"),
            Some((Date, "ru", "3 июня"))
        );
        assert_eq!(split_line("Cc:"), Some((Cc, "", "")));
    }

    #[test]
    fn prose_is_not_a_label() {
        assert_eq!(split_line("Note: call me"), None);
        assert_eq!(split_line("Hi John, see below"), None);
        assert_eq!(split_line("The meeting is at 15:00 in room A: west"), None);
        assert_eq!(split_line("> From: quoted"), None);
    }
}
