import { clamp, iso, round, seedOf, unit } from './random.ts';
import { invalid, requireObjectBody } from './validate.ts';

/*
 * POST /sentiment/v1/analyze (blueprint "Sentiment + Deception API"). A small lexicon scorer in the
 * spirit of VADER (negation, intensifiers, compound normalisation) plus rule-based deception cues.
 * A hash of the text adds a little jitter, so every text gets its own, reproducible result.
 */

const MAX_CHARS = 10_000;

const POSITIVE = new Set(('good great excellent amazing awesome love loved like happy glad wonderful fantastic best better strong win winning wins gain gains profit bullish '
  + 'positive success successful beautiful brilliant nice perfect impressive solid growth growing up rally recover recovery safe trust reliable honest fair hope hopeful '
  + 'excited exciting optimistic support supportive thanks thank helpful fun enjoy enjoyed proud pleased celebrate breakthrough boost improve improved').split(' '));
const NEGATIVE = new Set(('bad terrible awful horrible hate hated dislike sad angry poor worst worse weak lose losing loss losses lost crash crashed dump dumped bearish '
  + 'negative fail failed failure scam fraud fake risk risky danger dangerous fear afraid worried worry problem broken corrupt corruption crisis collapse down decline '
  + 'disappointed disappointing disaster ugly useless waste angry furious annoying pain hurt toxic rug rugged hack hacked stolen lie lies liar panic').split(' '));
const NEGATORS = new Set(['not', 'no', 'never', "don't", "doesn't", "didn't", "isn't", "wasn't", "aren't", "can't", "won't", 'without', 'hardly', 'nobody', 'nothing']);
const INTENSIFIERS = new Set(['very', 'extremely', 'really', 'so', 'super', 'incredibly', 'absolutely', 'totally', 'highly', 'hugely']);
const DIMINISHERS = new Set(['slightly', 'somewhat', 'barely', 'kinda', 'kind', 'little', 'marginally']);

const EMOTIONS: Record<string, readonly string[]> = {
  joy: ['happy', 'love', 'great', 'awesome', 'excited', 'fun', 'glad', 'enjoy', 'celebrate', 'wonderful'],
  anger: ['angry', 'hate', 'furious', 'scam', 'fraud', 'annoying', 'corrupt', 'toxic', 'liar'],
  fear: ['afraid', 'scared', 'worried', 'worry', 'fear', 'panic', 'crash', 'risk', 'danger', 'collapse'],
  sadness: ['sad', 'loss', 'lost', 'disappointed', 'hurt', 'pain', 'sorry', 'miss'],
  trust: ['trust', 'reliable', 'honest', 'safe', 'solid', 'fair', 'support', 'proven'],
  surprise: ['wow', 'unexpected', 'shocked', 'surprised', 'suddenly', 'unbelievable', 'omg'],
};

// Deception cues: [signal type, weight, phrases]. Weights are the chance one strong cue alone flips a text to "deceptive".
const CUES: readonly (readonly [string, number, readonly string[]])[] = [
  ['certainty_overload', 0.25, ['guaranteed', 'guarantee', '100%', 'definitely', 'no doubt', 'certainly', 'never fails', 'can\'t lose', 'cannot lose']],
  ['trust_appeal', 0.3, ['trust me', 'believe me', 'honestly', 'to be honest', 'i swear', 'not a scam', 'no lie', '100% legit', 'legit']],
  ['urgency_pressure', 0.3, ['act now', 'last chance', 'hurry', 'don\'t miss', 'limited time', 'too late', 'right now', 'today only', 'only a few left']],
  ['financial_promise', 0.35, ['10x', '100x', '1000x', 'to the moon', 'free money', 'no risk', 'risk-free', 'risk free', 'double your', 'get rich', 'passive income', 'lambo']],
  ['unverifiable_claims', 0.2, ['sources say', 'everyone knows', 'they say', 'insiders', 'people are saying', 'secret', 'leaked']],
];

interface AnalyzeInput {
  text: string;
  /** Length in code points (what a user would call characters). */
  chars: number;
  language: string | undefined;
}

function parseBody(body: unknown): AnalyzeInput {
  const object = requireObjectBody(body, '{"text":"I love this project"}');
  const text = object['text'];
  if (typeof text !== 'string') throw invalid('text', '"text" is required and must be a string of 1 to 10000 characters');
  let chars = 0;
  for (const _ of text) if (++chars > MAX_CHARS) break;
  if (chars === 0 || chars > MAX_CHARS) throw invalid('text', `"text" must be 1 to ${MAX_CHARS} characters; got ${chars > MAX_CHARS ? `more than ${MAX_CHARS}` : 0}`, { min: 1, max: MAX_CHARS });
  if (text.trim() === '') throw invalid('text', '"text" must contain something other than whitespace');
  const language = object['language'];
  if (language !== undefined && (typeof language !== 'string' || !/^[a-z]{2,3}(-[a-z0-9]{2,8})?$/i.test(language))) {
    throw invalid('language', '"language" must be a language code such as en, af, zu or pt-BR');
  }
  return { text, chars, language: language === undefined ? undefined : language.toLowerCase() };
}

