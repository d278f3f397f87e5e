//! Dates as written in forwarded header blocks, in any of the supported
//! languages: `Mon, Jun 2, 2025 at 3:04 PM`, `mardi 3 juin 2025 14:05`,
//! `3. Juni 2025 um 14:05`, `2025. június 3., kedd 14:05`, `02.06.2025 15:04`,
//! `2025-06-02 15:04`, `Mon, 2 Jun 2025 15:04:05 +0200`…
//!
//! Token based rather than one format per client: weekdays and filler words
//! ("at", "um", "à", "a las", "klo", "г.") are simply ignored.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};

use super::months;

/// Parses `raw`; a time without zone gets `default_offset`. `lang` (from the
/// block's labels, may be empty) settles month names shared by languages.
pub(crate) fn parse(
    raw: &str,
    default_offset: FixedOffset,
    lang: &str,
) -> Option<DateTime<FixedOffset>> {
    let text = normalize(raw);
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '|'))
        .filter(|t| !t.is_empty())
        .collect();
    let mut found = Found::default();
    for (i, tok) in tokens.iter().enumerate() {
        found.feed(i, tok, tokens.get(i + 1).copied(), lang);
    }
    found.finish(default_offset)
}

fn normalize(raw: &str) -> String {
    let mut s = raw.to_lowercase();
    for (from, to) in [
        ("a. m.", " am "),
        ("p. m.", " pm "),
        ("a.m.", " am "),
        ("p.m.", " pm "),
        ("下午", " pm "),
        ("上午", " am "),
        ("午後", " pm "),
        ("午前", " am "),
        ("오후", " pm "),
        ("오전", " am "),
        ("年", "-"),
        ("月", "-"),
        ("日", " "),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s
}

#[derive(Default)]
struct Found {
    ymd: Option<(i32, u32, u32)>,
    /// `a/b/y`: day/month or month/day, settled by AM/PM.
    slash: Option<(u32, u32, i32)>,
    time: Option<(u32, u32, u32)>,
    pm: Option<bool>,
    offset_min: Option<i32>,
    /// (token index, value, digit count)
    nums: Vec<(usize, u32, usize)>,
    /// (token index, month)
    months: Vec<(usize, u32)>,
}

impl Found {
    fn feed(&mut self, i: usize, tok: &str, next: Option<&str>, lang: &str) {
        if self.ymd.is_none() && self.slash.is_none() && self.numeric_date(tok) {
            return;
        }
        if tok.contains(':') && !tok.starts_with(['+', '-']) {
            if let Some((h, m, s, pm)) = parse_time(tok) {
                if self.time.is_none() {
                    self.time = Some((h, m, s));
                }
                self.pm = self.pm.or(pm);
                return;
            }
        }
        if let Some((h, m)) = dotted_time(tok) {
            if self.time.is_none() {
                self.time = Some((h, m, 0));
            }
            return;
        }
        match tok {
            "am" => self.pm = Some(false),
            "pm" => self.pm = Some(true),
            _ => {}
        }
        if let Some(off) = zone(tok, next) {
            self.offset_min = self.offset_min.or(Some(off));
            return;
        }
        if let Some((v, digits)) = number(tok) {
            self.nums.push((i, v, digits));
        } else if let Some(m) = months::month(tok, lang) {
            self.months.push((i, m));
        }
    }

    fn numeric_date(&mut self, tok: &str) -> bool {
        let t = tok.trim_end_matches('.');
        let Some(sep) = t.chars().find(|c| !c.is_ascii_digit()) else {
            return false;
        };
        if !matches!(sep, '.' | '-' | '/') {
            return false;
        }
        let parts: Vec<&str> = t.split(sep).collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return false;
        }
        let n = |p: &str| p.parse::<u32>().unwrap_or(0);
        let year = |p: &str| {
            if p.len() <= 2 {
                2000 + n(p) as i32
            } else {
                n(p) as i32
            }
        };
        if parts[0].len() == 4 {
            self.ymd = Some((year(parts[0]), n(parts[1]), n(parts[2])));
        } else if sep == '/' {
            self.slash = Some((n(parts[0]), n(parts[1]), year(parts[2])));
        } else {
            self.ymd = Some((year(parts[2]), n(parts[1]), n(parts[0])));
        }
        true
    }

    fn finish(self, default_offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
        let (y, mo, d) = self
            .ymd
            .or_else(|| self.slash_date())
            .or_else(|| self.named_date())
            .or_else(|| self.bare_numbers())?;
        if !(1970..=2100).contains(&y) {
            return None;
        }
        let (mut h, mi, s) = self.time.unwrap_or((0, 0, 0));
        match self.pm {
            Some(true) if h < 12 => h += 12,
            Some(false) if h == 12 => h = 0,
            _ => {}
        }
        let offset = match self.offset_min {
            Some(min) => FixedOffset::east_opt(min * 60)?,
            None => default_offset,
        };
        let naive = NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, s)?;
        offset.from_local_datetime(&naive).single()
    }

    fn slash_date(&self) -> Option<(i32, u32, u32)> {
        let (a, b, y) = self.slash?;
        // US clients write m/d/y and use AM/PM; everyone else writes d/m/y.
        let month_first = b > 12 || (a <= 12 && self.pm.is_some());
        Some(if month_first { (y, a, b) } else { (y, b, a) })
    }

    fn named_date(&self) -> Option<(i32, u32, u32)> {
        let year = self.nums.iter().find(|n| n.2 == 4)?;
        // "mar, 3 jun 2025": a weekday can read as a month ("mar" = martes),
        // so take the month name nearest before the year.
        let month = self
            .months
            .iter()
            .rev()
            .find(|m| m.0 < year.0)
            .or(self.months.first())?;
        let day = self
            .nums
            .iter()
            .filter(|n| n.0 != year.0 && n.2 <= 2 && (1..=31).contains(&n.1))
            .min_by_key(|n| n.0.abs_diff(month.0))?;
        Some((year.1 as i32, month.1, day.1))
    }

    /// "2025. 06. 02." (Hungarian) or "2025년 6월 2일" (Korean).
    fn bare_numbers(&self) -> Option<(i32, u32, u32)> {
        match self.nums.as_slice() {
            [a, b, c, ..] if a.2 == 4 => Some((a.1 as i32, b.1, c.1)),
            [a, b, c, ..] if c.2 == 4 => Some((c.1 as i32, b.1, a.1)),
            _ => None,
        }
    }
}

