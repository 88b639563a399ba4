//! Tenants: every agent belongs to one, kept as written and read back by every read; sub-agents
//! and forks join their parent's or source's, an import the importer's; listings filter by
//! tenant, and a tenant's holdings are counted for its limits.

use std::collections::BTreeMap;

use serde_json::json;
use tokio::task::JoinSet;

use agentry_core::team::{Delegation, PARALLEL_AGENTS_TOOL, Team, TeamRole};
use agentry_core::{AgentId, AgentSpec, DEFAULT_TENANT, Message, NodeId, RunId, RunStatus, ToolCall};
use agentry_store::{
    AgentQuery, AgentSummary, CommitBatch, ForkPlan, ForkPoint, NewAgent, RunControl, TenantUsage, TraceImport,
};

use super::{Harness, batch, event, new_agent, new_run, spec};

/// Returns `new_agent()` in `tenant`.
fn in_tenant(tenant: &str) -> NewAgent {
    NewAgent { tenant: tenant.to_owned(), ..new_agent() }
}

/// Returns a spec with a team of one role, `coder`.
fn team_spec() -> AgentSpec {
    let coder = TeamRole { description: "writes code".into(), spec: spec() };
    AgentSpec { team: Some(Team { roles: BTreeMap::from([("coder".to_owned(), coder)]), max_parallel: 2 }), ..spec() }
}

/// Returns the ids of a listing.
fn ids(agents: &[AgentSummary]) -> Vec<AgentId> {
    agents.iter().map(|summary| summary.agent.id).collect()
}

pub async fn tenant_is_kept_and_inherited(harness: Harness) {
    let store = harness.store.as_ref();
    let parent = NewAgent { spec: team_spec(), ..in_tenant("acme") };
    let (created, run) = store.create_agent(parent, Some(new_run("build it"))).await.unwrap();
    assert_eq!(created.tenant, "acme");
    assert_eq!(store.get_agent(created.id).await.unwrap().agent.tenant, "acme");
    let (plain, _) = store.create_agent(new_agent(), None).await.unwrap();
    assert_eq!(store.get_agent(plain.id).await.unwrap().agent.tenant, DEFAULT_TENANT);

    // A node loads the run with its agent's tenant.
    let placed = store.assign_run(run.expect("first run").id, NodeId::generate(), 0).await.unwrap();
    assert_eq!(store.load_run(placed.id, 1).await.unwrap().agent.tenant, "acme");

    // Sub-agents started by a delegation join their parent's tenant.
    let running = store.commit(CommitBatch { status: Some(RunStatus::Running), ..batch(&placed, 1) }).await.unwrap();
    let children: Vec<Delegation> = (0..2)
        .map(|position| Delegation {
            tool_call_id: "call-1".into(),
            position,
            role: "coder".into(),
            input: format!("part {position}"),
            child_agent_id: AgentId::generate(),
            child_run_id: RunId::generate(),
            outcome: None,
        })
        .collect();
    let call = ToolCall { id: "call-1".into(), name: PARALLEL_AGENTS_TOOL.into(), arguments: "{}".into() };
    let delegating = CommitBatch {
        events: vec![event("tool_start", json!({ "tool_call_id": "call-1", "name": PARALLEL_AGENTS_TOOL }))],
        messages: vec![Message::assistant("delegating", vec![call])],
        status: Some(RunStatus::WaitingChildren),
        delegations: children.clone(),
        ..batch(&running.run, 1)
    };
    store.commit(delegating).await.unwrap();
    for child in &children {
        let summary = store.get_agent(child.child_agent_id).await.unwrap();
        assert_eq!((summary.agent.parent_id, summary.agent.tenant.as_str()), (Some(created.id), "acme"));
    }
    let tree = store.agent_tree(created.id).await.unwrap();
    assert_eq!(tree.len(), 3);
    assert!(tree.iter().all(|entry| entry.summary.agent.tenant == "acme"), "the tree carries tenants");

    // A fork joins its source's tenant.
    let (source, source_run) = store.create_agent(in_tenant("zeta"), Some(new_run("q"))).await.unwrap();
    let source_run = store.assign_run(source_run.expect("first run").id, NodeId::generate(), 0).await.unwrap();
    let answered = CommitBatch {
        messages: vec![Message::user("q"), Message::assistant("a", Vec::new())],
        status: Some(RunStatus::Completed),
        ..batch(&source_run, 1)
    };
    store.commit(answered).await.unwrap();
    let plan = ForkPlan {
        agent_id: source.id,
        point: ForkPoint::End,
        forks: vec![(AgentId::generate(), RunId::generate())],
        model: None,
        input: Some("again".into()),
        labels: BTreeMap::new(),
        trace_parent: None,
    };
    let forked = store.fork_agent(plan).await.unwrap();
    let (fork, fork_run) = &forked.forks[0];
    assert_eq!(fork.tenant, "zeta");
    assert_eq!(store.get_agent(fork.id).await.unwrap().agent.tenant, "zeta");
    assert_eq!(store.load_run(fork_run.id, 0).await.unwrap().agent.tenant, "zeta");

    // An import takes the tenant it is given (the importer's).
    let import = TraceImport {
        agent_id: AgentId::generate(),
        spec: spec(),
        labels: BTreeMap::new(),
        source: "trace.jsonl".into(),
        runs: Vec::new(),
        events: Vec::new(),
        tenant: "importers".into(),
    };
    let (imported, _) = store.import_trace(import).await.unwrap();
    assert_eq!(imported.tenant, "importers");
    assert_eq!(store.get_agent(imported.id).await.unwrap().agent.tenant, "importers");
}

