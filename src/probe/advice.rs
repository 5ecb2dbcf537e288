//! What a probe's failure means and what to change: pure functions from what one call
//! returned (operation, retcode or failure, the reply's own words) to a problem and a fix,
//! in the words of the documents' error table. No clock, no socket.

use crate::client::Failure;
use crate::metrics::TransportKind;
use crate::protocol::retcode;

/// The documents' meaning of a retcode (protocol error table), or None for one they do not
/// list.
pub fn retcode_meaning(code: &str) -> Option<&'static str> {
    Some(match code {
        retcode::SUCCESS => "success",
        retcode::WRONG_METHOD => "wrong method used to fetch agent events",
        retcode::BAD_URL => "bad URL or invalid interface parameter",
        retcode::NO_PERMISSION => {
            "no permission: the GUID was not accepted (expired, or issued by another node)"
        }
        retcode::SWITCHING_OVER => "the agent is being switched over (failover)",
        retcode::MESSAGE_PARAM => "message parameter error",
        retcode::REPEATED_CALL => "interface invoked repeatedly",
        retcode::SIGNIN_PARAM_EMPTY => "sign-in parameter empty or invalid",
        retcode::ALREADY_SIGNED_IN => "the agent is already signed in",
        retcode::RESOURCE_UNAVAILABLE => "a resource the sign-in needs is unavailable",
        retcode::WRONG_PASSWORD => "wrong user name or password",
        retcode::BAD_SIGNOUT_PARAM => "invalid sign-out parameter",
        retcode::NOT_SIGNED_IN => "the agent is not signed in (or the GUID does not match)",
        retcode::OPERATION_EXCEPTION => "exception in the gateway during the operation",
        retcode::ALREADY_SIGNED_OUT => "the agent is already signed out",
        retcode::SET_STATE_FAILED => "failed to set the agent's state",
        retcode::SIGNOUT_STATE_ERROR => "state error at sign-out",
        retcode::SIGNIN_PARAM_INVALID => "invalid parameter at sign-in",
        retcode::WRONG_AGENT_TYPE => "wrong agent type at sign-in",
        retcode::INVALID_PHONE => "invalid phone number",
        retcode::PHONE_OUT_OF_RANGE => "phone number outside the configured range",
        retcode::CANNOT_FORCE_OUT => "already signed in and cannot be forced out",
        retcode::INVALID_IP => "invalid IP address at sign-in",
        "100-017" => "uPortal authentication failed",
        retcode::ACCOUNT_LOCKED => "the account is locked",
        _ => return None,
    })
}

/// A problem and what to change, both one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub problem: String,
    pub fix: String,
}

fn advice(problem: impl Into<String>, fix: impl Into<String>) -> Advice {
    Advice {
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// Which call of the probe failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Signin,
    Poll,
    Signout,
}

impl Step {
    fn what(self) -> &'static str {
        match self {
            Step::Signin => "sign-in",
            Step::Poll => "event poll",
            Step::Signout => "sign-out",
        }
    }
}

/// What the target URL was, for advice that depends on it.
#[derive(Debug, Clone)]
pub struct Aim {
    pub url: String,
    pub https: bool,
}

