// Providers register by name; commands and the engine ask the registry, never a provider module.
import { QrvError } from '../core/errors.ts';
import type { Provider } from './provider.ts';
import { fileProvider } from './file/file-provider.ts';
import { lvmProvider } from './lvm/lvm-provider.ts';
import { dmProvider } from './dm/dm-provider.ts';
import { PROVIDER_NAMES } from './names.ts';

const providers = new Map<string, Provider>([
  [fileProvider.name, fileProvider],
  [lvmProvider.name, lvmProvider],
  [dmProvider.name, dmProvider],
]);

if ([...providers.keys()].join() !== PROVIDER_NAMES.join())
  throw new Error('providers/names.ts does not list the providers');

export function providerNames(): string[] {
  return [...providers.keys()];
}

export function getProvider(name: string): Provider {
  const provider = providers.get(name);
  if (!provider) {
    throw new QrvError(
      'usage',
      'unknown-provider',
      `unknown provider "${name}"`,
      `use one of: ${providerNames().join(', ')}`,
    );
  }
  return provider;
}
