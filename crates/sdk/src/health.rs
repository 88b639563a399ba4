//! The hub's health as the standard gRPC health service reports it.
//!
//! The hub serves `grpc.health.v1.Health` (the protocol of
//! <https://github.com/grpc/grpc/blob/master/doc/health-checking.md>, which Kubernetes' `grpc`
//! probes also speak) for the whole server (`""`) and per service ([`HUB_SERVICE`],
//! [`NODE_SERVICE`]). It answers `NOT_SERVING` while it shuts down, so load balancers and
//! probes stop sending it work before it goes away.

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::{Client, ClientError};

/// Health service name of the client API (`agentry.v1.AgentHub`).
pub const HUB_SERVICE: &str = "agentry.v1.AgentHub";
/// Health service name of the node API (`agentry.v1.NodeService`).
pub const NODE_SERVICE: &str = "agentry.v1.NodeService";

/// What the health service answered for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// `SERVING`: the service takes calls.
    Serving,
    /// `NOT_SERVING`: the process is up but refuses work (e.g. it is shutting down).
    NotServing,
    /// `UNKNOWN` or `SERVICE_UNKNOWN`: the status is not known, or the name is not served.
    Unknown,
}

impl Health {
    /// Returns the status's name in the health protocol (`SERVING`, `NOT_SERVING`, `UNKNOWN`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Serving => "SERVING",
            Self::NotServing => "NOT_SERVING",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl Client {
    /// Asks the hub's health service for `service` (`""`: the whole server).
    ///
    /// Errors: [`ClientError::Unreachable`] when the connection fails; a gRPC status otherwise
    /// (`NOT_FOUND` is not an error: it becomes [`Health::Unknown`], as the protocol says).
    pub async fn health(&self, service: &str) -> Result<Health, ClientError> {
        let request = HealthCheckRequest { service: service.to_owned() };
        let answer = match HealthClient::new(self.channel()).check(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == tonic::Code::NotFound => return Ok(Health::Unknown),
            Err(status) => return Err(ClientError::from_status(self.url(), status)),
        };
        Ok(match ServingStatus::try_from(answer.status) {
            Ok(ServingStatus::Serving) => Health::Serving,
            Ok(ServingStatus::NotServing) => Health::NotServing,
            Ok(ServingStatus::Unknown | ServingStatus::ServiceUnknown) | Err(_) => Health::Unknown,
        })
    }
}
