//! Run-time state of a frontend: its connection gate, counters and resolved routing rules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::acl::Condition;
use crate::backend::state::Backends;
use crate::config::model::{BackendRef, Frontend};
use crate::log::sink::{LogError, Logger};
use crate::logformat::{LogFormat, NoAliases};

use crate::sample::StreamCtx;
use crate::worker::gate::ConnGate;

/// A `use_backend` rule with its backend resolved to an index when the name is static.
#[derive(Debug)]
struct Route {
    cond: Option<Condition>,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Index(usize),
    Dynamic(LogFormat),
}

/// Run-time state of one frontend, shared by all workers.
#[derive(Debug)]
pub struct FrontendState {
    /// The frontend's configuration.
    pub cfg: Frontend,
    /// `maxconn` of this frontend.
    pub gate: ConnGate,
    /// Current client connections (what `%fc` reports).
    pub cur_conns: AtomicU32,
    /// Total client connections accepted.
    pub total_conns: AtomicU64,
    routes: Vec<Route>,
    default_backend: Option<usize>,
    /// Backend indexes by name, for dynamic `use_backend` names.
    by_name: HashMap<String, usize>,
}

impl FrontendState {
    /// Resolves the frontend's backend names against `backends` (the parser already checked
    /// that they exist; a name that does not resolve is skipped) and checks that its log
    /// targets can be opened.
    pub fn new(cfg: Frontend, backends: &Backends) -> Result<Self, LogError> {
        let index = |name: &str| backends.list.iter().position(|b| b.cfg.name == name);
        let routes = cfg
            .use_backends
            .iter()
            .filter_map(|u| {
                let target = match &u.backend {
                    BackendRef::Static(name) => Target::Index(index(name)?),
                    BackendRef::Dynamic(format) => Target::Dynamic(format.clone()),
                };
                Some(Route {
                    cond: u.cond.clone(),
                    target,
                })
            })
            .collect();
        let by_name = backends
            .list
            .iter()
            .enumerate()
            .map(|(i, b)| (b.cfg.name.clone(), i))
            .collect();
        let default_backend = cfg.default_backend.as_deref().and_then(index);
        Logger::new(&cfg.logs)?;
        Ok(Self {
            gate: ConnGate::new(cfg.maxconn.unwrap_or(u32::MAX)),
            cur_conns: AtomicU32::new(0),
            total_conns: AtomicU64::new(0),
            routes,
            default_backend,
            by_name,
            cfg,
        })
    }

    /// The backend index for a stream: the first matching `use_backend`, else the default.
    /// A dynamic name that names no backend also gives the default, as in HAProxy.
    pub fn route(&self, ctx: &StreamCtx<'_>) -> Option<usize> {
        let Some(rule) = self
            .routes
            .iter()
            .find(|r| r.cond.as_ref().is_none_or(|c| c.eval(ctx)))
        else {
            return self.default_backend;
        };
        match &rule.target {
            Target::Index(i) => Some(*i),
            Target::Dynamic(format) => self
                .by_name
                .get(&format.render(ctx, &NoAliases))
                .copied()
                .or(self.default_backend),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn ctx(src: &str, dst_port: u16) -> StreamCtx<'static> {
        StreamCtx::new(
            src.parse().unwrap(),
            std::net::SocketAddr::from(([127, 0, 0, 1], dst_port)),
            "fe",
        )
    }

    #[test]
    fn dynamic_names_route_or_fall_back_to_the_default() {
        let text = [
            "frontend fe",
            "    bind :10000",
            "    use_backend bk_%[dst_port] if { src 10.0.0.0/8 }",
            "    use_backend static if { src 10.0.0.0/8 }",
            "    default_backend fallback",
            "backend bk_443",
            "backend static",
            "backend fallback",
        ]
        .join("\n");
        let config = crate::config::parse_str(&text, Path::new("t.cfg")).unwrap();
        let backends = Backends::new(&config.backends);
        let fe = FrontendState::new(config.frontends[0].clone(), &backends).unwrap();
        let name = |i: Option<usize>| i.map(|i| backends.list[i].cfg.name.as_str());
        assert_eq!(name(fe.route(&ctx("10.1.1.1:5000", 443))), Some("bk_443"));
        // No backend is called bk_80: HAProxy stops at this rule and uses the default
        // backend, it does not try the next rule.
        assert_eq!(name(fe.route(&ctx("10.1.1.1:5000", 80))), Some("fallback"));
        assert_eq!(name(fe.route(&ctx("11.1.1.1:5000", 443))), Some("fallback"));
    }
}
