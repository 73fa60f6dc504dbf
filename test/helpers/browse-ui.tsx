// Renders the `qrv browse` component with ink-testing-library over a real catalog, and waits for
// what the screen shows after keys.
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import React from 'react';
import { render } from 'ink-testing-library';
import type { Test } from 'tap';
import { Catalog } from '../../src/catalog/store.ts';
import type { Via } from '../../src/browse/open.ts';
import { Browser } from '../../src/ui/browse/browser.tsx';
import { initialFrames } from '../../src/ui/browse/model.ts';
import { BrowseSession } from '../../src/ui/browse/session.ts';

export const KEY = {
  up: '\u001B[A',
  down: '\u001B[B',
  right: '\u001B[C',
  left: '\u001B[D',
  enter: '\r',
  backspace: '\u007F',
  escape: '\u001B',
};

// eslint-disable-next-line no-control-regex
export const plain = (text: string | undefined) => (text ?? '').replace(/\x1b\[[0-9;]*m/g, '');

/** `terminalSize`: the browser takes its size from the (fake) terminal instead of 80×24. */
export async function openBrowser(
  t: Test,
  home: string,
  options: { volume?: string; via?: Via; terminalSize?: boolean } = {},
) {
  const catalog = await Catalog.open(home);
  const session = new BrowseSession({ catalog, ...(options.via ? { via: options.via } : {}) });
  const data = await catalog.read();
  let quits = 0;
  const view = render(
    <Browser
      session={session}
      data={data}
      host={os.hostname()}
      frames={initialFrames(data, os.hostname(), options.volume)}
      {...(options.terminalSize ? {} : { width: 80, height: 24 })}
      onQuit={() => (quits += 1)}
    />,
  );
  t.teardown(async () => {
    view.unmount();
    await session.close();
  });
  const frame = () => plain(view.lastFrame());
  /** Waits until the screen matches (and the browser is not busy). */
  const waitFor = async (
    pattern: RegExp | string | ((screen: string) => boolean),
    what = String(pattern),
    ms = 20_000,
  ): Promise<string> => {
    const test = (s: string) =>
      typeof pattern === 'string' ? s.includes(pattern) : typeof pattern === 'function' ? pattern(s) : pattern.test(s);
    for (let waited = 0; waited < ms; waited += 25) {
      const s = frame();
      if (test(s)) return s;
      await sleep(25);
    }
    throw new Error(`timed out waiting for ${what}; the screen:\n${frame()}`);
  };
  /** Types keys one at a time, letting the view draw between them. */
  const press = async (...keys: string[]) => {
    for (const key of keys) {
      view.stdin.write(key);
      await sleep(30);
    }
  };
  return { view, session, catalog, frame, waitFor, press, quits: () => quits, dirOf: (p: string) => path.dirname(p) };
}

/** Every line of the screen fits 80 columns, and there are at most 23 of them. */
export function fits80x24(screen: string): boolean {
  const lines = screen.split('\n');
  return lines.length <= 23 && lines.every((line) => [...line].length <= 80);
}

/** The right pane's text as one string (its rows joined by spaces), for matching text it wrapped. */
export function rightPane(screen: string): string {
  return screen
    .split('\n')
    .map((line) => /││(.*)│$/.exec(line)?.[1]?.trimEnd())
    .filter((text): text is string => text !== undefined && text !== '')
    .join(' ');
}
