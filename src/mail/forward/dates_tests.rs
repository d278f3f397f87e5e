use super::*;

fn at(offset_h: i32) -> FixedOffset {
    FixedOffset::east_opt(offset_h * 3600).unwrap()
}

fn check(raw: &str, lang: &str, want: &str) {
    let got = parse(raw, at(2), lang).map(|d| d.to_rfc3339());
    assert_eq!(got.as_deref(), Some(want), "{raw}");
}

#[test]
fn english_formats() {
    check(
        "Mon, Jun 2, 2025 at 3:04 PM",
        "",
        "2025-06-02T15:04:00+02:00",
    );
    check(
        "Monday, June 2, 2025 3:04 PM",
        "",
        "2025-06-02T15:04:00+02:00",
    );
    check(
        "Monday, June 02, 2025 12:04 AM",
        "",
        "2025-06-02T00:04:00+02:00",
    );
    check("Mon, 2 Jun 2025, 15:04", "", "2025-06-02T15:04:00+02:00");
    check(
        "2 June 2025 at 15:04:05 CEST",
        "",
        "2025-06-02T15:04:05+02:00",
    );
    check(
        "June 2, 2025 at 3:04:05\u{202f}PM GMT+2",
        "",
        "2025-06-02T15:04:05+02:00",
    );
    check(
        "Monday, June 2, 2025 at 03:04:05 PM GMT+02:00",
        "",
        "2025-06-02T15:04:05+02:00",
    );
    check(
        "On Monday, June 2nd, 2025 at 3:04 PM",
        "",
        "2025-06-02T15:04:00+02:00",
    );
    check(
        "Mon, 2 Jun 2025 15:04:05 +0100 (BST)",
        "",
        "2025-06-02T15:04:05+01:00",
    );
    check(
        "Mon, 02 Jun 2025 09:04:05 -0400",
        "",
        "2025-06-02T09:04:05-04:00",
    );
    check(
        "Monday, June 2, 2025 9:04 AM EDT",
        "",
        "2025-06-02T09:04:00-04:00",
    );
    check("06/02/2025 3:04 PM", "", "2025-06-02T15:04:00+02:00");
}

#[test]
fn numeric_formats() {
    check("02.06.2025 15:04", "", "2025-06-02T15:04:00+02:00");
    check("2025-06-02 15:04", "", "2025-06-02T15:04:00+02:00");
    check("02/06/2025 15:04", "", "2025-06-02T15:04:00+02:00");
    check("2.6.2025 klo 15.04", "fi", "2025-06-02T15:04:00+02:00");
    check("2025. 06. 02. 15:04", "hu", "2025-06-02T15:04:00+02:00");
    check("2025.06.02. 15:04", "hu", "2025-06-02T15:04:00+02:00");
    check("2-6-2025 15:04", "nl", "2025-06-02T15:04:00+02:00");
    check("2025年6月2日 15:04", "", "2025-06-02T15:04:00+02:00");
    check(
        "2025년 6월 2일 월요일 오후 3:04",
        "",
        "2025-06-02T15:04:00+02:00",
    );
}

#[test]
fn localized_month_names() {
    for (raw, lang) in [
        ("mardi 3 juin 2025 14:05", "fr"),
        ("mar. 3 juin 2025 à 14:05", ""),
        ("3. Juni 2025 um 14:05", "de"),
        ("Di., 3. Juni 2025 um 14:05 Uhr", ""),
        ("Dienstag, 3. Juni 2025 14:05", "de"),
        ("dinsdag 3 juni 2025 14:05", "nl"),
        ("di 3 jun 2025 om 14:05", ""),
        ("marți, 3 iunie 2025 14:05", "ro"),
        ("martes, 3 de junio de 2025 14:05", "es"),
        ("mar, 3 jun 2025 a las 14:05", ""),
        ("martedì 3 giugno 2025 14:05", "it"),
        ("3 de junho de 2025 14:05", "pt"),
        ("terça-feira, 3 de junho de 2025 14:05", "pt"),
        ("wtorek, 3 czerwca 2025 14:05", "pl"),
        ("úterý 3. června 2025 14:05", "cs"),
        ("utorok 3. júna 2025 14:05", "sk"),
        ("2025. június 3., kedd 14:05", "hu"),
        ("3. juni 2025 14:05", ""),
        ("tirsdag 3. juni 2025 14:05", ""),
        ("den 3 juni 2025 14:05", "sv"),
        ("tiistai 3. kesäkuuta 2025 14.05", "fi"),
        ("3 июня 2025 г. 14:05", "ru"),
        ("вторник, 3 июня 2025 г. 14:05", "ru"),
        ("3 Haziran 2025 Salı 14:05", "tr"),
        ("utorak, 3. lipnja 2025. 14:05", "hr"),
        ("3. Juni 2025 um 14:05:00 MESZ", ""),
        ("3 juin 2025 à 14:05:00 UTC+2", ""),
    ] {
        check(raw, lang, "2025-06-03T14:05:00+02:00");
    }
}

#[test]
fn shared_month_names_follow_the_language() {
    check(
        "1. listopada 2025. 10:00",
        "hr",
        "2025-10-01T10:00:00+02:00",
    );
    check("1 listopada 2025 10:00", "pl", "2025-11-01T10:00:00+02:00");
}

#[test]
fn default_offset_applies_without_zone() {
    let got = parse("02.06.2025 15:04", at(-5), "").unwrap();
    assert_eq!(got.to_rfc3339(), "2025-06-02T15:04:00-05:00");
}

#[test]
fn garbage_is_none() {
    for raw in [
        "",
        "yesterday",
        "sometime next week",
        "32.13.2025 25:99",
        "Juni",
        "2025",
        "15:04",
        "::",
        "+",
        "99/99/99",
    ] {
        assert_eq!(parse(raw, at(0), ""), None, "{raw}");
    }
}
