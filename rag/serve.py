"""`rag serve`: OpenAI's chat API over the knowledge bases, for any chat client or program.

    rag serve --port 8080      # base URL http://127.0.0.1:8080/v1, model "rag:<base>"

- `GET /v1/models`: one model per knowledge base, `rag:<name>`.
- `POST /v1/chat/completions`: the last user message answered from that base, earlier
  turns used to make a follow-up standalone (`Assistant.chat`); `stream: true` sends
  OpenAI's SSE chunks. Extra fields: `citations` (source, title, page, quote, start, end,
  score, date, n) and `rag` (the standalone question, abstained, backend, answerability,
  grounded, notice), on the response and on the stream's last chunk.
- `GET|POST /v1/kb/<name>/files`, `DELETE /v1/kb/<name>/files/<path>`: the documents,
  with the web app's upload checks and rollback (rag.uploads); `POST /v1/kb/<name>/retrieve`:
  the ranked passages with their scores (rag.explain).

Errors have OpenAI's shape, `{"error": {"message", "type", "code", "param"}}`. With
RAG_API_KEY set every request needs `Authorization: Bearer <key>`. Answers run on
`serve_workers` threads (RAG_SERVE_WORKERS) with `serve_queue` (RAG_SERVE_QUEUE) more
waiting; beyond that a request gets 503 at once, with Retry-After.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .config import Config
from .errors import ConfigError, ModelError, NotFoundError, RagError, StoreError
from .kb import KnowledgeBases

log = logging.getLogger(__name__)

MODEL_PREFIX = "rag:"
KEEP_ALIVE_S = 10.0  # an SSE comment this often while an LLM writes, so proxies keep the stream open
RETRY_AFTER_S = 2
# A multipart body larger than this many times the per-file limit is refused before it is read.
UPLOAD_BODY_FACTOR = 4


class ApiError(Exception):
    """An error answered in OpenAI's shape with an HTTP status."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(error_body(self.message, self.type, self.code, self.param), self.status, self.headers)


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "code": code, "param": param}}


# ---- requests -----------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ... are accepted and ignored
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    top_k: int | None = Field(default=None, ge=1, le=50)  # extension: passages to consider


class RetrieveRequest(BaseModel):
    query: str
    top_k: int | None = Field(default=None, ge=1, le=50)


def chat_turns(messages: list[ChatMessage]) -> list[dict]:
    """OpenAI messages as the {"role", "content"} turns `Assistant.chat` reads.

    Text parts of a content list are joined; "developer" counts as "system"; tool and
    function turns carry no question and are left out.
    """
    turns = []
    for m in messages:
        role = {"developer": "system"}.get(m.role, m.role)
        if role not in ("user", "assistant", "system"):
            continue
        turns.append({"role": role, "content": _text_of(m.content)})
    if not turns or turns[-1]["role"] != "user":
        raise ApiError(400, "the last message must be the user's question", code="invalid_messages", param="messages")
    from .conversation import clean_question

    try:
        clean_question(turns[-1]["content"])
    except RagError as exc:
        raise ApiError(400, str(exc), code="empty_question", param="messages") from None
    return turns


def _text_of(content) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")


# ---- responses ----------------------------------------------------------------------


def citation_dicts(answer) -> list[dict]:
    """The answer's citations as JSON; none for an abstention."""
    if answer.abstained:
        return []
    return [
        {
            "n": c.n, "source": c.source, "title": c.title, "page": c.page, "page_label": c.page_label, "quote": c.quote,
            "start": c.start, "end": c.end, "score": c.score, "date": c.date,
        }
        for c in answer.citations
    ]


def rag_fields(answer) -> dict:
    return {
        "question": answer.question, "abstained": answer.abstained, "backend": answer.backend,
        "answerability": answer.answerability, "grounded": answer.grounded, "notice": answer.notice,
    }


def completion_body(answer, model: str, completion_id: str, created: int) -> dict:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
        "citations": citation_dicts(answer),
        "rag": rag_fields(answer),
    }