/// `15:04`, `15:04:05`, `3:04pm` → (h, m, s, pm?)
fn parse_time(tok: &str) -> Option<(u32, u32, u32, Option<bool>)> {
    let (t, pm) = match tok.strip_suffix("pm") {
        Some(t) => (t, Some(true)),
        None => match tok.strip_suffix("am") {
            Some(t) => (t, Some(false)),
            None => (tok.trim_end_matches('h'), None),
        },
    };
    let parts: Vec<&str> = t.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n = |i: usize| {
        parts
            .get(i)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    (n(0) <= 23 && n(1) <= 59 && n(2) <= 60).then(|| (n(0), n(1), n(2).min(59), pm))
}

/// Finnish `15.04`.
fn dotted_time(tok: &str) -> Option<(u32, u32)> {
    let (h, m) = tok.split_once('.')?;
    if h.is_empty()
        || h.len() > 2
        || m.len() != 2
        || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (h, m) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 23 && m <= 59).then_some((h, m))
}

/// `+0200`, `-05:00`, `GMT+2`, `UTC+05:30`, `CEST` → minutes east of UTC.
fn zone(tok: &str, next: Option<&str>) -> Option<i32> {
    if let Some(min) = zone_abbrev_or_offset(tok) {
        // "GMT +0200": the offset that follows is the real one.
        if min == 0 && matches!(tok, "gmt" | "utc") {
            if let Some(n) = next.and_then(offset) {
                return Some(n);
            }
        }
        return Some(min);
    }
    None
}

fn zone_abbrev_or_offset(tok: &str) -> Option<i32> {
    if let Some(rest) = tok.strip_prefix("gmt").or_else(|| tok.strip_prefix("utc")) {
        if rest.is_empty() {
            return Some(0);
        }
        return offset(rest);
    }
    offset(tok).or_else(|| months::zone_abbreviation(tok))
}

fn offset(tok: &str) -> Option<i32> {
    let (sign, body) = if let Some(b) = tok.strip_prefix('+') {
        (1, b)
    } else if let Some(b) = tok.strip_prefix(['-', '−']) {
        (-1, b)
    } else {
        return None;
    };
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h, m),
        None if body.len() == 4 && body.is_ascii() => body.split_at(2),
        None => (body, "0"),
    };
    if h.is_empty()
        || h.len() > 2
        || m.len() > 2
        || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m <= 59).then_some(sign * (h * 60 + m))
}

/// `2`, `2.`, `2nd`, `1er`, `2025г`, `6월` → (value, digit count)
fn number(tok: &str) -> Option<(u32, usize)> {
    let t = tok.trim_end_matches('.');
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 4 {
        return None;
    }
    let suffix = &t[digits..];
    if !matches!(
        suffix,
        "" | "st" | "nd" | "rd" | "th" | "er" | "e" | "º" | "ª" | "г" | "년" | "월" | "일"
    ) {
        return None;
    }
    Some((t[..digits].parse().ok()?, digits))
}

#[cfg(test)]
#[path = "dates_tests.rs"]
mod tests;
