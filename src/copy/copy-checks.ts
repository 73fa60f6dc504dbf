// The copy engine's checks of what it is asked: sizes and buffer sizes in whole bytes.
import { QrvError } from '../core/errors.ts';

export function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new QrvError('usage', 'bad-copy-option', `${name} must be a positive whole number of bytes, got ${value}`);
  }
  return value;
}

export function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new QrvError(
      'usage',
      'bad-copy-option',
      `the volume size must be a whole number of bytes ≥ 0, got ${sizeBytes}`,
    );
  }
}