function matchesOf(lower: string, phrases: readonly string[]): string[] {
  return phrases.filter((phrase) => lower.includes(phrase));
}

export function analyzeText(body: unknown, sandbox: boolean, nowMs: number) {
  const { text, chars, language } = parseBody(body);
  const seed = seedOf('text', text, sandbox);
  const lower = text.toLowerCase();
  const words = lower.match(/[\p{L}\p{N}'%]+/gu) ?? [];
  const positives: string[] = [];
  const negatives: string[] = [];
  let raw = 0;
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    const polarity = POSITIVE.has(word) ? 1 : NEGATIVE.has(word) ? -1 : 0;
    if (polarity === 0) continue;
    let weight = polarity * 1.5;
    const prev = words[i - 1];
    if (prev !== undefined && INTENSIFIERS.has(prev)) weight *= 1.5;
    if (prev !== undefined && DIMINISHERS.has(prev)) weight *= 0.5;
    // A negator within three words flips and damps the polarity ("not very good").
    if (words.slice(Math.max(0, i - 3), i).some((w) => NEGATORS.has(w) || w.endsWith("n't"))) weight *= -0.75;
    raw += weight;
    (weight > 0 ? positives : negatives).push(word);
  }
  const exclamations = (text.match(/!/g) ?? []).length;
  if (exclamations > 0) raw *= 1 + Math.min(exclamations, 4) * 0.06;
  const compound = raw / Math.sqrt(raw * raw + 15);
  const score = clamp(compound + (unit(seed, 1) - 0.5) * 0.06, -1, 1);
  const hits = positives.length + negatives.length;
  const mixed = positives.length >= 2 && negatives.length >= 2 && Math.abs(score) < 0.35;
  const label = mixed ? 'mixed' : score >= 0.25 ? 'positive' : score <= -0.25 ? 'negative' : 'neutral';

  const signals: { type: string; weight: number; evidence: string[] }[] = [];
  for (const [type, weight, phrases] of CUES) {
    const found = matchesOf(lower, phrases);
    if (found.length > 0) signals.push({ type, weight: round(weight * Math.min(1, found.length / 2 + 0.25), 3), evidence: found.slice(0, 5) });
  }
  if (exclamations >= 3) signals.push({ type: 'excessive_punctuation', weight: round(Math.min(0.2, exclamations * 0.03), 3), evidence: [`${exclamations} exclamation marks`] });
  const capsWords = (text.match(/\b[A-Z]{3,}\b/g) ?? []).filter((w) => !/^(USD|ZAR|SOL|BTC|ETH|NFT|CEO|API)$/.test(w));
  if (capsWords.length >= 3 && capsWords.length / Math.max(1, words.length) > 0.25) {
    signals.push({ type: 'shouting', weight: 0.15, evidence: [...new Set(capsWords)].slice(0, 5) });
  }
  const probability = clamp(1 - 0.94 * signals.reduce((keep, s) => keep * (1 - s.weight), 1) + (unit(seed, 2) - 0.5) * 0.04, 0.01, 0.99);
  const emotions = Object.fromEntries(
    Object.entries(EMOTIONS).map(([emotion, lexicon]) => {
      const count = words.filter((w) => lexicon.includes(w)).length;
      return [emotion, round(clamp(count / (count + 2) + unit(seed, emotion.length + 10) * 0.05, 0, 1), 3)];
    }),
  );
  const sentences = text.split(/[.!?]+(?:\s|$)/).filter((s) => s.trim() !== '').length;
  const code = language ?? 'en';
  return {
    sentiment: {
      score: round(score, 3),
      label,
      confidence: round(clamp(0.45 + Math.min(hits, 5) * 0.08 + Math.min(words.length, 50) / 500, 0.35, 0.97), 2),
      magnitude: round(Math.abs(raw), 2),
      positive_terms: [...new Set(positives)].slice(0, 10),
      negative_terms: [...new Set(negatives)].slice(0, 10),
    },
    deception: {
      probability: round(probability, 3),
      label: probability >= 0.6 ? 'likely_deceptive' : probability >= 0.3 ? 'uncertain' : 'likely_truthful',
      signals,
    },
    emotions,
    language: { code, source: language === undefined ? 'default' : 'provided' },
    warnings: code === 'en' || code.startsWith('en-') ? [] : [`The demo lexicon is English; results for "${code}" are approximate`],
    text_stats: { characters: chars, words: words.length, sentences: Math.max(1, sentences) },
    model_version: 'sentiment-deception-demo-1',
    analyzed_at: iso(nowMs),
  };
}
