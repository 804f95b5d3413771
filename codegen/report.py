"""report.html: the deployment summary of a compile (and, after `tinyml emulate`, its instruction profile)
rendered from report.json (and emulation.json) through `templates/report.html.j2`."""
from __future__ import annotations

import math

from codegen.jinja import environment
from tinyml.version import __version__

COLORS = ("#bbbbbb", "#4477aa", "#ee6677", "#228833")
SMLAD_FLOOR = 0.5  # instructions per int8 MAC: SMLAD does two multiply-accumulates
FIRMWARE_RAM_BYTES = 64  # as tinyml.boards (the firmware's own data besides the arena), for the SRAM bar


def _ticks(vmax: float, n: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least vmax."""
    if vmax <= 0:
        return [0.0, 1.0]
    raw = vmax / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(math.ceil(vmax / step)) + 1)]


def _chart(series: list[dict], n: int, width: int = 960, height: int = 360, bars: bool = False) -> dict:
    """An SVG chart over layers 0..n-1: lines (or bars) of `series` [{name, color, values}], with y ticks."""
    left, right, top, bottom = 78, 16, 12, 46
    pw, ph = width - left - right, height - top - bottom
    ymax = max((v for s in series for v in s["values"]), default=0)
    ticks = _ticks(ymax)
    top_v = ticks[-1] or 1
    step = pw / max(n, 1)

    def y(v: float) -> float:
        return round(top + ph - ph * v / top_v, 1)
    out = []
    for k, s in enumerate(series):
        if bars:
            bw = max(step / max(len(series), 1) - 1, 1)
            out.append({**s, "bars": [{"x": round(left + i * step + k * bw, 1), "y": y(v), "w": round(bw, 1),
                                       "h": round(top + ph - y(v), 1), "i": i, "v": v}
                                      for i, v in enumerate(s["values"])]})
        else:
            pts = " ".join(f"{round(left + i * step + step / 2, 1)},{y(v)}" for i, v in enumerate(s["values"]))
            out.append({**s, "points": pts, "peak": max(s["values"], default=0)})
    every = max(1, round(n / 40))
    return {"width": width, "height": height, "left": left, "top": top, "pw": pw, "ph": ph, "series": out,
            "yticks": [{"y": y(t), "label": f"{t:,.0f}"} for t in ticks],
            "xticks": [{"x": round(left + i * step + step / 2, 1), "label": i} for i in range(0, n, every)]}


def _bar(used: int, total: int) -> dict:
    return {"used": used, "total": total, "pct": round(100.0 * used / total, 1) if total else 0.0,
            "w": round(min(1.0, used / total) * 300, 1) if total else 0, "over": used > total}


def render_report_html(report: dict, emulation: dict | None = None) -> str:
    """report.html as a deployment summary: the model, the board and how it fits (SRAM and flash against the
    board), MACs and weights by width, a per-layer table (op, shape, weight width, MACs including recomputed
    patch halos, memory, and after `tinyml emulate` the kernel, instructions and instr/MAC against the SMLAD
    floor, modeled cycles), the memory-over-layers chart of each configuration and the profile."""
    layers = report["layers"]
    n = len(layers)
    curves = report["memory"].get("curves", {})
    mem = _chart([{"name": name, "color": COLORS[k % len(COLORS)], "values": c}
                  for k, (name, c) in enumerate(curves.items())], n)
    pt = report["memory"].get("patch")
    how = f"{pt['grid']} patches up to op {pt['split']}, {pt.get('halos', 'recomputed')} halos, " \
        f"{pt['extra_macs_percent']:+.1f}% MACs" if pt else "layer by layer"
    widths: dict[str, int] = {}
    for la in layers:
        if la.get("weight_bits"):
            key = f"int{la['weight_bits']}"
            widths[key] = widths.get(key, 0) + la["weight_bytes"]
    fw = emulation.get("firmware", {}) if emulation else {}
    board = report.get("board") or ({"name": emulation["board"], "sram_bytes": fw.get("board_sram"),
                                     "flash_bytes": fw.get("board_flash")} if fw.get("board_sram") else None)
    fit = None
    if board:
        stack = fw.get("stack", 8192)
        ram = fw["data"] + fw["bss"] + stack if fw else report["peak_sram_bytes"] + stack + FIRMWARE_RAM_BYTES
        flash = fw["text"] + fw["data"] if fw else report["flash_bytes"]
        fit = {"name": board["name"], "sram": _bar(ram, board["sram_bytes"]),
               "flash": _bar(flash, board["flash_bytes"]), "measured": bool(fw), "stack": stack}
    rows = _rows(report, emulation)
    emu = _profile(emulation) if emulation is not None else None
    ver = report.get("verification", {})
    return environment().get_template("report.html.j2").render(
        version=__version__, r=report, how=how, mem=mem, emu=emu, floor=SMLAD_FLOOR, fit=fit, widths=widths,
        rows=rows, verification=ver, total_executed=sum(x["executed"] for x in rows))


def _rows(report: dict, emulation: dict | None) -> list[dict]:
    """The per-layer table: the layer, and after `tinyml emulate` its kernels, instructions, instr/MAC against the
    SMLAD floor, modeled cycles and the instruction class that takes most of them."""
    prof = {la["name"]: la for la in (emulation or {}).get("layers", [])}
    rows = []
    for la in report["layers"]:
        p = prof.get(la["name"])
        ex = la.get("executed_macs", la["macs"])
        ipm = p["instructions"] / ex if p and ex and p["instructions"] else None
        cycles = p.get("cycles") if p else None
        top = max((p or {}).get("mix", {}).items(), key=lambda kv: kv[1]["cycles"], default=None)
        rows.append({**la, "shape": "x".join(map(str, la["output_shape"])), "executed": ex,
                     "width": f"int{la['weight_bits']}" if la.get("weight_bits") else "",
                     "kernel": ", ".join(k.replace(f"{report['prefix']}_k_", "") for k in la.get("kernels", [])),
                     "instructions": p["instructions"] if p else None, "ipm": ipm, "cycles": cycles,
                     "top": f"{top[0]} {100 * top[1]['cycles'] / cycles:.0f}%" if top and cycles else "",
                     "xfloor": ipm / SMLAD_FLOOR if ipm else None,
                     "bar": round(min(ipm / SMLAD_FLOOR * 6, 150), 1) if ipm else 0})
    return rows


def _profile(emulation: dict) -> dict:
    """The emulation's profile section: totals, the cycle model, and the chart of instructions, modeled cycles
    (where the core has a model) and executed MACs per layer."""
    series = [{"name": "instructions", "color": COLORS[1],
               "values": [la["instructions"] or 0 for la in emulation["layers"]]}]
    if emulation.get("total_cycles") is not None:
        series.append({"name": "cycles (modeled)", "color": COLORS[3],
                       "values": [la.get("cycles") or 0 for la in emulation["layers"]]})
    series.append({"name": "MACs executed", "color": COLORS[2],
                   "values": [la.get("executed_macs", la["macs"]) for la in emulation["layers"]]})
    return {"board": emulation["board"], "emulator": emulation["emulator"],
            "total": emulation["total_instructions"], "match": emulation["outputs_match_host"],
            "match_ref": emulation.get("outputs_match_reference"), "cycles": emulation.get("total_cycles"),
            "ms": emulation.get("milliseconds"), "model": emulation.get("cycle_model"),
            "chart": _chart(series, len(emulation["layers"]), bars=True)}
