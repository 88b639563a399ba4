//! Budgets the cluster enforces: a limit of tokens and/or USD that an agent — and the
//! sub-agents that inherit it — may spend on model calls.
//!
//! The protocol (DESIGN.md §4, "durable waits"): before each model call the node *reserves* an
//! estimate of the call, folded into the commit that precedes the call; the commit of the
//! model's answer *settles* the call's real usage, releasing the reservation. The store applies
//! both in the commit's transaction, with a conditional update of the budget's row, so
//! concurrent runs under one budget never reserve more than it has. A reservation that does not
//! fit pauses the run (`budget_exceeded`, then `run_paused`) until someone raises the budget
//! (`agentry resume RUN_ID --add-tokens N`).

use serde::{Deserialize, Serialize};

/// Output tokens reserved for a call of a model without `max-output-tokens`.
pub const DEFAULT_OUTPUT_ALLOWANCE: u64 = 256;

/// Limits of a budget; `None` is unlimited in that unit.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BudgetLimits {
    /// Most tokens (input + output) all calls may use together.
    pub max_tokens: Option<u64>,
    /// Most USD all calls may cost together (at the configured model prices).
    pub max_cost_usd: Option<f64>,
}

impl BudgetLimits {
    /// Returns whether neither limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.max_tokens.is_none() && self.max_cost_usd.is_none()
    }

    /// Checks that the limits are positive (a zero budget could never run a call).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_tokens == Some(0) {
            return Err("budget.max_tokens must be at least 1".to_owned());
        }
        if let Some(cost) = self.max_cost_usd
            && !(cost.is_finite() && cost > 0.0)
        {
            return Err(format!("budget.max_cost_usd is {cost}; it must be a positive number of USD"));
        }
        Ok(())
    }
}

/// Tokens and USD of one or more model calls.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Spend {
    /// Tokens, input + output.
    pub tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
}

/// A budget operation folded into a commit (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BudgetOp {
    /// The real usage of model call `step` (1-based within the run), committed with its
    /// answer. Applied once per step: a retried commit does not count it twice.
    pub settle: Option<(u32, Spend)>,
    /// An estimate to reserve for the run's next model call, replacing any reservation the run
    /// still holds (e.g. from a node that died mid-call).
    pub reserve: Option<Spend>,
}

/// A budget's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BudgetState {
    /// Its id.
    pub id: String,
    /// Its limits.
    pub limits: BudgetLimits,
    /// Settled usage of every call under it.
    pub used: Spend,
    /// Reserved for calls in flight.
    pub reserved: Spend,
}

/// What the store decided about a commit's [`BudgetOp`].
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetDecision {
    /// The reservation was made (or there was none to make).
    Granted,
    /// The reservation did not fit: the run is now `paused` (its epoch bumped) with a
    /// `budget_exceeded` event.
    Exceeded(BudgetState),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_must_be_positive() {
        assert!(BudgetLimits { max_tokens: Some(0), max_cost_usd: None }.validate().is_err());
        assert!(BudgetLimits { max_tokens: None, max_cost_usd: Some(-1.0) }.validate().is_err());
        assert!(BudgetLimits { max_tokens: Some(5), max_cost_usd: Some(0.5) }.validate().is_ok());
        assert!(BudgetLimits::default().is_unlimited());
    }
}
