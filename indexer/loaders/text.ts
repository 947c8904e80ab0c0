import * as cheerio from 'cheerio';
import { convert } from 'html-to-text';
import { marked } from 'marked';
import { LoaderError, type LoadedDocument } from './types.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new LoaderError(`${what} is not valid UTF-8 text`);
  }
}

export function loadPlainText(bytes: Uint8Array, name: string): LoadedDocument[] {
  const text = decodeUtf8(bytes, name);
  const firstLine = text.split('\n').find((l) => l.trim().length > 0)?.trim();
  return [{ key: '', kind: 'text', title: firstLine?.slice(0, 200), sections: [{ text }], metadata: {} }];
}

/** HTML: the <title> (or first <h1>), and the readable text of <main>/<article>/<body> without scripts, styles and navigation. */
export function loadHtml(bytes: Uint8Array, name: string): LoadedDocument[] {
  const html = decodeUtf8(bytes, name);
  const $ = cheerio.load(html);
  const title = ($('title').first().text() || $('h1').first().text()).trim() || undefined;
  $('script, style, noscript, template, nav, header, footer, aside, form, svg').remove();
  const root = $('main').first().html() ?? $('article').first().html() ?? $('body').html() ?? html;
  const text = convert(root, {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'h1', options: { uppercase: false } },
      { selector: 'h2', options: { uppercase: false } },
      { selector: 'h3', options: { uppercase: false } },
      { selector: 'table', options: { uppercaseHeaderCells: false } },
      // plain text, not text-that-looks-like-markdown (" * item", "> quote")
      { selector: 'ul', options: { itemPrefix: '• ' } },
      { selector: 'blockquote', format: 'block' },
    ],
  });
  return [{ key: '', kind: 'text', title, sections: [{ text }], metadata: {} }];
}

/** Markdown: rendered to HTML by marked, then read like HTML; the title is the first heading. */
export function loadMarkdown(bytes: Uint8Array, name: string): LoadedDocument[] {
  const md = decodeUtf8(bytes, name);
  const heading = marked.lexer(md).find((t) => t.type === 'heading') as { text?: string } | undefined;
  const html = marked.parse(md, { async: false });
  const [doc] = loadHtml(Buffer.from(`<body>${html}</body>`), name);
  // The heading's raw text keeps inline markup (`# The **Real** Title`): render it and keep the text only.
  const title = heading?.text ? cheerio.load(marked.parseInline(heading.text, { async: false })).text().trim() : '';
  return [{ ...doc, title: title || doc.title }];
}
