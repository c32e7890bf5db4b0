// Applies the reader's saved light/dark choice before the page paints (loaded in <head>, not deferred).
(() => {
  try {
    const theme = localStorage.getItem('dockhand-theme');
    if (theme === 'dark' || theme === 'light') document.documentElement.dataset.theme = theme;
  } catch {
    // Storage may be blocked; the system preference applies.
  }
})();