def chunk_body(model: str, completion_id: str, created: int, delta: dict, finish: str | None = None, **extra) -> dict:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def text_pieces(text: str) -> list[str]:
    """The answer in sentence-sized pieces for the stream, joined back exactly."""
    pieces = [p for p in re.split(r"(?<=[。！？!?；;\n])|(?<=[.](?=\s))", text) if p]
    return pieces or [""]


def sse(data: dict | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


# ---- the server ---------------------------------------------------------------------


class Workers:
    """Answers on `workers` threads with at most `queue` more waiting; a request beyond
    that is refused at once (503) instead of waiting for minutes."""

    def __init__(self, workers: int, queue: int):
        self.pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="rag-serve")
        self.limit = max(1, workers) + max(0, queue)
        self.admitted = 0  # changed on the event loop only

    def admit(self) -> None:
        if self.admitted >= self.limit:
            raise ApiError(
                503, f"the server is busy ({self.admitted} requests in progress or waiting); retry in a moment",
                "server_error", "overloaded", headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.admitted += 1

    def submit(self, fn: Callable, *args) -> asyncio.Future:
        """Run fn on a worker; the admission ends when it finishes, whether or not anyone awaits it."""
        self.admit()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, fn, *args)
        future.add_done_callback(lambda _: self._release())
        return future

    def _release(self) -> None:
        self.admitted -= 1


def create_app(config: Config, bases: KnowledgeBases | None = None, *, warm: bool = True) -> FastAPI:
    """The FastAPI app over `config`'s knowledge bases."""
    bases = bases or KnowledgeBases(config)
    workers = Workers(config.serve_workers, config.serve_queue)
    upload_limit = int(config.max_file_mb * 1024 * 1024)

    @asynccontextmanager
    async def lifespan(app):
        if warm:
            threading.Thread(target=_warm_up, args=(bases,), name="rag-serve-warm-up", daemon=True).start()
        yield
        workers.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="rag", summary="OpenAI-compatible answers with citations", lifespan=lifespan)
    app.state.bases, app.state.workers = bases, workers

    @app.middleware("http")
    async def check_key(request: Request, call_next):
        if config.api_key and not _authorized(request.headers.get("authorization", ""), config.api_key):
            return ApiError(401, "missing or wrong API key: send Authorization: Bearer <RAG_API_KEY>",
                            code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}).response()
        return await call_next(request)

    _add_error_handlers(app)

    _add_model_routes(app, bases, workers)
    _add_kb_routes(app, bases, workers, upload_limit)
    return app


def _assistant_for(bases: KnowledgeBases, model: str):
    """(base name, its Assistant) for an OpenAI model id (`rag:NAME`); 404 if there is none."""
    name = model[len(MODEL_PREFIX):] if model.startswith(MODEL_PREFIX) else model
    try:
        if not name:
            raise NotFoundError("no model named")
        return name, bases.get(name)
    except NotFoundError:
        known = ", ".join(MODEL_PREFIX + n for n in bases.names())
        raise ApiError(404, f"the model {model!r} does not exist; use one of: {known}",
                       code="model_not_found", param="model") from None


