"""A batch's overview: the terminal table and ``report.html`` (one self-contained page, readable
without SplatLab: per-item rows and, for rd items and compress items measured at several levels,
the RD curves as inline SVG pictures)."""

from __future__ import annotations

import html
import math
import os

from engine.io.atomic import atomic_write_text

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


def _mb(n) -> str:
    return "" if n is None else f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def _num(v, fmt: str) -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def _status(r: dict) -> str:
    return "skipped (done)" if r.get("skipped") else r["status"].replace("_", " ")


def _psnr(f: dict):
    if "psnr" in f:
        return f["psnr"]
    levelled = [q["psnr"] for c in f.get("curves", []) if c["codec"] == "ladder" for q in c["points"] if q.get("psnr")]
    return max(levelled) if levelled else None


def row_cells(r: dict) -> list[str]:
    """An item's cells under HEADER (the terminal table, the report and the studio's table)."""
    f = r.get("figures") or {}
    return [r["output"], _status(r), _mb(f.get("bytes_in")), _mb(f.get("bytes_out")), _num(f.get("ratio"), ".1f"),
            _num(_psnr(f), ".2f"), _num(r.get("seconds"), ".1f")]  # fmt: skip


HEADER = ["output", "status", "before", "after", "ratio", "PSNR", "time (s)"]


