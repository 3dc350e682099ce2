//! Numbers that identify a person: payment cards, IBANs, US social security
//! numbers and phone numbers.

/// A payment card number: 13 to 19 digits, the first not `0`, optionally
/// grouped by single spaces or dashes (one kind of separator throughout),
/// with a valid Luhn check digit (`4111 1111 1111 1111`, `4111-1111-1111-1111`).
pub fn is_card(s: &str) -> bool {
    let b = s.as_bytes();
    if !(13..=23).contains(&b.len()) || !b.first().is_some_and(|c| matches!(c, b'1'..=b'9')) {
        return false;
    }
    let mut separator = None;
    let mut prev_digit = false;
    let mut digits = 0usize;
    // Luhn from the right: every second digit doubled.
    let mut sum = 0u32;
    for &c in b.iter().rev() {
        match c {
            b'0'..=b'9' => {
                let d = u32::from(c - b'0');
                sum += if digits % 2 == 1 {
                    let twice = d * 2;
                    if twice > 9 { twice - 9 } else { twice }
                } else {
                    d
                };
                digits += 1;
                prev_digit = true;
            }
            b' ' | b'-' => {
                if !prev_digit || separator.is_some_and(|s| s != c) {
                    return false;
                }
                separator = Some(c);
                prev_digit = false;
            }
            _ => return false,
        }
    }
    prev_digit && (13..=19).contains(&digits) && sum.is_multiple_of(10)
}

