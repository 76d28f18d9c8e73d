"""``eventdedup tui``: the Textual admin console over the daemon's websocket.

Layout (posting/harlequin style, one concern per module):

* :mod:`tui.backend` – what the app needs from a daemon connection, and the
  real one (a :class:`eventdedup.client.DaemonClient` in its own trio thread);
* :mod:`tui.fake` – a canned backend for snapshots, screenshots and demos;
* :mod:`tui.state` – the console's model of the daemon, built from the feed;
* :mod:`tui.app` – the :class:`~tui.app.ConsoleApp`; ``screens/`` holds the
  tab views and modal screens, ``widgets/`` one widget per module.
"""
