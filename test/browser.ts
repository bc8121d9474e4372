/**
 * Chromium for the page tests, driven by playwright-core (a Node library): the browser
 * scripts/chromium.mjs finds (`$REFLOW_CHROMIUM`, the system's, the one inside the npm package
 * `@sparticuz/chromium`, or Debian's), started headless with what a test needs and nothing that
 * talks to the network on its own (no first-run, sync, component updates, background requests, QUIC).
 * When none can be had, the test fails with the one line that says which is missing and how to get
 * it, and no stack trace.
 */

/** The flags every page test runs Chromium with. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Starts Chromium, or fails with the one line that says which browser is missing and how to get it. */
export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  const { findChromium } = await import("../scripts/chromium.mjs");
  const found = await findChromium();
  if (found.error !== undefined) {
    const error = new Error(found.error);
    error.stack = `Error: ${found.error}`; // the reason is the whole story: no stack trace
    throw error;
  }
  return await chromium.launch({ executablePath: found.path, args: CHROMIUM_ARGS });
}
