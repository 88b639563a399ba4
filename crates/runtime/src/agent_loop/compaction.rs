//! Compacting a conversation that no longer fits the model's context window (see
//! [`crate::context`]): summarise (or drop) its older part and commit the `summary` event.

use serde_json::json;

use super::{RunOutcome, RunRequest, SinkError};
use super::{StepSink, commit_or_fenced};
use crate::context::{self, SUMMARY_INSTRUCTION};
use crate::model::{ChatRequest, ModelRouter, ToolChoice};
use agentry_core::StepCommit;
use agentry_core::budget::Spend;
use agentry_core::event::{EventDraft, kind};
use agentry_core::message::{ConversationSummary, Message};
use agentry_core::models::{ContextPolicy, Resolution};

/// A committed compaction: the new summary and what summarising it cost.
pub(super) struct Compacted {
    pub(super) summary: ConversationSummary,
    pub(super) spent: Spend,
}

/// The conversation to compact and the prompt budget it must fit.
pub(super) struct Overflow<'a> {
    pub(super) conversation: &'a [Message],
    pub(super) summary: Option<&'a ConversationSummary>,
    /// Estimated tokens the prompt may take (context window minus the output allowance).
    pub(super) limit: u64,
    /// Estimated tokens it takes now.
    pub(super) tokens: u64,
    /// Of those, what the tools' schemas take (unchanged by compaction).
    pub(super) schema_tokens: u64,
}

/// Summarises (or drops) the older messages of `overflow.conversation` so that the recent ones
/// take at most half of `overflow.limit`, and commits the `summary` event. Returns `Ok(None)`
/// when nothing more can be cut (the recent messages alone are too large), or the outcome that
/// stops the run (fenced) as `Err`.
pub(super) async fn compact(
    request: &RunRequest,
    models: &ModelRouter,
    resolution: &Resolution,
    overflow: Overflow<'_>,
    sink: &mut dyn StepSink,
) -> Result<Result<Option<Compacted>, RunOutcome>, SinkError> {
    let covered = overflow.summary.map_or(0, |summary| summary.covers as usize);
    let Some(cut) = context::choose_cut(overflow.conversation, covered, overflow.limit / 2) else {
        tracing::warn!(
            tokens = overflow.tokens,
            limit = overflow.limit,
            "prompt too large, and nothing left to summarise"
        );
        return Ok(Ok(None));
    };
    let older = &overflow.conversation[covered..cut];
    let policy = models.context_policy(resolution);
    let mut spent = Spend::default();
    let mut model = None;
    let text = match policy {
        ContextPolicy::Truncate => None,
        ContextPolicy::Summarize => {
            let chat = ChatRequest {
                model: String::new(),
                messages: vec![
                    Message::system(SUMMARY_INSTRUCTION),
                    Message::user(context::transcript(overflow.summary, older)),
                ],
                tools: Vec::new(),
                tool_choice: ToolChoice::Auto,
                temperature: request.spec.temperature,
            };
            match models.complete(resolution, &chat, None).await {
                Ok(routed) => {
                    let usage = routed.response.usage;
                    spent = Spend { tokens: usage.prompt_tokens + usage.completion_tokens, cost_usd: routed.cost_usd };
                    model = Some(routed.target.name);
                    Some(routed.response.message.content.trim().to_owned()).filter(|text| !text.is_empty())
                }
                Err(error) => {
                    tracing::warn!(%error, "summarising failed; dropping the older messages instead");
                    None
                }
            }
        }
    };
    let summarised = text.is_some();
    let text = text.unwrap_or_else(|| context::truncation_note(overflow.summary, older.len()));
    let summary = ConversationSummary { covers: cut as u64, text };
    let tokens_after =
        context::prompt_tokens(&request.spec.system, Some(&summary), overflow.conversation) + overflow.schema_tokens;
    let event = EventDraft::now(
        kind::SUMMARY,
        json!({
            "covers": summary.covers,
            "text": summary.text,
            "summarised": summarised,
            "messages": older.len(),
            "tokens_before": overflow.tokens,
            "tokens_after": tokens_after,
            "model": model,
        }),
    );
    let commit = StepCommit { events: vec![event], ..StepCommit::default() };
    if let Some(outcome) = commit_or_fenced(sink, commit).await? {
        return Ok(Err(outcome));
    }
    Ok(Ok(Some(Compacted { summary, spent })))
}