/// IBAN lengths by country (ISO 13616 registry), sorted by country code.
pub(super) const IBAN_LENGTHS: [(&[u8; 2], u8); 89] = [
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The IBAN length of a country, if it has IBANs.
fn iban_length(country: [u8; 2]) -> Option<usize> {
    let i = IBAN_LENGTHS.binary_search_by(|(c, _)| (*c).cmp(&country)).ok()?;
    IBAN_LENGTHS.get(i).map(|(_, len)| usize::from(*len))
}

/// An IBAN: a country code, two check digits and the account, the length the
/// country uses, with the ISO 7064 mod-97 check; letters in either case,
/// optionally grouped by single spaces (`GB82 WEST 1234 5698 7654 32`).
pub fn is_iban(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 15 || b.len() > 42 {
        return false;
    }
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut prev_space = true;
    for &c in b {
        if c == b' ' {
            if prev_space {
                return false;
            }
            prev_space = true;
            continue;
        }
        if !c.is_ascii_alphanumeric() || n == chars.len() {
            return false;
        }
        chars[n] = c.to_ascii_uppercase();
        n += 1;
        prev_space = false;
    }
    if prev_space {
        return false;
    }
    let [c0, c1, d0, d1, ..] = chars;
    if !c0.is_ascii_uppercase() || !c1.is_ascii_uppercase() || !d0.is_ascii_digit() || !d1.is_ascii_digit() {
        return false;
    }
    if iban_length([c0, c1]) != Some(n) {
        return false;
    }
    // The account first, then country and check digits; letters count 10..35.
    let mut rem = 0u32;
    for &c in chars[4..n].iter().chain(&chars[..4]) {
        rem = if c.is_ascii_digit() {
            (rem * 10 + u32::from(c - b'0')) % 97
        } else {
            (rem * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    rem == 1
}

/// A US social security number, `ddd-dd-dddd`, that could be issued: the area
/// is not `000`, `666` or `9xx`, the group not `00`, the serial not `0000`.
pub fn is_ssn(s: &str) -> bool {
    let b = s.as_bytes();
    let [a0, a1, a2, b'-', g0, g1, b'-', s0, s1, s2, s3] = *b else {
        return false;
    };
    let digits = [a0, a1, a2, g0, g1, s0, s1, s2, s3];
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let area = [a0, a1, a2];
    area != *b"000" && area != *b"666" && a0 != b'9' && [g0, g1] != *b"00" && [s0, s1, s2, s3] != *b"0000"
}

/// A phone number, in one of the written forms:
///
/// - international: `+` (or `00`) and 8 to 15 digits, the first not `0`,
///   grouped by spaces, dashes, dots or an area code in parentheses
///   (`+44 20 7946 0958`, `+1 (555) 010-4477`, `+442079460958`);
/// - North American: `(555) 010-4477`, `555-010-4477`, `555.010.4477`,
///   `555 010 4477`, optionally after `1-` or `1 `;
/// - national with a trunk `0`: 10 or 11 digits in 2 to 5 groups of 2 to 5
///   (`020 7946 0958`, `030-1234-5678`).
///
/// Dates (`2026-11-22`), times and versions (`1.2.3`) are none of these.
pub fn is_phone(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 9 || b.len() > 24 {
        return false;
    }
    if let Some(rest) = b.strip_prefix(b"+") {
        return international(rest);
    }
    if let Some(rest) = b.strip_prefix(b"00") {
        return rest.first().is_some_and(|c| matches!(c, b'1'..=b'9')) && international(rest);
    }
    north_american(b) || national(b)
}

/// The digit groups of a phone number written with separators (space, `-`,
/// `.`, one group in parentheses): their lengths and count, and the digits.
/// `None` when the form is not well made: a separator at either end or
/// doubled (except `) `), a second parenthesised group, other bytes.
struct Groups {
    lens: [u8; 8],
    count: usize,
    digits: usize,
}

fn groups(b: &[u8]) -> Option<Groups> {
    let mut g = Groups {
        lens: [0; 8],
        count: 0,
        digits: 0,
    };
    let mut in_paren = false;
    let mut paren_used = false;
    let mut after_sep = true;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                if after_sep {
                    if g.count == g.lens.len() {
                        return None;
                    }
                    g.count += 1;
                    after_sep = false;
                }
                let slot = g.lens.get_mut(g.count.checked_sub(1)?)?;
                *slot = slot.saturating_add(1);
                g.digits += 1;
            }
            b'(' if after_sep && !paren_used => {
                in_paren = true;
                paren_used = true;
            }
            b')' if in_paren && !after_sep => {
                in_paren = false;
                after_sep = true;
                // `(555) 010` or `(555)010`
                if b.get(i + 1) == Some(&b' ') {
                    i += 1;
                }
            }
            b' ' | b'-' | b'.' if !after_sep && !in_paren => after_sep = true,
            _ => return None,
        }
        i += 1;
    }
    (!after_sep && !in_paren && g.count > 0).then_some(g)
}

/// After `+`: 8 to 15 digits, the first not `0`; separators optional.
fn international(rest: &[u8]) -> bool {
    rest.first().is_some_and(|c| matches!(c, b'1'..=b'9')) && groups(rest).is_some_and(|g| (8..=15).contains(&g.digits))
}

/// `(ddd) ddd-dddd`, `ddd-ddd-dddd`, `ddd.ddd.dddd`, `ddd ddd dddd`, after an
/// optional `1-` / `1 `.
fn north_american(b: &[u8]) -> bool {
    let b = match b {
        [b'1', b'-' | b' ' | b'.', rest @ ..] => rest,
        _ => b,
    };
    let Some(g) = groups(b) else {
        return false;
    };
    g.count == 3 && g.lens[..3] == [3, 3, 4]
}

/// A trunk `0` (not `00`), 10 or 11 digits, 2 to 5 groups of 2 to 5 digits.
fn national(b: &[u8]) -> bool {
    let (trunk, second) = match b {
        [b'(', b'0', c, ..] | [b'0', c, ..] => (true, *c),
        _ => (false, b'0'),
    };
    if !trunk || second == b'0' {
        return false;
    }
    let Some(g) = groups(b) else {
        return false;
    };
    (10..=11).contains(&g.digits)
        && (2..=5).contains(&g.count)
        && g.lens.iter().take(g.count).all(|l| (2..=5).contains(l))
}
