import { OzowGateway, PayfastGateway, PaystackGateway, StripeGateway, TestGateway, type PaymentGateway, type PaymentGatewayName } from '@tollgate/runtime';
import type { Config } from './config.ts';

/** The enabled gateways by name; `test` is the demo's own. */
export type PaymentGateways = Partial<Record<Exclude<PaymentGatewayName, 'test'>, PaymentGateway>> & { test?: TestGateway };

/** One adapter per provider the configuration has credentials for, and the test gateway unless disabled. */
export function createPaymentGateways(config: Config['payments'], publicUrl: string): PaymentGateways {
  const gateways: PaymentGateways = {};
  if (config.paystack) gateways.paystack = new PaystackGateway(config.paystack);
  if (config.payfast) gateways.payfast = new PayfastGateway(config.payfast);
  if (config.ozow) gateways.ozow = new OzowGateway(config.ozow);
  if (config.stripe) gateways.stripe = new StripeGateway(config.stripe);
  if (config.testGateway) gateways.test = new TestGateway(publicUrl);
  return gateways;
}
