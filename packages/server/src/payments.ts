import { OzowGateway, PayfastGateway, PaystackGateway, StripeGateway, type PaymentGateway, type PaymentGatewayName } from '@tollgate/runtime';
import type { Config } from './config.ts';

/** One adapter per provider the configuration has credentials for. */
export function createPaymentGateways(config: Config['payments']): Partial<Record<PaymentGatewayName, PaymentGateway>> {
  const gateways: Partial<Record<PaymentGatewayName, PaymentGateway>> = {};
  if (config.paystack) gateways.paystack = new PaystackGateway(config.paystack);
  if (config.payfast) gateways.payfast = new PayfastGateway(config.payfast);
  if (config.ozow) gateways.ozow = new OzowGateway(config.ozow);
  if (config.stripe) gateways.stripe = new StripeGateway(config.stripe);
  return gateways;
}
