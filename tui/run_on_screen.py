"""What the dashboard shows and may do: one frozen object, replaced whole at every change.

The app holds it in one reactive (``RnnTuiApp.state``, declared with ``bindings=True``), so the
footer's keys follow every change without a call to refresh them; ``allows`` is the table of which
run key acts in which state, kept free of Textual so it reads (and tests) on its own.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnn_tui.tui.run_link import RunLink


@dataclass(frozen=True)
class RunOnScreen:
    """The run the dashboard follows (if any), where it stands, and what was asked of it."""
    link: RunLink | None = None          # the run followed
    run_dir: str | None = None           # the run on screen: ctrl+r offers to train it on
    attach_path: str | None = None       # opened by attach or the runs screen, not started here
    resume_path: str | None = None       # a --resume given: the first ctrl+r trains it on
    epochs: int = 0                      # the epochs it trains to
    launching: bool = False              # a run's process is starting
    live: bool = False                   # its process is still training (or closing)
    paused: bool = False
    finished: bool = False               # it has reported its end (its process may still be closing files)
    checkpoint_epoch: int | None = None  # the epoch its last checkpoint holds
    save_requested: bool = False         # ctrl+s: the next checkpoint is logged
    quitting: bool = False               # quit once the run has ended
    detached: bool = False               # quit, leaving the run training

    def but(self, **changes) -> RunOnScreen:
        """This state with ``changes``: what the app assigns to its reactive."""
        return replace(self, **changes)

    @property
    def training(self) -> bool:
        """A run that has reported ``finished`` is only closing its files: it is not training."""
        return self.link is not None and self.live and not self.finished

    def following(self, link: RunLink) -> RunOnScreen:
        """The state once ``link``'s run is followed: live until its folder says otherwise."""
        return self.but(link=link, live=True, finished=False, paused=False, run_dir=str(link.path),
                        checkpoint_epoch=None)

    def allows(self, action: str) -> bool:
        """Whether one of the run's keys (``RnnTuiApp.RUN_ACTIONS``) acts now."""
        training = self.training
        return {"start": not training and not self.launching, "pause": training and not self.paused,
                "resume": training and self.paused, "stop": training, "save": training, "detach": training,
                "sample": training or bool(self.run_dir) and not self.launching}[action]
