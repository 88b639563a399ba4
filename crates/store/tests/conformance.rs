//! The conformance suite: every behaviour of [`Store`], run against PostgreSQL (a fresh
//! database per test) and SQLite (a temporary file per test).

mod cases;

use std::any::Any;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentry_store::testing::PgTestDatabase;
use agentry_store::{PgStore, SqliteStore, Store};
use agentry_test_util::{Observed, eventually};

/// A store under test, and what must outlive it (its database or directory).
pub struct Harness {
    /// The store.
    pub store: Arc<dyn Store>,
    _keep_alive: Box<dyn Any + Send>,
}

async fn postgres_harness() -> Harness {
    let database = PgTestDatabase::create().await.expect("create test database");
    let store = PgStore::connect(database.url()).await.expect("connect to test database");
    Harness { store: Arc::new(store), _keep_alive: Box::new(database) }
}

async fn sqlite_harness() -> Harness {
    let directory = tempfile::tempdir().expect("create temporary directory");
    // A subdirectory that does not exist yet: opening creates it.
    let path = directory.path().join("state").join("agentry.db");
    let store = SqliteStore::open(&path).await.expect("open sqlite store");
    Harness { store: Arc::new(store), _keep_alive: Box::new(directory) }
}

/// Instantiates every case of `cases` as a test in module `$suite`, each with a store made by
/// the async constructor `$constructor`. A case missing from the list fails
/// `every_case_is_in_the_suite`.
macro_rules! store_test_suite {
    ($suite:ident, $constructor:expr) => {
        mod $suite {
            store_test_suite!(@cases $constructor;
                agents::create_agent_with_first_run,
                agents::create_agent_without_run,
                agents::create_agent_is_idempotent,
                agents::create_agent_is_idempotent_under_concurrency,
                agents::create_agent_without_key_always_creates,
                agents::get_agent_returns_latest_run,
                agents::list_agents_newest_first_with_latest_runs,
                agents::unknown_agent_is_not_found,
                listing::list_agents_filters_by_latest_run_status,
                listing::list_agents_searches_ids_models_and_labels,
                listing::list_agents_pages_newest_first_without_gaps,
                runs::create_run_appends_queued_run,
                runs::unknown_run_is_not_found,
                runs::placeable_runs_one_per_agent_in_order,
                runs::run_counts_count_runs_not_ended_by_status_and_placement,
                runs::trace_context_of_runs_and_events_is_kept,
                runs::assign_run_bumps_epoch,
                runs::assign_run_with_stale_epoch_is_rejected,
                runs::assign_runs_applies_each_compare_and_set,
                runs::assign_run_requires_queued,
                runs::unassign_run_only_at_epoch_and_queued,
                runs::load_run_returns_context,
                commit::commit_appends_events_and_messages,
                commit::commit_sets_status_and_error,
                commit::commit_with_stale_epoch_writes_nothing,
                commit::commit_after_terminal_writes_nothing,
                commit::commit_to_unknown_run_is_not_found,
                commit::concurrent_commits_get_gap_free_seqs,
                commit::concurrent_commits_of_many_runs_each_get_their_own_answer,
                commit::retried_commit_is_applied_once,
                events::events_after_returns_exactly_later_events,
                events::events_after_filters_by_run,
                events::events_after_respects_limit,
                nodes::list_nodes_oldest_first,
                nodes::register_node_again_updates_it,
                nodes::heartbeat_extends_lease,
                nodes::heartbeat_of_unknown_node_is_not_found,
                scheduling::placeable_runs_carry_selector_and_previous_node,
                scheduling::wait_reason_is_kept_until_placement,
                scheduling::node_loads_count_placed_running_and_paused,
                scheduling::release_node_runs_takes_back_unstarted_runs,
                scheduling::set_node_state_changes_membership,
                lifecycle::release_all_takes_running_runs_and_records_the_move,
                lifecycle::cancel_fences_the_node_and_ends_the_run,
                lifecycle::pause_and_resume_keep_the_conversation,
                lifecycle::controls_refuse_what_the_status_forbids,
                lifecycle::revoked_runs_names_the_runs_no_longer_owned,
                lifecycle::expired_nodes_become_dead_and_are_refused,
                lifecycle::load_run_lists_started_tool_calls,
                lifecycle::leadership_is_granted,
                lost_tasks::stale_assignments_are_queued_runs_assigned_before_the_cutoff,
                lost_tasks::revoking_an_assignment_fences_its_task_and_frees_the_run,
                cost::cost_rolls_sub_agents_up_to_their_root,
                cost::cost_groups_by_model_and_utc_day,
                cost::cost_since_counts_only_later_calls,
                cost::cost_buckets_split_each_group_by_time,
                cost::cost_counts_only_the_tenant_asked_for,
                approvals::a_decision_queues_the_parked_run_and_is_loaded_back,
                approvals::expired_requests_are_found_and_decisions_need_a_parked_run,
                import::import_writes_ended_runs_and_renumbered_events,
                import::imported_runs_refuse_every_control_naming_the_import,
                import::import_refuses_unended_runs_and_unknown_runs,
                import::imported_model_calls_stay_out_of_the_cost_report,
                fork::messages_record_the_seq_of_their_commit,
                fork::fork_at_each_point_copies_the_prefix_and_continues_its_run,
                fork::forks_are_new_agents_with_a_queued_run,
                fork::fork_with_input_appends_it_after_a_valid_prefix,
                fork::fork_refuses_points_outside_the_conversation,
                teams::delegation_starts_children_and_parks_the_parent,
                teams::delegation_to_an_unknown_role_writes_nothing,
                teams::last_child_to_end_wakes_the_parent,
                teams::children_ending_together_wake_the_parent_once,
                teams::cancelling_the_last_child_wakes_the_parent,
                teams::wake_waiting_parents_is_the_safety_net,
                tree::agent_tree_walks_depth_first_children_oldest_first,
                tree::agent_tree_carries_latest_runs_and_model_use,
                tenants::tenant_is_kept_and_inherited,
                tenants::concurrent_spawns_keep_each_tenant,
                tenants::list_agents_filters_by_tenant,
                tenants::tenant_usage_counts_agents_and_runs_not_ended,
                audit::audit_records_are_appended_in_order_and_listed_newest_first,
                audit::audit_listing_is_capped,
                audit::audit_listing_filters_by_actor_tenant_and_time,
            );
        }
    };
    (@cases $constructor:expr; $($group:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::cases::$group::$case($constructor.await).await;
            }
        )*
    };
}

