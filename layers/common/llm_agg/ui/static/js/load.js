// Scripts and styles the page needs only sometimes (highlight.js, the chart library), loaded
// once, from this origin (the CSP allows nothing else).

const loading = new Map();

export function loadScript(src) {
  if (!loading.has(src)) {
    loading.set(
      src,
      new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src;
        script.onload = resolve;
        script.onerror = () => reject(new Error(`${src} did not load`));
        document.head.append(script);
      }),
    );
  }
  return loading.get(src);
}

export function loadStyle(href) {
  if (!loading.has(href)) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.append(link);
    loading.set(href, Promise.resolve());
  }
  return loading.get(href);
}
