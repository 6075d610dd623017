//! Entries of Restate's discovery manifest, with the server's defaults: what the object and the
//! tool service declare.

use std::collections::HashMap;

use restate_sdk::discovery::{
    self, HandlerName, HandlerType, InputPayload, OutputPayload, ServiceName, ServiceType,
};

use crate::Error;

/// A handler's entry in the discovery manifest, with the server's defaults.
pub(crate) fn handler(
    name: &str,
    ty: Option<HandlerType>,
    input: InputPayload,
    output: OutputPayload,
    documentation: &str,
) -> Result<discovery::Handler, Error> {
    Ok(discovery::Handler {
        name: HandlerName::try_from(name).map_err(|_| Error::InvalidName(name.to_owned()))?,
        input: Some(input),
        output: Some(output),
        ty,
        documentation: Some(documentation.to_owned()),
        metadata: HashMap::new(),
        abort_timeout: None,
        inactivity_timeout: None,
        journal_retention: None,
        idempotency_retention: None,
        workflow_completion_retention: None,
        enable_lazy_state: None,
        ingress_private: None,
        retry_policy_initial_interval: None,
        retry_policy_max_interval: None,
        retry_policy_max_attempts: None,
        retry_policy_exponentiation_factor: None,
        retry_policy_on_max_attempts: None,
    })
}

/// A service's entry in the discovery manifest, with the server's defaults.
pub(crate) fn service(
    name: ServiceName,
    ty: ServiceType,
    handlers: Vec<discovery::Handler>,
) -> discovery::Service {
    discovery::Service {
        ty,
        name,
        handlers,
        documentation: None,
        metadata: HashMap::new(),
        abort_timeout: None,
        inactivity_timeout: None,
        journal_retention: None,
        idempotency_retention: None,
        enable_lazy_state: None,
        ingress_private: None,
        retry_policy_initial_interval: None,
        retry_policy_max_interval: None,
        retry_policy_max_attempts: None,
        retry_policy_exponentiation_factor: None,
        retry_policy_on_max_attempts: None,
    }
}
