// Lanes that need root or outside tools: skip with the reason on a developer's machine, but
// fail in CI (CI=true), where a skipped lane would hide that nothing was tested.
import { execaSync } from 'execa';
import type { Test } from 'tap';

function hasTool(name: string): boolean {
  return execaSync('sh', ['-c', `command -v ${name}`], { reject: false }).exitCode === 0;
}

/** Returns why the lane cannot run here, or null when it can. */
export function laneBlocker(needs: { root?: boolean; tools?: string[] }): string | null {
  if (needs.root && process.getuid?.() !== 0) return 'needs root';
  const missing = (needs.tools ?? []).filter((tool) => !hasTool(tool));
  return missing.length ? `missing tools: ${missing.join(', ')}` : null;
}

/** True when the lane can run; otherwise skips (or fails in CI) with the reason and returns false. */
export function lane(t: Test, name: string, needs: { root?: boolean; tools?: string[] }): boolean {
  const blocker = laneBlocker(needs);
  if (blocker === null) return true;
  const message = `${name} lane: ${blocker}`;
  if (process.env.CI === 'true') t.fail(`${message} (a skipped lane fails in CI)`);
  else t.skip(message, () => undefined);
  return false;
}
