//! Forks (`AgentHub.Fork`, `agentry fork`, `agentry rerun`) and conversation listings
//! (`AgentHub.ListMessages`, read by `agentry diff`).
//!
//! [`ForkCommand::from_request`] checks what the client sent (pure, unit-tested below);
//! [`Hub::fork`] resolves the source agent (from the run for a fork at a step), checks the
//! model override like Spawn does, generates the ids, makes every fork in one
//! [`agentry_store::Store::fork_agent`] and wakes the placer for the forks' queued runs. The
//! store decides the point's rules (see its docs); a point it refuses is the client's mistake
//! (INVALID_ARGUMENT), a read-only import cannot be forked (FAILED_PRECONDITION).

use crate::audit::AuditContext;
use crate::auth::Principal;
use std::collections::BTreeMap;

use tonic::Status;

use agentry_core::{AgentId, AgentSpec, RunId, TraceParent};
use agentry_proto::v1 as pb;
use agentry_proto::v1::fork_request::Point;
use agentry_store::{ForkPlan, ForkPoint, Forked};

use crate::error::{HubError, Result};
use crate::hub::{Hub, run_trace_parent};
use crate::validate;

/// Most forks one `Fork` makes.
pub const MAX_FORKS: u32 = 16;

/// What a client asked `Fork` for, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ForkCommand {
    /// The source agent; `None` for a fork at a step, whose run names it.
    pub agent_id: Option<AgentId>,
    /// Where the forks branch off.
    pub point: ForkPoint,
    /// How many forks, 1 to [`MAX_FORKS`].
    pub count: u32,
    /// The forks' model, when it differs from the source's.
    pub model: Option<String>,
    /// The user input the forks continue with (checked like `SendMessage`'s).
    pub input: Option<String>,
    /// Labels of the forks, besides the source's.
    pub labels: BTreeMap<String, String>,
}

impl ForkCommand {
    /// Checks `request`: ids, the point (a step counts from 1), the count (0 means 1, at most
    /// [`MAX_FORKS`]), the input (not blank, at most 1 MiB; empty: none) and the labels.
    ///
    /// Errors: INVALID_ARGUMENT naming the field.
    pub fn from_request(request: pb::ForkRequest) -> Result<Self> {
        let agent_id = validate::optional_id::<AgentId>("agent_id", &request.agent_id)?;
        let point = match request.point {
            None => ForkPoint::End,
            Some(Point::AtSeq(seq)) => ForkPoint::Seq(seq),
            Some(Point::AtMessageIndex(index)) => ForkPoint::MessageIndex(index),
            Some(Point::AtStep(at_step)) => {
                let run_id = validate::id::<RunId>("at_step.run_id", &at_step.run_id)?;
                if at_step.step == 0 {
                    return invalid(format!("at_step.step is 0; steps of run {run_id} count from 1"));
                }
                ForkPoint::Step { run_id, step: at_step.step }
            }
        };
        if agent_id.is_none() && !matches!(point, ForkPoint::Step { .. }) {
            return invalid("agent_id is required (only a fork at_step may leave it empty)".to_owned());
        }
        let count = match request.count {
            0 => 1,
            count if count > MAX_FORKS => {
                return invalid(format!("count is {count}; at most {MAX_FORKS} forks are made at once"));
            }
            count => count,
        };
        let input = Some(request.input).filter(|input| !input.is_empty());
        if let Some(input) = &input {
            validate::input("input", input)?;
        }
        let labels = request.labels.into_iter().collect();
        validate::labels("labels", &labels)?;
        let model = Some(request.model.trim().to_owned()).filter(|model| !model.is_empty());
        Ok(Self { agent_id, point, count, model, input, labels })
    }
}

