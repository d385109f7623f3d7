"""The load: wrk runs with a Lua script, and an asyncio client holding many streams open at once.

`measure_cell` runs wrk (closed loop, on the load core) against a target for one delay and number of
connections, with a Lua script that posts a chat completion (a new question on every request for
`ours-rag`) and prints its results as JSON, and returns the cell's latencies, errors and CPU.
`capacity` opens many concurrent streamed requests over raw HTTP/1.1 connections (on uvloop when it
is installed) and returns errors, time to first content chunk and its overhead over the upstream's
delay, and CPU.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatewaybench.common import CAPACITY_DELAY_MS, QUESTION, percentile
from gatewaybench.measure import Meter, rss_mb
from gatewaybench.processes import Cores, taskset
from gatewaybench.targets import Target

# --- wrk ----------------------------------------------------------------------------------------------

LUA = r"""
-- Written by bench/gateway.py: POST a chat completion; with vary, a new question on every request.
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer __KEY__"
local prefix = [==[__PREFIX__]==]
local suffix = [==[__SUFFIX__]==]
local vary = __VARY__
local offset = __OFFSET__
local subjects = {"refund", "invoice", "password reset", "API key", "upload limit", "PDF upload",
  "DOCX file", "rate limit", "error 413", "error 429", "timeout", "citation", "category", "persona",
  "search results", "ingestion", "account", "export", "billing", "session", "Markdown file", "login"}
local asks = {"How do I solve a %s problem together with a %s? (ticket %d)",
  "Why does the %s fail after a %s? Case %d", "What is the policy for %s and %s, request %d?",
  "Can you explain the %s when a %s happens? Question %d"}
local threads = {}
local counter = 0
local fixed = nil

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  abstained = 0
  statuses = {}
  fixed = wrk.format(nil, nil, nil, prefix .. "__QUESTION__" .. suffix)
end

