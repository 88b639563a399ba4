//! What the loop writes about model calls: `model_start` and `usage` data, and the budget
//! operations of a budgeted run (reservations before calls, estimated from the prompt).

use serde_json::{Value, json};

use super::RunRequest;
use crate::context;
use crate::model::{ModelRouter, Routed};
use agentry_core::agent::ToolChoice;
use agentry_core::budget::BudgetOp;
use agentry_core::message::{ConversationSummary, Message};
use agentry_core::models::{Resolution, RouteInput, estimate_tokens};

/// Returns the `model_start` data of a call: the model that answered, the reference, the route
/// and rule that chose the chain, each fallback hop, and the tool choice sent.
pub(super) fn model_start_data(
    step: u32,
    reference: &str,
    resolution: &Resolution,
    routed: &Routed,
    tool_choice: &ToolChoice,
) -> Value {
    let fallbacks: Vec<Value> =
        routed.hops.iter().map(|hop| json!({ "model": hop.model, "error": hop.error })).collect();
    let tool_choice = match tool_choice {
        ToolChoice::Auto => "auto".to_owned(),
        ToolChoice::None => "none".to_owned(),
        ToolChoice::Required => "required".to_owned(),
        ToolChoice::Tool(name) => name.clone(),
    };
    let mut data = json!({
        "step": step,
        "model": routed.target.name,
        "provider": routed.target.provider.as_str(),
        "provider_model": routed.target.model,
        "tool_choice": tool_choice,
    });
    if reference != routed.target.name {
        data["reference"] = json!(reference);
    }
    if let Some(route) = &resolution.route {
        data["route"] = json!(route);
        data["rule"] = json!(resolution.rule);
    }
    if !fallbacks.is_empty() {
        data["fallbacks"] = json!(fallbacks);
    }
    data
}

/// Returns the `usage` data of a call: tokens, cost at the model's prices, latency, attempts.
pub(super) fn usage_data(step: u32, routed: &Routed, latency_ms: u64) -> Value {
    let usage = routed.response.usage;
    json!({
        "step": step,
        "model": routed.target.name,
        "response_model": routed.response.model,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "cost_usd": routed.cost_usd,
        "latency_ms": latency_ms,
        "attempts": routed.attempts,
        "finish_reason": routed.response.finish_reason,
    })
}

/// Reservations of a budgeted run's model calls.
pub(super) struct Budget<'a> {
    pub(super) request: &'a RunRequest,
    pub(super) models: &'a ModelRouter,
    /// [`schema_tokens`] of the run's tools.
    pub(super) schema_tokens: u64,
}

impl Budget<'_> {
    /// Returns the reservation of the next model call, whose prompt is `conversation` (after
    /// `summary`) plus `extra_tokens` not in it yet; `None` for a run without a budget.
    pub(super) fn reserve(
        &self,
        conversation: &[Message],
        summary: Option<&ConversationSummary>,
        extra_tokens: u64,
    ) -> Option<BudgetOp> {
        if !self.request.budgeted {
            return None;
        }
        let prompt_tokens = context::prompt_tokens(&self.request.spec.system, summary, conversation)
            + self.schema_tokens
            + extra_tokens;
        let input = RouteInput { input: &self.request.input, prompt_tokens };
        Some(BudgetOp { settle: None, reserve: Some(self.models.estimate(&self.request.spec.model, input)) })
    }

    /// Returns the operation that gives back the run's reservation as it ends (`None` without
    /// a budget).
    pub(super) fn release(&self) -> Option<BudgetOp> {
        self.request.budgeted.then(BudgetOp::default)
    }
}

/// Returns the estimated tokens the schemas of `tools` add to every prompt
/// ([`estimate_tokens`]); computed once per run.
pub(super) fn schema_tokens(tools: &[crate::model::ToolSpec]) -> u64 {
    tools.iter().map(|tool| estimate_tokens(&tool.parameters.to_string()) + 16).sum()
}

/// The next model call, reserved in the commit of a run's last tool result.
pub(super) struct NextCall<'a> {
    /// The run's budget.
    pub(super) budget: &'a Budget<'a>,
    /// The conversation before the result.
    pub(super) conversation: &'a [Message],
    /// Its summary.
    pub(super) summary: Option<&'a ConversationSummary>,
}

impl NextCall<'_> {
    /// Returns the reservation of the call once the result `output` is in the conversation.
    pub(super) fn reserve(&self, output: &str) -> Option<BudgetOp> {
        self.budget.reserve(self.conversation, self.summary, estimate_tokens(output))
    }
}
