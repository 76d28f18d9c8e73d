"""The HTTP surface: the Quart-Trio app (health, websocket feed) and the feed hub."""
