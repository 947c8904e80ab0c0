/**
 * >= 100 varied sentences for the parity test: plain, punctuation, numbers, accents, CJK, emoji, RTL, combining marks,
 * control characters, very long words, near-empty strings, and texts well over 512 tokens. Built from fixed lists so
 * the test is deterministic.
 */
const plain = [
  'A man is eating food.',
  'A man is eating a piece of bread.',
  'The girl is carrying a baby.',
  'A man is riding a horse.',
  'A woman is playing violin.',
  'Two men pushed carts through the woods.',
  'A monkey is playing drums.',
  'A cheetah is running behind its prey.',
  'The new movie is awesome',
  'The cat sits outside',
  'A man is playing guitar',
  'I love pasta',
  'Do you like pizza?',
  'How do I reset the password of my account?',
  'Vector databases store embeddings for similarity search.',
  'HNSW builds a navigable small-world graph in layers.',
  'SQLite in WAL mode lets readers proceed while one writer commits.',
  'Aspirin reduces the risk of heart attack.',
  'The kernel scheduler assigns CPU time to processes.',
  'Photosynthesis converts light energy into chemical energy.',
];
const odd = [
  'UNBELIEVABLE!!! really???',
  "it's a dog's life, isn't it",
  'e.g. i.e. etc. vs. Dr. Mr. Mrs.',
  'C++ and C# and F# are languages; so is Rust.',
  'Call +1 (555) 010-9999 or mail a.b@example.com',
  'https://example.com/path?q=1&x=%20y#frag',
  '3.14159 2.71828 1e-12 -42 0x1F 1,000,000',
  '2024-01-31T12:34:56Z',
  '$100 €200 £300 ¥400',
  '#hashtag @mention',
  'snake_case camelCase kebab-case PascalCase',
  'ALL CAPS SENTENCE HERE',
  'tab\tseparated\tvalues',
  'line one\nline two\r\nline three',
  '   leading and trailing spaces   ',
  'multiple     internal     spaces',
  '"quoted" \'single\' «guillemets» „low“',
  '(parentheses) [brackets] {braces} <angles>',
  '...',
  '?!',
  '-',
  'a',
  'I',
  'ok',
  '\u00a0non-breaking\u00a0spaces\u00a0',
  'zero\u200bwidth\u200bspace',
  'control\u0007bell\u0000nul',
  'supercalifragilisticexpialidocious',
  'pneumonoultramicroscopicsilicovolcanoconiosis',
  'x'.repeat(150),
  'antidisestablishmentarianism '.repeat(5),
];
const unicode = [
  'Schrödinger\'s café — naïve façade, coöperate',
  'Crème brûlée à la française',
  'Ångström, Øresund, Æsir',
  'Straße und Fußgänger',
  'Ελληνικά κείμενα εδώ',
  'Русский текст для проверки',
  '日本語のテキストです',
  '中文文本测试',
  '한국어 텍스트',
  'ภาษาไทย',
  'العربية نص للاختبار',
  'עברית טקסט',
  'हिन्दी पाठ',
  'Tiếng Việt có dấu',
  'emoji 😀🎉👍🏽 and 👨‍👩‍👧‍👦 family',
  '🚀',
  'e\u0301 combining acute vs é precomposed',
  'ﬁ ligature and ＦＵＬＬＷＩＤＴＨ',
  'İstanbul ıi İI',
  'math ∑ ∫ √ ∞ ≈ ≠ ≤ ≥',
  'arrows → ← ↑ ↓ ⇒',
  '𝕳𝖊𝖑𝖑𝖔 mathematical fraktur',
  'mixed 日本 and English words',
  'Ｑ：全角の質問？',
];
const long = [
  'The quick brown fox jumps over the lazy dog. '.repeat(80),
  Array.from({ length: 700 }, (_, i) => `w${i}`).join(' '),
  'Vector search '.repeat(300) + 'END',
  'données '.repeat(400),
  '日本語'.repeat(400),
  'a, '.repeat(600),
  'One sentence that is moderately long, with several clauses, some commas, and a few numbers like 12 and 345. '.repeat(8),
];

function combos(): string[] {
  const subjects = ['The engineer', 'A child', 'My neighbour', 'The committee', 'Every student', 'The old robot'];
  const verbs = ['reads', 'builds', 'questions', 'paints', 'measures', 'forgets'];
  const objects = ['a map of the city.', 'the final report!', 'three small boxes?', 'an ONNX graph.', 'the 2nd chapter', 'nothing at all'];
  const out: string[] = [];
  for (let i = 0; i < 24; i++) out.push(`${subjects[i % 6]} ${verbs[(i * 5) % 6]} ${objects[(i * 7) % 6]}`);
  return out;
}

export const VARIED_SENTENCES: string[] = [...plain, ...odd, ...unicode, ...long, ...combos()];
