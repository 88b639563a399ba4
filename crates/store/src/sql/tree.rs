//! Delegation trees ([`crate::Store::agent_tree`]).

use sqlx::Database;

use super::SqlStore;
use crate::api::TreeEntry;
use crate::error::{Error, Result};
use agentry_core::AgentId;

impl<DB: Database> SqlStore<DB> {
    pub(crate) async fn agent_tree(&self, agent_id: AgentId) -> Result<Vec<TreeEntry>> {
        Err(Error::NotFound { what: "agent", id: agent_id.to_string() })
    }
}
