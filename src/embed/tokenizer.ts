import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { EmptyInputError, InputTooLargeError, InvalidUtf8Error, UnsupportedModelError } from './errors.ts';

export interface TokenizedText {
  ids: number[];
  /** token_type_ids (all 0 for single texts); present when the tokenizer produces them. */
  typeIds: number[] | null;
  /** true when the text had more tokens than the model accepts and was cut. */
  truncated: boolean;
}

export interface TokenizerOptions {
  /** The model's maximum sequence length, special tokens included. */
  maxTokens: number;
  /** Refuse texts larger than this many UTF-8 bytes (clear error instead of minutes of tokenising). */
  maxTextBytes: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Accept strings, or bytes that must be valid UTF-8 (a Buffer from a file or an HTTP body). */
export function textFromInput(input: string | Uint8Array): string {
  if (typeof input === 'string') return input;
  try {
    return utf8.decode(input);
  } catch {
    throw new InvalidUtf8Error('text is not valid UTF-8 (decode the bytes with the right charset first)');
  }
}

/**
 * Wraps a Hugging Face `tokenizer.json` through @huggingface/tokenizers.
 *
 * The file's own `truncation` / `padding` sections are deliberately ignored (that library does not apply them, and
 * we do not want it to: the static model's tokenizer.json still carries MiniLM's max_length 128, but the model takes
 * 512). Truncation is ours: cut the content at the model's max length but keep the template's closing special token
 * ([SEP] for BERT, <|endoftext|> for CLIP) like the Python tokenizers and sentence-transformers do. (transformers.js
 * simply cuts the tail, dropping [SEP]; see docs/embedding.md.) Padding is per batch, in the runner.
 */
export class TextTokenizer {
  readonly padId: number;
  /** Special tokens the post-processor adds before / after the content (e.g. [CLS] / [SEP]). */
  private readonly prefixLen: number;
  private readonly suffixLen: number;
  private readonly returnTypeIds: boolean;

  private constructor(
    private readonly tok: Tokenizer,
    readonly options: TokenizerOptions,
    tokenizerConfig: Record<string, unknown>,
    tokenizerJson: Record<string, unknown>,
  ) {
    this.padId = resolvePadId(tok, tokenizerConfig, tokenizerJson);
    const probe = 'a';
    const full = tok.encode(probe).ids;
    const plain = tok.encode(probe, { add_special_tokens: false }).ids;
    const at = indexOfSeq(full, plain);
    this.prefixLen = at < 0 ? 0 : at;
    this.suffixLen = at < 0 ? 0 : full.length - plain.length - at;
    this.returnTypeIds = tok.encode(probe, { return_token_type_ids: true }).token_type_ids !== undefined;
    if (options.maxTokens < this.prefixLen + this.suffixLen + 1) {
      throw new UnsupportedModelError(`max tokens ${options.maxTokens} leaves no room for text`);
    }
  }

  static async load(dir: string, options: TokenizerOptions): Promise<TextTokenizer> {
    let json: Record<string, unknown>;
    let cfg: Record<string, unknown> = {};
    try {
      json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new UnsupportedModelError(`cannot read tokenizer.json in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    try {
      cfg = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      // tokenizer_config.json is optional; special tokens then come from tokenizer.json alone
    }
    return new TextTokenizer(new Tokenizer(json, cfg), options, cfg, json);
  }

  /** Tokenise one text: validates, truncates at maxTokens (keeping closing specials) and reports truncation. */
  encode(input: string | Uint8Array): TokenizedText {
    const text = textFromInput(input);
    const bytes = typeof input === 'string' ? Buffer.byteLength(text, 'utf8') : input.byteLength;
    if (bytes > this.options.maxTextBytes) {
      throw new InputTooLargeError(
        `text is ${bytes} bytes, above the limit of ${this.options.maxTextBytes} (embed.maxTextBytes); split it into chunks first`,
      );
    }
    if (text.trim().length === 0) throw new EmptyInputError();
    const max = this.options.maxTokens;
    // Tokenising a 200 KB text costs far more than the model run on its first 512 tokens. A WordPiece/BPE token spans
    // at most ~100 characters, so a prefix of 100 chars per token gives the same first `max` tokens whenever it
    // already yields comfortably more than `max` tokens (the margin covers the word cut at the prefix end).
    const window = (max + 8) * 100;
    if (text.length > window * 2) {
      const head = this.encodeFull(text.slice(0, window));
      if (head.ids.length >= max + 128) return this.truncate(head);
    }
    return this.truncate(this.encodeFull(text));
  }

  /** Number of tokens a text would have before truncation (for diagnostics). */
  countTokens(text: string): number {
    return this.encodeFull(text).ids.length;
  }

  /**
   * Recent encodings, by text. Ingestion counts a chunk's tokens to cut it and then embeds the same string;
   * tokenising is the costliest step of the static model's path, so the second pass is a lookup.
   */
  private readonly recent = new Map<string, { ids: number[]; typeIds: number[] | null }>();

  private encodeFull(text: string): { ids: number[]; typeIds: number[] | null } {
    const hit = this.recent.get(text);
    if (hit) return hit;
    const e = this.tok.encode(text, { return_token_type_ids: this.returnTypeIds });
    const out = { ids: e.ids, typeIds: this.returnTypeIds ? (e.token_type_ids ?? e.ids.map(() => 0)) : null };
    if (text.length <= 16_384) {
      if (this.recent.size >= 256) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(text, out);
    }
    return out;
  }

  private truncate(e: { ids: number[]; typeIds: number[] | null }): TokenizedText {
    const max = this.options.maxTokens;
    if (e.ids.length <= max) return { ...e, truncated: false };
    const keepHead = max - this.suffixLen;
    const cut = <T>(a: T[]): T[] => a.slice(0, keepHead).concat(a.slice(a.length - this.suffixLen));
    return { ids: cut(e.ids), typeIds: e.typeIds ? cut(e.typeIds) : null, truncated: true };
  }
}

function indexOfSeq(hay: number[], needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function resolvePadId(tok: Tokenizer, cfg: Record<string, unknown>, json: Record<string, unknown>): number {
  const padCfg = cfg.pad_token;
  const padName = typeof padCfg === 'string' ? padCfg : (padCfg as { content?: string } | undefined)?.content;
  if (padName) {
    const id = tok.token_to_id(padName);
    if (id !== undefined) return id;
  }
  const padding = json.padding as { pad_id?: number } | null | undefined;
  if (padding && typeof padding.pad_id === 'number') return padding.pad_id;
  return 0;
}
