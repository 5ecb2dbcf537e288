//! Sign-in body validation (D5): every field the documents list, with scalars accepted as
//! JSON strings (`"4"`, `"true"`) or native values.
//!
//! Pure: bytes in, a parsed [`SignInBody`] or the retcode to answer out. It never logs a
//! field (the password is a secret) and knows nothing of sessions.

use serde_json::{Map, Value};

use super::events::SignInEvents;
use crate::protocol::retcode;

/// A valid sign-in body, reduced to what the gateway uses.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInBody {
    pub password: String,
    pub phonenum: String,
    pub events: SignInEvents,
    /// WebM sign-in asked for (`checkInWebm`, default true): the `mediatype` middle flag.
    pub check_in_webm: bool,
    /// Push mode (D16): both `callBackUri` and `serviceToken` given.
    pub push: Option<PushRequest>,
}

impl std::fmt::Debug for SignInBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInBody")
            .field("password", &"<redacted>")
            .field("phonenum", &self.phonenum)
            .field("events", &self.events)
            .field("push", &self.push.as_ref().map(|p| &p.callback))
            .finish()
    }
}

/// The push target of a sign-in.
#[derive(Clone, PartialEq, Eq)]
pub struct PushRequest {
    pub callback: String,
    pub token: String,
}

type Code = &'static str;

/// A scalar as text: strings as they are, numbers in decimal; other types are not text.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A present, non-null field.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An optional boolean field; a present value that is not a boolean is `100-011`.
fn opt_bool(obj: &Map<String, Value>, key: &str, default: bool) -> Result<bool, Code> {
    match field(obj, key) {
        None => Ok(default),
        Some(v) => boolean(v).ok_or(retcode::SIGNIN_PARAM_INVALID),
    }
}

/// An optional text field of at most `max` characters, else `100-011`.
fn opt_text(obj: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, Code> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => match text(v) {
            Some(s) if s.chars().count() <= max => Ok(Some(s)),
            _ => Err(retcode::SIGNIN_PARAM_INVALID),
        },
    }
}

/// Dotted IPv4, at most 15 characters.
pub fn is_ipv4(s: &str) -> bool {
    s.len() <= 15 && s.split('.').count() == 4 && s.parse::<std::net::Ipv4Addr>().is_ok()
}