/// Advice for a call that got no reply the protocol allows: a transport failure or a
/// status other than 200. `reason` is the client's words for it.
pub fn for_failure(step: Step, failure: Failure, reason: &str, aim: &Aim) -> Advice {
    let what = step.what();
    // The client's reason may open with the same words as the kind ("connection refused:
    // Connection refused (os error 111)"): said once.
    let reason = match failure {
        Failure::Transport(kind) => {
            let phrase = crate::client::describe(kind);
            reason
                .get(..phrase.len())
                .filter(|head| head.eq_ignore_ascii_case(phrase))
                .map_or(reason, |_| {
                    reason[phrase.len()..].trim_start_matches(':').trim_start()
                })
        }
        Failure::Http(_) => reason,
    };
    let said = |p: &str| {
        if reason.is_empty() {
            p.to_string()
        } else {
            format!("{p}: {reason}")
        }
    };
    match failure {
        Failure::Transport(TransportKind::ConnectRefused) => advice(
            said(&format!("nothing accepts connections at {}", aim.url)),
            "check the URL's host and port, and that the gateway is up",
        ),
        Failure::Transport(TransportKind::ConnectTimeout) => advice(
            said(&format!("{} did not answer the connection in time", aim.url)),
            "check the address (a firewall may drop the packets), or raise target.connect_timeout",
        ),
        Failure::Transport(TransportKind::Connect) => advice(
            said(&format!("cannot connect to {}", aim.url)),
            "check the URL's host name resolves from this machine",
        ),
        Failure::Transport(TransportKind::Tls) => advice(
            said("the TLS handshake failed"),
            if aim.https {
                "as the reason says; the certificate the gateway presents is shown above (a self-signed one is trusted with --ca-file and that very certificate)"
            } else {
                "check the URL's scheme"
            },
        ),
        Failure::Transport(TransportKind::Protocol) | Failure::Transport(TransportKind::Reset)
            if !aim.https =>
        {
            advice(
                said(&format!("the {what} got no HTTP reply")),
                "if the gateway serves HTTPS (most do), use an https:// URL",
            )
        }
        Failure::Transport(TransportKind::Protocol) => advice(
            said(&format!("the {what}'s reply is not valid HTTP/1.1")),
            "check that the URL is the agent gateway's, not another service's",
        ),
        Failure::Transport(TransportKind::Reset) => advice(
            said(&format!("the gateway closed the connection during the {what}")),
            "look in the gateway's log for this request; a proxy in front of it may cut it",
        ),
        Failure::Transport(TransportKind::Timeout) => advice(
            said(&format!("no reply to the {what} in time")),
            "raise target.timeout above the gateway's poll wait (10 s by default), or check the gateway's load",
        ),
        Failure::Transport(TransportKind::BadBody) => advice(
            said(&format!("the {what}'s reply is not the gateway's JSON")),
            "check that the URL is the agent gateway (not a console, a proxy's page or another API); the reply is shown above",
        ),
        Failure::Http(404) => advice(
            said(&format!("the gateway has no such path ({what})")),
            "give the gateway's root URL (e.g. https://gw.example:8043): agentstorm appends /agentgateway/resource/... itself",
        ),
        Failure::Http(s @ (401 | 403)) => advice(
            said(&format!("HTTP {s}: the server or a proxy in front of it refused the {what}")),
            "the agent interface answers 200 and puts refusals in retcode: look for a proxy or access rule in front of the gateway",
        ),
        Failure::Http(s @ (429 | 503)) => advice(
            said(&format!("HTTP {s}: the gateway or its load balancer is shedding load")),
            "try again later, or lower the probe's rate limit on the balancer",
        ),
        Failure::Http(s) => advice(
            said(&format!("HTTP {s} on the {what}")),
            "the agent interface answers 200 for every business outcome: check the URL and what is in front of the gateway",
        ),
    }
}

/// Advice for a 200 reply whose retcode is not success. `message` is the reply's own.
pub fn for_retcode(step: Step, code: &str, message: &str) -> Advice {
    let meaning = retcode_meaning(code).unwrap_or("a code the documents do not list");
    let said = if message.is_empty() {
        String::new()
    } else {
        format!(" (\"{message}\")")
    };
    let problem = format!(
        "the {} answered retcode {code}: {meaning}{said}",
        step.what()
    );
    let fix = match (step, code) {
        (Step::Signin, retcode::WRONG_PASSWORD) => {
            "give the agents' password: --password-env VAR, or agents.password = { env = \"VAR\" } in the scenario"
        }
        (Step::Signin, retcode::ACCOUNT_LOCKED) => {
            "the account is locked (often after wrong passwords): have it unlocked, and check the password first"
        }
        (Step::Signin, retcode::INVALID_PHONE | retcode::PHONE_OUT_OF_RANGE) => {
            "give a phone number the gateway has for this agent: agents.phonenum (e.g. \"7{agentid}\")"
        }
        (Step::Signin, retcode::WRONG_AGENT_TYPE) => {
            "set agents.agenttype to what the agent is configured as (4: PC+phone, 11: PC+phone video)"
        }
        (Step::Signin, retcode::INVALID_IP) => {
            "the gateway refuses sign-ins from this machine's address: ask for it to be allowed"
        }
        (Step::Signin, retcode::ALREADY_SIGNED_IN | retcode::CANNOT_FORCE_OUT) => {
            "the agent is signed in elsewhere: sign it out there, or probe another agent id (--agent)"
        }
        (Step::Signin, retcode::RESOURCE_UNAVAILABLE) => {
            "the agent id or its phone is not usable on the gateway now: check the agent's configuration, or probe another id (--agent)"
        }
        (Step::Signin, retcode::SIGNIN_PARAM_EMPTY | retcode::SIGNIN_PARAM_INVALID) => {
            "check the sign-in fields: agents.phonenum, agents.status, agents.agenttype"
        }
        (Step::Poll | Step::Signout, retcode::NO_PERMISSION) => {
            "the gateway did not accept the GUID it handed out: behind a load balancer, make it sticky (by cookie or by the GUID's node suffix)"
        }
        (Step::Poll | Step::Signout, retcode::NOT_SIGNED_IN) => {
            "the session ended right after sign-in: check the gateway's log for this agent, and that no other client signs it in"
        }
        (_, retcode::SWITCHING_OVER) => "the gateway is failing over: probe again when it is done",
        (_, retcode::WRONG_METHOD | retcode::BAD_URL) => {
            "the URL or path is not the agent interface's: give the gateway's root URL"
        }
        _ => "see the gateway's documentation and log for this code",
    };
    advice(problem, fix)
}

