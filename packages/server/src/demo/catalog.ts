import type { NewPlan, NewProduct, NewRoute } from '@tollgate/store';

/*
 * The two specifications as demo catalogs: ViralFX's marketplace (ZAR, blueprint "Pricing Model")
 * and CryptoMeme's premium API (USD, HLD §6 and §7.1). Routes without an upstream URL are served
 * by the built-in demo upstream. Money: fees in minor units, per-call fees in micro-units.
 */

type PlanSeed = Omit<NewPlan, 'productId' | 'currency' | 'isActive' | 'limits' | 'rateLimitAlgorithm' | 'description'> &
  Partial<Pick<NewPlan, 'limits' | 'rateLimitAlgorithm' | 'description'>>;
type RouteSeed = Pick<NewRoute, 'method' | 'path'> & Partial<Pick<NewRoute, 'entitlement' | 'historyParam' | 'description'>>;

export interface ProductSeed {
  product: Omit<NewProduct, 'isActive'>;
  plans: PlanSeed[];
  routes: RouteSeed[];
}

const R = (rand: number) => rand * 100; // ZAR → cents
const USD = (dollars: number) => dollars * 100;
const PER_CALL = (major: number) => Math.round(major * 1_000_000);

const standard = { perCallFeeMicros: null, dailyCap: null, entitlements: [] as string[], isCustom: false };

export const VIRALFX_PRODUCTS: ProductSeed[] = [
  {
    product: {
      slug: 'smi-api',
      name: 'Social Mood Index API',
      description: 'Real-time social sentiment scores for financial markets',
      publicDocs: '/docs#/smi-api',
      category: 'SMI',
      defaultPlan: 'smi-starter',
      features: ['Real-time sentiment scores', 'Historical data access', 'Advanced analytics'],
      currency: 'ZAR',
    },
    plans: [
      { ...standard, code: 'smi-starter', name: 'Starter', description: 'Perfect for developers getting started', monthlyFeeMinor: R(890), monthlyQuota: 10_000, rateLimitPerMinute: 100, burst: 150 },
      { ...standard, code: 'smi-pro', name: 'Pro', monthlyFeeMinor: R(8_990), monthlyQuota: 1_000_000, rateLimitPerMinute: 5_000, burst: 7_500 },
      { ...standard, code: 'smi-institutional', name: 'Institutional', monthlyFeeMinor: R(89_990), monthlyQuota: 10_000_000, rateLimitPerMinute: 30_000, burst: 45_000 },
      { ...standard, code: 'smi-enterprise', name: 'Enterprise', description: 'Custom pricing, unlimited calls, custom rate limits', monthlyFeeMinor: null, monthlyQuota: null, rateLimitPerMinute: 60_000, burst: 90_000, isCustom: true },
    ],
    routes: [{ method: 'GET', path: '/smi/v1/score', description: 'Social mood index score of a symbol' }],
  },
  {
    product: {
      slug: 'vts-feed',
      name: 'VTS Symbol Feed API',
      description: 'Universal trend symbol data with momentum tracking',
      publicDocs: '/docs#/vts-feed',
      category: 'VTS',
      defaultPlan: 'vts-basic',
      features: ['Universal trend symbols', 'Momentum tracking'],
      currency: 'ZAR',
    },
    plans: [
      { ...standard, code: 'vts-basic', name: 'Basic', monthlyFeeMinor: R(3_990), monthlyQuota: null, rateLimitPerMinute: 1_000, burst: 1_000 },
      { ...standard, code: 'vts-enterprise', name: 'Enterprise', description: 'Custom pricing at R0.50 per call', monthlyFeeMinor: null, perCallFeeMicros: PER_CALL(0.5), monthlyQuota: null, rateLimitPerMinute: 100_000, burst: 100_000, isCustom: true },
    ],
    routes: [
      { method: 'GET', path: '/vts/v1/symbols', description: 'List VTS symbols' },
      { method: 'GET', path: '/vts/v1/symbols/{symbol}', description: 'One VTS symbol' },
    ],
  },
  {
    product: {
      slug: 'viralscore-api',
      name: 'ViralScore API',
      description: 'Predictive virality metrics and trend forecasting',
      publicDocs: '/docs#/viralscore-api',
      category: 'ViralScore',
      defaultPlan: 'viralscore-starter',
      features: ['Virality prediction', 'Trend forecasting'],
      currency: 'ZAR',
    },
    plans: [
      { ...standard, code: 'viralscore-starter', name: 'Starter', monthlyFeeMinor: R(1_790), monthlyQuota: 20_000, rateLimitPerMinute: 200, burst: 300 },
      { ...standard, code: 'viralscore-pro', name: 'Pro', monthlyFeeMinor: R(17_990), monthlyQuota: 2_000_000, rateLimitPerMinute: 10_000, burst: 15_000 },
    ],
    routes: [{ method: 'GET', path: '/viralscore/v1/score', description: 'Virality prediction of a symbol' }],
  },
  {
    product: {
      slug: 'sentiment-deception-api',
      name: 'Sentiment + Deception API',
      description: 'Advanced sentiment analysis with deception detection',
      publicDocs: '/docs#/sentiment-deception-api',
      category: 'Sentiment',
      defaultPlan: 'sentiment-pro',
      features: ['Sentiment analysis', 'Deception detection'],
      currency: 'ZAR',
    },
    plans: [
      { ...standard, code: 'sentiment-pro', name: 'Pro', monthlyFeeMinor: R(17_990), monthlyQuota: 1_000_000, rateLimitPerMinute: 5_000, burst: 7_500 },
      { ...standard, code: 'sentiment-enterprise', name: 'Enterprise', description: 'Custom pricing at R2.00 per call', monthlyFeeMinor: null, perCallFeeMicros: PER_CALL(2), monthlyQuota: null, rateLimitPerMinute: 50_000, burst: 75_000, isCustom: true },
    ],
    routes: [{ method: 'POST', path: '/sentiment/v1/analyze', description: 'Sentiment and deception analysis of a text' }],
  },
];

