// Starts `qrv browse` on the terminal: checks the start (volume, --as-of) before drawing, draws
// on the alternate screen, and whatever ends it — q, Ctrl-C, SIGINT/SIGTERM/SIGHUP, an error —
// closes the open reader (unmounts the copy) before it returns. The CLI reaches Ink only here.
import os from 'node:os';
import React from 'react';
import { render, type Instance } from 'ink';
import type { Catalog } from '../../catalog/store.ts';
import type { CatalogData } from '../../catalog/schema.ts';
import { QrvError } from '../../core/errors.ts';
import { findVolume } from '../../catalog/lookup.ts';
import type { Via } from '../../browse/open.ts';
import { jumpToTime } from './tree.ts';
import { Browser } from './browser.tsx';
import type { Status } from './state.ts';
import { initialFrames } from './model.ts';
import { BrowseSession } from './session.ts';

export interface BrowserStart {
  catalog: Catalog;
  /** start in this volume's list of copies */
  volume?: string;
  /** with a volume: select the copy `qrv resolve VOLUME --as-of T` chooses */
  asOf?: string;
  via?: Via;
  now?: () => Date;
}

const ALT_SCREEN_ON = '\u001B[?1049h';
const ALT_SCREEN_OFF = '\u001B[?1049l';

/** The signals that end the browser like q does (and then exit 130). */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The copy to select and the line to show at the start; the volume and --as-of checked before anything is drawn. */
function startingPoint(
  data: CatalogData,
  start: BrowserStart,
  now: () => Date,
): { select: string | undefined; status: Status | undefined } {
  if (start.volume !== undefined) {
    findVolume(data, start.volume);
    if (start.asOf === undefined) return { select: undefined, status: undefined };
    const jump = jumpToTime(data, start.volume, start.asOf, now());
    return { select: jump.id, status: { text: jump.line, tone: 'info' } };
  }
  if (start.asOf !== undefined)
    throw new QrvError(
      'usage',
      'usage',
      '--as-of needs a volume: qrv browse VOLUME --as-of TIME',
      'or press t in the browser to jump to a time',
    );
  return { select: undefined, status: undefined };
}

/**
 * Draws the browser on the alternate screen until it quits or one of SIGNALS ends it; then, in
 * one finally, closes the session (unmounts) and puts the screen and the signals back. Returns
 * the signal that ended it, or null.
 */
async function drawUntilQuit(
  session: BrowseSession,
  browser: (quit: () => void) => React.ReactElement,
): Promise<NodeJS.Signals | null> {
  let instance: Instance | null = null;
  let signal: NodeJS.Signals | null = null;
  const quit = () => instance?.unmount();
  const onSignal = (received: NodeJS.Signals) => {
    signal ??= received;
    quit();
  };
  for (const name of SIGNALS) process.on(name, onSignal);
  process.stdout.write(ALT_SCREEN_ON);
  try {
    instance = render(browser(quit), { exitOnCtrlC: false, patchConsole: true });
    await instance.waitUntilExit();
  } finally {
    try {
      await session.close();
    } finally {
      process.stdout.write(ALT_SCREEN_OFF);
      for (const name of SIGNALS) process.off(name, onSignal);
    }
  }
  return signal;
}

export async function runBrowser(start: BrowserStart): Promise<void> {
  const now = start.now ?? (() => new Date());
  const data = await start.catalog.read();
  const { select, status } = startingPoint(data, start, now);
  const frames = initialFrames(data, os.hostname(), start.volume, select);
  const session = new BrowseSession({ catalog: start.catalog, now, ...(start.via ? { via: start.via } : {}) });
  const signal = await drawUntilQuit(session, (quit) => (
    <Browser
      session={session}
      data={data}
      host={os.hostname()}
      frames={frames}
      {...(status ? { status } : {})}
      onQuit={quit}
    />
  ));
  if (signal)
    throw new QrvError(
      'interrupted',
      'interrupted',
      `interrupted by ${signal}; nothing is left mounted`,
      'run qrv browse again',
    );
}
