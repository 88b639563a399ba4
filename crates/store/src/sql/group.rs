//! Group commit: callers submit one request each and wait for their own answer; a few writer
//! tasks take every request queued at that moment (up to a limit) and apply them together. No
//! timer: a group is whatever arrived while the previous group was being written, so a lone
//! request goes out at once and a busy hub writes many per round trip (the technique of
//! PostgreSQL's own WAL group flush, applied one level up).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

/// Requests `T` answered with `R`, applied in groups by writer tasks.
pub(crate) struct Group<T, R> {
    sender: mpsc::Sender<(T, oneshot::Sender<R>)>,
}

impl<T, R> std::fmt::Debug for Group<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").field("queued", &(self.sender.max_capacity() - self.sender.capacity())).finish()
    }
}

impl<T: Send + 'static, R: Send + 'static> Group<T, R> {
    /// Starts `writers` tasks on the current Tokio runtime, each applying groups of at most
    /// `max_group` requests with `apply`, which must answer every request of a group, in order.
    /// The tasks end when the group is dropped.
    pub(crate) fn start<F, Fut>(writers: usize, max_group: usize, apply: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (sender, receiver) = mpsc::channel(max_group * writers * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        let apply = Arc::new(apply);
        for _ in 0..writers {
            let (receiver, apply) = (Arc::clone(&receiver), Arc::clone(&apply));
            tokio::spawn(async move {
                while let Some((requests, answers)) = next_group(&receiver, max_group).await {
                    let results = apply(requests).await;
                    debug_assert_eq!(results.len(), answers.len(), "a group answers every request");
                    for (answer, result) in answers.into_iter().zip(results) {
                        // The caller may have gone (its RPC was cancelled): nothing to answer.
                        let _ = answer.send(result);
                    }
                }
            });
        }
        Self { sender }
    }

    /// Submits a request and waits for its answer; `None` when the writers are gone (their
    /// runtime shut down).
    pub(crate) async fn submit(&self, request: T) -> Option<R> {
        let (answer, answered) = oneshot::channel();
        self.sender.send((request, answer)).await.ok()?;
        answered.await.ok()
    }
}

/// Takes the next group: waits for one request, then takes what else is queued, up to `max`.
/// `None` once every sender is gone.
async fn next_group<T, R>(
    receiver: &Mutex<mpsc::Receiver<(T, oneshot::Sender<R>)>>,
    max: usize,
) -> Option<(Vec<T>, Vec<oneshot::Sender<R>>)> {
    let mut receiver = receiver.lock().await;
    let (first, answer) = receiver.recv().await?;
    let (mut requests, mut answers) = (vec![first], vec![answer]);
    while requests.len() < max {
        match receiver.try_recv() {
            Ok((request, answer)) => {
                requests.push(request);
                answers.push(answer);
            }
            Err(_) => break,
        }
    }
    Some((requests, answers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_request_gets_its_own_answer_and_groups_form_under_load() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let group: Arc<Group<u32, u32>> = Arc::new(Group::start(2, 8, move |requests: Vec<u32>| {
            seen.lock().unwrap().push(requests.len());
            async move {
                tokio::task::yield_now().await;
                requests.into_iter().map(|request| request * 10).collect()
            }
        }));
        let answers = futures_join(&group, 0..100).await;
        assert_eq!(answers, (0..100).map(|request| Some(request * 10)).collect::<Vec<_>>());
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(sizes.iter().all(|&size| (1..=8).contains(&size)), "groups respect the limit: {sizes:?}");
        assert!(sizes.len() < 100, "concurrent requests were grouped: {sizes:?}");
    }

    async fn futures_join(group: &Arc<Group<u32, u32>>, requests: std::ops::Range<u32>) -> Vec<Option<u32>> {
        let handles: Vec<_> = requests
            .map(|request| {
                let group = Arc::clone(group);
                tokio::spawn(async move { group.submit(request).await })
            })
            .collect();
        let mut answers = Vec::new();
        for handle in handles {
            answers.push(handle.await.unwrap());
        }
        answers
    }
}
