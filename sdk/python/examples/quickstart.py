"""docs/sdk.md's example: spawn an agent, then print its run's trace until the run ends.
With `make llm` and `agentry dev` running: `python sdk/python/examples/quickstart.py`."""

import agentry

with agentry.Client() as client:  # the hub at $AGENTRY_HUB, else http://127.0.0.1:7700
    spawned = client.spawn(
        model="openai:qwen2.5-coder-1.5b",
        tools=["bash"],
        input="Use bash to print the kernel name, then answer with it.",
    )
    assert spawned.run_id is not None  # a spawn with input starts a run
    # Reconnects and resumes if the hub restarts.
    for event in client.trace(run_id=spawned.run_id):
        print(f"#{event.seq} {event.type} {event.data}")
