// docs/sdk.md's example: spawn an agent, then print its run's trace until the run ends.
// With `make llm` and `agentry dev` running, from a project with `@agentry/cloud` installed.
import { Client } from "@agentry/cloud";

const client = new Client(); // the hub at $AGENTRY_HUB, else http://127.0.0.1:7700
const spawned = await client.spawn("openai:qwen2.5-coder-1.5b", {
  tools: ["bash"],
  input: "Use bash to print the kernel name, then answer with it.",
});
// Reconnects and resumes if the hub restarts.
for await (const event of client.trace({ runId: spawned.runId! })) {
  console.log(`#${event.seq} ${event.type}`, event.data);
}
client.close();
