"""A pyzeebe job worker, run as its own process by the pyzeebe tests (pyzeebe runs on grpc.aio).

    python pyzeebe_worker.py ADDRESS TASK_TYPE [--stream]

Completes every job of TASK_TYPE with ``{"worked": <its variable n>}``; with ``--stream`` the
worker also opens StreamActivatedJobs (job push). Prints "ready" once started; runs until
terminated.
"""

from __future__ import annotations

import asyncio
import sys

from pyzeebe import ZeebeWorker, create_insecure_channel


async def main(address: str, task_type: str, stream: bool) -> None:
    channel = create_insecure_channel(grpc_address=address)
    worker = ZeebeWorker(channel, name="pyzeebe-test", poll_retry_delay=1, stream_enabled=stream)

    @worker.task(task_type=task_type, timeout_ms=5000)
    async def work(n: int) -> dict[str, object]:
        return {"worked": n}

    print("ready", flush=True)
    await worker.work()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], "--stream" in sys.argv[3:]))
