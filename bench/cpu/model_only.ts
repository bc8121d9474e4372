/** `bench:cpu`'s model-only phase: what the replayed model costs, measured apart. */
import { type Replay, replayFetch, type Role, ROLES } from "./replay.ts";

/** Reads the four replayed bodies to their end, as the flow's model requests would be. */
export async function modelOnly(replay: Replay): Promise<void> {
  const fetch = replayFetch(replay);
  await Promise.all((Object.keys(ROLES) as Role[]).map(async (role) => {
    const response = await fetch("http://model.invalid/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({ messages: [{ role: "system", content: ROLES[role] }] }),
    });
    const reader = response.body!.getReader();
    while (!(await reader.read()).done);
  }));
}
