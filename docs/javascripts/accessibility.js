// Material and nbconvert build a few elements without what assistive technology needs;
// this names them, and makes every region that scrolls sideways reachable by keyboard
// (WCAG 2.1.1). It runs on the first page and again after each instant navigation.
function makeAccessible() {
  document.querySelectorAll(".md-progress:not([aria-label])").forEach((bar) => {
    bar.setAttribute("aria-label", "页面加载进度");
  });
  document.querySelectorAll(".md-search[role=dialog]:not([aria-label])").forEach((dialog) => {
    dialog.setAttribute("aria-label", "搜索");
  });
  const scrollers = ".md-typeset__scrollwrap, .highlight-ipynb, .jp-OutputArea-output pre, .jp-RenderedText pre";
  document.querySelectorAll(scrollers).forEach((region) => reachable(region, "可左右滚动的内容"));
  measureFormulas(document);
}

// A formula wider than the column scrolls: only then is it a stop for the keyboard (on a phone,
// an inline formula is an inline block that may scroll too). The build already made one wider
// than a small phone a stop (data-may-scroll): where it fits, it lets go. A formula in a block
// the browser skips while it is off screen (extra.css: content-visibility) has no width yet: it
// is measured when its block is drawn. All are measured before any is changed: a change between
// two measurements makes the browser lay out again.
const FORMULAS = ".arithmatex:not([tabindex]), .arithmatex[data-may-scroll]";
function measureFormulas(root) {
  const formulas = [...root.querySelectorAll(FORMULAS)];
  if (root.matches && root.matches(FORMULAS)) formulas.push(root);
  const measured = formulas.filter(drawn).map((formula) => [formula, formula.scrollWidth > formula.clientWidth]);
  for (const [formula, scrolls] of measured) {
    if (scrolls) reachable(formula, "公式（可左右滚动）");
    else if (formula.hasAttribute("data-may-scroll")) ["tabindex", "role", "aria-label"].forEach((name) => formula.removeAttribute(name));
  }
}

function drawn(formula) {
  const content = formula.firstElementChild || formula;
  return !content.checkVisibility || content.checkVisibility({ contentVisibilityAuto: true });
}

document.addEventListener(
  "contentvisibilityautostatechange",
  (event) => event.skipped || measureFormulas(event.target),
  true, // the event does not bubble: caught on its way down
);

function reachable(region, label) {
  if (!region.hasAttribute("tabindex")) {
    region.tabIndex = 0;
    region.setAttribute("role", "region");
    region.setAttribute("aria-label", label);
  }
}
// The theme adds elements in many small steps while a page loads: the check runs once per frame,
// not once per change.
let scheduled = false;
function soon() {
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      makeAccessible();
    });
  }
}
new MutationObserver(soon).observe(document.documentElement, { childList: true, subtree: true });
document$.subscribe(soon);
