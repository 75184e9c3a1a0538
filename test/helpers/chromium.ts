import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium, driven by playwright-core (no browser download). */
export const CHROMIUM = process.env.AGEGENDER_CHROMIUM ?? '/usr/bin/chromium';

/** false, or why a browser test must skip. */
export const chromiumSkip: false | string = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the browser test`;

/** Headless, offline-minded flags; with `fakeCamera` a synthetic webcam is granted without a prompt. */
export function launchChromium(opts: { fakeCamera?: boolean } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(opts.fakeCamera ? ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] : []),
    ],
  });
}

/** Closes a browser, bounded: one that does not answer Browser.close must not hold the test run open. */
export async function closeChromium(browser: Browser | undefined): Promise<void> {
  await Promise.race([browser?.close(), new Promise((r) => setTimeout(r, 15_000).unref())]);
}
