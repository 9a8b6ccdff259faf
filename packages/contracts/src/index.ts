export * from './errors.ts';
export * from './ids.ts';
export * from './schemas.ts';
export * from './webhooks.ts';
export * from './billing.ts';
