//! Month names (nominative, genitive, abbreviations) and zone abbreviations.

/// (month 1–12, language, names lowercase without trailing dot).
/// Language only matters where a name is shared: `listopad` is November in
/// Polish/Czech but October in Croatian.
#[rustfmt::skip]
const MONTHS: &[(u32, &str, &[&str])] = &[
    (1, "", &["january", "jan", "januar", "jänner", "januari", "janvier", "janv", "enero", "ene", "gennaio", "gen", "janeiro", "ianuarie", "ian", "styczeń", "stycznia", "sty", "leden", "ledna", "január", "januára", "tammikuu", "tammikuuta", "январь", "января", "янв", "ocak", "siječanj", "siječnja", "sij"]),
    (2, "", &["february", "feb", "februar", "februari", "février", "févr", "fevrier", "fevr", "febrero", "febbraio", "fevereiro", "fev", "februarie", "luty", "lutego", "lut", "únor", "února", "február", "februára", "febr", "helmikuu", "helmikuuta", "февраль", "февраля", "фев", "şubat", "veljača", "veljače", "velj"]),
    (3, "", &["march", "mar", "märz", "mär", "mrz", "maart", "mrt", "mars", "marzo", "março", "martie", "marzec", "marca", "březen", "března", "marec", "március", "márc", "marts", "maaliskuu", "maaliskuuta", "март", "марта", "mart", "ožujak", "ožujka", "ožu"]),
    (4, "", &["april", "apr", "avril", "avr", "abril", "abr", "aprile", "aprilie", "kwiecień", "kwietnia", "kwi", "duben", "dubna", "apríl", "apríla", "április", "ápr", "huhtikuu", "huhtikuuta", "апрель", "апреля", "апр", "nisan", "travanj", "travnja", "tra"]),
    (5, "", &["may", "mai", "mei", "mayo", "maggio", "mag", "maio", "maj", "maja", "květen", "května", "máj", "mája", "május", "toukokuu", "toukokuuta", "май", "мая", "mayıs", "svibanj", "svibnja", "svi"]),
    (6, "", &["june", "jun", "juni", "juin", "junio", "giugno", "giu", "junho", "iunie", "iun", "czerwiec", "czerwca", "cze", "červen", "června", "jún", "júna", "június", "kesäkuu", "kesäkuuta", "июнь", "июня", "июн", "haziran", "lipanj", "lipnja"]),
    (7, "", &["july", "jul", "juli", "juillet", "juil", "julio", "luglio", "lug", "julho", "iulie", "iul", "lipiec", "lipca", "lip", "červenec", "července", "júl", "júla", "július", "heinäkuu", "heinäkuuta", "июль", "июля", "июл", "temmuz", "srpanj", "srpnja"]),
    (8, "", &["august", "aug", "augustus", "août", "aout", "agosto", "ago", "sierpień", "sierpnia", "sie", "srpen", "srpna", "augusta", "augusztus", "augusti", "elokuu", "elokuuta", "август", "августа", "авг", "ağustos", "kolovoz", "kolovoza", "kol"]),
    (9, "", &["september", "sep", "sept", "septembre", "septiembre", "setiembre", "settembre", "set", "setembro", "septembrie", "wrzesień", "września", "wrz", "září", "septembra", "szeptember", "szept", "syyskuu", "syyskuuta", "сентябрь", "сентября", "сен", "сент", "eylül", "rujan", "rujna", "ruj"]),
    (10, "", &["october", "oct", "oktober", "okt", "octobre", "octubre", "ottobre", "ott", "outubro", "out", "octombrie", "październik", "października", "paź", "říjen", "října", "október", "októbra", "lokakuu", "lokakuuta", "октябрь", "октября", "окт", "ekim"]),
    (10, "hr", &["listopad", "listopada", "lis"]),
    (11, "", &["november", "nov", "novembre", "noviembre", "novembro", "noiembrie", "noi", "listopad", "listopada", "lis", "listopadu", "novembra", "marraskuu", "marraskuuta", "ноябрь", "ноября", "ноя", "kasım", "studeni", "studenoga", "studenog", "stu"]),
    (12, "", &["december", "dec", "dezember", "dez", "décembre", "déc", "decembre", "diciembre", "dic", "dicembre", "dezembro", "decembrie", "grudzień", "grudnia", "gru", "prosinec", "prosince", "decembra", "joulukuu", "joulukuuta", "декабрь", "декабря", "дек", "aralık", "prosinac", "prosinca", "pro"]),
];

/// Month number for a lowercase token, preferring `lang`'s reading.
pub(crate) fn month(token: &str, lang: &str) -> Option<u32> {
    let token = token.trim_end_matches('.');
    let hits = MONTHS.iter().filter(|(_, _, names)| names.contains(&token));
    let mut fallback = None;
    for &(m, l, _) in hits {
        if !lang.is_empty() && l == lang {
            return Some(m);
        }
        if l.is_empty() && fallback.is_none() {
            fallback = Some(m);
        }
    }
    fallback
}

/// Offset in minutes east of UTC for a zone abbreviation.
pub(crate) fn zone_abbreviation(token: &str) -> Option<i32> {
    Some(match token {
        "utc" | "gmt" | "ut" | "wet" | "wez" => 0,
        "cet" | "mez" | "west" | "wesz" | "bst" => 60,
        "cest" | "mesz" | "eet" | "oez" => 120,
        "eest" | "oesz" | "msk" | "trt" => 180,
        "est" => -300,
        "edt" => -240,
        "cst" => -360,
        "cdt" => -300,
        "mst" => -420,
        "mdt" => -360,
        "pst" => -480,
        "pdt" => -420,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_by_language() {
        assert_eq!(month("juni", ""), Some(6));
        assert_eq!(month("czerwca", "pl"), Some(6));
        assert_eq!(month("června", "cs"), Some(6));
        assert_eq!(month("července", "cs"), Some(7));
        assert_eq!(month("kesäkuuta", "fi"), Some(6));
        assert_eq!(month("июня", "ru"), Some(6));
        assert_eq!(month("lipnja", "hr"), Some(6));
        assert_eq!(month("listopada", "hr"), Some(10));
        assert_eq!(month("listopada", "pl"), Some(11));
        assert_eq!(month("févr.", ""), Some(2));
        assert_eq!(month("montag", ""), None);
    }

    #[test]
    fn zones() {
        assert_eq!(zone_abbreviation("cest"), Some(120));
        assert_eq!(zone_abbreviation("cdt"), Some(-300));
        assert_eq!(zone_abbreviation("edt"), Some(-240));
        assert_eq!(zone_abbreviation("xyz"), None);
    }
}
