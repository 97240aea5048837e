//! Durations in hook config, written the way hooks.yaml writes them: `300s`, `5m`,
//! `1500ms`, `1m30s`, or a bare number of seconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parse `300s`, `5m`, `1500ms`, `1h`, `1m30s` (a bare number is seconds).
///
/// ```
/// # use kubes_hook_sdk::duration::parse_duration;
/// # use std::time::Duration;
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    // Spaces carry no meaning: `1m 30s`, `5 m`.
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let t = t.as_str();
    if t.is_empty() {
        return Err("expected a duration like `30s`, `5m` or `1500ms`, got an empty string".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return secs_to_duration(secs, text);
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "expected a duration like `30s`, `5m` or `1500ms`, got `{text}`"
            ));
        }
        let n: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{}` in `{text}` is not a number", &rest[..digits]))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => {
                return Err(format!(
                    "unknown unit `{unit}` in `{text}`: use ms, s, m or h"
                ))
            }
        };
        total += secs_to_duration(secs, text)?;
    }
    Ok(total)
}

/// A duration as the hooks' messages write it: seconds, with up to three decimals and no
/// trailing zeros (`300s`, `1.5s`, `0.25s`). The Python and JavaScript hooks write it the
/// same way.
///
/// ```
/// # use kubes_hook_sdk::duration::format_duration;
/// # use std::time::Duration;
/// assert_eq!(format_duration(Duration::from_secs(300)), "300s");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(format_duration(Duration::from_millis(250)), "0.25s");
/// ```
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let frac = format!("{:03}", ms % 1000);
    let frac = frac.trim_end_matches('0');
    match frac {
        "" => format!("{}s", ms / 1000),
        f => format!("{}.{f}s", ms / 1000),
    }
}

fn secs_to_duration(secs: f64, text: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a valid duration"))
}

/// For `#[serde(deserialize_with = "kubes_hook_sdk::duration::deserialize")]`: a string
/// like `30s` or a number of seconds.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Config {
///     #[serde(deserialize_with = "kubes_hook_sdk::duration::deserialize")]
///     timeout: std::time::Duration,
/// }
/// let c: Config = serde_json::from_str(r#"{"timeout": "2m"}"#).unwrap();
/// assert_eq!(c.timeout.as_secs(), 120);
/// ```
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Secs(f64),
        Text(String),
    }
    match Text::deserialize(d)? {
        Text::Secs(s) => secs_to_duration(s, &s.to_string()).map_err(serde::de::Error::custom),
        Text::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_sums() {
        assert_eq!(parse_duration("300s"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5 min")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("-3s").is_err());
    }
}
