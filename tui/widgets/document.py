"""A read-only, highlighted YAML rendering of a JSON document (config, messages)."""

from __future__ import annotations

from typing import Any

import yaml
from rich.syntax import Syntax
from rich.text import Text
from textual.widgets import Static


def to_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


class DocumentView(Static):
    """YAML rather than JSON: the matching config is written in YAML, and it is
    what the operator would edit."""

    def show(self, data: Any, *, error: str | None = None) -> None:
        if error:
            self.update(Text(error, style="bold red"))
            return
        self.update(
            Syntax(
                to_yaml(data), "yaml", theme="ansi_dark", background_color="default", word_wrap=True
            )
        )