store_test_suite!(postgres, crate::postgres_harness());
store_test_suite!(sqlite, crate::sqlite_harness());

/// On PostgreSQL one hub replica leads at a time; another takes over once the leader's session
/// ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leadership_is_exclusive_and_passes_on() {
    let database = PgTestDatabase::create().await.expect("create test database");
    let first = PgStore::connect(database.url()).await.unwrap();
    let second = PgStore::connect(database.url()).await.unwrap();
    let mut leader = first.try_lead().await.unwrap().expect("the first replica leads");
    assert!(second.try_lead().await.unwrap().is_none(), "two leaders at once");
    assert!(leader.still_leading().await);
    drop(leader);
    // Closing the session releases the lock; the server notices asynchronously.
    let mut taken_over = eventually("the second replica to lead", Duration::from_secs(10), || async {
        match second.try_lead().await {
            Ok(Some(leadership)) => Observed::Ready(leadership),
            Ok(None) => Observed::NotYet("the first replica's lock is still held".to_owned()),
            Err(error) => Observed::Failed(error.into()),
        }
    })
    .await
    .unwrap_or_else(|error| panic!("leadership was not passed on: {error:#}"));
    assert!(taken_over.still_leading().await);
}

/// Where the case list of `store_test_suite!` starts in this file.
const CASE_LIST_START: &str = concat!("store_test_suite!(@cases $constructor", ";");

/// A case left out of `store_test_suite!` would never run: every `pub async fn` of a module in
/// `tests/cases/` (each is a case, a function of a fresh [`Harness`]) must be listed there, and
/// every module there must be declared in `tests/cases/mod.rs`.
#[test]
fn every_case_is_in_the_suite() {
    let listed = listed_cases(include_str!("conformance.rs"));
    let defined = defined_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("cases"));
    assert!(!defined.is_empty() && !listed.is_empty(), "no cases found: defined {defined:?}, listed {listed:?}");
    let missing: Vec<&String> = defined.difference(&listed).collect();
    assert!(missing.is_empty(), "cases missing from store_test_suite! in tests/conformance.rs: {missing:?}");
}

/// Returns the `group::case` entries of the case list of `store_test_suite!` in `source`.
fn listed_cases(source: &str) -> BTreeSet<String> {
    let start = source.find(CASE_LIST_START).expect("the case list of store_test_suite!") + CASE_LIST_START.len();
    let end = start + source[start..].find(");").expect("the end of the case list");
    source[start..end].split(',').map(str::trim).filter(|entry| !entry.is_empty()).map(str::to_owned).collect()
}

/// Returns `module::function` for every `pub async fn` of the modules in `cases_dir` (besides
/// `mod.rs`), asserting each module is declared in `mod.rs`.
fn defined_cases(cases_dir: &Path) -> BTreeSet<String> {
    let read =
        |path: &Path| std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let declarations = read(&cases_dir.join("mod.rs"));
    let mut cases = BTreeSet::new();
    for entry in std::fs::read_dir(cases_dir).expect("reading tests/cases") {
        let path = entry.expect("a directory entry").path();
        let Some(module) =
            path.file_stem().and_then(|stem| stem.to_str()).filter(|_| path.extension() == Some("rs".as_ref()))
        else {
            continue;
        };
        if module == "mod" {
            continue;
        }
        assert!(
            declarations.contains(&format!("pub mod {module};")),
            "tests/cases/{module}.rs is not declared in tests/cases/mod.rs"
        );
        for line in read(&path).lines() {
            if let Some(signature) = line.trim_start().strip_prefix("pub async fn ") {
                let name = signature.split(['(', '<']).next().unwrap_or_default().trim();
                cases.insert(format!("{module}::{name}"));
            }
        }
    }
    cases
}
