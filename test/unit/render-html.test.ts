import { describe, expect, it } from 'vitest';
import { type HtmlValue, html, joinHtml, SafeHtml } from '../../functions/render/html.js';

describe('html (escaped by construction)', () => {
  it('escapes every interpolated text, in content and in quoted attributes', () => {
    const name = `<script>alert('x')</script> & "co"`;
    expect(html`<p title="${name}">${name}</p>`.toString()).toBe(
      '<p title="&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;">' +
        '&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;</p>',
    );
  });

  it('writes markup made by html as it is, so nesting escapes once', () => {
    const inner = html`<b>${'a<b'}</b>`;
    expect(html`<p>${inner}</p>`.toString()).toBe('<p><b>a&lt;b</b></p>');
  });

  it('writes arrays one after another, and nothing for false, null and undefined', () => {
    const items: HtmlValue[] = ['1 < 2', html`<br>`, false, null, undefined, 3, 4n];
    expect(html`<div>${items}</div>`.toString()).toBe('<div>1 &lt; 2<br>34</div>');
    expect(joinHtml([html`<i>a</i>`, '<b>'], '\n').toString()).toBe('<i>a</i>\n&lt;b&gt;');
  });

  it('cannot be made from a string outside the html tag', () => {
    const Forge = SafeHtml as unknown as new (token: symbol, markup: string) => SafeHtml;
    expect(() => new Forge(Symbol('SafeHtml'), '<script>')).toThrow(TypeError);
    // A string that looks like markup is still text.
    expect(html`${'<i>x</i>'}`.toString()).toBe('&lt;i&gt;x&lt;/i&gt;');
  });
});