/// Advice when the agent signed in but never became ready.
pub fn never_ready(waited: &str, events: &[String]) -> Advice {
    let seen = if events.is_empty() {
        "no event at all".to_string()
    } else {
        format!("only {}", events.join(", "))
    };
    advice(
        format!("signed in, but no AgentState_Ready within {waited} ({seen})"),
        "check that agents.status is one the gateway turns into Ready (idle), or raise session.ready_timeout",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aim(https: bool) -> Aim {
        Aim {
            url: "https://gw.example:8043".into(),
            https,
        }
    }

    #[test]
    fn every_known_retcode_has_a_meaning_and_unknown_ones_say_so() {
        for code in retcode::KNOWN {
            assert!(retcode_meaning(code).is_some(), "{code}");
        }
        let a = for_retcode(Step::Signin, "999-001", "");
        assert!(
            a.problem
                .contains("999-001: a code the documents do not list"),
            "{a:?}"
        );
    }

    #[test]
    fn a_wrong_password_points_at_the_password() {
        let a = for_retcode(Step::Signin, "100-004", "wrong password");
        assert!(a.problem.contains("wrong user name or password"), "{a:?}");
        assert!(a.problem.contains("(\"wrong password\")"), "{a:?}");
        assert!(a.fix.contains("--password-env"), "{a:?}");
    }

    #[test]
    fn a_refused_guid_on_poll_points_at_stickiness() {
        let a = for_retcode(Step::Poll, "000-003", "");
        assert!(a.fix.contains("sticky"), "{a:?}");
        // The same code at sign-in is not about stickiness.
        assert!(!for_retcode(Step::Signin, "000-003", "")
            .fix
            .contains("sticky"));
    }

    #[test]
    fn failures_name_the_cause_and_the_fix() {
        let refused = for_failure(
            Step::Signin,
            Failure::Transport(TransportKind::ConnectRefused),
            "Connection refused (os error 111)",
            &aim(true),
        );
        assert!(refused
            .problem
            .contains("nothing accepts connections at https://gw.example:8043"));
        assert!(refused.problem.contains("os error 111"), "{refused:?}");
        let not_found = for_failure(Step::Signin, Failure::Http(404), "", &aim(true));
        assert!(not_found.fix.contains("root URL"), "{not_found:?}");
        // Plain HTTP aimed at a TLS port: suggest https.
        let reset = for_failure(
            Step::Signin,
            Failure::Transport(TransportKind::Reset),
            "connection closed",
            &aim(false),
        );
        assert!(reset.fix.contains("https://"), "{reset:?}");
        let tls = for_failure(
            Step::Signin,
            Failure::Transport(TransportKind::Tls),
            "x",
            &aim(true),
        );
        assert!(tls.fix.contains("--ca-file"), "{tls:?}");
        // Said once, not twice.
        let twice = for_failure(
            Step::Signin,
            Failure::Transport(TransportKind::ConnectRefused),
            "connection refused: Connection refused (os error 111)",
            &aim(true),
        );
        assert!(
            twice
                .problem
                .ends_with("8043: Connection refused (os error 111)"),
            "{twice:?}"
        );
    }

    #[test]
    fn never_ready_lists_what_came() {
        let a = never_ready("30s", &["AgentOther_InService".into()]);
        assert!(a.problem.contains("only AgentOther_InService"), "{a:?}");
        assert!(never_ready("30s", &[]).problem.contains("no event at all"));
    }
}
