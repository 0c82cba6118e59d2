// MathJax 3, served by the site itself (assets/mathjax/), configured for pymdownx.arithmatex.
// Only elements with one of the listed classes are typeset: arithmatex's output (\( \) and
// \[ \]) and notebook cells (which keep $ and $$), so a stray "$" in prose is never math.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".+",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown|jp-RenderedLatex",
  },
  // Every page, the first one included, is typeset by the handler below. Letting MathJax
  // also typeset the first page on its own races with that handler: its clearCache() then
  // drops the glyph styles of math that is already on the page, and the formulas go blank.
  startup: { typeset: false },
};

// Material emits document$ for the first page and after each instant navigation.
// Typesetting is chained on MathJax's startup promise, so runs never overlap.
document$.subscribe(() => {
  MathJax.startup.promise = MathJax.startup.promise.then(() => {
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    return MathJax.typesetPromise();
  });
});
