"""A scripted OpenAI-compatible chat server for the tests, served on 127.0.0.1.

`ScriptedModel.reply` turns the prompt into the reply text, so a test can write sentences that
cite the passage numbers the prompt actually gave each document. Replies are sent whole or as
server-sent events, a few characters per event; `break_after` cuts the stream off mid-answer
and `delay` holds the first byte back.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

Reply = Callable[[str, Callable[[str], int]], str]


def passage_number(prompt: str, source_part: str) -> int:
    """The [n] the prompt gave the passage from the file whose name contains `source_part`."""
    for m in re.finditer(r"^\[(\d+)\] \((.*)\)$", prompt, re.M):
        if source_part in m.group(2):
            return int(m.group(1))
    raise AssertionError(f"no passage from {source_part!r} in the prompt:\n{prompt}")


@dataclass
class ScriptedModel:
    reply: Reply = lambda prompt, n: "Inget svar."
    piece: int = 7  # characters per streamed event
    break_after: int | None = None  # events sent before the connection is dropped
    delay: float = 0.0  # seconds before anything is sent
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
            text = self.reply(prompt, lambda part: passage_number(prompt, part))
            if self.delay:
                await asyncio.sleep(self.delay)  # the client's timeout must fire first
            if not body.get("stream"):
                return JSONResponse(_completion(body["model"], text))
            return StreamingResponse(self._events(body["model"], text),
                                     media_type="text/event-stream")

        @app.post("/api/chat")  # Ollama's protocol: one JSON object per line
        async def ollama_chat(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
            text = self.reply(prompt, lambda part: passage_number(prompt, part))
            if not body.get("stream", True):
                return JSONResponse(_ollama(body["model"], text, done=True))
            lines = [json.dumps(_ollama(body["model"], text[i:i + self.piece], done=False)) + "\n"
                     for i in range(0, len(text), self.piece)]
            lines.append(json.dumps(_ollama(body["model"], "", done=True)) + "\n")
            return StreamingResponse(iter(lines), media_type="application/x-ndjson")

        return app

    def _events(self, model: str, text: str) -> Iterator[str]:
        pieces = [text[i:i + self.piece] for i in range(0, len(text), self.piece)]
        for sent, piece in enumerate(pieces):
            if self.break_after is not None and sent >= self.break_after:
                raise ConnectionResetError("the scripted server goes away mid-answer")
            yield f"data: {json.dumps(_chunk(model, {'content': piece}, None))}\n\n"
        yield f"data: {json.dumps(_chunk(model, {}, 'stop'))}\n\n"
        yield "data: [DONE]\n\n"


def _chunk(model: str, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {"id": "scripted", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "scripted", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _ollama(model: str, content: str, *, done: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "created_at": "2026-01-01T00:00:00Z", "done": done,
                           "message": {"role": "assistant", "content": content}}
    if done:
        out |= {"done_reason": "stop", "prompt_eval_count": 1, "eval_count": 1}
    return out