def _add_model_routes(app: FastAPI, bases: KnowledgeBases, workers: "Workers") -> None:
    """/v1/models and /v1/chat/completions: OpenAI's API, one model per knowledge base."""

    @app.get("/v1/models")
    def list_models():
        return {"object": "list", "data": [_model_entry(b) for b in bases.bases()]}

    @app.get("/v1/models/{model}")
    def get_model(model: str):
        name, _ = _assistant_for(bases, model)
        return next(_model_entry(b) for b in bases.bases() if b.name == name)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest):
        name, assistant = _assistant_for(bases, body.model)
        turns = chat_turns(body.messages)
        model, completion_id, created = MODEL_PREFIX + name, f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not body.stream:
            answer = await _answered(workers.submit(assistant.chat, turns, body.top_k))
            return completion_body(answer, model, completion_id, created)
        answers = _stream_in_thread(workers, assistant.chat_stream, turns, body.top_k)
        return StreamingResponse(
            _sse_chunks(answers, model, completion_id, created),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _add_kb_routes(app: FastAPI, bases: KnowledgeBases, workers: "Workers", upload_limit: int) -> None:
    """/v1/kb/NAME/...: a base's files (list, upload, delete) and the retrieval test."""

    @app.get("/v1/kb/{name}/files")
    async def list_files(name: str):
        assistant = bases.get(name)
        files = await _answered(workers.submit(assistant.documents))
        return {"object": "list", "kb": name, "data": [asdict(f) for f in files]}

    @app.post("/v1/kb/{name}/files")
    async def upload_files(name: str, request: Request):
        assistant = bases.get(name)
        _check_upload_size(request, upload_limit)
        from .uploads import add_files

        async with request.form() as form:
            files = [v for _, v in form.multi_items() if hasattr(v, "filename") and hasattr(v, "read")]
            if not files:
                raise ApiError(400, "no file in the request: send multipart/form-data with a `file` field",
                               code="no_file", param="file")
            with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
                uploads = [(f.filename or "upload", await _spool(f, Path(tmp) / str(i), upload_limit))
                           for i, f in enumerate(files)]
                outcome = await _answered(workers.submit(add_files, assistant, uploads, upload_limit))
        return _upload_response(name, outcome)

    @app.delete("/v1/kb/{name}/files/{source:path}")
    async def delete_file(name: str, source: str):
        from .uploads import delete_file as delete

        assistant = bases.get(name)
        report = await _answered(workers.submit(delete, assistant, source))
        return {"object": "file.deleted", "kb": name, "deleted": source, "summary": report.summary()}

    @app.post("/v1/kb/{name}/retrieve")
    async def retrieve(name: str, body: RetrieveRequest):
        from .explain import explain_retrieval

        assistant = bases.get(name)
        ranked = await _answered(workers.submit(explain_retrieval, assistant, body.query, body.top_k))
        return {"object": "list", "kb": name, "query": body.query, "data": [r.as_dict() for r in ranked]}


def _authorized(header: str, key: str) -> bool:
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


def _model_entry(base) -> dict:
    return {"id": MODEL_PREFIX + base.name, "object": "model", "created": base.created, "owned_by": "rag",
            "kb": {"name": base.name, "default": base.default}}


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return exc.response()

    @app.exception_handler(RagError)
    async def rag_error(request, exc: RagError):
        return api_error_for(exc).response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return ApiError(400, f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'cannot parse it')})",
                            code="invalid_json").response()
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request body"))
        return ApiError(400, message, code="invalid_request", param=where or None).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return ApiError(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}", code=code).response()

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):
        log.exception("request failed")
        return ApiError(500, f"{type(exc).__name__}: {exc}", "server_error", "internal_error").response()


def api_error_for(exc: Exception) -> ApiError:
    """The HTTP status and OpenAI error type for a library error."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, NotFoundError):
        return ApiError(404, str(exc), code="not_found")
    if isinstance(exc, ConfigError):  # e.g. a base whose folder was deleted: the server's problem
        return ApiError(500, str(exc), "server_error", "config_error")
    if isinstance(exc, (StoreError, ModelError)):
        return ApiError(503, str(exc), "server_error", "unavailable", headers={"Retry-After": str(RETRY_AFTER_S)})
    if isinstance(exc, RagError):
        return ApiError(400, str(exc), code="invalid_request")
    log.error("request failed", exc_info=exc)
    return ApiError(500, f"{type(exc).__name__}: {exc}", "server_error", "internal_error")


async def _answered(future: asyncio.Future):
    """The worker's result; its library errors as ApiErrors."""
    try:
        return await future
    except Exception as exc:
        raise api_error_for(exc) from exc


_DONE = object()


