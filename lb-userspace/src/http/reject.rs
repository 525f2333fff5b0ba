//! Why a request was refused, for the internal log (stderr): every rejection path prints
//! one `[NOTICE]` line naming the proxy, the client and the reason, next to the traffic
//! log line (`option httplog`) that carries the status and termination flags.
//!
//! HAProxy's log line has no field for the reason (its `show errors` keeps a capture of
//! the last invalid request): the line here is where an operator finds it.

use crate::http_rules::{HttpAction, HttpRule, ReplyCause};

/// The keyword of a refusing rule (`deny`, `tarpit`...) and how the reason line says it,
/// or `None` when the rule does not refuse the request (`return`, `redirect`, `allow`...).
fn refusal(action: &HttpAction) -> Option<(&'static str, &'static str)> {
    Some(match action {
        HttpAction::Deny(_) => ("deny", "denied by"),
        HttpAction::Tarpit(_) => ("tarpit", "tarpitted by"),
        HttpAction::Auth { .. } => ("auth", "authentication required by"),
        HttpAction::Reject => ("reject", "rejected by"),
        HttpAction::SilentDrop => ("silent-drop", "silently dropped by"),
        HttpAction::WaitForBody { .. } => ("wait-for-body", "body not received in time for"),
        HttpAction::NormalizeUri(_) => ("normalize-uri", "invalid URI for"),
        _ => return None,
    })
}

/// The reason text for a rule that ended a rule list: `Some` only for refusals (and for
/// a failed rewrite in strict mode, whatever the action). `list` is the directive
/// (`http-request`...), `status` the answer (`None`: the connection is closed).
pub fn rule_reason(
    list: &str,
    rule: &HttpRule,
    cause: Option<ReplyCause>,
    status: Option<u16>,
) -> Option<String> {
    let refused = refusal(&rule.action);
    let (verb, what) = match (cause, refused) {
        (Some(ReplyCause::RewriteFailed), r) => (
            r.map_or("rule", |(verb, _)| verb),
            "a header rewrite failed (strict mode) in",
        ),
        (_, r) => r?,
    };
    let answer = match status {
        Some(s) => format!("answered {s}"),
        None => "connection closed".to_owned(),
    };
    Some(format!(
        "{what} '{list} {verb}' at {} ({answer})",
        rule.location
    ))
}

/// Prints the reason line: `PROXY: CLIENT: request REASON`.
pub fn log(proxy: &str, client: &dyn std::fmt::Display, reason: &dyn std::fmt::Display) {
    tracing::info!("{proxy}: {client}: request {reason}");
}

/// Prints the reason line for a response refused by `http-response` rules.
pub fn log_response(proxy: &str, client: &dyn std::fmt::Display, reason: &dyn std::fmt::Display) {
    tracing::info!("{proxy}: {client}: response {reason}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Location;

    fn rule(action: HttpAction) -> HttpRule {
        HttpRule {
            action,
            cond: None,
            location: Location {
                file: "t.cfg".into(),
                line: 7,
            },
        }
    }

    #[test]
    fn refusals_name_their_rule() {
        let r = rule(HttpAction::Reject);
        assert_eq!(
            rule_reason("http-request", &r, None, None).unwrap(),
            "rejected by 'http-request reject' at t.cfg:7 (connection closed)"
        );
        let r = rule(HttpAction::SilentDrop);
        assert!(
            rule_reason("http-request", &r, None, None)
                .unwrap()
                .starts_with("silently dropped by 'http-request silent-drop'")
        );
    }

    #[test]
    fn non_refusals_are_silent() {
        assert_eq!(
            rule_reason("http-request", &rule(HttpAction::Allow), None, Some(200)),
            None
        );
    }

    #[test]
    fn rewrite_failures_are_reported_whatever_the_action() {
        let r = rule(HttpAction::Allow);
        let text = rule_reason(
            "http-request",
            &r,
            Some(ReplyCause::RewriteFailed),
            Some(500),
        )
        .unwrap();
        assert!(
            text.contains("strict mode") && text.contains("(answered 500)"),
            "{text}"
        );
    }
}
