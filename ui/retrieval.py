"""The retrieval test tab: type a query, see the ranked passages and why each ranks where it does.

Per passage: the fused (reciprocal rank) score, the dense similarity and rank, the BM25
score and rank, file, page (when the format has pages), language and text (rag.explain).
"""
from __future__ import annotations

import logging

import gradio as gr

from . import render

log = logging.getLogger(__name__)

HEADERS = ("#", "Fused (RRF)", "Dense sim. (rank)", "BM25 score (rank)", "File", "Page", "Lang", "Passage")


def retrieval_tab(assistant) -> None:
    """Add the tab inside the app's gr.Tabs."""
    with gr.Tab("Retrieval test · 检索测试", id="retrieval", elem_id="rag-tab-retrieval"):
        gr.Markdown(
            "Type a query to see the passages the answer would be built from, in order, with each "
            "retriever's score and rank. · 输入查询，查看检索到的段落及其得分。"
        )
        with gr.Row():
            query = gr.Textbox(
                placeholder="Query · 查询", show_label=False, scale=5, elem_id="rag-retrieval-query", max_lines=3
            )
            top_k = gr.Slider(1, 20, value=int(assistant.config.top_k), step=1, label="top-k", scale=2,
                              elem_id="rag-retrieval-topk")
            run = gr.Button("Test retrieval · 检索", variant="primary", scale=1, elem_id="rag-retrieval-run")
        results = gr.HTML(render.sources_placeholder("No query yet."), elem_id="rag-retrieval-results")

    def test(text, k):
        from rag.explain import explain_retrieval

        if not (text or "").strip():
            return render.notice_html("Type a query first. / 请输入查询。", "error")
        try:
            ranked = explain_retrieval(assistant, text, int(k))
        except Exception as exc:  # RagError (empty, index trouble) and anything else: say so
            log.warning("retrieval test failed: %s", exc)
            return render.notice_html(f"Retrieval failed: {exc}", "error")
        return ranked_html(ranked, text.strip(), getattr(assistant, "name", ""))  # a SelectedBase knows its base

    query.submit(test, [query, top_k], [results])
    run.click(test, [query, top_k], [results])


def ranked_html(ranked, query: str, base: str = "") -> str:
    """The ranked passages as a table; "-" where a retriever did not list a passage."""
    if not ranked:
        return render.sources_placeholder("Nothing retrieved: the index is empty or no passage matches.")
    head = "".join(f"<th>{render.esc(h)}</th>" for h in HEADERS)
    rows = "".join(_row(r) for r in ranked)
    where = f" from knowledge base {render.esc(base)}" if base else ""
    return (
        f'<p class="rag-muted rag-ranked-for" data-query="{render.esc(query)}">{len(ranked)} passages{where} for '
        f"“{render.esc(query)}”, in the order the answerers read them.</p>"
        f'<table class="rag-results rag-ranked"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


def _row(r) -> str:
    c = r.chunk
    dense = "-" if r.dense_similarity is None else f"{r.dense_similarity:.3f}"
    dense += "" if r.dense_rank is None else f" ({r.dense_rank})"
    bm25 = "-" if r.bm25_score is None else f"{r.bm25_score:.2f}"
    bm25 += "" if r.bm25_rank is None else f" ({r.bm25_rank})"
    fused = f"{r.fused_score:.4f}" if r.reason == "fused" else "other-language slot"
    cells = (r.rank, fused, dense, bm25, c.source, r.page if r.page is not None else "-", c.lang or "-")
    tds = "".join(f"<td>{render.esc(v)}</td>" for v in cells)
    title = f"<b>{render.esc(c.title)}</b><br>" if c.title else ""
    return f'<tr class="rag-ranked-row" data-source="{render.esc(c.source)}">{tds}<td>{title}{render.esc(c.text)}</td></tr>'
