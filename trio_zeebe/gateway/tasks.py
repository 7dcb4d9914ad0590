"""The nursery a long-lived gateway part keeps for work a call starts but must not wait for
(a hand-back FailJob, a push to a job stream, a forwarding exchange)."""

from __future__ import annotations

import trio

__all__ = ["CallTasks"]


class CallTasks:
    """Owns one nursery while :meth:`run` runs (:attr:`nursery` is None until then); the tasks
    started in it end when ``run`` is cancelled."""

    def __init__(self) -> None:
        self.nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            task_status.started()
            await trio.sleep_forever()
