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
  // a formula wider than the column scrolls: only then is it a stop for the keyboard
  // (on a phone, an inline formula is an inline block that may scroll too)
  document.querySelectorAll(".arithmatex").forEach((formula) => {
    if (formula.scrollWidth > formula.clientWidth) reachable(formula, "公式（可左右滚动）");
  });
}

function reachable(region, label) {
  if (!region.hasAttribute("tabindex")) {
    region.tabIndex = 0;
    region.setAttribute("role", "region");
    region.setAttribute("aria-label", label);
  }
}
new MutationObserver(makeAccessible).observe(document.documentElement, { childList: true, subtree: true });
document$.subscribe(makeAccessible);
