"""Draws the panels of the Grafana dashboard mcp-auth.json as one PNG, from a Prometheus
server's data: each panel's queries, legends, units and place in the grid are read from the
dashboard, so that the picture shows what Grafana would.

    python render.py --prometheus http://127.0.0.1:9090 --job billing --minutes 5 --out dashboard.png

Grafana's variables are given values: `$job` the job's name, `$__rate_interval` four scrape
intervals (`--rate-interval`), the datasource the Prometheus at `--prometheus`. Needs
matplotlib (tests/observability/dashboard-requirements.txt pins it); tests/observability/run.sh runs it
after its traffic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

HERE = Path(__file__).resolve().parent
# Grafana's dark theme, and its classic palette.
BACKGROUND, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9",
           "#705da0", "#37872d", "#fade2a"]


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as response:
        answer = json.load(response)
    if answer.get("status") != "success":
        raise SystemExit(f"{expr}: {answer}")
    return answer["data"]["result"]


def substitute(expr: str, job: str, rate_interval: str) -> str:
    """Grafana's variables in `expr`, given values."""
    return (expr.replace("$__rate_interval", rate_interval)
            .replace("${job}", re.escape(job)).replace("$job", re.escape(job)))


def legend(fmt: str, metric: dict[str, str]) -> str:
    """A legend format such as `{{gen_ai_tool_name}} p95`, filled in."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt) or str(metric)


def unit_formatter(unit: str):
    if unit == "percentunit":
        return PercentFormatter(xmax=1.0, decimals=0)
    if unit == "s":
        def seconds(v: float, _pos: Any) -> str:
            if v == 0:
                return "0"
            if abs(v) < 1e-3:
                return f"{v * 1e6:.0f} µs"
            if abs(v) < 1:
                return f"{v * 1e3:.3g} ms"
            return f"{v:.3g} s"
        return FuncFormatter(seconds)
    if unit == "reqps":
        return FuncFormatter(lambda v, _pos: f"{v:.3g} req/s" if v else "0")
    return FuncFormatter(lambda v, _pos: f"{v:.3g}")


def draw(dashboard: dict[str, Any], args: argparse.Namespace) -> dict[int, int]:
    """Draws the dashboard to `args.out`; returns the number of series of each panel, by id."""
    end = args.end or time.time()
    start = args.start or end - args.minutes * 60
    panels = [p for p in dashboard["panels"] if p.get("type") == "timeseries"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(16, rows * 0.42 + 1.0), facecolor=BACKGROUND)
    grid = fig.add_gridspec(rows, 24, left=0.05, right=0.99, top=1 - 0.9 / (rows * 0.42 + 1.0),
                            bottom=0.03, hspace=2.6, wspace=5.0)
    taken = dt.datetime.fromtimestamp(end).strftime("%Y-%m-%d %H:%M:%S")
    fig.suptitle(f"{dashboard['title']}  ·  job {args.job}  ·  {(end - start) / 60:.1f} min to {taken}"
                 f"  ·  drawn from Prometheus by render.py", color=TEXT, fontsize=13, x=0.05,
                 ha="left")
    drawn = {}
    for panel in panels:
        pos = panel["gridPos"]
        # A panel's legend takes room of its own grid cells, as in Grafana.
        ax = fig.add_subplot(grid[pos["y"]:pos["y"] + pos["h"] - 2, pos["x"]:pos["x"] + pos["w"]])
        ax.set_facecolor(PANEL)
        for side in ax.spines.values():
            side.set_color(GRID)
        ax.tick_params(colors=TEXT, labelsize=8)
        ax.grid(color=GRID, linewidth=0.6)
        ax.set_title(panel["title"], color=TEXT, fontsize=11, loc="left")
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        stacked = defaults.get("custom", {}).get("stacking", {}).get("mode") == "normal"
        series = []
        for target in panel["targets"]:
            expr = substitute(target["expr"], args.job, args.rate_interval)
            for result in query_range(args.prometheus, expr, start, end, args.step):
                points = [(float(t), float(v)) for t, v in result["values"] if v not in ("NaN", "+Inf", "-Inf")]
                if points:
                    series.append((legend(target.get("legendFormat", ""), result["metric"]), points))
        series.sort(key=lambda s: s[0])
        drawn[panel["id"]] = len(series)
        print(f"{panel['title']}: {len(series)} series", flush=True)
        if stacked and series:
            times = sorted({t for _, points in series for t, _ in points})
            stacks = [[dict(points).get(t, 0.0) for t in times] for _, points in series]
            ax.stackplot([dt.datetime.fromtimestamp(t) for t in times], stacks,
                         labels=[name for name, _ in series], colors=PALETTE, alpha=0.75)
        else:
            for i, (name, points) in enumerate(series):
                ax.plot([dt.datetime.fromtimestamp(t) for t, _ in points], [v for _, v in points],
                        label=name, color=PALETTE[i % len(PALETTE)], linewidth=1.6)
        if not series:
            ax.text(0.5, 0.5, "No data", color=TEXT, ha="center", va="center", transform=ax.transAxes)
        ax.set_xlim(dt.datetime.fromtimestamp(start), dt.datetime.fromtimestamp(end))
        if "min" in defaults:
            ax.set_ylim(bottom=defaults["min"])
        if "max" in defaults:
            ax.set_ylim(top=defaults["max"])
        ax.yaxis.set_major_formatter(unit_formatter(defaults.get("unit", "short")))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        if series:
            ax.legend(loc="upper left", bbox_to_anchor=(0, -0.14), ncol=5, fontsize=7.5, frameon=False,
                      labelcolor=TEXT, handlelength=1.2, columnspacing=1.2)
    fig.savefig(args.out, dpi=args.dpi, facecolor=BACKGROUND)
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prometheus", required=True, help="Prometheus's URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--job", required=True, help="the scrape job of the server")
    parser.add_argument("--dashboard", default=str(HERE / "mcp-auth.json"))
    parser.add_argument("--minutes", type=float, default=5, help="the time range, up to now")
    parser.add_argument("--start", type=float, help="the range's start (Unix time), instead of --minutes")
    parser.add_argument("--end", type=float, help="the range's end (Unix time) [default: now]")
    parser.add_argument("--step", type=float, default=1.0, help="seconds between points")
    parser.add_argument("--rate-interval", default="4s", help="$__rate_interval: four scrape intervals")
    parser.add_argument("--dpi", type=int, default=100)
    parser.add_argument("--out", required=True)
    parser.add_argument("--require-data", default="", metavar="IDS",
                        help="comma-separated panel ids that must show a series, or exit 1")
    args = parser.parse_args()
    with open(args.dashboard, encoding="utf-8") as f:
        drawn = draw(json.load(f), args)
    empty = [i for i in (int(x) for x in args.require_data.split(",") if x) if not drawn.get(i)]
    if empty:
        raise SystemExit(f"no data in panel(s) {empty}")


if __name__ == "__main__":
    main()
