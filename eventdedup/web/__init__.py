"""The HTTP surface: the Quart-Trio app, its websocket and REST routes."""
