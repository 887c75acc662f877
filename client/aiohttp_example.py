"""Trigger a migration with aiohttp and wait for it, printing its progress.

Run it against the local stack (`make run`):

    python client/aiohttp_example.py
"""
import asyncio
import sys

import aiohttp

BASE_URL = "http://127.0.0.1:8000"
FINISHED = ("completed", "failed", "cancelled")


class MigrationApiError(Exception):
    """The API answered with an error: `status` is the HTTP code, `detail` its explanation."""

    def __init__(self, status, detail):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class MigrationClient:
    """An async client for /api/v1/migrations. Use it as `async with MigrationClient() as client:`."""

    def __init__(self, base_url=BASE_URL, timeout=30):
        self.base_url = base_url.rstrip("/") + "/api/v1/migrations"
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.session = None

    async def __aenter__(self):
        self.session = aiohttp.ClientSession(timeout=self.timeout)
        return self

    async def __aexit__(self, *exc_info):
        await self.session.close()

    async def _call(self, method, path, **kwargs):
        async with self.session.request(method, self.base_url + path, **kwargs) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise MigrationApiError(response.status, body.get("detail", body))
            return body

    async def trigger(self, file_path, record_type, output_mode="api", **options):
        """Queue a migration; `options` are the other request fields (batch_size, authentication, ...)."""
        body = {"file_path": file_path, "record_type": record_type, "output_mode": output_mode, **options}
        return await self._call("POST", "/trigger", json=body)

    async def status(self, run_id, include_details=False):
        params = {"include_details": "true" if include_details else "false"}
        return await self._call("GET", f"/status/{run_id}", params=params)

    async def running(self):
        return await self._call("GET", "/running")

    async def cancel(self, run_id):
        return await self._call("POST", f"/cancel/{run_id}")

    async def wait(self, run_id, poll_seconds=1.0, timeout=600, on_progress=None):
        """Poll until the run ends; return its final status (with details)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = await self.status(run_id)
            if on_progress:
                on_progress(status)
            if status["status"] in FINISHED:
                return await self.status(run_id, include_details=True)
            if loop.time() > deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout}s")
            await asyncio.sleep(poll_seconds)


def print_progress(status):
    p = status["progress"]
    print(f"{status['status']:<9} {p['current_step']:<20} {p['processed_records']}/{p['total_records']} "
          f"({p['progress_percentage']}%) success={p['success_count']} errors={p['error_count']}")


async def main(base_url=BASE_URL):
    async with MigrationClient(base_url) as client:
        run = await client.trigger(
            "data/input/sample_disability_data.csv", "disability", "api",
            batch_size=10,
            authentication={"type": "bearer_token", "token": "your-api-token"},
            metadata={"requested_by": "aiohttp example"},
        )
        print(f"run {run['run_id']} queued")
        final = await client.wait(run["run_id"], on_progress=print_progress)
        print(f"run {final['run_id']} {final['status']} in {final['duration']}s: "
              f"{final['progress']['success_count']} delivered, {final['progress']['error_count']} rejected")
        return 0 if final["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
