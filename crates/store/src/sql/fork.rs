//! Forks ([`crate::Store::fork_agent`]) and conversation listings ([`crate::Store::list_messages`]).

use sqlx::{Database, Pool};

use super::SqlStore;
use crate::api::{ForkPlan, Forked, StoredMessage};
use crate::error::{Error, Result};
use agentry_core::AgentId;

impl<DB: Database> SqlStore<DB> {
    pub(crate) async fn fork_agent(&self, plan: ForkPlan) -> Result<Forked> {
        let _: &Pool<DB> = self.pool();
        Err(Error::Conflict(format!("fork of {} is not written yet", plan.agent_id)))
    }

    pub(crate) async fn list_messages(&self, agent_id: AgentId) -> Result<Vec<StoredMessage>> {
        Err(Error::Conflict(format!("listing {agent_id} is not written yet")))
    }
}