/// `serviceToken` / `service_token`: at most 50 letters, digits, `-` or `_`.
pub fn is_valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 50
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Validates a sign-in body (D5).
pub fn sign_in_body(bytes: &[u8]) -> Result<SignInBody, Code> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| retcode::MESSAGE_PARAM)?;
    let Value::Object(obj) = value else {
        return Err(retcode::MESSAGE_PARAM);
    };
    let password = match field(&obj, "password") {
        None => return Err(retcode::SIGNIN_PARAM_EMPTY),
        Some(v) => text(v).ok_or(retcode::SIGNIN_PARAM_INVALID)?,
    };
    let phonenum = match field(&obj, "phonenum") {
        None => return Err(retcode::SIGNIN_PARAM_EMPTY),
        Some(v) => text(v).ok_or(retcode::SIGNIN_PARAM_INVALID)?,
    };
    if phonenum.is_empty() {
        return Err(retcode::SIGNIN_PARAM_EMPTY);
    }
    if password.chars().count() > 32 || phonenum.chars().count() > 24 {
        return Err(retcode::SIGNIN_PARAM_INVALID);
    }
    if let Some(v) = field(&obj, "agenttype") {
        if !matches!(int(v), Some(4 | 11)) {
            return Err(retcode::WRONG_AGENT_TYPE);
        }
    }
    if let Some(v) = field(&obj, "ip") {
        if !text(v).is_some_and(|s| is_ipv4(&s)) {
            return Err(retcode::INVALID_IP);
        }
    }
    let status = match field(&obj, "status") {
        None => 4,
        Some(v) => match int(v) {
            Some(s @ (3 | 4 | 5 | 8)) => s as u8,
            _ => return Err(retcode::SIGNIN_PARAM_INVALID),
        },
    };
    let mut restcause = 0u8;
    if status == 8 {
        let time = field(&obj, "time").and_then(int);
        let cause = field(&obj, "restcause").and_then(int);
        match (time, cause) {
            (Some(1..=86_399), Some(c @ 0..=255)) => restcause = c as u8,
            _ => return Err(retcode::SIGNIN_PARAM_INVALID),
        }
    }
    let token = match field(&obj, "serviceToken") {
        None => None,
        Some(v) => match text(v) {
            Some(s) if s.is_empty() => None,
            Some(s) if is_valid_token(&s) => Some(s),
            _ => return Err(retcode::SIGNIN_PARAM_EMPTY),
        },
    };
    for key in [
        "autoanswer",
        "autoenteridle",
        "releasephone",
        "checkInMailm",
        "listenStatus",
    ] {
        opt_bool(&obj, key, false)?;
    }
    let phonelinkage = opt_bool(&obj, "phonelinkage", false)?;
    let check_in_webm = opt_bool(&obj, "checkInWebm", true)?;
    if let Some(entry) = opt_text(&obj, "entryIp", 15)? {
        if !entry.is_empty() && !is_ipv4(&entry) {
            return Err(retcode::INVALID_IP);
        }
    }
    opt_text(&obj, "vcPhoneNumber", 24)?;
    opt_text(&obj, "serviceworkid", 30)?;
    if let Some(mode) = opt_text(&obj, "signInMode", 1)? {
        if !matches!(mode.as_str(), "" | "0" | "1") {
            return Err(retcode::SIGNIN_PARAM_INVALID);
        }
    }
    let callback = opt_text(&obj, "callBackUri", 200)?.filter(|s| !s.is_empty());
    let push = match (callback, token) {
        (Some(callback), Some(token)) => Some(PushRequest { callback, token }),
        _ => None,
    };
    Ok(SignInBody {
        password,
        phonenum,
        events: SignInEvents {
            status,
            phonelinkage,
            restcause,
        },
        check_in_webm,
        push,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Code {
        match sign_in_body(body.as_bytes()) {
            Ok(_) => retcode::SUCCESS,
            Err(c) => c,
        }
    }

    #[test]
    fn d5_table() {
        let ok = r#""password":"","phonenum":"40038""#;
        let cases: &[(&str, Code)] = &[
            ("not json", retcode::MESSAGE_PARAM),
            ("[1,2]", retcode::MESSAGE_PARAM),
            ("\"text\"", retcode::MESSAGE_PARAM),
            (r#"{"phonenum":"1"}"#, retcode::SIGNIN_PARAM_EMPTY),
            (r#"{"password":"x"}"#, retcode::SIGNIN_PARAM_EMPTY),
            (
                r#"{"password":"x","phonenum":null}"#,
                retcode::SIGNIN_PARAM_EMPTY,
            ),
            (
                &format!(r#"{{"password":"{}","phonenum":"1"}}"#, "p".repeat(33)),
                retcode::SIGNIN_PARAM_INVALID,
            ),
            (
                &format!(r#"{{"password":"{}","phonenum":"1"}}"#, "p".repeat(32)),
                retcode::SUCCESS,
            ),
            (
                &format!(r#"{{"password":"","phonenum":"{}"}}"#, "1".repeat(25)),
                retcode::SIGNIN_PARAM_INVALID,
            ),
            (
                &format!("{{{ok},\"agenttype\":\"5\"}}"),
                retcode::WRONG_AGENT_TYPE,
            ),
            (&format!("{{{ok},\"agenttype\":11}}"), retcode::SUCCESS),
            (&format!("{{{ok},\"ip\":\"10.0.0\"}}"), retcode::INVALID_IP),
            (&format!("{{{ok},\"ip\":\"10.0.0.1\"}}"), retcode::SUCCESS),
            (&format!("{{{ok},\"ip\":\"::1\"}}"), retcode::INVALID_IP),
            (
                &format!("{{{ok},\"status\":\"6\"}}"),
                retcode::SIGNIN_PARAM_INVALID,
            ),
            (
                &format!("{{{ok},\"status\":8}}"),
                retcode::SIGNIN_PARAM_INVALID,
            ),
            (
                &format!("{{{ok},\"status\":8,\"time\":0,\"restcause\":1}}"),
                retcode::SIGNIN_PARAM_INVALID,
            ),
            (
                &format!("{{{ok},\"status\":8,\"time\":60,\"restcause\":256}}"),
                retcode::SIGNIN_PARAM_INVALID,
            ),
            (
                &format!("{{{ok},\"status\":\"8\",\"time\":\"86399\",\"restcause\":\"0\"}}"),
                retcode::SUCCESS,
            ),
            (
                &format!("{{{ok},\"serviceToken\":\"{}\"}}", "t".repeat(51)),
                retcode::SIGNIN_PARAM_EMPTY,
            ),
            (
                &format!("{{{ok},\"serviceToken\":\"a b\"}}"),
                retcode::SIGNIN_PARAM_EMPTY,
            ),
            (
                &format!("{{{ok},\"releasephone\":\"yes\"}}"),
                retcode::SIGNIN_PARAM_INVALID,
            ),
            (
                &format!("{{{ok},\"releasephone\":\"true\",\"status\":\"4\",\"agenttype\":\"4\"}}"),
                retcode::SUCCESS,
            ),
            (r#"{"password":1234,"phonenum":40038}"#, retcode::SUCCESS),
        ];
        for (body, want) in cases {
            assert_eq!(code(body), *want, "{body}");
        }
    }

    #[test]
    fn push_needs_both_fields_and_debug_hides_password() {
        let b = sign_in_body(
            br#"{"password":"s3cret","phonenum":"1","callBackUri":"http://127.0.0.1:9/cb","serviceToken":"tok_1"}"#,
        )
        .expect("valid");
        assert_eq!(b.push.as_ref().map(|p| p.token.as_str()), Some("tok_1"));
        assert!(!format!("{b:?}").contains("s3cret"));
        let b = sign_in_body(br#"{"password":"","phonenum":"1","callBackUri":"http://x/cb"}"#)
            .expect("valid");
        assert!(b.push.is_none());
        let b = sign_in_body(br#"{"password":"","phonenum":"1","status":3,"phonelinkage":"true"}"#)
            .expect("valid");
        assert_eq!((b.events.status, b.events.phonelinkage), (3, true));
    }
}