def table_lines(result: dict) -> list[str]:
    """The end-of-run table: one line per item, errors under their item, then the counts."""
    rows = [HEADER] + [row_cells(r) for r in result["items"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k and result["items"][k - 1].get("error"):
            lines.append("    " + result["items"][k - 1]["error"])
    c = result["counts"]
    lines.append(f"{len(result['items'])} items: {c['done'] - c['skipped']} done, {c['skipped']} skipped (done before), "
                 f"{c['failed']} failed, {c['bad_input']} bad input, {c['pending']} not run; {result['seconds']:.1f} s")  # fmt: skip
    return lines


# ---------------------------------------------------------------------------- charts
def rd_charts(items: list[dict]) -> list[tuple[str, list[dict]]]:
    """(title, curves) per scene: an rd item's curves, or the levels of a compress input measured
    with PSNR. A curve: {"label", "points": [{"bits_per_gaussian", "psnr", "level"}]}."""
    charts = []
    by_input: dict[str, list[dict]] = {}
    for r in items:
        f = r.get("figures") or {}
        if r["status"] != "done":
            continue
        if f.get("curves"):
            charts.append((os.path.basename(r["input"]), f["curves"]))
        elif f.get("psnr") is not None and "bits_per_gaussian" in f:
            by_input.setdefault(r["input"], []).append(f)
    for src, figs in by_input.items():
        if len(figs) < 2:
            continue
        codecs = sorted({f.get("codec", "ladder") for f in figs})
        curves = [{"label": c, "points": sorted((f for f in figs if f.get("codec", "ladder") == c), key=lambda f: f["level"])}
                  for c in codecs]  # fmt: skip
        charts.append((os.path.basename(src), curves))
    return charts


def svg_chart(title: str, curves: list[dict], width: int = 440, height: int = 300) -> str:
    """PSNR (dB) against bits per Gaussian (log axis), one polyline per curve with labelled levels."""
    pts = [(q["bits_per_gaussian"], q["psnr"]) for c in curves for q in c["points"]
           if q.get("psnr") is not None and math.isfinite(q["psnr"]) and q.get("bits_per_gaussian")]  # fmt: skip
    left, right, top, bottom = 52, 16, 28, 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11"><title>{html.escape(title)}</title>',
           f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>']  # fmt: skip
    if not pts:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no measured points</text></svg>')
        return "".join(out)
    lx = [math.log10(x) for x, _ in pts]
    x0, x1 = math.floor(min(lx) * 4) / 4, math.ceil(max(lx) * 4) / 4 + (0.25 if min(lx) == max(lx) else 0)
    ys = [y for _, y in pts]
    y0, y1 = math.floor(min(ys)) - 1, math.ceil(max(ys)) + 1
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (math.log10(x) - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * ph

    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for e in range(math.floor(x0), math.ceil(x1) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if x0 <= math.log10(v) <= x1:
                x = sx(v)
                out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#eee"/>'
                           f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle">{v:g}</text>')  # fmt: skip
    step = max(1, round((y1 - y0) / 6))
    for y in range(int(y0), int(y1) + 1, step):
        out.append(f'<line x1="{left}" y1="{sy(y):.1f}" x2="{left + pw}" y2="{sy(y):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{sy(y) + 4:.1f}" text-anchor="end">{y}</text>')  # fmt: skip
    mid = top + ph / 2
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">bits per Gaussian</text>'
               f'<text x="12" y="{mid}" text-anchor="middle" transform="rotate(-90 12 {mid})">PSNR (dB)</text>')  # fmt: skip
    for i, c in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        cp = [q for q in c["points"] if q.get("psnr") is not None and math.isfinite(q["psnr"]) and q.get("bits_per_gaussian")]
        if len(cp) > 1:
            line = " ".join(f"{sx(q['bits_per_gaussian']):.1f},{sy(q['psnr']):.1f}" for q in cp)
            out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for q in cp:
            x, y = sx(q["bits_per_gaussian"]), sy(q["psnr"])
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
            if q.get("level") is not None:
                out.append(f'<text x="{x + 4:.1f}" y="{y - 4:.1f}" font-size="9" fill="{colour}">{q["level"]}</text>')
        label = html.escape(str(c.get("label") or c.get("codec")))
        out.append(f'<text x="{left + 8}" y="{top + 14 + 13 * i}" fill="{colour}">{label}</text>')
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------------- the page
def render_html(result: dict) -> str:
    c, ray = result["counts"], result.get("ray")
    where = "nothing ran (every item was done before or bad)"
    if ray:
        where = (f"Ray {ray['mode']} ({ray['address']}): {ray['nodes']} node(s), {ray['cpus']:g} CPUs"
                 + (f", {ray['gpus']:g} GPUs" if ray.get("gpus") else ""))  # fmt: skip
    head = (f"<h1>splatlab batch {html.escape(result['job'])}</h1><p>{html.escape(result['output'])}<br>"
            f"{len(result['items'])} items: {c['done'] - c['skipped']} done, {c['skipped']} skipped (done before), "
            f"{c['failed']} failed, {c['bad_input']} bad input, {c['pending']} not run; {result['seconds']:.1f} s; "
            f"{html.escape(where)}</p>")  # fmt: skip
    header = "".join(f"<th>{h}</th>" for h in ["input", *HEADER, "SSIM", "node", "error"])
    body = []
    for r in result["items"]:
        f = r.get("figures") or {}
        cells = row_cells(r)
        link = f'<a href="{html.escape(r["output"])}">{html.escape(cells[0])}</a>' if r["status"] == "done" else html.escape(cells[0])
        tds = [html.escape(r["input"]), link, *map(html.escape, cells[1:]), _num(f.get("ssim"), ".4f"),
               html.escape(r.get("node") or ""), html.escape(r.get("error") or "")]  # fmt: skip
        body.append(f'<tr class="{r["status"]}">' + "".join(f"<td>{t}</td>" for t in tds) + "</tr>")
    charts = "".join(f'<div class="chart">{svg_chart(t, cv)}</div>' for t, cv in rd_charts(result["items"]))
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:nth-child(-n+3),td:last-child{text-align:left}"
             "tr.failed td,tr.bad_input td{background:#fde8e8}tr.pending td{color:#888}"
             ".chart{display:inline-block;margin:1em 1em 0 0}")  # fmt: skip
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>splatlab batch {html.escape(result['job'])}"
            f"</title><style>{style}</style></head><body>{head}<table><tr>{header}</tr>{''.join(body)}</table>"
            f"{'<h2>Rate-distortion</h2>' + charts if charts else ''}</body></html>\n")  # fmt: skip


def write_report(path: str, result: dict) -> None:
    atomic_write_text(path, render_html(result))
