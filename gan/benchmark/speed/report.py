"""The speed benchmark's result as text: a markdown table, where the step's time goes, and the verdict on the speed
targets."""

from __future__ import annotations

from pathlib import Path

from ...words import counted
from ..variants import COMBINED


def table(result: dict) -> str:
    """A markdown table of one ``measure`` result, then the notes on each row."""
    lines = _heading(result)
    lines += [_row(result, row) for row in result["rows"]]
    lines += _syncs(result)
    for row in result["rows"]:
        lines += _notes(row)
    verdict_lines = verdict(result)
    if verdict_lines:
        lines += [
            "",
            f"Against the speed targets for `{Path(result['config']).name}`:",
            "",
            *[f"- {v}" for v in verdict_lines],
        ]
    return "\n".join(lines)


def _heading(result: dict) -> list[str]:
    """What ran where, the peaks at the start, and the table's head."""
    overrides = " " + " ".join(result["overrides"]) if result["overrides"] else ""
    shapes = ", ".join("x".join(map(str, shape)) for shape in result.get("matmul_peak_shapes", ()))
    return [
        f"`{result['config']}`{overrides} on {result['device']} "
        f"({counted(result['threads'], 'thread')}, load average before {result['load_average'][0]:.2f}); "
        f"matmul peak at the start (the fastest library's fastest product of {shapes}): "
        + ", ".join(_peak_text(result, k) for k in result["matmul_peak_flops"])
        + f"; {counted(result['rounds'], 'round')} x {counted(result['steps_per_round'], 'step')} "
        f"after {counted(result['warmup'], 'warm-up step')}; "
        "% of peak: each loop's speed in a round over the peak measured just before and after it, median over rounds",
        "",
        "| variant | toolkit ex/s median [min, max] | reference ex/s median [min, max] | ratio median [min, max] | "
        "GFLOP/step toolkit / ref | toolkit GFLOP/s (% of peak) | reference GFLOP/s (% of peak) | peak GFLOP/s "
        "median [min, max] | peak MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]


def _row(result: dict, row: dict) -> str:
    name = row["variant"] + (
        f" ({'+'.join(result[row['variant']]) or 'no switch beat default: default again'})"
        if row["variant"] in COMBINED
        else ""
    )
    if "skipped" in row:
        return f"| {name} | skipped: {row['skipped']} | | | | | | | |"
    t, r, q = row["toolkit"], row["reference"], row["ratio"]
    f, fs, pf, pk = row["flops_per_step"], row["flops_per_second"], row["peak_fraction"], row["matmul_peak_rounds"]
    fp32 = row["peak_used"] == "fp32"
    return (
        f"| {name} | {t['median']:.0f} [{t['min']:.0f}, {t['max']:.0f}] "
        f"| {r['median']:.0f} [{r['min']:.0f}, {r['max']:.0f}] "
        f"| {q['median']:.3f} [{q['min']:.3f}, {q['max']:.3f}] "
        f"| {f['toolkit'] / 1e9:.3f} / {f['reference'] / 1e9:.3f} "
        f"| {fs['toolkit'] / 1e9:.1f} ({100 * pf['toolkit']:.0f}%{'' if fp32 else ' bf16'}) "
        f"| {fs['reference'] / 1e9:.1f} ({100 * pf['reference']:.0f}%{'' if fp32 else ' fp32'}) "
        f"| {pk['median'] / 1e9:.0f} [{pk['min'] / 1e9:.0f}, {pk['max'] / 1e9:.0f}]{'' if fp32 else ' bf16'} "
        f"| {max(row['peak_memory_mb'].values()):.0f} |"
    )


def _syncs(result: dict) -> list[str]:
    syncs = [
        f"{row['variant']} {row['host_syncs_per_step']['toolkit']} "
        f"(the hand-written loop {row['host_syncs_per_step']['reference']})"
        for row in result["rows"]
        if "host_syncs_per_step" in row
    ]
    if not syncs:
        return []
    cpu = (
        " On a CPU, where a read costs nothing, the toolkit's NaN guard reads its verdict at once, one an update; "
        "on a GPU it hands it to the fused optimizer as a tensor and reads none (`gan/session/guard.py`)."
    )
    return [
        "",
        "Host syncs a step between logging steps (values read back with `.item()` and the like, and blocking copies "
        "between host and device; on a GPU each one waits for the device to catch up): "
        + "; ".join(syncs)
        + "."
        + (cpu if result.get("device_type") == "cpu" else ""),
    ]


def _notes(row: dict) -> list[str]:
    """Periodic work, layers alone and the step's kernels, for the rows that measured them."""
    lines = []
    if "overheads" in row:
        o = row["overheads"]
        parts = [
            f"{k} {v['seconds'] * 1e3:.1f} ms every {v['every']} = {100 * v['share_of_step']:.2f}%"
            for k, v in o.items()
            if k != "total_share"
        ]
        lines += [
            "",
            f"Periodic work at the config's intervals ({row['variant']}): "
            + "; ".join(parts)
            + f"; total {100 * o['total_share']:.2f}% of step time.",
        ]
    if "layers" in row:
        step = row["peak_fraction"]["toolkit"]
        lines += [
            "",
            f"Matrix-product layers alone, forward + backward ({row['variant']}): "
            f"{100 * row['layers']['peak_fraction']:.0f}% of peak together, "
            f"against {100 * step:.0f}% for the whole step",
            "",
            "| layer | kind | input | GFLOP | ms | % of peak |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['layer']} | {r['kind']} | {'x'.join(map(str, r['input']))} | {r['flops'] / 1e9:.3f} "
            f"| {r['seconds'] * 1e3:.2f} | {100 * r['peak_fraction']:.0f}% |"
            for r in row["layers"]["rows"]
        ]
    if "kernels" in row:
        lines += ["", *_time_split(row)]
    return lines


def _peak_text(result: dict, dtype: str) -> str:
    libraries = result.get("matmul_peak_by_library", {}).get(dtype, {})
    return f"{dtype} {result['matmul_peak_flops'][dtype] / 1e9:.0f} GFLOP/s" + (
        f" ({', '.join(f'{name} {v / 1e9:.0f}' for name, v in libraries.items())})" if len(libraries) > 1 else ""
    )


def _time_split(row: dict, top: int = 12) -> list[str]:
    """Where one step's time goes: its kernels inside the step and alone, matrix products and the rest, and what lies
    between."""
    k = row["kernels"]
    if "skipped" in k:
        return [f"Kernels of one step alone ({row['variant']}): skipped: {k['skipped']}"]
    step, timed = k["step_seconds"], row["examples_per_step"] / row["toolkit"]["median"]
    between = step - k["matrix_seconds_in_step"] - k["other_seconds_in_step"]
    ms = lambda seconds: f"{seconds * 1e3:.1f} ms"  # noqa: E731
    compiled = row.get("effective", {}).get("compiled")
    lines = [
        f"Where one step's time goes ({row['variant']}): {ms(timed)} a step in the timed rounds; run op by op "
        f"({counted(k['steps'], 'step')}, "
        f"each op timed where it ran) {ms(step)} = {ms(k['matrix_seconds_in_step'])} of matrix products "
        f"+ {ms(k['other_seconds_in_step'])} of other kernels + {ms(between)} between kernels (Python, autograd, the "
        "recording itself)"
        + (
            ". torch.compile does not run under the recorder: these are the uncompiled step's ops. "
            if compiled
            else ". "
        )
        + f"The same kernels timed alone, on fresh operands: {ms(k['matrix_seconds'])} and {ms(k['other_seconds'])}. "
        f"With nothing but the matrix products the step would reach {100 * k['in_step_floor_peak_fraction']:.0f}% of "
        "the peak "
        f"({100 * k['floor_peak_fraction']:.0f}% at their speed alone); with nothing but its kernels, "
        f"{100 * _kernel_bound(row, 'seconds_in_step'):.0f}% ({100 * _kernel_bound(row):.0f}% alone)."
        + (f" Not replayed: {', '.join(k['not_timed'])}." if k["not_timed"] else ""),
        "",
        "| op | calls | ms in the step | ms alone | GFLOP | % of peak in the step | alone |",
        "|---|---|---|---|---|---|---|",
    ]
    share = lambda op, where: (  # noqa: E731
        f"{100 * op['flops'] / op[where] / row['matmul_peak_flops']:.0f}%" if op["matrix"] and op[where] else ""
    )  # noqa: E731
    for name, op in list(k["ops"].items())[:top]:
        lines.append(
            f"| {name} | {op['calls']:g} | {op['seconds_in_step'] * 1e3:.2f} | {op['seconds'] * 1e3:.2f} | "
            f"{op['flops'] / 1e9:.3f} "
            f"| {share(op, 'seconds_in_step')} | {share(op, 'seconds')} |"
        )
    return lines


def _kernel_bound(row: dict, where: str = "seconds") -> float:
    """The share of the peak the step would reach if it took exactly the sum of its kernels (alone, or
    ``"seconds_in_step"``)."""
    k = row["kernels"]
    return k["matrix_flops"] / (k[f"matrix_{where}"] + k[f"other_{where}"]) / row["matmul_peak_flops"]


# What the toolkit holds itself to, for the configs the targets were set on (file name -> target):
# no slower than a hand-written loop by default, faster with the best switches, periodic work
# (logging, samples, checkpoints, EMA) a small share of the step, and most of the matmul peak.
SPEED_TARGETS = {
    "dcgan32.yaml": {"default_ratio": 0.97, "best_ratio": 1.05, "peak_fraction": 0.70, "periodic_share": 0.03}
}


def verdict(result: dict) -> list[str]:
    """One line per target of ``SPEED_TARGETS`` for this result's config: what was measured, and met or **missed**.

    The FLOP/s target is judged on the best fp32 variant (bf16 rows are measured against the bf16
    peak, a different machine limit); where kernels were timed alone, the line says how far any
    loop could get with them.
    """
    target = SPEED_TARGETS.get(Path(result["config"]).name)
    rows = {r["variant"]: r for r in result["rows"] if "skipped" not in r}
    if not target or "default" not in rows:
        return []
    mark = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    default = rows["default"]
    out = [
        f"default settings {default['ratio']['median']:.2f}x the hand-written loop (target >= "
        f"{target['default_ratio']}x): " + mark(default["ratio"]["median"] >= target["default_ratio"])
    ]
    if "best" in rows:
        best = rows["best"]["ratio"]["median"]
        out.append(
            f"best switches ({'+'.join(result.get('best', [])) or 'none faster than default'}) {best:.2f}x "
            f"(target >= {target['best_ratio']}x): " + mark(best >= target["best_ratio"])
        )
    if "overheads" in default:
        share = default["overheads"]["total_share"]
        out.append(
            f"logging, EMA, samples and checkpoints at the config's intervals {100 * share:.2f}% of step time "
            f"(target < {100 * target['periodic_share']:.0f}%): " + mark(share < target["periodic_share"])
        )
    fp32 = {name: r for name, r in rows.items() if r["peak_used"] == "fp32"}
    name, top = max(fp32.items(), key=lambda kv: kv[1]["peak_fraction"]["toolkit"])
    line = (
        f"step FLOP/s {100 * top['peak_fraction']['toolkit']:.0f}% of the fp32 matmul peak ({name}; default "
        f"{100 * default['peak_fraction']['toolkit']:.0f}%, the hand-written loop "
        f"{100 * default['peak_fraction']['reference']:.0f}%) "
        f"(target >= {100 * target['peak_fraction']:.0f}%): "
        + mark(top["peak_fraction"]["toolkit"] >= target["peak_fraction"])
    )
    bounds = {n: r for n, r in fp32.items() if "kernels" in r and "skipped" not in r["kernels"]}
    if bounds:  # default's, and the highest
        highest = max(bounds, key=lambda n: bounds[n]["kernels"]["floor_peak_fraction"])
        line += ". With these kernels no loop gets further than " + "; ".join(
            f"{100 * bounds[n]['kernels']['floor_peak_fraction']:.0f}% ({n}: its matrix products alone), "
            f"{100 * _kernel_bound(bounds[n]):.0f}% with its other kernels, "
            f"{100 * bounds[n]['kernels']['in_step_floor_peak_fraction']:.0f}% with its matrix products as fast as "
            "they ran inside the step"
            for n in dict.fromkeys(["default", highest])
            if n in bounds
        )
    return out + [line]
