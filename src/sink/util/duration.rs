//! The human durations of settings files (`500ms`, `30d`).

use std::time::Duration;

/// Parses a human duration: a number followed by `ms`, `s`, `m`, `h`, `d` or
/// `w` (`500ms`, `5s`, `30d`). A bare number is seconds.
///
/// # Errors
/// A message naming the value and the accepted forms.
///
/// ```
/// # #[cfg(feature = "config")] {
/// use std::time::Duration;
/// assert_eq!(privlog::config::parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
/// assert!(privlog::config::parse_duration("soon").is_err());
/// # }
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("invalid duration {s:?}: expected a number and a unit, like 500ms, 5s, 10m, 12h, 30d or 2w");
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        "w" => n * 7.0 * 86_400.0,
        _ => return Err(bad()),
    };
    if !secs.is_finite() || !(0.0..=1e12).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