pub async fn concurrent_spawns_keep_each_tenant(harness: Harness) {
    // Concurrent Spawns are written in groups on PostgreSQL: each keeps its own tenant.
    let mut spawns = JoinSet::new();
    for index in 0..16 {
        let store = harness.store.clone();
        spawns.spawn(async move {
            let tenant = format!("tenant-{}", index % 4);
            let (agent, _) = store.create_agent(in_tenant(&tenant), Some(new_run("hi"))).await.unwrap();
            (agent, tenant)
        });
    }
    for (agent, tenant) in spawns.join_all().await {
        assert_eq!(agent.tenant, tenant);
        assert_eq!(harness.store.get_agent(agent.id).await.unwrap().agent.tenant, tenant);
    }
    let of_one = AgentQuery { tenant: Some("tenant-3".into()), ..AgentQuery::newest(100) };
    assert_eq!(harness.store.list_agents(&of_one).await.unwrap().len(), 4);
}

pub async fn list_agents_filters_by_tenant(harness: Harness) {
    let store = harness.store.as_ref();
    let mut acme = Vec::new();
    let mut beta = Vec::new();
    for index in 0..5 {
        let tenant = if index % 2 == 0 { "acme" } else { "beta" };
        let (agent, _) = store.create_agent(in_tenant(tenant), Some(new_run("hi"))).await.unwrap();
        if tenant == "acme" { &mut acme } else { &mut beta }.push(agent.id);
    }
    let (default_agent, _) = store.create_agent(new_agent(), None).await.unwrap();
    acme.reverse();
    beta.reverse();
    let of = |tenant: &str| AgentQuery { tenant: Some(tenant.to_owned()), ..AgentQuery::newest(10) };

    assert_eq!(ids(&store.list_agents(&of("acme")).await.unwrap()), acme);
    assert_eq!(ids(&store.list_agents(&of("beta")).await.unwrap()), beta);
    assert_eq!(ids(&store.list_agents(&of(DEFAULT_TENANT)).await.unwrap()), vec![default_agent.id]);
    assert!(store.list_agents(&of("nobody")).await.unwrap().is_empty());
    assert!(store.list_agents(&of("Acme")).await.unwrap().is_empty(), "tenants are compared exactly");
    assert_eq!(store.list_agents(&AgentQuery::newest(10)).await.unwrap().len(), 6, "no tenant: every tenant's");

    // Pages of one tenant follow its own agents.
    let first = ids(&store.list_agents(&AgentQuery { limit: 2, ..of("acme") }).await.unwrap());
    assert_eq!(first, acme[..2]);
    let next = AgentQuery { limit: 2, before: first.last().copied(), ..of("acme") };
    assert_eq!(ids(&store.list_agents(&next).await.unwrap()), acme[2..]);

    // With other filters: all must match.
    let queued_beta = AgentQuery { statuses: vec![RunStatus::Queued], ..of("beta") };
    assert_eq!(ids(&store.list_agents(&queued_beta).await.unwrap()), beta);
    let searched = AgentQuery { text: Some(acme[0].to_string()), ..of("beta") };
    assert!(store.list_agents(&searched).await.unwrap().is_empty(), "acme's agent is not beta's");
    let searched = AgentQuery { text: Some(acme[0].to_string()), ..of("acme") };
    assert_eq!(ids(&store.list_agents(&searched).await.unwrap()), vec![acme[0]]);
}

pub async fn tenant_usage_counts_agents_and_runs_not_ended(harness: Harness) {
    let store = harness.store.as_ref();
    assert_eq!(store.tenant_usage("acme").await.unwrap(), TenantUsage::default());

    // acme: one agent without a run, one queued run, one running, one paused, one completed.
    store.create_agent(in_tenant("acme"), None).await.unwrap();
    store.create_agent(in_tenant("acme"), Some(new_run("queued"))).await.unwrap();
    let mut placed = Vec::new();
    for _ in 0..3 {
        let (_, run) = store.create_agent(in_tenant("acme"), Some(new_run("hi"))).await.unwrap();
        let run = store.assign_run(run.expect("first run").id, NodeId::generate(), 0).await.unwrap();
        placed.push(store.commit(CommitBatch { status: Some(RunStatus::Running), ..batch(&run, 1) }).await.unwrap());
    }
    store.control_run(placed[1].run.id, RunControl::Pause { reason: "later".into() }).await.unwrap();
    let done = CommitBatch { status: Some(RunStatus::Completed), ..batch(&placed[2].run, 1) };
    store.commit(done).await.unwrap();
    // Another tenant's agents and runs do not count.
    store.create_agent(in_tenant("beta"), Some(new_run("theirs"))).await.unwrap();

    assert_eq!(store.tenant_usage("acme").await.unwrap(), TenantUsage { agents: 5, active_runs: 3 });
    assert_eq!(store.tenant_usage("beta").await.unwrap(), TenantUsage { agents: 1, active_runs: 1 });
    assert_eq!(store.tenant_usage(DEFAULT_TENANT).await.unwrap(), TenantUsage::default());

    // A cancelled run has ended; a new message starts another run.
    store.control_run(placed[0].run.id, RunControl::Cancel { reason: "stop".into() }).await.unwrap();
    store.create_run(placed[2].run.agent_id, new_run("more")).await.unwrap();
    assert_eq!(store.tenant_usage("acme").await.unwrap(), TenantUsage { agents: 5, active_runs: 3 });
    store.control_run(placed[1].run.id, RunControl::Cancel { reason: "stop".into() }).await.unwrap();
    assert_eq!(store.tenant_usage("acme").await.unwrap(), TenantUsage { agents: 5, active_runs: 2 });
}