function request()
  if not vary then
    return fixed
  end
  counter = counter + 1
  local n = offset + counter * 16 + thread_id
  local question = string.format(asks[n % #asks + 1], subjects[n % #subjects + 1],
    subjects[math.floor(n / 7) % #subjects + 1], n)
  return wrk.format(nil, nil, nil, prefix .. question .. suffix)
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    statuses[status] = (statuses[status] or 0) + 1
  elseif body and string.find(body, '"abstained":true', 1, true) then
    abstained = abstained + 1
  end
end

function done(summary, latency, requests)
  local bad, abst, codes = 0, 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
    abst = abst + thread:get("abstained")
    for status, count in pairs(thread:get("statuses")) do
      codes = codes .. string.format('%s"%d":%d', codes == "" and "" or ",", status, count)
    end
  end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"non200":%d,"abstained":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    bad, abst, codes))
end
"""


def lua_script(path: Path, target: Target, delay: int, vary: bool, offset: int) -> None:
    marker = "@@QUESTION@@"
    body = json.dumps(
        {
            "model": target.model_of(delay),
            "messages": [{"role": "user", "content": marker}],
            "max_tokens": 32,
            "stream": False,
        }
    )
    prefix, suffix = body.split(marker)
    script = LUA
    for name, value in {
        "__KEY__": target.key,
        "__PREFIX__": prefix,
        "__SUFFIX__": suffix,
        "__VARY__": "true" if vary else "false",
        "__OFFSET__": str(offset),
        "__QUESTION__": QUESTION,
    }.items():
        script = script.replace(name, value)
    path.write_text(script)


def run_wrk(
    workdir: Path,
    target: Target,
    delay: int,
    connections: int,
    duration: int,
    cores: list[int],
    offset: int,
) -> dict[str, Any]:
    script = workdir / f"wrk-{target.name}-{delay}-{connections}-{offset}.lua"
    lua_script(script, target, delay, target.vary, offset)
    threads = max(1, min(connections, len(cores)))
    command = [
        *taskset(cores),
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
    ]
    command += ["-s", str(script), f"http://127.0.0.1:{target.port}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return dict(json.loads(line.removeprefix("WRKJSON ")))
    output = (done.stderr.strip() or done.stdout.strip())[-500:]
    raise RuntimeError(f"wrk printed no result (exit {done.returncode}): {output}")


def measure_cell(
    workdir: Path,
    target: Target,
    delay: int,
    connections: int,
    duration: int,
    cores: Cores,
    upstream_pid: int,
    offset: int,
) -> dict[str, Any]:
    meter = Meter(target.roots(), target.db_roots() if target.db_roots else [], upstream_pid)
    meter.start()
    result = run_wrk(workdir, target, delay, connections, duration, cores.load, offset)
    seconds = result["duration_us"] / 1e6
    errors = sum(result[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "target": target.name,
        "delay_ms": delay,
        "connections": connections,
        "requests": result["requests"],
        "rps": round(result["requests"] / seconds, 1),
        "p50_ms": round(result["p50_us"] / 1000, 2),
        "p90_ms": round(result["p90_us"] / 1000, 2),
        "p99_ms": round(result["p99_us"] / 1000, 2),
        "max_ms": round(result["max_us"] / 1000, 2),
        "errors": errors + result["non200"],
        "non200": result["non200"],
        "non200_statuses": result["statuses"],
        "abstained": result["abstained"],
        **meter.stop(result["requests"]),
    }


# --- the capacity run: many concurrent streams ------------------------------------------------------


@dataclass
class StreamResult:
    error: str | None = None
    ttfb: float | None = None
    ttft: float | None = None
    total: float | None = None


async def one_stream(port: int, key: str, body: bytes, timeout: float) -> StreamResult:
    """A streamed chat completion over a raw HTTP/1.1 connection, timing the first content chunk."""
    started = time.perf_counter()
    result = StreamResult()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
            head = (
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            status_line = await reader.readline()
            status = int(status_line.split()[1]) if status_line else 0
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if status != 200:
                return StreamResult(error=f"HTTP {status}")
            done = False
            buffer = b""
            async for data in _body(reader, headers):
                if result.ttfb is None:
                    result.ttfb = time.perf_counter() - started
                buffer = (buffer + data).replace(b"\r\n", b"\n")
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    for line in event.split(b"\n"):
                        if not line.startswith(b"data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == b"[DONE]":
                            done = True
                            continue
                        chunk = json.loads(payload)
                        if "error" in chunk:
                            return StreamResult(error=f"error event: {str(chunk['error'])[:80]}")
                        for choice in chunk.get("choices") or []:
                            if (choice.get("delta") or {}).get("content") and result.ttft is None:
                                result.ttft = time.perf_counter() - started
            if result.ttft is None:
                result.error = "no content chunk"
            elif not done:
                result.error = "stream ended before [DONE]"
    except TimeoutError:
        result.error = "timeout"
    except (OSError, ValueError, IndexError) as error:
        result.error = f"{type(error).__name__}: {str(error)[:60]}"
    finally:
        if writer is not None:
            writer.close()
    result.total = time.perf_counter() - started
    return result


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> Any:
    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            yield await reader.readexactly(size)
            await reader.readexactly(2)
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while data := await reader.read(65536):
            yield data


async def stream_many(port: int, key: str, model: str, streams: int, timeout: float) -> list[StreamResult]:
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": QUESTION}],
            "max_tokens": 32,
            "stream": True,
        }
    ).encode()
    return await asyncio.gather(*(one_stream(port, key, body, timeout) for _ in range(streams)))


def run_streams(port: int, key: str, model: str, streams: int, timeout: float) -> list[StreamResult]:
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(stream_many(port, key, model, streams, timeout))


def capacity(target: Target, streams: int, upstream_pid: int, model: str) -> dict[str, Any]:
    meter = Meter(target.roots(), target.db_roots() if target.db_roots else [], upstream_pid)
    meter.start()
    started = time.perf_counter()
    results = run_streams(target.port, target.key, model, streams, timeout=120)
    wall = time.perf_counter() - started
    ok = [result for result in results if result.error is None]
    ttft = [result.ttft * 1000 for result in ok if result.ttft is not None]
    ttfb = [result.ttfb * 1000 for result in ok if result.ttfb is not None]
    totals = [result.total * 1000 for result in ok if result.total is not None]
    delay = CAPACITY_DELAY_MS
    return {
        "target": target.name,
        "model": model,
        "streams": streams,
        "errors": len(results) - len(ok),
        "error_kinds": dict(Counter(result.error for result in results if result.error).most_common(5)),
        "ttft_p50_ms": round(percentile(ttft, 0.5), 1) if ttft else None,
        "ttft_p99_ms": round(percentile(ttft, 0.99), 1) if ttft else None,
        "ttft_overhead_p50_ms": round(percentile(ttft, 0.5) - delay, 1) if ttft else None,
        "ttft_overhead_p99_ms": round(percentile(ttft, 0.99) - delay, 1) if ttft else None,
        "ttft_overhead_max_ms": round(max(ttft) - delay, 1) if ttft else None,
        # The first body bytes: ours sends its role chunk (with citations) before calling the model.
        "first_byte_p50_ms": round(percentile(ttfb, 0.5), 1) if ttfb else None,
        "first_byte_p99_ms": round(percentile(ttfb, 0.99), 1) if ttfb else None,
        "total_p99_ms": round(percentile(totals, 0.99), 1) if totals else None,
        "wall_s": round(wall, 2),
        "rss_mb_after": rss_mb(target.roots()) if target.roots() else None,
        **meter.stop(streams),
    }