impl Hub {
    /// Makes the forks of `command` (see the module docs); `caller` is the caller's trace
    /// context, which the forks' runs descend from.
    ///
    /// Errors: NOT_FOUND for an unknown agent or run; FAILED_PRECONDITION for a read-only
    /// import; INVALID_ARGUMENT for a model the cluster does not know, too many labels, or a
    /// point outside the conversation (the store's reason).
    #[tracing::instrument(skip_all, fields(count = command.count))]
    pub async fn fork(&self, command: ForkCommand, caller: Option<TraceParent>) -> Result<Forked> {
        let agent_id = match (command.agent_id, &command.point) {
            (Some(agent_id), _) => agent_id,
            (None, ForkPoint::Step { run_id, .. }) => self.store.get_run(*run_id).await?.agent_id,
            (None, _) => return Err(HubError::InvalidArgument("agent_id is required".to_owned())),
        };
        let source = self.store.get_agent(agent_id).await?.agent;
        if let Some(reason) = source.read_only_reason() {
            return Err(HubError::FailedPrecondition(format!("{reason}: it cannot be forked")));
        }
        if let Some(model) = &command.model {
            let spec = AgentSpec { model: model.clone(), ..source.spec.clone() };
            validate::spec(spec, &self.models, self.allowed_tools.as_deref())
                .map_err(|error| HubError::InvalidArgument(format!("model {model:?}: {error}")))?;
        }
        let mut labels = source.labels.clone();
        labels.extend(command.labels.clone());
        validate::labels("labels (the source's and the fork's)", &labels)?;
        let forks: Vec<(AgentId, RunId)> =
            (0..command.count).map(|_| (AgentId::generate(), RunId::generate())).collect();
        let trace_parent = Some(run_trace_parent(forks[0].1, caller));
        let plan = ForkPlan {
            agent_id,
            point: command.point,
            forks,
            model: command.model,
            input: command.input,
            labels: command.labels,
            trace_parent,
        };
        let forked = self.store.fork_agent(plan).await.map_err(point_refused)?;
        self.placement_wakeup.notify_one();
        tracing::info!(
            %agent_id,
            forks = forked.forks.len(),
            message_count = forked.message_count,
            at_seq = forked.at_seq,
            "agent forked"
        );
        Ok(forked)
    }
}

/// Returns the hub error of a store refusal: a conflict is a point outside the conversation,
/// which the client chose (INVALID_ARGUMENT); other errors keep their kind.
fn point_refused(error: agentry_store::Error) -> HubError {
    match error {
        agentry_store::Error::Conflict(reason) => HubError::InvalidArgument(reason),
        other => other.into(),
    }
}

/// Returns the wire answer of `forked`.
pub fn fork_response(forked: &Forked) -> pb::ForkResponse {
    pb::ForkResponse {
        forks: forked
            .forks
            .iter()
            .map(|(agent, run)| pb::ForkedAgent { agent_id: agent.id.to_string(), run_id: run.id.to_string() })
            .collect(),
        message_count: forked.message_count,
        at_seq: forked.at_seq,
    }
}

/// Returns a stored message on the wire, with its index and seq (0: unknown).
pub fn wire_message(stored: &agentry_store::StoredMessage) -> pb::Message {
    pb::Message { index: stored.index, seq: stored.seq.unwrap_or(0), ..pb::Message::from(&stored.message) }
}

fn invalid<T>(message: String) -> Result<T> {
    Err(HubError::InvalidArgument(message))
}

/// `AgentHub.Fork`.
pub(crate) async fn fork(
    hub: &Hub,
    principal: &Principal,
    audit: &AuditContext,
    request: pb::ForkRequest,
    trace_parent: Option<TraceParent>,
) -> Result<pb::ForkResponse, Status> {
    let command = ForkCommand::from_request(request)?;
    match (command.agent_id, &command.point) {
        (Some(agent_id), _) => {
            audit.set_target(format!("agent/{agent_id}"));
            hub.agent_in_scope(principal, agent_id).await?;
        }
        (None, ForkPoint::Step { run_id, .. }) => {
            audit.set_target(format!("run/{run_id}"));
            hub.run_in_scope(principal, *run_id).await?;
        }
        (None, _) => {}
    }
    // Forks join their source's tenant, which is the caller's (or any, for an admin of all).
    hub.admit(principal.spawn_tenant(), u64::from(command.count), u64::from(command.count)).await?;
    let forked = hub.fork(command, trace_parent).await?;
    Ok(fork_response(&forked))
}

