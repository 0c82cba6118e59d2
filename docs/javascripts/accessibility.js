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
  // a formula wider than the column scrolls: only then is it a stop for the keyboard
  // (on a phone, an inline formula is an inline block that may scroll too). All are measured
  // before any is changed: a change between two measurements makes the browser lay out again.
  const wide = [...document.querySelectorAll(".arithmatex:not([tabindex])")].filter(
    (formula) => formula.scrollWidth > formula.clientWidth,
  );
  wide.forEach((formula) => reachable(formula, "公式（可左右滚动）"));
  document.querySelectorAll(scrollers).forEach((region) => reachable(region, "可左右滚动的内容"));
}

function reachable(region, label) {
  if (!region.hasAttribute("tabindex")) {
    region.tabIndex = 0;
    region.setAttribute("role", "region");
    region.setAttribute("aria-label", label);
  }
}
// The theme adds elements in many small steps while a page loads: the check runs once per frame,
// not once per change (each run measures the formulas, which makes the browser lay the page out).
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