// HLD §6.2: what each tier may call. Each tier holds the one below it.
const CM_FREE = ['memes:basic', 'tokens:basic', 'tokens:history'];
const CM_DEVELOPER = [...CM_FREE, 'memes:full', 'memes:genealogy', 'tokens:security', 'verification:seals'];
const CM_PROFESSIONAL = [...CM_DEVELOPER, 'tokens:holders', 'verification:pending', 'sentiment', 'analytics:advanced', 'bulk'];
const CM_ENTERPRISE = [...CM_PROFESSIONAL, 'custom'];

export const CRYPTOMEME_PRODUCT: ProductSeed = {
  product: {
    slug: 'cryptomeme-api',
    name: 'CryptoMeme Premium API',
    description: 'Meme, token, culture-seal and sentiment data for funds, trading bots and developers',
    publicDocs: '/docs#/cryptomeme-api',
    category: 'CryptoMeme',
    defaultPlan: 'cm-free',
    features: ['REST API', 'WebSocket streaming', 'Webhooks', 'Historical data'],
    currency: 'USD',
  },
  plans: [
    { code: 'cm-free', name: 'Free', description: 'Basic endpoints, 7 days of history', monthlyFeeMinor: 0, perCallFeeMicros: null, monthlyQuota: 1_000, rateLimitPerMinute: 10, burst: 20, dailyCap: 1_000, entitlements: CM_FREE, limits: { websocketChannels: 0, webhookEndpoints: 0, historyDays: 7 }, isCustom: false },
    { code: 'cm-developer', name: 'Developer', description: 'Full endpoints, 30 days of history, 5 WebSocket channels', monthlyFeeMinor: USD(49), perCallFeeMicros: null, monthlyQuota: 50_000, rateLimitPerMinute: 100, burst: 200, dailyCap: 50_000, entitlements: CM_DEVELOPER, limits: { websocketChannels: 5, webhookEndpoints: 0, historyDays: 30 }, isCustom: false },
    { code: 'cm-professional', name: 'Professional', description: 'Premium endpoints, 1 year of history, webhooks', monthlyFeeMinor: USD(299), perCallFeeMicros: null, monthlyQuota: 500_000, rateLimitPerMinute: 1_000, burst: 2_000, dailyCap: 500_000, entitlements: CM_PROFESSIONAL, limits: { websocketChannels: 50, webhookEndpoints: 10, historyDays: 365 }, isCustom: false },
    { code: 'cm-enterprise', name: 'Enterprise', description: 'Custom pricing, unlimited calls, full history', monthlyFeeMinor: null, perCallFeeMicros: null, monthlyQuota: null, rateLimitPerMinute: 10_000, burst: 20_000, dailyCap: null, entitlements: CM_ENTERPRISE, limits: { websocketChannels: null, webhookEndpoints: null, historyDays: null }, isCustom: true },
  ],
  routes: [
    { method: 'GET', path: '/v1/memes', entitlement: 'memes:basic', description: 'List memes (basic fields on Free, full from Developer)' },
    { method: 'GET', path: '/v1/memes/{id}', entitlement: 'memes:basic', description: 'Meme details' },
    { method: 'GET', path: '/v1/memes/{id}/genealogy', entitlement: 'memes:genealogy', description: 'Meme family tree (Developer+)' },
    { method: 'GET', path: '/v1/memes/{id}/wiki', entitlement: 'memes:basic', description: 'Meme wiki content' },
    { method: 'GET', path: '/v1/tokens/{mint}', entitlement: 'tokens:basic', description: 'Token details' },
    { method: 'GET', path: '/v1/tokens/{mint}/price', entitlement: 'tokens:basic', description: 'Current price' },
    { method: 'GET', path: '/v1/tokens/{mint}/history', entitlement: 'tokens:history', historyParam: 'from', description: 'Price history, bounded by the plan\'s history window' },
    { method: 'GET', path: '/v1/tokens/{mint}/security', entitlement: 'tokens:security', description: 'Security score (Developer+)' },
    { method: 'GET', path: '/v1/tokens/{mint}/holders', entitlement: 'tokens:holders', description: 'Holder distribution (Professional+)' },
    { method: 'GET', path: '/v1/seals', entitlement: 'verification:seals', description: 'Culture seals (Developer+)' },
    { method: 'GET', path: '/v1/seals/{meme_id}', entitlement: 'verification:seals', description: 'One culture seal (Developer+)' },
    { method: 'GET', path: '/v1/verifications/pending', entitlement: 'verification:pending', description: 'Pending verifications (Professional+)' },
    { method: 'GET', path: '/v1/sentiment/trending', entitlement: 'sentiment', description: 'Trending tokens by sentiment (Professional+)' },
    { method: 'GET', path: '/v1/sentiment/{token}', entitlement: 'sentiment', description: 'Sentiment signals (Professional+)' },
    { method: 'GET', path: '/v1/analytics/advanced', entitlement: 'analytics:advanced', description: 'Advanced analytics (Professional+)' },
    { method: 'POST', path: '/v1/bulk/tokens', entitlement: 'bulk', description: 'Many tokens at once (Professional+)' },
    { method: 'POST', path: '/v1/bulk/security', entitlement: 'bulk', description: 'Security of many tokens (Professional+)' },
  ],
};

export const DEMO_CATALOG: ProductSeed[] = [...VIRALFX_PRODUCTS, CRYPTOMEME_PRODUCT];
