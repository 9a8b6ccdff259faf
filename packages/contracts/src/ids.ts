/**
 * Every ID carries its kind, so a log line or a support ticket is readable on its own.
 *
 * @example
 * ```ts
 * kindOfId('key_5kG2h...') // 'apiKey'
 * ```
 */
export const ID_PREFIX = {
  user: 'usr',
  session: 'ses',
  product: 'prod',
  route: 'rte',
  plan: 'plan',
  subscription: 'sub',
  apiKey: 'key',
  usage: 'use',
  invoice: 'inv',
  payment: 'pay',
  webhook: 'wh',
  webhookDelivery: 'whd',
  webhookEvent: 'evt',
  audit: 'aud',
  request: 'req',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

export function kindOfId(id: string): IdKind | undefined {
  const prefix = id.slice(0, id.indexOf('_'));
  return (Object.keys(ID_PREFIX) as IdKind[]).find((kind) => ID_PREFIX[kind] === prefix);
}
