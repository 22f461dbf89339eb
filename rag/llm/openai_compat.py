"""Any OpenAI-compatible chat server as the answer backend."""
from __future__ import annotations

import json
from typing import Iterator

from ..config import Config
from .base import SEED, LLMGenerator, LLMUnavailable, error_text


class OpenAICompatibleGenerator(LLMGenerator):
    """Any server with an OpenAI-style POST {base_url}/chat/completions and SSE streaming:
    llama_cpp.server, Ollama, vLLM, LM Studio, DeepSeek, OpenAI.

    `timeout` bounds the connection and each wait for the next streamed bytes, so a dead
    or stuck server ends in the extractive fallback rather than a hang.
    """

    name = "openai"

    def __init__(
        self,
        config: Config | None = None,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ):
        super().__init__(config)
        self.base_url = (base_url or self.config.llm_base_url).rstrip("/")
        self.model = model if model is not None else self.config.llm_model
        self.api_key = api_key if api_key is not None else self.config.llm_api_key
        self.timeout = float(timeout if timeout is not None else self.config.llm_timeout)

    def describe(self) -> str:
        return f"The LLM server at {self.base_url}"

    def _stream_chat(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        payload = {
            "model": self.model or "default",
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": 0,
            "seed": SEED,
        }
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        chunks = 0
        try:
            with httpx.Client(timeout=timeout) as client, client.stream("POST", url, json=payload, headers=headers) as resp:
                if resp.status_code >= 400:
                    body = resp.read().decode("utf-8", "replace")
                    raise LLMUnavailable(f"HTTP {resp.status_code} from {url}: {error_text(body)}")
                if resp.headers.get("content-type", "").startswith("application/json"):
                    deltas = self._whole_body(resp)  # a server that ignores stream=True answers with one JSON body
                else:
                    deltas = self._events(resp)
                for delta in deltas:
                    chunks += 1
                    yield delta
        except httpx.TimeoutException:
            raise LLMUnavailable(f"no reply from {self.base_url} within {self.timeout:.0f} s") from None
        except httpx.ConnectError as exc:
            raise LLMUnavailable(f"cannot connect to {self.base_url} ({_reason(exc)})") from None
        except httpx.HTTPError as exc:
            raise LLMUnavailable(f"{type(exc).__name__} talking to {self.base_url} ({_reason(exc)})") from None
        except (ValueError, AttributeError) as exc:  # a body that is not the JSON we expect
            raise LLMUnavailable(f"unreadable reply from {self.base_url} ({exc})") from None
        if "completion_tokens" not in self.last_usage and chunks:
            self.last_usage["completion_tokens"] = chunks  # servers send about one token per event

    def _whole_body(self, resp) -> Iterator[str]:
        body = json.loads(resp.read() or b"{}")
        self.last_usage = {k: v for k, v in (body.get("usage") or {}).items() if isinstance(v, int)}
        for choice in body.get("choices") or []:
            content = (choice.get("message") or {}).get("content") or choice.get("text")
            if content:
                yield content

    def _events(self, resp) -> Iterator[str]:
        """The text deltas of an SSE stream (`data: {...}` lines up to `data: [DONE]`)."""
        for line in resp.iter_lines():
            line = line.strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                event = json.loads(data)
            except json.JSONDecodeError:
                continue
            if event.get("error"):
                raise LLMUnavailable(f"the server reported: {error_text(json.dumps(event['error']))}")
            if event.get("usage"):
                self.last_usage = {k: v for k, v in event["usage"].items() if isinstance(v, int)}
            for choice in event.get("choices") or []:
                delta = (choice.get("delta") or {}).get("content") or choice.get("text")
                if delta:
                    yield delta


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("] ")[-1][:200]
