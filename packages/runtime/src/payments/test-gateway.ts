import { CallbackRejectedError, type PaymentGateway, type PaymentOutcome, type PaymentRequest, type PaymentSession, type SavedMethod } from './gateway.ts';

/*
 * The demo's payment provider: its checkout page is served by Tollgate itself
 * (`/billing/test-checkout/<reference>`), where the customer picks the outcome a real provider
 * would report, and may save a test card that approves or declines later charges, so automatic
 * retries can be tried without a provider account. No money moves.
 */

export const TEST_CHECKOUT_PATH = '/billing/test-checkout/';

export type TestCardBehaviour = 'approve' | 'decline';

export class TestGateway implements PaymentGateway {
  readonly name = 'test' as const;

  /** `publicUrl`: where customers reach Tollgate, which serves the checkout page. */
  constructor(private readonly publicUrl: string) {}

  async createPayment(payment: PaymentRequest): Promise<PaymentSession> {
    return { paymentUrl: `${this.publicUrl}${TEST_CHECKOUT_PATH}${payment.reference}`, providerReference: payment.reference };
  }

  /** The checkout page's choice, as a provider's notification would carry it. */
  outcome(reference: string, outcome: 'success' | 'failure', saveCard: TestCardBehaviour | null): PaymentOutcome {
    const succeeded = outcome === 'success';
    return {
      reference,
      // Like providers that notify each status change of a payment as its own event.
      providerEventId: `${reference}:${outcome}`,
      status: succeeded ? 'succeeded' : 'failed',
      amountMinor: null,
      currency: null,
      failureReason: succeeded ? null : 'declined on the test checkout page',
      savedMethod: succeeded && saveCard ? testCard(reference, saveCard) : null,
    };
  }

  /** Test cards approve or decline every later charge, as they were saved. */
  async chargeSaved(payment: PaymentRequest, token: string): Promise<PaymentOutcome> {
    const approves = token.startsWith('test_card_approve_');
    return {
      reference: payment.reference,
      providerEventId: `${payment.reference}:charge`,
      status: approves ? 'succeeded' : 'failed',
      amountMinor: payment.amountMinor,
      currency: payment.currency,
      failureReason: approves ? null : 'the saved test card declines charges',
    };
  }

  /** Nothing calls back: the checkout page completes payments through Tollgate's own route. */
  async parseCallback(): Promise<PaymentOutcome | null> {
    throw new CallbackRejectedError('validation_failed', 'the test gateway sends no callbacks');
  }
}

function testCard(reference: string, behaviour: TestCardBehaviour): SavedMethod {
  return { token: `test_card_${behaviour}_${reference}`, label: `test card ending ${behaviour === 'approve' ? '4242' : '0002'}` };
}
