//! Normalization of contact points, so that the same person is found
//! however a channel spells their number or address: phone numbers become
//! E.164 (`+` and 8 to 15 digits), e-mails are trimmed and lowercased.
//!
//! Errors never repeat the value: it is personal data and error messages
//! reach logs.

use crate::error::{CrmError, Result};

/// Normalizes a phone number to E.164.
///
/// Accepts `+CC...`, `00CC...`, `tel:` and `sip:` URIs, and common
/// separators (spaces, dashes, dots, parentheses, slashes). A number without
/// a country code is completed with `default_calling_code` (e.g. "39")
/// when one is configured, and rejected otherwise.
pub fn normalize_phone(raw: &str, default_calling_code: &str) -> Result<String> {
    let field = "phone_number";
    let mut s = raw.trim();
    for scheme in ["tel:", "sip:", "sips:"] {
        if s.len() >= scheme.len() && s[..scheme.len()].eq_ignore_ascii_case(scheme) {
            s = &s[scheme.len()..];
        }
    }
    // A SIP URI carries the number as its user part.
    if let Some(at) = s.find('@') {
        s = &s[..at];
    }
    let s = s.split(';').next().unwrap_or_default();
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for (i, c) in s.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return Err(CrmError::invalid(
                field,
                "is not a phone number: use digits with an optional leading +, e.g. +441632960123 (a fictional number)",
            )),
        }
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if !default_calling_code.is_empty() {
        // Italy keeps its leading 0 in international form; most other
        // plans drop the trunk prefix.
        let national = if default_calling_code == "39" {
            digits.as_str()
        } else {
            digits.trim_start_matches('0')
        };
        format!("{default_calling_code}{national}")
    } else {
        return Err(CrmError::invalid(
            field,
            "has no country code: write it as +CC followed by the number, e.g. +441632960123 (a fictional number)",
        ));
    };
    if international.starts_with('0') || !(8..=15).contains(&international.len()) {
        return Err(CrmError::invalid(
            field,
            "is not a valid E.164 number: a country code and 8 to 15 digits in all are expected",
        ));
    }
    Ok(format!("+{international}"))
}

/// Validates and normalizes an e-mail address (trimmed, lowercased).
pub fn normalize_email(raw: &str) -> Result<String> {
    let bad = |why: &str| CrmError::invalid("email", format!("is not an e-mail address: {why}"));
    let s = raw.trim().to_lowercase();
    if s.len() > 254 {
        return Err(bad("longer than 254 characters"));
    }
    let (local, domain) = s.split_once('@').ok_or_else(|| bad("no @"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(bad("the part before @ must have 1 to 64 characters"));
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad("the part before @ has characters that are not allowed"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if !domain_ok {
        return Err(bad("the domain must look like example.com"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalize_to_e164() {
        for (raw, want) in [
            ("+39 02 5551 2345", "+390255512345"),
            ("0039 (02) 5551-2345", "+390255512345"),
            ("tel:+44-20-7946-0000", "+442079460000"),
            (
                "sip:+12125550100@pbx.example.com;user=phone",
                "+12125550100",
            ),
            ("+49 30 555000", "+4930555000"),
        ] {
            assert_eq!(normalize_phone(raw, "").unwrap(), want, "{raw}");
        }
        assert_eq!(
            normalize_phone("02 5551 2345", "39").unwrap(),
            "+390255512345"
        );
        assert_eq!(
            normalize_phone("020 7946 0000", "44").unwrap(),
            "+442079460000"
        );
    }

    #[test]
    fn bad_phones_are_rejected_without_echo() {
        for raw in [
            "",
            "abc",
            "+39 02 5551 2345 ext 3",
            "+7",
            "+1234567890123456",
            "0611122334",
        ] {
            let e = normalize_phone(raw, "").unwrap_err();
            assert!(matches!(e, CrmError::InvalidArgument { .. }), "{raw}");
            if !raw.is_empty() {
                assert!(!e.to_string().contains(raw), "{e}");
            }
        }
    }

    #[test]
    fn emails_validate() {
        assert_eq!(
            normalize_email(" Giulia.Rossi@Example.com ").unwrap(),
            "giulia.rossi@example.com"
        );
        for raw in [
            "",
            "a",
            "a@b",
            "@example.com",
            "a@@example.com",
            "a b@example.com",
            "a@-x.com",
            "a..b@example.com",
        ] {
            assert!(normalize_email(raw).is_err(), "{raw}");
        }
    }
}
