"""Find the capture's messages that a timeline step or a log line speaks of."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lab.report.packets import Message

Pred = Callable[[Message], bool]


@dataclass
class Section:
    """One step of the story: a title, a few paragraphs, the frames it cites."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    heading: bool = False  # a step's title over the sections that follow: cites no frames


class Matcher:
    """Hands out each message once, in capture order, so repeated questions pair up."""

    def __init__(self, messages: Sequence[Message], client: str) -> None:
        self.messages = list(messages)
        self.client = client
        self.used: set[int] = set()

    def take(self, pred: Pred, after: int = 0) -> Message | None:
        """The first unused message after frame AFTER that matches; marks it used."""
        for i, msg in enumerate(self.messages):
            if i not in self.used and msg.frame > after and pred(msg):
                self.used.add(i)
                return msg
        return None

    def between(self, pred: Pred, first: int, last: int) -> list[Message]:
        """Every message strictly between two frames that matches (used or not)."""
        return [x for x in self.messages if first < x.frame < last and pred(x)]


def frames_text(frames: Sequence[int]) -> str:
    """'frame 5', 'frames 5–6' for a contiguous run, else 'frames 2, 3, 6'."""
    fs = sorted(set(frames))
    if not fs:
        return "not in the capture"
    if len(fs) == 1:
        return f"frame {fs[0]}"
    if fs[-1] - fs[0] == len(fs) - 1:
        return f"frames {fs[0]}–{fs[-1]}"
    return "frames " + ", ".join(str(x) for x in fs)
