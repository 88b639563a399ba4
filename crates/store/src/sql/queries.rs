//! The SQL of the store, shared by both backends (`queries/*.sql`).
//!
//! Both databases accept the same text: parameters are `$N` (SQLite reads them as numbered),
//! and `UPDATE ... RETURNING` / `ON CONFLICT` are supported by PostgreSQL and SQLite 3.35+.

/// `queries/assign_run.sql`.
pub(crate) const ASSIGN_RUN: &str = include_str!("../../queries/assign_run.sql");
/// `queries/commit_run.sql`.
pub(crate) const COMMIT_RUN: &str = include_str!("../../queries/commit_run.sql");
/// `queries/events_after.sql`.
pub(crate) const EVENTS_AFTER: &str = include_str!("../../queries/events_after.sql");
/// `queries/heartbeat_node.sql`.
pub(crate) const HEARTBEAT_NODE: &str = include_str!("../../queries/heartbeat_node.sql");
/// `queries/insert_agent.sql`.
pub(crate) const INSERT_AGENT: &str = include_str!("../../queries/insert_agent.sql");
/// `queries/insert_event.sql`.
pub(crate) const INSERT_EVENT: &str = include_str!("../../queries/insert_event.sql");
/// `queries/insert_message.sql`.
pub(crate) const INSERT_MESSAGE: &str = include_str!("../../queries/insert_message.sql");
/// `queries/insert_run.sql`.
pub(crate) const INSERT_RUN: &str = include_str!("../../queries/insert_run.sql");
/// `queries/list_nodes.sql`.
pub(crate) const LIST_NODES: &str = include_str!("../../queries/list_nodes.sql");
/// `queries/placeable_runs.sql`.
pub(crate) const PLACEABLE_RUNS: &str = include_str!("../../queries/placeable_runs.sql");
/// `queries/reserve_agent_positions.sql`.
pub(crate) const RESERVE_AGENT_POSITIONS: &str = include_str!("../../queries/reserve_agent_positions.sql");
/// `queries/select_agent.sql`.
pub(crate) const SELECT_AGENT: &str = include_str!("../../queries/select_agent.sql");
/// `queries/select_agent_by_idempotency_key.sql`.
pub(crate) const SELECT_AGENT_BY_IDEMPOTENCY_KEY: &str =
    include_str!("../../queries/select_agent_by_idempotency_key.sql");
/// `queries/select_agent_summary.sql`.
pub(crate) const SELECT_AGENT_SUMMARY: &str = include_str!("../../queries/select_agent_summary.sql");
/// `queries/select_first_run.sql`.
pub(crate) const SELECT_FIRST_RUN: &str = include_str!("../../queries/select_first_run.sql");
/// `queries/select_messages.sql`.
pub(crate) const SELECT_MESSAGES: &str = include_str!("../../queries/select_messages.sql");
/// `queries/select_run.sql`.
pub(crate) const SELECT_RUN: &str = include_str!("../../queries/select_run.sql");
/// `queries/unassign_run.sql`.
pub(crate) const UNASSIGN_RUN: &str = include_str!("../../queries/unassign_run.sql");
/// `queries/upsert_node.sql`.
pub(crate) const UPSERT_NODE: &str = include_str!("../../queries/upsert_node.sql");
/// `queries/run_counts.sql`.
pub(crate) const RUN_COUNTS: &str = include_str!("../../queries/run_counts.sql");
/// `queries/node_loads.sql`.
pub(crate) const NODE_LOADS: &str = include_str!("../../queries/node_loads.sql");
/// `queries/running_loads.sql`.
pub(crate) const RUNNING_LOADS: &str = include_str!("../../queries/running_loads.sql");
/// `queries/set_wait_reason.sql`.
pub(crate) const SET_WAIT_REASON: &str = include_str!("../../queries/set_wait_reason.sql");
/// `queries/set_node_state.sql`.
pub(crate) const SET_NODE_STATE: &str = include_str!("../../queries/set_node_state.sql");
/// `queries/release_node_runs.sql`.
pub(crate) const RELEASE_NODE_RUNS: &str = include_str!("../../queries/release_node_runs.sql");
/// `queries/select_commit_marker.sql`.
pub(crate) const SELECT_COMMIT_MARKER: &str = include_str!("../../queries/select_commit_marker.sql");
/// `queries/cancel_run.sql`.
pub(crate) const CANCEL_RUN: &str = include_str!("../../queries/cancel_run.sql");
/// `queries/pause_run.sql`.
pub(crate) const PAUSE_RUN: &str = include_str!("../../queries/pause_run.sql");
/// `queries/resume_run.sql`.
pub(crate) const RESUME_RUN: &str = include_str!("../../queries/resume_run.sql");
/// `queries/expire_nodes.sql`.
pub(crate) const EXPIRE_NODES: &str = include_str!("../../queries/expire_nodes.sql");
/// `queries/select_node.sql`.
pub(crate) const SELECT_NODE: &str = include_str!("../../queries/select_node.sql");
/// `queries/held_runs.sql`.
pub(crate) const HELD_RUNS: &str = include_str!("../../queries/held_runs.sql");
/// `queries/active_runs.sql`.
pub(crate) const ACTIVE_RUNS: &str = include_str!("../../queries/active_runs.sql");
/// `queries/insert_budget.sql`.
pub(crate) const INSERT_BUDGET: &str = include_str!("../../queries/insert_budget.sql");
/// `queries/select_budget.sql`.
pub(crate) const SELECT_BUDGET: &str = include_str!("../../queries/select_budget.sql");
/// `queries/raise_budget.sql`.
pub(crate) const RAISE_BUDGET: &str = include_str!("../../queries/raise_budget.sql");
/// `queries/select_run_budget.sql`.
pub(crate) const SELECT_RUN_BUDGET: &str = include_str!("../../queries/select_run_budget.sql");
/// `queries/settle_budget.sql`.
pub(crate) const SETTLE_BUDGET: &str = include_str!("../../queries/settle_budget.sql");
/// `queries/settle_run.sql`.
pub(crate) const SETTLE_RUN: &str = include_str!("../../queries/settle_run.sql");
/// `queries/reserve_budget.sql`.
pub(crate) const RESERVE_BUDGET: &str = include_str!("../../queries/reserve_budget.sql");
/// `queries/release_budget.sql`.
pub(crate) const RELEASE_BUDGET: &str = include_str!("../../queries/release_budget.sql");
/// `queries/set_run_reservation.sql`.
pub(crate) const SET_RUN_RESERVATION: &str = include_str!("../../queries/set_run_reservation.sql");
/// `queries/select_load_events.sql`.
pub(crate) const SELECT_LOAD_EVENTS: &str = include_str!("../../queries/select_load_events.sql");
/// `queries/decide_approval.sql`.
pub(crate) const DECIDE_APPROVAL: &str = include_str!("../../queries/decide_approval.sql");
/// `queries/run_approval_events.sql`.
pub(crate) const RUN_APPROVAL_EVENTS: &str = include_str!("../../queries/run_approval_events.sql");
/// `queries/list_approvals.sql`.
pub(crate) const LIST_APPROVALS: &str = include_str!("../../queries/list_approvals.sql");
/// `queries/waiting_runs.sql`.
pub(crate) const WAITING_RUNS: &str = include_str!("../../queries/waiting_runs.sql");
/// `queries/stale_assignments.sql`.
pub(crate) const STALE_ASSIGNMENTS: &str = include_str!("../../queries/stale_assignments.sql");
/// `queries/revoke_assignment.sql`.
pub(crate) const REVOKE_ASSIGNMENT: &str = include_str!("../../queries/revoke_assignment.sql");
