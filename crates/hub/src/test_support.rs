//! Helpers of the hub's unit tests.

use std::collections::BTreeMap;

use agentry_core::{AgentId, AgentSpec};

use crate::hub::SpawnCommand;

/// Returns the Spawn of an agent on the scripted model with no tools (4 iterations), input
/// `hi`, under `parent_id` when given.
pub(crate) fn scripted_spawn(parent_id: Option<AgentId>) -> SpawnCommand {
    let spec = AgentSpec {
        model: "openai:scripted".into(),
        tools: Vec::new(),
        system: String::new(),
        max_iterations: 4,
        node_selector: BTreeMap::new(),
        temperature: None,
        tool_choice: None,
        mcp_servers: Default::default(),
        team: None,
    };
    SpawnCommand {
        spec,
        input: Some("hi".into()),
        labels: BTreeMap::new(),
        parent_id,
        idempotency_key: None,
        budget: Default::default(),
        trace_parent: None,
        tenant: agentry_core::DEFAULT_TENANT.to_owned(),
    }
}
