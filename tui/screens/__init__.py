"""The console's pages (tab views, keys 1–6) and its modal screens."""
