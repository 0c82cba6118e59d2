// Typesets TeX into MathJax's CommonHTML output at build time, so pages ship no MathJax.
// Started by bookbuild/mathjax.py with the project's node_modules; one JSON request per line
// on stdin, one JSON answer per line on stdout:
//   {"tex": "...", "display": true}  ->  {"html": "<mjx-container ...>", "width": 3.67}  or  {"error": "..."}
//                                        (width: the formula's, in em)
//   {"stylesheet": true}             ->  {"css": "..."}  (the rules for every glyph typeset so far)
// The output keeps MathJax's assistive MathML, so screen readers read the formulas.
"use strict";
const path = require("path");
const readline = require("readline");

const mathjax = require(path.join(process.argv[2], "mathjax"));

mathjax
  .init({
    loader: { load: ["input/tex-full", "output/chtml", "adaptors/liteDOM", "a11y/assistive-mml"] },
    // an undefined macro is an error, not red text on the page
    tex: { packages: { "[-]": ["noundefined", "require", "autoload"] }, formatError: (jax, error) => { throw error; } },
    // the CSS is written beside the fonts: assets/mathjax/mathjax.css
    chtml: { fontURL: "output/chtml/fonts/woff-v2", adaptiveCSS: true },
    startup: { typeset: false },
  })
  .then((MathJax) => {
    const adaptor = MathJax.startup.adaptor;
    const lines = readline.createInterface({ input: process.stdin });
    lines.on("line", (line) => {
      const request = JSON.parse(line);
      let answer;
      if (request.stylesheet) {
        answer = { css: adaptor.textContent(MathJax.chtmlStylesheet()) };
      } else {
        try {
          const html = adaptor.outerHTML(MathJax.tex2chtml(request.tex, { display: request.display }));
          const output = MathJax.startup.document.outputJax; // its math: the formula just typeset
          answer = { html, width: output.getBBox(output.math, MathJax.startup.document).w };
        } catch (error) {
          answer = { error: String(error.message || error) };
        }
      }
      process.stdout.write(JSON.stringify(answer) + "\n");
    });
  })
  .catch((error) => {
    process.stderr.write(`MathJax failed to start: ${error.message || error}\n`);
    process.exit(1);
  });
