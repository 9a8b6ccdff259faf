export {
  assertPayableAmount,
  CallbackRejectedError,
  formatMinorUnits,
  GatewayRequestError,
  parseMajorUnits,
  type CallbackRejectionReason,
  type CallbackRequest,
  type PaymentGateway,
  type PaymentGatewayName,
  type PaymentOutcome,
  type PaymentRequest,
  type PaymentSession,
  type SavedMethod,
} from './gateway.ts';
export * from './ozow.ts';
export * from './payfast.ts';
export * from './paystack.ts';
export * from './stripe.ts';
export * from './test-gateway.ts';
