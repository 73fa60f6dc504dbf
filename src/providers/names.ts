// The providers' names, for help and messages without loading the providers (registry.ts checks
// that its providers are exactly these).
export const PROVIDER_NAMES = ['file', 'lvm', 'dm'] as const;