/// `AgentHub.ListMessages`.
pub(crate) async fn list_messages(
    hub: &Hub,
    principal: &Principal,
    request: pb::ListMessagesRequest,
) -> Result<pb::ListMessagesResponse, Status> {
    let agent_id = validate::id::<AgentId>("agent_id", &request.agent_id)?;
    hub.agent_in_scope(principal, agent_id).await?;
    let messages = hub.store.list_messages(agent_id).await.map_err(HubError::from)?;
    Ok(pb::ListMessagesResponse { messages: messages.iter().map(wire_message).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(point: Option<Point>) -> pb::ForkRequest {
        pb::ForkRequest { agent_id: AgentId::generate().to_string(), point, ..Default::default() }
    }

    fn refusal(request: pb::ForkRequest) -> String {
        ForkCommand::from_request(request).unwrap_err().to_string()
    }

    #[test]
    fn points_and_counts_are_checked() {
        let end = ForkCommand::from_request(request(None)).unwrap();
        assert_eq!((end.point, end.count, end.model, end.input), (ForkPoint::End, 1, None, None));
        let seq = ForkCommand::from_request(pb::ForkRequest { count: 16, ..request(Some(Point::AtSeq(7))) }).unwrap();
        assert_eq!((seq.point, seq.count), (ForkPoint::Seq(7), 16));
        let index = ForkCommand::from_request(request(Some(Point::AtMessageIndex(0)))).unwrap();
        assert_eq!(index.point, ForkPoint::MessageIndex(0));
        let too_many = refusal(pb::ForkRequest { count: 17, ..request(None) });
        assert_eq!(too_many, "count is 17; at most 16 forks are made at once");
    }

    #[test]
    fn a_step_names_its_run_and_counts_from_one() {
        let run_id = RunId::generate();
        let at_step = |step| {
            let point = Some(Point::AtStep(pb::ForkAtStep { run_id: run_id.to_string(), step }));
            pb::ForkRequest { agent_id: String::new(), ..request(point) }
        };
        let command = ForkCommand::from_request(at_step(2)).unwrap();
        assert_eq!((command.agent_id, command.point), (None, ForkPoint::Step { run_id, step: 2 }));
        assert!(refusal(at_step(0)).starts_with("at_step.step is 0"));
        let without_run = Some(Point::AtStep(pb::ForkAtStep { run_id: String::new(), step: 1 }));
        assert_eq!(refusal(request(without_run)), "at_step.run_id is required");
        let without_agent = pb::ForkRequest { agent_id: String::new(), ..request(None) };
        assert!(refusal(without_agent).starts_with("agent_id is required"));
        assert!(refusal(pb::ForkRequest { agent_id: "nope".into(), ..request(None) }).starts_with("agent_id: "));
    }

    #[test]
    fn inputs_models_and_labels_are_checked() {
        let full = pb::ForkRequest {
            input: "try again".into(),
            model: " openai:gpt-4o ".into(),
            labels: [("branch".to_owned(), "b".to_owned())].into(),
            ..request(None)
        };
        let command = ForkCommand::from_request(full).unwrap();
        assert_eq!(command.input.as_deref(), Some("try again"));
        assert_eq!(command.model.as_deref(), Some("openai:gpt-4o"));
        assert_eq!(command.labels.get("branch").map(String::as_str), Some("b"));
        assert_eq!(refusal(pb::ForkRequest { input: "  ".into(), ..request(None) }), "input must not be empty");
        let bad_label = pb::ForkRequest { labels: [("a b".to_owned(), "v".to_owned())].into(), ..request(None) };
        assert!(refusal(bad_label).contains("label key \"a b\""));
    }

    #[test]
    fn store_conflicts_are_the_clients_points() {
        let conflict = point_refused(agentry_store::Error::Conflict("seq 9 is beyond it".into()));
        assert!(matches!(conflict, HubError::InvalidArgument(ref reason) if reason == "seq 9 is beyond it"));
        let missing = point_refused(agentry_store::Error::NotFound { what: "run", id: "r".into() });
        assert_eq!(missing.code(), Some(agentry_core::ErrorCode::NotFound));
    }
}