def _stream_in_thread(workers: Workers, stream: Callable, *args) -> asyncio.Queue:
    """Run a generator of Answers on a worker; its items (then an exception or _DONE) arrive on a queue.

    The admission is taken here, before the response starts, so a full server still
    answers 503; the worker stops early if the client goes away (`queue.cancelled`).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    queue.cancelled = threading.Event()

    def produce():
        try:
            for answer in stream(*args):
                if queue.cancelled.is_set():
                    break
                loop.call_soon_threadsafe(queue.put_nowait, answer)
        except Exception as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    workers.submit(produce)
    return queue


async def _sse_chunks(queue: asyncio.Queue, model: str, completion_id: str, created: int) -> AsyncIterator[str]:
    """OpenAI's chunk stream for one answer.

    The content is the final, verified answer: an LLM's draft is not sent, because checking
    it may drop sentences or renumber its [n] marks, and streamed text cannot be taken back.
    While the model writes, SSE comments keep the connection alive.
    """
    def chunk(delta, finish=None, **extra):
        return sse(chunk_body(model, completion_id, created, delta, finish, **extra))

    try:
        yield chunk({"role": "assistant", "content": ""})
        final = None
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEP_ALIVE_S)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if item is _DONE:
                break
            if isinstance(item, Exception):
                error = api_error_for(item)
                yield sse(error_body(error.message, error.type, error.code))
                yield sse("[DONE]")
                return
            final = item
        if final is not None:
            for piece in text_pieces(final.text):
                yield chunk({"content": piece})
            yield chunk({}, "stop", citations=citation_dicts(final), rag=rag_fields(final))
        yield sse("[DONE]")
    finally:
        queue.cancelled.set()


def _check_upload_size(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > UPLOAD_BODY_FACTOR * limit + 65536:
        raise ApiError(413, f"the upload is {int(length) / 1048576:.1f} MB; each file may have at most "
                            f"{limit / 1048576:g} MB (RAG_MAX_FILE_MB)", code="too_large")


async def _spool(upload, target: Path, limit: int) -> Path:
    """Write an uploaded file to `target`, at most limit + 1 bytes (enough to know it is too big)."""
    target.mkdir()
    path = target / "data"
    with open(path, "wb") as fh:
        written = 0
        while written <= limit and (block := await upload.read(1 << 20)):
            fh.write(block[: limit + 1 - written])
            written += len(block)
    return path


# Which status an upload gets when no file stayed, by the first file's reason.
UPLOAD_STATUS = {"unsupported_type": 415, "too_large": 413, "empty": 400, "name_taken": 409, "not_indexed": 422}


def _upload_response(name: str, outcome) -> JSONResponse | dict:
    results = [asdict(r) for r in outcome.results]
    if any(r.kept for r in outcome.results):
        return {"object": "list", "kb": name, "data": results, "summary": outcome.summary}
    first = outcome.results[0]
    status = UPLOAD_STATUS.get(first.code, 500)
    message = "; ".join(f"{r.name}: {r.detail}" for r in outcome.results)
    body = error_body(message, "invalid_request_error" if status < 500 else "server_error", first.code or None, "file")
    return JSONResponse({**body, "data": results}, status)


def _warm_up(bases: KnowledgeBases) -> None:
    """Bring every base's index up to date and load the embedding model, one base at a time,
    then load the LLM (if one is configured), as the web app does at start. This is each
    base's first sync, so questions asked meanwhile wait for it; later ingests (uploads)
    let them through, answered from the files indexed so far."""
    for base in bases.bases():
        try:
            bases.get(base.name).retrieve("warm-up", top_k=1)
            log.info("knowledge base %s is ready", base.name)
        except Exception as exc:  # its questions will report the same error
            log.warning("knowledge base %s could not be prepared: %s", base.name, exc)
    generator = bases.generator
    if generator is None or generator.loaded:  # nothing to load for a server or the quotes
        return
    try:
        generator.load()
        generator.warm_up()
        log.info("the language model is ready")
    except Exception as exc:  # answers fall back to the quotes, with a notice saying why
        log.warning("preparing the language model failed: %s", exc)


def serve(config: Config, host: str = "127.0.0.1", port: int = 8080) -> int:
    """Run the server until interrupted (the `rag serve` command)."""
    import uvicorn

    bases = KnowledgeBases(config)
    app = create_app(config, bases)
    names = ", ".join(MODEL_PREFIX + n for n in bases.names())
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    key = "Authorization: Bearer $RAG_API_KEY required" if config.api_key else "no API key (set RAG_API_KEY to require one)"
    print(f"rag serve: OpenAI-compatible API at http://{shown}:{port}/v1 · models {names} · {key}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
